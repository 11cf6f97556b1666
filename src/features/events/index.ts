import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { parseInstant, parseOptionalInstant } from '../../instants.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { notFoundProblem } from '../../problems.js'
import { DEFAULT_PAGE_SIZE, NoQuerySchema, ref } from '../../schemas/common.js'
import {
  EventCreateSchema, EventListQuerySchema, EventPageSchema, EventParamsSchema, EventSchema, EventUpdateSchema,
  eventExample, eventPageExample
} from '../../schemas/events.js'
import { adminSecurity, bodyProblems, jsonResponse, locationHeader, problems, publicSecurity } from '../../schemas/responses.js'
import { createEventsRepository } from './events-repository.js'

const location = locationHeader('The URL of the new event.', `/api/events/${eventExample.id}`)

export const eventsFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  const events = createEventsRepository(sql)

  app.get('/events', {
    schema: {
      operationId: 'listEvents',
      tags: ['Events'],
      summary: 'List events',
      description: 'Events ordered by `startsAt`, then `id`, in pages of `limit`. Follow `nextCursor` until it is `null`.',
      security: publicSecurity(),
      querystring: EventListQuerySchema,
      response: { 200: jsonResponse(ref(EventPageSchema), 'A page of events.', eventPageExample), ...problems(400) }
    }
  }, async function listEvents (request) {
    const after = afterCursor(request.query.cursor)
    const page = await events.list(request.query.limit ?? DEFAULT_PAGE_SIZE, after && { startsAt: after.at, id: after.id })
    return { data: page.events, nextCursor: nextCursor(page.events, page.hasMore, (event) => event.startsAt) }
  })

  app.get('/events/:eventId', {
    schema: {
      operationId: 'getEvent',
      tags: ['Events'],
      summary: 'Get an event',
      description: 'One event by its id. Its ticket tiers are at `/api/events/{eventId}/ticket-tiers`.',
      security: publicSecurity(),
      params: EventParamsSchema,
      querystring: NoQuerySchema,
      response: { 200: jsonResponse(ref(EventSchema), 'The event.', eventExample), ...problems(400, 404) }
    }
  }, async function getEvent (request) {
    const event = await events.findById(request.params.eventId)
    if (event === undefined) throw notFoundProblem(`Event ${request.params.eventId} does not exist.`)
    return event
  })

  app.post('/events', {
    onRequest: app.verifyAdminKey,
    schema: {
      operationId: 'createEvent',
      tags: ['Events'],
      summary: 'Create an event (admin)',
      description: 'Creates an event without tiers; add them with `POST /api/events/{eventId}/ticket-tiers`. Times may carry any offset and are stored as the same instant in UTC; `endsAt` must not be before `startsAt`.',
      security: adminSecurity(),
      querystring: NoQuerySchema,
      body: ref(EventCreateSchema),
      response: { 201: jsonResponse(ref(EventSchema), 'The event was created.', eventExample, location), ...problems(...bodyProblems, 401) }
    }
  }, async function createEvent (request, reply) {
    const { startsAt, endsAt, ...rest } = request.body
    const event = await events.create({
      ...rest,
      startsAt: parseInstant(startsAt, '/startsAt'),
      endsAt: parseOptionalInstant(endsAt, '/endsAt')
    })
    return reply.code(201).header('Location', `/api/events/${event.id}`).send(event)
  })

  app.patch('/events/:eventId', {
    onRequest: app.verifyAdminKey,
    schema: {
      operationId: 'updateEvent',
      tags: ['Events'],
      summary: 'Change an event (admin)',
      description: 'Changes only the fields sent. Changing `currency` re-denominates the tier prices; existing bookings keep their own currency and amounts.',
      security: adminSecurity(),
      params: EventParamsSchema,
      querystring: NoQuerySchema,
      body: ref(EventUpdateSchema),
      response: { 200: jsonResponse(ref(EventSchema), 'The changed event.', eventExample), ...problems(...bodyProblems, 401, 404) }
    }
  }, async function updateEvent (request) {
    const { startsAt, endsAt, ...rest } = request.body
    const event = await events.update(request.params.eventId, {
      ...rest,
      startsAt: parseOptionalInstant(startsAt, '/startsAt') ?? undefined,
      endsAt: parseOptionalInstant(endsAt, '/endsAt')
    })
    if (event === undefined) throw notFoundProblem(`Event ${request.params.eventId} does not exist.`)
    return event
  })
}
