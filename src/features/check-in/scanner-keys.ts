import { randomBytes } from 'node:crypto'
import { digestKey } from '../integrators/api-keys.js'

export const SCANNER_KEY_PREFIX = 'tbs_'
const PREFIX_SHOWN = 12
const SCANNER_KEY = /^tbs_[A-Za-z0-9_-]{43}$/

/** A new secret: `tbs_` and 32 random bytes in base64url; only its SHA-256 digest is stored. */
export function generateScannerKey (): { key: string, prefix: string, hash: Buffer } {
  const key = `${SCANNER_KEY_PREFIX}${randomBytes(32).toString('base64url')}`
  return { key, prefix: key.slice(0, PREFIX_SHOWN), hash: digestKey(key) }
}

/** True when a bearer token has the shape of a scanner key (so it is worth a look-up). */
export function looksLikeScannerKey (token: string): boolean {
  return SCANNER_KEY.test(token)
}
