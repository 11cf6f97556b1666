import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_EVENT_ID, seedDemo } from '../../src/db/seed.js'
import { BODY_LIMIT_BYTES } from '../../src/limits.js'
import { ADMIN_KEY, createTestApp, type TestApp } from '../support/app.js'
import { loadDocumented, type Documented } from '../support/documented.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 5000)
const VIP = '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71'
const GA = '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f72'

let t: TestApp
let documented: Documented
let bookingId: string

beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
  const booking = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId: DEMO_EVENT_ID, items: [{ ticketTierId: GA, quantity: 1 }] } })
  bookingId = booking.json().id

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

const extraProperty = fc.dictionary(fc.oneof(fc.constantFrom('__proto__', 'constructor', 'nmae', 'total'), fc.string({ maxLength: 8 })), someValue, { maxKeys: 2 })

const body: fc.Arbitrary<{ text: string | undefined, contentType: string | undefined }> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.oneof(bookingBody, eventBody, tierBody), extraProperty).map(([value, extra]) => ({ text: JSON.stringify({ ...value, ...extra }), contentType: 'application/json' })) },
  { weight: 3, arbitrary: plausibleBooking.map((value) => ({ text: JSON.stringify(value), contentType: 'application/json' })) },
  { weight: 1, arbitrary: fc.json().map((text) => ({ text, contentType: 'application/json' })) },
  { weight: 1, arbitrary: deepJson.map((text) => ({ text, contentType: 'application/json' })) },
  { weight: 1, arbitrary: fc.constant({ text: `{"eventId":"${DEMO_EVENT_ID}","eventId":"x","items":[{"ticketTierId":"${GA}","quantity":1}]}`, contentType: 'application/json' }) },
  { weight: 1, arbitrary: fc.constant({ text: JSON.stringify({ name: 'x'.repeat(BODY_LIMIT_BYTES + 10) }), contentType: 'application/json' }) },
  { weight: 1, arbitrary: fc.tuple(someString, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/problem+json', 'multipart/form-data'))
    .map(([text, contentType]) => ({ text, contentType })) },
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
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: visibleAscii.map((token) => `Bearer ${token}`) },
    { weight: 1, arbitrary: visibleAscii }
  ),
  idempotencyKey: fc.option(visibleAscii, { nil: undefined }),
  requestId: fc.option(visibleAscii, { nil: undefined })
})

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
        headers.authorization = generated.authorization === 'integrator' ? `Bearer ${t.integrator.key}` : generated.authorization
      }
      if (generated.idempotencyKey !== undefined) headers['idempotency-key'] = generated.idempotencyKey
      if (generated.requestId !== undefined) headers['x-request-id'] = generated.requestId
      if (generated.body.contentType !== undefined && method !== 'GET' && method !== 'HEAD') headers['content-type'] = generated.body.contentType

      const response = await t.app.inject({
        method: method as 'GET',
        url: path + generated.query,
        headers,
        ...(generated.body.text !== undefined && method !== 'GET' && method !== 'HEAD' ? { payload: generated.body.text } : {})
      })
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      const where = `${method} ${path}${generated.query} → ${response.statusCode} ${response.body.slice(0, 300)}`
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
    }), { numRuns: RUNS })
    const total = [...statuses.values()].reduce((sum, count) => sum + count, 0)
    expect(total).toBe(RUNS)
    expect([...statuses.keys()].some((status) => status < 300)).toBe(true)
  }, 240_000)
})
