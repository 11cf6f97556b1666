import { Type, type Static } from '@sinclair/typebox'
import { bookingExample, BookingSchema } from './bookings.js'
import { checkInExample, CheckInSchema } from './check-in.js'
import { TicketSchema, ticketExample } from './tickets.js'
import { DateTimeSchema, Nullable, NullableString, PageSchema, UuidSchema, described, pageQueryFields, ref } from './common.js'

export const BOOKING_EVENT_TYPES = ['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired'] as const
export const TICKET_CHECKED_IN = 'ticket.checked_in'
export const WEBHOOK_EVENT_TYPES = [...BOOKING_EVENT_TYPES, TICKET_CHECKED_IN] as const
export type WebhookEventType = typeof WEBHOOK_EVENT_TYPES[number]
export const PING_EVENT_TYPE = 'webhook.ping'

/** Endpoints one integrator may have: every booking event is queued once per subscribed endpoint. */
export const MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR = 20
export const MAX_WEBHOOK_URL_LENGTH = 2048
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 500

export const WebhookEventTypeSchema = Type.Union(WEBHOOK_EVENT_TYPES.map((type) => Type.Literal(type)), {
  $id: 'WebhookEventType',
  description: [
    '`booking.created`: a new booking, held or confirmed. `booking.confirmed`: a hold was confirmed.',
    '`booking.cancelled`: a booking was cancelled, by you or by an operator. `booking.expired`: a hold lapsed (sent within 30 s of its `expiresAt`).',
    '`ticket.checked_in`: a ticket of one of your bookings was admitted at a door (an entry let in, online or uploaded from an offline device).'
  ].join(' ')
})

const WebhookUrlSchema = Type.String({
  format: 'uri',
  pattern: '^https?://',
  maxLength: MAX_WEBHOOK_URL_LENGTH,
  description: 'Where deliveries are POSTed: an `https://` (or `http://`) URL of at most 2048 characters, without user name or password. Redirects are not followed. Addresses that are not public (loopback, private, link-local, ...) are refused, when saved and again on the resolved address of every delivery, unless the server runs with `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`.',
  examples: ['https://tickets.example.com/webhooks/booking']
})

const WebhookEventsSchema = Type.Array(ref(WebhookEventTypeSchema), {
  minItems: 1,
  maxItems: WEBHOOK_EVENT_TYPES.length,
  uniqueItems: true,
  description: 'The event types this endpoint receives, at least one.'
})

const DescriptionSchema = Type.String({ maxLength: MAX_WEBHOOK_DESCRIPTION_LENGTH, description: 'Your note about the endpoint, at most 500 characters.' })

export const webhookEndpointExample = {
  id: '8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d',
  url: 'https://tickets.example.com/webhooks/booking',
  events: ['booking.created', 'booking.cancelled', 'booking.expired'],
  description: 'Order service',
  createdAt: '2026-11-25T17:10:00.000Z',
  disabled: false
}
export const webhookSecretExample = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw4rSdUaPlxlE='

const endpointProperties = {
  id: described(UuidSchema, 'The endpoint\'s id.'),
  url: WebhookUrlSchema,
  events: WebhookEventsSchema,
  description: NullableString(DescriptionSchema, 'Your note about the endpoint, or `null`.'),
  createdAt: described(DateTimeSchema, 'When the endpoint was registered, in UTC.'),
  disabled: Type.Boolean({ description: '`true`: no new events are queued for it, and its pending deliveries wait until it is enabled again.' })
}

export const WebhookEndpointSchema = Type.Object(endpointProperties, {
  $id: 'WebhookEndpoint',
  additionalProperties: false,
  description: 'A URL that receives your bookings\' events, signed per the Standard Webhooks specification.',
  examples: [webhookEndpointExample]
})
export type WebhookEndpoint = Static<typeof WebhookEndpointSchema>

export const WebhookEndpointWithSecretSchema = Type.Object({
  ...endpointProperties,
  secret: Type.String({
    pattern: '^whsec_[A-Za-z0-9+/]+={0,2}$',
    maxLength: 100,
    description: 'The signing secret (`whsec_` and the base64 of 32 random bytes), shown in this response only: give it to your Standard Webhooks verifier.',
    examples: [webhookSecretExample]
  })
}, {
  $id: 'WebhookEndpointWithSecret',
  additionalProperties: false,
  description: 'A webhook endpoint with its signing secret, which only the registration and a rotation show.',
  examples: [{ ...webhookEndpointExample, secret: webhookSecretExample }]
})
export type WebhookEndpointWithSecret = Static<typeof WebhookEndpointWithSecretSchema>

export const WebhookEndpointCreateSchema = Type.Object({
  url: WebhookUrlSchema,
  events: WebhookEventsSchema,
  description: Type.Optional(DescriptionSchema)
}, {
  $id: 'WebhookEndpointCreate',
  additionalProperties: false,
  description: 'A new webhook endpoint.',
  examples: [{ url: webhookEndpointExample.url, events: webhookEndpointExample.events, description: webhookEndpointExample.description }]
})
export type WebhookEndpointCreate = Static<typeof WebhookEndpointCreateSchema>

export const WebhookEndpointUpdateSchema = Type.Object({
  url: Type.Optional(WebhookUrlSchema),
  events: Type.Optional(WebhookEventsSchema),
  description: Type.Optional(Nullable(DescriptionSchema, 'Your note about the endpoint; `null` removes it.')),
  disabled: Type.Optional(Type.Boolean({ description: '`true` pauses deliveries to the endpoint; `false` resumes them.' }))
}, {
  $id: 'WebhookEndpointUpdate',
  additionalProperties: false,
  minProperties: 1,
  description: 'The fields to change; at least one.',
  examples: [{ disabled: true }]
})
export type WebhookEndpointUpdate = Static<typeof WebhookEndpointUpdateSchema>

export const WebhookEndpointPageSchema = PageSchema(WebhookEndpointSchema, {
  $id: 'WebhookEndpointPage', description: 'One page of webhook endpoints.', items: 'Up to `limit` of your endpoints, oldest first.'
})

export const WebhookEndpointListQuerySchema = Type.Object(
  pageQueryFields(),
  { additionalProperties: false }
)

export const WebhookEndpointParamsSchema = Type.Object({
  endpointId: Type.String({ ...UuidSchema, examples: [webhookEndpointExample.id] })
}, { additionalProperties: false })

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const

export const webhookDeliveryExample = {
  id: '3c2b1a09-8f7e-4d6c-9b5a-493827160504',
  endpointId: webhookEndpointExample.id,
  eventId: '9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0',
  eventType: 'booking.created',
  status: 'pending',
  attempts: 1,
  createdAt: '2026-11-25T18:04:05.130Z',
  lastAttemptAt: '2026-11-25T18:04:05.210Z',
  lastResponseStatus: 500,
  lastError: 'The endpoint answered 500.',
  nextAttemptAt: '2026-11-25T18:04:10.210Z'
}

export const WebhookDeliverySchema = Type.Object({
  id: described(UuidSchema, 'The delivery\'s id.'),
  endpointId: described(UuidSchema, 'The endpoint it goes to.'),
  eventId: described(UuidSchema, 'The event it carries: the `id` of the body and the `webhook-id` header, the same on every attempt.'),
  eventType: Type.Union([...WEBHOOK_EVENT_TYPES, PING_EVENT_TYPE].map((type) => Type.Literal(type)), { description: 'The event\'s type: one of the `WebhookEventType`s, or `webhook.ping`.', examples: ['booking.created'] }),
  status: Type.Union(DELIVERY_STATUSES.map((status) => Type.Literal(status)), {
    description: '`pending`: not delivered yet, another attempt is due at `nextAttemptAt`. `succeeded`: the endpoint answered `2xx` within 10 s. `failed`: every attempt of the schedule failed (about 3 days); retry it by hand.'
  }),
  attempts: Type.Integer({ format: 'int32', minimum: 0, maximum: 1000000, description: 'Attempts made so far.' }),
  createdAt: described(DateTimeSchema, 'When the delivery was queued, in UTC: the event\'s commit.'),
  lastAttemptAt: NullableString(DateTimeSchema, 'When the last attempt started, or `null` before the first.'),
  lastResponseStatus: Nullable(Type.Integer({ format: 'int32', minimum: 100, maximum: 599 }), 'The HTTP status of the last attempt, or `null` when there was none or no response came (see `lastError`).'),
  lastError: NullableString(Type.String({ maxLength: 500 }), 'Why the last attempt failed, or `null` when it succeeded or none was made.'),
  nextAttemptAt: NullableString(DateTimeSchema, 'When the next attempt is due while `pending` (about 5 s, 1 min, 10 min and 1 h after the failed ones, then every 6 h for 3 days); `null` otherwise.')
}, {
  $id: 'WebhookDelivery',
  additionalProperties: false,
  description: 'One event on its way to one endpoint, with the outcome of its attempts.',
  examples: [webhookDeliveryExample]
})
export type WebhookDelivery = Static<typeof WebhookDeliverySchema>

export const WebhookDeliveryPageSchema = PageSchema(WebhookDeliverySchema, {
  $id: 'WebhookDeliveryPage', description: 'One page of an endpoint\'s deliveries.', items: 'Up to `limit` deliveries, newest first.'
})

export const WebhookDeliveryListQuerySchema = Type.Object(
  pageQueryFields(),
  { additionalProperties: false }
)

export const WebhookDeliveryParamsSchema = Type.Object({
  deliveryId: Type.String({ ...UuidSchema, examples: [webhookDeliveryExample.id] })
}, { additionalProperties: false })

/** The body of a booking event, as documented in the OpenAPI `webhooks` section. */
export const BookingEventSchema = Type.Object({
  id: described(UuidSchema, 'The event id, also sent as the `webhook-id` header; the same on every retry, so use it to skip duplicates.'),
  type: Type.Union(BOOKING_EVENT_TYPES.map((type) => Type.Literal(type)), { description: 'Which change: one of the `booking.*` `WebhookEventType`s.' }),
  createdAt: described(DateTimeSchema, 'When the change happened, in UTC. Deliveries come in no promised order: compare this.'),
  data: Type.Object({
    booking: ref(BookingSchema)
  }, { additionalProperties: false, description: 'The booking as `GET /api/bookings/{bookingId}` showed it right after the change.' })
}, {
  $id: 'BookingEvent',
  additionalProperties: false,
  description: 'What a webhook endpoint receives when one of your bookings changes.',
  examples: [{ id: webhookDeliveryExample.eventId, type: 'booking.created', createdAt: '2026-11-25T18:04:05.130Z', data: { booking: bookingExample } }]
})

/** The body of a `ticket.checked_in` event. */
export const TicketCheckedInEventSchema = Type.Object({
  id: described(UuidSchema, 'The event id, also sent as the `webhook-id` header; the same on every retry, so use it to skip duplicates.'),
  type: Type.Literal(TICKET_CHECKED_IN, { description: 'Always `ticket.checked_in`.' }),
  createdAt: described(DateTimeSchema, 'When the admission was recorded, in UTC.'),
  data: Type.Object({
    ticket: ref(TicketSchema),
    checkIn: ref(CheckInSchema)
  }, { additionalProperties: false, description: 'The ticket admitted and the check-in that admitted it, as the door saw them.' })
}, {
  $id: 'TicketCheckedInEvent',
  additionalProperties: false,
  description: 'What a webhook endpoint receives when a ticket of one of your bookings is admitted at a door.',
  examples: [{ id: '2b3c4d5e-6f70-4182-9304-a5b6c7d8e9f0', type: TICKET_CHECKED_IN, createdAt: checkInExample.recordedAt, data: { ticket: ticketExample, checkIn: checkInExample } }]
})

export const PingEventSchema = Type.Object({
  id: described(UuidSchema, 'The event id, also sent as the `webhook-id` header.'),
  type: Type.Literal(PING_EVENT_TYPE, { description: 'Always `webhook.ping`.' }),
  createdAt: described(DateTimeSchema, 'When the ping was asked for, in UTC.'),
  data: Type.Object({
    endpointId: described(UuidSchema, 'The endpoint pinged.')
  }, { additionalProperties: false, description: 'Which endpoint was pinged.' })
}, {
  $id: 'PingEvent',
  additionalProperties: false,
  description: 'What `POST /api/webhook-endpoints/{endpointId}/ping` sends, to test a receiver.',
  examples: [{ id: '1d2c3b4a-5968-4776-8594-a3b2c1d0e9f8', type: PING_EVENT_TYPE, createdAt: '2026-11-25T17:11:00.000Z', data: { endpointId: webhookEndpointExample.id } }]
})

export const webhookSchemas = [
  WebhookEventTypeSchema, WebhookEndpointSchema, WebhookEndpointWithSecretSchema, WebhookEndpointCreateSchema, WebhookEndpointUpdateSchema,
  WebhookEndpointPageSchema, WebhookDeliverySchema, WebhookDeliveryPageSchema, BookingEventSchema, TicketCheckedInEventSchema, PingEventSchema
]
