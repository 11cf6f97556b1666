import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import { NoQuerySchema, ProblemSchema, ref } from '../../schemas/common.js'
import { bodyProblems, emptyResponse, integratorSecurity, jsonResponse, limitReachedResponse, locationHeader, problemExample, problemResponse, problems } from '../../schemas/responses.js'
import {
  WebhookDeliveryListQuerySchema, WebhookDeliveryPageSchema, WebhookDeliveryParamsSchema, WebhookDeliverySchema, WebhookEndpointCreateSchema,
  WebhookEndpointListQuerySchema, WebhookEndpointPageSchema, WebhookEndpointParamsSchema, WebhookEndpointSchema, WebhookEndpointUpdateSchema,
  WebhookEndpointWithSecretSchema, MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR, webhookDeliveryExample, webhookEndpointExample, webhookSecretExample
} from '../../schemas/webhooks.js'

const SCOPE = 'webhooks:manage'
const TAGS = ['Webhooks']
const endpointPath = `/api/webhook-endpoints/${webhookEndpointExample.id}`

const disabledResponse = problemResponse(ref(ProblemSchema), 'The endpoint is disabled: enable it with `PATCH { "disabled": false }` first.', [{
  summary: 'Endpoint disabled',
  value: problemExample(problemKinds.webhookEndpointDisabled, `Webhook endpoint ${webhookEndpointExample.id} is disabled. Enable it with PATCH { "disabled": false } first.`, `${endpointPath}/ping`)
}])

export const createWebhookEndpointOperation = {
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
} satisfies FastifySchema

export const listWebhookEndpointsOperation = {
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
} satisfies FastifySchema

export const getWebhookEndpointOperation = {
  operationId: 'getWebhookEndpoint',
  tags: TAGS,
  summary: 'Get a webhook endpoint',
  description: 'One of your endpoints, without its secret. Another integrator\'s endpoint is a `404`.',
  security: integratorSecurity(SCOPE),
  params: WebhookEndpointParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(WebhookEndpointSchema), 'The endpoint.', webhookEndpointExample), ...problems(400, 401, 403, 404) }
} satisfies FastifySchema

export const updateWebhookEndpointOperation = {
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
} satisfies FastifySchema

export const deleteWebhookEndpointOperation = {
  operationId: 'deleteWebhookEndpoint',
  tags: TAGS,
  summary: 'Delete a webhook endpoint',
  description: 'The endpoint receives nothing more; its pending deliveries and its delivery log are deleted with it. An attempt already in flight may still arrive.',
  security: integratorSecurity(SCOPE),
  params: WebhookEndpointParamsSchema,
  querystring: NoQuerySchema,
  response: { 204: emptyResponse('The endpoint is deleted.'), ...problems(...bodyProblems, 401, 403, 404) }
} satisfies FastifySchema

export const rotateWebhookSecretOperation = {
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
} satisfies FastifySchema

export const pingWebhookEndpointOperation = {
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
} satisfies FastifySchema

export const listWebhookDeliveriesOperation = {
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
} satisfies FastifySchema

export const retryWebhookDeliveryOperation = {
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
} satisfies FastifySchema
