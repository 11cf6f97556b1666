import type { AddressInfo } from 'node:net'
import createClient from 'openapi-fetch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { paths } from '../../openapi/openapi-types.js'
import { ADMIN_KEY, createTestApp, type TestApp } from '../support/app.js'

let t: TestApp
let client: ReturnType<typeof createClient<paths>>
const admin = { authorization: `Bearer ${ADMIN_KEY}` }

beforeAll(async () => {
  t = await createTestApp()
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = t.app.server.address() as AddressInfo
  client = createClient<paths>({ baseUrl: `http://127.0.0.1:${port}`, headers: t.asIntegrator })
})
afterAll(async () => { await t.close() })

describe('a typed client generated from the committed document (openapi-typescript + openapi-fetch)', () => {
  it('drives the booking flow end to end against a listening server', async () => {
    const event = await client.POST('/api/events', {
      headers: admin,
      body: { name: 'Typed Client Live', venue: 'SDK Hall', startsAt: '2027-09-01T19:00:00+02:00', currency: 'EUR' }
    })
    expect(event.response.status).toBe(201)
    if (event.data === undefined) throw new Error('no event')
    const eventId = event.data.id
    expect(event.data.startsAt).toBe('2027-09-01T17:00:00.000Z')

    const tier = await client.POST('/api/events/{eventId}/ticket-tiers', {
      headers: admin,
      params: { path: { eventId } },
      body: { name: 'Front row', price: 12000, capacity: 3, maxPerBooking: 3 }
    })
    if (tier.data === undefined) throw new Error('no tier')
    const ticketTierId = tier.data.id
    expect(tier.data.remaining).toBe(3)

    // maxPerBooking left out (`npm run typecheck` compiles this against the committed types): the server's default.
    const standing = await client.POST('/api/events/{eventId}/ticket-tiers', {
      headers: admin,
      params: { path: { eventId } },
      body: { name: 'Standing', price: 4900, capacity: 300 }
    })
    expect(standing.response.status).toBe(201)
    expect(standing.data?.maxPerBooking).toBe(10)

    const listed = await client.GET('/api/events/{eventId}/ticket-tiers', { params: { path: { eventId } } })
    expect(listed.data?.data.map((each) => each.id)).toEqual([ticketTierId, standing.data?.id])

    const booked = await client.POST('/api/bookings', {
      params: { header: { 'idempotency-key': 'sdk-order-1' } },
      body: { eventId, items: [{ ticketTierId, quantity: 2 }] }
    })
    expect(booked.response.status).toBe(201)
    if (booked.data === undefined) throw new Error('no booking')
    const booking = booked.data
    expect(booking).toMatchObject({ clientReference: 'sdk-order-1', status: 'confirmed', total: 24000, currency: 'EUR' })
    expect(booked.response.headers.get('location')).toBe(`/api/bookings/${booking.id}`)

    const replay = await client.POST('/api/bookings', {
      params: { header: { 'idempotency-key': 'sdk-order-1' } },
      body: { eventId, items: [{ ticketTierId, quantity: 2 }] }
    })
    expect(replay.response.status).toBe(200)
    expect(replay.response.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.data?.id).toBe(booking.id)

    const short = await client.POST('/api/bookings', { body: { eventId, items: [{ ticketTierId, quantity: 2 }] } })
    expect(short.response.status).toBe(409)
    expect(short.error?.type).toBe('urn:ticket-booking:problem:insufficient-inventory')
    expect(short.error && 'shortages' in short.error ? short.error.shortages : undefined)
      .toEqual([{ ticketTierId, requested: 2, remaining: 1 }])

    const cancelled = await client.POST('/api/bookings/{bookingId}/cancel', { params: { path: { bookingId: booking.id } } })
    expect(cancelled.data?.status).toBe('cancelled')

    const read = await client.GET('/api/bookings/{bookingId}', { params: { path: { bookingId: booking.id } } })
    expect(read.data).toEqual(cancelled.data)
    const after = await client.GET('/api/events/{eventId}/ticket-tiers', { params: { path: { eventId } } })
    expect(after.data?.data[0]?.remaining).toBe(3)
  })

  it('surfaces problem details as typed errors', async () => {
    const missing = await client.GET('/api/events/{eventId}', { params: { path: { eventId: '00000000-0000-4000-8000-000000000000' } } })
    expect(missing.response.status).toBe(404)
    expect(missing.error).toMatchObject({ type: 'urn:ticket-booking:problem:not-found', status: 404 })

    const invalid = await client.GET('/api/events', { params: { query: { limit: 0 } } })
    expect(invalid.response.status).toBe(400)
    expect(invalid.error?.errors).toEqual([{ path: '/limit', message: 'must be >= 1' }])
  })
})
