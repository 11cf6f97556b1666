import { Type, type Static } from '@sinclair/typebox'
import { CurrencySchema, NameSchema, UuidSchema, described, ref } from './common.js'

export const MAX_PRICE = 100_000_000
export const MAX_CAPACITY = 1_000_000
/** Tiers one event may have: its tier list is one page. */
export const MAX_TIERS_PER_EVENT = 100

const PriceSchema = Type.Integer({ format: 'int32', minimum: 0, maximum: MAX_PRICE, description: 'Price of one ticket in minor units of the currency (cents).', examples: [8900] })
const CapacitySchema = Type.Integer({ format: 'int32', minimum: 0, maximum: MAX_CAPACITY, description: 'Number of tickets the tier has in all.', examples: [500] })
const MaxPerBookingSchema = Type.Integer({ format: 'int32', minimum: 1, maximum: 100, description: 'Most tickets of this tier one booking may take.', examples: [10] })

/** The `maxPerBooking` of a tier created without one; the repository applies it. */
export const DEFAULT_MAX_PER_BOOKING = 10

/**
 * `maxPerBooking` of a new tier, with its `default`, as a component of its own that TicketTierCreate
 * references. openapi-typescript (default options) makes a property with a `default` of its own
 * required in component schemas, so inline it broke clients that leave it out; through a `$ref`
 * it stays optional, while Swagger UI and other readers still show the default. Ajv's `useDefaults`
 * does not look through the `$ref` either, hence DEFAULT_MAX_PER_BOOKING in the repository.
 */
const NewTierMaxPerBookingSchema = Type.Integer({
  ...MaxPerBookingSchema,
  $id: 'NewTierMaxPerBooking',
  default: DEFAULT_MAX_PER_BOOKING,
  description: `Most tickets of this tier one booking may take; ${DEFAULT_MAX_PER_BOOKING} when left out.`
})

export const ticketTierExample = {
  id: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71',
  eventId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70',
  name: 'VIP',
  price: 25000,
  currency: 'EUR',
  capacity: 50,
  remaining: 46,
  held: 2,
  maxPerBooking: 4
}

export const TicketTierSchema = Type.Object({
  id: described(UuidSchema, 'The tier\'s id.'),
  eventId: described(UuidSchema, 'The event the tier belongs to.'),
  name: NameSchema,
  price: PriceSchema,
  currency: described(CurrencySchema, 'The event\'s currency, in which `price` is given.'),
  capacity: CapacitySchema,
  remaining: Type.Integer({ format: 'int32', minimum: 0, maximum: MAX_CAPACITY, description: 'Tickets that can still be booked right now; never below 0. Tickets of a hold count again from the instant it expires.' }),
  held: Type.Integer({ format: 'int32', minimum: 0, maximum: MAX_CAPACITY, description: 'Tickets in unexpired holds: not in `remaining`, not yet confirmed.' }),
  maxPerBooking: MaxPerBookingSchema
}, {
  $id: 'TicketTier',
  description: 'A class of tickets for one event (VIP, general admission, ...) with its price and inventory.',
  additionalProperties: false,
  examples: [ticketTierExample]
})
export type TicketTier = Static<typeof TicketTierSchema>

export const TicketTierListSchema = Type.Object({
  data: Type.Array(ref(TicketTierSchema), { maxItems: MAX_TIERS_PER_EVENT, description: `The event's tiers in creation order; an event has at most ${MAX_TIERS_PER_EVENT}.` })
}, { $id: 'TicketTierList', additionalProperties: false, description: 'All tiers of one event.' })

export const TicketTierCreateSchema = Type.Object({
  name: NameSchema,
  price: PriceSchema,
  capacity: CapacitySchema,
  maxPerBooking: Type.Optional(ref(NewTierMaxPerBookingSchema))
}, {
  $id: 'TicketTierCreate',
  description: 'A new tier; `remaining` starts at `capacity` and the price is in the event\'s currency.',
  additionalProperties: false,
  examples: [{ name: 'VIP', price: 25000, capacity: 50, maxPerBooking: 4 }]
})
export type TicketTierCreate = Static<typeof TicketTierCreateSchema>

export const TicketTierUpdateSchema = Type.Partial(Type.Object({
  name: NameSchema,
  price: PriceSchema,
  capacity: Type.Integer({ ...CapacitySchema, description: 'New total capacity; `remaining` moves by the same amount. Must not be below the tickets already sold.' }),
  maxPerBooking: MaxPerBookingSchema
}), {
  $id: 'TicketTierUpdate',
  additionalProperties: false,
  minProperties: 1,
  description: 'Any non-empty subset of the create fields. A price change applies to new bookings only.',
  examples: [{ capacity: 600 }]
})
export type TicketTierUpdate = Static<typeof TicketTierUpdateSchema>

export const TicketTierParamsSchema = Type.Object({ ticketTierId: Type.String({ ...UuidSchema, examples: [ticketTierExample.id] }) }, { additionalProperties: false })

export const ticketTierSchemas = [NewTierMaxPerBookingSchema, TicketTierSchema, TicketTierListSchema, TicketTierCreateSchema, TicketTierUpdateSchema]
