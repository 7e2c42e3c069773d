import { describe, expect, it } from 'vitest'
import { ERROR_CODES, ImmutableArtifactError, UnauthorizedError } from '../../../store/index.ts'
import { MAVEN_HTTP_STATUS, toMavenError } from '../../../formats/maven/index.ts'

describe('maven error table', () => {
  it('maps every domain error code to a status', () => {
    const missing = ERROR_CODES.filter((c) => MAVEN_HTTP_STATUS[c] === undefined)
    expect(missing).toEqual([])
  })

  it('maps immutability to 409 and anonymous writes to 401, as wagon reports them', () => {
    expect(toMavenError(new ImmutableArtifactError('x')).status).toBe(409)
    expect(toMavenError(new UnauthorizedError('x')).status).toBe(401)
    expect(toMavenError(new Error('boom'))).toMatchObject({ status: 500, code: 'AK_INTERNAL' })
  })
})
