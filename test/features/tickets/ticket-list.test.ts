import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTicketListCache } from '../../../src/features/tickets/ticket-list-cache.js'
import type { App } from '../../../src/app.js'
import { createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTier } from '../../support/fixtures.js'

/*
 * A booking's ticket list is served from a per-process cache under the booking's tickets_version:
 * every change must show at once, in this process and in another one with its own pool and cache.
 */

let t: TestApp
let other: App
beforeAll(async () => {
  t = await createTestApp()
  other = await t.newApp({ pool: { max: 2 } })
})
afterAll(async () => { await t.close() })

interface Ticket { id: string, status: string, code: string | null, attendeeName: string | null, position: number }

async function list (app: App, bookingId: string): Promise<Ticket[]> {
  const response = await app.inject({ url: `/api/bookings/${bookingId}/tickets`, headers: t.asIntegrator })
  expect(response.statusCode, response.body).toBe(200)
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8')
  return response.json<{ data: Ticket[] }>().data
}

async function each (app: App, tickets: Ticket[]): Promise<Ticket[]> {
  return await Promise.all(tickets.map(async (ticket) => (await app.inject({ url: `/api/tickets/${ticket.id}`, headers: t.asIntegrator })).json<Ticket>()))
}

async function book (body: Record<string, unknown>): Promise<string> {
  const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: body })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<{ id: string }>().id
}

describe('a booking\'s ticket list', () => {
  it('shows every change at once, made in this process or another, and always equals the tickets read one by one', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app, { maxPerBooking: 10 })
    const bookingId = await book({ eventId, items: [{ ticketTierId: tierId, quantity: 3 }] })
    const first = await list(t.app, bookingId)
    expect(await list(other, bookingId)).toEqual(first) // both processes now hold it
    expect(await each(t.app, first)).toEqual(first)

    // Named in the other process: this one's cached list must not be served.
    const [one, two] = first as [Ticket, Ticket, Ticket]
    expect((await other.inject({ method: 'PATCH', url: `/api/tickets/${one.id}`, headers: t.asIntegrator, payload: { attendeeName: 'Grace Hopper' } })).statusCode).toBe(200)
    const named = await list(t.app, bookingId)
    expect(named[0]?.attendeeName).toBe('Grace Hopper')
    expect(await each(t.app, named)).toEqual(named)

    // Reissued here: the other process sees the new code.
    const reissued = await t.app.inject({ method: 'POST', url: `/api/tickets/${two.id}/reissue`, headers: t.asIntegrator })
    expect(reissued.statusCode).toBe(200)
    const afterReissue = await list(other, bookingId)
    expect(afterReissue[1]?.code).toBe(reissued.json<Ticket>().code)
    expect(afterReissue[1]?.code).not.toBe(two.code)
    expect(await each(other, afterReissue)).toEqual(afterReissue)

    // Cancelled in the other process: every list here is void.
    expect((await other.inject({ method: 'POST', url: `/api/bookings/${bookingId}/cancel`, headers: t.asIntegrator })).statusCode).toBe(200)
    const cancelled = await list(t.app, bookingId)
    expect(cancelled.map((ticket) => [ticket.status, ticket.code])).toEqual([['void', null], ['void', null], ['void', null]])
    expect(await each(t.app, cancelled)).toEqual(cancelled)
  })

  it('turns a hold\'s tickets void the instant it lapses, though nothing was written to them', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app)
    const bookingId = await book({ eventId, hold: { ttlSeconds: 600 }, items: [{ ticketTierId: tierId, quantity: 2 }] })
    expect((await list(t.app, bookingId)).map((ticket) => ticket.status)).toEqual(['pending', 'pending'])
    await t.sql.begin(async (tx) => {
      const [row] = await tx<{ at: Date }[]>`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${bookingId} returning expires_at as at`
      await tx`update booking_items set hold_expires_at = ${row?.at ?? null} where booking_id = ${bookingId}`
    })
    const lapsed = await list(t.app, bookingId)
    expect(lapsed.map((ticket) => ticket.status)).toEqual(['void', 'void'])
    expect(await each(t.app, lapsed)).toEqual(lapsed)
  })

  it('gives a confirmed hold\'s codes at once, after its pending list was read', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app)
    const bookingId = await book({ eventId, hold: { ttlSeconds: 600 }, items: [{ ticketTierId: tierId, quantity: 1 }] })
    expect((await list(other, bookingId))[0]?.status).toBe('pending')
    expect((await t.app.inject({ method: 'POST', url: `/api/bookings/${bookingId}/confirm`, headers: t.asIntegrator })).statusCode).toBe(200)
    const confirmed = await list(other, bookingId)
    expect(confirmed[0]?.status).toBe('valid')
    expect(confirmed[0]?.code).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
  })
})

describe('the list cache', () => {
  it('serves only the version it was given, and drops the least recently used past its size', () => {
    const cache = createTicketListCache(10)
    cache.set('a', 1, Buffer.from('aaaa'))
    cache.set('b', 1, Buffer.from('bbbb'))
    expect(cache.get('a', 2)).toBeUndefined()
    expect(cache.get('a', 1)?.toString()).toBe('aaaa') // a is now the most recently used
    cache.set('c', 1, Buffer.from('cccc')) // 12 bytes: b goes
    expect(cache.get('b', 1)).toBeUndefined()
    expect(cache.get('a', 1)?.toString()).toBe('aaaa')
    expect(cache.get('c', 1)?.toString()).toBe('cccc')
    cache.set('d', 1, Buffer.from('d'.repeat(11))) // larger than the whole cache: not kept
    expect(cache.get('d', 1)).toBeUndefined()
    cache.set('a', 2, Buffer.from('A'))
    expect(cache.get('a', 1)).toBeUndefined()
    expect(cache.get('a', 2)?.toString()).toBe('A')
  })
})
