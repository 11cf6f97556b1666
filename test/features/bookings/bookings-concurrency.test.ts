import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../../src/app.js'
import { createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTiers, ledger, problemType } from '../../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../../support/locks.js'
import { settledWithin } from '../../support/wait.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

async function setUp (capacities: number[], maxPerBooking = 10) {
  const { eventId, tiers } = await createEventWithTiers(t.app, capacities.map((capacity, n) => ({ name: `Tier ${n}`, capacity, maxPerBooking })))
  return { eventId, tierIds: tiers.map((tier) => tier.id) }
}

function bookOn (app: App, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: '/api/bookings', headers: { ...t.asIntegrator, ...headers }, payload: body })
}

function countStatuses (statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

describe('concurrent bookings', () => {
  it('sells exactly the capacity when 300 buyers race for 100 tickets', async () => {
    const { eventId, tierIds: [tierId] } = await setUp([100])
    const responses = await Promise.all(Array.from({ length: 300 }, async () =>
      await bookOn(t.app, { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })))

    expect(countStatuses(responses.map((response) => response.statusCode))).toEqual({ 201: 100, 409: 200 })
    for (const response of responses.filter((r) => r.statusCode === 409)) {
      expect(response.json().shortages).toEqual([{ ticketTierId: tierId, requested: 1, remaining: 0 }])
    }
    expect(await ledger(t.sql, tierId as string)).toMatchObject({ capacity: 100, remaining: 0, confirmed: 100 })
  })

  it('never deadlocks when two-tier bookings lock in both item orders', async () => {
    const { eventId, tierIds } = await setUp([60, 60])
    const [a, b] = tierIds as [string, string]
    const responses = await Promise.all(Array.from({ length: 120 }, async (_, i) => {
      const items = [{ ticketTierId: a, quantity: 1 }, { ticketTierId: b, quantity: 1 }]
      return await bookOn(t.app, { eventId, items: i % 2 === 0 ? items : items.reverse() })
    }))

    expect(countStatuses(responses.map((response) => response.statusCode))).toEqual({ 201: 60, 409: 60 })
    expect(await ledger(t.sql, a)).toMatchObject({ capacity: 60, remaining: 0, confirmed: 60 })
    expect(await ledger(t.sql, b)).toMatchObject({ capacity: 60, remaining: 0, confirmed: 60 })
  })

  it('balances inventory when bookings and cancellations interleave', async () => {
    const { eventId, tierIds } = await setUp([40, 40], 3)
    const [a, b] = tierIds as [string, string]
    // 20 bookings of 2 A and 1 B: all of A, half of B.
    const first = await Promise.all(Array.from({ length: 20 }, async () =>
      await bookOn(t.app, { eventId, items: [{ ticketTierId: b, quantity: 1 }, { ticketTierId: a, quantity: 2 }] })))
    expect(countStatuses(first.map((response) => response.statusCode))).toEqual({ 201: 20 })
    const ids = first.map((response) => response.json().id as string)
    // Half of them cancelled (20 A and 10 B back) while 30 buyers ask for 1 A and 3 B each.
    const [cancels, later] = await Promise.all([
      Promise.all(ids.slice(0, 10).map(async (id) => await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${id}/cancel` }))),
      Promise.all(Array.from({ length: 30 }, async () =>
        await bookOn(t.app, { eventId, items: [{ ticketTierId: a, quantity: 1 }, { ticketTierId: b, quantity: 3 }] })))
    ])
    expect(cancels.map((response) => response.statusCode)).toEqual(Array(10).fill(200))
    for (const response of later.filter((each) => each.statusCode !== 201)) {
      expect(response.statusCode).toBe(409)
      expect(response.json().type).toBe(problemType('insufficient-inventory'))
    }
    // How many of the 30 got tickets depends on the interleaving; the stock follows from that number exactly.
    const sold = later.filter((response) => response.statusCode === 201).length
    expect(await ledger(t.sql, a)).toMatchObject({ capacity: 40, remaining: 20 - sold, confirmed: 20 + sold })
    expect(await ledger(t.sql, b)).toMatchObject({ capacity: 40, remaining: 30 - 3 * sold, confirmed: 10 + 3 * sold })
  })

  it('does not oversell across two app instances with their own pools on one database', async () => {
    const { eventId, tierIds: [tierId] } = await setUp([50])
    const apps = await Promise.all([t.newApp({ pool: { max: 8 } }), t.newApp({ pool: { max: 8 } })])
    try {
      const responses = await Promise.all(Array.from({ length: 160 }, async (_, i) =>
        await bookOn(apps[i % 2] as App, { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })))
      expect(countStatuses(responses.map((response) => response.statusCode))).toEqual({ 201: 50, 409: 110 })
      expect(await ledger(t.sql, tierId as string)).toMatchObject({ capacity: 50, remaining: 0, confirmed: 50 })
    } finally {
      await Promise.all(apps.map(async (app) => { await app.close() }))
    }
  })
})

describe('bookings that arrive while a batch is in flight', () => {
  it('wait for it, whatever their tiers, and are then decided together in one transaction', async () => {
    const { eventId, tierIds } = await setUp(Array.from({ length: 21 }, () => 10))
    const [first, ...others] = tierIds as [string, ...string[]]
    const book = async (ticketTierId: string) => await bookOn(t.app, { eventId, items: [{ ticketTierId, quantity: 1 }] })
    // Another transaction holds the first tier's row, so the first booking's batch waits on it in the database.
    const release = await holdInTransaction(t.sql, async (tx) => await tx`select id from ticket_tiers where id = ${first} for update`)
    const firstBooking = book(first)
    await waitForLockWaiters(t.sql)

    const rest = others.map(async (tierId) => await book(tierId))
    // Their tiers are free, but the batch in flight is the process's one: none is decided while it waits.
    expect(await settledWithin(rest, 500)).toBe(0)
    await release()

    expect((await firstBooking).statusCode).toBe(201)
    const responses = await Promise.all(rest)
    expect(responses.map((response) => response.statusCode)).toEqual(others.map(() => 201))
    const ids = responses.map((response) => response.json<{ id: string }>().id)
    // Rows inserted by one transaction carry its id as their xmin.
    const transactions = await t.sql<{ n: number }[]>`select count(distinct xmin::text)::int as n from bookings where id = any(${ids}::uuid[])`
    expect(transactions[0]?.n).toBe(1)
  })
})

describe('concurrent requests with one idempotency key', () => {
  it('create exactly one booking; the others get the replay or 409 in-flight', async () => {
    const { eventId, tierIds: [tierId] } = await setUp([100])
    const key = `same-${randomUUID()}`
    const responses = await Promise.all(Array.from({ length: 20 }, async () =>
      await bookOn(t.app, { eventId, items: [{ ticketTierId: tierId, quantity: 2 }] }, { 'idempotency-key': key })))

    const statuses = responses.map((response) => response.statusCode)
    expect(statuses.filter((status) => status === 201)).toHaveLength(1)
    expect(statuses.every((status) => [200, 201, 409].includes(status))).toBe(true)
    const created = responses.find((response) => response.statusCode === 201)?.json()
    for (const response of responses) {
      if (response.statusCode === 200) {
        expect(response.headers['idempotent-replayed']).toBe('true')
        expect(response.json().id).toBe(created.id)
      }
      if (response.statusCode === 409) {
        expect(response.json().type).toBe(problemType('idempotency-key-in-flight'))
        expect(response.headers['retry-after']).toBe('1')
      }
    }
    const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from bookings where client_reference = ${key}`
    expect(row?.count).toBe(1)
    expect(await ledger(t.sql, tierId as string)).toMatchObject({ capacity: 100, remaining: 98, confirmed: 2 })

    const settled = await bookOn(t.app, { eventId, items: [{ ticketTierId: tierId, quantity: 2 }] }, { 'idempotency-key': key })
    expect(settled.statusCode).toBe(200)
    expect(settled.json().id).toBe(created.id)
  })
})

describe('a failure inside the booking transaction', () => {
  it('leaves inventory and bookings as they were', async () => {
    const { eventId, tierIds } = await setUp([10, 10])
    const [a, b] = tierIds as [string, string]
    const [before] = await t.sql<{ count: number }[]>`select count(*)::int as count from bookings`
    await t.sql`
      create function fail_booking_items() returns trigger language plpgsql as $$
      begin raise exception 'forced failure after the inventory update'; end $$
    `
    await t.sql`create trigger fail_booking_items before insert on booking_items for each row execute function fail_booking_items()`
    try {
      const response = await bookOn(t.app, { eventId, clientReference: 'forced', items: [{ ticketTierId: a, quantity: 2 }, { ticketTierId: b, quantity: 3 }] })
      expect(response.statusCode).toBe(500)
      expect(response.json().type).toBe(problemType('internal-error'))
      expect(response.body).not.toContain('forced failure')
    } finally {
      await t.sql`drop trigger fail_booking_items on booking_items`
      await t.sql`drop function fail_booking_items()`
    }
    expect(await ledger(t.sql, a)).toMatchObject({ capacity: 10, remaining: 10, confirmed: 0, items: 0, emptyBookings: 0 })
    expect(await ledger(t.sql, b)).toMatchObject({ capacity: 10, remaining: 10, confirmed: 0, items: 0, emptyBookings: 0 })
    const [after] = await t.sql<{ count: number }[]>`select count(*)::int as count from bookings`
    expect(after?.count).toBe(before?.count)

    const retried = await bookOn(t.app, { eventId, clientReference: 'forced', items: [{ ticketTierId: a, quantity: 2 }, { ticketTierId: b, quantity: 3 }] })
    expect(retried.statusCode).toBe(201)
  })
})
