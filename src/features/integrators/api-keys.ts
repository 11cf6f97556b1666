import { createHash, randomBytes } from 'node:crypto'

export const KEY_PREFIX = 'tbk_'
const PREFIX_SHOWN = 12
const INTEGRATOR_KEY = /^tbk_[A-Za-z0-9_-]{43}$/

/** A new secret: `tbk_` and 32 random bytes in base64url; only its digest is stored. */
export function generateApiKey (): { key: string, prefix: string, hash: Buffer } {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`
  return { key, prefix: key.slice(0, PREFIX_SHOWN), hash: digestKey(key) }
}

export function digestKey (key: string): Buffer {
  return createHash('sha256').update(key).digest()
}

/** True when a bearer token has the shape of an integrator key (so it is worth a look-up). */
export function looksLikeIntegratorKey (token: string): boolean {
  return INTEGRATOR_KEY.test(token)
}
