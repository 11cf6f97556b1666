import type { FastifySchema } from 'fastify'
import { NoQuerySchema, ref } from '../../schemas/common.js'
import {
  ApiKeyCreateSchema, ApiKeyCreatedSchema, ApiKeyListSchema, ApiKeyParamsSchema, IntegratorCreateSchema, IntegratorListQuerySchema, IntegratorPageSchema,
  IntegratorParamsSchema, IntegratorSchema, IntegratorUpdateSchema, MAX_KEYS_PER_INTEGRATOR, apiKeyCreatedExample, apiKeyExample, integratorExample
} from '../../schemas/integrators.js'
import { adminSecurity, bodyProblems, emptyResponse, jsonResponse, limitReachedResponse, locationHeader, problems } from '../../schemas/responses.js'

export const createIntegratorOperation = {
  operationId: 'createIntegrator',
  tags: ['Integrators'],
  summary: 'Create an integrator (admin)',
  description: 'An integrator is a customer of the API. Give it keys with `POST /api/integrators/{integratorId}/keys`.',
  security: adminSecurity(),
  querystring: NoQuerySchema,
  body: ref(IntegratorCreateSchema),
  response: {
    201: jsonResponse(ref(IntegratorSchema), 'The integrator was created.', integratorExample, locationHeader('The URL of the new integrator.', `/api/integrators/${integratorExample.id}`)),
    ...problems(...bodyProblems, 401)
  }
} satisfies FastifySchema

export const listIntegratorsOperation = {
  operationId: 'listIntegrators',
  tags: ['Integrators'],
  summary: 'List integrators (admin)',
  description: 'Integrators oldest first, in pages of `limit`. Follow `nextCursor` until it is `null`.',
  security: adminSecurity(),
  querystring: IntegratorListQuerySchema,
  response: { 200: jsonResponse(ref(IntegratorPageSchema), 'A page of integrators.', { data: [integratorExample], nextCursor: null }), ...problems(400, 401) }
} satisfies FastifySchema

export const getIntegratorOperation = {
  operationId: 'getIntegrator',
  tags: ['Integrators'],
  summary: 'Get an integrator (admin)',
  description: 'One integrator by its id.',
  security: adminSecurity(),
  params: IntegratorParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(IntegratorSchema), 'The integrator.', integratorExample), ...problems(400, 401, 404) }
} satisfies FastifySchema

export const updateIntegratorOperation = {
  operationId: 'updateIntegrator',
  tags: ['Integrators'],
  summary: 'Change an integrator (admin)',
  description: [
    'Renames the integrator or sets its own rate limits: `rateLimits` with both numbers (1 to 1,000,000 a minute, per key) gives each of its keys',
    'that budget, `null` restores the service\'s defaults. A change holds from the next request on, on every server process. An empty body is a `400`.'
  ].join(' '),
  security: adminSecurity(),
  params: IntegratorParamsSchema,
  querystring: NoQuerySchema,
  body: ref(IntegratorUpdateSchema),
  response: {
    200: jsonResponse(ref(IntegratorSchema), 'The integrator as it is now.', { ...integratorExample, rateLimits: { requestsPerMinute: 120000, bookingsPerMinute: 60000 } }),
    ...problems(...bodyProblems, 401, 404)
  }
} satisfies FastifySchema

export const createApiKeyOperation = {
  operationId: 'createApiKey',
  tags: ['Integrators'],
  summary: 'Create an API key for an integrator (admin)',
  description: 'The response holds the secret `key`, `tbk_` and 32 random bytes; it is shown this once, and the server keeps only a hash. Scopes default to all three.',
  security: adminSecurity(),
  params: IntegratorParamsSchema,
  querystring: NoQuerySchema,
  body: ref(ApiKeyCreateSchema),
  response: {
    201: jsonResponse(ref(ApiKeyCreatedSchema), 'The key was created; store `key` now.', { ...apiKeyExample, key: apiKeyCreatedExample }),
    ...problems(...bodyProblems, 401, 404),
    409: limitReachedResponse(
      `The integrator has ${MAX_KEYS_PER_INTEGRATOR} keys already, revoked ones included: the most it may have.`,
      `Integrator ${integratorExample.id} has ${MAX_KEYS_PER_INTEGRATOR} keys, revoked ones included: the most it may have.`,
      `/api/integrators/${integratorExample.id}/keys`,
      MAX_KEYS_PER_INTEGRATOR
    )
  }
} satisfies FastifySchema

export const listApiKeysOperation = {
  operationId: 'listApiKeys',
  tags: ['Integrators'],
  summary: 'List an integrator\'s API keys (admin)',
  description: 'Every key of the integrator, revoked ones included, without secrets.',
  security: adminSecurity(),
  params: IntegratorParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(ApiKeyListSchema), 'The keys.', { data: [apiKeyExample] }), ...problems(400, 401, 404) }
} satisfies FastifySchema

export const revokeApiKeyOperation = {
  operationId: 'revokeApiKey',
  tags: ['Integrators'],
  summary: 'Revoke an API key (admin)',
  description: 'The key fails from this instant on. Revoking a revoked key is a `204` again.',
  security: adminSecurity(),
  params: ApiKeyParamsSchema,
  querystring: NoQuerySchema,
  response: { 204: emptyResponse('The key is revoked.'), ...problems(...bodyProblems, 401, 404) }
} satisfies FastifySchema
