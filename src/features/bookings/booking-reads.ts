import { safeInteger, type Queryable } from '../../db/sql.js'
import type { Principal } from '../../domain/principal.js'
import type { Booking } from '../../schemas/bookings.js'

/**
 * The bookings a principal may see: an integrator its own, an operator (admin key) all, a scanner
 * none (no booking route takes its key; this keeps it so if one ever did). Every
 * query on bookings for a request goes through this, so no route can leak another's booking.
 * In a query that joins bookings, `bookingsAlias` names them.
 */
export function visibleTo (q: Queryable, principal: Principal, bookingsAlias?: string) {
  if (principal.kind === 'admin') return q`true`
  if (principal.kind === 'scanner') return q`false`
  return bookingsAlias === undefined ? q`integrator_id = ${principal.integratorId}` : q`${q(bookingsAlias)}.integrator_id = ${principal.integratorId}`
}

/** What `visibleTo` depends on: principals with the same one see the same bookings. */
export function visibilityOf (principal: Principal): string {
  return principal.kind === 'integrator' ? `integrator ${principal.integratorId}` : principal.kind
}

export interface BookingRow {
  id: string
  eventId: string
  clientReference: string | null
  status: Booking['status']
  total: number
  currency: string
  createdAt: Date
  expiresAt: Date | null
  cancelledAt: Date | null
}

export interface ItemRow {
  ticketTierId: string
  tierName: string
  quantity: number
  unitPrice: number
  lineTotal: number
}

export function toBooking (row: BookingRow, items: ItemRow[]): Booking {
  return {
    id: row.id,
    eventId: row.eventId,
    clientReference: row.clientReference,
    status: row.status,
    items: items.map(({ ticketTierId, tierName, quantity, unitPrice, lineTotal }) => ({ ticketTierId, tierName, quantity, unitPrice, lineTotal })),
    total: row.total,
    currency: row.currency,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.status === 'held' ? row.expiresAt?.toISOString() ?? null : null,
    cancelledAt: row.cancelledAt?.toISOString() ?? null
  }
}

/** The status as clients see it: a hold is `expired` from the instant `expires_at` passes, whether or not the sweep has run. */
export function effectiveStatus (q: Queryable) {
  return q`case when status = 'held' and expires_at <= clock_timestamp() then 'expired' else status end as status`
}

function bookingColumns (q: Queryable) {
  return q`id, event_id, client_reference, total, currency, created_at, expires_at, cancelled_at, ${effectiveStatus(q)}`
}

/**
 * One booking with its items, in one query (the items as a JSON array beside the booking's
 * columns), or undefined when it does not exist or the principal may not see it.
 */
export async function readBooking (q: Queryable, id: string, principal?: Principal): Promise<Booking | undefined> {
  const [row] = await q<Array<BookingRow & { items: ItemRow[] }>>`
    select ${bookingColumns(q)}, (
      select coalesce(json_agg(i order by i.position), '[]') from (
        select position, ticket_tier_id, tier_name, quantity, unit_price, line_total
        from booking_items where booking_id = bookings.id
      ) i
    ) as items
    from bookings where id = ${id} and ${principal === undefined ? q`true` : visibleTo(q, principal)}
  `
  if (row === undefined) return undefined
  // JSON numbers are doubles: a bigint line total beyond 2^53 would arrive rounded (the `bigint` type refuses it elsewhere).
  for (const item of row.items) safeInteger(item.lineTotal)
  return toBooking(row, row.items)
}

export interface BookingFilter {
  eventId?: string
  status?: Booking['status']
}

/** One page of the bookings a principal may see, newest first, after `after` when given. */
export async function listBookings (q: Queryable, principal: Principal, filter: BookingFilter, limit: number, after?: { at: Date, id: string }) {
  const rows = await q<BookingRow[]>`
    select * from (
      select ${bookingColumns(q)} from bookings
      where ${visibleTo(q, principal)}
        ${filter.eventId === undefined ? q`` : q`and event_id = ${filter.eventId}`}
        ${after === undefined ? q`` : q`and (created_at, id) < (${after.at}, ${after.id})`}
    ) b
    ${filter.status === undefined ? q`` : q`where b.status = ${filter.status}`}
    order by created_at desc, id desc
    limit ${limit + 1}
  `
  const page = rows.slice(0, limit)
  const items = page.length === 0
    ? []
    : await q<(ItemRow & { bookingId: string })[]>`
      select booking_id, ticket_tier_id, tier_name, quantity, unit_price, line_total
      from booking_items where booking_id in ${q(page.map((row) => row.id))} order by booking_id, position
    `
  return {
    bookings: page.map((row) => toBooking(row, items.filter((item) => item.bookingId === row.id))),
    hasMore: rows.length > limit
  }
}
