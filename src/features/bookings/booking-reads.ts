import type { Queryable } from '../../db/sql.js'
import type { Booking } from '../../schemas/bookings.js'

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

/** A hold is `expired` from the instant `expires_at` passes, whether or not the sweep has run. */
export function bookingColumns (q: Queryable) {
  return q`
    id, event_id, client_reference, total, currency, created_at, expires_at, cancelled_at,
    case when status = 'held' and expires_at <= clock_timestamp() then 'expired' else status end as status
  `
}

export async function readBooking (q: Queryable, id: string): Promise<Booking | undefined> {
  const [row] = await q<BookingRow[]>`select ${bookingColumns(q)} from bookings where id = ${id}`
  if (row === undefined) return undefined
  const items = await q<ItemRow[]>`
    select ticket_tier_id, tier_name, quantity, unit_price, line_total
    from booking_items where booking_id = ${row.id} order by position
  `
  return toBooking(row, items)
}
