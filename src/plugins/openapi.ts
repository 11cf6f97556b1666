import swagger, { type FastifyDynamicSwaggerOptions, type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema } from 'fastify'
import fp from 'fastify-plugin'
import { BODY_LIMIT_BYTES } from '../limits.js'
import { PROBLEM_TYPE_PREFIX } from '../problems.js'

export const API_VERSION = '0.1.0'

const description = `
Events sell tickets in tiers (VIP, general admission, ...), each with a price and limited inventory.

- **Base path** \`/api\`; JSON in and out (UTF-8), camelCase fields.
- **Request bodies** must be \`application/json\` of at most ${BODY_LIMIT_BYTES / 1024} KiB; unknown properties are rejected (\`400\`), not ignored.
- **Ids** are UUIDs: a malformed id in a path is a \`400\`, an unknown one a \`404\`.
- **Times** are RFC 3339; input may carry any offset, output is UTC with milliseconds.
- **Money** is an integer amount in minor units (cents) plus an ISO 4217 \`currency\`.
- **Errors** are RFC 9457 problem details (\`application/problem+json\`) whose \`type\` is a stable URI starting with \`${PROBLEM_TYPE_PREFIX}\`; \`400\` problems list the offending values in \`errors\`.
- **Request ids**: every response carries \`x-request-id\`, echoing the request's header when one was sent.
- **Booking operations** need \`Authorization: Bearer <integrator key>\` (the \`integratorKey\` scheme) with the scope they name; a booking belongs to the integrator whose key made it, and is a \`404\` to everyone else.
- **Admin operations** need \`Authorization: Bearer <admin key>\` (the \`adminKey\` scheme).
`.trim()

/**
 * The OpenAPI 3.1 document is generated from the route schemas; shared models are named
 * components (their `$id`), served at /docs (Swagger UI), /docs/json and /docs/yaml.
 * @see https://github.com/fastify/fastify-swagger
 */
const requestIdParameter = {
  type: 'string',
  maxLength: 200,
  pattern: '^[\\x21-\\x7e]+$',
  examples: ['checkout-7f3a-attempt-1'],
  description: 'Your id for this request, 1 to 200 visible ASCII characters, echoed in the `x-request-id` response header and written to the server log; without one (or with an unusable one) the server makes a UUID.'
}

interface HeadersSchema { properties?: Record<string, unknown>, required?: string[] }

/** Documents the optional `x-request-id` request header on every API operation. */
function addRequestIdHeader ({ schema, url }: { schema: FastifySchema, url: string }) {
  if (!url.startsWith('/api/')) return { schema, url }
  const headers = (schema.headers ?? {}) as HeadersSchema
  return {
    url,
    schema: {
      ...schema,
      headers: {
        type: 'object',
        properties: { ...headers.properties, 'x-request-id': requestIdParameter },
        ...(headers.required === undefined ? {} : { required: headers.required })
      }
    }
  }
}

interface MediaObject { schema?: { $ref?: string }, example?: unknown }
interface ParameterObject { in?: string, example?: unknown, 'x-example'?: unknown, schema?: { examples?: unknown[] } }
interface GeneratedOperation { parameters?: ParameterObject[], requestBody?: { content?: Record<string, MediaObject> } }
interface GeneratedDocument {
  paths?: Record<string, Record<string, GeneratedOperation>>
  components?: { schemas?: Record<string, { examples?: unknown[] }> }
}

/**
 * Shows each request body's example on the operation itself (Swagger UI, Postman and SDK docs
 * read it there): the first `examples` entry of the component the body references.
 */
function addRequestBodyExample (operation: GeneratedOperation, schemas: Record<string, { examples?: unknown[] }> = {}): void {
  for (const media of Object.values(operation.requestBody?.content ?? {})) {
    const name = media.schema?.$ref?.split('/').at(-1)
    const example = name === undefined ? undefined : schemas[name]?.examples?.[0]
    if (example !== undefined && media.example === undefined) media.example = example
  }
}

/**
 * Keeps each header parameter's example in its schema (`examples`, as OpenAPI 3.1 allows) and in
 * `x-example`, instead of the parameter's `example`, where @fastify/swagger puts it. Swagger UI's
 * "Try it out" fills a parameter's `example` into the form and sends it as if the person had typed
 * it: every booking from one form carried the example `Idempotency-Key`, so the second was a `422`.
 * It fills in neither of the others; it shows `x-example` as the parameter's example. Path
 * parameters keep their `example` (the seeded demo event and its tiers: useful to send).
 */
function keepHeaderExamplesOutOfForms (operation: GeneratedOperation): void {
  for (const parameter of operation.parameters ?? []) {
    if (parameter.in !== 'header' || parameter.example === undefined) continue
    parameter.schema = { ...parameter.schema, examples: [parameter.example] }
    parameter['x-example'] = parameter.example
    delete parameter.example
  }
}

const adjustOperations: SwaggerTransformObject = (documentObject) => {
  if (!('openapiObject' in documentObject)) return documentObject.swaggerObject
  const { openapiObject } = documentObject
  // The OpenAPI types make every member optional and union-typed; read just what is needed.
  const document = openapiObject as unknown as GeneratedDocument
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      addRequestBodyExample(operation, document.components?.schemas)
      keepHeaderExamplesOutOfForms(operation)
    }
  }
  return openapiObject
}

/** The `webhooks` member of an OpenAPI 3.1 document. */
type Webhooks = Extract<NonNullable<FastifyDynamicSwaggerOptions['openapi']>, { webhooks?: unknown }>['webhooks']
type WebhookOperation = NonNullable<Exclude<NonNullable<Webhooks>[string], { $ref: string }>['post']>

const signatureHeaders: WebhookOperation['parameters'] = [
  { name: 'webhook-id', in: 'header', required: true, description: 'The event id: the same on every retry of the event, so use it to skip duplicates.', schema: { type: 'string', format: 'uuid', maxLength: 36 }, example: '9e8d7c6b-5a49-4382-8716-05f4e3d2c1b0' },
  { name: 'webhook-timestamp', in: 'header', required: true, description: 'Unix seconds when this attempt was sent; reject ones far from your clock (the Standard Webhooks libraries allow 5 minutes).', schema: { type: 'string', pattern: '^[0-9]{1,12}$', maxLength: 12 }, example: '1795975445' },
  { name: 'webhook-signature', in: 'header', required: true, description: '`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded part of the endpoint\'s secret after `whsec_`; during the 24 hours after a rotation, a second signature with the previous secret follows, space-separated. Verify with a Standard Webhooks library.', schema: { type: 'string', maxLength: 500, pattern: '^v1,[A-Za-z0-9+/=]+( v1,[A-Za-z0-9+/=]+)*$' }, example: 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=' }
]

const receiverResponses: WebhookOperation['responses'] = {
  '2XX': { description: 'Received: answer within 10 s. The body is ignored.' },
  default: { description: 'Anything else, no answer within 10 s, or a redirect (not followed): the event is sent again later with the same `webhook-id`.' }
}

/** What webhook endpoints receive: the OpenAPI 3.1 `webhooks` section, for receivers and SDK generators. */
const webhookDescriptions: Webhooks = {
  bookingEvent: {
    post: {
      operationId: 'receiveBookingEvent',
      tags: ['Webhooks'],
      summary: 'A booking of yours changed',
      description: 'Sent to each of your endpoints subscribed to the event\'s `type`: `booking.created`, `booking.confirmed`, `booking.cancelled` or `booking.expired` (within 30 s of `expiresAt`). At least once, in no promised order; retried after about 5 s, 1 min, 10 min and 1 h, then every 6 h for 3 days.',
      security: [],
      parameters: signatureHeaders,
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/BookingEvent' } } } },
      responses: receiverResponses
    }
  },
  ticketCheckedIn: {
    post: {
      operationId: 'receiveTicketCheckedIn',
      tags: ['Webhooks'],
      summary: 'A ticket of yours was admitted',
      description: 'Sent to each of your endpoints subscribed to `ticket.checked_in` when a door admits a ticket of one of your bookings (an entry let in, scanned online or uploaded later by an offline device; not exits, refusals or conflicts). Signed and retried like every event.',
      security: [],
      parameters: signatureHeaders,
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/TicketCheckedInEvent' } } } },
      responses: receiverResponses
    }
  },
  webhookPing: {
    post: {
      operationId: 'receiveWebhookPing',
      tags: ['Webhooks'],
      summary: 'A test event you asked for',
      description: 'Sent by `POST /api/webhook-endpoints/{endpointId}/ping`, signed and retried like every event.',
      security: [],
      parameters: signatureHeaders,
      requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PingEvent' } } } },
      responses: receiverResponses
    }
  }
}

export interface OpenapiOptions {
  /** Where the API is reachable from outside, e.g. https://tickets.example.com; listed first in `servers`. */
  publicUrl?: string | undefined
}

export default fp(async function openapiPlugin (app: FastifyInstance, options: OpenapiOptions) {
  // The ruleset of API security reviews (OWASP, see openapi/spectral.yaml) asks every server to say
  // its environment and audience, and none to be plain http. Production is https: PUBLIC_URL when
  // set, else a template. The local server is relative: the one that serves this document, so
  // Swagger UI's "Try it out" works wherever it runs; it comes first unless PUBLIC_URL is set.
  const production = options.publicUrl === undefined
    ? {
        url: 'https://{host}',
        description: 'Production: a deployment of this API, served over https at the host its operator gives you.',
        'x-internal': false,
        variables: { host: { default: 'tickets.example.com', description: 'The host name of the deployment (its PUBLIC_URL).' } }
      }
    : { url: options.publicUrl, description: 'Production: this deployment (PUBLIC_URL).', 'x-internal': false }
  const local = {
    url: '/',
    description: 'Local development: the server that serves this document (`npm start` serves on http://127.0.0.1:3000).',
    'x-internal': true
  }
  await app.register(swagger, {
    transform: addRequestIdHeader,
    transformObject: adjustOperations,
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Ticket Booking API',
        version: API_VERSION,
        description,
        contact: { name: 'Ticket Booking API team', email: 'api@ticket-booking.example' },
        license: { name: 'Proprietary: for integrators of the Ticket Booking API', identifier: 'LicenseRef-Proprietary' }
      },
      servers: options.publicUrl === undefined ? [local, production] : [production, local],
      tags: [
        { name: 'Health', description: 'Service and database status.' },
        { name: 'Events', description: 'Concerts and other events that sell tickets.' },
        { name: 'Ticket tiers', description: 'Priced classes of tickets of an event, with their inventory.' },
        { name: 'Bookings', description: 'Tickets of one event, booked all together, idempotently, and cancellable. Made with an integrator key.' },
        { name: 'Tickets', description: 'One ticket per admitted person, with a code any scanner verifies offline (Ed25519 JWS), its QR code, reissue, the public keys and the revocations feed.' },
        { name: 'Check-in', description: 'Check-in lists (which tickets a door admits) and the keys of scanning devices, one event each (operators; scanners read their event\'s lists).' },
        { name: 'Integrators', description: 'The API\'s customers and their keys (operators only).' },
        { name: 'Webhooks', description: 'Signed notifications of changes to your bookings, sent to endpoints you register (see the `webhooks` section for what they receive).' }
      ],
      webhooks: webhookDescriptions,
      components: {
        securitySchemes: {
          adminKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'One of the keys in the server\'s ADMIN_API_KEYS, for operator (admin) operations; it may also read and cancel any booking.'
          },
          integratorKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'An integrator\'s API key (`tbk_…`), created with `POST /api/integrators/{integratorId}/keys`. The role listed on an operation is the scope the key needs.'
          },
          scannerKey: {
            type: 'http',
            scheme: 'bearer',
            description: 'A scanning device\'s key (`tbs_…`) for one event, created with `POST /api/events/{eventId}/scanner-keys`. It works for check-in operations and the revocations feed of its own event only; another event\'s resources are a `404`.'
          }
        }
      }
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, index) => typeof json.$id === 'string' ? json.$id : `def-${index}`
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'openapi' })
