import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { Sql } from '../../db/sql.js'
import { notFoundProblem, problemKinds } from '../../problems.js'
import {
  BookingCreateHeadersSchema, BookingCreateSchema, BookingParamsSchema, BookingSchema,
  InsufficientInventoryProblemSchema, TierNotInEventProblemSchema
} from '../../schemas/bookings.js'
import { ProblemSchema, bodyProblems, jsonResponse, problemResponse, problems, ref } from '../../schemas/common.js'
import { toBookingRequest } from './booking-request.js'
import { createBookingsRepository } from './bookings-repository.js'

const replayedHeader = {
  'Idempotent-Replayed': { description: '`true`: this is the booking an earlier request with the same key created.', type: 'string' }
}

export const bookingsFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  const bookings = createBookingsRepository(sql)

  app.post('/bookings', {
    schema: {
      operationId: 'createBooking',
      tags: ['Bookings'],
      summary: 'Book tickets',
      description: [
        'Books every item or none. Tickets leave `remaining` at once; prices are fixed on the booking.',
        '',
        '**Idempotency**: send a key as the `Idempotency-Key` header or as `clientReference` (both: they must be equal).',
        'Retrying with the same key and the same request (the same JSON value: key order, whitespace and item order do not matter)',
        'returns the original booking as it is now with `200` and `Idempotent-Replayed: true`, whatever has happened to inventory since.',
        `The same key with a different request is a \`422\` (\`${problemKinds.idempotencyKeyReuse.type}\`);`,
        `while the first request with a key is still running, others get \`409\` (\`${problemKinds.idempotencyKeyInFlight.type}\`): retry them.`,
        'A request that failed does not use up its key.'
      ].join('\n'),
      headers: BookingCreateHeadersSchema,
      body: ref(BookingCreateSchema),
      response: {
        200: jsonResponse(ref(BookingSchema), 'A replay: the booking an earlier request with the same idempotency key created, as it is now.', replayedHeader),
        201: jsonResponse(ref(BookingSchema), 'The booking was made.', {
          Location: { description: 'The URL of the new booking.', type: 'string' }
        }),
        ...problems(...bodyProblems, 404),
        409: problemResponse(
          Type.Union([ref(InsufficientInventoryProblemSchema), ref(ProblemSchema)]),
          `Not enough tickets remain (\`${problemKinds.insufficientInventory.type}\`, with \`shortages\`), or a request with the same idempotency key is in flight (\`${problemKinds.idempotencyKeyInFlight.type}\`, with \`Retry-After\`). Nothing was booked.`,
          { 'Retry-After': { description: 'With idempotency-key-in-flight: seconds to wait before retrying.', type: 'integer' } }
        ),
        422: problemResponse(
          Type.Union([ref(TierNotInEventProblemSchema), ref(ProblemSchema)]),
          `A tier does not exist or belongs to another event (\`${problemKinds.tierNotInEvent.type}\`, with \`ticketTierIds\`), or the idempotency key was used for a different request (\`${problemKinds.idempotencyKeyReuse.type}\`).`
        )
      }
    }
  }, async function createBooking (request, reply) {
    const result = await bookings.create(toBookingRequest(request.body, request.headers['idempotency-key']))
    if (result.outcome === 'replayed') {
      return reply.code(200).header('Idempotent-Replayed', 'true').send(result.booking)
    }
    return reply.code(201).header('Location', `/api/bookings/${result.booking.id}`).send(result.booking)
  })

  app.get('/bookings/:bookingId', {
    schema: {
      operationId: 'getBooking',
      tags: ['Bookings'],
      summary: 'Get a booking',
      params: BookingParamsSchema,
      response: { 200: jsonResponse(ref(BookingSchema), 'The booking.'), ...problems(400, 404) }
    }
  }, async function getBooking (request) {
    const booking = await bookings.findById(request.params.bookingId)
    if (booking === undefined) throw notFoundProblem(`Booking ${request.params.bookingId} does not exist.`)
    return booking
  })

  app.post('/bookings/:bookingId/cancel', {
    schema: {
      operationId: 'cancelBooking',
      tags: ['Bookings'],
      summary: 'Cancel a booking',
      description: 'Marks the booking `cancelled` and puts its tickets back into `remaining`. Cancelling a cancelled booking returns it unchanged and releases nothing.',
      params: BookingParamsSchema,
      response: { 200: jsonResponse(ref(BookingSchema), 'The cancelled booking.'), ...problems(...bodyProblems, 404) }
    }
  }, async function cancelBooking (request) {
    const booking = await bookings.cancel(request.params.bookingId)
    if (booking === undefined) throw notFoundProblem(`Booking ${request.params.bookingId} does not exist.`)
    return booking
  })
}
