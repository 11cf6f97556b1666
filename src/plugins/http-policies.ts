import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError, problemKinds } from '../problems.js'
import { bearerToken } from './auth.js'

export interface HttpPoliciesOptions {
  corsOrigins: string[]
}

/** The `config.rateLimit` of a route limited to `perMinute` requests per client address; 0 means no limit. */
export function perMinuteLimit (perMinute: number) {
  return perMinute > 0 ? { max: perMinute, timeWindow: '1 minute' } : false
}

/**
 * The headers @fastify/helmet sends by default, less its content security policy (the API sends
 * JSON, and a policy would stop Swagger UI's "Try it out" against a local http server). Set from
 * one frozen object: helmet computing them per request cost 30% of a read's throughput.
 * @see https://helmetjs.github.io/
 */
const SECURITY_HEADERS = Object.freeze({
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0'
})

/**
 * Security headers on every response, CORS closed unless origins are
 * configured, and the rate limit on booking creation (per key, else per client address), answering 429 problems
 * with Retry-After and the IETF RateLimit-* headers.
 * @see https://github.com/fastify/fastify-rate-limit
 */
export default fp(async function httpPolicies (app: FastifyInstance, options: HttpPoliciesOptions) {
  app.addHook('onRequest', async function securityHeaders (_request, reply) {
    reply.headers(SECURITY_HEADERS)
  })

  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: options.corsOrigins,
      methods: ['GET', 'POST', 'PATCH'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
      exposedHeaders: ['location', 'x-request-id', 'idempotent-replayed', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
      maxAge: 600
    })
  }

  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    // Per key where one is sent (each integrator key has its own budget), else per client address.
    keyGenerator: (request) => {
      const token = bearerToken(request.headers.authorization)
      return token === undefined ? `address:${request.ip}` : `key:${createHash('sha256').update(token).digest('base64url')}`
    },
    errorResponseBuilder: (_request, context) => new ProblemError(
      problemKinds.rateLimited,
      `Too many bookings from this client: at most ${context.max} a minute; retry after ${context.after}.`,
      {},
      { 'Retry-After': String(Math.ceil(context.ttl / 1000)) }
    )
  })
}, { name: 'http-policies' })
