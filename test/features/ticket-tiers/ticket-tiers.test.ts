import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEvent, problemType } from '../../support/fixtures.js'

let t: TestApp
let eventId: string
beforeAll(async () => {
  t = await createTestApp()
  eventId = (await createEvent(t.app, { currency: 'GBP' })).id
})
afterAll(async () => { await t.close() })

async function createTier (payload: Record<string, unknown>, event = eventId) {
  return await t.app.inject({ method: 'POST', url: `/api/events/${event}/ticket-tiers`, headers: asAdmin, payload })
}

/** Stands in for bookings (a later feature): takes tickets the way a booking does, in SQL. */
async function sell (tierId: string, quantity: number) {
  await t.sql`update ticket_tiers set remaining = remaining - ${quantity} where id = ${tierId}`
}

describe('POST /api/events/{eventId}/ticket-tiers', () => {
  it('creates a tier in the event\'s currency with all of its capacity remaining', async () => {
    const response = await createTier({ name: 'VIP', price: 25000, capacity: 50, maxPerBooking: 4 })
    expect(response.statusCode).toBe(201)
    expect(response.json()).toEqual({
      id: expect.any(String), eventId, name: 'VIP', price: 25000, currency: 'GBP', capacity: 50, remaining: 50, held: 0, maxPerBooking: 4
    })
  })

  it('defaults maxPerBooking to 10', async () => {
    const response = await createTier({ name: 'GA', price: 0, capacity: 0 })
    expect(response.statusCode).toBe(201)
    expect(response.json()).toMatchObject({ price: 0, capacity: 0, remaining: 0, maxPerBooking: 10 })
  })

  it('accepts the upper limits', async () => {
    const response = await createTier({ name: 'x'.repeat(200), price: 100_000_000, capacity: 1_000_000, maxPerBooking: 100 })
    expect(response.statusCode).toBe(201)
  })

  it.each([
    ['a negative price', { price: -1 }, '/price'],
    ['a price over 100000000', { price: 100_000_001 }, '/price'],
    ['a fractional price', { price: 10.5 }, '/price'],
    ['a capacity over 1000000', { capacity: 1_000_001 }, '/capacity'],
    ['a negative capacity', { capacity: -1 }, '/capacity'],
    ['maxPerBooking 0', { maxPerBooking: 0 }, '/maxPerBooking'],
    ['maxPerBooking 101', { maxPerBooking: 101 }, '/maxPerBooking'],
    ['an empty name', { name: '' }, '/name'],
    ['an unknown property', { currency: 'EUR' }, '/currency']
  ])('rejects %s with a 400 naming the field', async (_what, overrides, path) => {
    const response = await createTier({ name: 'T', price: 100, capacity: 10, ...overrides })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors.map((error: { path: string }) => error.path)).toContain(path)
  })

  it('answers an unknown event with 404', async () => {
    const response = await createTier({ name: 'T', price: 100, capacity: 10 }, randomUUID())
    expect(response.statusCode).toBe(404)
  })
})

describe('GET /api/events/{eventId}/ticket-tiers', () => {
  it('lists the tiers in creation order', async () => {
    const { id } = await createEvent(t.app)
    const names = ['Zeta', 'Alpha', 'Mid', 'Beta']
    for (const name of names) await createTier({ name, price: 100, capacity: 10 }, id)
    const response = await t.app.inject({ method: 'GET', url: `/api/events/${id}/ticket-tiers` })
    expect(response.statusCode).toBe(200)
    expect(response.json().data.map((tier: { name: string }) => tier.name)).toEqual(names)
  })

  it('returns an empty list for an event without tiers', async () => {
    const event = await createEvent(t.app)
    const response = await t.app.inject({ method: 'GET', url: `/api/events/${event.id}/ticket-tiers` })
    expect(response.json()).toEqual({ data: [] })
  })

  it('answers an unknown event with 404 and a malformed id with 400', async () => {
    expect((await t.app.inject({ method: 'GET', url: `/api/events/${randomUUID()}/ticket-tiers` })).statusCode).toBe(404)
    expect((await t.app.inject({ method: 'GET', url: '/api/events/nope/ticket-tiers' })).statusCode).toBe(400)
  })
})

describe('PATCH /api/ticket-tiers/{ticketTierId}', () => {
  async function patch (id: string, payload: Record<string, unknown>) {
    return await t.app.inject({ method: 'PATCH', url: `/api/ticket-tiers/${id}`, headers: asAdmin, payload })
  }

  it('changes only the fields sent', async () => {
    const tier = (await createTier({ name: 'Old', price: 100, capacity: 10, maxPerBooking: 5 })).json()
    const response = await patch(tier.id, { name: 'New', price: 250 })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ ...tier, name: 'New', price: 250 })
  })

  it('moves remaining by the capacity change, up and down', async () => {
    const tier = (await createTier({ name: 'Cap', price: 100, capacity: 10 })).json()
    await sell(tier.id, 4)
    const up = await patch(tier.id, { capacity: 15 })
    expect(up.json()).toMatchObject({ capacity: 15, remaining: 11 })
    const down = await patch(tier.id, { capacity: 6 })
    expect(down.json()).toMatchObject({ capacity: 6, remaining: 2 })
  })

  it('allows a capacity equal to what is sold, leaving nothing remaining', async () => {
    const tier = (await createTier({ name: 'Exact', price: 100, capacity: 10 })).json()
    await sell(tier.id, 7)
    const response = await patch(tier.id, { capacity: 7 })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toMatchObject({ capacity: 7, remaining: 0 })
  })

  it('refuses a capacity below what is sold with 409 and changes nothing', async () => {
    const tier = (await createTier({ name: 'Sold', price: 100, capacity: 10 })).json()
    await sell(tier.id, 7)
    const response = await patch(tier.id, { capacity: 6, name: 'Renamed' })
    expect(response.statusCode).toBe(409)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(response.json()).toMatchObject({ type: problemType('capacity-below-sold'), status: 409 })
    expect(response.json().detail).toContain('7')
    const [row] = await t.sql`select name, capacity, remaining from ticket_tiers where id = ${tier.id}`
    expect(row).toEqual({ name: 'Sold', capacity: 10, remaining: 3 })
  })

  it('keeps remaining consistent under concurrent capacity changes', async () => {
    const tier = (await createTier({ name: 'Race', price: 100, capacity: 100 })).json()
    await sell(tier.id, 30)
    const capacities = [40, 120, 60, 200, 35, 90, 150, 31]
    const responses = await Promise.all(capacities.map(async (capacity) => await patch(tier.id, { capacity })))
    expect(responses.every((response) => response.statusCode === 200)).toBe(true)
    const [row] = await t.sql`select capacity, remaining from ticket_tiers where id = ${tier.id}`
    expect(row?.capacity - row?.remaining).toBe(30)
  })

  it('rejects an empty patch, a null field and an unknown tier', async () => {
    const tier = (await createTier({ name: 'Edge', price: 100, capacity: 10 })).json()
    expect((await patch(tier.id, {})).statusCode).toBe(400)
    expect((await patch(tier.id, { price: null })).statusCode).toBe(400)
    expect((await patch(randomUUID(), { price: 1 })).statusCode).toBe(404)
    expect((await patch('nope', { price: 1 })).statusCode).toBe(400)
  })

  it('does not offer reading a tier by id', async () => {
    const tier = (await createTier({ name: 'NoGet', price: 100, capacity: 10 })).json()
    const response = await t.app.inject({ method: 'GET', url: `/api/ticket-tiers/${tier.id}` })
    expect(response.statusCode).toBe(405)
    expect(response.headers.allow).toBe('PATCH')
  })
})
