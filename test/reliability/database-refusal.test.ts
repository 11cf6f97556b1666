import { randomBytes, randomUUID } from 'node:crypto'
import postgres from 'postgres'
import { inject, afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { createSql, type Sql } from '../../src/db/sql.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { pino } from 'pino'
import { ADMIN_KEY, readyApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { loadDocumented, type Documented } from '../support/documented.js'
import { createEventWithTier, problemType } from '../support/fixtures.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { waitUntil } from '../support/wait.js'
const CAPACITY = 100_000

/**
 * The ways a database refuses a service for a while (maintenance, a managed failover, a restart,
 * too many clients), each as PostgreSQL or the network really shows it. A stop and start of the
 * server itself is `database-restart.test.ts`.
 */
interface Refusal {
  name: string
  /** False when some sessions still get through, so some requests still succeed meanwhile. */
  total?: false
  /**
   * In force once a booking made after it has been refused, not once the service has no session
   * left (its sessions stay open in PostgreSQL).
   */
  inForceOnceRefused?: true
  refuse: () => Promise<void>
  restore: () => Promise<void>
}

interface Result { status: number, type?: string, retryAfter?: string, contentType?: string, what: string }

let db: TestDatabase
let admin: postgres.Sql
let role: string
let proxy: TcpProxy
let appSql: Sql
let app: App
/** What the service logged as errors: the cause of any 500, to name it when the test fails. */
const serverErrors: string[] = []
let documented: Documented
let integratorHeaders: { authorization: string }
let eventId: string
let ticketTierId: string
let terminator: NodeJS.Timeout | undefined

beforeAll(async () => {
  db = await createTestDatabase()
  const server = new URL(inject('postgresUrl'))
  admin = postgres(server.toString(), { max: 1, onnotice: () => {} })
  // The service logs in as a role of its own, not a superuser, so that role limits apply to it.
  role = `refusal_${randomBytes(4).toString('hex')}`
  const password = randomBytes(12).toString('hex')
  const [{ owner } = { owner: '' }] = await admin<{ owner: string }[]>`select current_user as owner`
  await admin.unsafe(`create role ${role} login password '${password}'`)
  await admin.unsafe(`grant "${owner}" to ${role}`)

  proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) })
  const appUrl = new URL(db.url)
  appUrl.username = role
  appUrl.password = password
  appUrl.host = `127.0.0.1:${proxy.port}`
  appSql = createSql(appUrl.toString(), { max: 8 })
  app = await readyApp(appSql, { logger: pino({ level: 'error' }, { write: (line: string) => { serverErrors.push(line) } }) })
  documented = await loadDocumented()

  integratorHeaders = { authorization: `Bearer ${(await createIntegratorsRepository(db.sql).createWithKey('Refusal')).key.key}` }
  const event = await createEventWithTier(app, { price: 100, capacity: CAPACITY })
  eventId = event.eventId
  ticketTierId = event.tierId
})

afterAll(async () => {
  clearInterval(terminator)
  await app.close()
  await appSql.end({ timeout: 1 })
  await proxy.close()
  await db.drop()
  await admin.unsafe(`drop role if exists ${role}`)
  await admin.end()
})

const sessionsOf = (column: 'datname' | 'usename', value: () => string) => async (): Promise<void> => {
  await admin`select pg_terminate_backend(pid) from pg_stat_activity where ${admin(column)} = ${value()} and pid <> pg_backend_pid()`
}
const databaseName = (): string => new URL(db.url).pathname.slice(1)
const sessionsOfRole = async (): Promise<number> => {
  const [row] = await admin<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where usename = ${role}`
  return row?.n ?? -1
}
const endDatabaseSessions = sessionsOf('datname', databaseName)
const endRoleSessions = sessionsOf('usename', () => role)

const refusals: Refusal[] = [
  {
    name: 'the database accepts no new sessions (ALLOW_CONNECTIONS false) and the open ones are ended',
    refuse: async () => { await admin.unsafe(`alter database ${databaseName()} allow_connections false`); await endDatabaseSessions() },
    restore: async () => { await admin.unsafe(`alter database ${databaseName()} allow_connections true`) }
  },
  {
    name: 'too many clients: the role is at its connection limit (CONNECTION LIMIT 0)',
    refuse: async () => { await admin.unsafe(`alter role ${role} connection limit 0`); await endRoleSessions() },
    restore: async () => { await admin.unsafe(`alter role ${role} connection limit -1`) }
  },
  {
    name: 'logins are refused (NOLOGIN) and the open sessions are ended',
    refuse: async () => { await admin.unsafe(`alter role ${role} nologin`); await endRoleSessions() },
    restore: async () => { await admin.unsafe(`alter role ${role} login`) }
  },
  {
    name: 'every session is terminated as soon as it starts (an administrator or a failover ending them)',
    total: false,
    refuse: async () => { terminator = setInterval(() => { void endRoleSessions().catch(() => {}) }, 25) },
    restore: async () => { clearInterval(terminator) }
  },
  {
    name: 'nothing listens: connections are refused, open ones reset',
    refuse: async () => { await proxy.setMode('refuse') },
    restore: async () => { await proxy.setMode('forward') }
  },
  {
    name: 'connections are reset as soon as they are made',
    refuse: async () => { await proxy.setMode('reset') },
    restore: async () => { await proxy.setMode('forward') }
  },
  {
    name: 'connections are accepted and never answered (a dropped route), open ones reset',
    refuse: async () => { await proxy.setMode('silent') },
    restore: async () => { await proxy.setMode('forward') }
  },
  {
    name: 'the network stalls (a partition): open connections pass nothing and are not reset, new ones are never answered; then it heals',
    refuse: async () => { await proxy.setMode('stall') },
    // A booking in flight waits for its 12 s deadline; a new connection for its 5 s connect timeout.
    inForceOnceRefused: true,
    restore: async () => { await proxy.setMode('forward') }
  }
]

function resultOf (response: { statusCode: number, headers: Record<string, unknown>, json: () => { type?: string } }, what: string): Result {
  return {
    status: response.statusCode,
    type: response.statusCode >= 400 ? response.json().type : undefined,
    retryAfter: response.headers['retry-after'] as string | undefined,
    contentType: response.headers['content-type'] as string | undefined,
    what: response.statusCode === 500 ? `${what} (request ${String(response.headers['x-request-id'])})` : what
  }
}

/** Every documented operation once, with its documented example body and ids that exist nowhere. */
async function everyOperation (): Promise<Result[]> {
  return await Promise.all(documented.operations.map(async (operation) => {
    const url = operation.template.replace(/\{[^}]+\}/g, () => randomUUID())
    const schemes = (operation.security ?? []).flatMap((scheme) => Object.keys(scheme))
    // A scanner key is looked up in the database like an integrator key: one of the right shape will do.
    const headers: Record<string, string> = schemes.includes('integratorKey')
      ? { ...integratorHeaders }
      : schemes.includes('adminKey') ? { authorization: `Bearer ${ADMIN_KEY}` } : schemes.includes('scannerKey') ? { authorization: `Bearer tbs_${'A'.repeat(43)}` } : {}
    const example = (operation.requestBody?.content?.['application/json'] as { example?: unknown } | undefined)?.example
    const response = await app.inject({ method: operation.method as 'GET', url, headers, ...(example === undefined ? {} : { payload: example as object }) })
    return resultOf(response, `${operation.operationId} ${operation.method} ${url}`)
  }))
}

describe('a database that refuses the service for a while', () => {
  it('answers 503 problems with Retry-After on every operation meanwhile, never another 5xx, recovers by itself, and loses no booking', async () => {
    const results: Result[] = []
    const acknowledged = new Set<string>()
    const refused = new Set<string>()
    let sequence = 0
    let running = true
    const load = Array.from({ length: 6 }, async () => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the test sets it, between awaits
      while (running) {
        const key = `refusal-${sequence++}`
        const booking = await app.inject({
          method: 'POST',
          url: '/api/bookings',
          headers: { ...integratorHeaders, 'idempotency-key': key },
          payload: { eventId, items: [{ ticketTierId, quantity: 1 }] }
        })
        results.push(resultOf(booking, `createBooking ${key}`))
        if (booking.statusCode === 201) acknowledged.add(key)
        else refused.add(key)
        results.push(resultOf(await app.inject({ method: 'GET', url: `/api/events/${eventId}/ticket-tiers` }), 'listTicketTiers'))
        // A refused request is retried after a pause, not in a tight loop.
        if (booking.statusCode !== 201) await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })

    try {
      for (const refusal of refusals) {
        const bookedBefore = acknowledged.size
        await waitUntil(() => acknowledged.size > bookedBefore, `${refusal.name}: the load books before the refusal`)
        const refusedBefore = refused.size
        await refusal.refuse()
        // In force: no session of the service is left (for a refusal that lets some through, the load has met it).
        await waitUntil(async () => refusal.total === false || refusal.inForceOnceRefused === true ? refused.size > refusedBefore : await sessionsOfRole() === 0, `${refusal.name}: in force`, { timeoutMs: 30_000 })
        const probed = await everyOperation()
        if (refusal.total !== false) {
          expect((await app.inject({ method: 'GET', url: '/api/health' })).statusCode, refusal.name).toBe(503)
          // Liveness asks nothing of the database: the process is alive, and restarting it would not help.
          expect(probed.find((result) => result.what.startsWith('getLiveness '))?.status, refusal.name).toBe(200)
          for (const result of probed.filter((each) => !each.what.startsWith('getLiveness '))) {
            expect(result, `${refusal.name}: ${result.what}; last errors logged: ${serverErrors.filter((line) => result.status !== 500 || line.includes(result.what.match(/request ([^)]+)/)?.[1] ?? '-')).slice(-3).map((line) => line.slice(0, 600)).join(' | ')}`).toMatchObject({ status: 503, type: problemType('service-unavailable') })
          }
        } else {
          expect(probed.filter((result) => result.status === 503).length, refusal.name).toBeGreaterThan(0)
        }
        results.push(...probed)
        await refusal.restore()

        await waitUntil(async () => {
          const [checked, booked] = await Promise.all([
            app.inject({ method: 'GET', url: '/api/health' }),
            app.inject({ method: 'POST', url: '/api/bookings', headers: integratorHeaders, payload: { eventId, items: [{ ticketTierId, quantity: 1 }] } })
          ])
          if (booked.statusCode === 201) acknowledged.add(`(no key) ${booked.json().id as string}`)
          return checked.statusCode === 200 && booked.statusCode === 201
        }, `${refusal.name}: recovered`, { timeoutMs: 15_000, intervalMs: 100 })
      }
    } finally {
      // Also when an expectation failed: the load must not outlive the app.
      running = false
      await Promise.all(load)
    }

    for (const result of results) {
      if (result.status < 500) continue
      expect(result, result.what).toMatchObject({ status: 503, type: problemType('service-unavailable') })
      expect(result.contentType, result.what).toMatch(/^application\/problem\+json/)
      expect(Number(result.retryAfter), result.what).toBeGreaterThan(0)
    }

    // A request refused with a 503 may still have committed just before its connection was cut;
    // its retry with the same key settles it: the booking it made, or a new one, never a second.
    for (const key of refused) {
      const retried = await app.inject({
        method: 'POST',
        url: '/api/bookings',
        headers: { ...integratorHeaders, 'idempotency-key': key },
        payload: { eventId, items: [{ ticketTierId, quantity: 1 }] }
      })
      expect([200, 201], key).toContain(retried.statusCode)
      acknowledged.add(key)
    }
    const [ledger] = await db.sql<{ bookings: number, keys: number, remaining: number, booked: number }[]>`
      select (select count(*)::int from bookings where event_id = ${eventId}) as bookings,
             (select count(distinct client_reference)::int from bookings where event_id = ${eventId} and client_reference like 'refusal-%') as keys,
             (select remaining from ticket_tiers where id = ${ticketTierId}) as remaining,
             (select coalesce(sum(quantity), 0)::int from booking_items where ticket_tier_id = ${ticketTierId}) as booked
    `
    expect(ledger).toEqual({ bookings: acknowledged.size, keys: sequence, remaining: CAPACITY - acknowledged.size, booked: acknowledged.size })
  }, 180_000)
})
