import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import type { SqlOptions } from '../../src/db/sql.js'
import { createTestApp, type TestApp } from '../support/app.js'
import { createEventWithTier, problemType, remaining } from '../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../support/locks.js'
import { waitUntil } from '../support/wait.js'

/** A pool that waits 300 ms for a lock and lets a statement run 2 s. */
const IMPATIENT: SqlOptions = { max: 4, lockTimeoutMs: 300, statementTimeoutMs: 2_000 }

let t: TestApp
let impatient: App
beforeAll(async () => {
  t = await createTestApp()
  impatient = await t.newApp({ pool: IMPATIENT })
})
afterAll(async () => { await t.close() })

async function eventWithTier (capacity: number): Promise<{ eventId: string, ticketTierId: string }> {
  const { eventId, tierId } = await createEventWithTier(t.app, { price: 100, capacity })
  return { eventId, ticketTierId: tierId }
}

describe('a stuck lock', () => {
  it('turns into a quick 503 problem with Retry-After, and booking works again once it is released', async () => {
    const { eventId, ticketTierId } = await eventWithTier(10)
    const body = { eventId, items: [{ ticketTierId, quantity: 1 }] }

    const release = await holdInTransaction(t.sql, async (tx) => await tx`select id from ticket_tiers where id = ${ticketTierId} for update`)
    try {
      const started = Date.now()
      const response = await impatient.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: body })
      expect(response.statusCode).toBe(503)
      expect(response.json().type).toBe(problemType('service-unavailable'))
      expect(Number(response.headers['retry-after'])).toBeGreaterThan(0)
      expect(response.body).not.toMatch(/lock|55P03|canceling/i)
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await release()
    }
    const [row] = await t.sql<{ remaining: number, bookings: number }[]>`
      select remaining, (select count(*)::int from bookings where event_id = ${eventId}) as bookings from ticket_tiers where id = ${ticketTierId}
    `
    expect(row).toEqual({ remaining: 10, bookings: 0 })
    const after = await impatient.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: body })
    expect(after.statusCode).toBe(201)
  })

  it('refuses bookings at once with a 503 when too many are already waiting for the database', async () => {
    const app = await t.newApp({ pool: { max: 2, lockTimeoutMs: 20_000 }, maxQueuedBookings: 5 })
    const { eventId, ticketTierId } = await eventWithTier(100)
    const release = await holdInTransaction(t.sql, async (tx) => await tx`select id from ticket_tiers where id = ${ticketTierId} for update`)
    try {
      const waiting = Array.from({ length: 20 }, async () =>
        await app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId, quantity: 1 }] } }))
      const started = Date.now()
      const refused = await app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId, quantity: 1 }] } })
      expect(refused.statusCode).toBe(503)
      expect(refused.json().detail).toContain('waiting')
      expect(Date.now() - started).toBeLessThan(1_000)
      await release()
      const statuses = (await Promise.all(waiting)).map((response) => response.statusCode)
      expect(statuses.filter((status) => status === 201).length).toBeGreaterThan(0)
      expect(statuses.every((status) => status === 201 || status === 503)).toBe(true)
    } finally {
      await release()
      await app.close()
    }
  })

  it('refuses any request at once with a 503 when the in-flight limit is reached, and serves again after', async () => {
    const { eventId, ticketTierId } = await eventWithTier(10)
    const app = await t.newApp({ pool: { max: 2 }, maxInFlightRequests: 3 })
    // Three bookings wait on a tier another transaction has locked: three requests in progress.
    const release = await holdInTransaction(t.sql, async (tx) => await tx`select id from ticket_tiers where id = ${ticketTierId} for update`)
    try {
      const waiting = Array.from({ length: 3 }, async () => await app.inject({
        method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId, quantity: 1 }] }
      }))
      await waitForLockWaiters(t.sql)
      const refused = await app.inject({ method: 'GET', url: '/api/events' })
      expect(refused.statusCode).toBe(503)
      expect(refused.json()).toMatchObject({ type: problemType('service-unavailable'), detail: expect.stringContaining('capacity') })
      expect(refused.headers['retry-after']).toBe('1')
      await release()
      expect((await Promise.all(waiting)).map((response) => response.statusCode)).toEqual([201, 201, 201])
      expect((await app.inject({ method: 'GET', url: '/api/events' })).statusCode).toBe(200)
    } finally {
      await release()
      await app.close()
    }
  })

  it('answers a request still waiting at its deadline with a 503, and a retry with the same key tells what became of it', async () => {
    const { eventId, ticketTierId } = await eventWithTier(10)
    // The database would let the booking wait 20 s for the lock; the request's deadline is 400 ms.
    const app = await t.newApp({ pool: { max: 2, lockTimeoutMs: 20_000 }, requestDeadlineMs: 400 })
    const booking = { method: 'POST' as const, url: '/api/bookings', headers: { ...t.asIntegrator, 'idempotency-key': 'deadline-1' }, payload: { eventId, items: [{ ticketTierId, quantity: 2 }] } }
    const release = await holdInTransaction(t.sql, async (tx) => await tx`select id from ticket_tiers where id = ${ticketTierId} for update`)
    try {
      const started = Date.now()
      const response = await app.inject(booking)
      expect(Date.now() - started).toBeGreaterThanOrEqual(400)
      expect(Date.now() - started).toBeLessThan(3_000)
      expect(response.statusCode).toBe(503)
      expect(response.headers['content-type']).toContain('application/problem+json')
      expect(response.headers['retry-after']).toBe('2')
      expect(response.headers['x-request-id']).toBeTruthy()
      expect(response.json()).toMatchObject({ type: problemType('service-unavailable'), detail: expect.stringContaining('Idempotency-Key') })
      await waitForLockWaiters(t.sql)
    } finally {
      await release()
    }
    // The booking went on once the lock was released: the retry finds it instead of booking twice.
    await waitUntil(async () => (await remaining(t.sql, ticketTierId)) === 8, 'the late booking is made')
    const retry = await app.inject(booking)
    expect(retry.statusCode).toBe(200)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(await remaining(t.sql, ticketTierId)).toBe(8)
    await app.close()
  })

  it('answers 503 with Retry-After when the database takes no writes (a standby, or a primary being demoted: 25006)', async () => {
    const { eventId, ticketTierId } = await eventWithTier(10)
    const [{ name } = { name: '' }] = await t.sql<{ name: string }[]>`select current_database() as name`
    await t.sql`alter database ${t.sql(name)} set default_transaction_read_only = on`
    // A pool of its own: its sessions start after the change, read-only, as they would on a standby.
    const app = await t.newApp({ pool: { max: 2 } })
    try {
      const response = await app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId, quantity: 1 }] } })
      expect(response.statusCode).toBe(503)
      expect(response.headers['retry-after']).toBe('2')
      expect(response.json().type).toBe(problemType('service-unavailable'))
      expect(response.body).not.toMatch(/read-only|25006/i)
    } finally {
      await t.sql`alter database ${t.sql(name)} reset default_transaction_read_only`
      await app.close()
    }
    expect(await remaining(t.sql, ticketTierId)).toBe(10)
  })

  it('ends a statement that runs too long with a 503 problem', async () => {
    const app = await t.newApp({ pool: IMPATIENT, extend: (slow, sql) => { slow.get('/api/test/slow', async () => await sql`select pg_sleep(5)`) } })
    try {
      const response = await app.inject({ method: 'GET', url: '/api/test/slow' })
      expect(response.statusCode).toBe(503)
      expect(response.json().type).toBe(problemType('service-unavailable'))
      expect(response.body).not.toMatch(/statement|57014|cancel/i)
    } finally {
      await app.close()
    }
  })
})
