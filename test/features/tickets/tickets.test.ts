import { randomUUID } from 'node:crypto'
import { base64url, compactVerify, createLocalJWKSet, errors, type JSONWebKeySet, type JWK } from 'jose'
import type { LightMyRequestResponse } from 'fastify'
import QRCode from 'qrcode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sweepLapsedHolds } from '../../../src/features/bookings/hold-sweeper.js'
import { changeStatus } from '../../../src/features/bookings/lifecycle.js'
import { createTicketCodes } from '../../../src/features/tickets/codes.js'
import type { Booking } from '../../../src/schemas/bookings.js'
import type { Ticket } from '../../../src/schemas/tickets.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTiers, problemType } from '../../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../../support/locks.js'
import { waitUntil } from '../../support/wait.js'

/*
 * The ticket API end to end: tickets following their booking (pending, valid, void), their codes
 * verified as a scanner would (jose and the published key set), naming, reissue, QR codes,
 * ownership, the key set and its rotation, and the revocations feed.
 */

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

type Headers = Record<string, string>

interface Revocation { ticketId: string, ver: number, reason: 'reissued' | 'cancelled', revokedAt: string }
interface RevocationPage { data: Revocation[], nextCursor: string }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** An event with tiers VIP (A) and GA (B): the ids. */
async function eventWithTwoTiers () {
  const { eventId, tiers } = await createEventWithTiers(t.app, [{ name: 'VIP', price: 9000, capacity: 50 }, { name: 'GA', price: 3000, capacity: 50 }])
  const [vip, ga] = tiers
  if (vip === undefined || ga === undefined) throw new Error('the tiers were not made')
  return { eventId, a: vip.id, b: ga.id }
}

async function book (eventId: string, items: Array<{ ticketTierId: string, quantity: number }>, { hold, headers = t.asIntegrator }: { hold?: number, headers?: Headers } = {}): Promise<Booking> {
  const payload = hold === undefined ? { eventId, items } : { eventId, items, hold: { ttlSeconds: hold } }
  const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers, payload })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<Booking>()
}

/** A confirmed booking of 2 of A and 1 of B on a new event, and its tickets. */
async function confirmedBooking (headers: Headers = t.asIntegrator) {
  const { eventId, a, b } = await eventWithTwoTiers()
  const booking = await book(eventId, [{ ticketTierId: a, quantity: 2 }, { ticketTierId: b, quantity: 1 }], { headers })
  return { eventId, a, b, booking, tickets: await ticketsOf(booking.id, headers) }
}

async function get (url: string, headers: Headers = t.asIntegrator) {
  return await t.app.inject({ method: 'GET', url, headers })
}

async function post (url: string, headers: Headers = t.asIntegrator) {
  return await t.app.inject({ method: 'POST', url, headers })
}

async function patch (url: string, payload: unknown, headers: Headers = t.asIntegrator) {
  return await t.app.inject({ method: 'PATCH', url, headers, payload: payload as object })
}

async function ticketsOf (bookingId: string, headers: Headers = t.asIntegrator): Promise<Ticket[]> {
  const response = await get(`/api/bookings/${bookingId}/tickets`, headers)
  expect(response.statusCode, response.body).toBe(200)
  return response.json<{ data: Ticket[] }>().data
}

async function ticket (id: string, headers: Headers = t.asIntegrator): Promise<Ticket> {
  const response = await get(`/api/tickets/${id}`, headers)
  expect(response.statusCode, response.body).toBe(200)
  return response.json<Ticket>()
}

function codeOf (each: Ticket | undefined): string {
  if (typeof each?.code !== 'string') throw new Error(`ticket ${each?.id ?? '(none)'} has no code`)
  return each.code
}

function first<T> (list: T[]): T {
  const [head] = list
  if (head === undefined) throw new Error('the list is empty')
  return head
}

/** The published key set and its caching headers (asked without any key). */
async function keySet () {
  const response = await t.app.inject({ method: 'GET', url: '/api/ticket-keys' })
  expect(response.statusCode, response.body).toBe(200)
  const body = response.json<JSONWebKeySet>()
  expectNoPrivateParts(response.body, body.keys)
  return { keys: body, etag: response.headers.etag, cacheControl: response.headers['cache-control'] }
}

function expectNoPrivateParts (raw: string, keys: JWK[]): void {
  for (const key of keys) expect(key, `key ${key.kid ?? '?'}`).not.toHaveProperty('d')
  expect(raw).not.toMatch(/"d"\s*:/)
}

/** Verifies a code as an offline scanner would: with jose and the JWK Set of GET /api/ticket-keys. */
async function verify (code: string, keys?: JSONWebKeySet) {
  const jwks = keys ?? (await keySet()).keys
  const { payload, protectedHeader } = await compactVerify(code, createLocalJWKSet(jwks))
  return { header: protectedHeader, payload: JSON.parse(new TextDecoder().decode(payload)) as unknown }
}

/** Resolves with the JOSE error verification fails with; fails the test if the code verifies. */
async function verificationError (code: string, keys: JSONWebKeySet): Promise<unknown> {
  try {
    await compactVerify(code, createLocalJWKSet(keys))
  } catch (error) {
    return error
  }
  throw new Error(`the code verified: ${code}`)
}

async function revocations (eventId: string, query: Record<string, string | number> = {}, headers: Headers = asAdmin) {
  const search = new URLSearchParams(Object.entries(query).map(([key, value]): [string, string] => [key, String(value)])).toString()
  return await get(`/api/events/${eventId}/revocations${search === '' ? '' : `?${search}`}`, headers)
}

async function revocationPage (eventId: string, query: Record<string, string | number> = {}): Promise<RevocationPage> {
  const response = await revocations(eventId, query)
  expect(response.statusCode, response.body).toBe(200)
  const page = response.json<RevocationPage>()
  expect(typeof page.nextCursor).toBe('string')
  expect(page.nextCursor.length).toBeGreaterThan(0)
  return page
}

/** How long to wait for an entry to be listed (it is, once its transaction has committed). */
const FEED_WAIT_MS = 10_000
/** For the tests that wait on the feed (at most two waits each). */
const FEED_TESTS = { timeout: 2 * FEED_WAIT_MS + 15_000 }

/** Polls the feed (from `cursor`) until it holds at least `count` entries. */
async function revocationsOnceThere (eventId: string, count: number, query: Record<string, string | number> = {}): Promise<RevocationPage> {
  let page: RevocationPage = { data: [], nextCursor: '' }
  await waitUntil(async () => {
    page = await revocationPage(eventId, { limit: 100, ...query })
    return page.data.length >= count
  }, `${count} revocations of event ${eventId} are listed`, { timeoutMs: FEED_WAIT_MS, intervalMs: 25 })
  return page
}

/** Revocation rows stored for these tickets, whatever the feed shows yet. */
async function storedRevocations (ticketIds: string[]): Promise<number> {
  const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from ticket_revocations where ticket_id in ${t.sql(ticketIds)}`
  return row?.count ?? -1
}

async function storedStatuses (bookingId: string): Promise<string[]> {
  const rows = await t.sql<{ status: string }[]>`select status from tickets where booking_id = ${bookingId} order by position`
  return rows.map((row) => row.status)
}

/** Stands in for the passage of time (as in holds.test.ts): moves a hold's expiry to `offset` from now, as the database clock sees it. */
async function expireAt (bookingId: string, offset: string) {
  await t.sql.begin(async (tx) => {
    const [row] = await tx<{ at: Date }[]>`
      update bookings set expires_at = clock_timestamp() + ${offset}::interval where id = ${bookingId} returning expires_at as at
    `
    await tx`update booking_items set hold_expires_at = ${row?.at ?? null} where booking_id = ${bookingId} and not released and hold_expires_at is not null`
  })
}

function expectProblem (response: LightMyRequestResponse, status: number, slug: string): void {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(response.json().type).toBe(problemType(slug))
}

describe('a booking\'s tickets', () => {
  it('are one per booked unit, numbered from 1 in item order, valid with a code, and each readable on its own', async () => {
    const { eventId, a, b, booking, tickets } = await confirmedBooking()
    expect(tickets).toHaveLength(3)
    expect(tickets.map((each) => each.position)).toEqual([1, 2, 3])
    expect(tickets.map((each) => each.ticketTierId)).toEqual([a, a, b])
    expect(tickets.map((each) => each.tierName)).toEqual(['VIP', 'VIP', 'GA'])
    expect(new Set(tickets.map((each) => each.id)).size).toBe(3)
    for (const each of tickets) {
      expect(each.id).toMatch(UUID)
      expect(each).toMatchObject({ bookingId: booking.id, eventId, status: 'valid', attendeeName: null, reissuedAt: null })
      expect(typeof each.code).toBe('string')
      expect(each.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
      expect(await ticket(each.id)).toEqual(each)
    }
    expect(new Set(tickets.map(codeOf)).size).toBe(3)
  })

  it('follow the order of the items, not of the tiers', async () => {
    const { eventId, a, b } = await eventWithTwoTiers()
    const booking = await book(eventId, [{ ticketTierId: b, quantity: 1 }, { ticketTierId: a, quantity: 2 }])
    const tickets = await ticketsOf(booking.id)
    expect(tickets.map((each) => [each.position, each.ticketTierId, each.tierName])).toEqual([[1, b, 'GA'], [2, a, 'VIP'], [3, a, 'VIP']])
  })

  it('carry codes that verify with the published keys: EdDSA, a listed kid, payload exactly { tid, eid, tier, ver: 1 }, at most 400 characters', async () => {
    const { eventId, tickets } = await confirmedBooking()
    const { keys } = await keySet()
    const kids = keys.keys.map((key) => key.kid)
    for (const each of tickets) {
      const code = codeOf(each)
      expect(code.length).toBeLessThanOrEqual(400)
      expect(code.split('.')).toHaveLength(3)
      const { header, payload } = await verify(code, keys)
      expect(header.alg).toBe('EdDSA')
      expect(kids).toContain(header.kid)
      expect(payload).toStrictEqual({ tid: each.id, eid: eventId, tier: each.ticketTierId, ver: 1 })
    }
  })
})

describe('tickets through the booking lifecycle', FEED_TESTS, () => {
  it('are pending without a code while held, and valid with codes once the hold is confirmed', async () => {
    const { eventId, a, b } = await eventWithTwoTiers()
    const held = await book(eventId, [{ ticketTierId: a, quantity: 2 }, { ticketTierId: b, quantity: 1 }], { hold: 600 })
    expect(held.status).toBe('held')
    const pending = await ticketsOf(held.id)
    expect(pending.map((each) => [each.position, each.status, each.code])).toEqual([[1, 'pending', null], [2, 'pending', null], [3, 'pending', null]])
    expect(await storedStatuses(held.id)).toEqual(['pending', 'pending', 'pending'])
    const firstPending = first(pending)
    expectProblem(await get(`/api/tickets/${firstPending.id}/qr`), 409, 'ticket-pending')
    expectProblem(await post(`/api/tickets/${firstPending.id}/reissue`), 409, 'ticket-pending')

    const confirm = await post(`/api/bookings/${held.id}/confirm`)
    expect(confirm.statusCode, confirm.body).toBe(200)
    const valid = await ticketsOf(held.id)
    expect(valid.map((each) => each.id)).toEqual(pending.map((each) => each.id))
    expect(valid.map((each) => each.status)).toEqual(['valid', 'valid', 'valid'])
    expect(await storedStatuses(held.id)).toEqual(['valid', 'valid', 'valid'])
    const keys = (await keySet()).keys
    for (const each of valid) {
      expect((await verify(codeOf(each), keys)).payload).toStrictEqual({ tid: each.id, eid: eventId, tier: each.ticketTierId, ver: 1 })
    }
    // Confirming again changes nothing: the same codes.
    expect((await post(`/api/bookings/${held.id}/confirm`)).statusCode).toBe(200)
    expect(await ticketsOf(held.id)).toEqual(valid)
  })

  it('are void when a held booking is cancelled, with nothing revoked (they never had a code)', async () => {
    const { eventId, a } = await eventWithTwoTiers()
    const held = await book(eventId, [{ ticketTierId: a, quantity: 2 }], { hold: 600 })
    const cancel = await post(`/api/bookings/${held.id}/cancel`)
    expect(cancel.statusCode, cancel.body).toBe(200)
    const tickets = await ticketsOf(held.id)
    expect(tickets.map((each) => [each.status, each.code])).toEqual([['void', null], ['void', null]])
    expect(await storedStatuses(held.id)).toEqual(['void', 'void'])
    expect(await storedRevocations(tickets.map((each) => each.id))).toBe(0)
    expect((await revocationPage(eventId)).data).toEqual([])
  })

  it('read as void the instant a hold lapses, before the sweep; the sweep then voids them in the database, revoking nothing', async () => {
    const { eventId, a, b } = await eventWithTwoTiers()
    const held = await book(eventId, [{ ticketTierId: a, quantity: 1 }, { ticketTierId: b, quantity: 1 }], { hold: 600 })
    await expireAt(held.id, '-1 second')

    const lapsed = await ticketsOf(held.id)
    expect(lapsed.map((each) => [each.status, each.code])).toEqual([['void', null], ['void', null]])
    const one = first(lapsed)
    expect((await ticket(one.id)).status).toBe('void')
    expect((await ticket(one.id, asAdmin)).status).toBe('void')
    // Read-time only so far: the database still says pending.
    expect(await storedStatuses(held.id)).toEqual(['pending', 'pending'])
    expectProblem(await get(`/api/tickets/${one.id}/qr`), 409, 'ticket-void')
    expectProblem(await post(`/api/tickets/${one.id}/reissue`), 409, 'ticket-void')
    expectProblem(await patch(`/api/tickets/${one.id}`, { attendeeName: 'Late Comer' }), 409, 'ticket-void')

    expect(await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))).toBeGreaterThanOrEqual(1)
    const [stored] = await t.sql<{ status: string }[]>`select status from bookings where id = ${held.id}`
    expect(stored?.status).toBe('expired')
    expect(await storedStatuses(held.id)).toEqual(['void', 'void'])
    expect(await ticketsOf(held.id)).toEqual(lapsed)
    expect(await storedRevocations(lapsed.map((each) => each.id))).toBe(0)
    expect((await revocationPage(eventId)).data).toEqual([])
  })

  it('are void without a code when a confirmed booking is cancelled, and every code is revoked with its ver', async () => {
    const { eventId, booking, tickets } = await confirmedBooking()
    const cancel = await post(`/api/bookings/${booking.id}/cancel`)
    expect(cancel.statusCode, cancel.body).toBe(200)
    const voided = await ticketsOf(booking.id)
    expect(voided.map((each) => [each.id, each.status, each.code])).toEqual(tickets.map((each) => [each.id, 'void', null]))
    expect(await storedStatuses(booking.id)).toEqual(['void', 'void', 'void'])
    expectProblem(await get(`/api/tickets/${first(voided).id}/qr`), 409, 'ticket-void')

    const page = await revocationsOnceThere(eventId, 3)
    expect(page.data).toHaveLength(3)
    expect(page.data.map((entry) => ({ ticketId: entry.ticketId, ver: entry.ver, reason: entry.reason })).sort((x, y) => x.ticketId.localeCompare(y.ticketId)))
      .toEqual(tickets.map((each) => ({ ticketId: each.id, ver: 1, reason: 'cancelled' })).sort((x, y) => x.ticketId.localeCompare(y.ticketId)))
    for (const entry of page.data) expect(Date.parse(entry.revokedAt)).toBeGreaterThanOrEqual(Date.parse(booking.createdAt))

    // Cancelling again revokes nothing twice.
    expect((await post(`/api/bookings/${booking.id}/cancel`)).statusCode).toBe(200)
    expect(await storedRevocations(tickets.map((each) => each.id))).toBe(3)
  })

  it('revoke a reissued ticket\'s current ver when its booking is cancelled', async () => {
    const { eventId, booking, tickets } = await confirmedBooking()
    const reissued = first(tickets)
    expect((await post(`/api/tickets/${reissued.id}/reissue`)).statusCode).toBe(200)
    expect((await post(`/api/bookings/${booking.id}/cancel`)).statusCode).toBe(200)
    const page = await revocationsOnceThere(eventId, 4)
    const seen = page.data.map((entry) => `${entry.ticketId}:${entry.ver}:${entry.reason}`)
    expect(seen[0]).toBe(`${reissued.id}:1:reissued`)
    expect(seen.slice(1).sort()).toEqual([`${reissued.id}:2:cancelled`, ...tickets.slice(1).map((each) => `${each.id}:1:cancelled`)].sort())
  })
})

describe('PATCH /api/tickets/{ticketId}', () => {
  it('sets and clears the attendee name, leaving the code as it was', async () => {
    const { tickets } = await confirmedBooking()
    const target = first(tickets)
    const named = await patch(`/api/tickets/${target.id}`, { attendeeName: 'Ada Lovelace' })
    expect(named.statusCode, named.body).toBe(200)
    expect(named.json()).toEqual({ ...target, attendeeName: 'Ada Lovelace' })
    expect(await ticket(target.id)).toEqual({ ...target, attendeeName: 'Ada Lovelace' })
    // The other tickets of the booking are not named.
    expect((await ticketsOf(target.bookingId)).map((each) => each.attendeeName)).toEqual(['Ada Lovelace', null, null])

    const longest = 'x'.repeat(200)
    expect((await patch(`/api/tickets/${target.id}`, { attendeeName: longest })).json().attendeeName).toBe(longest)

    const cleared = await patch(`/api/tickets/${target.id}`, { attendeeName: null })
    expect(cleared.statusCode, cleared.body).toBe(200)
    expect(cleared.json()).toEqual(target)
    expect(await ticket(target.id)).toEqual(target)
  })

  it('names a pending ticket too, and the name survives confirmation', async () => {
    const { eventId, a } = await eventWithTwoTiers()
    const held = await book(eventId, [{ ticketTierId: a, quantity: 1 }], { hold: 600 })
    const pending = first(await ticketsOf(held.id))
    const named = await patch(`/api/tickets/${pending.id}`, { attendeeName: 'Grace Hopper' })
    expect(named.statusCode, named.body).toBe(200)
    expect(named.json()).toMatchObject({ status: 'pending', code: null, attendeeName: 'Grace Hopper' })
    expect((await post(`/api/bookings/${held.id}/confirm`)).statusCode).toBe(200)
    expect(await ticket(pending.id)).toMatchObject({ status: 'valid', attendeeName: 'Grace Hopper' })
  })

  it('refuses a void ticket with a 409 ticket-void', async () => {
    const { booking, tickets } = await confirmedBooking()
    expect((await post(`/api/bookings/${booking.id}/cancel`)).statusCode).toBe(200)
    const response = await patch(`/api/tickets/${first(tickets).id}`, { attendeeName: 'Nobody' })
    expectProblem(response, 409, 'ticket-void')
    expect(response.json()).toMatchObject({ status: 409, instance: `/api/tickets/${first(tickets).id}` })
    expect((await ticket(first(tickets).id)).attendeeName).toBeNull()
  })

  it.each([
    ['an empty name', { attendeeName: '' }, '/attendeeName'],
    ['a name of 201 characters', { attendeeName: 'x'.repeat(201) }, '/attendeeName'],
    ['a name that is not a string', { attendeeName: 42 }, '/attendeeName'],
    ['an unknown property', { attendeeName: 'Ada', seat: '12A' }, '/seat'],
    ['no attendeeName', {}, '/attendeeName']
  ])('rejects %s with a 400 naming the path', async (_what, body, path) => {
    const { tickets } = await confirmedBooking()
    const target = first(tickets)
    const response = await patch(`/api/tickets/${target.id}`, body)
    expectProblem(response, 400, 'validation-error')
    const errorsList = response.json<{ errors: Array<{ path: string, message: string }> }>().errors
    expect(errorsList.length).toBeGreaterThan(0)
    expect(errorsList.map((error) => error.path)).toContain(path)
    expect(await ticket(target.id)).toEqual(target)
  })

  it('is refused to admin keys (they read tickets, not change them) and to keys without bookings:write', async () => {
    const { tickets } = await confirmedBooking()
    const target = first(tickets)
    const admin = await patch(`/api/tickets/${target.id}`, { attendeeName: 'Operator' }, asAdmin)
    expectProblem(admin, 403, 'insufficient-scope')

    // A read-only key of the very integrator that owns the ticket: it reads the ticket, but may not name it or reissue it.
    const created = await t.app.inject({
      method: 'POST', url: `/api/integrators/${t.integrator.id}/keys`, headers: asAdmin, payload: { name: 'Read only', scopes: ['bookings:read'] }
    })
    expect(created.statusCode, created.body).toBe(201)
    const reader = { authorization: `Bearer ${created.json<{ key: string }>().key}` }
    expect(await ticket(target.id, reader)).toEqual(target)
    const refused = await patch(`/api/tickets/${target.id}`, { attendeeName: 'Reader' }, reader)
    expectProblem(refused, 403, 'insufficient-scope')
    expect(refused.json()).toMatchObject({ scope: 'bookings:write' })
    expect(refused.headers['www-authenticate']).toContain('insufficient_scope')
    expectProblem(await post(`/api/tickets/${target.id}/reissue`, reader), 403, 'insufficient-scope')
    expectProblem(await post(`/api/tickets/${target.id}/reissue`, asAdmin), 403, 'insufficient-scope')
    expect(await ticket(target.id)).toEqual(target)
    expect(await storedRevocations([target.id])).toBe(0)
  })
})

describe('POST /api/tickets/{ticketId}/reissue', FEED_TESTS, () => {
  it('gives a valid ticket a new code with ver 2 and reissuedAt, and lists the old (tid, ver 1) as reissued', async () => {
    const { eventId, tickets } = await confirmedBooking()
    const target = first(tickets)
    const before = Date.now()
    const response = await post(`/api/tickets/${target.id}/reissue`)
    expect(response.statusCode, response.body).toBe(200)
    const reissued = response.json<Ticket>()
    expect(reissued).toMatchObject({ id: target.id, status: 'valid', position: 1, attendeeName: null, createdAt: target.createdAt })
    const code = codeOf(reissued)
    expect(code).not.toBe(target.code)
    expect(code.length).toBeLessThanOrEqual(400)
    expect(reissued.reissuedAt).not.toBeNull()
    expect(Date.parse(reissued.reissuedAt ?? '')).toBeGreaterThanOrEqual(before - 2_000)
    expect(Date.parse(reissued.reissuedAt ?? '')).toBeLessThanOrEqual(Date.now() + 2_000)
    expect(await ticket(target.id)).toEqual(reissued)

    const keys = (await keySet()).keys
    expect((await verify(code, keys)).payload).toStrictEqual({ tid: target.id, eid: eventId, tier: target.ticketTierId, ver: 2 })
    // The other tickets keep their codes.
    expect((await ticketsOf(target.bookingId)).slice(1)).toEqual(tickets.slice(1))

    const page = await revocationsOnceThere(eventId, 1)
    expect(page.data).toHaveLength(1)
    expect(page.data[0]).toMatchObject({ ticketId: target.id, ver: 1, reason: 'reissued' })
    // Revoked in the reissue's transaction, at (about) the instant the new code was issued.
    expect(Math.abs(Date.parse(page.data[0]?.revokedAt ?? '') - Date.parse(reissued.reissuedAt ?? ''))).toBeLessThan(1_000)

    const again = await post(`/api/tickets/${target.id}/reissue`)
    expect(again.statusCode).toBe(200)
    expect((await verify(codeOf(again.json<Ticket>()), keys)).payload).toMatchObject({ ver: 3 })
    const later = await revocationsOnceThere(eventId, 1, { cursor: page.nextCursor })
    expect(later.data.map((entry) => [entry.ticketId, entry.ver, entry.reason])).toEqual([[target.id, 2, 'reissued']])
  })

  it('refuses a void ticket with 409 ticket-void, and a pending one with 409 ticket-pending', async () => {
    const { eventId, a } = await eventWithTwoTiers()
    const held = await book(eventId, [{ ticketTierId: a, quantity: 1 }], { hold: 600 })
    const pending = first(await ticketsOf(held.id))
    expectProblem(await post(`/api/tickets/${pending.id}/reissue`), 409, 'ticket-pending')
    expect(await ticket(pending.id)).toEqual(pending)

    const { booking, tickets } = await confirmedBooking()
    expect((await post(`/api/bookings/${booking.id}/cancel`)).statusCode).toBe(200)
    expectProblem(await post(`/api/tickets/${first(tickets).id}/reissue`), 409, 'ticket-void')
    expect(await ticket(first(tickets).id)).toMatchObject({ status: 'void', code: null, reissuedAt: null })
    expect(await storedRevocations([pending.id])).toBe(0)
  })
})

describe('GET /api/tickets/{ticketId}/qr', () => {
  it('is the SVG QR code of the ticket\'s code, and follows a reissue', async () => {
    const { tickets } = await confirmedBooking()
    const target = first(tickets)
    const response = await get(`/api/tickets/${target.id}/qr`)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.headers['content-type']).toMatch(/^image\/svg\+xml/)
    expect(response.body.startsWith('<svg')).toBe(true)
    expect(response.body).toBe(await QRCode.toString(codeOf(target), { type: 'svg', errorCorrectionLevel: 'M', margin: 4 }))
    // Another ticket's QR is another image.
    expect((await get(`/api/tickets/${tickets[1]?.id ?? ''}/qr`)).body).not.toBe(response.body)
    expect((await get(`/api/tickets/${target.id}/qr`, asAdmin)).body).toBe(response.body)

    const reissued = (await post(`/api/tickets/${target.id}/reissue`)).json<Ticket>()
    const after = await get(`/api/tickets/${target.id}/qr`)
    expect(after.statusCode).toBe(200)
    expect(after.body).not.toBe(response.body)
    expect(after.body).toBe(await QRCode.toString(codeOf(reissued), { type: 'svg', errorCorrectionLevel: 'M', margin: 4 }))
  })

  it('is a 409 ticket-pending for a held booking\'s ticket', async () => {
    const { eventId, a } = await eventWithTwoTiers()
    const held = await book(eventId, [{ ticketTierId: a, quantity: 1 }], { hold: 600 })
    const response = await get(`/api/tickets/${first(await ticketsOf(held.id)).id}/qr`)
    expectProblem(response, 409, 'ticket-pending')
  })
})

describe('who may see tickets', () => {
  function sameProblem (response: LightMyRequestResponse, missing: LightMyRequestResponse, id: string, missingId: string): void {
    expect(response.statusCode, response.body).toBe(404)
    expect(response.headers['content-type']).toBe(missing.headers['content-type'])
    const body = response.json<Record<string, unknown>>()
    const reference = missing.json<Record<string, unknown>>()
    expect(Object.keys(body).sort()).toEqual(Object.keys(reference).sort())
    expect(body.type).toBe(problemType('not-found'))
    expect(JSON.stringify(body).replaceAll(id, '<id>')).toBe(JSON.stringify(reference).replaceAll(missingId, '<id>'))
  }

  it('hides another integrator\'s booking tickets, ticket, QR, naming and reissue behind a 404 like a missing one', async () => {
    const { booking, tickets } = await confirmedBooking()
    const target = first(tickets)
    const other = await t.newIntegrator('Other shop')
    const missingId = randomUUID()

    sameProblem(await get(`/api/bookings/${booking.id}/tickets`, other.headers), await get(`/api/bookings/${missingId}/tickets`, other.headers), booking.id, missingId)
    sameProblem(await get(`/api/tickets/${target.id}`, other.headers), await get(`/api/tickets/${missingId}`, other.headers), target.id, missingId)
    sameProblem(await get(`/api/tickets/${target.id}/qr`, other.headers), await get(`/api/tickets/${missingId}/qr`, other.headers), target.id, missingId)
    sameProblem(
      await patch(`/api/tickets/${target.id}`, { attendeeName: 'Intruder' }, other.headers),
      await patch(`/api/tickets/${missingId}`, { attendeeName: 'Intruder' }, other.headers),
      target.id, missingId
    )
    sameProblem(await post(`/api/tickets/${target.id}/reissue`, other.headers), await post(`/api/tickets/${missingId}/reissue`, other.headers), target.id, missingId)

    // Nothing changed, nothing was revoked.
    expect(await ticket(target.id)).toEqual(target)
    expect(await storedRevocations([target.id])).toBe(0)
  })

  it('lets an admin key read any integrator\'s tickets', async () => {
    const other = await t.newIntegrator('Admin-read shop')
    const { booking, tickets } = await confirmedBooking(other.headers)
    expect(await ticketsOf(booking.id, asAdmin)).toEqual(tickets)
    expect(await ticket(first(tickets).id, asAdmin)).toEqual(first(tickets))
    expectProblem(await get(`/api/bookings/${randomUUID()}/tickets`, asAdmin), 404, 'not-found')
    expectProblem(await get(`/api/tickets/${randomUUID()}`, asAdmin), 404, 'not-found')
    expectProblem(await post(`/api/tickets/${first(tickets).id}/reissue`, asAdmin), 403, 'insufficient-scope')
  })

  it('answers 400 for malformed ids, 401 without a key or with an unknown one, 403 without bookings:read', async () => {
    const { booking, tickets } = await confirmedBooking()
    const target = first(tickets)
    for (const url of ['/api/bookings/not-a-uuid/tickets', '/api/tickets/not-a-uuid', '/api/tickets/123/qr']) {
      expectProblem(await get(url), 400, 'validation-error')
    }
    expectProblem(await patch('/api/tickets/not-a-uuid', { attendeeName: 'x' }), 400, 'validation-error')
    expectProblem(await post('/api/tickets/not-a-uuid/reissue'), 400, 'validation-error')

    const urls = [`/api/bookings/${booking.id}/tickets`, `/api/tickets/${target.id}`, `/api/tickets/${target.id}/qr`]
    for (const url of urls) {
      const response = await get(url, {})
      expectProblem(response, 401, 'unauthorized')
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/)
      expectProblem(await get(url, { authorization: 'Bearer tbk_not-a-real-key-at-all' }), 401, 'unauthorized')
    }
    expectProblem(await patch(`/api/tickets/${target.id}`, { attendeeName: 'x' }, {}), 401, 'unauthorized')
    expectProblem(await post(`/api/tickets/${target.id}/reissue`, {}), 401, 'unauthorized')

    const writer = await t.newIntegrator('Writer only', ['bookings:write'])
    const own = await book(booking.eventId, [{ ticketTierId: target.ticketTierId, quantity: 1 }], { headers: writer.headers })
    expectProblem(await get(`/api/bookings/${own.id}/tickets`, writer.headers), 403, 'insufficient-scope')
    expect(await ticket(target.id)).toEqual(target)
  })
})

describe('GET /api/ticket-keys and key rotation', () => {
  it('is public and cacheable, with an ETag that If-None-Match turns into a 304 without a body', async () => {
    const { keys, etag, cacheControl } = await keySet()
    expect(keys.keys.length).toBeGreaterThanOrEqual(1)
    for (const key of keys.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x'])
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
      expect(key.x).toMatch(/^[A-Za-z0-9_-]{43}$/)
    }
    expect(cacheControl).toMatch(/\bpublic\b/)
    expect(cacheControl).toMatch(/\bmax-age=\d+\b/)
    expect(typeof etag).toBe('string')
    expect(etag).toMatch(/^"[^"]+"$/)

    const notModified = await t.app.inject({ method: 'GET', url: '/api/ticket-keys', headers: { 'if-none-match': etag as string } })
    expect(notModified.statusCode).toBe(304)
    expect(notModified.body).toBe('')
    expect(notModified.headers.etag).toBe(etag)

    const stale = await t.app.inject({ method: 'GET', url: '/api/ticket-keys', headers: { 'if-none-match': '"not-the-etag"' } })
    expect(stale.statusCode).toBe(200)
    expect(stale.json()).toEqual(keys)
    // An integrator or admin key is not needed, and does not change the answer.
    expect((await get('/api/ticket-keys', asAdmin)).json()).toEqual(keys)
  })

  it('rotates: a new public key first, the old one kept while its codes are valid, old codes still verifying, new codes naming the new kid', async () => {
    const { eventId, a } = await eventWithTwoTiers()
    const before = await keySet()
    const oldKid = first(before.keys.keys).kid
    const old = first(await ticketsOf((await book(eventId, [{ ticketTierId: a, quantity: 1 }])).id))
    const oldVerified = await verify(codeOf(old), before.keys)
    expect(oldVerified.header.kid).toBe(oldKid)

    expectProblem(await post('/api/ticket-keys/rotate', {}), 401, 'unauthorized')
    expectProblem(await post('/api/ticket-keys/rotate', t.asIntegrator), 401, 'unauthorized')
    expect((await keySet()).etag).toBe(before.etag)

    const rotate = await post('/api/ticket-keys/rotate', asAdmin)
    expect(rotate.statusCode, rotate.body).toBe(201)
    const rotated = rotate.json<JWK>()
    expectNoPrivateParts(rotate.body, [rotated])
    expect(Object.keys(rotated).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x'])
    expect(rotated).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
    expect(rotated.x).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(rotated.kid).not.toBe(oldKid)
    expect(before.keys.keys.map((key) => key.kid)).not.toContain(rotated.kid)

    const after = await keySet()
    expect(after.etag).not.toBe(before.etag)
    expect(after.keys.keys[0]).toEqual(rotated)
    expect(after.keys.keys.map((key) => key.kid)).toContain(oldKid)
    expect(after.keys.keys.find((key) => key.kid === oldKid)).toEqual(first(before.keys.keys))
    // The old ETag no longer gives a 304.
    const revalidated = await t.app.inject({ method: 'GET', url: '/api/ticket-keys', headers: { 'if-none-match': before.etag ?? '' } })
    expect(revalidated.statusCode).toBe(200)

    // A code issued before the rotation still verifies with the new key set.
    expect((await verify(codeOf(old), after.keys)).payload).toStrictEqual(oldVerified.payload)
    expect((await ticket(old.id)).code).toBe(old.code)

    // New bookings, and reissues, are signed with the new key.
    const fresh = first(await ticketsOf((await book(eventId, [{ ticketTierId: a, quantity: 1 }])).id))
    expect((await verify(codeOf(fresh), after.keys)).header.kid).toBe(rotated.kid)
    const reissued = (await post(`/api/tickets/${old.id}/reissue`)).json<Ticket>()
    const reverified = await verify(codeOf(reissued), after.keys)
    expect(reverified.header.kid).toBe(rotated.kid)
    expect(reverified.payload).toMatchObject({ tid: old.id, ver: 2 })
    // A code of the new key does not verify with the key set from before the rotation.
    expect(await verificationError(codeOf(fresh), before.keys)).toBeInstanceOf(errors.JOSEError)
  })
})

describe('GET /api/events/{eventId}/revocations', FEED_TESTS, () => {
  it('never gives a null nextCursor, and the cursor of an empty feed later yields what came since', async () => {
    const { eventId, tickets } = await confirmedBooking()
    const empty = await revocationPage(eventId)
    expect(empty.data).toEqual([])
    expect(empty.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/)
    // Asked again with it, still nothing, and a cursor still.
    const still = await revocationPage(eventId, { cursor: empty.nextCursor })
    expect(still).toEqual({ data: [], nextCursor: empty.nextCursor })

    expect((await post(`/api/tickets/${first(tickets).id}/reissue`)).statusCode).toBe(200)
    const since = await revocationsOnceThere(eventId, 1, { cursor: empty.nextCursor })
    expect(since.data.map((entry) => [entry.ticketId, entry.ver, entry.reason])).toEqual([[first(tickets).id, 1, 'reissued']])
    expect(since.nextCursor).not.toBe(empty.nextCursor)
  })

  it('walks entries oldest first with limit=1, and the last cursor returns only entries written since', async () => {
    const { eventId, tickets } = await confirmedBooking()
    const [one, two, three] = tickets
    if (one === undefined || two === undefined || three === undefined) throw new Error('three tickets expected')
    expect((await post(`/api/tickets/${two.id}/reissue`)).statusCode).toBe(200)
    expect((await post(`/api/tickets/${one.id}/reissue`)).statusCode).toBe(200)
    expect((await post(`/api/tickets/${two.id}/reissue`)).statusCode).toBe(200)
    const all = await revocationsOnceThere(eventId, 3)
    expect(all.data.map((entry) => [entry.ticketId, entry.ver])).toEqual([[two.id, 1], [one.id, 1], [two.id, 2]])
    const times = all.data.map((entry) => Date.parse(entry.revokedAt))
    expect([...times].sort((x, y) => x - y)).toEqual(times)

    const walked: Revocation[] = []
    let cursor: string | undefined
    for (let page = 0; page < 3; page++) {
      const next = await revocationPage(eventId, cursor === undefined ? { limit: 1 } : { limit: 1, cursor })
      expect(next.data).toHaveLength(1)
      walked.push(...next.data)
      expect(next.nextCursor).not.toBe(cursor)
      cursor = next.nextCursor
    }
    expect(walked).toEqual(all.data)
    if (cursor === undefined) throw new Error('no cursor')
    expect(await revocationPage(eventId, { limit: 1, cursor })).toEqual({ data: [], nextCursor: cursor })
    expect(all.nextCursor).toBe(cursor)

    // Something new: only that comes after the last cursor.
    expect((await post(`/api/tickets/${three.id}/reissue`)).statusCode).toBe(200)
    const since = await revocationsOnceThere(eventId, 1, { cursor })
    expect(since.data.map((entry) => [entry.ticketId, entry.ver, entry.reason])).toEqual([[three.id, 1, 'reissued']])
    expect((await revocationPage(eventId, { cursor: since.nextCursor })).data).toEqual([])
  })

  it('numbers entries in commit order: a revocation waits for the event\'s open one, and no cursor passes an entry still to commit', async () => {
    const { eventId, a, booking: cancelling, tickets: cancelled } = await confirmedBooking()
    const kept = await book(eventId, [{ ticketTierId: a, quantity: 1 }])
    const reissuing = first(await ticketsOf(kept.id))
    const elsewhere = await confirmedBooking()
    const before = await revocationPage(eventId)
    // A real cancellation of a confirmed booking of the event, its codes revoked, not committed yet.
    const release = await holdInTransaction(t.sql, async (tx) => await changeStatus(tx, createTicketCodes(t.sql), cancelling.id, 'cancelled', { kind: 'admin' }))
    let reissued: Promise<{ statusCode: number }> | undefined
    try {
      // Another event's feed is not held up.
      expect((await post(`/api/tickets/${first(elsewhere.tickets).id}/reissue`)).statusCode).toBe(200)
      // This event's next revocation waits for the open one to end...
      reissued = post(`/api/tickets/${reissuing.id}/reissue`)
      await waitForLockWaiters(t.sql)
      // ...and meanwhile the feed lists none of them.
      expect(await revocationPage(eventId, { cursor: before.nextCursor })).toEqual({ data: [], nextCursor: before.nextCursor })
    } finally {
      await release()
    }
    expect((await reissued)?.statusCode).toBe(200)
    const listed = await revocationsOnceThere(eventId, 4, { cursor: before.nextCursor })
    expect(listed.data.map((entry) => [entry.ticketId, entry.reason])).toEqual([
      ...cancelled.map((ticket) => [ticket.id, 'cancelled']),
      [reissuing.id, 'reissued']
    ])
  })

  it('answers 400 for a malformed cursor, limit or event id, 404 for an unknown event, 401 to integrator keys and without a key', async () => {
    const { eventId } = await confirmedBooking()
    const forged = base64url.encode('r99999999999999999999')
    for (const cursor of ['zzzz', 'not a cursor!', forged, base64url.encode('1'), base64url.encode('r-1')]) {
      const response = await revocations(eventId, { cursor })
      expectProblem(response, 400, 'validation-error')
      expect(response.json().errors.map((error: { path: string }) => error.path)).toEqual(['/cursor'])
    }
    for (const limit of [0, 101, 'ten']) expectProblem(await revocations(eventId, { limit }), 400, 'validation-error')
    expectProblem(await get('/api/events/not-a-uuid/revocations', asAdmin), 400, 'validation-error')
    expectProblem(await revocations(randomUUID()), 404, 'not-found')

    const asIntegrator = await revocations(eventId, {}, t.asIntegrator)
    expectProblem(asIntegrator, 401, 'unauthorized')
    expect(asIntegrator.headers['www-authenticate']).toContain('invalid_token')
    expectProblem(await revocations(eventId, {}, {}), 401, 'unauthorized')
  })
})

describe('tampered codes', () => {
  /** Replaces the character at `index` of `text` with another base64url character. */
  function flipAt (text: string, index: number): string {
    const character = text[index]
    return `${text.slice(0, index)}${character === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`
  }

  it('never verify: a character flipped in each part, truncated, a payload moved under another signature, alg none', async () => {
    const { tickets } = await confirmedBooking()
    const { keys } = await keySet()
    const code = codeOf(tickets[0])
    const other = codeOf(tickets[1])
    await verify(code, keys)
    await verify(other, keys)
    const [header = '', payload = '', signature = ''] = code.split('.')
    const [, otherPayload = ''] = other.split('.')
    expect(otherPayload).not.toBe(payload)
    const noneHeader = base64url.encode(JSON.stringify({ alg: 'none', kid: JSON.parse(new TextDecoder().decode(base64url.decode(header))).kid }))

    const tampered: Array<[string, string]> = [
      ['header flipped', `${flipAt(header, Math.floor(header.length / 2))}.${payload}.${signature}`],
      ['payload flipped', `${header}.${flipAt(payload, Math.floor(payload.length / 2))}.${signature}`],
      ['signature flipped', `${header}.${payload}.${flipAt(signature, Math.floor(signature.length / 2))}`],
      ['signature flipped at its start', `${header}.${payload}.${flipAt(signature, 0)}`],
      ['truncated by one character', code.slice(0, -1)],
      ['truncated to half its signature', code.slice(0, code.length - Math.floor(signature.length / 2))],
      ['without its signature', `${header}.${payload}.`],
      ['header and payload only', `${header}.${payload}`],
      ['another ticket\'s payload under this signature', `${header}.${otherPayload}.${signature}`],
      ['alg none, no signature', `${noneHeader}.${payload}.`],
      ['alg none, with the signature', `${noneHeader}.${payload}.${signature}`]
    ]
    for (const [what, forged] of tampered) {
      expect(forged, what).not.toBe(code)
      const error = await verificationError(forged, keys)
      expect(error, what).toBeInstanceOf(errors.JOSEError)
    }
  })
})
