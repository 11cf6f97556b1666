import { createHash, randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Booking } from '../../../src/schemas/bookings.js'
import type { CheckInList, ScannerKey, ScannerKeyCreated } from '../../../src/schemas/check-in.js'
import type { Ticket } from '../../../src/schemas/tickets.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTiers, problemType } from '../../support/fixtures.js'
import { waitUntil } from '../../support/wait.js'

/*
 * Check-in lists and scanner keys end to end: lists with their tiers (of the event only), scanner
 * keys shown once and stored as hashes, revocation taking effect on the very next request, each
 * key confined to its own event (another event's lists and feed are 404s) and to the check-in
 * operations, and the revocations feed read with a scanner key.
 */

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

type Headers = Record<string, string>
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

function bearer (key: string): Headers {
  return { authorization: `Bearer ${key}` }
}

function expectProblem (response: LightMyRequestResponse, status: number, slug: string) {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = response.json<{ type: string, status: number }>()
  expect(body.type).toBe(problemType(slug))
  expect(body.status).toBe(status)
  return body
}

async function request (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Headers, payload?: object) {
  return await t.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) })
}

/** An event with tiers VIP and GA: the ids. */
async function eventWithTwoTiers () {
  const { eventId, tiers } = await createEventWithTiers(t.app, [{ name: 'VIP', price: 9000, capacity: 50 }, { name: 'GA', price: 3000, capacity: 50 }])
  const [vip, ga] = tiers
  if (vip === undefined || ga === undefined) throw new Error('the tiers were not made')
  return { eventId, vip: vip.id, ga: ga.id }
}

async function createList (eventId: string, payload: object, headers: Headers = asAdmin) {
  return await request('POST', `/api/events/${eventId}/check-in-lists`, headers, payload)
}

async function newList (eventId: string, payload: object = { name: 'Main door' }): Promise<CheckInList> {
  const response = await createList(eventId, payload)
  expect(response.statusCode, response.body).toBe(201)
  return response.json<CheckInList>()
}

async function newScannerKey (eventId: string, name = 'Gate 1'): Promise<ScannerKeyCreated> {
  const response = await request('POST', `/api/events/${eventId}/scanner-keys`, asAdmin, { name })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<ScannerKeyCreated>()
}

describe('check-in lists', () => {
  it('creates a list for every tier by default, without re-entry, with Location', async () => {
    const { eventId } = await eventWithTwoTiers()
    const response = await createList(eventId, { name: 'Main door' })
    expect(response.statusCode, response.body).toBe(201)
    const list = response.json<CheckInList>()
    expect(list).toEqual({ id: expect.stringMatching(UUID), eventId, name: 'Main door', ticketTierIds: null, allowReentry: false, createdAt: expect.any(String) })
    expect(response.headers.location).toBe(`/api/check-in-lists/${list.id}`)
    expect(new Date(list.createdAt).toISOString()).toBe(list.createdAt)
    const read = await request('GET', `/api/check-in-lists/${list.id}`, asAdmin)
    expect(read.statusCode, read.body).toBe(200)
    expect(read.json()).toEqual(list)
  })

  it('limits a list to tiers of its event and keeps allowReentry; null means every tier', async () => {
    const { eventId, vip, ga } = await eventWithTwoTiers()
    const vipOnly = await newList(eventId, { name: 'VIP door', ticketTierIds: [vip], allowReentry: true })
    expect(vipOnly).toMatchObject({ ticketTierIds: [vip], allowReentry: true })
    const both = await newList(eventId, { name: 'Both', ticketTierIds: [ga, vip] })
    expect(both.ticketTierIds).toEqual([ga, vip])
    const open = await newList(eventId, { name: 'Open', ticketTierIds: null })
    expect(open.ticketTierIds).toBeNull()
    const listed = await request('GET', `/api/events/${eventId}/check-in-lists`, asAdmin)
    expect(listed.statusCode, listed.body).toBe(200)
    expect(listed.json<{ data: CheckInList[] }>().data).toEqual([vipOnly, both, open])
  })

  it('refuses tiers of another event and unknown tiers with 422 tier-not-in-event naming exactly them, and creates nothing', async () => {
    const { eventId, vip } = await eventWithTwoTiers()
    const other = await eventWithTwoTiers()
    const unknown = randomUUID()
    const response = await createList(eventId, { name: 'Mixed', ticketTierIds: [vip, other.ga, unknown] })
    const problem = expectProblem(response, 422, 'tier-not-in-event')
    expect(problem).toMatchObject({ ticketTierIds: [other.ga, unknown], instance: `/api/events/${eventId}/check-in-lists` })
    const listed = await request('GET', `/api/events/${eventId}/check-in-lists`, asAdmin)
    expect(listed.json<{ data: CheckInList[] }>().data).toEqual([])
  })

  it('answers 404 for an unknown event and 400 for bad bodies', async () => {
    const missing = randomUUID()
    expectProblem(await createList(missing, { name: 'Door' }), 404, 'not-found')
    expectProblem(await request('GET', `/api/events/${missing}/check-in-lists`, asAdmin), 404, 'not-found')
    expectProblem(await request('GET', `/api/check-in-lists/${randomUUID()}`, asAdmin), 404, 'not-found')
    const { eventId, vip } = await eventWithTwoTiers()
    expectProblem(await createList(eventId, { name: '' }), 400, 'validation-error')
    expectProblem(await createList(eventId, { name: 'Door', ticketTierIds: [] }), 400, 'validation-error')
    expectProblem(await createList(eventId, { name: 'Door', ticketTierIds: [vip, vip] }), 400, 'validation-error')
    expectProblem(await createList(eventId, { name: 'Door', allowReentry: 'yes' }), 400, 'validation-error')
    expectProblem(await createList(eventId, { name: 'Door', typo: 1 }), 400, 'validation-error')
    expectProblem(await request('GET', '/api/check-in-lists/not-a-uuid', asAdmin), 400, 'validation-error')
  })

  it('is created by admin keys only: no key, an integrator key or a scanner key is a 401', async () => {
    const { eventId } = await eventWithTwoTiers()
    const scanner = await newScannerKey(eventId)
    for (const headers of [{}, t.asIntegrator, bearer(scanner.key)]) {
      const response = await createList(eventId, { name: 'Door' }, headers)
      expectProblem(response, 401, 'unauthorized')
      expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="admin"/)
    }
    const listed = await request('GET', `/api/events/${eventId}/check-in-lists`, asAdmin)
    expect(listed.json<{ data: CheckInList[] }>().data).toEqual([])
  })

  it('is read with a scanner key of its event; another event\'s scanner key gets 404, as for an unknown list', async () => {
    const { eventId } = await eventWithTwoTiers()
    const list = await newList(eventId)
    const own = await newScannerKey(eventId)
    const other = await eventWithTwoTiers()
    const foreign = await newScannerKey(other.eventId)

    const read = await request('GET', `/api/check-in-lists/${list.id}`, bearer(own.key))
    expect(read.statusCode, read.body).toBe(200)
    expect(read.json()).toEqual(list)
    const listed = await request('GET', `/api/events/${eventId}/check-in-lists`, bearer(own.key))
    expect(listed.statusCode, listed.body).toBe(200)
    expect(listed.json<{ data: CheckInList[] }>().data).toEqual([list])

    const foreignRead = expectProblem(await request('GET', `/api/check-in-lists/${list.id}`, bearer(foreign.key)), 404, 'not-found')
    const unknownRead = expectProblem(await request('GET', `/api/check-in-lists/${randomUUID()}`, bearer(foreign.key)), 404, 'not-found')
    expect(Object.keys(foreignRead).sort()).toEqual(Object.keys(unknownRead).sort())
    expectProblem(await request('GET', `/api/events/${eventId}/check-in-lists`, bearer(foreign.key)), 404, 'not-found')
    // The foreign key still reads its own event's (empty) lists.
    const foreignOwn = await request('GET', `/api/events/${other.eventId}/check-in-lists`, bearer(foreign.key))
    expect(foreignOwn.statusCode, foreignOwn.body).toBe(200)
    expect(foreignOwn.json<{ data: CheckInList[] }>().data).toEqual([])
  })

  it('is not read with an integrator key, an unknown scanner key or no key (401 with WWW-Authenticate)', async () => {
    const { eventId } = await eventWithTwoTiers()
    const list = await newList(eventId)
    const made = 'tbs_' + 'A'.repeat(43)
    for (const headers of [{}, t.asIntegrator, bearer(made), bearer('garbage')]) {
      for (const url of [`/api/check-in-lists/${list.id}`, `/api/events/${eventId}/check-in-lists`]) {
        const response = await request('GET', url, headers)
        expectProblem(response, 401, 'unauthorized')
        expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="scanner"/)
      }
    }
  })
})

describe('scanner keys', () => {
  it('shows the key once (tbs_ and 32 random bytes), stores only its SHA-256, and lists keys without secrets', async () => {
    const { eventId } = await eventWithTwoTiers()
    const created = await newScannerKey(eventId, 'North gate')
    expect(created).toEqual({
      id: expect.stringMatching(UUID), name: 'North gate', prefix: created.key.slice(0, 12), key: expect.stringMatching(/^tbs_[A-Za-z0-9_-]{43}$/), createdAt: expect.any(String), revokedAt: null
    })
    expect(Buffer.from(created.key.slice(4), 'base64url')).toHaveLength(32)
    const second = await newScannerKey(eventId, 'South gate')
    expect(second.key).not.toBe(created.key)

    const [row] = await t.sql<{ keyHash: Buffer }[]>`select key_hash from scanner_keys where id = ${created.id}`
    expect(row?.keyHash.equals(createHash('sha256').update(created.key).digest())).toBe(true)
    const [stored] = await t.sql<{ count: number }[]>`select count(*)::int as count from scanner_keys s where row_to_json(s)::text like ${'%' + created.key.slice(12) + '%'}`
    expect(stored?.count).toBe(0)

    const listed = await request('GET', `/api/events/${eventId}/scanner-keys`, asAdmin)
    expect(listed.statusCode, listed.body).toBe(200)
    const { key: _secret, ...withoutSecret } = created
    const { key: _secondSecret, ...secondWithoutSecret } = second
    expect(listed.json<{ data: ScannerKey[] }>().data).toEqual([withoutSecret, secondWithoutSecret])
    expect(listed.body).not.toContain(created.key.slice(12))
  })

  it('are managed by admin keys only, for known events', async () => {
    const { eventId } = await eventWithTwoTiers()
    const scanner = await newScannerKey(eventId)
    for (const headers of [{}, t.asIntegrator, bearer(scanner.key)]) {
      expectProblem(await request('POST', `/api/events/${eventId}/scanner-keys`, headers, { name: 'x' }), 401, 'unauthorized')
      expectProblem(await request('GET', `/api/events/${eventId}/scanner-keys`, headers), 401, 'unauthorized')
      expectProblem(await request('DELETE', `/api/events/${eventId}/scanner-keys/${scanner.id}`, headers), 401, 'unauthorized')
    }
    const missing = randomUUID()
    expectProblem(await request('POST', `/api/events/${missing}/scanner-keys`, asAdmin, { name: 'x' }), 404, 'not-found')
    expectProblem(await request('GET', `/api/events/${missing}/scanner-keys`, asAdmin), 404, 'not-found')
    expectProblem(await request('POST', `/api/events/${eventId}/scanner-keys`, asAdmin, {}), 400, 'validation-error')
    expectProblem(await request('POST', `/api/events/${eventId}/scanner-keys`, asAdmin, { name: 'x', scopes: [] }), 400, 'validation-error')
    // The scanner key survived all of that: nothing above revoked it.
    expect((await request('GET', `/api/events/${eventId}/check-in-lists`, bearer(scanner.key))).statusCode).toBe(200)
  })

  it('fails with 401 on the very next request once revoked; revoking again is a 204; another event\'s key id is a 404', async () => {
    const { eventId } = await eventWithTwoTiers()
    const list = await newList(eventId)
    const scanner = await newScannerKey(eventId)
    const kept = await newScannerKey(eventId, 'Gate 2')
    expect((await request('GET', `/api/check-in-lists/${list.id}`, bearer(scanner.key))).statusCode).toBe(200)

    const other = await eventWithTwoTiers()
    expectProblem(await request('DELETE', `/api/events/${other.eventId}/scanner-keys/${scanner.id}`, asAdmin), 404, 'not-found')
    expectProblem(await request('DELETE', `/api/events/${eventId}/scanner-keys/${randomUUID()}`, asAdmin), 404, 'not-found')
    expect((await request('GET', `/api/check-in-lists/${list.id}`, bearer(scanner.key))).statusCode).toBe(200)

    const revoked = await request('DELETE', `/api/events/${eventId}/scanner-keys/${scanner.id}`, asAdmin)
    expect(revoked.statusCode, revoked.body).toBe(204)
    expect(revoked.body).toBe('')
    for (const url of [`/api/check-in-lists/${list.id}`, `/api/events/${eventId}/check-in-lists`, `/api/events/${eventId}/revocations`]) {
      const response = await request('GET', url, bearer(scanner.key))
      expectProblem(response, 401, 'unauthorized')
      expect(response.headers['www-authenticate']).toBe('Bearer realm="scanner", error="invalid_token"')
    }
    // A second app on the same database (another server process) refuses it too.
    const second = await t.newApp()
    expectProblem(await second.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}`, headers: bearer(scanner.key) }), 401, 'unauthorized')

    const keys = async () => (await request('GET', `/api/events/${eventId}/scanner-keys`, asAdmin)).json<{ data: ScannerKey[] }>().data
    const before = await keys()
    expect(before.map((key) => [key.id, key.revokedAt !== null])).toEqual([[scanner.id, true], [kept.id, false]])
    const again = await request('DELETE', `/api/events/${eventId}/scanner-keys/${scanner.id}`, asAdmin)
    expect(again.statusCode, again.body).toBe(204)
    expect(await keys()).toEqual(before)
    expect((await request('GET', `/api/check-in-lists/${list.id}`, bearer(kept.key))).statusCode).toBe(200)
  })

  it('are accepted by check-in operations only: booking, ticket, event and integrator operations answer 401', async () => {
    const { eventId, ga } = await eventWithTwoTiers()
    const scanner = bearer((await newScannerKey(eventId)).key)
    const booked = await request('POST', '/api/bookings', t.asIntegrator, { eventId, items: [{ ticketTierId: ga, quantity: 1 }] })
    expect(booked.statusCode, booked.body).toBe(201)
    const booking = booked.json<Booking>()
    const tickets = (await request('GET', `/api/bookings/${booking.id}/tickets`, t.asIntegrator)).json<{ data: Ticket[] }>().data
    const ticketId = tickets[0]?.id ?? ''
    const attempts: Array<[method: 'GET' | 'POST', url: string, payload?: object]> = [
      ['GET', '/api/bookings'],
      ['GET', `/api/bookings/${booking.id}`],
      ['POST', '/api/bookings', { eventId, items: [{ ticketTierId: ga, quantity: 1 }] }],
      ['POST', `/api/bookings/${booking.id}/cancel`],
      ['GET', `/api/bookings/${booking.id}/tickets`],
      ['GET', `/api/tickets/${ticketId}`],
      ['POST', `/api/tickets/${ticketId}/reissue`],
      ['POST', '/api/events', { name: 'x', venue: 'y', startsAt: '2027-01-01T20:00:00Z', currency: 'EUR' }],
      ['POST', '/api/ticket-keys/rotate'],
      ['GET', '/api/integrators'],
      ['GET', '/api/webhook-endpoints']
    ]
    for (const [method, url, payload] of attempts) {
      const response = await request(method, url, scanner, payload)
      expect(response.statusCode, `${method} ${url}: ${response.body}`).toBe(401)
      expectProblem(response, 401, 'unauthorized')
    }
    const after = await request('GET', `/api/bookings/${booking.id}`, t.asIntegrator)
    expect(after.json<Booking>().status).toBe('confirmed')
  })
})

describe('the revocations feed with scanner keys', () => {
  it('is read with a scanner key of the event; another event\'s scanner key gets 404; integrator keys 401', async () => {
    const { eventId, ga } = await eventWithTwoTiers()
    const booked = await request('POST', '/api/bookings', t.asIntegrator, { eventId, items: [{ ticketTierId: ga, quantity: 1 }] })
    expect(booked.statusCode, booked.body).toBe(201)
    const [ticket] = (await request('GET', `/api/bookings/${booked.json<Booking>().id}/tickets`, t.asIntegrator)).json<{ data: Ticket[] }>().data
    if (ticket === undefined) throw new Error('the booking has no ticket')
    expect((await request('POST', `/api/tickets/${ticket.id}/reissue`, t.asIntegrator)).statusCode).toBe(200)

    const scanner = bearer((await newScannerKey(eventId)).key)
    let entries: Array<{ ticketId: string, ver: number, reason: string }> = []
    await waitUntil(async () => {
      const response = await request('GET', `/api/events/${eventId}/revocations?limit=100`, scanner)
      expect(response.statusCode, response.body).toBe(200)
      entries = response.json<{ data: typeof entries }>().data
      return entries.length > 0
    }, 'the reissue is in the feed', { timeoutMs: 10_000 })
    expect(entries).toEqual([expect.objectContaining({ ticketId: ticket.id, ver: 1, reason: 'reissued' })])

    const other = await eventWithTwoTiers()
    const foreign = bearer((await newScannerKey(other.eventId)).key)
    const refused = expectProblem(await request('GET', `/api/events/${eventId}/revocations`, foreign), 404, 'not-found')
    expect(refused).toMatchObject({ detail: `Event ${eventId} does not exist.` })
    const ownFeed = await request('GET', `/api/events/${other.eventId}/revocations`, foreign)
    expect(ownFeed.statusCode, ownFeed.body).toBe(200)
    expect(ownFeed.json<{ data: unknown[] }>().data).toEqual([])

    const integrator = await request('GET', `/api/events/${eventId}/revocations`, t.asIntegrator)
    expectProblem(integrator, 401, 'unauthorized')
    expectProblem(await request('GET', `/api/events/${randomUUID()}/revocations`, asAdmin), 404, 'not-found')
    expectProblem(await request('GET', `/api/events/${randomUUID()}/revocations`, foreign), 404, 'not-found')
  })
})
