import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateOpenApi } from '../../src/openapi-document.js'
import { projectRoot } from '../../src/paths.js'
import { ARTIFACTS, generatePostmanCollection, generateTypes } from '../../scripts/openapi-artifacts.js'
import { createTestApp, type TestApp } from '../support/app.js'

interface Operation {
  operationId?: string
  tags?: string[]
  summary?: string
  security?: Record<string, string[]>[]
  responses: Record<string, unknown>
}
type Document = { paths: Record<string, Record<string, Operation>>, components: { schemas: Record<string, unknown> } }

let generated: { json: string, yaml: string }
let document: Document
beforeAll(async () => {
  generated = await generateOpenApi()
  document = JSON.parse(generated.json)
})

function operations () {
  return Object.entries(document.paths).flatMap(([url, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${url}`, method, url, operation }))
  )
}

describe('the committed OpenAPI artifacts', () => {
  it.each(Object.entries(ARTIFACTS))('openapi/%s… equals what the code generates (run `npm run openapi`)', async (kind, file) => {
    const committed = await readFile(path.join(projectRoot, 'openapi', file), 'utf8')
    const expected = {
      json: async () => generated.json,
      yaml: async () => generated.yaml,
      types: async () => await generateTypes(document),
      postman: async () => await generatePostmanCollection(document)
    }[kind as keyof typeof ARTIFACTS]
    expect(committed).toBe(await expected())
  })
})

describe('the generated document', () => {
  it('documents every operation of the contract', () => {
    expect(operations().map((op) => op.name).sort()).toEqual([
      'DELETE /api/events/{eventId}/scanner-keys/{keyId}',
      'DELETE /api/integrators/{integratorId}/keys/{keyId}',
      'DELETE /api/webhook-endpoints/{endpointId}',
      'GET /api/bookings',
      'GET /api/bookings/{bookingId}',
      'GET /api/bookings/{bookingId}/tickets',
      'GET /api/check-in-lists/{checkInListId}',
      'GET /api/check-in-lists/{checkInListId}/conflicts',
      'GET /api/check-in-lists/{checkInListId}/status',
      'GET /api/events',
      'GET /api/events/{eventId}',
      'GET /api/events/{eventId}/check-in-lists',
      'GET /api/events/{eventId}/revocations',
      'GET /api/events/{eventId}/scanner-keys',
      'GET /api/events/{eventId}/ticket-tiers',
      'GET /api/health',
      'GET /api/health/live',
      'GET /api/health/ready',
      'GET /api/integrators',
      'GET /api/integrators/{integratorId}',
      'GET /api/integrators/{integratorId}/keys',
      'GET /api/ticket-keys',
      'GET /api/tickets/{ticketId}',
      'GET /api/tickets/{ticketId}/qr',
      'GET /api/webhook-endpoints',
      'GET /api/webhook-endpoints/{endpointId}',
      'GET /api/webhook-endpoints/{endpointId}/deliveries',
      'PATCH /api/events/{eventId}',
      'PATCH /api/integrators/{integratorId}',
      'PATCH /api/ticket-tiers/{ticketTierId}',
      'PATCH /api/tickets/{ticketId}',
      'PATCH /api/webhook-endpoints/{endpointId}',
      'POST /api/bookings',
      'POST /api/bookings/{bookingId}/cancel',
      'POST /api/bookings/{bookingId}/confirm',
      'POST /api/check-ins',
      'POST /api/check-ins/batch',
      'POST /api/events',
      'POST /api/events/{eventId}/check-in-lists',
      'POST /api/events/{eventId}/scanner-keys',
      'POST /api/events/{eventId}/ticket-tiers',
      'POST /api/integrators',
      'POST /api/integrators/{integratorId}/keys',
      'POST /api/ticket-keys/rotate',
      'POST /api/tickets/{ticketId}/reissue',
      'POST /api/webhook-deliveries/{deliveryId}/retry',
      'POST /api/webhook-endpoints',
      'POST /api/webhook-endpoints/{endpointId}/ping',
      'POST /api/webhook-endpoints/{endpointId}/rotate-secret'
    ])
  })

  it('gives every operation a unique camelCase operationId, tags and a summary', () => {
    const ids = operations().map(({ operation }) => operation.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { name, operation } of operations()) {
      expect(operation.operationId, name).toMatch(/^[a-z][a-zA-Z]+$/)
      expect(operation.tags?.length, name).toBeGreaterThan(0)
      expect(operation.summary, name).toBeTruthy()
    }
  })

  it('declares each bearer scheme on exactly the operations that take it', () => {
    const schemes = Object.fromEntries(operations().map(({ name, operation }) => [name, operation.security]))
    const adminOnly = [{ adminKey: [] }]
    const adminOrScanner = [{ adminKey: [] }, { scannerKey: [] }]
    expect(schemes).toEqual({
      'GET /api/health': [],
      'GET /api/health/live': [],
      'GET /api/health/ready': [],
      'GET /api/events': [],
      'GET /api/events/{eventId}': [],
      'GET /api/events/{eventId}/ticket-tiers': [],
      'POST /api/events': adminOnly,
      'PATCH /api/events/{eventId}': adminOnly,
      'POST /api/events/{eventId}/ticket-tiers': adminOnly,
      'PATCH /api/ticket-tiers/{ticketTierId}': adminOnly,
      'POST /api/integrators': adminOnly,
      'GET /api/integrators': adminOnly,
      'GET /api/integrators/{integratorId}': adminOnly,
      'PATCH /api/integrators/{integratorId}': adminOnly,
      'POST /api/integrators/{integratorId}/keys': adminOnly,
      'GET /api/integrators/{integratorId}/keys': adminOnly,
      'DELETE /api/integrators/{integratorId}/keys/{keyId}': adminOnly,
      'POST /api/bookings': [{ integratorKey: ['bookings:write'] }],
      'GET /api/bookings': [{ integratorKey: ['bookings:read'] }, { adminKey: [] }],
      'GET /api/bookings/{bookingId}': [{ integratorKey: ['bookings:read'] }, { adminKey: [] }],
      'POST /api/bookings/{bookingId}/cancel': [{ integratorKey: ['bookings:write'] }, { adminKey: [] }],
      'POST /api/bookings/{bookingId}/confirm': [{ integratorKey: ['bookings:write'] }],
      // Tickets: read like bookings (an admin key reads any); changed with an integrator key only.
      'GET /api/bookings/{bookingId}/tickets': [{ integratorKey: ['bookings:read'] }, { adminKey: [] }],
      'GET /api/tickets/{ticketId}': [{ integratorKey: ['bookings:read'] }, { adminKey: [] }],
      'GET /api/tickets/{ticketId}/qr': [{ integratorKey: ['bookings:read'] }, { adminKey: [] }],
      'PATCH /api/tickets/{ticketId}': [{ integratorKey: ['bookings:write'] }],
      'POST /api/tickets/{ticketId}/reissue': [{ integratorKey: ['bookings:write'] }],
      // The key set is public: scanners and anyone verifying a code fetch it without a key.
      'GET /api/ticket-keys': [],
      'POST /api/ticket-keys/rotate': adminOnly,
      // Check-in: operators define the lists and keys; a scanner key (of the event) reads the lists, their status and
      // conflicts and the revocations feed, and is the only key that scans.
      'POST /api/check-ins': [{ scannerKey: [] }],
      'POST /api/check-ins/batch': [{ scannerKey: [] }],
      'GET /api/check-in-lists/{checkInListId}/status': adminOrScanner,
      'GET /api/check-in-lists/{checkInListId}/conflicts': adminOrScanner,
      'GET /api/events/{eventId}/revocations': adminOrScanner,
      'POST /api/events/{eventId}/check-in-lists': adminOnly,
      'GET /api/events/{eventId}/check-in-lists': adminOrScanner,
      'GET /api/check-in-lists/{checkInListId}': adminOrScanner,
      'POST /api/events/{eventId}/scanner-keys': adminOnly,
      'GET /api/events/{eventId}/scanner-keys': adminOnly,
      'DELETE /api/events/{eventId}/scanner-keys/{keyId}': adminOnly,
      ...Object.fromEntries([
        'POST /api/webhook-endpoints', 'GET /api/webhook-endpoints', 'GET /api/webhook-endpoints/{endpointId}',
        'PATCH /api/webhook-endpoints/{endpointId}', 'DELETE /api/webhook-endpoints/{endpointId}',
        'POST /api/webhook-endpoints/{endpointId}/rotate-secret', 'POST /api/webhook-endpoints/{endpointId}/ping',
        'GET /api/webhook-endpoints/{endpointId}/deliveries', 'POST /api/webhook-deliveries/{deliveryId}/retry'
      ].map((name) => [name, [{ integratorKey: ['webhooks:manage'] }]]))
    })
    for (const { name, operation } of operations()) {
      if ((operation.security ?? []).length > 0) expect(operation.responses, name).toHaveProperty('401')
    }
  })

  it('documents 413 and 415 on every operation with a body, and 500 and 503 everywhere', () => {
    for (const { name, method, operation } of operations()) {
      expect(Object.keys(operation.responses), name).toEqual(expect.arrayContaining(['500', '503']))
      if (method === 'post' || method === 'patch') {
        expect(Object.keys(operation.responses), name).toEqual(expect.arrayContaining(['400', '413', '415']))
      }
    }
  })

  it('keeps header examples where Swagger UI shows them but does not fill them into "Try it out"', () => {
    type Parameter = { name: string, in: string, example?: unknown, 'x-example'?: unknown, schema: { examples?: unknown[] } }
    const parameters = operations().flatMap(({ name, operation }) =>
      ((operation as { parameters?: Parameter[] }).parameters ?? []).map((parameter) => ({ name: `${name} ${parameter.name}`, parameter })))
    const headers = parameters.filter(({ parameter }) => parameter.in === 'header')
    expect(headers.map(({ name }) => name)).toContain('POST /api/bookings idempotency-key')
    for (const { name, parameter } of headers) {
      expect(parameter, name).not.toHaveProperty('example')
      expect(parameter.schema.examples, name).toEqual([parameter['x-example']])
    }
    // Path parameters keep theirs: the seeded demo event and its tiers, worth sending.
    for (const { name, parameter } of parameters.filter(({ parameter }) => parameter.in === 'path')) {
      expect(parameter.example, name).toBeDefined()
    }
  })

  it('documents the idempotency header, the replay and the booking problems on POST /api/bookings', () => {
    const operation = document.paths['/api/bookings']?.post as Operation & { parameters?: { name: string, in: string }[] }
    expect(operation.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'idempotency-key', in: 'header' })]))
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '201', '400', '401', '403', '404', '409', '413', '415', '422', '429', '500', '503'])
    expect(JSON.stringify(operation.responses['200'])).toContain('Idempotent-Replayed')
    expect(JSON.stringify(operation.responses['409'])).toContain('InsufficientInventoryProblem')
    expect(JSON.stringify(operation.responses['422'])).toContain('TierNotInEventProblem')
  })

  it('describes every named schema and every property', () => {
    const missing: string[] = []
    for (const [name, schema] of Object.entries(document.components.schemas) as [string, { description?: string, properties?: Record<string, { description?: string, $ref?: string }> }][]) {
      if (schema.description === undefined) missing.push(name)
      for (const [property, value] of Object.entries(schema.properties ?? {})) {
        if (value.description === undefined && value.$ref === undefined) missing.push(`${name}.${property}`)
      }
    }
    expect(missing).toEqual([])
  })

  it('gives every operation a description and every response an example', () => {
    for (const { name, operation } of operations()) {
      expect((operation as { description?: string }).description, name).toBeTruthy()
      for (const [status, response] of Object.entries(operation.responses) as [string, { content?: Record<string, { example?: unknown, examples?: unknown }> }][]) {
        // 204 No Content and 304 Not Modified have no body (RFC 9110), so no example: they document none.
        if (status === '204' || status === '304') {
          expect(response.content, `${name} ${status}`).toBeUndefined()
          continue
        }
        const media = Object.values(response.content ?? {})[0]
        expect(media?.example ?? media?.examples, `${name} ${status}`).toBeDefined()
      }
    }
  })

  it('gives every parameter an example or a default, except the optional query filters and cursors that Try it out would send unasked', () => {
    for (const { name, operation } of operations()) {
      type Parameter = { name: string, in: string, required?: boolean, example?: unknown, schema?: { default?: unknown, examples?: unknown[] } }
      for (const parameter of (operation as { parameters?: Parameter[] }).parameters ?? []) {
        const example = parameter.example ?? parameter.schema?.default ?? parameter.schema?.examples?.[0]
        if (parameter.in === 'query' && parameter.required !== true && parameter.schema?.default === undefined) {
          expect(example, `${name} ${parameter.name}`).toBeUndefined()
        } else {
          expect(example, `${name} ${parameter.name}`).toBeDefined()
        }
      }
    }
  })

  it('references shared models as named components', () => {
    expect(Object.keys(document.components.schemas)).toEqual(
      expect.arrayContaining([
        'Event', 'EventPage', 'EventCreate', 'EventUpdate', 'TicketTier', 'TicketTierList', 'Problem', 'ValidationProblem',
        'Booking', 'BookingCreate', 'BookingItem', 'BookingPage', 'InsufficientInventoryProblem', 'TierNotInEventProblem',
        'Integrator', 'ApiKey', 'ApiKeyCreated'
      ])
    )
    expect(generated.json).toContain('"$ref": "#/components/schemas/Event"')
    expect(generated.json).not.toContain('def-')
  })
})

describe('the served document', () => {
  let t: TestApp
  beforeAll(async () => { t = await createTestApp() })
  afterAll(async () => { await t.close() })

  it('serves the same document at /docs/json and /docs/yaml', async () => {
    const json = await t.app.inject({ method: 'GET', url: '/docs/json' })
    expect(json.statusCode).toBe(200)
    expect(json.json()).toEqual(document)
    const yaml = await t.app.inject({ method: 'GET', url: '/docs/yaml' })
    expect(yaml.statusCode).toBe(200)
    expect(yaml.body).toBe(generated.yaml)
  })

  it('lists PUBLIC_URL first in servers when it is set, marked as production and public', async () => {
    const app = await t.newApp({ config: { publicUrl: 'https://tickets.example.com' } })
    try {
      const servers = (app.swagger() as unknown as { servers: { url: string, description: string, 'x-internal': boolean }[] }).servers
      expect(servers.map((server) => [server.url, server['x-internal']])).toEqual([['https://tickets.example.com', false], ['/', true]])
      expect(servers[0]?.description).toMatch(/^Production/)
      expect(servers[1]?.description).toMatch(/^Local development/)
    } finally {
      await app.close()
    }
  })

  it('lists the serving server first and an https production one in the committed document (no PUBLIC_URL)', () => {
    const servers = (document as unknown as { servers: { url: string, 'x-internal': boolean }[] }).servers
    expect(servers.map((server) => [server.url, server['x-internal']])).toEqual([['/', true], ['https://{host}', false]])
  })

  it('serves Swagger UI at /docs', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/docs/' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/text\/html/)
    expect(response.body).toContain('swagger')
  })
})
