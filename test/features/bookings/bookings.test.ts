import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TicketTier } from '../../../src/schemas/ticket-tiers.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEvent, createTier, problemType, remaining } from '../../support/fixtures.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

async function newEvent (currency = 'EUR'): Promise<string> {
  return (await createEvent(t.app, { currency })).id
}

async function book (payload: Record<string, unknown> | string, headers: Record<string, string> = {}) {
  return await t.app.inject({
    method: 'POST',
    url: '/api/bookings',
    headers: { 'content-type': 'application/json', ...t.asIntegrator, ...headers },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload)
  })
}

async function bookingCount (): Promise<number> {
  const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from bookings`
  return row?.count ?? Number.NaN
}

describe('POST /api/bookings', () => {
  it('books several tiers at once, with prices, totals and a Location', async () => {
    const eventId = await newEvent('GBP')
    const vip = await createTier(t.app, eventId, { name: 'VIP', price: 25000, capacity: 10, maxPerBooking: 4 })
    const ga = await createTier(t.app, eventId, { name: 'GA', price: 8950, capacity: 50 })
    const response = await book({ eventId, items: [{ ticketTierId: vip.id, quantity: 2 }, { ticketTierId: ga.id, quantity: 3 }] })

    expect(response.statusCode).toBe(201)
    const booking = response.json()
    expect(response.headers.location).toBe(`/api/bookings/${booking.id}`)
    expect(booking).toEqual({
      id: expect.any(String),
      eventId,
      clientReference: null,
      status: 'confirmed',
      items: [
        { ticketTierId: vip.id, tierName: 'VIP', quantity: 2, unitPrice: 25000, lineTotal: 50000 },
        { ticketTierId: ga.id, tierName: 'GA', quantity: 3, unitPrice: 8950, lineTotal: 26850 }
      ],
      total: 76850,
      currency: 'GBP',
      createdAt: expect.stringMatching(/Z$/),
      expiresAt: null,
      cancelledAt: null
    })
    expect(await remaining(t.sql, vip.id)).toBe(8)
    expect(await remaining(t.sql, ga.id)).toBe(47)

    const read = await t.app.inject({ method: 'GET', url: response.headers.location as string, headers: t.asIntegrator })
    expect(read.statusCode).toBe(200)
    expect(read.json()).toEqual(booking)
  })

  it('keeps the booked price when the tier\'s price changes later', async () => {
    const eventId = await newEvent()
    const tier = await createTier(t.app, eventId, { price: 1000 })
    const booking = (await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }] })).json()
    await t.app.inject({ method: 'PATCH', url: `/api/ticket-tiers/${tier.id}`, headers: asAdmin, payload: { price: 9999, name: 'Renamed' } })
    const read = await t.app.inject({ method: 'GET', headers: t.asIntegrator, url: `/api/bookings/${booking.id}` })
    expect(read.json().items[0]).toMatchObject({ unitPrice: 1000, lineTotal: 1000, tierName: 'GA' })
    expect(read.json().total).toBe(1000)
  })

  it('computes large totals exactly in minor units', async () => {
    const eventId = await newEvent()
    const tiers = await Promise.all(Array.from({ length: 20 }, async (_, i) =>
      await createTier(t.app, eventId, { name: `T${i}`, price: 100_000_000, capacity: 1000, maxPerBooking: 100 })))
    const response = await book({ eventId, items: tiers.map((tier) => ({ ticketTierId: tier.id, quantity: 100 })) })
    expect(response.statusCode).toBe(201)
    expect(response.json().total).toBe(200_000_000_000)
    expect(response.json().items.every((item: { lineTotal: number }) => item.lineTotal === 10_000_000_000)).toBe(true)
  })

  it('answers an unknown event with 404 and books nothing', async () => {
    const before = await bookingCount()
    const response = await book({ eventId: randomUUID(), items: [{ ticketTierId: randomUUID(), quantity: 1 }] })
    expect(response.statusCode).toBe(404)
    expect(response.json().type).toBe(problemType('not-found'))
    expect(await bookingCount()).toBe(before)
  })

  it('answers a tier of another event, or an unknown tier, with 422 naming them, and books nothing', async () => {
    const eventId = await newEvent()
    const own = await createTier(t.app, eventId)
    const foreign = await createTier(t.app, await newEvent())
    const unknown = randomUUID()
    const response = await book({
      eventId,
      items: [{ ticketTierId: own.id, quantity: 1 }, { ticketTierId: foreign.id, quantity: 1 }, { ticketTierId: unknown, quantity: 1 }]
    })
    expect(response.statusCode).toBe(422)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    const problem = response.json()
    expect(problem.type).toBe(problemType('tier-not-in-event'))
    expect(problem.ticketTierIds.sort()).toEqual([foreign.id, unknown].sort())
    expect(problem.detail).toContain(foreign.id)
    expect(await remaining(t.sql, own.id)).toBe(100)
  })

  it('answers not enough tickets with 409 listing every short tier, and books nothing', async () => {
    const eventId = await newEvent()
    const plenty = await createTier(t.app, eventId, { capacity: 100 })
    const few = await createTier(t.app, eventId, { capacity: 2 })
    const none = await createTier(t.app, eventId, { capacity: 0 })
    const before = await bookingCount()
    const response = await book({
      eventId,
      items: [{ ticketTierId: plenty.id, quantity: 5 }, { ticketTierId: few.id, quantity: 3 }, { ticketTierId: none.id, quantity: 1 }]
    })
    expect(response.statusCode).toBe(409)
    const problem = response.json()
    expect(problem.type).toBe(problemType('insufficient-inventory'))
    expect(problem.shortages).toEqual(expect.arrayContaining([
      { ticketTierId: few.id, requested: 3, remaining: 2 },
      { ticketTierId: none.id, requested: 1, remaining: 0 }
    ]))
    expect(problem.shortages).toHaveLength(2)
    expect(await remaining(t.sql, plenty.id)).toBe(100)
    expect(await remaining(t.sql, few.id)).toBe(2)
    expect(await bookingCount()).toBe(before)
  })

  it('books the last tickets exactly', async () => {
    const eventId = await newEvent()
    const tier = await createTier(t.app, eventId, { capacity: 3 })
    expect((await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 3 }] })).statusCode).toBe(201)
    expect(await remaining(t.sql, tier.id)).toBe(0)
    expect((await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }] })).statusCode).toBe(409)
  })

  describe('rejects bad input with 400', () => {
    let eventId: string
    let tier: TicketTier
    beforeAll(async () => {
      eventId = await newEvent()
      tier = await createTier(t.app, eventId, { maxPerBooking: 4 })
    })

    it.each([
      ['no items', () => ({ eventId, items: [] }), '/items'],
      ['21 items', () => ({ eventId, items: Array.from({ length: 21 }, () => ({ ticketTierId: randomUUID(), quantity: 1 })) }), '/items'],
      ['quantity 0', () => ({ eventId, items: [{ ticketTierId: tier.id, quantity: 0 }] }), '/items/0/quantity'],
      ['a fractional quantity', () => ({ eventId, items: [{ ticketTierId: tier.id, quantity: 1.5 }] }), '/items/0/quantity'],
      ['a quantity as a string', () => ({ eventId, items: [{ ticketTierId: tier.id, quantity: '1' }] }), '/items/0/quantity'],
      ['a malformed tier id', () => ({ eventId, items: [{ ticketTierId: 'x', quantity: 1 }] }), '/items/0/ticketTierId'],
      ['a malformed event id', () => ({ eventId: 'x', items: [{ ticketTierId: tier.id, quantity: 1 }] }), '/eventId'],
      ['an unknown property', () => ({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }], note: 'x' }), '/note'],
      ['an unknown item property', () => ({ eventId, items: [{ ticketTierId: tier.id, quantity: 1, seat: 'A1' }] }), '/items/0/seat'],
      ['an empty clientReference', () => ({ eventId, clientReference: '', items: [{ ticketTierId: tier.id, quantity: 1 }] }), '/clientReference'],
      ['a 201-character clientReference', () => ({ eventId, clientReference: 'r'.repeat(201), items: [{ ticketTierId: tier.id, quantity: 1 }] }), '/clientReference']
    ])('%s', async (_what, payload, path) => {
      const response = await book(payload())
      expect(response.statusCode).toBe(400)
      expect(response.json().errors.map((error: { path: string }) => error.path)).toContain(path)
      expect(await remaining(t.sql, tier.id)).toBe(100)
    })

    it('the same tier twice', async () => {
      const response = await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }, { ticketTierId: tier.id.toUpperCase(), quantity: 2 }] })
      expect(response.statusCode).toBe(400)
      expect(response.json().errors).toEqual([{ path: '/items/1/ticketTierId', message: expect.stringContaining('/items/0') }])
    })

    it('a quantity above the tier\'s maxPerBooking, naming the item', async () => {
      const other = await createTier(t.app, eventId, { maxPerBooking: 10 })
      const response = await book({ eventId, items: [{ ticketTierId: other.id, quantity: 10 }, { ticketTierId: tier.id, quantity: 5 }] })
      expect(response.statusCode).toBe(400)
      expect(response.json().errors).toEqual([{ path: '/items/1/quantity', message: 'must be <= 4, the tier\'s maxPerBooking' }])
      expect(await remaining(t.sql, other.id)).toBe(100)
    })

    it('accepts a quantity equal to maxPerBooking', async () => {
      const own = await createTier(t.app, eventId, { maxPerBooking: 4 })
      expect((await book({ eventId, items: [{ ticketTierId: own.id, quantity: 4 }] })).statusCode).toBe(201)
    })

    it('an Idempotency-Key header that differs from clientReference', async () => {
      const response = await book({ eventId, clientReference: 'ref-a', items: [{ ticketTierId: tier.id, quantity: 1 }] }, { 'idempotency-key': 'ref-b' })
      expect(response.statusCode).toBe(400)
      expect(response.json().errors[0].path).toBe('/clientReference')
    })

    it('an empty Idempotency-Key header', async () => {
      const response = await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }] }, { 'idempotency-key': ' ' })
      expect(response.statusCode).toBe(400)
    })
  })
})

describe('idempotency', () => {
  let eventId: string
  let a: TicketTier
  let b: TicketTier
  beforeAll(async () => {
    eventId = await newEvent()
    a = await createTier(t.app, eventId, { name: 'A', capacity: 10 })
    b = await createTier(t.app, eventId, { name: 'B', capacity: 10 })
  })

  it('replays the original booking with 200 and Idempotent-Replayed, booking nothing more', async () => {
    const body = { eventId, clientReference: `ref-${randomUUID()}`, items: [{ ticketTierId: a.id, quantity: 1 }] }
    const first = await book(body)
    expect(first.statusCode).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    const before = await remaining(t.sql, a.id)
    const again = await book(body)
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual(first.json())
    expect(await remaining(t.sql, a.id)).toBe(before)
  })

  it('treats the Idempotency-Key header like clientReference and stores it as the reference', async () => {
    const key = `hdr-${randomUUID()}`
    const first = await book({ eventId, items: [{ ticketTierId: a.id, quantity: 1 }] }, { 'idempotency-key': key })
    expect(first.statusCode).toBe(201)
    expect(first.json().clientReference).toBe(key)
    const viaBody = await book({ eventId, clientReference: key, items: [{ ticketTierId: a.id, quantity: 1 }] })
    expect(viaBody.statusCode).toBe(200)
    expect(viaBody.json().id).toBe(first.json().id)
    const viaBoth = await book({ eventId, clientReference: key, items: [{ ticketTierId: a.id, quantity: 1 }] }, { 'idempotency-key': key })
    expect(viaBoth.statusCode).toBe(200)
  })

  it('treats key order, whitespace, item order and UUID case as the same request', async () => {
    const key = `order-${randomUUID()}`
    const first = await book(`{"eventId":"${eventId}","clientReference":"${key}","items":[{"ticketTierId":"${a.id}","quantity":1},{"ticketTierId":"${b.id}","quantity":2}]}`)
    expect(first.statusCode).toBe(201)
    const reordered = await book(`{
      "items": [ { "quantity": 2, "ticketTierId": "${b.id.toUpperCase()}" }, { "quantity": 1, "ticketTierId": "${a.id}" } ],
      "clientReference": "${key}",   "eventId": "${eventId.toUpperCase()}"
    }`)
    expect(reordered.statusCode).toBe(200)
    expect(reordered.json().id).toBe(first.json().id)
  })

  it('answers the same key with a different request with 422', async () => {
    const key = `reuse-${randomUUID()}`
    expect((await book({ eventId, clientReference: key, items: [{ ticketTierId: a.id, quantity: 1 }] })).statusCode).toBe(201)
    for (const items of [[{ ticketTierId: a.id, quantity: 2 }], [{ ticketTierId: b.id, quantity: 1 }], [{ ticketTierId: a.id, quantity: 1 }, { ticketTierId: b.id, quantity: 1 }]]) {
      const response = await book({ eventId, clientReference: key, items })
      expect(response.statusCode).toBe(422)
      expect(response.json().type).toBe(problemType('idempotency-key-reuse'))
    }
  })

  it('replays even after the tier sold out', async () => {
    const tier = await createTier(t.app, eventId, { capacity: 2 })
    const body = { eventId, clientReference: `soldout-${randomUUID()}`, items: [{ ticketTierId: tier.id, quantity: 2 }] }
    const first = await book(body)
    expect(first.statusCode).toBe(201)
    expect((await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }] })).statusCode).toBe(409)
    const replay = await book(body)
    expect(replay.statusCode).toBe(200)
    expect(replay.json()).toEqual(first.json())
  })

  it('replays the booking as it is now, cancelled if it was cancelled since', async () => {
    const body = { eventId, clientReference: `cancelled-${randomUUID()}`, items: [{ ticketTierId: a.id, quantity: 1 }] }
    const first = await book(body)
    await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${first.json().id}/cancel` })
    const replay = await book(body)
    expect(replay.statusCode).toBe(200)
    expect(replay.json()).toMatchObject({ id: first.json().id, status: 'cancelled' })
  })

  it('does not use up a key on a failed request: a corrected retry is processed as new', async () => {
    const key = `retry-${randomUUID()}`
    const tooMany = await book({ eventId, clientReference: key, items: [{ ticketTierId: b.id, quantity: 11 }] })
    expect(tooMany.statusCode).toBe(400)
    const short = await book({ eventId, clientReference: key, items: [{ ticketTierId: randomUUID(), quantity: 1 }] })
    expect(short.statusCode).toBe(422)
    const corrected = await book({ eventId, clientReference: key, items: [{ ticketTierId: b.id, quantity: 1 }] })
    expect(corrected.statusCode).toBe(201)
  })
})

describe('GET /api/bookings/{bookingId}', () => {
  it('answers a malformed id with 400 and an unknown one with 404', async () => {
    expect((await t.app.inject({ method: 'GET', headers: t.asIntegrator, url: '/api/bookings/nope' })).statusCode).toBe(400)
    const unknown = await t.app.inject({ method: 'GET', headers: t.asIntegrator, url: `/api/bookings/${randomUUID()}` })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().type).toBe(problemType('not-found'))
  })
})

describe('POST /api/bookings/{bookingId}/cancel', () => {
  it('cancels once, returning the tickets; a second cancel returns the same booking and releases nothing', async () => {
    const eventId = await newEvent()
    const a = await createTier(t.app, eventId, { capacity: 10 })
    const b = await createTier(t.app, eventId, { capacity: 10 })
    const booking = (await book({ eventId, items: [{ ticketTierId: a.id, quantity: 3 }, { ticketTierId: b.id, quantity: 2 }] })).json()
    expect(await remaining(t.sql, a.id)).toBe(7)

    const cancelled = await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${booking.id}/cancel` })
    expect(cancelled.statusCode).toBe(200)
    expect(cancelled.json()).toEqual({ ...booking, status: 'cancelled', cancelledAt: expect.stringMatching(/Z$/) })
    expect(await remaining(t.sql, a.id)).toBe(10)
    expect(await remaining(t.sql, b.id)).toBe(10)

    const again = await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${booking.id}/cancel` })
    expect(again.statusCode).toBe(200)
    expect(again.json()).toEqual(cancelled.json())
    expect(await remaining(t.sql, a.id)).toBe(10)

    const read = await t.app.inject({ method: 'GET', headers: t.asIntegrator, url: `/api/bookings/${booking.id}` })
    expect(read.json()).toEqual(cancelled.json())
  })

  it('releases each booking exactly once under concurrent cancels', async () => {
    const eventId = await newEvent()
    const tier = await createTier(t.app, eventId, { capacity: 10 })
    const booking = (await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 4 }] })).json()
    const responses = await Promise.all(Array.from({ length: 10 }, async () =>
      await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${booking.id}/cancel` })))
    expect(responses.map((response) => response.statusCode)).toEqual(Array(10).fill(200))
    expect(await remaining(t.sql, tier.id)).toBe(10)
  })

  it('answers an unknown booking with 404 and a malformed id with 400', async () => {
    expect((await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${randomUUID()}/cancel` })).statusCode).toBe(404)
    expect((await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: '/api/bookings/123/cancel' })).statusCode).toBe(400)
  })

  it('lets the released tickets be booked again', async () => {
    const eventId = await newEvent()
    const tier = await createTier(t.app, eventId, { capacity: 2 })
    const first = (await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 2 }] })).json()
    expect((await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 1 }] })).statusCode).toBe(409)
    await t.app.inject({ method: 'POST', headers: t.asIntegrator, url: `/api/bookings/${first.id}/cancel` })
    expect((await book({ eventId, items: [{ ticketTierId: tier.id, quantity: 2 }] })).statusCode).toBe(201)
  })
})
