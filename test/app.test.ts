import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { feature } from '../src/app.js'
import { eventsFeature } from '../src/features/events/index.js'
import auth from '../src/plugins/auth.js'
import httpPolicies, { rateLimits } from '../src/plugins/http-policies.js'
import jsonBody from '../src/plugins/json-body.js'
import loadShedding from '../src/plugins/load-shedding.js'
import problems from '../src/plugins/problems.js'
import { createTestDatabase } from './support/database.js'

const findIntegratorKey = async () => undefined
const findScannerKey = async () => undefined

/** What buildApp gets right, done wrong: each mistake must stop the start, not drop a hook in silence. */
describe('plugins registered in the wrong order', () => {
  it('fails at start-up when an infrastructure plugin comes before the error handler it needs', async () => {
    for (const register of [
      (app: ReturnType<typeof Fastify>) => app.register(jsonBody),
      (app: ReturnType<typeof Fastify>) => app.register(auth, { adminKeys: [], findIntegratorKey, findScannerKey }),
      (app: ReturnType<typeof Fastify>) => app.register(rateLimits, { requestsPerMinute: 10 }),
      (app: ReturnType<typeof Fastify>) => app.register(loadShedding, { maxInFlight: 10, deadlineMs: 10_000 })
    ]) {
      const app = Fastify()
      register(app)
      app.register(problems)
      await expect(app.ready()).rejects.toThrow(/dependency 'problems'/)
      await app.close()
    }
  })

  it('fails at start-up when a feature comes before the rate limiter (its routes would have no limit)', async () => {
    const db = await createTestDatabase()
    try {
      const app = Fastify()
      app.register(problems)
      app.register(httpPolicies, { corsOrigins: [] })
      app.register(auth, { adminKeys: [], findIntegratorKey, findScannerKey })
      app.register(async (scope) => {
        scope.register(loadShedding, { maxInFlight: 10, deadlineMs: 10_000 })
        scope.register(feature(eventsFeature, 'events'), { sql: db.sql })
        scope.register(rateLimits, { requestsPerMinute: 10, bookingsPerMinute: 0, limitsOf: async () => null })
      }, { prefix: '/api' })
      await expect(app.ready()).rejects.toThrow(/dependency 'rate-limits'/)
      await app.close()
    } finally {
      await db.drop()
    }
  })
})
