import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError, problemKinds } from '../problems.js'
import type { Redis } from 'ioredis'
import { bearerOf } from './auth.js'
import { oncePerRequest } from './per-request.js'
import { sharedRateLimitStore } from './rate-limit-store.js'

export interface HttpPoliciesOptions {
  corsOrigins: string[]
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `bookings`: the route (booking creation) has a per-minute limit of its own, counted apart from the general one. */
    countedAs?: 'bookings'
  }
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
 * Security headers on every response, and CORS closed unless origins are configured.
 * @see https://github.com/fastify/fastify-cors
 */
export default fp(async function httpPolicies (app: FastifyInstance, options: HttpPoliciesOptions) {
  app.addHook('onRequest', async function securityHeaders (_request, reply) {
    reply.headers(SECURITY_HEADERS)
  })

  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: options.corsOrigins,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
      exposedHeaders: ['location', 'x-request-id', 'idempotent-replayed', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
      maxAge: 600
    })
  }
}, { name: 'http-policies' })

export interface RateLimitsOptions {
  /** Requests per minute per key (else per client address) across the API; 0 turns the limit off. */
  requestsPerMinute: number
  /** Booking creations per minute per key (else address), counted apart; 0: they count against the general limit. */
  bookingsPerMinute: number
  /** An integrator's own limits (null: the defaults above), for a request made with one of its keys. */
  limitsOf: (request: FastifyRequest) => Promise<{ requestsPerMinute: number, bookingsPerMinute: number } | null | undefined>
  /** Where the counters live so that every process shares them (REDIS_URL); without it each process counts alone. */
  redis?: Redis
}

/** The limit that applies to a request, and whether it is counted apart (booking creation). */
interface AppliedLimit {
  perMinute: number
  apart: boolean
}

/**
 * Rate limits on the routes of the scope it is registered in (per key, else per client address):
 * one for every operation, and a stricter one where a route is counted apart (booking creation).
 * An integrator's key gets its integrator's own limits where it has them (read with the key, once
 * per request, on every process: a change holds from the next request). Every response past the
 * limiter carries the IETF RateLimit-* headers; beyond the limit the answer is a 429 problem with
 * Retry-After. Routes are given the limiter as they are added, so register it before them (the
 * features declare it as a dependency).
 * @see https://github.com/fastify/fastify-rate-limit
 */
export const rateLimits = fp(async function rateLimitsPlugin (app: FastifyInstance, options: RateLimitsOptions) {
  const limitOf = oncePerRequest(app, async function decide (request): Promise<AppliedLimit> {
    const own = await options.limitsOf(request)
    if (request.routeOptions.config?.countedAs === 'bookings') {
      const bookings = own?.bookingsPerMinute ?? options.bookingsPerMinute
      if (bookings > 0) return { perMinute: bookings, apart: true }
    }
    return { perMinute: own?.requestsPerMinute ?? options.requestsPerMinute, apart: false }
  })

  // One limiter, run first among each route's hooks (before authentication, so a 401 is counted and
  // carries the headers too). A route counted apart has a counter of its own; a request whose limit
  // is 0 (off) is not counted.
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    timeWindow: '1 minute',
    ...(options.redis === undefined ? {} : { store: sharedRateLimitStore(options.redis, app.log) }),
    allowList: async (request) => (await limitOf(request)).perMinute <= 0,
    max: async (request) => (await limitOf(request)).perMinute,
    // Per key where one is sent (each key has its own budget), else per client address.
    keyGenerator: async (request) => {
      const bearer = bearerOf(request)
      const who = bearer === undefined ? `address:${request.ip}` : `key:${bearer.digest.toString('base64url')}`
      return (await limitOf(request)).apart ? `${who}:${request.method} ${request.routeOptions.url ?? ''}` : who
    },
    errorResponseBuilder: (request, context) => new ProblemError(
      problemKinds.rateLimited,
      `Too many requests from this client: at most ${context.max} a minute${request.routeOptions.config?.countedAs === 'bookings' ? ' for this operation' : ''}; retry after ${context.after}.`,
      {},
      { 'Retry-After': String(Math.ceil(context.ttl / 1000)) }
    )
  })
  const limiter = app.rateLimit()
  app.addHook('onRoute', (route) => {
    const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    route.onRequest = [limiter, ...hooks]
  })
}, { name: 'rate-limits', dependencies: ['problems', 'auth'] })
