import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { parseInstant, parseOptionalInstant } from '../../instants.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { notFoundProblem } from '../../problems.js'
import { DEFAULT_PAGE_SIZE } from '../../schemas/common.js'
import { createEventsRepository } from './events-repository.js'
import { createEventOperation, getEventOperation, listEventsOperation, updateEventOperation } from './openapi.js'

export const eventsFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  const events = createEventsRepository(sql)

  app.get('/events', {
    schema: listEventsOperation
  }, async function listEvents (request) {
    const after = afterCursor(request.query.cursor)
    const page = await events.list(request.query.limit ?? DEFAULT_PAGE_SIZE, after && { startsAt: after.at, id: after.id })
    return { data: page.events, nextCursor: nextCursor(page.events, page.hasMore, (event) => event.startsAt) }
  })

  app.get('/events/:eventId', {
    schema: getEventOperation
  }, async function getEvent (request) {
    const event = await events.findById(request.params.eventId)
    if (event === undefined) throw notFoundProblem(`Event ${request.params.eventId} does not exist.`)
    return event
  })

  app.post('/events', {
    onRequest: app.verifyAdminKey,
    schema: createEventOperation
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
    schema: updateEventOperation
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
