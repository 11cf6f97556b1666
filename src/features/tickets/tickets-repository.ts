import type { Queryable, Sql } from '../../db/sql.js'
import type { Principal } from '../../domain/principal.js'
import { ProblemError, problemKinds, validationProblem } from '../../problems.js'
import type { Ticket } from '../../schemas/tickets.js'
import { visibleTo } from '../bookings/booking-reads.js'
import type { TicketCodes } from './codes.js'
import { revoke } from './issuing.js'
import { createTicketListCache, type TicketListCache } from './ticket-list-cache.js'

export interface TicketRow {
  id: string
  bookingId: string
  eventId: string
  ticketTierId: string
  tierName: string
  position: number
  status: Ticket['status']
  code: string | null
  codeVersion: number
  attendeeName: string | null
  createdAt: Date
  reissuedAt: Date | null
}

export function toTicket (row: TicketRow): Ticket {
  return {
    id: row.id,
    bookingId: row.bookingId,
    eventId: row.eventId,
    ticketTierId: row.ticketTierId,
    tierName: row.tierName,
    position: row.position,
    status: row.status,
    code: row.code,
    attendeeName: row.attendeeName,
    createdAt: row.createdAt.toISOString(),
    reissuedAt: row.reissuedAt?.toISOString() ?? null
  }
}

/**
 * A ticket as clients see it, in one statement with its booking (one snapshot, so the two never
 * disagree): a lapsed hold's pending tickets are `void` from the instant it lapses, whether or not
 * the sweep has run.
 */
export function ticketColumns (q: Queryable) {
  return q`
    t.id, t.booking_id, t.event_id, t.ticket_tier_id, t.tier_name, t.position,
    case when t.status = 'pending' and b.expires_at <= clock_timestamp() then 'void' else t.status end as status,
    t.code, t.code_version, t.attendee_name, t.created_at, t.reissued_at
  `
}

function voidTicket (id: string): ProblemError {
  return new ProblemError(problemKinds.ticketVoid, `Ticket ${id} is void: its booking was cancelled or its hold expired.`)
}

function withoutCode (row: TicketRow): ProblemError {
  return row.status === 'void'
    ? voidTicket(row.id)
    : new ProblemError(problemKinds.ticketPending, `Ticket ${row.id} has no code while its booking is held; confirm the booking first.`)
}

/** Revocations feed cursors are opaque to clients: base64url of the last entry's number in its event's feed. */
function encodeFeedCursor (seq: string): string {
  return Buffer.from(`r${seq}`).toString('base64url')
}

/** The number after which to read; 0 (the start) without a cursor. */
function decodeFeedCursor (cursor: string | undefined): string {
  if (cursor === undefined) return '0'
  const match = /^r(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (match?.[1] === undefined || BigInt(match[1]) >= 2n ** 63n) {
    throw validationProblem(
      [{ path: '/cursor', message: 'is not a cursor returned by this API' }],
      'The query string is not valid: /cursor is not a cursor returned by this API.'
    )
  }
  return match[1]
}

export function createTicketsRepository (sql: Sql, codes: TicketCodes, cache: TicketListCache = createTicketListCache()) {
  /**
   * Locks the booking of a ticket the principal may see, then the ticket: the lock order of every
   * change of tickets (a booking's status change holds its booking's lock when it moves them), and
   * the ticket's change moves the booking's tickets_version. Undefined when there is no such ticket.
   */
  async function lockTicket (tx: Queryable, id: string, principal: Principal): Promise<TicketRow | undefined> {
    const [booking] = await tx`
      select id from bookings where id = (select booking_id from tickets where id = ${id}) and ${visibleTo(tx, principal)}
      for update
    `
    if (booking === undefined) return undefined
    return await ticketRow(tx, id, principal, true)
  }

  /** A ticket the principal may see, locked when `lock` (its row only: no lock order to keep with bookings). */
  async function ticketRow (q: Queryable, id: string, principal: Principal, lock = false): Promise<TicketRow | undefined> {
    const [row] = await q<TicketRow[]>`
      select ${ticketColumns(q)} from tickets t join bookings b on b.id = t.booking_id
      where t.id = ${id} and ${visibleTo(q, principal, 'b')}
      ${lock ? q`for update of t` : q``}
    `
    return row
  }

  async function readTicket (q: Queryable, id: string, principal: Principal): Promise<Ticket | undefined> {
    const row = await ticketRow(q, id, principal)
    return row === undefined ? undefined : toTicket(row)
  }

  return {
    /**
     * A booking's tickets in position order, serialized by `serialize` (and encoded); undefined when the
     * principal has no such booking. A list whose booking is settled (not held: a hold's tickets
     * turn void at its expiry, with no write) is served from `cache` while its tickets_version is
     * the one the database has.
     */
    async listByBooking (bookingId: string, principal: Principal, serialize: (list: { data: Ticket[] }) => string): Promise<Buffer | undefined> {
      const [booking] = await sql<{ ticketsVersion: number, held: boolean }[]>`
        select tickets_version, status = 'held' as held from bookings where id = ${bookingId} and ${visibleTo(sql, principal)}
      `
      if (booking === undefined) return undefined
      if (!booking.held) {
        const cached = cache.get(bookingId, booking.ticketsVersion)
        if (cached !== undefined) return cached
      }
      // The tickets and the version they are at, in one statement (one snapshot).
      const rows = await sql<(TicketRow & { ticketsVersion: number, held: boolean })[]>`
        select ${ticketColumns(sql)}, b.tickets_version, b.status = 'held' as held
        from tickets t join bookings b on b.id = t.booking_id
        where t.booking_id = ${bookingId} and ${visibleTo(sql, principal, 'b')}
        order by t.position
      `
      const first = rows[0]
      if (first === undefined) return undefined
      const body = Buffer.from(serialize({ data: rows.map(toTicket) }))
      if (!first.held) cache.set(bookingId, first.ticketsVersion, body)
      return body
    },

    async findById (id: string, principal: Principal): Promise<Ticket | undefined> {
      return await readTicket(sql, id, principal)
    },

    /** The code of a ticket that has one; a 409 for a pending or void ticket. */
    async code (id: string, principal: Principal): Promise<string | undefined> {
      const row = await ticketRow(sql, id, principal)
      if (row === undefined) return undefined
      if (row.code === null) throw withoutCode(row)
      return row.code
    },

    /** Names (or un-names) a pending or valid ticket's holder; a void ticket is a 409. */
    async name (id: string, principal: Principal, attendeeName: string | null): Promise<Ticket | undefined> {
      return await sql.begin(async (tx) => {
        const row = await lockTicket(tx, id, principal)
        if (row === undefined) return undefined
        if (row.status === 'void') throw voidTicket(id)
        await tx`update tickets set attendee_name = ${attendeeName} where id = ${id}`
        return await readTicket(tx, id, principal)
      })
    },

    /** A new code for a valid ticket (`ver` + 1); the old one is revoked in the same transaction. */
    async reissue (id: string, principal: Principal): Promise<Ticket | undefined> {
      return await sql.begin(async (tx) => {
        const row = await lockTicket(tx, id, principal)
        if (row === undefined) return undefined
        if (row.status !== 'valid') throw withoutCode(row)
        const [signed] = await codes.sign([{ tid: row.id, eid: row.eventId, tier: row.ticketTierId, ver: row.codeVersion + 1 }], tx)
        if (signed === undefined) throw new Error('no code was signed')
        const [reissued] = await tx<{ reissuedAt: Date }[]>`
          update tickets set code = ${signed.code}, code_kid = ${signed.kid}, code_version = code_version + 1, reissued_at = clock_timestamp()
          where id = ${id}
          returning reissued_at
        `
        // The old code is revoked at the instant the new one is issued.
        await revoke(tx, row.eventId, [{ ticketId: id, version: row.codeVersion, reason: 'reissued' }], reissued?.reissuedAt)
        return await readTicket(tx, id, principal)
      })
    },

    /**
     * The event's revocations after `cursor`, oldest first, and the cursor to ask again with;
     * undefined when the event does not exist. Entries are numbered per event in commit order
     * (tickets migration), so none ever becomes visible behind a cursor already handed out.
     */
    async revocations (eventId: string, limit: number, cursor: string | undefined) {
      const after = decodeFeedCursor(cursor)
      const [event] = await sql`select 1 from events where id = ${eventId}`
      if (event === undefined) return undefined
      const rows = await sql<{ seq: string, ticketId: string, ver: number, reason: 'reissued' | 'cancelled', revokedAt: Date }[]>`
        select seq::text, ticket_id, version as ver, reason, revoked_at
        from ticket_revocations
        where event_id = ${eventId} and seq > ${after}::bigint
        order by seq
        limit ${limit}
      `
      return {
        data: rows.map((row) => ({ ticketId: row.ticketId, ver: row.ver, reason: row.reason, revokedAt: row.revokedAt.toISOString() })),
        nextCursor: encodeFeedCursor(rows.at(-1)?.seq ?? after)
      }
    }
  }
}

export type TicketsRepository = ReturnType<typeof createTicketsRepository>
