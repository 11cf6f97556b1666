import { AjvCompiler, type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.js'
import { createMetrics } from './metrics.js'
import { sharedReads } from './db/shared-reads.js'
import type { Sql } from './db/sql.js'
import { bookingsFeature } from './features/bookings/index.js'
import { createCheckInRepository } from './features/check-in/check-in-repository.js'
import { checkInFeature } from './features/check-in/index.js'
import { eventsFeature } from './features/events/index.js'
import { healthFeature } from './features/health/index.js'
import { integratorsFeature } from './features/integrators/index.js'
import { createIntegratorsRepository } from './features/integrators/integrators-repository.js'
import { ticketTiersFeature } from './features/ticket-tiers/index.js'
import { createTicketCodes } from './features/tickets/codes.js'
import { ticketsFeature } from './features/tickets/index.js'
import { webhookDispatcher, type WebhookDispatcherTuning } from './features/webhooks/dispatcher.js'
import { webhooksFeature } from './features/webhooks/index.js'
import { DEFAULT_RETENTION_DAYS, retentionSweeper } from './features/webhooks/retention.js'
import { BODY_LIMIT_BYTES } from './limits.js'
import auth from './plugins/auth.js'
import { holdSweeper } from './features/bookings/hold-sweeper.js'
import loadShedding, { REQUEST_DEADLINE_MS } from './plugins/load-shedding.js'
import httpPolicies, { rateLimits } from './plugins/http-policies.js'
import jsonBody from './plugins/json-body.js'
import { trackMethodsForNotAllowed } from './plugins/method-not-allowed.js'
import metricsPlugin from './plugins/metrics.js'
import openapi from './plugins/openapi.js'
import { createRateLimitRedis } from './plugins/rate-limit-store.js'
import problems, { handleFrameworkError } from './plugins/problems.js'
import requestId, { genReqId } from './plugins/request-id.js'
import requestLog from './plugins/request-log.js'
import { bookingSchemas } from './schemas/bookings.js'
import { checkInSchemas } from './schemas/check-in.js'
import { commonSchemas } from './schemas/common.js'
import { eventSchemas } from './schemas/events.js'
import { HealthSchema, LivenessSchema } from './schemas/health.js'
import { integratorSchemas } from './schemas/integrators.js'
import { ticketTierSchemas } from './schemas/ticket-tiers.js'
import { ticketSchemas } from './schemas/tickets.js'
import { webhookSchemas } from './schemas/webhooks.js'
import { dbSpan } from './tracing.js'

export interface BuildAppOptions {
  config: Pick<Config, 'adminApiKeys'> & Partial<Pick<Config, 'publicUrl' | 'rateLimitRequestsPerMinute' | 'rateLimitBookingsPerMinute' | 'corsOrigins' | 'webhookAllowPrivateNetworks' | 'ticketSigningKeys' | 'redisUrl' | 'metricsPublic' | 'retentionDays'>>
  /** The pool the features query; the caller owns it and ends it after `app.close()`. */
  sql: Sql
  /**
   * Direct connections to the database for what needs a session of its own (the dispatcher's
   * LISTEN, the hold and retention sweeps' session locks), when `sql` goes through a pooler in transaction mode;
   * default `sql`. The caller owns it too.
   */
  sessionSql?: Sql | undefined
  /** Where request logs go; without one the app logs nothing (tests). */
  logger?: FastifyBaseLogger
  /** Whether the service is draining (stopping): readiness answers 503 meanwhile. Default: never. */
  isDraining?: () => boolean
  /** How often the background sweep expires lapsed holds; 0 (the default) turns it off. */
  holdSweepIntervalMs?: number
  /** How often the retention sweep deletes expired webhook rows; 0 (the default) turns it off. */
  retentionSweepIntervalMs?: number
  /** Booking requests that may queue for the database before new ones get a 503 (default 1000). */
  maxQueuedBookings?: number
  /** API requests in progress at once before new ones get a 503 (default 2000). */
  maxInFlightRequests?: number
  /** How long an API request may go unanswered before it gets a 503 (default REQUEST_DEADLINE_MS, 12 s). */
  requestDeadlineMs?: number
  /** Runs the webhook dispatcher in this process (off by default; the service turns it on). */
  webhookDispatcher?: false | WebhookDispatcherTuning
}

/**
 * Query strings and path parameters arrive as text, so they are coerced; JSON bodies are not,
 * so `"price": "100"` is a 400 rather than silently becoming 100.
 */
export function buildValidatorCompilers (): { buildValidator: BuildCompilerFromPool } {
  const factory = AjvCompiler()
  return {
    buildValidator (externalSchemas, options) {
      const coercing = factory(externalSchemas, options)
      const strict = factory(externalSchemas, { ...options, mode: undefined, customOptions: { ...options?.customOptions, coerceTypes: false } })
      return (route) => route.httpPart === 'body' ? strict(route) : coercing(route)
    }
  }
}

/** Every named schema the routes refer to (`$ref`), added to the app once. */
export const sharedSchemas = [...commonSchemas, ...eventSchemas, ...ticketTierSchemas, ...bookingSchemas, ...ticketSchemas, ...checkInSchemas, ...integratorSchemas, ...webhookSchemas, HealthSchema, LivenessSchema]

/**
 * A feature plugin keeps its own scope (its repository and routes are its own) and declares what
 * it uses from the layer below: `app.authenticate`, and the rate limiter that must see its routes.
 */
export function feature<Options extends object> (plugin: FastifyPluginAsync<Options>, name: string): FastifyPluginAsync<Options> {
  return fp(plugin, { name, dependencies: ['auth', 'rate-limits', 'load-shedding'], encapsulate: true })
}

/** Builds the API without listening, so tests can `inject` and the server entry can `listen`. */
export function buildApp ({ config, sql, sessionSql, logger, isDraining = () => false, holdSweepIntervalMs = 0, retentionSweepIntervalMs = 0, maxQueuedBookings, maxInFlightRequests = 2000, requestDeadlineMs = REQUEST_DEADLINE_MS, webhookDispatcher: dispatcher = false }: BuildAppOptions) {
  const app = Fastify({
    ...(logger === undefined ? { logger: false } : { loggerInstance: logger }),
    genReqId,
    requestIdHeader: false,
    // One line per request, from the request-log plugin, instead of Fastify's own two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    frameworkErrors: handleFrameworkError,
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false } },
    schemaController: { compilersFactory: buildValidatorCompilers() }
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.removeContentTypeParser('text/plain')
  for (const schema of sharedSchemas) app.addSchema(schema)

  // Infrastructure, in dependency order (each plugin names what it needs, so a wrong order fails at start-up).
  app.register(requestId)
  app.register(problems)
  app.register(jsonBody)
  app.register(httpPolicies, { corsOrigins: config.corsOrigins ?? [] })
  app.register(openapi, { publicUrl: config.publicUrl })
  const integrators = createIntegratorsRepository(sql)
  const checkIn = createCheckInRepository(sql)
  app.register(auth, {
    adminKeys: config.adminApiKeys,
    // Every request looks its key up, so requests with the same key that arrive together share the query (see sharedReads).
    findIntegratorKey: sharedReads(async (token: string) => await dbSpan('find integrator key', async () => await integrators.findLiveKey(token)), (token) => token),
    findScannerKey: sharedReads(async (token: string) => await dbSpan('find scanner key', async () => await checkIn.findLiveKey(token)), (token) => token)
  })
  app.register(requestLog)

  // Prometheus metrics: GET /metrics (outside /api), and the counts the features keep.
  const metrics = createMetrics()
  app.register(metricsPlugin, { metrics, pools: { main: sql, ...(sessionSql === undefined ? {} : { sessions: sessionSql }) }, sql, public: config.metricsPublic ?? false })

  // Rate-limit counters shared by every process through Redis, when REDIS_URL names one; closed with the app.
  const redis = config.redisUrl === undefined ? undefined : createRateLimitRedis(config.redisUrl)
  if (redis !== undefined) app.addHook('onClose', async () => { redis.disconnect() })

  // Ticket codes are signed where bookings change (bookings) and where tickets are reissued (tickets).
  const codes = createTicketCodes(sql, config.ticketSigningKeys)

  // The API: its own scope, so load shedding, rate limits and 405s apply to its routes only.
  app.register(async function api (scope) {
    const methodNotAllowed = trackMethodsForNotAllowed(scope)
    scope.register(loadShedding, { maxInFlight: maxInFlightRequests, deadlineMs: requestDeadlineMs })
    scope.register(rateLimits, {
      requestsPerMinute: config.rateLimitRequestsPerMinute ?? 0,
      bookingsPerMinute: config.rateLimitBookingsPerMinute ?? 0,
      limitsOf: async (request) => (await scope.integratorKeyOf(request))?.rateLimits,
      redis
    })
    scope.register(feature(healthFeature, 'health'), { sql, isDraining })
    scope.register(feature(eventsFeature, 'events'), { sql })
    scope.register(feature(ticketTiersFeature, 'ticket-tiers'), { sql })
    scope.register(feature(integratorsFeature, 'integrators'), { sql })
    scope.register(feature(bookingsFeature, 'bookings'), { sql, codes, maxQueued: maxQueuedBookings, metrics })
    scope.register(feature(ticketsFeature, 'tickets'), { sql, codes })
    scope.register(feature(checkInFeature, 'check-in'), { sql, codes, checkIn, metrics })
    scope.register(feature(webhooksFeature, 'webhooks'), { sql, allowPrivateNetworks: config.webhookAllowPrivateNetworks ?? false })
    scope.register(methodNotAllowed)
  }, { prefix: '/api' })

  // Background work, tied to the app's life.
  app.register(holdSweeper, { sql, sessionSql, codes, intervalMs: holdSweepIntervalMs, metrics })
  app.register(retentionSweeper, { sql, sessionSql, retentionDays: config.retentionDays ?? DEFAULT_RETENTION_DAYS, intervalMs: retentionSweepIntervalMs, metrics })
  if (dispatcher !== false) {
    app.register(webhookDispatcher, { sql, listenSql: sessionSql, allowPrivateNetworks: config.webhookAllowPrivateNetworks ?? false, metrics, ...dispatcher })
  }
  return app
}

export type App = ReturnType<typeof buildApp>
