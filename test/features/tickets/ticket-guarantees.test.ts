import { randomUUID } from 'node:crypto'
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose'
import { runner } from 'node-pg-migrate'
import type { TransactionSql } from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { migrate } from '../../../src/db/migrate.js'
import type { Queryable } from '../../../src/db/sql.js'
import { sweepLapsedHolds } from '../../../src/features/bookings/hold-sweeper.js'
import { toBookingRequest } from '../../../src/features/bookings/booking-request.js'
import { createBookingsRepository } from '../../../src/features/bookings/bookings-repository.js'
import { createIntegratorsRepository } from '../../../src/features/integrators/integrators-repository.js'
import { createTicketCodes } from '../../../src/features/tickets/codes.js'
import { migrationsDir } from '../../../src/paths.js'
import { ADMIN_KEY, createTestApp, readyApp, type TestApp } from '../../support/app.js'
import { createTestDatabase, type TestDatabase } from '../../support/database.js'
import { createEventWithTier, createEventWithTiers, createTier, ledger, overHttp, problemType } from '../../support/fixtures.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../../support/process.js'
import { waitUntil } from '../../support/wait.js'

/*
 * The guarantees of tickets, against the real database: it refuses any ticket state its booking
 * does not allow; a failure anywhere in a booking's transaction leaves neither booking nor
 * tickets; racing processes never make more tickets than a tier holds; bookings made before
 * tickets existed get theirs from the migration and their codes at start.
 */

type Tx = TransactionSql<{ bigint: number }>

interface TicketRow {
  id: string
  bookingId: string
  eventId: string
  ticketTierId: string
  itemPosition: number
  position: number
  status: 'pending' | 'valid' | 'void'
  code: string | null
  codeKid: string | null
  codeVersion: number
}

async function ticketsOf (sql: Queryable, bookingId: string): Promise<TicketRow[]> {
  return await sql<TicketRow[]>`
    select id, booking_id, event_id, ticket_tier_id, item_position, position, status, code, code_kid, code_version
    from tickets where booking_id = ${bookingId} order by position
  `
}

/** Verifies a ticket's code with a key set and checks that it names the ticket as its row does. */
async function expectCodeOf (keySet: JSONWebKeySet, ticket: TicketRow): Promise<void> {
  expect(ticket.code, `ticket ${ticket.id} has a code`).toEqual(expect.any(String))
  const code = ticket.code as string
  expect(code.length).toBeLessThanOrEqual(400)
  const header = decodeProtectedHeader(code)
  expect(header).toMatchObject({ alg: 'EdDSA', kid: ticket.codeKid })
  const { payload } = await compactVerify(code, createLocalJWKSet(keySet), { algorithms: ['EdDSA'] })
  expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toEqual({ tid: ticket.id, eid: ticket.eventId, tier: ticket.ticketTierId, ver: ticket.codeVersion })
}

async function keySetOf (sql: Queryable): Promise<JSONWebKeySet> {
  const rows = await sql<{ publicJwk: JSONWebKeySet['keys'][number] }[]>`select public_jwk from ticket_signing_keys`
  return { keys: rows.map((row) => row.publicJwk) }
}

describe('the database refuses tickets that disagree with their booking', () => {
  let t: TestApp
  let eventId: string
  let tierId: string
  let kid: string
  beforeAll(async () => {
    t = await createTestApp()
    ;({ eventId, tierId } = await createEventWithTier(t.app, { capacity: 1000 }))
    const booked = await book({ items: [{ ticketTierId: tierId, quantity: 1 }] })
    kid = (await ticketsOf(t.sql, booked.id))[0]?.codeKid as string
    expect(kid).toEqual(expect.any(String))
  })
  afterAll(async () => { await t.close() })

  async function book (body: { items: Array<{ ticketTierId: string, quantity: number }>, hold?: { ttlSeconds: number } }): Promise<{ id: string, status: string }> {
    const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, ...body } })
    expect(response.statusCode, response.body).toBe(201)
    return response.json()
  }

  async function held (quantity = 2) { return await book({ items: [{ ticketTierId: tierId, quantity }], hold: { ttlSeconds: 600 } }) }
  async function confirmed (quantity = 2) { return await book({ items: [{ ticketTierId: tierId, quantity }] }) }
  async function voided (quantity = 2) {
    const booking = await held(quantity)
    expect((await t.app.inject({ method: 'POST', url: `/api/bookings/${booking.id}/cancel`, headers: t.asIntegrator })).statusCode).toBe(200)
    return booking
  }

  /**
   * Runs `change` in a transaction that then commits, and expects the database to refuse it with
   * `constraint`: at commit for the deferred checks (`when: 'commit'`: every statement of `change`
   * went through), else at once (the tickets' checks run at the end of the statement that writes them).
   */
  async function expectRefused (change: (tx: Tx) => Promise<unknown>, constraint: string, when: 'commit' | 'at once', code = '23514'): Promise<void> {
    let statementsPassed = false
    await expect(t.sql.begin(async (tx) => {
      await change(tx)
      statementsPassed = true
    })).rejects.toMatchObject({ code, constraint_name: constraint })
    expect(statementsPassed, `refused ${when}`).toBe(when === 'commit')
  }

  /** Runs `change` with every deferred check applied at its end, then rolls it back: it must pass them all. */
  async function expectAccepted (change: (tx: Tx) => Promise<unknown>): Promise<void> {
    const rolledBack = new Error('rolled back on purpose')
    await expect(t.sql.begin(async (tx) => {
      await change(tx)
      await tx`set constraints all immediate`
      throw rolledBack
    })).rejects.toBe(rolledBack)
  }

  /** The state after a refusal: as it was before. */
  async function expectUnchanged (bookingId: string, status: string, ticketStatus: TicketRow['status']): Promise<void> {
    const [booking] = await t.sql<{ status: string }[]>`select status from bookings where id = ${bookingId}`
    expect(booking?.status).toBe(status)
    const tickets = await ticketsOf(t.sql, bookingId)
    expect(tickets.map((ticket) => ticket.status)).toEqual(tickets.map(() => ticketStatus))
    for (const ticket of tickets) expect(ticket.code === null).toBe(ticketStatus !== 'valid')
  }

  it('refuses a valid ticket (with a code) on a held booking, at once', async () => {
    const booking = await held()
    const [ticket] = await ticketsOf(t.sql, booking.id)
    await expectRefused(async (tx) => await tx`update tickets set status = 'valid', code = 'a.b.c', code_kid = ${kid} where id = ${ticket?.id ?? ''}`, 'tickets_agree_with_booking', 'at once')
    await expectRefused(async (tx) => await tx`update tickets set status = 'valid' where booking_id = ${booking.id}`, 'tickets_agree_with_booking', 'at once')
    await expectUnchanged(booking.id, 'held', 'pending')
  })

  it('refuses a pending or void ticket on a confirmed booking, at once', async () => {
    const booking = await confirmed()
    const [ticket] = await ticketsOf(t.sql, booking.id)
    for (const status of ['pending', 'void']) {
      await expectRefused(async (tx) => await tx`update tickets set status = ${status}, code = null, code_kid = null where id = ${ticket?.id ?? ''}`, 'tickets_agree_with_booking', 'at once')
    }
    await expectUnchanged(booking.id, 'confirmed', 'valid')
  })

  it('refuses a ticket brought back from void while its booking stays cancelled, at once', async () => {
    const booking = await voided()
    await expectRefused(async (tx) => await tx`update tickets set status = 'pending' where booking_id = ${booking.id}`, 'tickets_agree_with_booking', 'at once')
    await expectUnchanged(booking.id, 'cancelled', 'void')
  })

  it('refuses a booking confirmed while its tickets stay pending, at commit', async () => {
    const booking = await held()
    await expectRefused(async (tx) => await tx`update bookings set status = 'confirmed' where id = ${booking.id}`, 'bookings_tickets_agree', 'commit')
    await expectUnchanged(booking.id, 'held', 'pending')
  })

  it('refuses a booking cancelled while its tickets stay valid, at commit', async () => {
    const booking = await confirmed()
    await expectRefused(async (tx) => await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${booking.id}`, 'bookings_tickets_agree', 'commit')
    await expectUnchanged(booking.id, 'confirmed', 'valid')
  })

  it('refuses a hold cancelled or expired while its tickets stay pending, at commit', async () => {
    const booking = await held()
    await expectRefused(async (tx) => await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${booking.id}`, 'bookings_tickets_agree', 'commit')
    await expectRefused(async (tx) => {
      await tx`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${booking.id}`
      await tx`update bookings set status = 'expired' where id = ${booking.id}`
    }, 'bookings_tickets_agree', 'commit')
    await expectUnchanged(booking.id, 'held', 'pending')
  })

  it('accepts a booking and its tickets changed together, the booking first (as the service does), and refuses the tickets first', async () => {
    const hold = await held()
    await expectRefused(async (tx) => {
      await tx`update tickets set status = 'void' where booking_id = ${hold.id}`
      await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${hold.id}`
    }, 'tickets_agree_with_booking', 'at once')
    await expectAccepted(async (tx) => {
      await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${hold.id}`
      await tx`update tickets set status = 'void' where booking_id = ${hold.id}`
    })
    const booking = await confirmed()
    await expectAccepted(async (tx) => {
      await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${booking.id}`
      await tx`update tickets set status = 'void', code = null, code_kid = null where booking_id = ${booking.id}`
    })
    await expectAccepted(async (tx) => {
      await tx`update bookings set status = 'confirmed' where id = ${hold.id}`
      await tx`update tickets set status = 'valid', code = 'a.b.c', code_kid = ${kid} where booking_id = ${hold.id}`
    })
  })

  /** Writes a booking of `quantities` units (one item each) with `tickets` valid tickets, all by hand. */
  async function insertBooking (tx: Tx, quantities: number[], tickets: number): Promise<string> {
    const id = randomUUID()
    await tx`insert into bookings (id, integrator_id, event_id, status, total, currency) values (${id}, ${t.integrator.id}, ${eventId}, 'confirmed', 0, 'EUR')`
    const tiers = await tx<{ id: string }[]>`select id from ticket_tiers where event_id = ${eventId} order by creation_seq limit ${quantities.length}`
    expect(tiers).toHaveLength(quantities.length)
    for (const [position, quantity] of quantities.entries()) {
      await tx`insert into booking_items (booking_id, position, ticket_tier_id, tier_name, quantity, unit_price) values (${id}, ${position}, ${tiers[position]?.id ?? ''}, 'T', ${quantity}, 0)`
    }
    // All in one statement, as the service writes a booking's tickets.
    const itemOf = quantities.flatMap((quantity, position) => Array.from({ length: quantity }, () => position)).slice(0, tickets)
    while (itemOf.length < tickets) itemOf.push(0)
    if (tickets > 0) {
      await tx`
        insert into tickets (id, booking_id, event_id, ticket_tier_id, tier_name, item_position, position, status)
        select gen_random_uuid(), ${id}, ${eventId}, i.ticket_tier_id, i.tier_name, i.position, n.position, 'valid'
        from unnest(${itemOf}::smallint[]) with ordinality as n(item, position)
        join booking_items i on i.booking_id = ${id} and i.position = n.item
      `
    }
    return id
  }

  it('refuses a booking inserted with fewer (or more) tickets than booked units: at once, or at commit with none at all', async () => {
    await createEventWithTiers(t.app, [{ name: 'second' }]) // another event's tier must not count
    await createTier(t.app, eventId, { name: 'Balcony' }) // a second tier of this event, for a booking of two items
    await expectRefused(async (tx) => await insertBooking(tx, [3], 2), 'tickets_agree_with_booking', 'at once')
    await expectRefused(async (tx) => await insertBooking(tx, [1], 2), 'tickets_agree_with_booking', 'at once')
    await expectRefused(async (tx) => await insertBooking(tx, [2, 1], 2), 'tickets_agree_with_booking', 'at once') // an item without tickets
    await expectRefused(async (tx) => await insertBooking(tx, [2], 0), 'bookings_have_tickets', 'commit', '23503')
    await expectAccepted(async (tx) => await insertBooking(tx, [3], 3))
  })

  it('refuses a ticket added to a booking that already has one per unit, at once', async () => {
    const booking = await confirmed(2)
    const [first] = await ticketsOf(t.sql, booking.id)
    await expectRefused(async (tx) => await tx`
      insert into tickets (id, booking_id, event_id, ticket_tier_id, tier_name, item_position, position, status)
      values (${randomUUID()}, ${booking.id}, ${eventId}, ${tierId}, 'GA', ${first?.itemPosition ?? 0}, 3, 'valid')
    `, 'tickets_agree_with_booking', 'at once')
    expect(await ticketsOf(t.sql, booking.id)).toHaveLength(2)
  })

  it('refuses a ticket moved to another booking, at once', async () => {
    const [from, to] = [await confirmed(2), await confirmed(2)]
    const [ticket] = await ticketsOf(t.sql, from.id)
    await expectRefused(async (tx) => await tx`update tickets set booking_id = ${to.id}, position = 3 where id = ${ticket?.id ?? ''}`, 'tickets_identity_fixed', 'at once')
    expect(await ticketsOf(t.sql, from.id)).toHaveLength(2)
  })

  it('refuses a ticket of another tier or event than its booking item, written or changed, at once', async () => {
    const booking = await confirmed(1)
    const [ticket] = await ticketsOf(t.sql, booking.id)
    const other = await createEventWithTier(t.app)
    await expectRefused(async (tx) => await tx`update tickets set ticket_tier_id = ${other.tierId} where id = ${ticket?.id ?? ''}`, 'tickets_identity_fixed', 'at once')
    await expectRefused(async (tx) => await tx`update tickets set event_id = ${other.eventId} where id = ${ticket?.id ?? ''}`, 'tickets_identity_fixed', 'at once')
    await expectRefused(async (tx) => {
      const id = await insertBooking(tx, [1], 0)
      await tx`
        insert into tickets (id, booking_id, event_id, ticket_tier_id, tier_name, item_position, position, status)
        values (${randomUUID()}, ${id}, ${other.eventId}, ${other.tierId}, 'T', 0, 1, 'valid')
      `
    }, 'tickets_agree_with_booking', 'at once')
    expect(await ticketsOf(t.sql, booking.id)).toMatchObject([{ ticketTierId: tierId, eventId }])
  })

  it('refuses a code on a pending or void ticket, at once', async () => {
    for (const booking of [await held(), await voided()]) {
      const [ticket] = await ticketsOf(t.sql, booking.id)
      await expectRefused(async (tx) => await tx`update tickets set code = 'a.b.c', code_kid = ${kid} where id = ${ticket?.id ?? ''}`, 'tickets_code_only_when_valid', 'at once')
    }
  })

  it('refuses a valid ticket whose code lacks its kid (or the reverse), at once', async () => {
    const booking = await confirmed(1)
    const [ticket] = await ticketsOf(t.sql, booking.id)
    await expectRefused(async (tx) => await tx`update tickets set code_kid = null where id = ${ticket?.id ?? ''}`, 'tickets_code_has_kid', 'at once')
    await expectRefused(async (tx) => await tx`update tickets set code = null where id = ${ticket?.id ?? ''}`, 'tickets_code_has_kid', 'at once')
  })

  it('refuses to delete a ticket, of any status, at once', async () => {
    for (const booking of [await held(), await confirmed(), await voided()]) {
      const [ticket] = await ticketsOf(t.sql, booking.id)
      await expectRefused(async (tx) => await tx`delete from tickets where id = ${ticket?.id ?? ''}`, 'tickets_not_removed', 'at once')
      expect(await ticketsOf(t.sql, booking.id)).toHaveLength(2)
    }
    // Nor with the booking: its tickets hold it (and its items) in place.
    const booking = await confirmed()
    await expect(t.sql`delete from bookings where id = ${booking.id}`).rejects.toMatchObject({ code: '23503' })
    expect(await ticketsOf(t.sql, booking.id)).toHaveLength(2)
  })
})

describe('a failure inside a booking\'s transaction leaves neither booking nor tickets', () => {
  let t: TestApp
  beforeAll(async () => { t = await createTestApp() })
  afterAll(async () => { await t.close() })

  /** Installs a trigger that raises (`when` is its WHEN condition), runs `run`, and removes the trigger whatever happens. */
  async function withFailure (on: string, timing: string, when: string, run: () => Promise<void>): Promise<void> {
    const name = `forced_failure_${randomUUID().replaceAll('-', '')}`
    await t.sql.unsafe(`
      create function ${name}() returns trigger language plpgsql as $$
      begin raise exception 'forced failure in a booking transaction'; end $$;
      create trigger ${name} ${timing} on ${on} for each row when (${when}) execute function ${name}();
    `)
    try {
      await run()
    } finally {
      await t.sql.unsafe(`drop trigger ${name} on ${on}; drop function ${name}();`)
    }
  }

  async function post (url: string, payload?: object) {
    return await t.app.inject({ method: 'POST', url, headers: t.asIntegrator, ...(payload === undefined ? {} : { payload }) })
  }

  async function countOf (query: Promise<Array<{ n: number }>>): Promise<number> {
    return (await query)[0]?.n ?? -1
  }

  it('rolls back a booking whose tickets fail to be written, then books the same request on a retry', async () => {
    const { eventId, tiers: [plain, doomed] } = await createEventWithTiers(t.app, [{ name: 'Plain', capacity: 10 }, { name: 'Doomed', capacity: 10 }])
    const [a, b] = [plain?.id as string, doomed?.id as string]
    const body = { eventId, clientReference: `forced-${randomUUID()}`, items: [{ ticketTierId: a, quantity: 2 }, { ticketTierId: b, quantity: 3 }] }
    await withFailure('tickets', 'before insert', 'new.tier_name = \'Doomed\'', async () => {
      const response = await post('/api/bookings', body)
      expect(response.statusCode).toBe(500)
      expect(response.json().type).toBe(problemType('internal-error'))
      expect(response.body).not.toContain('forced failure')
      // A hold's tickets (pending, no code) fail the same way.
      expect((await post('/api/bookings', { ...body, clientReference: `forced-hold-${randomUUID()}`, hold: { ttlSeconds: 600 } })).statusCode).toBe(500)
    })

    for (const tier of [a, b]) expect(await ledger(t.sql, tier)).toMatchObject({ capacity: 10, remaining: 10, confirmed: 0, unreleased: 0, items: 0, emptyBookings: 0 })
    expect(await countOf(t.sql`select count(*)::int as n from bookings where event_id = ${eventId}`)).toBe(0)
    expect(await countOf(t.sql`select count(*)::int as n from tickets where event_id = ${eventId}`)).toBe(0)
    expect(await countOf(t.sql`select count(*)::int as n from webhook_events where body like ${`%${eventId}%`}`)).toBe(0)

    // The failed request did not use up its key: the retry is booked as new, with every ticket.
    const retried = await post('/api/bookings', body)
    expect(retried.statusCode).toBe(201)
    expect(retried.headers['idempotent-replayed']).toBeUndefined()
    const tickets = await ticketsOf(t.sql, retried.json().id)
    expect(tickets.map((ticket) => [ticket.ticketTierId, ticket.position, ticket.status])).toEqual([
      [a, 1, 'valid'], [a, 2, 'valid'], [b, 3, 'valid'], [b, 4, 'valid'], [b, 5, 'valid']
    ])
    for (const ticket of tickets) await expectCodeOf(await keySetOf(t.sql), ticket)
    expect(await ledger(t.sql, a)).toMatchObject({ remaining: 8, confirmed: 2 })
    expect(await ledger(t.sql, b)).toMatchObject({ remaining: 7, confirmed: 3 })
  })

  it('rolls back every booking of a batch when one booking\'s tickets fail, and nothing is left', async () => {
    const { eventId, tiers: [plain, doomed] } = await createEventWithTiers(t.app, [{ name: 'Plain', capacity: 10 }, { name: 'Doomed', capacity: 10 }])
    const [a, b] = [plain?.id as string, doomed?.id as string]
    const repository = createBookingsRepository(t.sql, createTicketCodes(t.sql))
    const request = (tier: string, quantity: number, hold?: { ttlSeconds: number }) =>
      toBookingRequest({ eventId, items: [{ ticketTierId: tier, quantity }], ...(hold === undefined ? {} : { hold }) }, undefined, t.integrator.id)
    const batch = [request(a, 2), request(a, 1, { ttlSeconds: 600 }), request(b, 1), request(a, 3)]
    await withFailure('tickets', 'before insert', 'new.tier_name = \'Doomed\'', async () => {
      await expect(repository.createBatch(batch)).rejects.toThrow('forced failure')
    })
    for (const tier of [a, b]) expect(await ledger(t.sql, tier)).toMatchObject({ capacity: 10, remaining: 10, confirmed: 0, unreleased: 0, items: 0, emptyBookings: 0 })
    expect(await countOf(t.sql`select count(*)::int as n from bookings where event_id = ${eventId}`)).toBe(0)
    expect(await countOf(t.sql`select count(*)::int as n from tickets where event_id = ${eventId}`)).toBe(0)

    const outcomes = await repository.createBatch(batch)
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['created', 'created', 'created', 'created'])
    const [units] = await t.sql<{ tickets: number, units: number }[]>`
      select (select count(*)::int from tickets where event_id = ${eventId}) as tickets,
        (select sum(i.quantity)::int from booking_items i join bookings b on b.id = i.booking_id where b.event_id = ${eventId}) as units
    `
    expect(units).toEqual({ tickets: 7, units: 7 })
  })

  it('keeps a hold held with pending tickets when issuing the codes at confirmation fails', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 5 })
    const hold = await post('/api/bookings', { eventId, hold: { ttlSeconds: 600 }, items: [{ ticketTierId: tierId, quantity: 2 }] })
    const id = hold.json().id as string
    await withFailure('tickets', 'before update', 'new.status = \'valid\'', async () => {
      expect((await post(`/api/bookings/${id}/confirm`)).statusCode).toBe(500)
    })
    const read = await t.app.inject({ method: 'GET', url: `/api/bookings/${id}`, headers: t.asIntegrator })
    expect(read.json().status).toBe('held')
    expect((await ticketsOf(t.sql, id)).map((ticket) => [ticket.status, ticket.code])).toEqual([['pending', null], ['pending', null]])
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 3, confirmed: 0, unreleased: 2 })

    expect((await post(`/api/bookings/${id}/confirm`)).statusCode).toBe(200)
    const tickets = await ticketsOf(t.sql, id)
    expect(tickets.map((ticket) => ticket.status)).toEqual(['valid', 'valid'])
    for (const ticket of tickets) await expectCodeOf(await keySetOf(t.sql), ticket)
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 3, confirmed: 2, unreleased: 0 })
  })

  it('keeps a confirmed booking confirmed, its codes valid and unrevoked, when recording the revocations at cancellation fails', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 5 })
    const booked = await post('/api/bookings', { eventId, items: [{ ticketTierId: tierId, quantity: 2 }] })
    const id = booked.json().id as string
    const before = await ticketsOf(t.sql, id)
    await withFailure('ticket_revocations', 'after insert', 'true', async () => {
      expect((await post(`/api/bookings/${id}/cancel`)).statusCode).toBe(500)
    })
    const read = await t.app.inject({ method: 'GET', url: `/api/bookings/${id}`, headers: t.asIntegrator })
    expect(read.json().status).toBe('confirmed')
    expect(await ticketsOf(t.sql, id)).toEqual(before)
    expect(await countOf(t.sql`select count(*)::int as n from ticket_revocations where event_id = ${eventId}`)).toBe(0)
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 3, confirmed: 2 })

    expect((await post(`/api/bookings/${id}/cancel`)).statusCode).toBe(200)
    expect((await ticketsOf(t.sql, id)).map((ticket) => [ticket.status, ticket.code])).toEqual([['void', null], ['void', null]])
    const revoked = await t.sql<{ ticketId: string, version: number }[]>`select ticket_id, version from ticket_revocations where event_id = ${eventId} order by ticket_id`
    expect(revoked).toEqual(before.map((ticket) => ({ ticketId: ticket.id, version: 1 })).sort((x, y) => x.ticketId.localeCompare(y.ticketId)))
    expect(await ledger(t.sql, tierId)).toMatchObject({ remaining: 5, confirmed: 0 })
  })
})

describe('tickets of a tier raced for by two server processes', () => {
  let db: TestDatabase
  const servers: ServerProcess[] = []
  beforeAll(async () => { db = await createTestDatabase() })
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
      await server.exited
    }
  })
  afterAll(async () => { await db.drop() })

  async function start (): Promise<string> {
    const server = spawnServer(loadServerEnv(db.url))
    servers.push(server)
    const base = await listeningAt(server)
    return base
  }

  it('never makes more live tickets than the tier holds, and every booking has one ticket per unit with a verifying code', async () => {
    const CAPACITY = 20
    const bases = await Promise.all([start(), start()])
    const server = (n: number): string => bases[n % 2] as string
    const { eventId, tierId } = await createEventWithTier(overHttp(server(0)), { capacity: CAPACITY, maxPerBooking: 3 })
    const authorization = `Bearer ${(await createIntegratorsRepository(db.sql).createWithKey('Racer')).key.key}`
    const call = async (base: string, method: 'GET' | 'POST', url: string, payload?: object): Promise<{ status: number, body: Record<string, unknown> }> => {
      const response = await fetch(`${base}${url}`, payload === undefined
        ? { method, headers: { authorization } }
        : { method, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(payload) })
      return { status: response.status, body: await response.json() as Record<string, unknown> }
    }
    const book = async (n: number, hold: boolean, quantity = 1 + (n % 3)) => await call(server(n), 'POST', '/api/bookings', {
      eventId, items: [{ ticketTierId: tierId, quantity }], ...(hold ? { hold: { ttlSeconds: 600 } } : {})
    })

    // Round one: 6 holds and 2 bookings of one ticket, then 40 buyers of 1 to 3 tickets (half of
    // them holding) racing for the other 12, on both processes.
    const seeded = await Promise.all(Array.from({ length: 8 }, async (_, n) => await book(n, n < 6, 1)))
    expect(seeded.map((response) => response.status)).toEqual(seeded.map(() => 201))
    const raced = await Promise.all(Array.from({ length: 40 }, async (_, n) => await book(n, n % 4 < 2)))
    expect(new Set(raced.map((response) => response.status))).toEqual(new Set([201, 409]))
    const first = [...seeded, ...raced]
    const holds = first.filter((response) => response.status === 201 && response.body.status === 'held').map((response) => response.body.id as string)
    const plain = first.filter((response) => response.status === 201 && response.body.status === 'confirmed').map((response) => response.body.id as string)

    // Some holds lapse (the database clock moved past them), which frees their tickets for others.
    const lapsing = holds.filter((_, n) => n % 3 === 2)
    await db.sql.begin(async (tx) => {
      const [row] = await tx<{ at: Date }[]>`update bookings set expires_at = clock_timestamp() - interval '1 second' where id in ${tx(lapsing)} returning expires_at as at`
      await tx`update booking_items set hold_expires_at = ${row?.at ?? null} where booking_id in ${tx(lapsing)} and not released and hold_expires_at is not null`
    })

    // Round two, all at once: holds confirmed (lapsed ones too, which must fail) and cancelled, a
    // confirmed booking cancelled, and 30 more buyers racing for what that frees.
    const second = await Promise.all([
      ...holds.map(async (id, n) => ({ id, action: n % 3 === 1 ? 'cancel' : 'confirm', response: await call(server(n), 'POST', `/api/bookings/${id}/${n % 3 === 1 ? 'cancel' : 'confirm'}`) })),
      ...plain.slice(0, 1).map(async (id) => ({ id, action: 'cancel', response: await call(server(1), 'POST', `/api/bookings/${id}/cancel`) })),
      ...Array.from({ length: 30 }, async (_, n) => ({ id: '', action: 'book', response: await book(n + 1, n % 4 === 0) }))
    ])
    for (const { id, action, response } of second) {
      if (lapsing.includes(id)) {
        expect(response.status, `confirming lapsed hold ${id}`).toBe(409)
        expect(response.body.type).toBe(problemType('hold-expired'))
      } else if (action === 'book') {
        expect([201, 409]).toContain(response.status)
      } else {
        expect(response.status, `${action} ${id}: ${JSON.stringify(response.body)}`).toBe(200)
      }
    }

    const bookings = await db.sql<{ id: string, status: string, live: boolean, units: number }[]>`
      select b.id, b.status, b.status = 'held' and b.expires_at > clock_timestamp() as live, sum(i.quantity)::int as units
      from bookings b join booking_items i on i.booking_id = b.id where b.event_id = ${eventId} group by b.id
    `
    expect(bookings.length).toBe(first.filter((each) => each.status === 201).length + second.filter((each) => each.action === 'book' && each.response.status === 201).length)

    // As clients see them, on either process: one ticket per unit, each with the status its booking allows.
    const allowed: Record<string, string> = { held: 'pending', confirmed: 'valid', cancelled: 'void', expired: 'void' }
    await Promise.all(bookings.map(async (booking, n) => {
      const [seenBooking, seenTickets] = await Promise.all([call(server(n), 'GET', `/api/bookings/${booking.id}`), call(server(n + 1), 'GET', `/api/bookings/${booking.id}/tickets`)])
      const status = seenBooking.body.status as string
      const data = seenTickets.body.data as Array<{ status: string, position: number, code: string | null }>
      expect(data.map((ticket) => ticket.position)).toEqual(Array.from({ length: booking.units }, (_, k) => k + 1))
      expect(new Set(data.map((ticket) => ticket.status)), `booking ${booking.id} is ${status}`).toEqual(new Set([allowed[status]]))
    }))

    // Live tickets (valid, or pending in a live hold) are the confirmed and live-held units, within capacity.
    const live = async (): Promise<{ tickets: number, units: number }> => {
      const [row] = await db.sql<{ tickets: number, units: number }[]>`
        select
          (select count(*)::int from tickets t join bookings b on b.id = t.booking_id
           where t.ticket_tier_id = ${tierId} and (t.status = 'valid' or (t.status = 'pending' and b.expires_at > clock_timestamp()))) as tickets,
          (select coalesce(sum(i.quantity), 0)::int from booking_items i join bookings b on b.id = i.booking_id
           where i.ticket_tier_id = ${tierId} and (b.status = 'confirmed' or (b.status = 'held' and b.expires_at > clock_timestamp()))) as units
      `
      return row ?? { tickets: -1, units: -1 }
    }
    const before = await live()
    expect(before.tickets).toBe(before.units)
    expect(before.tickets).toBeLessThanOrEqual(CAPACITY)
    const tier = await ledger(db.sql, tierId)
    expect(before.units).toBeLessThanOrEqual(CAPACITY - tier.remaining)

    // Once the lapsed holds are swept, the stored statuses say the same: nothing non-void beyond capacity.
    const codes = createTicketCodes(db.sql)
    await waitUntil(async () => {
      await sweepLapsedHolds(db.sql, codes)
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from bookings where event_id = ${eventId} and status = 'held' and expires_at <= clock_timestamp()`
      return row?.n === 0
    }, 'the lapsed holds are swept')
    const [stored] = await db.sql<{ nonVoid: number }[]>`select count(*)::int as non_void from tickets where ticket_tier_id = ${tierId} and status <> 'void'`
    expect(stored?.nonVoid).toBe((await live()).units)
    expect(stored?.nonVoid).toBeLessThanOrEqual(CAPACITY)
    expect(await ledger(db.sql, tierId)).toMatchObject({ capacity: CAPACITY })

    // Every booking: one ticket per unit, positions 1..n, each ticket's status the booking's; no ticket twice.
    const perBooking = await db.sql<{ bookingId: string, status: string, units: number, tickets: number, positions: number[], disagreeing: number }[]>`
      select b.id as booking_id, b.status,
        (select sum(quantity)::int from booking_items where booking_id = b.id) as units,
        count(t.id)::int as tickets, array_agg(t.position order by t.position) as positions,
        count(*) filter (where t.status <> ticket_status_of(b.status))::int as disagreeing
      from bookings b join tickets t on t.booking_id = b.id where b.event_id = ${eventId} group by b.id
    `
    expect(perBooking).toHaveLength(bookings.length)
    for (const row of perBooking) {
      expect(row.tickets, `booking ${row.bookingId}`).toBe(row.units)
      expect(row.positions).toEqual(Array.from({ length: row.units }, (_, k) => k + 1))
      expect(row.disagreeing).toBe(0)
    }
    const [unique] = await db.sql<{ tickets: number, ids: number, places: number }[]>`
      select count(*)::int as tickets, count(distinct id)::int as ids, count(distinct (booking_id, position))::int as places from tickets where event_id = ${eventId}
    `
    expect(unique?.ids).toBe(unique?.tickets)
    expect(unique?.places).toBe(unique?.tickets)

    // Both processes signed with the one key they raced to create; every valid code verifies with the published set.
    const keySets = await Promise.all(bases.map(async (base) => (await call(base, 'GET', '/api/ticket-keys')).body as unknown as JSONWebKeySet))
    expect(keySets[1]).toEqual(keySets[0])
    expect(keySets[0]?.keys).toHaveLength(1)
    const valid = (await db.sql<TicketRow[]>`
      select id, booking_id, event_id, ticket_tier_id, item_position, position, status, code, code_kid, code_version from tickets where event_id = ${eventId} and status = 'valid'
    `)
    expect(valid.length).toBeGreaterThan(0)
    for (const ticket of valid) await expectCodeOf(keySets[0] as JSONWebKeySet, ticket)
    const [keys] = await db.sql<{ n: number }[]>`select count(*)::int as n from ticket_signing_keys`
    expect(keys?.n).toBe(1)

    // The codes that died with the cancelled confirmed booking are revoked, once each; a hold's tickets never had a code to revoke.
    const revoked = await db.sql<{ ticketId: string, version: number }[]>`select ticket_id, version from ticket_revocations where event_id = ${eventId} order by ticket_id`
    const cancelledTickets = await ticketsOf(db.sql, plain[0] as string)
    expect(revoked).toEqual(cancelledTickets.map((ticket) => ({ ticketId: ticket.id, version: 1 })).sort((x, y) => x.ticketId.localeCompare(y.ticketId)))
  })
})

describe('bookings made before tickets existed', () => {
  let db: TestDatabase
  beforeAll(async () => { db = await createTestDatabase() })
  afterAll(async () => { await db.drop() })

  it('get their tickets from the migration and their codes from signMissingCodes, in item order', async () => {
    // The schema as it was before tickets: every migration up to the webhooks one.
    await db.sql`drop schema public cascade`
    await db.sql`create schema public`
    const quiet = { debug () {}, info () {}, warn () {}, error () {} }
    const applied = await runner({
      databaseUrl: db.url, dir: migrationsDir, migrationsTable: 'pgmigrations', direction: 'up', count: 1795651000000, timestamp: true, singleTransaction: true, verbose: false, logger: quiet
    })
    expect(applied.map((migration) => migration.name).at(-1)).toBe('1795651000000_webhooks')
    const [tables] = await db.sql<{ n: number }[]>`select count(*)::int as n from pg_tables where tablename = 'tickets'`
    expect(tables?.n).toBe(0)

    // Bookings as the service wrote them then: confirmed, held, cancelled, expired, over two tiers.
    const [event] = await db.sql<{ id: string }[]>`insert into events (name, venue, starts_at, currency) values ('Before', 'Hall', now(), 'EUR') returning id`
    const eventId = event?.id as string
    const tiers = await db.sql<{ id: string, name: string }[]>`
      insert into ticket_tiers (event_id, name, price, capacity, remaining) values (${eventId}, 'VIP', 100, 100, 100), (${eventId}, 'GA', 50, 100, 100) returning id, name
    `
    // Written as the schema of then takes it (today's repository reads columns that came later).
    const [integrator] = await db.sql<{ id: string }[]>`insert into integrators (name) values ('Before tickets') returning id`
    if (integrator === undefined) throw new Error('no integrator was made')
    const vip = tiers.find((tier) => tier.name === 'VIP')?.id as string
    const ga = tiers.find((tier) => tier.name === 'GA')?.id as string
    const booked = async (status: 'held' | 'confirmed', items: Array<[string, string, number]>, lapsed = false): Promise<string> => {
      const id = randomUUID()
      await db.sql`
        insert into bookings (id, integrator_id, event_id, status, total, currency, expires_at)
        values (${id}, ${integrator.id}, ${eventId}, ${status}, 0, 'EUR', ${status === 'held' ? db.sql`clock_timestamp() + ${lapsed ? '-1 second' : '10 minutes'}::interval` : null})
      `
      for (const [position, [tierId, name, quantity]] of items.entries()) {
        await db.sql`insert into booking_items (booking_id, position, ticket_tier_id, tier_name, quantity, unit_price) values (${id}, ${position}, ${tierId}, ${name}, ${quantity}, 0)`
      }
      return id
    }
    const confirmed = await booked('confirmed', [[ga, 'GA', 2], [vip, 'VIP', 3]])
    const single = await booked('confirmed', [[vip, 'VIP', 1]])
    const held = await booked('held', [[vip, 'VIP', 2]])
    const cancelled = await booked('confirmed', [[ga, 'GA', 1], [vip, 'VIP', 1]])
    await db.sql`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${cancelled}`
    const expired = await booked('held', [[ga, 'GA', 2]], true)
    await db.sql`update bookings set status = 'expired' where id = ${expired}`
    // The stock as those bookings left it: given back by the cancelled and expired ones, held by the hold.
    await db.sql`update booking_items i set released = true from bookings b where b.id = i.booking_id and b.status in ('cancelled', 'expired')`
    await db.sql`update booking_items i set hold_expires_at = b.expires_at from bookings b where b.id = i.booking_id and b.status = 'held'`
    await db.sql`
      update ticket_tiers t set
        held = coalesce((select sum(i.quantity) from booking_items i join bookings b on b.id = i.booking_id where i.ticket_tier_id = t.id and b.status = 'held'), 0),
        remaining = capacity - coalesce((select sum(i.quantity) from booking_items i join bookings b on b.id = i.booking_id where i.ticket_tier_id = t.id and b.status in ('held', 'confirmed')), 0)
      where event_id = ${eventId}
    `
    expect(await ledger(db.sql, vip)).toMatchObject({ capacity: 100, remaining: 94, confirmed: 4, unreleased: 2 })

    // The tickets migration (and any after it) makes one ticket per unit, as the booking allows.
    expect(await migrate(db.url)).toContain('1795700000000_tickets')
    const key = await createIntegratorsRepository(db.sql).createKey(integrator.id, {})
    if (key === undefined) throw new Error('no key was made')
    const expectTickets = async (bookingId: string, status: TicketRow['status'], tiersInOrder: string[]): Promise<TicketRow[]> => {
      const tickets = await ticketsOf(db.sql, bookingId)
      expect(tickets.map((ticket) => [ticket.position, ticket.ticketTierId, ticket.status, ticket.eventId])).toEqual(tiersInOrder.map((tier, n) => [n + 1, tier, status, eventId]))
      return tickets
    }
    expect((await ticketsOf(db.sql, confirmed)).map((ticket) => ticket.itemPosition)).toEqual([0, 0, 1, 1, 1])
    for (const ticket of await expectTickets(confirmed, 'valid', [ga, ga, vip, vip, vip])) expect(ticket.code).toBeNull()
    await expectTickets(single, 'valid', [vip])
    await expectTickets(held, 'pending', [vip, vip])
    await expectTickets(cancelled, 'void', [ga, vip])
    await expectTickets(expired, 'void', [ga, ga])

    // Two processes starting at once sign the missing codes between them, each exactly once (in batches of 2 here).
    const counts = await Promise.all([createTicketCodes(db.sql).signMissingCodes(2), createTicketCodes(db.sql).signMissingCodes(2)])
    expect(counts[0] + counts[1]).toBe(6)
    expect(await createTicketCodes(db.sql).signMissingCodes()).toBe(0)

    const keySet = await keySetOf(db.sql)
    expect(keySet.keys).toHaveLength(1)
    for (const ticket of [...await expectTickets(confirmed, 'valid', [ga, ga, vip, vip, vip]), ...await expectTickets(single, 'valid', [vip])]) {
      expect(ticket.codeVersion).toBe(1)
      await expectCodeOf(keySet, ticket)
    }
    for (const ticket of [...await expectTickets(held, 'pending', [vip, vip]), ...await expectTickets(cancelled, 'void', [ga, vip]), ...await expectTickets(expired, 'void', [ga, ga])]) {
      expect([ticket.code, ticket.codeKid]).toEqual([null, null])
    }

    // And the old bookings then move like new ones: the hold is confirmed with codes, through the app.
    const app = await readyApp(db.sql)
    try {
      const admin = await app.inject({ method: 'GET', url: `/api/bookings/${held}/tickets`, headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect(admin.json().data.map((ticket: { status: string }) => ticket.status)).toEqual(['pending', 'pending'])
      const confirm = await app.inject({ method: 'POST', url: `/api/bookings/${held}/confirm`, headers: { authorization: `Bearer ${key.key}` } })
      expect(confirm.statusCode, confirm.body).toBe(200)
      for (const ticket of await expectTickets(held, 'valid', [vip, vip])) await expectCodeOf(keySet, ticket)
      expect(await ledger(db.sql, vip)).toMatchObject({ capacity: 100, remaining: 94, confirmed: 6, unreleased: 0 })
    } finally {
      await app.close()
    }
  })
})
