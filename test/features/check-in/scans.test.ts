import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../../src/app.js'
import type { Booking } from '../../../src/schemas/bookings.js'
import type { CheckIn, CheckInConflict, CheckInList, CheckInListStatus, CheckInResult, ScannerKeyCreated } from '../../../src/schemas/check-in.js'
import type { Ticket } from '../../../src/schemas/tickets.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTiers, problemType } from '../../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../../support/locks.js'
import { settledWithin } from '../../support/wait.js'
import { startReceiver } from '../../support/receiver.js'

/*
 * Scans and uploads end to end, against the real database: every answer of the contract's
 * "Check-in" section, exactly-once admission under real concurrency (64 simultaneous scans on two
 * apps with pools of their own), nonces that replay and nonces reused, offline uploads in
 * scannedAt order with conflicts, the status counts against the tables themselves, and the
 * ticket.checked_in webhook received and verified with the Standard Webhooks library.
 */

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

type Headers = Record<string, string>

function bearer (key: string): Headers {
  return { authorization: `Bearer ${key}` }
}

function expectProblem (response: LightMyRequestResponse, status: number, slug: string) {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = response.json<{ type: string, status: number, ticketId?: string, firstCheckIn?: { scannedAt: string, gate: string | null } }>()
  expect(body.type).toBe(problemType(slug))
  expect(body.status).toBe(status)
  return body
}

/** An event with VIP and GA tiers, an integrator's confirmed booking of `vip` and `ga` tickets, a scanner key and the tickets. */
async function door ({ vip = 2, ga = 1 } = {}) {
  const { eventId, tiers } = await createEventWithTiers(t.app, [{ name: 'VIP', price: 9000, capacity: 100, maxPerBooking: 50 }, { name: 'GA', price: 3000, capacity: 100, maxPerBooking: 50 }])
  const [vipTier, gaTier] = tiers
  if (vipTier === undefined || gaTier === undefined) throw new Error('the tiers were not made')
  const key = await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/scanner-keys`, headers: asAdmin, payload: { name: 'Gate 1' } })
  expect(key.statusCode, key.body).toBe(201)
  const booking = await book(eventId, [[vipTier.id, vip], [gaTier.id, ga]])
  return { eventId, vip: vipTier.id, ga: gaTier.id, scanner: bearer(key.json<ScannerKeyCreated>().key), booking, tickets: await ticketsOf(booking.id) }
}

async function book (eventId: string, items: Array<[string, number]>, hold = false): Promise<Booking> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/bookings',
    headers: t.asIntegrator,
    payload: { eventId, items: items.filter(([, quantity]) => quantity > 0).map(([ticketTierId, quantity]) => ({ ticketTierId, quantity })), ...(hold ? { hold: { ttlSeconds: 60 } } : {}) }
  })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<Booking>()
}

async function ticketsOf (bookingId: string): Promise<Ticket[]> {
  const response = await t.app.inject({ method: 'GET', url: `/api/bookings/${bookingId}/tickets`, headers: t.asIntegrator })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<{ data: Ticket[] }>().data
}

async function newList (eventId: string, payload: object = { name: 'Main door' }): Promise<CheckInList> {
  const response = await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/check-in-lists`, headers: asAdmin, payload })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<CheckInList>()
}

function codeOf (ticket: Ticket | undefined): string {
  if (ticket?.code == null) throw new Error('the ticket has no code')
  return ticket.code
}

async function scan (headers: Headers, payload: object, app: App = t.app) {
  return await app.inject({ method: 'POST', url: '/api/check-ins', headers, payload })
}

async function upload (headers: Headers, checkIns: object[]) {
  return await t.app.inject({ method: 'POST', url: '/api/check-ins/batch', headers, payload: { checkIns } })
}

async function status (listId: string, headers: Headers = asAdmin): Promise<CheckInListStatus> {
  const response = await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${listId}/status`, headers })
  expect(response.statusCode, response.body).toBe(200)
  return response.json<CheckInListStatus>()
}

async function recorded (listId: string): Promise<Array<{ result: string, type: string, nonce: string }>> {
  return await t.sql<Array<{ result: string, type: string, nonce: string }>>`select result, type, nonce from check_ins where check_in_list_id = ${listId} order by recorded_at, nonce`
}

const nonce = (): string => randomUUID()
const secondsAgo = (seconds: number): string => new Date(Date.now() - seconds * 1000).toISOString()

describe('an online scan', () => {
  it('admits a valid ticket with 201 and the ticket, then refuses a second entry with already-checked-in naming the first', async () => {
    const d = await door()
    const list = await newList(d.eventId)
    const ticket = d.tickets[0] as Ticket
    const first = await scan(d.scanner, { code: codeOf(ticket), checkInListId: list.id, nonce: 'n-1', gate: 'North gate' })
    expect(first.statusCode, first.body).toBe(201)
    const checkIn = first.json<CheckIn>()
    expect(checkIn).toMatchObject({ ticketId: ticket.id, checkInListId: list.id, type: 'entry', gate: 'North gate', nonce: 'n-1', ticket: { ...ticket } })
    expect(Date.parse(checkIn.scannedAt)).toBeLessThanOrEqual(Date.parse(checkIn.recordedAt))
    expect(first.headers['idempotent-replayed']).toBeUndefined()

    const again = await scan(d.scanner, { code: codeOf(ticket), checkInListId: list.id, nonce: 'n-2', gate: 'South gate' })
    const problem = expectProblem(again, 409, 'already-checked-in')
    expect(problem.ticketId).toBe(ticket.id)
    expect(problem.firstCheckIn).toEqual({ scannedAt: checkIn.scannedAt, gate: 'North gate' })
    // The refusal is recorded too: the log of a door includes its refusals.
    expect(await recorded(list.id)).toEqual([{ result: 'admitted', type: 'entry', nonce: 'n-1' }, { result: 'rejected', type: 'entry', nonce: 'n-2' }])
  })

  it('replays the first answer for the same nonce, refusals too, recording nothing more; another scan with it is a 422 nonce-reuse', async () => {
    const d = await door()
    const list = await newList(d.eventId)
    const [a, b] = d.tickets as [Ticket, Ticket]
    const first = await scan(d.scanner, { code: codeOf(a), checkInListId: list.id, nonce: 'same' })
    expect(first.statusCode).toBe(201)
    const replay = await scan(d.scanner, { code: codeOf(a), checkInListId: list.id, nonce: 'same' })
    expect(replay.statusCode).toBe(201)
    expect(replay.headers['idempotent-replayed']).toBe('true')
    expect(replay.json()).toEqual(first.json())

    const refused = await scan(d.scanner, { code: codeOf(a), checkInListId: list.id, nonce: 'refused' })
    expectProblem(refused, 409, 'already-checked-in')
    const refusedAgain = await scan(d.scanner, { code: codeOf(a), checkInListId: list.id, nonce: 'refused' })
    expectProblem(refusedAgain, 409, 'already-checked-in')
    expect(refusedAgain.headers['idempotent-replayed']).toBe('true')
    expect(refusedAgain.json()).toEqual(refused.json())

    for (const payload of [
      { code: codeOf(b), checkInListId: list.id, nonce: 'same' },
      { code: codeOf(a), checkInListId: list.id, nonce: 'same', type: 'exit' },
      { code: codeOf(a), checkInListId: (await newList(d.eventId, { name: 'Other door' })).id, nonce: 'same' }
    ]) {
      expectProblem(await scan(d.scanner, payload), 422, 'nonce-reuse')
    }
    expect((await recorded(list.id)).map((row) => row.nonce)).toEqual(['same', 'refused'])
    // b was never admitted: the reused nonce recorded nothing for it.
    expect((await status(list.id)).admitted).toBe(1)
  })

  it('admits one ticket exactly once when 64 scans of it arrive at once on two apps with pools of their own', async () => {
    const d = await door({ vip: 1, ga: 0 })
    const list = await newList(d.eventId)
    const code = codeOf(d.tickets[0])
    const apps = [await t.newApp({ pool: { max: 8 } }), await t.newApp({ pool: { max: 8 } })]
    const answers = await Promise.all(Array.from({ length: 64 }, async (_, i) => await scan(d.scanner, { code, checkInListId: list.id, nonce: `c-${i}`, gate: `gate ${i % 4}` }, apps[i % 2])))
    const statuses = answers.map((response) => response.statusCode)
    expect(statuses.filter((code) => code === 201)).toHaveLength(1)
    expect(statuses.filter((code) => code === 409)).toHaveLength(63)
    const admitted = answers.find((response) => response.statusCode === 201)?.json<CheckIn>()
    for (const refused of answers.filter((response) => response.statusCode === 409)) {
      expect(refused.json()).toMatchObject({ type: problemType('already-checked-in'), firstCheckIn: { scannedAt: admitted?.scannedAt, gate: admitted?.gate } })
    }
    const rows = await recorded(list.id)
    expect(rows.filter((row) => row.result === 'admitted')).toHaveLength(1)
    expect(rows).toHaveLength(64)
  })

  it('of other tickets, arriving while a batch is in flight, wait for it and are then decided together in one transaction', async () => {
    const d = await door({ vip: 11, ga: 0 })
    const list = await newList(d.eventId)
    const [first, ...others] = d.tickets as [Ticket, ...Ticket[]]
    // Another transaction holds the first ticket's place on the list, so the first scan's batch waits on it in the database.
    const release = await holdInTransaction(t.sql, async (tx) => await tx`
      insert into check_in_states (check_in_list_id, ticket_id, ticket_tier_id) values (${list.id}, ${first.id}, ${first.ticketTierId})
    `)
    const firstScan = scan(d.scanner, { code: codeOf(first), checkInListId: list.id, nonce: nonce() })
    await waitForLockWaiters(t.sql)

    const rest = others.map(async (ticket) => await scan(d.scanner, { code: codeOf(ticket), checkInListId: list.id, nonce: nonce() }))
    // Their tickets are free, but the batch in flight is the process's one: none is decided while it waits.
    expect(await settledWithin(rest, 500)).toBe(0)
    await release()

    expect((await firstScan).statusCode).toBe(201)
    const answers = await Promise.all(rest)
    expect(answers.map((response) => response.statusCode)).toEqual(others.map(() => 201))
    const ids = answers.map((response) => response.json<CheckIn>().id)
    // Rows inserted by one transaction carry its id as their xmin.
    const transactions = await t.sql<{ n: number }[]>`select count(distinct xmin::text)::int as n from check_ins where id = any(${ids}::uuid[])`
    expect(transactions[0]?.n).toBe(1)
  })

  it('lets a holder who went out back in exactly once when 32 entries of it arrive at once (a list with re-entry)', async () => {
    const d = await door({ vip: 1, ga: 0 })
    const list = await newList(d.eventId, { name: 'Re-entry', allowReentry: true })
    const code = codeOf(d.tickets[0])
    expect((await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce() })).statusCode).toBe(201)
    expect((await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce(), type: 'exit' })).statusCode).toBe(201)
    const apps = [await t.newApp({ pool: { max: 8 } }), await t.newApp({ pool: { max: 8 } })]
    const answers = await Promise.all(Array.from({ length: 32 }, async (_, i) => await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce() }, apps[i % 2])))
    expect(answers.filter((response) => response.statusCode === 201)).toHaveLength(1)
    expect(answers.filter((response) => response.statusCode === 409)).toHaveLength(31)
    expect(await status(list.id)).toMatchObject({ admitted: 1, inside: 1 })
  })

  it('gives every one of 32 simultaneous scans with one nonce the first answer, and records the scan once', async () => {
    const d = await door({ vip: 1, ga: 0 })
    const list = await newList(d.eventId)
    const payload = { code: codeOf(d.tickets[0]), checkInListId: list.id, nonce: 'one-nonce' }
    const apps = [await t.newApp({ pool: { max: 8 } }), await t.newApp({ pool: { max: 8 } })]
    const answers = await Promise.all(Array.from({ length: 32 }, async (_, i) => await scan(d.scanner, payload, apps[i % 2])))
    expect(answers.map((response) => response.statusCode)).toEqual(Array.from({ length: 32 }, () => 201))
    const bodies = new Set(answers.map((response) => response.body))
    expect(bodies.size).toBe(1)
    expect(answers.filter((response) => response.headers['idempotent-replayed'] === undefined)).toHaveLength(1)
    expect(await recorded(list.id)).toHaveLength(1)
  })

  it('refuses malformed, forged and foreign codes with 404 unknown-code, never a 500', async () => {
    const d = await door()
    const other = await door()
    const list = await newList(d.eventId)
    const code = codeOf(d.tickets[0])
    const [header, payload, signature] = code.split('.') as [string, string, string]
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BA' : 'AA'}`
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
    const otherTicket = Buffer.from(JSON.stringify({ ...claims, tid: d.tickets[1]?.id })).toString('base64url')
    const unknownTicket = Buffer.from(JSON.stringify({ ...claims, tid: randomUUID() })).toString('base64url')
    const strangeKid = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'no-such-key' })).toString('base64url')
    for (const garbage of [
      'x', 'not.a.code', `${header}.${payload}.${flipped}`, `${header}.${otherTicket}.${signature}`, `${header}.${unknownTicket}.${signature}`,
      `${strangeKid}.${payload}.${signature}`, `${header}.${payload}`, `${header}.${payload}.${signature}.extra.part`, code.toUpperCase(), '\u{1F3AB}'.repeat(50),
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`, `${header}.${Buffer.from('[1,2]').toString('base64url')}.${signature}`,
      codeOf(other.tickets[0])
    ]) {
      expectProblem(await scan(d.scanner, { code: garbage, checkInListId: list.id, nonce: nonce() }), 404, 'unknown-code')
    }
    expect((await recorded(list.id)).every((row) => row.result === 'rejected')).toBe(true)
    // The genuine code still gets in: none of the above touched its ticket.
    expect((await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce() })).statusCode).toBe(201)
  })

  it('refuses a void ticket, a revoked code and a tier the list does not admit, each with its type and the ticketId', async () => {
    const d = await door()
    const vipList = await newList(d.eventId, { name: 'VIP door', ticketTierIds: [d.vip] })
    const [vip1, vip2, ga] = d.tickets as [Ticket, Ticket, Ticket]

    const gaRefused = expectProblem(await scan(d.scanner, { code: codeOf(ga), checkInListId: vipList.id, nonce: nonce() }), 422, 'ticket-not-on-list')
    expect(gaRefused.ticketId).toBe(ga.id)

    const reissued = await t.app.inject({ method: 'POST', url: `/api/tickets/${vip1.id}/reissue`, headers: t.asIntegrator })
    expect(reissued.statusCode, reissued.body).toBe(200)
    const revoked = expectProblem(await scan(d.scanner, { code: codeOf(vip1), checkInListId: vipList.id, nonce: nonce() }), 409, 'code-revoked')
    expect(revoked.ticketId).toBe(vip1.id)
    expect((await scan(d.scanner, { code: codeOf(reissued.json<Ticket>()), checkInListId: vipList.id, nonce: nonce() })).statusCode).toBe(201)

    const cancelled = await t.app.inject({ method: 'POST', url: `/api/bookings/${d.booking.id}/cancel`, headers: t.asIntegrator })
    expect(cancelled.statusCode, cancelled.body).toBe(200)
    const voided = expectProblem(await scan(d.scanner, { code: codeOf(vip2), checkInListId: vipList.id, nonce: nonce() }), 409, 'ticket-void')
    expect(voided.ticketId).toBe(vip2.id)
    // The reissued ticket's old code stays revoked after the cancellation.
    expectProblem(await scan(d.scanner, { code: codeOf(vip1), checkInListId: vipList.id, nonce: nonce() }), 409, 'code-revoked')
  })

  it('lets holders out and in again on a list with re-entry, and refuses an exit of a ticket that is not inside', async () => {
    const d = await door({ vip: 1, ga: 0 })
    const code = codeOf(d.tickets[0])
    const reentry = await newList(d.eventId, { name: 'Re-entry door', allowReentry: true })
    expectProblem(await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce(), type: 'exit' }), 409, 'not-inside')
    expect((await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce() })).statusCode).toBe(201)
    const inside = expectProblem(await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce(), gate: 'B' }), 409, 'already-checked-in')
    expect(inside.firstCheckIn?.gate).toBeNull()
    const out = await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce(), type: 'exit' })
    expect(out.statusCode, out.body).toBe(201)
    expect(out.json<CheckIn>().type).toBe('exit')
    expectProblem(await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce(), type: 'exit' }), 409, 'not-inside')
    const back = await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce(), gate: 'C' })
    expect(back.statusCode).toBe(201)
    expect(expectProblem(await scan(d.scanner, { code, checkInListId: reentry.id, nonce: nonce() }), 409, 'already-checked-in').firstCheckIn?.gate).toBe('C')
    expect(await status(reentry.id)).toMatchObject({ admitted: 1, inside: 1 })

    // Without re-entry, a holder let out does not come back in.
    const once = await newList(d.eventId, { name: 'Once' })
    expect((await scan(d.scanner, { code, checkInListId: once.id, nonce: nonce() })).statusCode).toBe(201)
    expect((await scan(d.scanner, { code, checkInListId: once.id, nonce: nonce(), type: 'exit' })).statusCode).toBe(201)
    expectProblem(await scan(d.scanner, { code, checkInListId: once.id, nonce: nonce() }), 409, 'already-checked-in')
    expect(await status(once.id)).toMatchObject({ admitted: 1, inside: 0 })
  })

  it('answers 400 for a scannedAt more than 60 s ahead and for bad bodies, 404 for another event\'s list, 403 for an admin key, 401 for a revoked key', async () => {
    const d = await door()
    const other = await door()
    const list = await newList(d.eventId)
    const foreignList = await newList(other.eventId)
    const code = codeOf(d.tickets[0])
    expectProblem(await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce(), scannedAt: new Date(Date.now() + 120_000).toISOString() }), 400, 'validation-error')
    expect((await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce(), scannedAt: new Date(Date.now() + 30_000).toISOString() })).statusCode).toBe(201)
    for (const bad of [
      { code, checkInListId: list.id },
      { code, checkInListId: list.id, nonce: '' },
      { code, checkInListId: list.id, nonce: 'x'.repeat(101) },
      { code, checkInListId: list.id, nonce: nonce(), type: 'sideways' },
      { code, checkInListId: 'not-a-uuid', nonce: nonce() },
      { code: 'x'.repeat(1001), checkInListId: list.id, nonce: nonce() },
      { code, checkInListId: list.id, nonce: nonce(), gate: '' },
      { code, checkInListId: list.id, nonce: nonce(), scannedAt: 'yesterday' },
      { code, checkInListId: list.id, nonce: nonce(), typo: true }
    ]) {
      expectProblem(await scan(d.scanner, bad), 400, 'validation-error')
    }
    expectProblem(await scan(d.scanner, { code, checkInListId: foreignList.id, nonce: nonce() }), 404, 'not-found')
    expectProblem(await scan(d.scanner, { code, checkInListId: randomUUID(), nonce: nonce() }), 404, 'not-found')
    expectProblem(await scan(asAdmin, { code, checkInListId: list.id, nonce: nonce() }), 403, 'insufficient-scope')
    expectProblem(await scan(t.asIntegrator, { code, checkInListId: list.id, nonce: nonce() }), 401, 'unauthorized')
    expectProblem(await scan({}, { code, checkInListId: list.id, nonce: nonce() }), 401, 'unauthorized')

    const keys = await t.app.inject({ method: 'GET', url: `/api/events/${d.eventId}/scanner-keys`, headers: asAdmin })
    const keyId = keys.json<{ data: Array<{ id: string }> }>().data[0]?.id
    expect((await t.app.inject({ method: 'DELETE', url: `/api/events/${d.eventId}/scanner-keys/${keyId ?? ''}`, headers: asAdmin })).statusCode).toBe(204)
    expectProblem(await scan(d.scanner, { code: codeOf(d.tickets[1]), checkInListId: list.id, nonce: nonce() }), 401, 'unauthorized')
  })
})

describe('an offline upload', () => {
  it('applies scans in scannedAt order, one result per scan in request order, and records a second entry as a conflict', async () => {
    const d = await door()
    const list = await newList(d.eventId, { name: 'VIP door', ticketTierIds: [d.vip] })
    const [vip1, vip2, ga] = d.tickets as [Ticket, Ticket, Ticket]
    const scans = [
      // Sent out of order: the exit comes before its entry in the request, after it in time.
      { code: codeOf(vip1), checkInListId: list.id, nonce: 'exit-1', type: 'exit', scannedAt: secondsAgo(100) },
      { code: codeOf(vip1), checkInListId: list.id, nonce: 'entry-1', scannedAt: secondsAgo(200), gate: 'North' },
      { code: codeOf(vip2), checkInListId: list.id, nonce: 'entry-2', scannedAt: secondsAgo(150), gate: 'North' },
      { code: codeOf(ga), checkInListId: list.id, nonce: 'ga', scannedAt: secondsAgo(140) },
      { code: 'garbage', checkInListId: list.id, nonce: 'garbage', scannedAt: secondsAgo(130) },
      { code: codeOf(vip2), checkInListId: list.id, nonce: 'entry-2-again', scannedAt: secondsAgo(120), gate: 'South' },
      { code: codeOf(vip1), checkInListId: list.id, nonce: 'future', scannedAt: new Date(Date.now() + 3_600_000).toISOString() },
      { code: codeOf(vip2), checkInListId: list.id, nonce: 'entry-2', scannedAt: secondsAgo(150), gate: 'North' },
      { code: codeOf(vip1), checkInListId: list.id, nonce: 'entry-2', scannedAt: secondsAgo(110) }
    ]
    const response = await upload(d.scanner, scans)
    expect(response.statusCode, response.body).toBe(200)
    const results = response.json<{ results: CheckInResult[] }>().results
    expect(results.map((result) => [result.nonce, result.outcome, result.problem?.type ?? null])).toEqual([
      ['exit-1', 'admitted', null],
      ['entry-1', 'admitted', null],
      ['entry-2', 'admitted', null],
      ['ga', 'rejected', problemType('ticket-not-on-list')],
      ['garbage', 'rejected', problemType('unknown-code')],
      ['entry-2-again', 'conflict', problemType('already-checked-in')],
      ['future', 'rejected', problemType('validation-error')],
      ['entry-2', 'replayed', null],
      ['entry-2', 'rejected', problemType('nonce-reuse')]
    ])
    expect(results[0]?.checkIn).toMatchObject({ type: 'exit', ticketId: vip1.id })
    expect(results[7]?.checkIn).toEqual(results[2]?.checkIn)
    expect(results[5]?.checkIn).toMatchObject({ ticketId: vip2.id, nonce: 'entry-2-again', gate: 'South' })
    expect(results[5]?.problem).toMatchObject({ ticketId: vip2.id, firstCheckIn: { scannedAt: results[2]?.checkIn?.scannedAt, gate: 'North' } })

    // vip1 came in and went out; vip2 came in twice (one conflict): inside counts it once.
    expect(await status(list.id, d.scanner)).toEqual({
      tickets: 2, admitted: 2, inside: 1, conflicts: 1, byTier: [{ ticketTierId: d.vip, tickets: 2, admitted: 2, inside: 1 }]
    })
    const conflicts = await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/conflicts`, headers: d.scanner })
    expect(conflicts.statusCode, conflicts.body).toBe(200)
    expect(conflicts.json<{ data: CheckInConflict[], nextCursor: string | null }>()).toEqual({
      data: [{ ticketId: vip2.id, first: results[2]?.checkIn, second: { nonce: 'entry-2-again', scannedAt: scans[5]?.scannedAt, gate: 'South', recordedAt: results[5]?.checkIn?.recordedAt } }],
      nextCursor: null
    })
  })

  it('replays every recorded scan when the same upload comes again, and goes on after what is recorded', async () => {
    const d = await door({ vip: 3, ga: 0 })
    const list = await newList(d.eventId)
    const scans = d.tickets.map((ticket, i) => ({ code: codeOf(ticket), checkInListId: list.id, nonce: `u-${i}`, scannedAt: secondsAgo(60 - i) }))
    const first = (await upload(d.scanner, scans)).json<{ results: CheckInResult[] }>().results
    expect(first.map((result) => result.outcome)).toEqual(['admitted', 'admitted', 'admitted'])
    const again = (await upload(d.scanner, scans)).json<{ results: CheckInResult[] }>().results
    expect(again.map((result) => result.outcome)).toEqual(['replayed', 'replayed', 'replayed'])
    expect(again.map((result) => result.checkIn)).toEqual(first.map((result) => result.checkIn))
    expect(await recorded(list.id)).toHaveLength(3)
    // A scan from earlier than what is recorded still comes after it: an entry of a ticket inside is a conflict.
    const late = (await upload(d.scanner, [{ code: codeOf(d.tickets[0]), checkInListId: list.id, nonce: 'late', scannedAt: secondsAgo(3600) }])).json<{ results: CheckInResult[] }>().results
    expect(late[0]?.outcome).toBe('conflict')
    // An online single scan of a nonce an upload recorded replays it.
    const single = await scan(d.scanner, { code: codeOf(d.tickets[1]), checkInListId: list.id, nonce: 'u-1' })
    expect(single.statusCode).toBe(201)
    expect(single.headers['idempotent-replayed']).toBe('true')
    expect(single.json()).toEqual(first[1]?.checkIn)
    expect(await status(list.id)).toMatchObject({ tickets: 3, admitted: 3, inside: 3, conflicts: 1 })
  })

  it('takes 1,000 scans, refuses 1,001 with a 400 and an empty upload too', async () => {
    const d = await door({ vip: 50, ga: 50 })
    const list = await newList(d.eventId, { name: 'Re-entry', allowReentry: true })
    // 100 tickets, each in and out five times: 1,000 scans, in time order.
    const scans = Array.from({ length: 1000 }, (_, i) => ({
      code: codeOf(d.tickets[i % 100]),
      checkInListId: list.id,
      nonce: `bulk-${i}`,
      type: Math.floor(i / 100) % 2 === 0 ? 'entry' : 'exit',
      scannedAt: secondsAgo(2000 - i),
      gate: 'G'.repeat(100)
    }))
    const response = await upload(d.scanner, scans)
    expect(response.statusCode, response.body.slice(0, 500)).toBe(200)
    const outcomes = response.json<{ results: CheckInResult[] }>().results.map((result) => result.outcome)
    expect(outcomes).toEqual(Array.from({ length: 1000 }, () => 'admitted'))
    expect(await status(list.id)).toMatchObject({ tickets: 100, admitted: 100, inside: 0, conflicts: 0 })
    expectProblem(await upload(d.scanner, [...scans, { ...scans[0], nonce: 'one-too-many' }]), 400, 'validation-error')
    expectProblem(await upload(d.scanner, []), 400, 'validation-error')
    expectProblem(await upload(d.scanner, [{ ...scans[0], scannedAt: undefined, nonce: 'no-time' }]), 400, 'validation-error')
  })

  it('lists conflicts a page at a time', async () => {
    const d = await door({ vip: 5, ga: 0 })
    const list = await newList(d.eventId)
    const entries = d.tickets.map((ticket, i) => ({ code: codeOf(ticket), checkInListId: list.id, nonce: `in-${i}`, scannedAt: secondsAgo(100) }))
    const doubles = d.tickets.map((ticket, i) => ({ code: codeOf(ticket), checkInListId: list.id, nonce: `twice-${i}`, scannedAt: secondsAgo(50) }))
    expect((await upload(d.scanner, [...entries, ...doubles])).statusCode).toBe(200)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: LightMyRequestResponse = await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/conflicts?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, headers: asAdmin })
      expect(page.statusCode, page.body).toBe(200)
      const body: { data: CheckInConflict[], nextCursor: string | null } = page.json()
      expect(body.data.length).toBeLessThanOrEqual(2)
      seen.push(...body.data.map((conflict) => conflict.second.nonce))
      cursor = body.nextCursor
    } while (cursor !== null)
    expect(seen.sort()).toEqual(doubles.map((scan) => scan.nonce).sort())
    expect((await status(list.id)).conflicts).toBe(5)
  })
})

describe('the status of a list', () => {
  it('counts exactly what the tables hold after online scans, exits and uploads, every tier listed with zeros', async () => {
    const d = await door({ vip: 4, ga: 3 })
    // Tickets that are not valid do not count: a held booking's, and a cancelled one's.
    await book(d.eventId, [[d.vip, 2]], true)
    const cancelled = await book(d.eventId, [[d.ga, 2]])
    expect((await t.app.inject({ method: 'POST', url: `/api/bookings/${cancelled.id}/cancel`, headers: t.asIntegrator })).statusCode).toBe(200)
    const list = await newList(d.eventId, { name: 'Re-entry', allowReentry: true })
    const empty = await status(list.id)
    expect(empty).toEqual({ tickets: 7, admitted: 0, inside: 0, conflicts: 0, byTier: [{ ticketTierId: d.vip, tickets: 4, admitted: 0, inside: 0 }, { ticketTierId: d.ga, tickets: 3, admitted: 0, inside: 0 }] })
    const [v1, v2, v3] = d.tickets as [Ticket, Ticket, Ticket]
    await scan(d.scanner, { code: codeOf(v1), checkInListId: list.id, nonce: nonce() })
    await scan(d.scanner, { code: codeOf(v2), checkInListId: list.id, nonce: nonce() })
    await scan(d.scanner, { code: codeOf(v2), checkInListId: list.id, nonce: nonce(), type: 'exit' })
    await upload(d.scanner, [{ code: codeOf(v3), checkInListId: list.id, nonce: nonce(), scannedAt: secondsAgo(10) }])
    const counted = await status(list.id)
    const [truth] = await t.sql<Array<{ valid: number, admitted: number, inside: number }>>`
      select
        (select count(*)::int from tickets where event_id = ${d.eventId} and status = 'valid') as valid,
        (select count(distinct ticket_id)::int from check_ins where check_in_list_id = ${list.id} and result = 'admitted' and type = 'entry') as admitted,
        (select count(*)::int from (
          select distinct on (ticket_id) ticket_id, type from check_ins
          where check_in_list_id = ${list.id} and result <> 'rejected' order by ticket_id, recorded_at desc, scanned_at desc
        ) last where type = 'entry') as inside
    `
    expect(counted).toMatchObject({ tickets: truth?.valid, admitted: truth?.admitted, inside: truth?.inside })
    expect(counted).toEqual({ tickets: 7, admitted: 3, inside: 2, conflicts: 0, byTier: [{ ticketTierId: d.vip, tickets: 4, admitted: 3, inside: 2 }, { ticketTierId: d.ga, tickets: 3, admitted: 0, inside: 0 }] })
  })

  it('is read by the list\'s event\'s scanner key and admins only; another event\'s key gets 404', async () => {
    const d = await door()
    const other = await door()
    const list = await newList(d.eventId)
    expect((await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/status`, headers: d.scanner })).statusCode).toBe(200)
    for (const path of ['status', 'conflicts']) {
      expectProblem(await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/${path}`, headers: other.scanner }), 404, 'not-found')
      expectProblem(await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${randomUUID()}/${path}`, headers: asAdmin }), 404, 'not-found')
      expectProblem(await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/${path}`, headers: t.asIntegrator }), 401, 'unauthorized')
    }
  })
})

describe('the ticket.checked_in webhook', () => {
  it('reaches the booking\'s integrator, signed, with the ticket and the check-in, for admissions only', async () => {
    const receiver = await startReceiver()
    const app = await t.newApp({ config: { webhookAllowPrivateNetworks: true }, webhookDispatcher: { pollIntervalMs: 50 } })
    try {
      const endpoint = await app.inject({ method: 'POST', url: '/api/webhook-endpoints', headers: t.asIntegrator, payload: { url: receiver.url, events: ['ticket.checked_in'] } })
      expect(endpoint.statusCode, endpoint.body).toBe(201)
      const secret = endpoint.json<{ secret: string }>().secret
      const d = await door({ vip: 1, ga: 0 })
      const list = await newList(d.eventId)
      const code = codeOf(d.tickets[0])
      const admitted = await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce() })
      expect(admitted.statusCode).toBe(201)
      expectProblem(await scan(d.scanner, { code, checkInListId: list.id, nonce: nonce() }), 409, 'already-checked-in')
      const [delivery] = await receiver.waitFor((received) => received.length >= 1)
      const verified = new Webhook(secret).verify(delivery?.body ?? '', delivery?.headers as Record<string, string>) as { type: string, data: { ticket: Ticket, checkIn: CheckIn } }
      expect(verified.type).toBe('ticket.checked_in')
      expect(verified.data).toEqual({ ticket: admitted.json<CheckIn>().ticket, checkIn: admitted.json() })
      // Only the admission was sent (the refusal was not), and no booking event to this endpoint.
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(receiver.received).toHaveLength(1)
    } finally {
      await app.close()
      await receiver.close()
    }
  })
})
