import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BODY_LIMIT_BYTES } from '../../src/limits.js'
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/plugins/json-body.js'
import { asAdmin, createTestApp, type TestApp } from '../support/app.js'
import { loadDocumented, type Documented } from '../support/documented.js'
import { problemType } from '../support/fixtures.js'

let t: TestApp
let documented: Documented
beforeAll(async () => {
  t = await createTestApp()
  documented = await loadDocumented()
})
afterAll(async () => { await t.close() })

const arrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)
const objects = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)

/** Whole bodies, and a nested value where a real property of the contract would be. */
const shapes: Array<[string, string]> = [
  ...[MAX_JSON_DEPTH + 1, 3_000, 30_000].map((depth): [string, string] => [`arrays ${depth} deep`, arrays(depth)]),
  ...[MAX_JSON_DEPTH + 1, 3_000, 10_000].map((depth): [string, string] => [`objects ${depth} deep`, objects(depth)]),
  ['arrays 30000 deep in items', `{"eventId":"${randomUUID()}","items":${arrays(30_000)}}`],
  ['objects 10000 deep in name', `{"name":${objects(10_000)}}`]
]

describe('deeply nested JSON', () => {
  it('counts brackets outside strings only', () => {
    expect(nestsDeeperThan(arrays(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false)
    expect(nestsDeeperThan(arrays(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true)
    expect(nestsDeeperThan(JSON.stringify({ name: '['.repeat(1000) + '\\"[{'.repeat(100) }), 2)).toBe(false)
    expect(nestsDeeperThan(JSON.stringify([[['"]]]"']]]), 2)).toBe(true)
  })

  it('is a 400 problem on every operation that takes a body, at any depth, and the server stays healthy', async () => {
    const withBody = documented.operations.filter((operation) => operation.requestBody !== undefined)
    expect(withBody.map((operation) => operation.operationId)).toEqual(expect.arrayContaining([
      'createEvent', 'updateEvent', 'createTicketTier', 'updateTicketTier', 'createIntegrator', 'createApiKey',
      'createBooking', 'createWebhookEndpoint', 'updateWebhookEndpoint'
    ]))
    // Scans take a scanner key only: one of an event of its own.
    const event = await t.app.inject({ method: 'POST', url: '/api/events', headers: asAdmin, payload: { name: 'Depth', venue: 'Hall', startsAt: '2027-01-01T20:00:00Z', currency: 'EUR' } })
    const scannerKey = await t.app.inject({ method: 'POST', url: `/api/events/${event.json<{ id: string }>().id}/scanner-keys`, headers: asAdmin, payload: { name: 'Depth' } })
    const asScanner = { authorization: `Bearer ${scannerKey.json<{ key: string }>().key}` }
    for (const operation of withBody) {
      const url = operation.template.replace(/\{[^}]+\}/g, () => randomUUID())
      const admin = operation.security?.some((scheme) => 'adminKey' in scheme) === true
      const scanner = operation.security?.every((scheme) => 'scannerKey' in scheme) === true
      for (const [shape, payload] of shapes) {
        expect(payload.length).toBeLessThan(BODY_LIMIT_BYTES)
        const response = await t.app.inject({
          method: operation.method as 'POST',
          url,
          headers: { ...(admin ? asAdmin : scanner ? asScanner : t.asIntegrator), 'content-type': 'application/json' },
          payload
        })
        const where = `${operation.operationId}, ${shape}: ${response.statusCode} ${response.body.slice(0, 200)}`
        expect(response.statusCode, where).toBe(400)
        expect(response.json(), where).toMatchObject({ type: problemType('validation-error'), status: 400 })
      }
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/health' })).statusCode).toBe(200)
  })

  it('past the body limit is a 413, however deep', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: { ...asAdmin, 'content-type': 'application/json' }, payload: arrays(BODY_LIMIT_BYTES) })
    expect(response.statusCode).toBe(413)
    expect(response.json()).toMatchObject({ type: problemType('payload-too-large') })
  })

  it('still parses bodies at the depth limit and refuses prototype-poisoning keys', async () => {
    const nested = await t.app.inject({ method: 'POST', url: '/api/integrators', headers: { ...asAdmin, 'content-type': 'application/json' }, payload: { name: 'Depth', extra: JSON.parse(arrays(MAX_JSON_DEPTH - 1)) } })
    expect(nested.statusCode).toBe(400)
    expect(nested.json().errors).toEqual([{ path: '/extra', message: 'is not a known property' }])
    const poisoned = await t.app.inject({ method: 'POST', url: '/api/integrators', headers: { ...asAdmin, 'content-type': 'application/json' }, payload: '{"name":"x","__proto__":{"admin":true}}' })
    expect(poisoned.statusCode).toBe(400)
  })
})
