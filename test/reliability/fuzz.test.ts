import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_EVENT_ID, seedDemo } from '../../src/db/seed.js'
import { BODY_LIMIT_BYTES } from '../../src/limits.js'
import { MAX_JSON_DEPTH } from '../../src/plugins/json-body.js'
import { ADMIN_KEY, createTestApp, type TestApp } from '../support/app.js'
import { loadDocumented, type Documented } from '../support/documented.js'
import { DEMO_TIER_IDS } from '../support/fixtures.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 5000)
const STRUCTURE_RUNS = Number(process.env.FUZZ_STRUCTURE_RUNS ?? 3000)
const { vip: VIP, generalAdmission: GA } = DEMO_TIER_IDS

let t: TestApp
let documented: Documented
let bookingId: string
/** A scanner key of the demo event, a check-in list of it with re-entry, and the booking's ticket's code, for scans. */
let scannerKey: string
let listId: string
let ticketCode: string

beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
  const booking = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId: DEMO_EVENT_ID, items: [{ ticketTierId: GA, quantity: 1 }] } })
  bookingId = booking.json().id
  const tickets = await t.app.inject({ method: 'GET', url: `/api/bookings/${bookingId}/tickets`, headers: t.asIntegrator })
  ticketCode = tickets.json<{ data: Array<{ code: string }> }>().data[0]?.code ?? ''
  const asAdmin = { authorization: `Bearer ${ADMIN_KEY}` }
  listId = (await t.app.inject({ method: 'POST', url: `/api/events/${DEMO_EVENT_ID}/check-in-lists`, headers: asAdmin, payload: { name: 'Fuzz door', allowReentry: true } })).json<{ id: string }>().id
  scannerKey = (await t.app.inject({ method: 'POST', url: `/api/events/${DEMO_EVENT_ID}/scanner-keys`, headers: asAdmin, payload: { name: 'Fuzz gate' } })).json<{ key: string }>().key

  documented = await loadDocumented()
})
afterAll(async () => { await t.close() })

const hostileStrings = fc.constantFrom(
  "' OR '1'='1", "'; DROP TABLE bookings; --", '1; select pg_sleep(10)', '"}]}', '\\u0000', '../../etc/passwd',
  '%00', '%E0%A4%A', '😀🎫'.repeat(20), 'ﬁ'.repeat(300), ' ', '', 'null', '[]', '{}', 'NaN', '-0', '1e309', 'a'.repeat(5000)
)
const someString = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), hostileStrings)
const someUuid = fc.oneof(fc.constantFrom(DEMO_EVENT_ID, VIP, GA), fc.uuid(), fc.constant('00000000-0000-0000-0000-000000000000'))
const someNumber = fc.oneof(
  fc.integer({ min: -5, max: 200 }), fc.constantFrom(0, -1, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, 100_000_001, 1_000_001, 0.5, 3600, 59),
  fc.double({ noNaN: true })
)
const someValue: fc.Arbitrary<unknown> = fc.oneof(someString, someNumber, fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}))

/** Deeply nested JSON, as text: parsers and validators must stay standing. */
const deepJson = fc.integer({ min: 50, max: 3000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth))

const bookingBody = fc.record({
  eventId: fc.oneof(someUuid, someString),
  clientReference: fc.option(someString, { nil: undefined }),
  hold: fc.option(fc.oneof(fc.record({ ttlSeconds: someNumber }), someValue), { nil: undefined }),
  items: fc.oneof(
    fc.array(fc.record({ ticketTierId: fc.oneof(someUuid, someString), quantity: someNumber }), { minLength: 0, maxLength: 22 }),
    someValue
  )
}, { requiredKeys: [] })

/** Mostly valid bookings of the demo event, so the success paths are exercised too. */
const plausibleBooking = fc.record({
  eventId: fc.constant(DEMO_EVENT_ID),
  hold: fc.option(fc.record({ ttlSeconds: fc.integer({ min: 60, max: 3600 }) }), { nil: undefined }),
  items: fc.uniqueArray(fc.record({ ticketTierId: fc.constantFrom(VIP, GA), quantity: fc.integer({ min: 1, max: 5 }) }), {
    minLength: 1, maxLength: 2, selector: (item) => item.ticketTierId
  })
}, { requiredKeys: ['eventId', 'items'] })

const eventBody = fc.record({
  name: someString,
  description: fc.oneof(someString, fc.constant(null)),
  venue: someString,
  startsAt: fc.oneof(fc.date({ min: new Date('0001-01-01'), max: new Date('9999-12-31') }).map((date) => Number.isNaN(date.getTime()) ? 'x' : date.toISOString()), someString),
  endsAt: fc.oneof(fc.constant(null), fc.date().map((date) => Number.isNaN(date.getTime()) ? 'x' : date.toISOString()), someString),
  currency: fc.oneof(fc.constantFrom('EUR', 'USD', 'eur', 'EURO', ''), someString)
}, { requiredKeys: [] })

const tierBody = fc.record({ name: someString, price: someNumber, capacity: someNumber, maxPerBooking: someNumber }, { requiredKeys: [] })

/*
 * Scans: the real code and list (written as placeholders, filled in when sent), codes cut or
 * altered at random places, and anything else, in every field.
 */
const CODE = '@@ticket-code@@'
const LIST = '@@check-in-list@@'
const someCode = fc.oneof(
  fc.constant(CODE),
  fc.tuple(fc.nat(), fc.nat(), someString).map(([at, length, inserted]) => `${CODE}#${at}#${length}#${inserted}`),
  someString
)
const scanBody = fc.record({
  code: someCode,
  checkInListId: fc.oneof(fc.constant(LIST), someUuid, someString),
  nonce: fc.oneof(fc.uuid(), someString),
  type: fc.oneof(fc.constantFrom('entry', 'exit'), someValue),
  scannedAt: fc.oneof(fc.date({ min: new Date('2000-01-01'), max: new Date('2030-01-01') }).map((date) => Number.isNaN(date.getTime()) ? 'x' : date.toISOString()), someString),
  gate: fc.oneof(someString, fc.constant(null))
}, { requiredKeys: [] })
const scanUpload = fc.record({ checkIns: fc.oneof(fc.array(scanBody, { maxLength: 30 }), someValue) }, { requiredKeys: [] })

/** The body as sent: the placeholders of scans replaced by the real code (cut or altered as they say) and list. */
function withScanValues (text: string): string {
  return text
    .replace(/"@@ticket-code@@#(\d+)#(\d+)#((?:[^"\\]|\\.)*)"/g, (_, at: string, length: string, inserted: string) => {
      const cut = Number(at) % (ticketCode.length + 1)
      const altered = ticketCode.slice(0, cut) + (JSON.parse(`"${inserted}"`) as string) + ticketCode.slice(cut + (Number(length) % 8))
      return JSON.stringify(altered)
    })
    .replaceAll(`"${CODE}"`, JSON.stringify(ticketCode))
    .replaceAll(`"${LIST}"`, JSON.stringify(listId))
}

const extraProperty = fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'nmae', 'total'), fc.string({ maxLength: 8 })), someValue, { maxKeys: 2 })

const body: fc.Arbitrary<{ text: string | undefined, contentType: string | undefined }> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.oneof(bookingBody, eventBody, tierBody), extraProperty).map(([value, extra]) => ({ text: JSON.stringify({ ...value, ...extra }), contentType: 'application/json' })) },
  { weight: 3, arbitrary: plausibleBooking.map((value) => ({ text: JSON.stringify(value), contentType: 'application/json' })) },
  { weight: 3, arbitrary: fc.tuple(fc.oneof(scanBody, scanUpload), extraProperty).map(([value, extra]) => ({ text: JSON.stringify({ ...value, ...extra }), contentType: 'application/json' })) },
  { weight: 1, arbitrary: fc.json().map((text) => ({ text, contentType: 'application/json' })) },
  { weight: 1, arbitrary: deepJson.map((text) => ({ text, contentType: 'application/json' })) },
  { weight: 1, arbitrary: fc.constant({ text: `{"eventId":"${DEMO_EVENT_ID}","eventId":"x","items":[{"ticketTierId":"${GA}","quantity":1}]}`, contentType: 'application/json' }) },
  { weight: 1, arbitrary: fc.constant({ text: JSON.stringify({ name: 'x'.repeat(BODY_LIMIT_BYTES + 10) }), contentType: 'application/json' }) },
  {
    weight: 1,
    arbitrary: fc.tuple(someString, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/problem+json', 'multipart/form-data'))
      .map(([text, contentType]) => ({ text, contentType }))
  },
  { weight: 1, arbitrary: fc.constant({ text: undefined, contentType: undefined }) },
  { weight: 1, arbitrary: fc.constant({ text: '', contentType: 'application/json' }) }
)

const query = fc.oneof(
  fc.constant(''),
  fc.record({ limit: fc.oneof(someNumber, someString), cursor: fc.oneof(someString, fc.base64String({ maxLength: 60 })) }, { requiredKeys: [] })
    .map((params) => '?' + Object.entries(params).map(([key, value]) => `${key}=${encodeURIComponent(String(value))}`).join('&')),
  fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), someString, { maxKeys: 3 })
    .map((params) => '?' + Object.entries(params).map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&'))
)

const visibleAscii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 250 })

const request = fc.record({
  operation: fc.nat(),
  otherMethod: fc.oneof(
    { weight: 9, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD') }
  ),
  ids: fc.array(fc.oneof(someUuid, someString, fc.constant('booking'), fc.constant('booking')), { minLength: 1, maxLength: 1 }),
  query,
  body,
  authorization: fc.oneof(
    { weight: 2, arbitrary: fc.constant(`Bearer ${ADMIN_KEY}`) },
    { weight: 3, arbitrary: fc.constant('integrator') },
    { weight: 2, arbitrary: fc.constant('scanner') },
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: visibleAscii.map((token) => `Bearer ${token}`) },
    { weight: 1, arbitrary: visibleAscii }
  ),
  idempotencyKey: fc.option(visibleAscii, { nil: undefined }),
  requestId: fc.option(visibleAscii, { nil: undefined })
})

type Operation = Documented['operations'][number]
interface Answer { statusCode: number, headers: Record<string, unknown>, body: string, json: () => { type?: unknown, title?: unknown, status?: unknown } }

/** What every answer to hostile input must be: no 5xx, problem details on errors, as documented. */
function expectWellFormed (operation: Operation, method: string, path: string, query: string, response: Answer): void {
  const where = `${method} ${path}${query.slice(0, 200)} → ${response.statusCode} ${response.body.slice(0, 300)}`
  expect(response.statusCode, where).toBeLessThan(500)
  expect(response.headers['x-request-id'], where).toBeTruthy()
  if (method === 'HEAD') return
  if (response.statusCode >= 400) {
    expect(response.headers['content-type'], where).toMatch(/^application\/problem\+json/)
    const problem = response.json()
    expect(problem.type, where).toMatch(/^urn:ticket-booking:problem:[a-z-]+$/)
    expect(typeof problem.title, where).toBe('string')
    expect(problem.status, where).toBe(response.statusCode)
    expect(response.body, where).not.toMatch(/\bat .*\.(ts|js):\d+|PostgresError|syntax error at/)
  }
  // On the operation's own method: a documented status, with a body within its documented bounds.
  // Not when an id of "." or ".." turned the path into another resource's.
  const addressesOperation = new URL(path, 'http://localhost').pathname === path
  if (method === operation.method && addressesOperation) {
    expect(documented.check(operation, response.statusCode, response.headers['content-type']?.toString(), response.body), where).toBeUndefined()
  }
}

describe('hostile and random input', () => {
  it(`never produces a 5xx; every response has a documented status and matches its documented schema, bounds included (${RUNS} requests)`, async () => {
    const statuses = new Map<number, number>()
    await fc.assert(fc.asyncProperty(request, async (generated) => {
      const { operations } = documented
      const operation = operations[generated.operation % operations.length] as (typeof operations)[number]
      const id = generated.ids[0] === 'booking' ? bookingId : String(generated.ids[0])
      const path = operation.template.replace(/\{[^}]+\}/g, () => encodeURIComponent(id))
      const method = generated.otherMethod ?? operation.method
      const headers: Record<string, string> = {}
      if (generated.authorization !== undefined) {
        headers.authorization = generated.authorization === 'integrator'
          ? `Bearer ${t.integrator.key}`
          : generated.authorization === 'scanner' ? `Bearer ${scannerKey}` : generated.authorization
      }
      if (generated.idempotencyKey !== undefined) headers['idempotency-key'] = generated.idempotencyKey
      if (generated.requestId !== undefined) headers['x-request-id'] = generated.requestId
      if (generated.body.contentType !== undefined && method !== 'GET' && method !== 'HEAD') headers['content-type'] = generated.body.contentType

      const response = await t.app.inject({
        method: method as 'GET',
        url: path + generated.query,
        headers,
        ...(generated.body.text !== undefined && method !== 'GET' && method !== 'HEAD' ? { payload: withScanValues(generated.body.text) } : {})
      })
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      expectWellFormed(operation, method, path, generated.query, response)
    }), { numRuns: RUNS })
    const total = [...statuses.values()].reduce((sum, count) => sum + count, 0)
    expect(total).toBe(RUNS)
    expect([...statuses.keys()].some((status) => status < 300)).toBe(true)
  }, 240_000)
})

/*
 * Structural attacks: the shape of a request, not only its values. Each request starts from an
 * operation's documented example body (or none) and gets one to three mutations at random places
 * of its JSON tree, serialised by hand so that duplicate keys, `__proto__` keys and numbers no
 * JavaScript value can hold reach the server as a client could send them.
 */

/** A JSON value as text: `Raw` is sent verbatim, `Entries` is an object that may repeat keys. */
class Raw { constructor (readonly text: string) {} }
class Entries { constructor (readonly entries: Array<[string, Node]>) {} }
type Node = null | boolean | number | string | Raw | Entries | Node[]

function toNode (value: unknown): Node {
  if (Array.isArray(value)) return value.map(toNode)
  if (typeof value === 'object' && value !== null) return new Entries(Object.entries(value).map(([key, child]) => [key, toNode(child)]))
  return value as Node
}

function toJson (node: Node): string {
  if (node instanceof Raw) return node.text
  if (node instanceof Entries) return `{${node.entries.map(([key, child]) => `${JSON.stringify(key)}:${toJson(child)}`).join(',')}}`
  if (Array.isArray(node)) return `[${node.map(toJson).join(',')}]`
  return JSON.stringify(node)
}

/** Every place in the tree, as a getter and a setter, the root included. */
function places (root: { node: Node }): Array<{ get: () => Node, set: (node: Node) => void }> {
  const found: Array<{ get: () => Node, set: (node: Node) => void }> = [{ get: () => root.node, set: (node) => { root.node = node } }]
  const walk = (node: Node): void => {
    if (node instanceof Entries) {
      node.entries.forEach((entry) => {
        found.push({ get: () => entry[1], set: (child) => { entry[1] = child } })
        walk(entry[1])
      })
    } else if (Array.isArray(node)) {
      node.forEach((child, index) => {
        found.push({ get: () => node[index] as Node, set: (next) => { node[index] = next } })
        walk(child)
      })
    }
  }
  walk(root.node)
  return found
}

const oddStrings = [
  '\uD800', '\uDFFF', 'a\uDBFFb', '\uDC00\uD800', '\u202Eevil.exe', '\uFEFFname', '\u200D'.repeat(50), 'e\u0301'.repeat(500),
  '\uFFFE\uFFFF', '\u{10FFFF}', '\u0085\u2028\u2029', '\u0000', '\u001F\u007F', '🎫'.repeat(100), 'ﬀ'.repeat(70), 'İ'.repeat(100),
  '\u0301', ' ', '', '\\', '"', '%00', '\r\n\r\n', 'x'.repeat(201)
]
const rawNumbers = ['1e999', '-1e999', '1e-999', '123456789012345678901234567890', '-0.0', '1E2', '0.1e1', '-0', '100000000000000000000000e-20']
const boundaryNumbers = [0, -1, 1, 0.5, 59, 60, 61, 100, 101, 20, 21, 3600, 3601, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 2 ** 53 + 1,
  100_000_000, 100_000_001, 1_000_000, 1_000_001, 1e308, -1e308, Number.MIN_VALUE]
const malformedUrls = [
  'http://', 'https://', 'http:///x', 'http://exa mple.com', 'http://exa<mple.com', 'http://example.com:99999', 'http://example.com:-1',
  'http://[::1', 'http://%zz', 'https://@/', 'http://example.com:80:80', 'http://1.2.3.4.5', `https://${'a'.repeat(64)}.com`,
  'https://user:pass@example.com/', 'javascript:alert(1)', 'https://\uD800.com/', 'http://0x7f000001/', 'http://[fe80::1%25eth0]/'
]
const DEPTHS = [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 200, 5_000, 20_000]

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('deep-arrays' as const), depth: fc.constantFrom(...DEPTHS) }),
  fc.record({ kind: fc.constant('deep-objects' as const), depth: fc.constantFrom(...DEPTHS.slice(0, 4)) }),
  fc.record({ kind: fc.constant('odd-string' as const), text: fc.oneof(fc.constantFrom(...oddStrings), fc.string({ unit: 'binary', maxLength: 30 })) }),
  fc.record({ kind: fc.constant('long-string' as const), length: fc.constantFrom(201, 2049, 10_000, 60_000) }),
  fc.record({ kind: fc.constant('number' as const), value: fc.constantFrom(...boundaryNumbers) }),
  fc.record({ kind: fc.constant('raw-number' as const), text: fc.constantFrom(...rawNumbers) }),
  fc.record({ kind: fc.constant('huge-array' as const), length: fc.constantFrom(21, 1_001, 15_000) }),
  fc.record({ kind: fc.constant('long-key' as const), length: fc.constantFrom(201, 5_000, 50_000) }),
  fc.record({ kind: fc.constant('proto-key' as const), key: fc.constantFrom('__proto__', 'constructor', 'prototype'), value: fc.constantFrom('{}', '{"prototype":{"admin":true}}', '{"admin":true}', 'null', '1') }),
  fc.record({ kind: fc.constant('duplicate-key' as const), value: fc.constantFrom('null', '"x"', '1', '{}', '[]', '"order-1042"') }),
  fc.record({ kind: fc.constant('type-swap' as const), json: fc.constantFrom('null', '[]', '{}', 'true', '""', '0') }),
  fc.record({ kind: fc.constant('url' as const), url: fc.constantFrom(...malformedUrls) })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

/** The nearest object at or above nothing in particular: the object at `place`, else the root if it is one. */
function objectAt (node: Node, root: Node): Entries | undefined {
  if (node instanceof Entries) return node
  return root instanceof Entries ? root : undefined
}

function mutate (root: { node: Node }, where: number, change: Mutation): void {
  const all = places(root)
  const place = all[where % all.length] as (typeof all)[number]
  switch (change.kind) {
    case 'deep-arrays': return place.set(new Raw('['.repeat(change.depth) + ']'.repeat(change.depth)))
    case 'deep-objects': return place.set(new Raw('{"a":'.repeat(change.depth) + '1' + '}'.repeat(change.depth)))
    case 'odd-string': return place.set(change.text)
    case 'long-string': return place.set('x'.repeat(change.length))
    case 'number': return place.set(change.value)
    case 'raw-number': return place.set(new Raw(change.text))
    case 'huge-array': {
      // Past the body limit is a 413 already: at most twice that, as text no later mutation can grow.
      const element = toJson(place.get())
      const length = Math.max(1, Math.min(change.length, Math.floor(2 * BODY_LIMIT_BYTES / (element.length + 1))))
      return place.set(new Raw(`[${Array.from({ length }, () => element).join(',')}]`))
    }
    case 'type-swap': return place.set(toNode(JSON.parse(change.json)))
    case 'url': return place.set(change.url)
  }
  const target = objectAt(place.get(), root.node)
  if (target === undefined) return place.set(new Entries([['k'.repeat(change.kind === 'long-key' ? change.length : 1), 1]]))
  if (change.kind === 'long-key') target.entries.push(['k'.repeat(change.length), 'v'])
  if (change.kind === 'proto-key') target.entries.push([change.key, new Raw(change.value)])
  if (change.kind === 'duplicate-key') {
    const first = target.entries[0]
    target.entries.push([first?.[0] ?? 'name', new Raw(change.value)])
  }
}

const queryAttacks = fc.constantFrom(
  '', '', '?limit=1&limit=2', '?limit[]=1', '?limit[a]=1', `?${'a'.repeat(5_000)}=1`, '?__proto__=1', '?constructor[prototype][admin]=1',
  '?limit=%F0%9F', '?limit=%00', `?cursor=${encodeURIComponent('\uFFFE')}`, `?cursor=${'A'.repeat(3_000)}`, '?eventId=x&eventId=y',
  '?status=held&status=confirmed', '?limit=1e999', '?limit=0x10', '?limit=-0', '?limit=+5', '?limit= 5', '?&&&', '?=', '?limit'
)

const structuralRequest = fc.record({
  operation: fc.nat(),
  id: fc.oneof(fc.constant('booking'), someUuid, fc.constantFrom('x'.repeat(5_000), '%F0%9F', '__proto__', 'constructor')),
  mutations: fc.array(fc.record({ where: fc.nat(), change: mutation }), { minLength: 1, maxLength: 3 }),
  query: queryAttacks,
  authorization: fc.constantFrom('admin', 'integrator', 'scanner'),
  idempotencyKey: fc.option(fc.constantFrom('x'.repeat(201), ' ', 'order-1042', '\t', 'ä'), { nil: undefined })
})

describe('structural attacks on every operation', () => {
  it(`never produces a 5xx for mutated shapes: nesting, long keys and strings, prototype and duplicate keys, huge arrays, odd Unicode, numbers past every bound, malformed URLs (${STRUCTURE_RUNS} requests)`, async () => {
    const seen = new Set<string>()
    await fc.assert(fc.asyncProperty(structuralRequest, async (generated) => {
      const { operations } = documented
      const operation = operations[generated.operation % operations.length] as Operation
      seen.add(operation.operationId)
      const id = generated.id === 'booking' ? bookingId : generated.id
      const path = operation.template.replace(/\{[^}]+\}/g, () => encodeURIComponent(id))
      const example = (operation.requestBody?.content?.['application/json'] as { example?: unknown } | undefined)?.example ?? {}
      const root = { node: toNode(structuredClone(example)) }
      for (const { where, change } of generated.mutations) mutate(root, where, change)
      const headers: Record<string, string> = {
        authorization: `Bearer ${{ admin: ADMIN_KEY, integrator: t.integrator.key, scanner: scannerKey }[generated.authorization]}`,
        'content-type': 'application/json'
      }
      if (generated.idempotencyKey !== undefined && /^[\x20-\x7e\t]*$/.test(generated.idempotencyKey)) headers['idempotency-key'] = generated.idempotencyKey
      const response = await t.app.inject({
        method: operation.method as 'GET',
        url: path + generated.query,
        headers,
        ...(operation.method === 'GET' ? {} : { payload: toJson(root.node) })
      })
      expectWellFormed(operation, operation.method, path, generated.query, response)
    }), { numRuns: STRUCTURE_RUNS })
    expect(seen.size).toBe(documented.operations.length)
  }, 240_000)
})
