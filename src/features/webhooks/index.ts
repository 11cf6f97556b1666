import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { integratorIdOf } from '../../plugins/auth.js'
import { ProblemError, notFoundProblem, problemKinds } from '../../problems.js'
import { DEFAULT_PAGE_SIZE } from '../../schemas/common.js'
import { checkEndpointUrl } from './endpoint-url.js'
import {
  createWebhookEndpointOperation, deleteWebhookEndpointOperation, getWebhookEndpointOperation, listWebhookDeliveriesOperation,
  listWebhookEndpointsOperation, pingWebhookEndpointOperation, retryWebhookDeliveryOperation, rotateWebhookSecretOperation,
  updateWebhookEndpointOperation
} from './openapi.js'
import { createWebhooksRepository } from './webhooks-repository.js'

export interface WebhooksFeatureOptions {
  sql: Sql
  /** Accept loopback and private hosts in endpoint URLs (local development, tests). */
  allowPrivateNetworks: boolean
}

function disabledProblem (detail: string): ProblemError {
  return new ProblemError(problemKinds.webhookEndpointDisabled, `${detail} Enable it with PATCH { "disabled": false } first.`)
}

export const webhooksFeature: FastifyPluginAsyncTypebox<WebhooksFeatureOptions> = async (app, { sql, allowPrivateNetworks }) => {
  const webhooks = createWebhooksRepository(sql)
  const authenticate = app.authenticate({ scope: 'webhooks:manage', admin: false })
  const missing = (id: string) => notFoundProblem(`Webhook endpoint ${id} does not exist.`)

  app.post('/webhook-endpoints', {
    onRequest: authenticate,
    schema: createWebhookEndpointOperation
  }, async function createWebhookEndpoint (request, reply) {
    checkEndpointUrl(request.body.url, allowPrivateNetworks)
    const endpoint = await webhooks.create(integratorIdOf(request.principal), request.body)
    return reply.code(201).header('Location', `/api/webhook-endpoints/${endpoint.id}`).send(endpoint)
  })

  app.get('/webhook-endpoints', {
    onRequest: authenticate,
    schema: listWebhookEndpointsOperation
  }, async function listWebhookEndpoints (request) {
    const page = await webhooks.list(integratorIdOf(request.principal), request.query.limit ?? DEFAULT_PAGE_SIZE, afterCursor(request.query.cursor))
    return { data: page.endpoints, nextCursor: nextCursor(page.endpoints, page.hasMore, (endpoint) => endpoint.createdAt) }
  })

  app.get('/webhook-endpoints/:endpointId', {
    onRequest: authenticate,
    schema: getWebhookEndpointOperation
  }, async function getWebhookEndpoint (request) {
    const endpoint = await webhooks.findById(integratorIdOf(request.principal), request.params.endpointId)
    if (endpoint === undefined) throw missing(request.params.endpointId)
    return endpoint
  })

  app.patch('/webhook-endpoints/:endpointId', {
    onRequest: authenticate,
    schema: updateWebhookEndpointOperation
  }, async function updateWebhookEndpoint (request) {
    checkEndpointUrl(request.body.url, allowPrivateNetworks)
    const endpoint = await webhooks.update(integratorIdOf(request.principal), request.params.endpointId, request.body)
    if (endpoint === undefined) throw missing(request.params.endpointId)
    return endpoint
  })

  app.delete('/webhook-endpoints/:endpointId', {
    onRequest: authenticate,
    schema: deleteWebhookEndpointOperation
  }, async function deleteWebhookEndpoint (request, reply) {
    if (!await webhooks.delete(integratorIdOf(request.principal), request.params.endpointId)) throw missing(request.params.endpointId)
    return reply.code(204).send()
  })

  app.post('/webhook-endpoints/:endpointId/rotate-secret', {
    onRequest: authenticate,
    schema: rotateWebhookSecretOperation
  }, async function rotateWebhookSecret (request) {
    const endpoint = await webhooks.rotateSecret(integratorIdOf(request.principal), request.params.endpointId)
    if (endpoint === undefined) throw missing(request.params.endpointId)
    return endpoint
  })

  app.post('/webhook-endpoints/:endpointId/ping', {
    onRequest: authenticate,
    schema: pingWebhookEndpointOperation
  }, async function pingWebhookEndpoint (request, reply) {
    const delivery = await webhooks.ping(integratorIdOf(request.principal), request.params.endpointId)
    if (delivery === undefined) throw missing(request.params.endpointId)
    if (delivery === 'disabled') throw disabledProblem(`Webhook endpoint ${request.params.endpointId} is disabled.`)
    return reply.code(202).send(delivery)
  })

  app.get('/webhook-endpoints/:endpointId/deliveries', {
    onRequest: authenticate,
    schema: listWebhookDeliveriesOperation
  }, async function listWebhookDeliveries (request) {
    const { limit = DEFAULT_PAGE_SIZE, cursor } = request.query
    const page = await webhooks.listDeliveries(integratorIdOf(request.principal), request.params.endpointId, limit, afterCursor(cursor))
    if (page === undefined) throw missing(request.params.endpointId)
    return { data: page.deliveries, nextCursor: nextCursor(page.deliveries, page.hasMore, (delivery) => delivery.createdAt) }
  })

  app.post('/webhook-deliveries/:deliveryId/retry', {
    onRequest: authenticate,
    schema: retryWebhookDeliveryOperation
  }, async function retryWebhookDelivery (request, reply) {
    const delivery = await webhooks.retryDelivery(integratorIdOf(request.principal), request.params.deliveryId)
    if (delivery === undefined) throw notFoundProblem(`Webhook delivery ${request.params.deliveryId} does not exist.`)
    if (delivery === 'disabled') throw disabledProblem(`The endpoint of webhook delivery ${request.params.deliveryId} is disabled.`)
    return reply.code(202).send(delivery)
  })
}
