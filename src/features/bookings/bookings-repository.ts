import { sharedReads } from '../../db/shared-reads.js'
import type { Sql } from '../../db/sql.js'
import type { Principal } from '../../domain/principal.js'
import type { Booking } from '../../schemas/bookings.js'
import { dbSpan } from '../../tracing.js'
import { decideBatch, type BatchOutcome } from './booking-batch.js'
import { listBookings, readBooking, visibilityOf, type BookingFilter } from './booking-reads.js'
import type { BookingRequest } from './booking-request.js'
import { changeStatus } from './lifecycle.js'
import type { TicketCodes } from '../tickets/codes.js'
import { prepareTickets } from '../tickets/issuing.js'

export function createBookingsRepository (sql: Sql, codes: TicketCodes) {
  // Shared by identical reads that arrive together (see sharedReads): the same booking, seen by the same principal.
  const readShared = sharedReads(async ({ id, principal }: { id: string, principal: Principal }) => await readBooking(sql, id, principal),
    ({ id, principal }) => `${id} ${visibilityOf(principal)}`)

  return {
    async list (principal: Principal, filter: BookingFilter, limit: number, after?: { at: Date, id: string }) {
      return await listBookings(sql, principal, filter, limit, after)
    },

    async findById (id: string, principal: Principal): Promise<Booking | undefined> {
      return await readShared({ id, principal })
    },

    /**
     * Decides a batch of booking requests in one transaction, in arrival order; each is still
     * all-or-nothing. Client errors come back as `failed` outcomes; an unexpected database error
     * rejects the whole batch, which then rolled back. Tickets (and the codes of bookings
     * confirmed at once) are prepared before the transaction, so signing holds no lock: from each
     * request's arrival when it brings them (`preparedTickets`), else here.
     */
    async createBatch (requests: BookingRequest[]): Promise<BatchOutcome[]> {
      const prepared = await Promise.all(requests.map(async (request) => ({ ...request, tickets: await (request.preparedTickets ?? prepareTickets(codes, request)) })))
      return await dbSpan('transaction', async () => await sql.begin(async (tx) => await decideBatch(tx, codes, prepared)))
    },

    /** Confirms a live hold (see changeStatus); undefined when the principal has no such booking. */
    async confirm (id: string, principal: Principal): Promise<Booking | undefined> {
      return await dbSpan('transaction', async () => await sql.begin(async (tx) => await changeStatus(tx, codes, id, 'confirmed', principal)))
    },

    /** Cancels a held or confirmed booking, once (see changeStatus); undefined when the principal has no such booking. */
    async cancel (id: string, principal: Principal): Promise<Booking | undefined> {
      return await dbSpan('transaction', async () => await sql.begin(async (tx) => await changeStatus(tx, codes, id, 'cancelled', principal)))
    }
  }
}

export type BookingsRepository = ReturnType<typeof createBookingsRepository>
