import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { notFoundProblem } from '../../problems.js'
import { DEFAULT_PAGE_SIZE, NoQuerySchema, ref } from '../../schemas/common.js'
import {
  ApiKeyCreateSchema, ApiKeyCreatedSchema, ApiKeyListSchema, ApiKeyParamsSchema, IntegratorCreateSchema, IntegratorListQuerySchema, IntegratorPageSchema,
  IntegratorParamsSchema, IntegratorSchema, MAX_KEYS_PER_INTEGRATOR, apiKeyCreatedExample, apiKeyExample, integratorExample
} from '../../schemas/integrators.js'
import { adminSecurity, bodyProblems, emptyResponse, jsonResponse, limitReachedResponse, locationHeader, problems } from '../../schemas/responses.js'
import { createIntegratorsRepository } from './integrators-repository.js'

export const integratorsFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  const integrators = createIntegratorsRepository(sql)
  const missing = (id: string) => notFoundProblem(`Integrator ${id} does not exist.`)

  app.post('/integrators', {
    onRequest: app.verifyAdminKey,
    schema: {
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
    }
  }, async function createIntegrator (request, reply) {
    const integrator = await integrators.create(request.body.name)
    return reply.code(201).header('Location', `/api/integrators/${integrator.id}`).send(integrator)
  })

  app.get('/integrators', {
    onRequest: app.verifyAdminKey,
    schema: {
      operationId: 'listIntegrators',
      tags: ['Integrators'],
      summary: 'List integrators (admin)',
      description: 'Integrators oldest first, in pages of `limit`. Follow `nextCursor` until it is `null`.',
      security: adminSecurity(),
      querystring: IntegratorListQuerySchema,
      response: { 200: jsonResponse(ref(IntegratorPageSchema), 'A page of integrators.', { data: [integratorExample], nextCursor: null }), ...problems(400, 401) }
    }
  }, async function listIntegrators (request) {
    const page = await integrators.list(request.query.limit ?? DEFAULT_PAGE_SIZE, afterCursor(request.query.cursor))
    return { data: page.integrators, nextCursor: nextCursor(page.integrators, page.hasMore, (integrator) => integrator.createdAt) }
  })

  app.get('/integrators/:integratorId', {
    onRequest: app.verifyAdminKey,
    schema: {
      operationId: 'getIntegrator',
      tags: ['Integrators'],
      summary: 'Get an integrator (admin)',
      description: 'One integrator by its id.',
      security: adminSecurity(),
      params: IntegratorParamsSchema,
      querystring: NoQuerySchema,
      response: { 200: jsonResponse(ref(IntegratorSchema), 'The integrator.', integratorExample), ...problems(400, 401, 404) }
    }
  }, async function getIntegrator (request) {
    const integrator = await integrators.findById(request.params.integratorId)
    if (integrator === undefined) throw missing(request.params.integratorId)
    return integrator
  })

  app.post('/integrators/:integratorId/keys', {
    onRequest: app.verifyAdminKey,
    schema: {
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
    }
  }, async function createApiKey (request, reply) {
    const key = await integrators.createKey(request.params.integratorId, request.body)
    if (key === undefined) throw missing(request.params.integratorId)
    return reply.code(201).send(key)
  })

  app.get('/integrators/:integratorId/keys', {
    onRequest: app.verifyAdminKey,
    schema: {
      operationId: 'listApiKeys',
      tags: ['Integrators'],
      summary: 'List an integrator\'s API keys (admin)',
      description: 'Every key of the integrator, revoked ones included, without secrets.',
      security: adminSecurity(),
      params: IntegratorParamsSchema,
      querystring: NoQuerySchema,
      response: { 200: jsonResponse(ref(ApiKeyListSchema), 'The keys.', { data: [apiKeyExample] }), ...problems(400, 401, 404) }
    }
  }, async function listApiKeys (request) {
    const data = await integrators.listKeys(request.params.integratorId)
    if (data === undefined) throw missing(request.params.integratorId)
    return { data }
  })

  app.delete('/integrators/:integratorId/keys/:keyId', {
    onRequest: app.verifyAdminKey,
    schema: {
      operationId: 'revokeApiKey',
      tags: ['Integrators'],
      summary: 'Revoke an API key (admin)',
      description: 'The key fails from this instant on. Revoking a revoked key is a `204` again.',
      security: adminSecurity(),
      params: ApiKeyParamsSchema,
      querystring: NoQuerySchema,
      response: { 204: emptyResponse('The key is revoked.'), ...problems(...bodyProblems, 401, 404) }
    }
  }, async function revokeApiKey (request, reply) {
    if (!await integrators.revokeKey(request.params.integratorId, request.params.keyId)) {
      throw notFoundProblem(`Integrator ${request.params.integratorId} has no key ${request.params.keyId}.`)
    }
    return reply.code(204).send()
  })
}
