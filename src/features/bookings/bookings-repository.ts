import type { Sql } from '../../db/sql.js'
import type { Principal } from '../../domain/principal.js'
import type { Booking } from '../../schemas/bookings.js'
import { decideBatch, type BatchOutcome } from './booking-batch.js'
import { listBookings, readBooking, type BookingFilter } from './booking-reads.js'
import type { BookingRequest } from './booking-request.js'
import { changeStatus } from './lifecycle.js'

export function createBookingsRepository (sql: Sql) {
  return {
    async list (principal: Principal, filter: BookingFilter, limit: number, after?: { at: Date, id: string }) {
      return await listBookings(sql, principal, filter, limit, after)
    },

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

    /** Confirms a live hold (see changeStatus); undefined when the principal has no such booking. */
    async confirm (id: string, principal: Principal): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => await changeStatus(tx, id, 'confirmed', principal))
    },

    /** Cancels a held or confirmed booking, once (see changeStatus); undefined when the principal has no such booking. */
    async cancel (id: string, principal: Principal): Promise<Booking | undefined> {
      return await sql.begin(async (tx) => await changeStatus(tx, id, 'cancelled', principal))
    }
  }
}

export type BookingsRepository = ReturnType<typeof createBookingsRepository>
