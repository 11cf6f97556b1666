import { isPostgresError, type Queryable, type Sql } from '../../db/sql.js'
import { ProblemError, problemKinds } from '../../problems.js'
import type { Booking } from '../../schemas/bookings.js'
import { decideBatch, type BatchOutcome } from './booking-batch.js'
import type { Principal } from '../../plugins/auth.js'
import { effectiveStatus, listBookings, readBooking, visibleTo, type BookingFilter } from './booking-reads.js'
import type { BookingRequest } from './booking-request.js'
import { lockTiers, releaseAllTickets, settleHeldTickets } from './holds.js'
import { recordBookingEvents } from '../webhooks/outbox.js'

/** Locks the booking row and tells its status as clients see it (a lapsed hold is `expired`). */
async function lockBooking (tx: Queryable, id: string, principal: Principal): Promise<Booking['status'] | undefined> {
  const [row] = await tx<{ status: Booking['status'] }[]>`
    select ${effectiveStatus(tx)} from bookings where id = ${id} and ${visibleTo(tx, principal)} for update
  `
  return row?.status
}

/** The tiers a booking holds tickets of: locked before the booking row, as in every transaction here. */
async function tiersOf (tx: Queryable, id: string, principal: Principal): Promise<string[]> {
  const items = await tx<{ ticketTierId: string }[]>`
    select i.ticket_tier_id from booking_items i join bookings b on b.id = i.booking_id
    where i.booking_id = ${id} and ${visibleTo(tx, principal)}
  `
  return items.map((item) => item.ticketTierId)
}

function holdExpired (id: string): ProblemError {
  return new ProblemError(problemKinds.holdExpired, `The hold of booking ${id} has expired; its tickets were released.`)
}

/**
 * Locks a booking about to change state, its tiers first (the one lock order), and tells its
 * status; an expired hold can change no more (409 hold-expired). Undefined when the principal
 * has no such booking.
 */
async function lockForChange (tx: Queryable, id: string, principal: Principal): Promise<'held' | 'confirmed' | 'cancelled' | undefined> {
  await lockTiers(tx, await tiersOf(tx, id, principal))
  const status = await lockBooking(tx, id, principal)
  if (status === 'expired') throw holdExpired(id)
  return status
}

export function createBookingsRepository (sql: Sql) {
  return {
    async list (principal: Principal, filter: BookingFilter, limit: number, after?: { at: Date, id: string }) {
      return await listBookings(sql, principal, filter, limit, after)
    },

    /** The booking, when it exists and the principal may see it. */
    async findById (id: string, principal: Principal): Promise<Booking | undefined> {
      return await readBooking(sql, id, principal)
    },

    /**
     * Decides a batch of booking requests in one transaction, in arrival order; each is still
     * all-or-nothing. Client errors come back as `failed` outcomes; an unexpected database error
     * rejects the whole batch, which then rolled back.
     */
    async createBatch (requests: BookingRequest[]): Promise<BatchOutcome[]> {
      return await sql.begin(async (tx) => await decideBatch(tx, requests))
    },

    /**
     * Confirms a live hold; a confirmed booking is returned as it is. A lapsed hold is a 409
     * hold-expired and a cancelled booking a 409 booking-cancelled. Undefined when it does not exist
     * or the principal may not see it.
     */
    async confirm (id: string, principal: Principal): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => {
        const status = await lockForChange(tx, id, principal)
        if (status === undefined) return undefined
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
          await settleHeldTickets(tx, id)
        }
        const booking = await readBooking(tx, id)
        if (status === 'held' && booking !== undefined) await recordBookingEvents(tx, [{ type: 'booking.confirmed', booking }])
        return booking
      })
    },

    /**
     * Cancels a held or confirmed booking and puts its tickets back, once: cancelling a cancelled
     * booking changes nothing. A lapsed hold is a 409 hold-expired. Undefined when it does not exist.
     */
    async cancel (id: string, principal: Principal): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => {
        const status = await lockForChange(tx, id, principal)
        if (status === undefined) return undefined
        if (status !== 'cancelled') {
          await releaseAllTickets(tx, id, status === 'held')
          await tx`update bookings set status = 'cancelled', cancelled_at = clock_timestamp() where id = ${id}`
        }
        const booking = await readBooking(tx, id)
        if (status !== 'cancelled' && booking !== undefined) await recordBookingEvents(tx, [{ type: 'booking.cancelled', booking }])
        return booking
      })
    }
  }
}

export type BookingsRepository = ReturnType<typeof createBookingsRepository>
