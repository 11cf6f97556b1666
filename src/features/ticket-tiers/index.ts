import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { notFoundProblem } from '../../problems.js'
import { createTicketTierOperation, listTicketTiersOperation, updateTicketTierOperation } from './openapi.js'
import { createTicketTiersRepository } from './ticket-tiers-repository.js'

export const ticketTiersFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  const tiers = createTicketTiersRepository(sql)

  app.get('/events/:eventId/ticket-tiers', {
    schema: listTicketTiersOperation
  }, async function listTicketTiers (request) {
    const data = await tiers.listByEvent(request.params.eventId)
    if (data === undefined) throw notFoundProblem(`Event ${request.params.eventId} does not exist.`)
    return { data }
  })

  app.post('/events/:eventId/ticket-tiers', {
    onRequest: app.verifyAdminKey,
    schema: createTicketTierOperation
  }, async function createTicketTier (request, reply) {
    const tier = await tiers.create(request.params.eventId, request.body)
    if (tier === undefined) throw notFoundProblem(`Event ${request.params.eventId} does not exist.`)
    return reply.code(201).send(tier)
  })

  app.patch('/ticket-tiers/:ticketTierId', {
    onRequest: app.verifyAdminKey,
    schema: updateTicketTierOperation
  }, async function updateTicketTier (request) {
    const tier = await tiers.update(request.params.ticketTierId, request.body)
    if (tier === undefined) throw notFoundProblem(`Ticket tier ${request.params.ticketTierId} does not exist.`)
    return tier
  })
}
