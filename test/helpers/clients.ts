import { execFileSync } from 'node:child_process'
import { it } from 'vitest'

/** Whether AK_REQUIRE_CLIENTS=1: a missing client then fails instead of skipping. */
export const REQUIRE_CLIENTS = process.env.AK_REQUIRE_CLIENTS === '1'

/**
 * Checks that a real client is installed. When it is missing, prints a loud message naming
 * the install command and returns false (so the suite skips), or, under AK_REQUIRE_CLIENTS=1,
 * registers a failing test. Call at the top of a describe block.
 */
export function requireClient(command: string, installHint: string, versionArgs = ['--version']): boolean {
  let ok = true
  try {
    execFileSync(command, versionArgs, { stdio: 'ignore', timeout: 30_000 })
  } catch {
    ok = false
  }
  if (!ok) {
    const msg = `\n!!! client '${command}' is not installed: these tests are SKIPPED. Install it with: ${installHint}\n`
    if (REQUIRE_CLIENTS) {
      it(`client '${command}' is installed (AK_REQUIRE_CLIENTS=1)`, () => {
        throw new Error(msg)
      })
    } else {
      process.stderr.write(msg)
    }
  }
  return ok
}
