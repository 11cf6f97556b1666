import { randomUUID } from 'node:crypto'
import type { Queryable } from '../../db/sql.js'
import type { Booking } from '../../schemas/bookings.js'
import { storeCodes, type SignedCode, type TicketCodes } from './codes.js'

/*
 * Tickets follow their booking, always in the booking's own transaction: made with it (`pending`
 * for a hold, `valid` with a code otherwise), given codes when a hold is confirmed, voided when it
 * is cancelled or expires (a voided code that was valid is revoked). The database checks at commit
 * that a booking and its tickets agree (migrations/1795700000000_tickets.sql).
 */

/** A ticket decided before its booking's transaction. */
export interface PreparedTicket {
  id: string
  /** The booking item (its position) the ticket belongs to. */
  itemPosition: number
  /** Numbers the booking's tickets from 1 in item order. */
  position: number
  /** The code of a ticket valid at once; null for a hold's ticket. */
  code: SignedCode | null
}

/**
 * One ticket per unit the request books, in item order; a booking confirmed at once gets its
 * codes here, before its transaction, so signing never holds a tier's lock.
 */
export async function prepareTickets (codes: TicketCodes, request: { eventId: string, items: Array<{ ticketTierId: string, quantity: number }>, hold: unknown }): Promise<PreparedTicket[]> {
  const units = request.items.flatMap((item, itemPosition) => Array.from({ length: item.quantity }, () => ({ id: randomUUID(), itemPosition, tier: item.ticketTierId })))
  const signed = request.hold === undefined
    ? await codes.sign(units.map((unit) => ({ tid: unit.id, eid: request.eventId, tier: unit.tier, ver: 1 })))
    : []
  return units.map((unit, index) => ({ id: unit.id, itemPosition: unit.itemPosition, position: index + 1, code: signed[index] ?? null }))
}

/**
 * Writes the tickets of bookings just inserted (with their items), one statement for any number,
 * sent at once (so a caller can pipeline it after the statements that insert the bookings).
 */
export async function insertTickets (tx: Queryable, bookings: Array<{ id: string, tickets: PreparedTicket[] }>): Promise<unknown> {
  const tickets = bookings.flatMap((booking) => booking.tickets.map((ticket) => ({ bookingId: booking.id, ...ticket })))
  if (tickets.length === 0) return undefined
  return await tx`
    insert into tickets (id, booking_id, event_id, ticket_tier_id, tier_name, item_position, position, status, code, code_kid)
    select t.id, t.booking_id, b.event_id, i.ticket_tier_id, i.tier_name, t.item_position, t.position, ticket_status_of(b.status), t.code, t.kid
    from unnest(
      ${tickets.map((ticket) => ticket.id)}::uuid[],
      ${tickets.map((ticket) => ticket.bookingId)}::uuid[],
      ${tickets.map((ticket) => ticket.itemPosition)}::smallint[],
      ${tickets.map((ticket) => ticket.position)}::int[],
      ${tickets.map((ticket) => ticket.code?.code ?? null)}::text[],
      ${tickets.map((ticket) => ticket.code?.kid ?? null)}::text[]
    ) as t(id, booking_id, item_position, position, code, kid)
    join bookings b on b.id = t.booking_id
    join booking_items i on i.booking_id = t.booking_id and i.position = t.item_position
  `.execute()
}

/** Gives a confirmed hold's tickets their codes (version 1, signed with the current key). */
async function issueCodes (tx: Queryable, codes: TicketCodes, bookingId: string): Promise<void> {
  const pending = await tx<{ id: string, eventId: string, ticketTierId: string, codeVersion: number }[]>`
    select id, event_id, ticket_tier_id, code_version from tickets
    where booking_id = ${bookingId} and status = 'pending'
    order by position
  `
  const signed = await codes.sign(pending.map((ticket) => ({ tid: ticket.id, eid: ticket.eventId, tier: ticket.ticketTierId, ver: ticket.codeVersion })), tx)
  await storeCodes(tx, pending.map((ticket) => ticket.id), signed)
}

export interface Revocation {
  ticketId: string
  /** The code version revoked. */
  version: number
  reason: 'reissued' | 'cancelled'
}

/**
 * Appends revocations to their event's feed, in the caller's transaction, numbered after the
 * event's last: the event's feed row stays locked until the transaction ends, so numbers become
 * visible in the order they were given (see the tickets migration). `at`: when they were revoked
 * (default: now).
 */
export async function revoke (tx: Queryable, eventId: string, entries: Revocation[], at?: Date): Promise<void> {
  if (entries.length === 0) return
  await tx`
    with feed as (
      insert into ticket_revocation_feeds as f (event_id, last_seq) values (${eventId}, ${entries.length})
      on conflict (event_id) do update set last_seq = f.last_seq + excluded.last_seq
      returning last_seq
    )
    insert into ticket_revocations (event_id, seq, ticket_id, version, reason, revoked_at)
    select ${eventId}, feed.last_seq - ${entries.length} + e.ordinality, e.ticket_id, e.version, e.reason, coalesce(${at ?? null}::timestamptz, clock_timestamp())
    from feed, unnest(
      ${entries.map((entry) => entry.ticketId)}::uuid[],
      ${entries.map((entry) => entry.version)}::int[],
      ${entries.map((entry) => entry.reason)}::text[]
    ) with ordinality as e(ticket_id, version, reason, ordinality)
  `
}

/** Voids a booking's tickets; codes that were valid (a confirmed booking's) are revoked. */
async function voidTickets (tx: Queryable, bookingId: string, wasConfirmed: boolean): Promise<void> {
  if (!wasConfirmed) {
    await tx`update tickets set status = 'void' where booking_id = ${bookingId} and status = 'pending'`
    return
  }
  const voided = await tx<{ id: string, eventId: string, codeVersion: number, position: number }[]>`
    update tickets set status = 'void', code = null, code_kid = null
    where booking_id = ${bookingId} and status = 'valid'
    returning id, event_id, code_version, position
  `
  const eventId = voided[0]?.eventId
  if (eventId === undefined) return
  voided.sort((a, b) => a.position - b.position)
  await revoke(tx, eventId, voided.map((ticket) => ({ ticketId: ticket.id, version: ticket.codeVersion, reason: 'cancelled' })))
}

/** Moves a booking's tickets after its status moved from `from` (not for a booking just created: its tickets come with it). */
export async function ticketsFollow (tx: Queryable, codes: TicketCodes, from: Booking['status'], booking: Booking): Promise<void> {
  if (booking.status === 'confirmed') await issueCodes(tx, codes, booking.id)
  else if (booking.status === 'cancelled' || booking.status === 'expired') await voidTickets(tx, booking.id, from === 'confirmed')
}
