import { describe, expect, it } from 'vitest'
import { ERROR_CODES, ImmutableArtifactError, UnauthorizedError } from '../../../store/index.ts'
import { CARGO_STATUS, toCargoError } from '../../../formats/cargo/index.ts'

describe('cargo wire error table', () => {
  it('maps every domain error code to a status', () => {
    for (const code of ERROR_CODES) expect(CARGO_STATUS[code], code).toBeTypeOf('number')
  })

  it("answers in cargo's errors/detail JSON, with a Cargo challenge on 401", () => {
    const e = toCargoError(new UnauthorizedError('authentication required'))
    expect(e).toEqual({ status: 401, headers: { 'www-authenticate': 'Cargo' }, body: { errors: [{ detail: 'authentication required' }] } })
    expect(toCargoError(new ImmutableArtifactError('crate version `1.0.0` is already uploaded')).status).toBe(409)
  })

  it('hides the message of unexpected errors', () => {
    expect(toCargoError(new Error('secret path /var/x'))).toEqual({ status: 500, headers: {}, body: { errors: [{ detail: 'internal server error' }] } })
  })
})
