import type { Queryable, Sql } from '../../db/sql.js'
import { ProblemError, notFoundProblem, problemKinds, validationProblem } from '../../problems.js'
import type { Booking } from '../../schemas/bookings.js'
import type { BookingRequest } from './booking-request.js'

interface BookingRow {
  id: string
  eventId: string
  clientReference: string | null
  requestFingerprint: string | null
  status: Booking['status']
  total: number
  currency: string
  createdAt: Date
  cancelledAt: Date | null
}

interface ItemRow {
  ticketTierId: string
  tierName: string
  quantity: number
  unitPrice: number
  lineTotal: number
}

interface LockedTier {
  id: string
  eventId: string
  name: string
  price: number
  remaining: number
  maxPerBooking: number
}

export type CreateResult =
  | { outcome: 'created', booking: Booking }
  | { outcome: 'replayed', booking: Booking }

function toBooking (row: BookingRow, items: ItemRow[]): Booking {
  return {
    id: row.id,
    eventId: row.eventId,
    clientReference: row.clientReference,
    status: row.status,
    items: items.map(({ ticketTierId, tierName, quantity, unitPrice, lineTotal }) => ({ ticketTierId, tierName, quantity, unitPrice, lineTotal })),
    total: row.total,
    currency: row.currency,
    createdAt: row.createdAt.toISOString(),
    cancelledAt: row.cancelledAt?.toISOString() ?? null
  }
}

async function readBooking (q: Queryable, where: ReturnType<Queryable>, lock = false): Promise<Booking | undefined> {
  const [row] = await q<BookingRow[]>`
    select id, event_id, client_reference, request_fingerprint, status, total, currency, created_at, cancelled_at
    from bookings where ${where} ${lock ? q`for update` : q``}
  `
  if (row === undefined) return undefined
  const items = await q<ItemRow[]>`
    select ticket_tier_id, tier_name, quantity, unit_price, line_total
    from booking_items where booking_id = ${row.id} order by position
  `
  return toBooking(row, items)
}

/** Checks every requested item against its locked tier; throws the first kind of failure found. */
function checkItems (request: BookingRequest, tiers: Map<string, LockedTier>): void {
  const foreign = request.items.filter((item) => tiers.get(item.ticketTierId)?.eventId !== request.eventId)
  if (foreign.length > 0) {
    const ids = foreign.map((item) => item.ticketTierId)
    throw new ProblemError(
      problemKinds.tierNotInEvent,
      `Ticket tier ${ids.join(', ')} is not a tier of event ${request.eventId}.`,
      { ticketTierIds: ids }
    )
  }

  const tooMany = request.items.filter((item) => item.quantity > (tiers.get(item.ticketTierId)?.maxPerBooking ?? 0))
  if (tooMany.length > 0) {
    throw validationProblem(
      tooMany.map((item) => ({
        path: `/items/${item.index}/quantity`,
        message: `must be <= ${tiers.get(item.ticketTierId)?.maxPerBooking ?? 0}, the tier's maxPerBooking`
      })),
      'The request body is not valid: a quantity is above its tier\'s maxPerBooking.'
    )
  }

  const shortages = request.items
    .map((item) => ({ ticketTierId: item.ticketTierId, requested: item.quantity, remaining: tiers.get(item.ticketTierId)?.remaining ?? 0 }))
    .filter((shortage) => shortage.requested > shortage.remaining)
  if (shortages.length > 0) {
    throw new ProblemError(
      problemKinds.insufficientInventory,
      `Not enough tickets remain for ${shortages.length === 1 ? 'one tier' : `${shortages.length} tiers`}; nothing was booked.`,
      { shortages }
    )
  }
}

export function createBookingsRepository (sql: Sql) {
  return {
    async findById (id: string): Promise<Booking | undefined> {
      return await readBooking(sql, sql`id = ${id}`)
    },

    /**
     * Books every item or none, in one transaction. Same-key requests are serialised by a
     * transaction-scoped advisory lock: a second one arriving while the first is in flight gets
     * 409 in-flight; one arriving after it committed sees the booking and replays it.
     */
    async create (request: BookingRequest): Promise<CreateResult> {
      return await sql.begin(async (tx) => {
        if (request.clientReference !== undefined) {
          const [claim] = await tx<{ acquired: boolean }[]>`
            select pg_try_advisory_xact_lock(hashtextextended(${`booking:${request.clientReference}`}, 0)) as acquired
          `
          if (claim?.acquired !== true) {
            throw new ProblemError(
              problemKinds.idempotencyKeyInFlight,
              'Another request with this idempotency key is being processed; retry shortly to get its result.',
              {},
              { 'Retry-After': '1' }
            )
          }
          const [previous] = await tx<{ id: string, requestFingerprint: string }[]>`
            select id, request_fingerprint from bookings where client_reference = ${request.clientReference}
          `
          if (previous !== undefined) {
            if (previous.requestFingerprint !== request.fingerprint) {
              throw new ProblemError(
                problemKinds.idempotencyKeyReuse,
                `The idempotency key was already used for booking ${previous.id} with a different request.`
              )
            }
            const booking = await readBooking(tx, tx`id = ${previous.id}`)
            if (booking === undefined) throw new Error('replayed booking vanished')
            return { outcome: 'replayed' as const, booking }
          }
        }

        const [event] = await tx<{ currency: string }[]>`select currency from events where id = ${request.eventId}`
        if (event === undefined) throw notFoundProblem(`Event ${request.eventId} does not exist.`)

        // Locks are always taken in tier id order, so bookings sharing tiers cannot deadlock.
        const locked = await tx<LockedTier[]>`
          select id, event_id, name, price, remaining, max_per_booking
          from ticket_tiers
          where id in ${tx(request.items.map((item) => item.ticketTierId))}
          order by id
          for update
        `
        const tiers = new Map(locked.map((tier) => [tier.id, tier]))
        checkItems(request, tiers)

        await tx`
          update ticket_tiers t set remaining = t.remaining - i.quantity
          from unnest(${request.items.map((item) => item.ticketTierId)}::uuid[], ${request.items.map((item) => item.quantity)}::int[])
            as i(id, quantity)
          where t.id = i.id
        `

        const inRequestOrder = [...request.items].sort((a, b) => a.index - b.index)
        const lines = inRequestOrder.map((item) => {
          const tier = tiers.get(item.ticketTierId)
          if (tier === undefined) throw new Error('checked tier missing')
          return { item, tier, lineTotal: item.quantity * tier.price }
        })
        const [row] = await tx<BookingRow[]>`
          insert into bookings (event_id, client_reference, request_fingerprint, status, total, currency)
          values (
            ${request.eventId}, ${request.clientReference ?? null},
            ${request.clientReference === undefined ? null : request.fingerprint},
            'confirmed', ${lines.reduce((sum, line) => sum + line.lineTotal, 0)}, ${event.currency}
          )
          returning id, event_id, client_reference, request_fingerprint, status, total, currency, created_at, cancelled_at
        `
        if (row === undefined) throw new Error('insert returned no booking')
        const items = await tx<ItemRow[]>`
          insert into booking_items ${tx(lines.map(({ item, tier }, position) => ({
            bookingId: row.id,
            position,
            ticketTierId: tier.id,
            tierName: tier.name,
            quantity: item.quantity,
            unitPrice: tier.price
          })))}
          returning ticket_tier_id, tier_name, quantity, unit_price, line_total
        `
        return { outcome: 'created' as const, booking: toBooking(row, items) }
      })
    },

    /**
     * Cancels a booking and puts its tickets back, once: cancelling a cancelled booking changes
     * nothing. Returns undefined when the booking does not exist.
     */
    async cancel (id: string): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => {
        const booking = await readBooking(tx, tx`id = ${id}`, true)
        if (booking === undefined || booking.status === 'cancelled') return booking

        // Same lock order as booking creation: tier id.
        await tx`
          select id from ticket_tiers where id in ${tx(booking.items.map((item) => item.ticketTierId))} order by id for update
        `
        await tx`
          update ticket_tiers t set remaining = t.remaining + i.quantity
          from booking_items i
          where i.booking_id = ${id} and t.id = i.ticket_tier_id
        `
        const [row] = await tx<{ cancelledAt: Date }[]>`
          update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${id} returning cancelled_at
        `
        return { ...booking, status: 'cancelled' as const, cancelledAt: row?.cancelledAt.toISOString() ?? null }
      })
    }
  }
}

export type BookingsRepository = ReturnType<typeof createBookingsRepository>
