import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import { NoQuerySchema, ProblemSchema, ref } from '../../schemas/common.js'
import { HealthSchema, LivenessSchema } from '../../schemas/health.js'
import { jsonResponse, problemExample, problemResponse, problems, publicSecurity, retryAfterHeader } from '../../schemas/responses.js'
import { DATABASE_CHECK_TIMEOUT_MS } from './database-check.js'

const notReady = problemResponse(ref(ProblemSchema), `Not ready for traffic: the service is shutting down (it still serves the requests that reach it for a short while, so a load balancer can move traffic first), the database did not answer within ${DATABASE_CHECK_TIMEOUT_MS / 1000} s, or it lacks a migration this version needs; also when the server is overloaded. Retry after \`Retry-After\` seconds.`, [
  { summary: 'Shutting down', value: problemExample(problemKinds.unavailable, 'The service is shutting down; other instances take the traffic.', '/api/health/ready') },
  { summary: 'Database unreachable', value: problemExample(problemKinds.unavailable, 'The database does not answer.', '/api/health/ready') }
], retryAfterHeader('Seconds to wait before asking again.', 2), 'server')

const readyResponses = {
  200: jsonResponse(ref(HealthSchema), 'Ready: the database answers, has every migration, and the service is not shutting down.', { status: 'ok', database: 'ok' }),
  ...problems(400),
  503: notReady
}

const readyDescription = `\`200\` when the service should get traffic: the database answers within ${DATABASE_CHECK_TIMEOUT_MS / 1000} s, it has every migration this version needs, and the service is not shutting down; otherwise a \`503\` problem with \`Retry-After\`. From the moment the service is told to stop (SIGTERM) it answers \`503\` while it still serves requests, so a load balancer takes it out of rotation before it stops accepting connections. Needs no authentication; for readiness probes and load balancer health checks.`

export const getLivenessOperation = {
  operationId: 'getLiveness',
  tags: ['Health'],
  summary: 'Check that the process answers',
  description: '`200` while the process runs and answers HTTP, even at capacity, while shutting down, or when the database is down: it queries nothing. Needs no authentication; for liveness probes and container health checks (a failing one means: restart the process).',
  security: publicSecurity(),
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(LivenessSchema), 'The process answers.', { status: 'ok' }),
    ...problems(400)
  }
} satisfies FastifySchema

export const getReadinessOperation = {
  operationId: 'getReadiness',
  tags: ['Health'],
  summary: 'Check that the service is ready for traffic',
  description: readyDescription,
  security: publicSecurity(),
  querystring: NoQuerySchema,
  response: readyResponses
} satisfies FastifySchema

export const getHealthOperation = {
  operationId: 'getHealth',
  tags: ['Health'],
  summary: 'Check the service and its database (same as the readiness check)',
  description: `The same check as \`GET /api/health/ready\`, kept under its first name. ${readyDescription}`,
  security: publicSecurity(),
  querystring: NoQuerySchema,
  response: readyResponses
} satisfies FastifySchema
