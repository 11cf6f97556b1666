import { Type, type Static } from '@sinclair/typebox'
import { problemKinds } from '../problems.js'
import { CurrencySchema, DateTimeSchema, NameSchema, NullableString, PageSchema, ProblemSchema, UuidSchema, described, pageQueryFields, ref } from './common.js'
import { MAX_CAPACITY, MAX_PRICE } from './ticket-tiers.js'

export const MAX_ITEMS_PER_BOOKING = 20
export const MAX_QUANTITY = 100
export const MIN_HOLD_SECONDS = 60
export const MAX_HOLD_SECONDS = 3600

export const BOOKING_STATES_DIAGRAM = [
  '```mermaid',
  'stateDiagram-v2',
  '  [*] --> held: POST /api/bookings with hold',
  '  [*] --> confirmed: POST /api/bookings',
  '  held --> confirmed: POST …/confirm before expiresAt',
  '  held --> expired: expiresAt passes',
  '  held --> cancelled: POST …/cancel',
  '  confirmed --> cancelled: POST …/cancel',
  '```'
].join('\n')

const UnitPriceSchema = Type.Integer({ format: 'int32', minimum: 0, maximum: MAX_PRICE, description: 'Price of one ticket when the booking was made, in minor units.' })
/** At most 100 tickets at the highest price. */
const LineTotalSchema = Type.Integer({ format: 'int64', minimum: 0, maximum: MAX_QUANTITY * MAX_PRICE, description: '`quantity` × `unitPrice`, in minor units.' })
/** At most 20 lines at the highest line total. */
const TotalSchema = Type.Integer({ format: 'int64', minimum: 0, maximum: MAX_ITEMS_PER_BOOKING * MAX_QUANTITY * MAX_PRICE, description: 'Sum of the line totals, in minor units.' })

const IdempotencyKeySchema = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '\\S',
  description: 'Your unique reference for this booking, 1 to 200 characters; it doubles as the idempotency key.'
})

export const BookingItemSchema = Type.Object({
  ticketTierId: described(UuidSchema, 'The tier booked.'),
  tierName: described(NameSchema, 'The tier\'s name when the booking was made.'),
  quantity: Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_QUANTITY, description: 'Tickets of this tier in the booking.' }),
  unitPrice: UnitPriceSchema,
  lineTotal: LineTotalSchema
}, { $id: 'BookingItem', additionalProperties: false, description: 'The tickets of one tier in a booking, at the price they were booked at.' })

export const BookingStatusSchema = Type.Union(
  [Type.Literal('held'), Type.Literal('confirmed'), Type.Literal('expired'), Type.Literal('cancelled')],
  {
    $id: 'BookingStatus',
    description: [
      '`held`: the tickets are reserved until `expiresAt`; confirm before then. ',
      '`confirmed`: booked. `expired`: the hold lapsed at `expiresAt` and its tickets are bookable again. ',
      '`cancelled`: cancelled, its tickets are bookable again. No other transitions exist:\n\n',
      BOOKING_STATES_DIAGRAM
    ].join('')
  }
)

export const bookingExample = {
  id: '0b7e6f5a-3c2d-4e1f-8a9b-1c2d3e4f5a6b',
  eventId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70',
  clientReference: 'order-1042',
  status: 'confirmed',
  items: [
    { ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71', tierName: 'VIP', quantity: 2, unitPrice: 25000, lineTotal: 50000 },
    { ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73', tierName: 'Balcony', quantity: 1, unitPrice: 5900, lineTotal: 5900 }
  ],
  total: 55900,
  currency: 'EUR',
  createdAt: '2026-11-25T18:04:05.123Z',
  expiresAt: null,
  cancelledAt: null
}

export const BookingSchema = Type.Object({
  id: described(UuidSchema, 'The booking\'s id.'),
  eventId: described(UuidSchema, 'The event booked.'),
  clientReference: NullableString(IdempotencyKeySchema, 'The idempotency key the booking was made with (header or body), or `null`.'),
  status: ref(BookingStatusSchema),
  items: Type.Array(ref(BookingItemSchema), { minItems: 1, maxItems: MAX_ITEMS_PER_BOOKING, description: 'One entry per tier, in the order they were requested.' }),
  total: TotalSchema,
  currency: CurrencySchema,
  createdAt: described(DateTimeSchema, 'When the booking was made, in UTC.'),
  expiresAt: NullableString(DateTimeSchema, 'While `held`: when the hold lapses unless confirmed. `null` in every other status.'),
  cancelledAt: NullableString(DateTimeSchema, 'When it was cancelled, in UTC, or `null`.')
}, {
  $id: 'Booking',
  description: 'Tickets of one event, taken all together. Prices are fixed when the booking is made.',
  additionalProperties: false,
  examples: [bookingExample]
})
export type Booking = Static<typeof BookingSchema>

export const BookingCreateSchema = Type.Object({
  eventId: described(UuidSchema, 'The event to book.'),
  clientReference: Type.Optional(IdempotencyKeySchema),
  hold: Type.Optional(Type.Object({
    ttlSeconds: Type.Integer({
      format: 'int32',
      minimum: MIN_HOLD_SECONDS,
      maximum: MAX_HOLD_SECONDS,
      description: `How long to hold the tickets, ${MIN_HOLD_SECONDS} to ${MAX_HOLD_SECONDS} seconds.`,
      examples: [600]
    })
  }, {
    additionalProperties: false,
    description: 'Hold the tickets instead of booking them outright: the booking is `held` until confirmed with `POST /api/bookings/{bookingId}/confirm`, and lapses (`expired`) at `expiresAt`. Without `hold` the booking is `confirmed` at once.'
  })),
  items: Type.Array(Type.Object({
    ticketTierId: described(UuidSchema, 'A tier of the event.'),
    quantity: Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_QUANTITY, description: 'At least 1 and at most the tier\'s `maxPerBooking`.' })
  }, { additionalProperties: false }), {
    minItems: 1,
    maxItems: MAX_ITEMS_PER_BOOKING,
    description: `1 to ${MAX_ITEMS_PER_BOOKING} items, each for a different tier of the event.`
  })
}, {
  $id: 'BookingCreate',
  additionalProperties: false,
  description: 'All items are booked together or not at all.',
  // No clientReference: Swagger UI fills the body editor with this, and a key nobody typed would
  // turn a second, different booking from the form into a 422 idempotency-key-reuse.
  examples: [{
    eventId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70',
    items: [
      { ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71', quantity: 2 },
      { ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73', quantity: 1 }
    ]
  }]
})
export type BookingCreate = Static<typeof BookingCreateSchema>

export const BookingCreateHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(Type.String({
    ...IdempotencyKeySchema,
    description: 'The same as `clientReference` (when both are sent they must be equal). A retry with the same key and the same body returns the original booking.',
    examples: ['order-1042']
  }))
})

export const BookingPageSchema = PageSchema(BookingSchema, {
  $id: 'BookingPage', description: 'One page of bookings.', items: 'Up to `limit` bookings, newest first.'
})

export const BookingListQuerySchema = Type.Object({
  ...pageQueryFields(),
  // Filters have no examples: Swagger UI's "Try it out" would apply them unasked.
  eventId: Type.Optional(Type.String({ format: 'uuid', maxLength: 36, description: 'Only bookings of this event.' })),
  status: Type.Optional(Type.Union([Type.Literal('held'), Type.Literal('confirmed'), Type.Literal('expired'), Type.Literal('cancelled')], {
    description: 'Only bookings in this status (as clients see it: a lapsed hold is `expired`).'
  }))
}, { additionalProperties: false })

export const BookingParamsSchema = Type.Object({ bookingId: Type.String({ ...UuidSchema, examples: [bookingExample.id] }) }, { additionalProperties: false })

export const ShortageSchema = Type.Object({
  ticketTierId: described(UuidSchema, 'The short tier.'),
  requested: Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_QUANTITY, description: 'Tickets the request asked for.' }),
  remaining: Type.Integer({ format: 'int32', minimum: 0, maximum: MAX_CAPACITY, description: 'Tickets that remained when the request was decided.' })
}, { $id: 'Shortage', additionalProperties: false, description: 'A tier with fewer tickets remaining than requested.', examples: [{ ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71', requested: 3, remaining: 1 }] })

export const InsufficientInventoryProblemSchema = Type.Object({
  ...ProblemSchema.properties,
  shortages: Type.Array(ref(ShortageSchema), { maxItems: MAX_ITEMS_PER_BOOKING, description: 'Every tier of the request that has fewer tickets remaining than requested.' })
}, {
  $id: 'InsufficientInventoryProblem',
  description: `\`${problemKinds.insufficientInventory.type}\`: nothing was booked.`,
  additionalProperties: true
})

export const TierNotInEventProblemSchema = Type.Object({
  ...ProblemSchema.properties,
  ticketTierIds: Type.Array(UuidSchema, { maxItems: MAX_ITEMS_PER_BOOKING, description: 'The requested tiers that do not exist or belong to another event.' })
}, {
  $id: 'TierNotInEventProblem',
  description: `\`${problemKinds.tierNotInEvent.type}\`: nothing was booked.`,
  additionalProperties: true
})

export const bookingSchemas = [
  BookingItemSchema, BookingStatusSchema, BookingSchema, BookingPageSchema, BookingCreateSchema, ShortageSchema,
  InsufficientInventoryProblemSchema, TierNotInEventProblemSchema
]
