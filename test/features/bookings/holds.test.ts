import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../../../src/db/sql.js'
import { sweepLapsedHolds } from '../../../src/features/bookings/hold-sweeper.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTier, ledger, problemType } from '../../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../../support/locks.js'
import { waitUntil } from '../../support/wait.js'
import { createTicketCodes } from '../../../src/features/tickets/codes.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

async function setUp (capacity: number, maxPerBooking = 10) {
  return await createEventWithTier(t.app, { price: 4000, capacity, maxPerBooking })
}

async function book (body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return await t.app.inject({ method: 'POST', url: '/api/bookings', headers: { ...t.asIntegrator, ...headers }, payload: body })
}

async function hold (eventId: string, tierId: string, quantity = 1, ttlSeconds = 600) {
  const response = await book({ eventId, hold: { ttlSeconds }, items: [{ ticketTierId: tierId, quantity }] })
  expect(response.statusCode).toBe(201)
  return response.json<{ id: string, status: string, expiresAt: string | null }>()
}

async function tier (eventId: string, tierId: string) {
  const response = await t.app.inject({ method: 'GET', url: `/api/events/${eventId}/ticket-tiers` })
  return (response.json().data as { id: string, remaining: number, held: number, capacity: number }[]).find((each) => each.id === tierId)
}

/**
 * Stands in for the passage of time: moves a hold's expiry (on the booking and on its unreleased
 * items, where reads look it up) to `offset` from now, as the database clock sees it.
 */
async function expireAt (bookingId: string, offset: string) {
  await t.sql.begin(async (tx) => {
    const [row] = await tx<{ at: Date }[]>`
      update bookings set expires_at = clock_timestamp() + ${offset}::interval where id = ${bookingId} returning expires_at as at
    `
    await tx`update booking_items set hold_expires_at = ${row?.at ?? null} where booking_id = ${bookingId} and not released and hold_expires_at is not null`
  })
}

async function lapse (bookingId: string) {
  await expireAt(bookingId, '-1 second')
}

async function post (url: string) {
  return await t.app.inject({ method: 'POST', url, headers: t.asIntegrator })
}

describe('a hold', () => {
  it('reserves the tickets at once, then confirms before it expires', async () => {
    const { eventId, tierId } = await setUp(10)
    const before = Date.now()
    const held = await hold(eventId, tierId, 3, 600)
    expect(held.status).toBe('held')
    const expiresIn = Date.parse(held.expiresAt as string) - before
    expect(expiresIn).toBeGreaterThan(590_000)
    expect(expiresIn).toBeLessThan(610_000)
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 7, held: 3 })

    const confirmed = await post(`/api/bookings/${held.id}/confirm`)
    expect(confirmed.statusCode).toBe(200)
    expect(confirmed.json()).toMatchObject({ id: held.id, status: 'confirmed', expiresAt: null })
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 7, held: 0 })

    const again = await post(`/api/bookings/${held.id}/confirm`)
    expect(again.statusCode).toBe(200)
    expect(again.json()).toEqual(confirmed.json())
    await ledger(t.sql, tierId)
  })

  it('is expired from the instant it lapses, for reads and for buyers, before any sweep', async () => {
    const { eventId, tierId } = await setUp(4)
    const held = await hold(eventId, tierId, 4)
    expect((await book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })).statusCode).toBe(409)

    await lapse(held.id)
    const read = await t.app.inject({ method: 'GET', headers: t.asIntegrator, url: `/api/bookings/${held.id}` })
    expect(read.json()).toMatchObject({ status: 'expired', expiresAt: null })
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 4, held: 0 })

    const late = await book({ eventId, items: [{ ticketTierId: tierId, quantity: 4 }] })
    expect(late.statusCode).toBe(201)
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 0, held: 0 })
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 0, confirmed: 4, unreleased: 0 })

    await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))
    const [stored] = await t.sql`select status from bookings where id = ${held.id}`
    expect(stored?.status).toBe('expired')
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 0, confirmed: 4, unreleased: 0 })
  })

  it('cannot be confirmed or cancelled once expired', async () => {
    const { eventId, tierId } = await setUp(5)
    const held = await hold(eventId, tierId, 2)
    await lapse(held.id)
    for (const action of ['confirm', 'cancel']) {
      const response = await post(`/api/bookings/${held.id}/${action}`)
      expect(response.statusCode, action).toBe(409)
      expect(response.json().type).toBe(problemType('hold-expired'))
    }
    await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))
    expect((await post(`/api/bookings/${held.id}/confirm`)).json().type).toBe(problemType('hold-expired'))
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 5, held: 0 })
    await ledger(t.sql, tierId)
  })

  it('can be cancelled while live, returning its tickets once; a cancelled booking cannot be confirmed', async () => {
    const { eventId, tierId } = await setUp(5)
    const held = await hold(eventId, tierId, 2)
    const cancelled = await post(`/api/bookings/${held.id}/cancel`)
    expect(cancelled.statusCode).toBe(200)
    expect(cancelled.json()).toMatchObject({ status: 'cancelled', expiresAt: null })
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 5, held: 0 })
    expect((await post(`/api/bookings/${held.id}/cancel`)).statusCode).toBe(200)
    const confirm = await post(`/api/bookings/${held.id}/confirm`)
    expect(confirm.statusCode).toBe(409)
    expect(confirm.json().type).toBe(problemType('booking-cancelled'))
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 5, confirmed: 0, unreleased: 0 })
  })

  it('confirms an already confirmed booking as a no-op, and answers 404 for an unknown one', async () => {
    const { eventId, tierId } = await setUp(5)
    const booked = (await book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })).json()
    const confirm = await post(`/api/bookings/${booked.id}/confirm`)
    expect(confirm.statusCode).toBe(200)
    expect(confirm.json()).toEqual(booked)
    expect((await post(`/api/bookings/${randomUUID()}/confirm`)).statusCode).toBe(404)
    expect((await post('/api/bookings/nope/confirm')).statusCode).toBe(400)
  })

  it.each([
    ['a TTL under 60 seconds', { ttlSeconds: 59 }],
    ['a TTL over 3600 seconds', { ttlSeconds: 3601 }],
    ['no TTL', {}],
    ['an unknown hold property', { ttlSeconds: 60, minutes: 1 }],
    ['a TTL as a string', { ttlSeconds: '600' }]
  ])('rejects %s with a 400', async (_what, holdBody) => {
    const { eventId, tierId } = await setUp(5)
    const response = await book({ eventId, hold: holdBody, items: [{ ticketTierId: tierId, quantity: 1 }] })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors[0].path).toMatch(/^\/hold/)
  })

  it('accepts the TTL bounds 60 and 3600', async () => {
    const { eventId, tierId } = await setUp(5)
    expect((await hold(eventId, tierId, 1, 60)).status).toBe('held')
    expect((await hold(eventId, tierId, 1, 3600)).status).toBe('held')
  })

  it('counts live holds, but not lapsed ones, against a capacity cut', async () => {
    const { eventId, tierId } = await setUp(10)
    const live = await hold(eventId, tierId, 3)
    const lapsing = await hold(eventId, tierId, 4)
    await lapse(lapsing.id)
    const tooLow = await t.app.inject({ method: 'PATCH', url: `/api/ticket-tiers/${tierId}`, headers: asAdmin, payload: { capacity: 2 } })
    expect(tooLow.statusCode).toBe(409)
    const exact = await t.app.inject({ method: 'PATCH', url: `/api/ticket-tiers/${tierId}`, headers: asAdmin, payload: { capacity: 3 } })
    expect(exact.statusCode).toBe(200)
    expect(exact.json()).toMatchObject({ capacity: 3, remaining: 0, held: 3 })
    expect((await post(`/api/bookings/${live.id}/confirm`)).statusCode).toBe(200)
    await ledger(t.sql, tierId)
  })
})

describe('idempotent hold creation', () => {
  it('replays a hold, refuses the key for a different TTL or a booking without hold, and replays it as it is now', async () => {
    const { eventId, tierId } = await setUp(10)
    const key = `hold-${randomUUID()}`
    const body = { eventId, hold: { ttlSeconds: 600 }, items: [{ ticketTierId: tierId, quantity: 2 }] }
    const first = await book(body, { 'idempotency-key': key })
    expect(first.statusCode).toBe(201)
    const replay = await book(body, { 'idempotency-key': key })
    expect(replay.statusCode).toBe(200)
    expect(replay.json()).toEqual(first.json())

    expect((await book({ ...body, hold: { ttlSeconds: 601 } }, { 'idempotency-key': key })).statusCode).toBe(422)
    const { hold: _hold, ...withoutHold } = body
    expect((await book(withoutHold, { 'idempotency-key': key })).statusCode).toBe(422)

    await lapse(first.json().id)
    const afterExpiry = await book(body, { 'idempotency-key': key })
    expect(afterExpiry.statusCode).toBe(200)
    expect(afterExpiry.json()).toMatchObject({ id: first.json().id, status: 'expired' })
    expect(await ledger(t.sql, tierId)).toMatchObject({ confirmed: 0 })
  })
})

/**
 * With the tier locked, lets the confirmation of `bookingId` queue behind the lock, runs `meanwhile`,
 * lets a sweep queue behind it too, then releases the lock: the confirmation's answer and the
 * number of holds the sweep expired.
 */
async function confirmAndSweepBehindTierLock (tierId: string, bookingId: string, meanwhile = async (): Promise<void> => {}) {
  const release = await holdInTransaction(t.sql, async (tx) => await tx`select id from ticket_tiers where id = ${tierId} for update`)
  let racing: Promise<[Awaited<ReturnType<typeof post>>, number]>
  try {
    const confirming = post(`/api/bookings/${bookingId}/confirm`)
    await waitForLockWaiters(t.sql, 1)
    await meanwhile()
    const sweeping = sweepLapsedHolds(t.sql, createTicketCodes(t.sql))
    await waitForLockWaiters(t.sql, 2)
    racing = Promise.all([confirming, sweeping])
  } finally {
    await release()
  }
  return await racing
}

describe('holds under concurrency', () => {
  it('sells out with no oversell while holds lapse mid-run, and late buyers get the freed tickets', async () => {
    const { eventId, tierId } = await setUp(40)
    const holds = await Promise.all(Array.from({ length: 40 }, async () => await hold(eventId, tierId, 1)))
    expect((await book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })).statusCode).toBe(409)

    const lapsing = holds.slice(0, 15)
    const confirming = holds.slice(15, 30)
    const responses = await Promise.all([
      ...lapsing.map(async (each) => { await lapse(each.id); return undefined }),
      ...confirming.map(async (each) => await post(`/api/bookings/${each.id}/confirm`)),
      ...Array.from({ length: 60 }, async () => await book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })),
      sweepLapsedHolds(t.sql, createTicketCodes(t.sql)).then(() => undefined)
    ])
    const statuses = responses.filter((response) => response !== undefined).map((response) => response.statusCode)
    expect(statuses.every((status) => status === 200 || status === 201 || status === 409)).toBe(true)
    expect(statuses.filter((status) => status === 200)).toHaveLength(15)

    // Whatever the interleaving, the 15 lapsed tickets are sold at most once each, and all of
    // them are bookable once every lapsed hold is released.
    const sold = statuses.filter((status) => status === 201).length
    expect(sold).toBeLessThanOrEqual(15)
    const rest = await Promise.all(Array.from({ length: 20 }, async () => await book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })))
    expect(sold + rest.filter((response) => response.statusCode === 201).length).toBe(15)
    expect(await ledger(t.sql, tierId)).toMatchObject({ capacity: 40, remaining: 0, confirmed: 30, unreleased: 10 })
    expect(await tier(eventId, tierId)).toMatchObject({ remaining: 0, held: 10 })
  })

  it('lets exactly one of confirmation and expiry win when they race', async () => {
    const { eventId, tierId } = await setUp(200)
    for (let round = 0; round < 25; round++) {
      const held = await hold(eventId, tierId, 1)
      await expireAt(held.id, '15 milliseconds')
      // A different start each round (0 to 19 ms), so the expiry falls before, during and after the confirmation.
      await new Promise((resolve) => setTimeout(resolve, round % 20))
      const [confirm] = await Promise.all([
        post(`/api/bookings/${held.id}/confirm`),
        sweepLapsedHolds(t.sql, createTicketCodes(t.sql)),
        book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
      ])
      // A refused confirmation saw the hold lapsed, so this sweep finds it lapsed too and records the expiry.
      await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))
      const [stored] = await t.sql<{ status: string }[]>`select status from bookings where id = ${held.id}`
      // Either outcome, but the one the client was told is the one stored (the two tests below force each).
      if (confirm.statusCode === 200) {
        expect(stored?.status).toBe('confirmed')
      } else {
        expect(confirm.statusCode).toBe(409)
        expect(confirm.json().type).toBe(problemType('hold-expired'))
        expect(stored?.status).toBe('expired')
      }
      await ledger(t.sql, tierId)
    }
  })

  it('lets the expiry win when the hold lapses while its confirmation waits for the tier, with the sweep waiting too', async () => {
    const { eventId, tierId } = await setUp(10)
    const held = await hold(eventId, tierId, 1)
    const [confirm, expired] = await confirmAndSweepBehindTierLock(tierId, held.id, async () => { await lapse(held.id) })
    expect(confirm.statusCode).toBe(409)
    expect(confirm.json().type).toBe(problemType('hold-expired'))
    expect(expired).toBe(1)
    const [stored] = await t.sql<{ status: string }[]>`select status from bookings where id = ${held.id}`
    expect(stored?.status).toBe('expired')
    expect(await ledger(t.sql, tierId)).toMatchObject({ capacity: 10, remaining: 10, confirmed: 0, unreleased: 0 })
  })

  it('lets the confirmation win when it decides while the hold is live, with a sweep waiting for the same tier, and a later lapse changes nothing', async () => {
    const { eventId, tierId } = await setUp(10)
    const live = await hold(eventId, tierId, 1)
    const lapsed = await hold(eventId, tierId, 1)
    await lapse(lapsed.id)
    const [confirm, expired] = await confirmAndSweepBehindTierLock(tierId, live.id)
    expect(confirm.statusCode).toBe(200)
    expect(confirm.json()).toMatchObject({ id: live.id, status: 'confirmed', expiresAt: null })
    expect(expired).toBe(1)
    // Its expiry time passing after the confirmation changes nothing.
    await lapse(live.id)
    expect(await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))).toBe(0)
    const stored = await t.sql<{ id: string, status: string }[]>`select id, status from bookings where id in ${t.sql([live.id, lapsed.id])} order by status`
    expect(stored).toEqual([{ id: live.id, status: 'confirmed' }, { id: lapsed.id, status: 'expired' }])
    expect(await ledger(t.sql, tierId)).toMatchObject({ capacity: 10, remaining: 9, confirmed: 1, unreleased: 0 })
  })

  it('releases each lapsed hold exactly once when two processes sweep at once', async () => {
    const { eventId, tierId } = await setUp(60)
    const holds = await Promise.all(Array.from({ length: 30 }, async () => await hold(eventId, tierId, 2)))
    for (const each of holds) await lapse(each.id)
    const pools = [createSql(t.databaseUrl, { max: 4 }), createSql(t.databaseUrl, { max: 4 })]
    try {
      const counts = await Promise.all([...pools, ...pools].map(async (pool) => await sweepLapsedHolds(pool, createTicketCodes(pool))))
      expect(counts.reduce((sum, count) => sum + count, 0)).toBe(30)
    } finally {
      await Promise.all(pools.map(async (pool) => { await pool.end() }))
    }
    expect(await ledger(t.sql, tierId)).toMatchObject({ capacity: 60, remaining: 60, confirmed: 0, unreleased: 0 })
    const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from bookings where status = 'expired' and event_id = ${eventId}`
    expect(row?.count).toBe(30)
  })
})

describe('the background sweep', () => {
  it('marks lapsed holds expired in the database on its own', async () => {
    const { eventId, tierId } = await setUp(5)
    const held = await hold(eventId, tierId, 2)
    await lapse(held.id)
    const app = await t.newApp({ holdSweepIntervalMs: 20 })
    try {
      let status = 'held'
      await waitUntil(async () => {
        const [row] = await t.sql<{ status: string }[]>`select status from bookings where id = ${held.id}`
        status = row?.status ?? 'missing'
        return status !== 'held'
      }, 'the background sweep records the expiry', { timeoutMs: 10_000, intervalMs: 20 })
      expect(status).toBe('expired')
    } finally {
      await app.close()
    }
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 5, unreleased: 0 })
  })
})

describe('the state machine in the database', () => {
  async function bookingIn (status: 'held' | 'confirmed') {
    const { eventId, tierId } = await setUp(10)
    if (status === 'held') return (await hold(eventId, tierId)).id
    return (await book({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })).json().id as string
  }

  it.each([
    ['confirmed', 'held'],
    ['confirmed', 'expired']
  ] as const)('refuses %s -> %s', async (from, to) => {
    const id = await bookingIn(from)
    await expect(t.sql`update bookings set status = ${to} where id = ${id}`).rejects.toMatchObject({ code: '23514' })
  })

  it('refuses leaving cancelled or expired, confirming a lapsed hold, and expiring a live one', async () => {
    const cancelled = await bookingIn('confirmed')
    await post(`/api/bookings/${cancelled}/cancel`)
    await expect(t.sql`update bookings set status = 'confirmed', cancelled_at = null where id = ${cancelled}`).rejects.toMatchObject({ code: '23514' })

    const live = await bookingIn('held')
    await expect(t.sql`update bookings set status = 'expired' where id = ${live}`).rejects.toMatchObject({ code: '23514' })

    const lapsed = await bookingIn('held')
    await lapse(lapsed)
    await expect(t.sql`update bookings set status = 'confirmed' where id = ${lapsed}`).rejects.toMatchObject({ code: '23514' })
    await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))
    await expect(t.sql`update bookings set status = 'held' where id = ${lapsed}`).rejects.toMatchObject({ code: '23514' })
  })

  it('refuses a booking that starts cancelled or expired', async () => {
    const { eventId } = await setUp(1)
    await expect(t.sql`
      insert into bookings (event_id, status, total, currency, cancelled_at) values (${eventId}, 'cancelled', 0, 'EUR', now())
    `).rejects.toMatchObject({ code: '23514' })
  })
})
