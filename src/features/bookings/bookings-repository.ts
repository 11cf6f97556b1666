import { isPostgresError, type Queryable, type Sql } from '../../db/sql.js'
import { ProblemError, notFoundProblem, problemKinds, validationProblem } from '../../problems.js'
import type { Booking } from '../../schemas/bookings.js'
import type { BookingRequest } from './booking-request.js'
import { lockTiers, releaseAllTickets, releaseLapsedHolds } from './holds.js'

interface BookingRow {
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
    expiresAt: row.status === 'held' ? row.expiresAt?.toISOString() ?? null : null,
    cancelledAt: row.cancelledAt?.toISOString() ?? null
  }
}

/** A hold is `expired` from the instant `expires_at` passes, whether or not the sweep has run. */
function bookingColumns (q: Queryable) {
  return q`
    id, event_id, client_reference, total, currency, created_at, expires_at, cancelled_at,
    case when status = 'held' and expires_at <= clock_timestamp() then 'expired' else status end as status
  `
}

async function readBooking (q: Queryable, id: string): Promise<Booking | undefined> {
  const [row] = await q<BookingRow[]>`select ${bookingColumns(q)} from bookings where id = ${id}`
  if (row === undefined) return undefined
  const items = await q<ItemRow[]>`
    select ticket_tier_id, tier_name, quantity, unit_price, line_total
    from booking_items where booking_id = ${row.id} order by position
  `
  return toBooking(row, items)
}

/** Locks the booking row and tells its status as clients see it (a lapsed hold is `expired`). */
async function lockBooking (tx: Queryable, id: string): Promise<Booking['status'] | undefined> {
  const [row] = await tx<{ status: Booking['status'] }[]>`
    select case when status = 'held' and expires_at <= clock_timestamp() then 'expired' else status end as status
    from bookings where id = ${id} for update
  `
  return row?.status
}

function holdExpired (id: string): ProblemError {
  return new ProblemError(problemKinds.holdExpired, `The hold of booking ${id} has expired; its tickets were released.`)
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

/** The replay of an earlier request with the same key, or undefined when the key is new. */
async function findReplay (tx: Queryable, request: BookingRequest & { clientReference: string }): Promise<Booking | undefined> {
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
  if (previous === undefined) return undefined
  if (previous.requestFingerprint !== request.fingerprint) {
    throw new ProblemError(
      problemKinds.idempotencyKeyReuse,
      `The idempotency key was already used for booking ${previous.id} with a different request.`
    )
  }
  return await readBooking(tx, previous.id)
}

export function createBookingsRepository (sql: Sql) {
  return {
    async findById (id: string): Promise<Booking | undefined> {
      return await readBooking(sql, id)
    },

    /**
     * Books (or holds) every item or none, in one transaction. Same-key requests are serialised by
     * a transaction-scoped advisory lock: one arriving while the first is in flight gets 409
     * in-flight; one arriving after it committed replays it.
     */
    async create (request: BookingRequest): Promise<CreateResult> {
      return await sql.begin(async (tx) => {
        const { clientReference } = request
        if (clientReference !== undefined) {
          const replay = await findReplay(tx, { ...request, clientReference })
          if (replay !== undefined) return { outcome: 'replayed' as const, booking: replay }
        }

        const [event] = await tx<{ currency: string }[]>`select currency from events where id = ${request.eventId}`
        if (event === undefined) throw notFoundProblem(`Event ${request.eventId} does not exist.`)

        const tierIds = request.items.map((item) => item.ticketTierId)
        await lockTiers(tx, tierIds)
        await releaseLapsedHolds(tx, tierIds)
        const locked = await tx<LockedTier[]>`
          select id, event_id, name, price, remaining, max_per_booking from ticket_tiers where id in ${tx(tierIds)}
        `
        const tiers = new Map(locked.map((tier) => [tier.id, tier]))
        checkItems(request, tiers)

        await tx`
          update ticket_tiers t set remaining = t.remaining - i.quantity
          from unnest(${tierIds}::uuid[], ${request.items.map((item) => item.quantity)}::int[]) as i(id, quantity)
          where t.id = i.id
        `

        const lines = [...request.items].sort((a, b) => a.index - b.index).map((item) => {
          const tier = tiers.get(item.ticketTierId)
          if (tier === undefined) throw new Error('checked tier missing')
          return { item, tier }
        })
        const total = lines.reduce((sum, { item, tier }) => sum + item.quantity * tier.price, 0)
        const ttlSeconds = request.hold?.ttlSeconds
        const [row] = await tx<{ id: string }[]>`
          insert into bookings (event_id, client_reference, request_fingerprint, status, total, currency, expires_at)
          values (
            ${request.eventId}, ${clientReference ?? null}, ${clientReference === undefined ? null : request.fingerprint},
            ${ttlSeconds === undefined ? 'confirmed' : 'held'}, ${total}, ${event.currency},
            ${ttlSeconds === undefined ? null : tx`clock_timestamp() + make_interval(secs => ${ttlSeconds})`}
          )
          returning id
        `
        if (row === undefined) throw new Error('insert returned no booking')
        await tx`
          insert into booking_items ${tx(lines.map(({ item, tier }, position) => ({
            bookingId: row.id,
            position,
            ticketTierId: tier.id,
            tierName: tier.name,
            quantity: item.quantity,
            unitPrice: tier.price
          })))}
        `
        const booking = await readBooking(tx, row.id)
        if (booking === undefined) throw new Error('new booking vanished')
        return { outcome: 'created' as const, booking }
      })
    },

    /**
     * Confirms a live hold; a confirmed booking is returned as it is. A lapsed hold is a 409
     * hold-expired and a cancelled booking a 409 booking-cancelled. Undefined when it does not exist.
     */
    async confirm (id: string): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => {
        const status = await lockBooking(tx, id)
        if (status === undefined) return undefined
        if (status === 'expired') throw holdExpired(id)
        if (status === 'cancelled') {
          throw new ProblemError(problemKinds.bookingCancelled, `Booking ${id} is cancelled and cannot be confirmed.`)
        }
        if (status === 'held') {
          try {
            await tx`update bookings set status = 'confirmed' where id = ${id}`
          } catch (error) {
            // The hold lapsed between our check and the database's own (microseconds apart).
            if (isPostgresError(error, '23514') && error.constraint_name === 'bookings_status_transition') throw holdExpired(id)
            throw error
          }
        }
        return await readBooking(tx, id)
      })
    },

    /**
     * Cancels a held or confirmed booking and puts its tickets back, once: cancelling a cancelled
     * booking changes nothing. A lapsed hold is a 409 hold-expired. Undefined when it does not exist.
     */
    async cancel (id: string): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => {
        const items = await tx<{ ticketTierId: string }[]>`select ticket_tier_id from booking_items where booking_id = ${id}`
        await lockTiers(tx, items.map((item) => item.ticketTierId))
        const status = await lockBooking(tx, id)
        if (status === undefined) return undefined
        if (status === 'expired') throw holdExpired(id)
        if (status !== 'cancelled') {
          await releaseAllTickets(tx, id)
          await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${id}`
        }
        return await readBooking(tx, id)
      })
    }
  }
}

export type BookingsRepository = ReturnType<typeof createBookingsRepository>
