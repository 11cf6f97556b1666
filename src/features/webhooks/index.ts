import { isIP } from 'node:net'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { integratorIdOf } from '../../plugins/auth.js'
import { ProblemError, notFoundProblem, problemKinds, validationProblem } from '../../problems.js'
import { DEFAULT_PAGE_SIZE, NoQuerySchema, ProblemSchema, ref } from '../../schemas/common.js'
import { bodyProblems, emptyResponse, integratorSecurity, jsonResponse, limitReachedResponse, locationHeader, problemExample, problemResponse, problems } from '../../schemas/responses.js'
import {
  WebhookDeliveryListQuerySchema, WebhookDeliveryPageSchema, WebhookDeliveryParamsSchema, WebhookDeliverySchema, WebhookEndpointCreateSchema,
  WebhookEndpointListQuerySchema, WebhookEndpointPageSchema, WebhookEndpointParamsSchema, WebhookEndpointSchema, WebhookEndpointUpdateSchema,
  WebhookEndpointWithSecretSchema, MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR, webhookDeliveryExample, webhookEndpointExample, webhookSecretExample
} from '../../schemas/webhooks.js'
import { hostOf, privateLiteralHost } from './network-guard.js'
import { createWebhooksRepository } from './webhooks-repository.js'

export interface WebhooksFeatureOptions {
  sql: Sql
  /** Accept loopback and private hosts in endpoint URLs (local development, tests). */
  allowPrivateNetworks: boolean
}

const SCOPE = 'webhooks:manage'
const TAGS = ['Webhooks']
const endpointPath = `/api/webhook-endpoints/${webhookEndpointExample.id}`

const disabledResponse = problemResponse(ref(ProblemSchema), 'The endpoint is disabled: enable it with `PATCH { "disabled": false }` first.', [{
  summary: 'Endpoint disabled',
  value: problemExample(problemKinds.webhookEndpointDisabled, `Webhook endpoint ${webhookEndpointExample.id} is disabled. Enable it with PATCH { "disabled": false } first.`, `${endpointPath}/ping`)
}])

/** An IP address, or a DNS name (as WHATWG URL gives it: lower case, IDNs in punycode) of labels of 1 to 63 characters. */
function isHostName (host: string): boolean {
  if (isIP(host) !== 0) return true
  const labels = host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.')
  return host.length <= 254 && labels.every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label))
}

function urlProblem (message: string): ProblemError {
  return validationProblem([{ path: '/url', message }], `The request body is not valid: /url ${message}.`)
}

function disabledProblem (detail: string): ProblemError {
  return new ProblemError(problemKinds.webhookEndpointDisabled, `${detail} Enable it with PATCH { "disabled": false } first.`)
}

export const webhooksFeature: FastifyPluginAsyncTypebox<WebhooksFeatureOptions> = async (app, { sql, allowPrivateNetworks }) => {
  const webhooks = createWebhooksRepository(sql)
  const authenticate = app.authenticate({ scope: SCOPE, admin: false })
  const missing = (id: string) => notFoundProblem(`Webhook endpoint ${id} does not exist.`)

  /**
   * What the JSON schema cannot say about a URL: that it parses as the sender will parse it
   * (WHATWG URL, as undici does), with a host, no credentials, and no private host.
   */
  function checkUrl (url: string | undefined): void {
    if (url === undefined) return
    // WHATWG URL reads `http:///hooks` as the host `hooks`; a URL as written must have a host.
    const parsed = /^https?:\/\/[^/?#\\]/i.test(url) ? URL.parse(url) : null
    if (parsed === null || !isHostName(hostOf(parsed)) || parsed.port === '0' || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
      throw urlProblem('must be a valid http:// or https:// URL with a host (and a port from 1 to 65535, if any)')
    }
    if (parsed.username !== '' || parsed.password !== '') throw urlProblem('must not contain a user name or password')
    const host = allowPrivateNetworks ? undefined : privateLiteralHost(parsed)
    if (host !== undefined) throw urlProblem(`must point at a public address; ${host} is not one`)
  }

  app.post('/webhook-endpoints', {
    onRequest: authenticate,
    schema: {
      operationId: 'createWebhookEndpoint',
      tags: TAGS,
      summary: 'Register a webhook endpoint',
      description: [
        'The endpoint receives the chosen events of your bookings as signed `POST` requests (see the `webhooks` section of this document for the bodies).',
        'The response holds the signing `secret`, shown this once (and again only by rotating it).',
        '',
        '**Verifying**: deliveries follow the [Standard Webhooks](https://www.standardwebhooks.com/) specification: headers `webhook-id` (the event id, the same on every retry),',
        '`webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`).',
        'Verify with a Standard Webhooks library, e.g. `new Webhook(secret).verify(body, headers)` from the `standardwebhooks` npm package.',
        '',
        '**Delivery** is at least once, in no promised order: answer `2xx` within 10 s; anything else (redirects too) is retried after about',
        '5 s, 1 min, 10 min and 1 h, then every 6 h for 3 days.'
      ].join('\n'),
      security: integratorSecurity(SCOPE),
      querystring: NoQuerySchema,
      body: ref(WebhookEndpointCreateSchema),
      response: {
        201: jsonResponse(ref(WebhookEndpointWithSecretSchema), 'The endpoint was registered; store `secret` now.', { ...webhookEndpointExample, secret: webhookSecretExample }, locationHeader('The URL of the new endpoint.', endpointPath)),
        ...problems(...bodyProblems, 401, 403),
        409: limitReachedResponse(
          `You have ${MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR} webhook endpoints already, the most an integrator may have.`,
          `You have ${MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR} webhook endpoints, the most an integrator may have; delete one first.`,
          '/api/webhook-endpoints',
          MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR
        )
      }
    }
  }, async function createWebhookEndpoint (request, reply) {
    checkUrl(request.body.url)
    const endpoint = await webhooks.create(integratorIdOf(request.principal), request.body)
    return reply.code(201).header('Location', `/api/webhook-endpoints/${endpoint.id}`).send(endpoint)
  })

  app.get('/webhook-endpoints', {
    onRequest: authenticate,
    schema: {
      operationId: 'listWebhookEndpoints',
      tags: TAGS,
      summary: 'List your webhook endpoints',
      description: 'Your endpoints, oldest first, in pages of `limit`, without secrets. Follow `nextCursor` until it is `null`.',
      security: integratorSecurity(SCOPE),
      querystring: WebhookEndpointListQuerySchema,
      response: {
        200: jsonResponse(ref(WebhookEndpointPageSchema), 'A page of endpoints.', { data: [webhookEndpointExample], nextCursor: null }),
        ...problems(400, 401, 403)
      }
    }
  }, async function listWebhookEndpoints (request) {
    const page = await webhooks.list(integratorIdOf(request.principal), request.query.limit ?? DEFAULT_PAGE_SIZE, afterCursor(request.query.cursor))
    return { data: page.endpoints, nextCursor: nextCursor(page.endpoints, page.hasMore, (endpoint) => endpoint.createdAt) }
  })

  app.get('/webhook-endpoints/:endpointId', {
    onRequest: authenticate,
    schema: {
      operationId: 'getWebhookEndpoint',
      tags: TAGS,
      summary: 'Get a webhook endpoint',
      description: 'One of your endpoints, without its secret. Another integrator\'s endpoint is a `404`.',
      security: integratorSecurity(SCOPE),
      params: WebhookEndpointParamsSchema,
      querystring: NoQuerySchema,
      response: { 200: jsonResponse(ref(WebhookEndpointSchema), 'The endpoint.', webhookEndpointExample), ...problems(400, 401, 403, 404) }
    }
  }, async function getWebhookEndpoint (request) {
    const endpoint = await webhooks.findById(integratorIdOf(request.principal), request.params.endpointId)
    if (endpoint === undefined) throw missing(request.params.endpointId)
    return endpoint
  })

  app.patch('/webhook-endpoints/:endpointId', {
    onRequest: authenticate,
    schema: {
      operationId: 'updateWebhookEndpoint',
      tags: TAGS,
      summary: 'Change a webhook endpoint',
      description: 'Changes the fields sent; at least one. A new `events` list applies to events from now on. Disabling pauses deliveries (pending ones wait); enabling resumes them.',
      security: integratorSecurity(SCOPE),
      params: WebhookEndpointParamsSchema,
      querystring: NoQuerySchema,
      body: ref(WebhookEndpointUpdateSchema),
      response: {
        200: jsonResponse(ref(WebhookEndpointSchema), 'The endpoint as changed.', { ...webhookEndpointExample, disabled: true }),
        ...problems(...bodyProblems, 401, 403, 404)
      }
    }
  }, async function updateWebhookEndpoint (request) {
    checkUrl(request.body.url)
    const endpoint = await webhooks.update(integratorIdOf(request.principal), request.params.endpointId, request.body)
    if (endpoint === undefined) throw missing(request.params.endpointId)
    return endpoint
  })

  app.delete('/webhook-endpoints/:endpointId', {
    onRequest: authenticate,
    schema: {
      operationId: 'deleteWebhookEndpoint',
      tags: TAGS,
      summary: 'Delete a webhook endpoint',
      description: 'The endpoint receives nothing more; its pending deliveries and its delivery log are deleted with it. An attempt already in flight may still arrive.',
      security: integratorSecurity(SCOPE),
      params: WebhookEndpointParamsSchema,
      querystring: NoQuerySchema,
      response: { 204: emptyResponse('The endpoint is deleted.'), ...problems(...bodyProblems, 401, 403, 404) }
    }
  }, async function deleteWebhookEndpoint (request, reply) {
    if (!await webhooks.delete(integratorIdOf(request.principal), request.params.endpointId)) throw missing(request.params.endpointId)
    return reply.code(204).send()
  })

  app.post('/webhook-endpoints/:endpointId/rotate-secret', {
    onRequest: authenticate,
    schema: {
      operationId: 'rotateWebhookSecret',
      tags: TAGS,
      summary: 'Rotate a webhook endpoint\'s secret',
      description: 'Makes a new signing secret and returns it, this once. For 24 hours every delivery carries two signatures, space-separated in `webhook-signature`: one with the new secret and one with the old, so your receiver can switch at any moment in that window. Rotating again within the 24 hours drops the oldest secret.',
      security: integratorSecurity(SCOPE),
      params: WebhookEndpointParamsSchema,
      querystring: NoQuerySchema,
      response: {
        200: jsonResponse(ref(WebhookEndpointWithSecretSchema), 'The new secret; store it now.', { ...webhookEndpointExample, secret: webhookSecretExample }),
        ...problems(...bodyProblems, 401, 403, 404)
      }
    }
  }, async function rotateWebhookSecret (request) {
    const endpoint = await webhooks.rotateSecret(integratorIdOf(request.principal), request.params.endpointId)
    if (endpoint === undefined) throw missing(request.params.endpointId)
    return endpoint
  })

  app.post('/webhook-endpoints/:endpointId/ping', {
    onRequest: authenticate,
    schema: {
      operationId: 'pingWebhookEndpoint',
      tags: TAGS,
      summary: 'Send a test event to a webhook endpoint',
      description: 'Sends a signed `webhook.ping` event (see `PingEvent`) at once, retried like any other. Follow it in the endpoint\'s deliveries.',
      security: integratorSecurity(SCOPE),
      params: WebhookEndpointParamsSchema,
      querystring: NoQuerySchema,
      response: {
        202: jsonResponse(ref(WebhookDeliverySchema), 'The ping is on its way: its delivery, as queued.', {
          ...webhookDeliveryExample, eventType: 'webhook.ping', attempts: 0, lastAttemptAt: null, lastResponseStatus: null, lastError: null, nextAttemptAt: webhookDeliveryExample.createdAt
        }),
        ...problems(...bodyProblems, 401, 403, 404),
        409: disabledResponse
      }
    }
  }, async function pingWebhookEndpoint (request, reply) {
    const delivery = await webhooks.ping(integratorIdOf(request.principal), request.params.endpointId)
    if (delivery === undefined) throw missing(request.params.endpointId)
    if (delivery === 'disabled') throw disabledProblem(`Webhook endpoint ${request.params.endpointId} is disabled.`)
    return reply.code(202).send(delivery)
  })

  app.get('/webhook-endpoints/:endpointId/deliveries', {
    onRequest: authenticate,
    schema: {
      operationId: 'listWebhookDeliveries',
      tags: TAGS,
      summary: 'List a webhook endpoint\'s deliveries',
      description: 'The endpoint\'s deliveries, newest first, in pages of `limit`, with the outcome of their attempts. Follow `nextCursor` until it is `null`.',
      security: integratorSecurity(SCOPE),
      params: WebhookEndpointParamsSchema,
      querystring: WebhookDeliveryListQuerySchema,
      response: {
        200: jsonResponse(ref(WebhookDeliveryPageSchema), 'A page of deliveries.', { data: [webhookDeliveryExample], nextCursor: null }),
        ...problems(400, 401, 403, 404)
      }
    }
  }, async function listWebhookDeliveries (request) {
    const { limit = DEFAULT_PAGE_SIZE, cursor } = request.query
    const page = await webhooks.listDeliveries(integratorIdOf(request.principal), request.params.endpointId, limit, afterCursor(cursor))
    if (page === undefined) throw missing(request.params.endpointId)
    return { data: page.deliveries, nextCursor: nextCursor(page.deliveries, page.hasMore, (delivery) => delivery.createdAt) }
  })

  app.post('/webhook-deliveries/:deliveryId/retry', {
    onRequest: authenticate,
    schema: {
      operationId: 'retryWebhookDelivery',
      tags: TAGS,
      summary: 'Retry a webhook delivery',
      description: 'Attempts the delivery again at once, whatever its status (a `failed` one gets one more attempt; a `succeeded` one is sent again with the same `webhook-id`). An attempt already in flight finishes first.',
      security: integratorSecurity(SCOPE),
      params: WebhookDeliveryParamsSchema,
      querystring: NoQuerySchema,
      response: {
        202: jsonResponse(ref(WebhookDeliverySchema), 'The delivery is due now.', { ...webhookDeliveryExample, status: 'pending', nextAttemptAt: '2026-11-25T18:30:00.000Z' }),
        ...problems(...bodyProblems, 401, 403, 404),
        409: disabledResponse
      }
    }
  }, async function retryWebhookDelivery (request, reply) {
    const delivery = await webhooks.retryDelivery(integratorIdOf(request.principal), request.params.deliveryId)
    if (delivery === undefined) throw notFoundProblem(`Webhook delivery ${request.params.deliveryId} does not exist.`)
    if (delivery === 'disabled') throw disabledProblem(`The endpoint of webhook delivery ${request.params.deliveryId} is disabled.`)
    return reply.code(202).send(delivery)
  })
}
