import { hash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { IntegratorKey, Principal, ScannerKey } from '../domain/principal.js'
import { ProblemError, problemKinds } from '../problems.js'
import { oncePerRequest } from './per-request.js'
import type { Scope } from '../schemas/integrators.js'

export interface Requirement {
  /** The scope an integrator key needs. */
  scope: Scope
  /** Whether an admin key is accepted too (operators read and cancel any booking). */
  admin: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook for operator operations: accepts `Authorization: Bearer <one of ADMIN_API_KEYS>`. */
    verifyAdminKey: (request: FastifyRequest) => Promise<void>
    /** An onRequest hook that authenticates an integrator key with `scope` (or an admin key, when allowed). */
    authenticate: (requirement: Requirement) => (request: FastifyRequest) => Promise<void>
    /**
     * onRequest hook for check-in operations: accepts an admin key or a live scanner key (of any
     * event: the route answers 404 for another event's resources, see `scannerMaySee`).
     */
    verifyAdminOrScannerKey: (request: FastifyRequest) => Promise<void>
    /** onRequest hook for scans: accepts a live scanner key only (a scan is of the key's event). */
    verifyScannerKey: (request: FastifyRequest) => Promise<void>
    /**
     * The live integrator key the request's bearer token is, if any: looked up once per request,
     * by the rate limiter (for the integrator's own limits) and by authentication alike.
     */
    integratorKeyOf: (request: FastifyRequest) => Promise<IntegratorKey | undefined>
  }
  interface FastifyRequest {
    principal: Principal | null
    /** The bearer token and its SHA-256, once worked out (bearerOf); null until then, false when none is sent. */
    bearer: Bearer | false | null
  }
}

const BEARER = /^bearer +(\S+) *$/i

/** The principal a route's authentication hook set; for routes that have one. */
export function principalOf (principal: Principal | null): Principal {
  if (principal === null) throw new Error('a route that needs a principal ran without authentication')
  return principal
}

/** The integrator behind a request to an integrator-only route (its hook refused admin keys). */
export function integratorIdOf (principal: Principal | null): string {
  if (principal?.kind !== 'integrator') throw new Error('an integrator-only route ran without an integrator key')
  return principal.integratorId
}

/** The scanner key behind a request to a scan route (its hook accepts nothing else). */
export function scannerOf (principal: Principal | null): { eventId: string, keyId: string } {
  if (principal?.kind !== 'scanner') throw new Error('a scan route ran without a scanner key')
  return principal
}

/** Whether the caller may see a resource of `eventId`: admin keys see every event, a scanner key its own only. */
export function scannerMaySee (principal: Principal | null, eventId: string): boolean {
  const caller = principalOf(principal)
  return caller.kind === 'admin' || (caller.kind === 'scanner' && caller.eventId === eventId)
}

function bearerToken (header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header)?.[1]
}

/** A request's bearer token and its SHA-256 digest. */
export interface Bearer {
  token: string
  digest: Buffer
}

/**
 * The request's bearer token with its SHA-256, hashed once per request for all that need it: the
 * admin key check, the rate limiter's key; undefined when the request sends none.
 */
export function bearerOf (request: FastifyRequest): Bearer | undefined {
  if (request.bearer === null) {
    const token = bearerToken(request.headers.authorization)
    request.bearer = token === undefined ? false : { token, digest: hash('sha256', token, 'buffer') }
  }
  return request.bearer === false ? undefined : request.bearer
}

function unauthorized (keySent: boolean, realm: string): ProblemError {
  return new ProblemError(
    problemKinds.unauthorized,
    keySent ? 'The bearer key is not valid for this operation.' : 'Send a key as `Authorization: Bearer <key>`.',
    {},
    { 'WWW-Authenticate': keySent ? `Bearer realm="${realm}", error="invalid_token"` : `Bearer realm="${realm}"` }
  )
}

function insufficientScope (scope: Scope, detail: string): ProblemError {
  return new ProblemError(problemKinds.insufficientScope, detail, { scope }, {
    'WWW-Authenticate': `Bearer realm="integrator", error="insufficient_scope", scope="${scope}"`
  })
}

export interface AuthOptions {
  adminKeys: string[]
  /** The live integrator key a token is, if any (the integrators feature owns the keys). */
  findIntegratorKey: (token: string) => Promise<IntegratorKey | undefined>
  /** The live scanner key a token is, if any (the check-in feature owns the keys). */
  findScannerKey: (token: string) => Promise<ScannerKey | undefined>
}

/**
 * Bearer authentication for the three kinds of key. Admin keys (ADMIN_API_KEYS) are compared as
 * SHA-256 digests with timingSafeEqual against every configured key. Integrator keys are found by
 * `findIntegratorKey`, and must carry the operation's scope. Scanner keys are found by
 * `findScannerKey` on every request (so a revocation holds from the next one), and only
 * `verifyAdminOrScannerKey` accepts them.
 * @see https://datatracker.ietf.org/doc/html/rfc6750#section-3
 */
export default fp(async function authPlugin (app: FastifyInstance, { adminKeys, findIntegratorKey, findScannerKey }: AuthOptions) {
  const adminDigests = adminKeys.map((key) => hash('sha256', key, 'buffer'))

  function isAdminKey (bearer: Bearer): boolean {
    let matched = false
    for (const adminDigest of adminDigests) matched = timingSafeEqual(adminDigest, bearer.digest) || matched
    return matched
  }

  app.decorateRequest('principal', null)
  app.decorateRequest('bearer', null)

  app.decorate('integratorKeyOf', oncePerRequest(app, async function integratorKeyOf (request: FastifyRequest) {
    const bearer = bearerOf(request)
    return bearer === undefined || isAdminKey(bearer) ? undefined : await findIntegratorKey(bearer.token)
  }))

  app.decorate('verifyAdminKey', async function verifyAdminKey (request: FastifyRequest) {
    const bearer = bearerOf(request)
    if (bearer === undefined) throw unauthorized(false, 'admin')
    if (!isAdminKey(bearer)) throw unauthorized(true, 'admin')
    request.principal = { kind: 'admin' }
  })

  function scannerAuthentication (adminToo: boolean) {
    return async function verifyScanner (request: FastifyRequest) {
      const bearer = bearerOf(request)
      if (bearer === undefined) throw unauthorized(false, 'scanner')
      if (isAdminKey(bearer)) {
        if (!adminToo) throw new ProblemError(problemKinds.insufficientScope, 'Admin keys do not scan: use a scanner key of the event (POST /api/events/{eventId}/scanner-keys).')
        request.principal = { kind: 'admin' }
        return
      }
      const key = await findScannerKey(bearer.token)
      if (key === undefined) throw unauthorized(true, 'scanner')
      request.principal = { kind: 'scanner', eventId: key.eventId, keyId: key.id }
    }
  }

  app.decorate('verifyAdminOrScannerKey', scannerAuthentication(true))
  app.decorate('verifyScannerKey', scannerAuthentication(false))

  app.decorate('authenticate', function authenticate (requirement: Requirement) {
    return async function authenticateRequest (request: FastifyRequest) {
      const bearer = bearerOf(request)
      if (bearer === undefined) throw unauthorized(false, 'integrator')
      if (isAdminKey(bearer)) {
        if (!requirement.admin) throw insufficientScope(requirement.scope, 'Admin keys cannot do this; use an integrator key.')
        request.principal = { kind: 'admin' }
        return
      }
      const key = await app.integratorKeyOf(request)
      if (key === undefined) throw unauthorized(true, 'integrator')
      if (!key.scopes.includes(requirement.scope)) {
        throw insufficientScope(requirement.scope, `This key lacks the scope ${requirement.scope}.`)
      }
      request.principal = { kind: 'integrator', integratorId: key.integratorId, keyId: key.id }
    }
  })
}, { name: 'auth', dependencies: ['problems'] })
