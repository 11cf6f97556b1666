import { Type } from '@sinclair/typebox'
import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import {
  BookingCreateHeadersSchema, BookingCreateSchema, BookingParamsSchema, BookingSchema,
  BOOKING_STATES_DIAGRAM, BookingListQuerySchema, BookingPageSchema, InsufficientInventoryProblemSchema, TierNotInEventProblemSchema,
  bookingExample
} from '../../schemas/bookings.js'
import { NoQuerySchema, ProblemSchema, ref } from '../../schemas/common.js'
import {
  bodyProblems, integratorSecurity, jsonResponse, locationHeader, problemExample, problemResponse, problems, retryAfterHeader
} from '../../schemas/responses.js'

const cancelledExample = { ...bookingExample, status: 'cancelled', cancelledAt: '2026-11-25T19:12:44.318Z' }
const heldExample = { ...bookingExample, status: 'held', expiresAt: '2026-11-25T18:14:05.123Z' }

function holdExpiredExample (path: string) {
  return {
    summary: 'The hold lapsed',
    value: problemExample(problemKinds.holdExpired, `The hold of booking ${bookingExample.id} has expired; its tickets were released.`, path)
  }
}
const instance = '/api/bookings'

const replayedHeader = {
  'Idempotent-Replayed': { description: '`true`: this is the booking an earlier request with the same key created.', type: 'string' as const, enum: ['true'], maxLength: 4, example: 'true' }
}

export const createBookingOperation = {
  operationId: 'createBooking',
  tags: ['Bookings'],
  summary: 'Book tickets',
  description: [
    'Books every item or none. Tickets leave `remaining` at once; prices are fixed on the booking.',
    '',
    '**Holds**: with `hold: { ttlSeconds }` the booking is `held` until `expiresAt`: its tickets are reserved for you',
    'while the buyer pays. Confirm it with `POST /api/bookings/{bookingId}/confirm` before then, or it becomes `expired`',
    'at that instant and its tickets are bookable again. Without `hold` the booking is `confirmed` at once.',
    '',
    BOOKING_STATES_DIAGRAM,
    '',
    '**Idempotency**: send a key as the `Idempotency-Key` header or as `clientReference` (both: they must be equal).',
    'Retrying with the same key and the same request (the same JSON value: key order, whitespace and item order do not matter)',
    'returns the original booking as it is now with `200` and `Idempotent-Replayed: true`, whatever has happened to inventory since.',
    `The same key with a different request is a \`422\` (\`${problemKinds.idempotencyKeyReuse.type}\`);`,
    `while the first request with a key is still running, others get \`409\` (\`${problemKinds.idempotencyKeyInFlight.type}\`): retry them.`,
    'A request that failed does not use up its key.'
  ].join('\n'),
  security: integratorSecurity('bookings:write'),
  headers: BookingCreateHeadersSchema,
  querystring: NoQuerySchema,
  body: ref(BookingCreateSchema),
  response: {
    200: jsonResponse(ref(BookingSchema), 'A replay: the booking an earlier request with the same idempotency key created, as it is now.', bookingExample, replayedHeader),
    201: jsonResponse(ref(BookingSchema), 'The booking was made: `confirmed`, or `held` until `expiresAt` when `hold` was given.', heldExample, {
      ...locationHeader('The URL of the new booking.', `/api/bookings/${bookingExample.id}`)
    }),
    ...problems(...bodyProblems, 401, 403, 404),
    409: problemResponse(
      Type.Union([ref(InsufficientInventoryProblemSchema), ref(ProblemSchema)]),
      'Not enough tickets remain (with `shortages` for every short tier), or a request with the same idempotency key is still in flight (retry after `Retry-After`). Nothing was booked.',
      [{
        summary: 'Not enough tickets',
        value: problemExample(problemKinds.insufficientInventory, 'Not enough tickets remain for one tier; nothing was booked.', instance, {
          shortages: [{ ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71', requested: 3, remaining: 1 }]
        })
      }, {
        summary: 'Same key in flight',
        value: problemExample(problemKinds.idempotencyKeyInFlight, 'Another request with this idempotency key is being processed; retry shortly to get its result.', instance)
      }],
      retryAfterHeader('With idempotency-key-in-flight: seconds to wait before retrying.', 1)
    ),
    422: problemResponse(
      Type.Union([ref(TierNotInEventProblemSchema), ref(ProblemSchema)]),
      'A tier does not exist or belongs to another event (listed in `ticketTierIds`), or the idempotency key was used for a different request. Nothing was booked.',
      [{
        summary: 'Tier of another event',
        value: problemExample(problemKinds.tierNotInEvent, 'Ticket tier 9b2e4c1a-7d3f-4e5a-8b6c-0d1e2f3a4b5c is not a tier of event 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70.', instance, {
          ticketTierIds: ['9b2e4c1a-7d3f-4e5a-8b6c-0d1e2f3a4b5c']
        })
      }, {
        summary: 'Key reused for another request',
        value: problemExample(problemKinds.idempotencyKeyReuse, 'The idempotency key was already used for booking 0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b with a different request.', instance)
      }]
    )
  }
} satisfies FastifySchema

export const listBookingsOperation = {
  operationId: 'listBookings',
  tags: ['Bookings'],
  summary: 'List your bookings',
  description: 'The bookings made with your keys (an admin key sees all), newest first, in pages of `limit`, optionally of one event or in one status. Follow `nextCursor` until it is `null`.',
  security: integratorSecurity('bookings:read', true),
  querystring: BookingListQuerySchema,
  response: {
    200: jsonResponse(ref(BookingPageSchema), 'A page of bookings.', { data: [bookingExample], nextCursor: null }),
    ...problems(400, 401, 403)
  }
} satisfies FastifySchema

export const getBookingOperation = {
  operationId: 'getBooking',
  tags: ['Bookings'],
  summary: 'Get a booking',
  description: 'The booking as it is now, with the prices it was made at.',
  security: integratorSecurity('bookings:read', true),
  params: BookingParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(BookingSchema), 'The booking.', bookingExample), ...problems(400, 401, 403, 404) }
} satisfies FastifySchema

export const cancelBookingOperation = {
  operationId: 'cancelBooking',
  tags: ['Bookings'],
  summary: 'Cancel a booking',
  description: 'Cancels a `held` or `confirmed` booking and puts its tickets back into `remaining`. Cancelling a cancelled booking returns it unchanged and releases nothing. An `expired` hold cannot be cancelled (its tickets are already back): `409`.',
  security: integratorSecurity('bookings:write', true),
  params: BookingParamsSchema,
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(BookingSchema), 'The cancelled booking.', cancelledExample),
    ...problems(...bodyProblems, 401, 403, 404),
    409: problemResponse(ref(ProblemSchema), 'The booking is an expired hold.', [holdExpiredExample(`/api/bookings/${bookingExample.id}/cancel`)])
  }
} satisfies FastifySchema

export const confirmBookingOperation = {
  operationId: 'confirmBooking',
  tags: ['Bookings'],
  summary: 'Confirm a held booking',
  description: 'Turns a `held` booking into `confirmed` before its `expiresAt`. Confirming a confirmed booking returns it unchanged. An expired hold or a cancelled booking cannot be confirmed: `409`.',
  security: integratorSecurity('bookings:write'),
  params: BookingParamsSchema,
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(BookingSchema), 'The confirmed booking.', bookingExample),
    ...problems(...bodyProblems, 401, 403, 404),
    409: problemResponse(ref(ProblemSchema), 'The hold expired, or the booking is cancelled.', [
      holdExpiredExample(`/api/bookings/${bookingExample.id}/confirm`),
      {
        summary: 'The booking is cancelled',
        value: problemExample(problemKinds.bookingCancelled, `Booking ${bookingExample.id} is cancelled and cannot be confirmed.`, `/api/bookings/${bookingExample.id}/confirm`)
      }
    ])
  }
} satisfies FastifySchema
