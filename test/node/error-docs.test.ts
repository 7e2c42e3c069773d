import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '../../store/index.ts'
import { DEFAULT_HTTP_STATUS } from '../../formats/core/index.ts'
import { REPO_ROOT } from '../helpers/node-process.ts'

// 23 of 33 error codes were documented nowhere: every code the store defines must have a row in
// docs/errors.md with the status the shared table gives it, so a new code cannot ship undocumented.
describe('docs/errors.md', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8')
  const rows = new Map<string, string>()
  for (const m of doc.matchAll(/^\| `(AK_[A-Z_]+)` \| ([^|]+) \|/gm)) rows.set(m[1] as string, (m[2] as string).trim())

  it('has a row for every domain error code, with the status of the shared table', () => {
    const missing = ERROR_CODES.filter((c) => !rows.has(c))
    expect(missing, `add rows to docs/errors.md for: ${missing.join(', ')}`).toEqual([])
    for (const code of ERROR_CODES) expect(`${code} ${rows.get(code)}`).toBe(`${code} ${DEFAULT_HTTP_STATUS[code]}`)
  })

  it('documents each code once', () => {
    const all = [...doc.matchAll(/^\| `(AK_[A-Z_]+)` \|/gm)].map((m) => m[1])
    expect(all.length).toBe(new Set(all).size)
  })
})
