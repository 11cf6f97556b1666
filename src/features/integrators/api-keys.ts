import { hash, randomBytes } from 'node:crypto'

const PREFIX_SHOWN = 12

export function digestKey (key: string): Buffer {
  return hash('sha256', key, 'buffer')
}

/**
 * A kind of bearer secret: `prefix` and 32 random bytes in base64url, of which only the SHA-256
 * digest is stored and the first 12 characters are shown again (integrator keys `tbk_`, scanner
 * keys `tbs_`).
 */
export function bearerSecrets (prefix: string) {
  const shape = new RegExp(`^${prefix}[A-Za-z0-9_-]{43}$`)
  return {
    /** A new secret, its shown prefix and its digest. */
    generate (): { key: string, prefix: string, hash: Buffer } {
      const key = `${prefix}${randomBytes(32).toString('base64url')}`
      return { key, prefix: key.slice(0, PREFIX_SHOWN), hash: digestKey(key) }
    },
    /** True when a bearer token has this kind's shape (so it is worth a look-up). */
    looksLike (token: string): boolean {
      return shape.test(token)
    }
  }
}

/** Integrator keys: `tbk_…`. */
export const integratorKeys = bearerSecrets('tbk_')
