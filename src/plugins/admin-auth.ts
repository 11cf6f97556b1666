import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError, problemKinds } from '../problems.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for admin operations: accepts `Authorization: Bearer <one of ADMIN_API_KEYS>`. */
    verifyAdminKey: (request: FastifyRequest) => Promise<void>
  }
}

const BEARER = /^bearer +(\S+) *$/i

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

export function bearerToken (header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1]
}

function unauthorized (keySent: boolean): ProblemError {
  return new ProblemError(
    problemKinds.unauthorized,
    keySent ? 'The bearer key is not valid for this operation.' : 'Send an admin key as `Authorization: Bearer <key>`.',
    {},
    { 'WWW-Authenticate': keySent ? 'Bearer realm="admin", error="invalid_token"' : 'Bearer realm="admin"' }
  )
}

/**
 * Admin authentication against ADMIN_API_KEYS. Keys are compared as SHA-256 digests with
 * timingSafeEqual against every configured key, so timing reveals neither key nor match position.
 * @see https://datatracker.ietf.org/doc/html/rfc6750#section-3
 */
export default fp(async function adminAuthPlugin (app: FastifyInstance, options: { keys: string[] }) {
  const keyDigests = options.keys.map(digest)

  app.decorate('verifyAdminKey', async function verifyAdminKey (request: FastifyRequest) {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) throw unauthorized(false)
    const candidate = digest(token)
    let matched = false
    for (const keyDigest of keyDigests) {
      matched = timingSafeEqual(keyDigest, candidate) || matched
    }
    if (!matched) throw unauthorized(true)
  })
}, { name: 'admin-auth' })
