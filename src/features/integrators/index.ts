import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { notFoundProblem } from '../../problems.js'
import { DEFAULT_PAGE_SIZE } from '../../schemas/common.js'
import { createIntegratorsRepository } from './integrators-repository.js'
import {
  createApiKeyOperation, createIntegratorOperation, getIntegratorOperation, listApiKeysOperation, listIntegratorsOperation, revokeApiKeyOperation, updateIntegratorOperation
} from './openapi.js'

export const integratorsFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  const integrators = createIntegratorsRepository(sql)
  const missing = (id: string) => notFoundProblem(`Integrator ${id} does not exist.`)

  app.post('/integrators', {
    onRequest: app.verifyAdminKey,
    schema: createIntegratorOperation
  }, async function createIntegrator (request, reply) {
    const integrator = await integrators.create(request.body.name)
    return reply.code(201).header('Location', `/api/integrators/${integrator.id}`).send(integrator)
  })

  app.get('/integrators', {
    onRequest: app.verifyAdminKey,
    schema: listIntegratorsOperation
  }, async function listIntegrators (request) {
    const page = await integrators.list(request.query.limit ?? DEFAULT_PAGE_SIZE, afterCursor(request.query.cursor))
    return { data: page.integrators, nextCursor: nextCursor(page.integrators, page.hasMore, (integrator) => integrator.createdAt) }
  })

  app.get('/integrators/:integratorId', {
    onRequest: app.verifyAdminKey,
    schema: getIntegratorOperation
  }, async function getIntegrator (request) {
    const integrator = await integrators.findById(request.params.integratorId)
    if (integrator === undefined) throw missing(request.params.integratorId)
    return integrator
  })

  app.patch('/integrators/:integratorId', {
    onRequest: app.verifyAdminKey,
    schema: updateIntegratorOperation
  }, async function updateIntegrator (request) {
    const integrator = await integrators.update(request.params.integratorId, request.body)
    if (integrator === undefined) throw missing(request.params.integratorId)
    return integrator
  })

  app.post('/integrators/:integratorId/keys', {
    onRequest: app.verifyAdminKey,
    schema: createApiKeyOperation
  }, async function createApiKey (request, reply) {
    const key = await integrators.createKey(request.params.integratorId, request.body)
    if (key === undefined) throw missing(request.params.integratorId)
    return reply.code(201).send(key)
  })

  app.get('/integrators/:integratorId/keys', {
    onRequest: app.verifyAdminKey,
    schema: listApiKeysOperation
  }, async function listApiKeys (request) {
    const data = await integrators.listKeys(request.params.integratorId)
    if (data === undefined) throw missing(request.params.integratorId)
    return { data }
  })

  app.delete('/integrators/:integratorId/keys/:keyId', {
    onRequest: app.verifyAdminKey,
    schema: revokeApiKeyOperation
  }, async function revokeApiKey (request, reply) {
    if (!await integrators.revokeKey(request.params.integratorId, request.params.keyId)) {
      throw notFoundProblem(`Integrator ${request.params.integratorId} has no key ${request.params.keyId}.`)
    }
    return reply.code(204).send()
  })
}
