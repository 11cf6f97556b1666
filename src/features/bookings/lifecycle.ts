import { isPostgresError, type Queryable } from '../../db/sql.js'
import type { Principal } from '../../domain/principal.js'
import { ProblemError, problemKinds } from '../../problems.js'
import type { Booking } from '../../schemas/bookings.js'
import { dbSpan } from '../../tracing.js'
import type { WebhookEventType } from '../../schemas/webhooks.js'
import { lockTiers, returnTickets, settleHold, takeTickets } from '../ticket-tiers/stock.js'
import type { TicketCodes } from '../tickets/codes.js'
import { insertTickets, ticketsFollow, type PreparedTicket } from '../tickets/issuing.js'
import { anySubscribed, recordBookingEvents } from '../webhooks/outbox.js'
import { readBooking, toBooking, visibleTo } from './booking-reads.js'
import type { BookingRequest } from './booking-request.js'

/*
 * The one owner of booking state. Every change of a booking's status (its creation, confirm,
 * cancel, expiry) is made here, inside the caller's transaction, and ends in `afterChange`.
 */

export type BookingStatus = Booking['status']

/**
 * The state machine: held → confirmed | expired | cancelled; confirmed → cancelled; nothing else.
 * The trigger `bookings_check_status_transition` (migrations/1795640400000_booking-holds.sql)
 * enforces the same table in the database, with the times: a hold confirms only before
 * `expires_at` and expires only from it on.
 */
export const TRANSITIONS: Readonly<Record<BookingStatus, readonly BookingStatus[]>> = {
  held: ['confirmed', 'expired', 'cancelled'],
  confirmed: ['cancelled'],
  expired: [],
  cancelled: []
}

/** A booking just created (`from` null) or moved from `from` to `booking.status`. */
export interface BookingChange {
  from: BookingStatus | null
  /** The booking as clients see it right after the change. */
  booking: Booking
}

function webhookEventOf ({ from, booking }: BookingChange): WebhookEventType {
  if (from === null) return 'booking.created'
  return `booking.${booking.status as Exclude<BookingStatus, 'held'>}`
}

/**
 * The one step after every booking change, in the change's transaction: whatever must commit or
 * roll back with it goes here: the tickets follow the booking (a new booking's came with it), and
 * the webhook outbox records the event.
 */
async function afterChange (tx: Queryable, codes: TicketCodes, changes: BookingChange[], subscribed?: boolean): Promise<void> {
  for (const { from, booking } of changes) {
    if (from !== null) await ticketsFollow(tx, codes, from, booking)
  }
  await recordBookingEvents(tx, changes.map((change) => ({ type: webhookEventOf(change), booking: change.booking })), subscribed)
}

/** A booking decided and priced, ready to be written. */
export interface NewBooking {
  id: string
  request: BookingRequest
  currency: string
  /** In the request's item order. */
  lines: Array<{ ticketTierId: string, tierName: string, quantity: number, unitPrice: number }>
  /** One per booked unit, in item order, with codes when the booking is confirmed at once (issuing.ts). */
  tickets: PreparedTicket[]
}

/**
 * Writes decided bookings, `held` with a hold, else `confirmed`, with their tickets: these leave
 * the tiers' stock (locked by the caller), with one statement per table for any number of bookings.
 */
export async function createBookings (tx: Queryable, codes: TicketCodes, planned: NewBooking[]): Promise<Booking[]> {
  if (planned.length === 0) return []
  const totals = planned.map((booking) => booking.lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0))
  const lines = planned.flatMap((booking) => booking.lines.map((line, position) => ({ bookingId: booking.id, position, ...line })))
  // One round trip while the caller holds the tiers' locks: each statement is sent as it is made
  // (`execute()`, and the helpers send theirs at once), so they leave together, in this order, and
  // PostgreSQL runs them in that order on the transaction's connection, each seeing those before.
  const [, inserted, , , subscribed] = await dbSpan('take stock, insert bookings, items and tickets', async () => await Promise.all([
    takeTickets(tx, planned.flatMap((booking) => booking.lines.map((line) => ({ ...line, held: booking.request.hold !== undefined })))),
    tx<{ id: string, createdAt: Date, expiresAt: Date | null }[]>`
      insert into bookings (id, integrator_id, event_id, client_reference, request_fingerprint, status, total, currency, expires_at)
      select id, integrator_id, event_id, reference, fingerprint,
        case when ttl is null then 'confirmed' else 'held' end,
        total, currency,
        case when ttl is null then null else clock_timestamp() + make_interval(secs => ttl) end
      from unnest(
        ${planned.map((booking) => booking.id)}::uuid[],
        ${planned.map((booking) => booking.request.integratorId)}::uuid[],
        ${planned.map((booking) => booking.request.eventId)}::uuid[],
        ${planned.map((booking) => booking.request.clientReference ?? null)}::text[],
        ${planned.map((booking) => booking.request.clientReference === undefined ? null : booking.request.fingerprint)}::text[],
        ${totals}::bigint[],
        ${planned.map((booking) => booking.currency)}::text[],
        ${planned.map((booking) => booking.request.hold?.ttlSeconds ?? null)}::int[]
      ) as b(id, integrator_id, event_id, reference, fingerprint, total, currency, ttl)
      returning id, created_at, expires_at
    `.execute(),
    tx`
      insert into booking_items (booking_id, position, ticket_tier_id, tier_name, quantity, unit_price, hold_expires_at)
      select x.*, b.expires_at
      from unnest(
        ${lines.map((line) => line.bookingId)}::uuid[],
        ${lines.map((line) => line.position)}::smallint[],
        ${lines.map((line) => line.ticketTierId)}::uuid[],
        ${lines.map((line) => line.tierName)}::text[],
        ${lines.map((line) => line.quantity)}::int[],
        ${lines.map((line) => line.unitPrice)}::int[]
      ) as x(booking_id, position, ticket_tier_id, tier_name, quantity, unit_price)
      join bookings b on b.id = x.booking_id
    `.execute(),
    insertTickets(tx, planned),
    anySubscribed(tx, planned.map((booking) => booking.id))
  ]))
  const times = new Map(inserted.map((row) => [row.id, row]))
  const bookings = planned.map((booking, index) => {
    const row = times.get(booking.id)
    if (row === undefined) throw new Error(`booking ${booking.id} was not inserted`)
    return toBooking({
      id: booking.id,
      eventId: booking.request.eventId,
      clientReference: booking.request.clientReference ?? null,
      status: booking.request.hold === undefined ? 'confirmed' : 'held',
      total: totals[index] ?? 0,
      currency: booking.currency,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      cancelledAt: null
    }, booking.lines.map((line) => ({ ...line, lineTotal: line.quantity * line.unitPrice })))
  })
  const record = async (): Promise<void> => { await afterChange(tx, codes, bookings.map((booking) => ({ from: null, booking })), subscribed) }
  // Only with a subscriber does recording the events take a round trip.
  await (subscribed ? dbSpan('insert webhook events', record) : record())
  return bookings
}

function holdExpired (id: string): ProblemError {
  return new ProblemError(problemKinds.holdExpired, `The hold of booking ${id} has expired; its tickets were released.`)
}

/** The refusal a client gets for a move the state machine does not allow. */
function refusal (id: string, from: BookingStatus, to: BookingStatus): ProblemError {
  if (from === 'expired') return holdExpired(id)
  if (from === 'cancelled') return new ProblemError(problemKinds.bookingCancelled, `Booking ${id} is cancelled and cannot be ${to}.`)
  return new ProblemError(problemKinds.clientError, `Booking ${id} cannot go from ${from} to ${to}.`)
}

/**
 * Moves a booking to `to`, in the one lock order (its tiers, then the booking), applying what the
 * move does to stock: a confirmed hold's tickets leave `held`; a cancelled or expired booking's
 * tickets go back to `remaining`.
 *
 * For a client (`principal` given), the booking is as it sees it: a lapsed hold is `expired`, and
 * cannot move (409 hold-expired); moving a booking to the status it has returns it unchanged; a
 * move the state machine refuses is a 409. Undefined when the principal has no such booking.
 * For the hold sweep (no principal, `to` = `expired`): undefined unless it is a lapsed hold.
 */
export async function changeStatus (tx: Queryable, codes: TicketCodes, id: string, to: 'confirmed' | 'cancelled' | 'expired', principal?: Principal): Promise<Booking | undefined> {
  const scope = principal === undefined ? tx`true` : visibleTo(tx, principal)
  const items = await tx<{ ticketTierId: string }[]>`
    select distinct i.ticket_tier_id from booking_items i join bookings b on b.id = i.booking_id
    where i.booking_id = ${id} and ${scope}
  `
  await lockTiers(tx, items.map((item) => item.ticketTierId))
  const [row] = await tx<{ status: BookingStatus, lapsed: boolean }[]>`
    select status, status = 'held' and expires_at <= clock_timestamp() as lapsed
    from bookings where id = ${id} and ${scope} for update
  `
  if (row === undefined) return undefined
  const from = row.status
  if (principal === undefined) {
    if (from !== 'held' || !row.lapsed) return undefined
  } else {
    const seen = row.lapsed ? 'expired' : from
    if (seen === to) return await readBooking(tx, id)
    if (!TRANSITIONS[seen].includes(to)) throw refusal(id, seen, to)
  }

  try {
    await tx`
      update bookings set status = ${to}, cancelled_at = ${to === 'cancelled' ? tx`clock_timestamp()` : tx`cancelled_at`}
      where id = ${id}
    `
  } catch (error) {
    // The hold lapsed between our check and the database's own (microseconds apart).
    if (to === 'confirmed' && isPostgresError(error, '23514') && error.constraint_name === 'bookings_status_transition') throw holdExpired(id)
    throw error
  }
  if (to === 'confirmed') await settleHold(tx, id)
  else await returnTickets(tx, id, { wereHeld: from === 'held' })

  const booking = await readBooking(tx, id)
  if (booking === undefined) throw new Error(`booking ${id} vanished while it changed`)
  await afterChange(tx, codes, [{ from, booking }])
  return booking
}
