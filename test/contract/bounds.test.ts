import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asAdmin, createTestApp, type TestApp } from '../support/app.js'
import { loadDocumented, type Documented, type DocumentedOperation } from '../support/documented.js'
import { createEvent, createEventWithTiers, createTier, problemType } from '../support/fixtures.js'

/**
 * The server enforces exactly the bounds the OpenAPI document declares. Every bounded input of
 * every operation (string lengths, integer ranges, array sizes, in bodies, queries, paths and
 * headers) is found in the generated document and sent at each bound, where it must be accepted,
 * and one past it, where it must be a 400 naming it. A new bounded input is tested without a change
 * here; a new operation needs its base request below.
 */

interface Schema {
  type?: string
  $ref?: string
  anyOf?: Schema[]
  format?: string
  pattern?: string
  enum?: unknown[]
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  minItems?: number
  maxItems?: number
  items?: Schema
  properties?: Record<string, Schema>
}

type Location = 'body' | 'query' | 'path' | 'header'

interface BoundedInput {
  operation: DocumentedOperation & { method: string, template: string }
  location: Location
  /** A JSON Pointer into the body, or the parameter's name. */
  name: string
  schema: Schema
}

interface Request {
  params: Record<string, string>
  query: Record<string, string>
  headers: Record<string, string>
  body?: Record<string, unknown>
}

let t: TestApp
let documented: Documented
let base: Record<string, () => Request>
let tiers: string[]
/** A scan of the check-in event, with a fresh nonce (set up with the event). */
let scan: () => Record<string, unknown>

beforeAll(async () => {
  t = await createTestApp()
  documented = await loadDocumented()
  const post = async (url: string, payload: object, headers: Record<string, string> = asAdmin) => {
    const response = await t.app.inject({ method: 'POST', url, headers, payload })
    expect(response.statusCode, `${url}: ${response.body}`).toBe(201)
    return response.json<{ id: string }>()
  }
  const newEvent = async () => (await createEvent(t.app, { name: 'Bounds' })).id
  // An event with 21 tiers that take up to 100 tickets each, so bookings can reach every bound.
  const bookable = await createEventWithTiers(t.app, Array.from({ length: 21 }, (_, n) => ({ name: `Tier ${n}`, capacity: 1_000_000, maxPerBooking: 100 })), { event: { name: 'Bounds' } })
  const event = bookable.eventId
  tiers = bookable.tiers.map((tier) => tier.id)
  const renamedEvent = await newEvent()
  const tierEvent = await newEvent()
  const spareTier = (await createTier(t.app, tierEvent, { name: 'Spare', price: 100, capacity: 10 })).id
  const integrator = (await post('/api/integrators', { name: 'Bounds' })).id
  const endpoint = (await post('/api/webhook-endpoints', { url: 'https://example.com/hooks', events: ['booking.created'] }, t.asIntegrator)).id
  // A confirmed booking of the integrator's, and one of its (valid) tickets: named at every bound of attendeeName.
  const booking = (await post('/api/bookings', { eventId: event, items: [{ ticketTierId: tiers[0], quantity: 2 }] }, t.asIntegrator)).id
  const bookingTickets = await t.app.inject({ method: 'GET', url: `/api/bookings/${booking}/tickets`, headers: t.asIntegrator })
  expect(bookingTickets.statusCode, bookingTickets.body).toBe(200)
  const ticket = bookingTickets.json<{ data: { id: string, status: string }[] }>().data[0]
  expect(ticket?.status).toBe('valid')
  const ticketId = ticket?.id ?? ''
  const checkInEvent = await newEvent()
  const checkInTier = (await createTier(t.app, checkInEvent, { name: 'Door tier' })).id
  const checkInList = (await post(`/api/events/${checkInEvent}/check-in-lists`, { name: 'Door' })).id
  const scannerKey = (await post(`/api/events/${checkInEvent}/scanner-keys`, { name: 'Gate' }) as { id: string, key?: string }).key ?? ''
  const scanner = { authorization: `Bearer ${scannerKey}` }
  // Scans of a code of no ticket (a 404 unknown-code), each with a nonce of its own.
  scan = () => ({ code: 'not-a-code', checkInListId: checkInList, nonce: randomUUID(), scannedAt: '2026-01-02T20:00:00Z', gate: 'Door' })

  const admin = { ...asAdmin }
  const integratorKey = { ...t.asIntegrator }
  const request = (headers: Record<string, string>, params: Record<string, string> = {}, body?: Record<string, unknown>): Request =>
    ({ params, query: {}, headers: { ...headers }, ...(body === undefined ? {} : { body }) })
  base = {
    getHealth: () => request({}),
    getLiveness: () => request({}),
    getReadiness: () => request({}),
    listEvents: () => request({}),
    createEvent: () => request(admin, {}, { name: 'Bounds', venue: 'Hall', startsAt: '2027-05-01T20:00:00Z', currency: 'EUR' }),
    getEvent: () => request({}, { eventId: event }),
    updateEvent: () => request(admin, { eventId: renamedEvent }, { endsAt: null }),
    listTicketTiers: () => request({}, { eventId: event }),
    createTicketTier: () => request(admin, { eventId: tierEvent }, { name: 'Tier', price: 100, capacity: 10 }),
    updateTicketTier: () => request(admin, { ticketTierId: spareTier }, { name: 'Renamed' }),
    createIntegrator: () => request(admin, {}, { name: 'Bounds' }),
    listIntegrators: () => request(admin),
    getIntegrator: () => request(admin, { integratorId: integrator }),
    updateIntegrator: () => request(admin, { integratorId: integrator }, { rateLimits: { requestsPerMinute: 1_000_000, bookingsPerMinute: 1_000_000 } }),
    createApiKey: () => request(admin, { integratorId: integrator }, {}),
    listApiKeys: () => request(admin, { integratorId: integrator }),
    revokeApiKey: () => request(admin, { integratorId: integrator, keyId: randomUUID() }),
    createBooking: () => request(integratorKey, {}, { eventId: event, items: [{ ticketTierId: tiers[0], quantity: 1 }] }),
    listBookings: () => request(integratorKey),
    getBooking: () => request(integratorKey, { bookingId: randomUUID() }),
    cancelBooking: () => request(integratorKey, { bookingId: randomUUID() }),
    confirmBooking: () => request(integratorKey, { bookingId: randomUUID() }),
    listBookingTickets: () => request(integratorKey, { bookingId: booking }),
    getTicket: () => request(integratorKey, { ticketId }),
    updateTicket: () => request(integratorKey, { ticketId }, { attendeeName: 'Bounds' }),
    getTicketQr: () => request(integratorKey, { ticketId }),
    reissueTicket: () => request(integratorKey, { ticketId }),
    listTicketKeys: () => request({}),
    rotateTicketKey: () => request(admin),
    listRevocations: () => request(admin, { eventId: event }),
    createCheckInList: () => request(admin, { eventId: checkInEvent }, { name: 'Door', ticketTierIds: [checkInTier] }),
    getCheckInList: () => request(admin, { checkInListId: checkInList }),
    listCheckInLists: () => request(admin, { eventId: checkInEvent }),
    createScannerKey: () => request(admin, { eventId: checkInEvent }, { name: 'Gate' }),
    listScannerKeys: () => request(admin, { eventId: checkInEvent }),
    revokeScannerKey: () => request(admin, { eventId: checkInEvent, keyId: randomUUID() }),
    scanTicket: () => request(scanner, {}, scan()),
    uploadScans: () => request(scanner, {}, { checkIns: [scan()] }),
    getCheckInListStatus: () => request(scanner, { checkInListId: checkInList }),
    listCheckInConflicts: () => request(scanner, { checkInListId: checkInList }),
    createWebhookEndpoint: () => request(integratorKey, {}, { url: 'https://example.com/hooks', events: ['booking.created'] }),
    listWebhookEndpoints: () => request(integratorKey),
    getWebhookEndpoint: () => request(integratorKey, { endpointId: endpoint }),
    updateWebhookEndpoint: () => request(integratorKey, { endpointId: endpoint }, { description: 'Bounds' }),
    deleteWebhookEndpoint: () => request(integratorKey, { endpointId: randomUUID() }),
    rotateWebhookSecret: () => request(integratorKey, { endpointId: randomUUID() }),
    pingWebhookEndpoint: () => request(integratorKey, { endpointId: randomUUID() }),
    listWebhookDeliveries: () => request(integratorKey, { endpointId: endpoint }),
    retryWebhookDelivery: () => request(integratorKey, { deliveryId: randomUUID() })
  }
}, 60_000)
afterAll(async () => { await t.close() })

function resolve (schema: Schema | undefined): Schema | undefined {
  if (schema?.$ref === undefined) return schema
  return resolve(documented.document.components.schemas[schema.$ref.split('/').at(-1) ?? ''])
}

function isBounded (schema: Schema): boolean {
  if (schema.type === 'string') return schema.maxLength !== undefined && schema.enum === undefined
  return schema.type === 'integer' || schema.type === 'array'
}

/** Every bounded input of the document: body fields (items of arrays at index 0), parameters and headers. */
function boundedInputs (): BoundedInput[] {
  const found: BoundedInput[] = []
  const walk = (operation: BoundedInput['operation'], location: Location, name: string, given: Schema | undefined): void => {
    const schema = resolve(given)
    if (schema === undefined) return
    for (const alternative of schema.anyOf ?? []) walk(operation, location, name, alternative)
    if (isBounded(schema)) found.push({ operation, location, name, schema })
    if (schema.type === 'array') walk(operation, location, `${name}/0`, schema.items)
    for (const [property, child] of Object.entries(schema.properties ?? {})) walk(operation, location, `${name}/${property}`, child)
  }
  for (const operation of documented.operations) {
    for (const parameter of operation.parameters ?? []) {
      // x-request-id is not refused when unusable: the server makes its own id (tested in plugins/request-id.test.ts).
      if (parameter.name !== 'x-request-id') walk(operation, parameter.in as Location, parameter.name, parameter.schema)
    }
    walk(operation, 'body', '', operation.requestBody?.content?.['application/json']?.schema)
  }
  return found
}

let unique = 0
/** A string of exactly `length` characters that fits the schema's format or pattern. */
function stringOf (input: BoundedInput, length: number): string {
  const { schema, name } = input
  if (schema.format === 'uuid') return length === 36 ? randomUUID() : `${randomUUID()}${'a'.repeat(length - 36)}`
  if (schema.format === 'date-time') {
    // 2027-05-02T20:00:00.123456789+01:00 is 35 characters; one more fraction digit makes 36. A scan happened in the past.
    const month = name.includes('ends') ? '06' : '05'
    return `${name.endsWith('scannedAt') ? 2026 : 2027}-${month}-02T20:00:00.${'1'.repeat(length - 26)}+01:00`
  }
  if (schema.pattern === '^[A-Z]{3}$') return 'EURO'.slice(0, length)
  if (schema.format === 'uri') return `https://example.com/${'a'.repeat(length - 20)}`
  if (name === 'cursor' && input.operation.operationId === 'listRevocations') {
    // A real feed cursor (base64url of `r<entry number>`), its number zero-padded to the length asked for.
    const text = Buffer.from(`r${'1'.padStart(Math.floor(length * 3 / 4) - 1, '0')}`).toString('base64url')
    return text.length === length ? text : `${text}${'A'.repeat(length - text.length)}`
  }
  if (name === 'cursor') {
    // A real cursor (base64url of [time, id]) padded with JSON whitespace to the length asked for.
    const json = (pad: number) => `["2026-01-01T00:00:00.000Z",${' '.repeat(pad)}"${randomUUID()}"]`
    const bytes = Math.floor(length * 3 / 4)
    const text = Buffer.from(json(bytes - json(0).length)).toString('base64url')
    return text.length === length ? text : `${text}${'A'.repeat(length - text.length)}`
  }
  const prefix = `${unique++}-`
  return length <= prefix.length ? 'k'.repeat(length) : `${prefix}${'k'.repeat(length - prefix.length)}`
}

/** Arrays at and past their bounds; their items are what each array holds. */
function arrayOf (input: BoundedInput, size: number): unknown[] {
  if (input.name === '/items') return tiers.slice(0, size).map((ticketTierId) => ({ ticketTierId, quantity: 1 }))
  if (input.name === '/scopes') return ['bookings:read', 'bookings:write', 'webhooks:manage', 'bookings:read'].slice(0, size)
  // Tiers of no event: a list of them is refused with a 422 (not a 400) while its size is within bounds.
  if (input.name === '/ticketTierIds') return Array.from({ length: size }, () => randomUUID())
  if (input.name === '/checkIns') return Array.from({ length: size }, () => scan())
  if (input.name === '/events') return ['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired', 'ticket.checked_in', 'booking.created'].slice(0, size)
  throw new Error(`no items for the array ${input.operation.operationId} ${input.name}`)
}

/** The values at the input's bounds (to accept) and one past each (to refuse). */
function cases (input: BoundedInput): { value: unknown, accepted: boolean, label: string }[] {
  const { schema } = input
  if (schema.type === 'integer') {
    const [min, max] = [schema.minimum, schema.maximum]
    if (min === undefined || max === undefined) throw new Error(`${input.operation.operationId} ${input.name}: an integer without a range`)
    return [
      { value: min, accepted: true, label: `minimum ${min}` }, { value: max, accepted: true, label: `maximum ${max}` },
      { value: min - 1, accepted: false, label: `below the minimum, ${min - 1}` }, { value: max + 1, accepted: false, label: `above the maximum, ${max + 1}` }
    ]
  }
  if (schema.type === 'array') {
    const [min, max] = [schema.minItems ?? 0, schema.maxItems ?? 0]
    return [
      { value: arrayOf(input, max), accepted: true, label: `${max} items` },
      { value: arrayOf(input, max + 1), accepted: false, label: `${max + 1} items` },
      ...(min > 0 ? [{ value: arrayOf(input, min), accepted: true, label: `${min} items` }, { value: arrayOf(input, min - 1), accepted: false, label: `${min - 1} items` }] : [])
    ]
  }
  const [min, max] = [schema.minLength ?? 0, schema.maxLength ?? 0]
  return [
    { value: stringOf(input, max), accepted: true, label: `${max} characters` },
    { value: stringOf(input, max + 1), accepted: false, label: `${max + 1} characters` },
    // A one-character cursor cannot be one the API returned (its decoding refuses it): only the empty one is tried.
    ...(min > 0 && input.name !== 'cursor' ? [{ value: stringOf(input, min), accepted: true, label: `${min} characters` }] : []),
    ...(min > 0 ? [{ value: '', accepted: false, label: 'empty' }] : [])
  ]
}

/** Sets a value at a JSON Pointer, making the objects on the way. */
function setAt (target: Record<string, unknown>, pointer: string, value: unknown): void {
  const keys = pointer.split('/').slice(1)
  let node: Record<string, unknown> | unknown[] = target
  keys.forEach((key, index) => {
    const container = node as Record<string, unknown>
    if (index === keys.length - 1) {
      container[key] = value
      return
    }
    container[key] ??= {}
    node = container[key] as Record<string, unknown>
  })
}

async function send (input: BoundedInput, value: unknown) {
  const { operation } = input
  const make = base[operation.operationId]
  if (make === undefined) throw new Error(`no base request for ${operation.operationId}: add one to this test`)
  const request = make()
  if (input.location === 'body') setAt(request.body ?? {}, input.name, value)
  else if (input.location === 'query') request.query[input.name] = String(value)
  else if (input.location === 'path') request.params[input.name] = String(value)
  else request.headers[input.name] = String(value)
  const path = operation.template.replace(/\{([^}]+)\}/g, (_, param: string) => encodeURIComponent(request.params[param] ?? randomUUID()))
  const query = new URLSearchParams(request.query).toString()
  return await t.app.inject({
    method: operation.method as 'GET',
    url: query === '' ? path : `${path}?${query}`,
    headers: request.headers,
    ...(request.body === undefined ? {} : { payload: request.body })
  })
}

/** The name a 400 gives the input: a JSON Pointer into the body, or `/` and the parameter's name. */
function errorPath (input: BoundedInput): string {
  return input.location === 'body' ? input.name : `/${input.name}`
}

describe('the bounds the document declares', () => {
  it('covers every operation: each has a base request here', () => {
    expect(Object.keys(base).sort()).toEqual(documented.operations.map((operation) => operation.operationId).sort())
  })

  it('finds the bounded inputs', () => {
    const names = boundedInputs().map((input) => `${input.operation.operationId} ${input.location} ${input.name}`)
    expect(names.length).toBeGreaterThan(60)
    expect(names).toEqual(expect.arrayContaining([
      'createBooking body /items', 'createBooking body /items/0/quantity', 'createBooking header idempotency-key',
      'listEvents query limit', 'listEvents query cursor', 'getEvent path eventId', 'createWebhookEndpoint body /url',
      'updateTicket body /attendeeName', 'getTicketQr path ticketId', 'listRevocations query cursor', 'listTicketKeys header if-none-match'
    ]))
  })

  it('accepts every bounded input at each of its bounds and refuses it one past, with a 400 naming it', async () => {
    const failures: string[] = []
    for (const input of boundedInputs()) {
      for (const { value, accepted, label } of cases(input)) {
        const response = await send(input, value)
        const where = `${input.operation.operationId} ${input.location} ${input.name} at ${label} → ${response.statusCode} ${response.body.slice(0, 200)}`
        const named = response.statusCode === 400 &&
          (response.json().errors as { path: string }[]).some((error) => error.path === errorPath(input))
        if (accepted && (response.statusCode >= 500 || named)) failures.push(`accepted expected: ${where}`)
        if (!accepted && !named) failures.push(`400 naming ${errorPath(input)} expected: ${where}`)
        const undocumented = documented.check(input.operation, response.statusCode, response.headers['content-type']?.toString(), response.body)
        if (undocumented !== undefined) failures.push(`${undocumented}: ${where}`)
      }
    }
    expect(failures).toEqual([])
  }, 120_000)
})

describe('the collection limits behind the bounded lists', () => {
  it('lets an event have 100 ticket tiers, its whole list in one response, and refuses more with a 409, also to concurrent requests', async () => {
    const { id: eventId } = await createEvent(t.app, { name: 'Full house' })
    await t.sql`
      insert into ticket_tiers (event_id, name, price, capacity, remaining, max_per_booking)
      select ${eventId}, 'Tier ' || n, 100, 10, 10, 10 from generate_series(1, 90) as n
    `
    // Twenty at once for the last ten places: the event's lock lets exactly ten in.
    const racing = await Promise.all(Array.from({ length: 20 }, async (_, n) => await t.app.inject({
      method: 'POST', url: `/api/events/${eventId}/ticket-tiers`, headers: asAdmin, payload: { name: `Racer ${n}`, price: 100, capacity: 10 }
    })))
    expect(racing.filter((response) => response.statusCode === 201)).toHaveLength(10)
    const refused = racing.filter((response) => response.statusCode === 409)
    expect(refused).toHaveLength(10)
    for (const response of refused) expect(response.json()).toMatchObject({ type: problemType('limit-reached'), limit: 100 })

    const list = await t.app.inject({ method: 'GET', url: `/api/events/${eventId}/ticket-tiers` })
    expect(list.json().data).toHaveLength(100)
    const listing = documented.operations.find((operation) => operation.operationId === 'listTicketTiers')
    if (listing === undefined) throw new Error('no listTicketTiers')
    expect(documented.check(listing, list.statusCode, list.headers['content-type']?.toString(), list.body)).toBeUndefined()
  })

  it('lets an integrator have 1000 keys, revoked ones included, and refuses the 1001st with a 409', async () => {
    const integrator = await t.app.inject({ method: 'POST', url: '/api/integrators', headers: asAdmin, payload: { name: 'Many keys' } })
    const integratorId: string = integrator.json().id
    await t.sql`
      insert into api_keys (integrator_id, prefix, key_hash, scopes, revoked_at)
      select ${integratorId}, 'tbk_old', sha256(('old key ' || n || ${integratorId})::bytea), array['bookings:read'], now()
      from generate_series(1, 999) as n
    `
    const last = await t.app.inject({ method: 'POST', url: `/api/integrators/${integratorId}/keys`, headers: asAdmin, payload: {} })
    expect(last.statusCode).toBe(201)
    const tooMany = await t.app.inject({ method: 'POST', url: `/api/integrators/${integratorId}/keys`, headers: asAdmin, payload: {} })
    expect(tooMany.statusCode).toBe(409)
    expect(tooMany.json()).toMatchObject({ type: problemType('limit-reached'), limit: 1000 })
    const list = await t.app.inject({ method: 'GET', url: `/api/integrators/${integratorId}/keys`, headers: asAdmin })
    expect(list.json().data).toHaveLength(1000)
  })

  it('lets an event have 100 check-in lists and 1000 scanner keys, revoked ones included, and refuses more with a 409', async () => {
    const eventId = (await createEvent(t.app, { name: 'Many doors' })).id
    await t.sql`insert into check_in_lists (event_id, name) select ${eventId}, 'Door ' || n from generate_series(1, 99) as n`
    await t.sql`
      insert into scanner_keys (event_id, name, prefix, key_hash, revoked_at)
      select ${eventId}, 'Old ' || n, 'tbs_old', sha256(('old key ' || n || ${eventId})::bytea), now() from generate_series(1, 999) as n
    `
    for (const [path, payload, limit] of [['check-in-lists', { name: 'Last door' }, 100], ['scanner-keys', { name: 'Last gate' }, 1000]] as const) {
      const url = `/api/events/${eventId}/${path}`
      const last = await t.app.inject({ method: 'POST', url, headers: asAdmin, payload })
      expect(last.statusCode, last.body).toBe(201)
      const tooMany = await t.app.inject({ method: 'POST', url, headers: asAdmin, payload })
      expect(tooMany.statusCode, tooMany.body).toBe(409)
      expect(tooMany.json()).toMatchObject({ type: problemType('limit-reached'), limit })
      const list = await t.app.inject({ method: 'GET', url, headers: asAdmin })
      expect(list.json<{ data: unknown[] }>().data).toHaveLength(limit)
    }
  })

  it('lets an integrator have 20 webhook endpoints and refuses the 21st with a 409', async () => {
    const who = await t.newIntegrator('Many endpoints')
    await t.sql`
      insert into webhook_endpoints (integrator_id, url, events, secret)
      select ${who.id}, 'https://example.com/hooks/' || n, array['booking.created'], 'whsec_' || md5(n::text) from generate_series(1, 19) as n
    `
    const register = async () => await t.app.inject({
      method: 'POST', url: '/api/webhook-endpoints', headers: who.headers, payload: { url: 'https://example.com/hooks', events: ['booking.created'] }
    })
    expect((await register()).statusCode).toBe(201)
    const tooMany = await register()
    expect(tooMany.statusCode).toBe(409)
    expect(tooMany.json()).toMatchObject({ type: problemType('limit-reached'), limit: 20 })
  })
})
