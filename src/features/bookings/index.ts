import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { isDatabaseTimeout, isDatabaseUnavailable, type Sql } from '../../db/sql.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { DEFAULT_PAGE_SIZE } from '../../schemas/common.js'
import { integratorIdOf, principalOf } from '../../plugins/auth.js'
import type { TicketCodes } from '../tickets/codes.js'
import { prepareTickets } from '../tickets/issuing.js'
import { toBookingRequest, type BookingRequest } from './booking-request.js'
import { createGroupCommit } from '../../db/group-commit.js'
import { onCloseStep } from '../../plugins/close-steps.js'
import { REQUEST_DEADLINE_MS } from '../../plugins/load-shedding.js'
import type { BookingOutcome, Metrics } from '../../metrics.js'
import { notFoundProblem, ProblemError, problemKinds } from '../../problems.js'
import { createBookingsRepository } from './bookings-repository.js'
import {
  cancelBookingOperation, confirmBookingOperation, createBookingOperation, getBookingOperation, listBookingsOperation
} from './openapi.js'

export interface BookingsFeatureOptions {
  sql: Sql
  /** Signs the codes of tickets (shared with the tickets feature). */
  codes: TicketCodes
  /** Booking requests that may wait for a transaction slot before new ones get a 503. */
  maxQueued?: number
  metrics: Metrics
}

/** The outcome label of a booking request that ended in `problem`, or in an error the error handler answers. */
function failedOutcome (problem: unknown): BookingOutcome {
  if (!(problem instanceof ProblemError)) return isDatabaseUnavailable(problem) || isDatabaseTimeout(problem) ? 'unavailable' : 'error'
  if (problem.kind === problemKinds.insufficientInventory) return 'insufficient'
  return problem.kind === problemKinds.unavailable ? 'unavailable' : 'rejected'
}

export const bookingsFeature: FastifyPluginAsyncTypebox<BookingsFeatureOptions> = async (app, { sql, codes, maxQueued = 1000, metrics }) => {
  const bookings = createBookingsRepository(sql, codes)
  const batcher = createGroupCommit(async (requests: BookingRequest[]) => await bookings.createBatch(requests), {
    maxBatchSize: 100,
    maxConcurrentBatches: 1,
    maxQueued,
    busy: 'Too many bookings are waiting for the database; retry shortly.',
    // One batch in flight per process: the requests that arrive while it runs go together in the
    // next. More slots only made more, smaller transactions, each paying for its locks and commit
    // (and, on one tier, queueing on its row lock in PostgreSQL). Scratch A/B of the built server
    // (2026-12-03, local PostgreSQL 15, @64, four runs each, alternating): spread over 50 tiers
    // 1,810 → 2,400 bookings/s with one slot instead of four (batches of 13 → 32), the hot tier
    // level (it had one batch in flight already). N processes put N batches on the database.
    // Its requests' own deadline (the same, from their arrival) answers them first: this frees the slot.
    deadlineMs: REQUEST_DEADLINE_MS,
    onBatch: (size) => { metrics.batchSize.observe({ kind: 'bookings' }, size) },
    span: { name: 'booking.batch', outcomeOf: (outcome) => outcome.outcome }
  })

  onCloseStep(app, 'booking batches', async () => { await batcher.drain() })

  app.post('/bookings', {
    config: { countedAs: 'bookings' },
    onRequest: app.authenticate({ scope: 'bookings:write', admin: false }),
    schema: createBookingOperation
  }, async function createBooking (request, reply) {
    let result
    try {
      const booking = toBookingRequest(request.body, request.headers['idempotency-key'], integratorIdOf(request.principal))
      // Its codes are signed while it waits for a batch, not in the batch's turn on the tier. The
      // batch awaits them; the catch only keeps a request refused before its batch (a full queue)
      // from leaving a rejection nobody handles.
      const preparedTickets = prepareTickets(codes, booking)
      preparedTickets.catch(() => {})
      result = await batcher.submit({ ...booking, preparedTickets })
    } catch (error) {
      metrics.bookings.inc({ outcome: failedOutcome(error) })
      throw error
    }
    metrics.bookings.inc({ outcome: result.outcome === 'failed' ? failedOutcome(result.problem) : result.outcome })
    if (result.outcome === 'failed') throw result.problem
    if (result.outcome === 'replayed') {
      return reply.code(200).header('Idempotent-Replayed', 'true').send(result.booking)
    }
    return reply.code(201).header('Location', `/api/bookings/${result.booking.id}`).send(result.booking)
  })

  app.get('/bookings', {
    onRequest: app.authenticate({ scope: 'bookings:read', admin: true }),
    schema: listBookingsOperation
  }, async function listBookings (request) {
    const { limit = DEFAULT_PAGE_SIZE, cursor, eventId, status } = request.query
    const page = await bookings.list(principalOf(request.principal), { eventId, status }, limit, afterCursor(cursor))
    return { data: page.bookings, nextCursor: nextCursor(page.bookings, page.hasMore, (booking) => booking.createdAt) }
  })

  app.get('/bookings/:bookingId', {
    onRequest: app.authenticate({ scope: 'bookings:read', admin: true }),
    schema: getBookingOperation
  }, async function getBooking (request) {
    const booking = await bookings.findById(request.params.bookingId, principalOf(request.principal))
    if (booking === undefined) throw notFoundProblem(`Booking ${request.params.bookingId} does not exist.`)
    return booking
  })

  app.post('/bookings/:bookingId/cancel', {
    onRequest: app.authenticate({ scope: 'bookings:write', admin: true }),
    schema: cancelBookingOperation
  }, async function cancelBooking (request) {
    const booking = await bookings.cancel(request.params.bookingId, principalOf(request.principal))
    if (booking === undefined) throw notFoundProblem(`Booking ${request.params.bookingId} does not exist.`)
    return booking
  })

  app.post('/bookings/:bookingId/confirm', {
    onRequest: app.authenticate({ scope: 'bookings:write', admin: false }),
    schema: confirmBookingOperation
  }, async function confirmBooking (request) {
    const booking = await bookings.confirm(request.params.bookingId, principalOf(request.principal))
    if (booking === undefined) throw notFoundProblem(`Booking ${request.params.bookingId} does not exist.`)
    return booking
  })
}
