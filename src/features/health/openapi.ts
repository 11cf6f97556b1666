import type { FastifySchema } from 'fastify'
import { NoQuerySchema, ref } from '../../schemas/common.js'
import { HealthSchema } from '../../schemas/health.js'
import { jsonResponse, problems, publicSecurity } from '../../schemas/responses.js'
import { DATABASE_CHECK_TIMEOUT_MS } from './database-check.js'

export const getHealthOperation = {
  operationId: 'getHealth',
  tags: ['Health'],
  summary: 'Check the service and its database',
  description: `\`200\` when the database answers within ${DATABASE_CHECK_TIMEOUT_MS / 1000} s, else a \`503\` problem. Needs no authentication; suitable for load balancer and container health checks.`,
  security: publicSecurity(),
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(HealthSchema), 'The service and its database are up.', { status: 'ok', database: 'ok' }),
    ...problems(400)
  }
} satisfies FastifySchema
