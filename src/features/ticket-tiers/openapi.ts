import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import { NoQuerySchema, ProblemSchema, ref } from '../../schemas/common.js'
import { EventParamsSchema } from '../../schemas/events.js'
import {
  TicketTierCreateSchema, TicketTierListSchema, TicketTierParamsSchema, TicketTierSchema, TicketTierUpdateSchema,
  MAX_TIERS_PER_EVENT, ticketTierExample
} from '../../schemas/ticket-tiers.js'
import {
  adminSecurity, bodyProblems, jsonResponse, limitReachedResponse, problemExample, problemResponse, problems, publicSecurity
} from '../../schemas/responses.js'

export const listTicketTiersOperation = {
  operationId: 'listTicketTiers',
  tags: ['Ticket tiers'],
  summary: 'List the ticket tiers of an event',
  description: 'All tiers of the event in creation order, with what remains bookable right now.',
  security: publicSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(TicketTierListSchema), 'The event\'s tiers.', { data: [ticketTierExample] }),
    ...problems(400, 404)
  }
} satisfies FastifySchema

export const createTicketTierOperation = {
  operationId: 'createTicketTier',
  tags: ['Ticket tiers'],
  summary: 'Add a ticket tier to an event (admin)',
  description: 'The tier is priced in the event\'s currency and starts with `remaining` equal to `capacity`.',
  security: adminSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  body: ref(TicketTierCreateSchema),
  response: {
    201: jsonResponse(ref(TicketTierSchema), 'The tier was created.', { ...ticketTierExample, remaining: ticketTierExample.capacity }),
    ...problems(...bodyProblems, 401, 404),
    409: limitReachedResponse(
      `The event has ${MAX_TIERS_PER_EVENT} tiers already, the most an event may have.`,
      `Event ${ticketTierExample.eventId} has ${MAX_TIERS_PER_EVENT} ticket tiers, the most an event may have.`,
      `/api/events/${ticketTierExample.eventId}/ticket-tiers`,
      MAX_TIERS_PER_EVENT
    )
  }
} satisfies FastifySchema

export const updateTicketTierOperation = {
  operationId: 'updateTicketTier',
  tags: ['Ticket tiers'],
  summary: 'Change a ticket tier (admin)',
  description: 'Changes only the fields sent. A new `capacity` moves `remaining` by the same amount; below the tickets ' +
    `already sold it is a \`409\` (\`${problemKinds.capacityBelowSold.type}\`). A new price applies to new bookings only.`,
  security: adminSecurity(),
  params: TicketTierParamsSchema,
  querystring: NoQuerySchema,
  body: ref(TicketTierUpdateSchema),
  response: {
    200: jsonResponse(ref(TicketTierSchema), 'The changed tier.', ticketTierExample),
    ...problems(...bodyProblems, 401, 404),
    409: problemResponse(ref(ProblemSchema), 'The new capacity is below the tickets already sold; nothing was changed.', [{
      summary: 'Capacity below sold',
      value: problemExample(problemKinds.capacityBelowSold, '4 tickets of this tier are already sold, so its capacity cannot go below 4.', `/api/ticket-tiers/${ticketTierExample.id}`)
    }])
  }
} satisfies FastifySchema
