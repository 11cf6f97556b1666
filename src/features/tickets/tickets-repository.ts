import type { Queryable, Sql } from '../../db/sql.js'
import type { Principal } from '../../domain/principal.js'
import { ProblemError, problemKinds, validationProblem } from '../../problems.js'
import type { Ticket } from '../../schemas/tickets.js'
import { visibleTo } from '../bookings/booking-reads.js'
import type { TicketCodes } from './codes.js'

interface TicketRow {
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

function toTicket (row: TicketRow): Ticket {
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
function ticketColumns (q: Queryable) {
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

/** Where a reader of the revocations feed stands: the last entry it saw, by (transaction id, entry id). */
interface FeedPosition { xid: string, id: string }

const FEED_START: FeedPosition = { xid: '0', id: '0' }

function encodeFeedCursor (position: FeedPosition): string {
  return Buffer.from(`${position.xid}.${position.id}`).toString('base64url')
}

function decodeFeedCursor (cursor: string | undefined): FeedPosition {
  if (cursor === undefined) return FEED_START
  const match = /^(\d{1,20})\.(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  if (match === null || BigInt(match[1] as string) >= 2n ** 64n || BigInt(match[2] as string) >= 2n ** 63n) {
    throw validationProblem(
      [{ path: '/cursor', message: 'is not a cursor returned by this API' }],
      'The query string is not valid: /cursor is not a cursor returned by this API.'
    )
  }
  return { xid: match[1] as string, id: match[2] as string }
}

export function createTicketsRepository (sql: Sql, codes: TicketCodes) {
  /** A ticket the principal may see, locked when `lock` (its row only: no lock order to keep with bookings). */
  async function ticketRow (q: Queryable, id: string, principal: Principal, lock = false): Promise<TicketRow | undefined> {
    const [row] = await q<TicketRow[]>`
      select ${ticketColumns(q)} from tickets t join bookings b on b.id = t.booking_id
      where t.id = ${id} and ${visibleTo(q, principal)}
      ${lock ? q`for update of t` : q``}
    `
    return row
  }

  async function readTicket (q: Queryable, id: string, principal: Principal): Promise<Ticket | undefined> {
    const row = await ticketRow(q, id, principal)
    return row === undefined ? undefined : toTicket(row)
  }

  return {
    /** A booking's tickets in position order; undefined when the principal has no such booking (every booking has tickets). */
    async listByBooking (bookingId: string, principal: Principal): Promise<Ticket[] | undefined> {
      const rows = await sql<TicketRow[]>`
        select ${ticketColumns(sql)} from tickets t join bookings b on b.id = t.booking_id
        where t.booking_id = ${bookingId} and ${visibleTo(sql, principal)}
        order by t.position
      `
      return rows.length === 0 ? undefined : rows.map(toTicket)
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
        const row = await ticketRow(tx, id, principal, true)
        if (row === undefined) return undefined
        if (row.status === 'void') throw voidTicket(id)
        await tx`update tickets set attendee_name = ${attendeeName} where id = ${id}`
        return await readTicket(tx, id, principal)
      })
    },

    /** A new code for a valid ticket (`ver` + 1); the old one is revoked in the same transaction. */
    async reissue (id: string, principal: Principal): Promise<Ticket | undefined> {
      return await sql.begin(async (tx) => {
        const row = await ticketRow(tx, id, principal, true)
        if (row === undefined) return undefined
        if (row.status !== 'valid') throw withoutCode(row)
        const [signed] = await codes.sign([{ tid: row.id, eid: row.eventId, tier: row.ticketTierId, ver: row.codeVersion + 1 }], tx)
        if (signed === undefined) throw new Error('no code was signed')
        await tx`
          update tickets set code = ${signed.code}, code_kid = ${signed.kid}, code_version = code_version + 1, reissued_at = clock_timestamp()
          where id = ${id}
        `
        await tx`
          insert into ticket_revocations (event_id, ticket_id, version, reason)
          values (${row.eventId}, ${id}, ${row.codeVersion}, 'reissued')
        `
        return await readTicket(tx, id, principal)
      })
    },

    /**
     * The event's revocations after `cursor`, oldest first, and the cursor to ask again with;
     * undefined when the event does not exist. Only entries of transactions older than every one
     * still running are read, so an entry never commits behind a cursor already handed out.
     */
    async revocations (eventId: string, limit: number, cursor: string | undefined) {
      const after = decodeFeedCursor(cursor)
      const [event] = await sql`select 1 from events where id = ${eventId}`
      if (event === undefined) return undefined
      const rows = await sql<{ id: string, xid: string, ticketId: string, ver: number, reason: 'reissued' | 'cancelled', revokedAt: Date }[]>`
        select id::text, xid::text, ticket_id, version as ver, reason, revoked_at
        from ticket_revocations
        where event_id = ${eventId}
          and (xid, id) > (${after.xid}::xid8, ${after.id}::bigint)
          and xid < pg_snapshot_xmin(pg_current_snapshot())
        order by xid, id
        limit ${limit}
      `
      const last = rows.at(-1)
      return {
        data: rows.map((row) => ({ ticketId: row.ticketId, ver: row.ver, reason: row.reason, revokedAt: row.revokedAt.toISOString() })),
        nextCursor: encodeFeedCursor(last === undefined ? after : { xid: last.xid, id: last.id })
      }
    }
  }
}

export type TicketsRepository = ReturnType<typeof createTicketsRepository>
