import type { FastifySchema } from 'fastify'
import { NoQuerySchema, ref } from '../../schemas/common.js'
import {
  EventCreateSchema, EventListQuerySchema, EventPageSchema, EventParamsSchema, EventSchema, EventUpdateSchema,
  eventExample, eventPageExample
} from '../../schemas/events.js'
import { adminSecurity, bodyProblems, jsonResponse, locationHeader, problems, publicSecurity } from '../../schemas/responses.js'

const location = locationHeader('The URL of the new event.', `/api/events/${eventExample.id}`)

export const listEventsOperation = {
  operationId: 'listEvents',
  tags: ['Events'],
  summary: 'List events',
  description: 'Events ordered by `startsAt`, then `id`, in pages of `limit`. Follow `nextCursor` until it is `null`.',
  security: publicSecurity(),
  querystring: EventListQuerySchema,
  response: { 200: jsonResponse(ref(EventPageSchema), 'A page of events.', eventPageExample), ...problems(400) }
} satisfies FastifySchema

export const getEventOperation = {
  operationId: 'getEvent',
  tags: ['Events'],
  summary: 'Get an event',
  description: 'One event by its id. Its ticket tiers are at `/api/events/{eventId}/ticket-tiers`.',
  security: publicSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(EventSchema), 'The event.', eventExample), ...problems(400, 404) }
} satisfies FastifySchema

export const createEventOperation = {
  operationId: 'createEvent',
  tags: ['Events'],
  summary: 'Create an event (admin)',
  description: 'Creates an event without tiers; add them with `POST /api/events/{eventId}/ticket-tiers`. Times may carry any offset and are stored as the same instant in UTC; `endsAt` must not be before `startsAt`.',
  security: adminSecurity(),
  querystring: NoQuerySchema,
  body: ref(EventCreateSchema),
  response: { 201: jsonResponse(ref(EventSchema), 'The event was created.', eventExample, location), ...problems(...bodyProblems, 401) }
} satisfies FastifySchema

export const updateEventOperation = {
  operationId: 'updateEvent',
  tags: ['Events'],
  summary: 'Change an event (admin)',
  description: 'Changes only the fields sent. Changing `currency` re-denominates the tier prices; existing bookings keep their own currency and amounts.',
  security: adminSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  body: ref(EventUpdateSchema),
  response: { 200: jsonResponse(ref(EventSchema), 'The changed event.', eventExample), ...problems(...bodyProblems, 401, 404) }
} satisfies FastifySchema
