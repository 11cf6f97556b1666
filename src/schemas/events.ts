import { Type, type Static } from '@sinclair/typebox'
import { CurrencySchema, DateTimeSchema, NameSchema, Nullable, NullableString, PageSchema, UuidSchema, described, pageQueryFields } from './common.js'

export const eventExample = {
  id: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70',
  name: 'The Demo Tour: Live',
  description: 'Doors open at 19:00.',
  venue: 'Riverside Arena',
  startsAt: '2027-07-17T19:30:00.000Z',
  endsAt: '2027-07-17T23:00:00.000Z',
  currency: 'EUR',
  createdAt: '2026-11-25T18:00:00.000Z'
}

const DescriptionSchema = Type.String({ maxLength: 2000, description: 'Free text, up to 2000 characters.' })

export const EventSchema = Type.Object({
  id: described(UuidSchema, 'The event\'s id.'),
  name: described(NameSchema, 'The event\'s name, 1 to 200 characters.'),
  description: NullableString(DescriptionSchema, 'Free text about the event, or `null`.'),
  venue: described(NameSchema, 'Where it takes place, 1 to 200 characters.'),
  startsAt: described(DateTimeSchema, 'When it starts, in UTC.'),
  endsAt: NullableString(DateTimeSchema, 'When it ends, in UTC, or `null` when not given.'),
  currency: described(CurrencySchema, 'ISO 4217 currency of every tier\'s price.'),
  createdAt: described(DateTimeSchema, 'When the event was created, in UTC.')
}, {
  $id: 'Event',
  description: 'A concert or other event that sells tickets in tiers. Every tier is priced in the event\'s currency.',
  additionalProperties: false,
  examples: [eventExample]
})
export type Event = Static<typeof EventSchema>

export const EventPageSchema = PageSchema(EventSchema, {
  $id: 'EventPage', description: 'One page of events, ordered by `startsAt`, then `id`.', items: 'Up to `limit` events.'
})

export const eventPageExample = { data: [eventExample], nextCursor: 'WyIyMDI3LTA3LTE3VDE5OjMwOjAwLjAwMFoiLCI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiXQ' }

const eventWritableFields = {
  name: NameSchema,
  description: Type.Optional(Nullable(DescriptionSchema, 'Free text about the event, up to 2000 characters; `null` clears it.')),
  venue: NameSchema,
  startsAt: DateTimeSchema,
  endsAt: Type.Optional(Nullable(DateTimeSchema, 'When it ends; not before `startsAt`. `null` clears it.')),
  currency: CurrencySchema
}

export const EventCreateSchema = Type.Object(eventWritableFields, {
  $id: 'EventCreate',
  description: 'A new event. Times may carry any offset; they are stored as the same instant in UTC.',
  additionalProperties: false,
  examples: [{
    name: 'Midnight Echoes: World Tour',
    description: 'Doors open at 19:00.',
    venue: 'Riverside Arena',
    startsAt: '2026-12-31T20:00:00+01:00',
    endsAt: '2026-12-31T23:30:00+01:00',
    currency: 'EUR'
  }]
})
export type EventCreate = Static<typeof EventCreateSchema>

export const EventUpdateSchema = Type.Partial(Type.Object(eventWritableFields), {
  $id: 'EventUpdate',
  additionalProperties: false,
  minProperties: 1,
  description: 'Any non-empty subset of the create fields; `description` and `endsAt` may be set to `null` to clear them.',
  examples: [{ venue: 'Harbour Hall', description: 'Doors open at 18:30.' }]
})
export type EventUpdate = Static<typeof EventUpdateSchema>

export const EventParamsSchema = Type.Object({ eventId: Type.String({ ...UuidSchema, examples: [eventExample.id] }) }, { additionalProperties: false })

export const EventListQuerySchema = Type.Object(pageQueryFields(), { additionalProperties: false })

export const eventSchemas = [EventSchema, EventPageSchema, EventCreateSchema, EventUpdateSchema]
