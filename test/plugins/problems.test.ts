import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import type { Sql } from '../../src/db/sql.js'
import { BODY_LIMIT_BYTES } from '../../src/limits.js'
import { asAdmin, createTestApp, readyApp, type TestApp } from '../support/app.js'
import { createEvent, problemType } from '../support/fixtures.js'

const validEvent = {
  name: 'Problem Test Night',
  venue: 'Hall 1',
  startsAt: '2027-03-01T20:00:00Z',
  currency: 'EUR'
}

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

function expectProblem (response: { headers: Record<string, unknown>, json: () => unknown }, status: number, slug: string) {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = response.json() as Record<string, unknown>
  expect(body).toMatchObject({ type: problemType(slug), status })
  expect(typeof body.title).toBe('string')
  return body
}

describe('problem details for framework errors', () => {
  it('answers an unknown route with a 404 problem', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/nothing-here?x=1' })
    expect(response.statusCode).toBe(404)
    const body = expectProblem(response, 404, 'not-found')
    // The published type itself: the other tests build types from PROBLEM_TYPE_PREFIX.
    expect(body.type).toBe('urn:ticket-booking:problem:not-found')
    expect(body.instance).toBe('/api/nothing-here')
    expect(body.detail).toContain('GET /api/nothing-here')
  })

  it('answers a wrong method on a known path with 405 and Allow', async () => {
    const response = await t.app.inject({ method: 'DELETE', url: '/api/events/6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70' })
    expect(response.statusCode).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD, PATCH')
    expectProblem(response, 405, 'method-not-allowed')
  })

  it.each([
    ['a non-JSON body', 'text/plain', 'name=x', 415, 'unsupported-media-type', undefined],
    ['a body over the limit', 'application/json', JSON.stringify({ ...validEvent, description: 'x'.repeat(BODY_LIMIT_BYTES) }), 413, 'payload-too-large', undefined],
    ['malformed JSON, listing the error', 'application/json', '{"name": ', 400, 'validation-error', [{ path: '', message: expect.any(String) }]],
    ['an empty JSON body', 'application/json', '', 400, 'validation-error', undefined],
    ['prototype-poisoning keys in JSON', 'application/json', '{"name":"x","venue":"y","startsAt":"2027-03-01T20:00:00Z","currency":"EUR","__proto__":{"admin":true}}', 400, 'validation-error', undefined]
  ])('answers %s with a %i problem', async (_what, contentType, payload, status, slug, errors) => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: { ...asAdmin, 'content-type': contentType }, payload })
    expect(response.statusCode).toBe(status)
    const body = expectProblem(response, status, slug)
    if (errors !== undefined) expect(body.errors).toEqual(errors)
  })

  it('answers a URL that cannot be decoded with a 400 problem', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/events/%E0%A4%A', headers: { 'x-request-id': 'bad-url' } })
    expect(response.statusCode).toBe(400)
    expectProblem(response, 400, 'validation-error')
    expect(response.headers['x-request-id']).toBe('bad-url')
  })

  it('answers an overlong path parameter with a 400 problem', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/events/${'a'.repeat(150)}` })
    expect(response.statusCode).toBe(400)
    expectProblem(response, 400, 'validation-error')
  })

  it('refuses the NUL character, which PostgreSQL text cannot hold, naming where it is', async () => {
    const body = await t.app.inject({ method: 'POST', url: '/api/events', headers: asAdmin, payload: { ...validEvent, venue: 'Hall\u00001' } })
    expect(body.statusCode).toBe(400)
    expect(body.json().errors).toEqual([{ path: '/venue', message: 'must not contain the NUL character (U+0000)' }])
    const query = await t.app.inject({ method: 'GET', url: '/api/events?cursor=%00' })
    expect(query.statusCode).toBe(400)
    expect(query.json().errors[0].path).toBe('/cursor')
  })

  it('rejects unknown body properties with their JSON pointer', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: asAdmin, payload: { ...validEvent, nmae: 'typo' } })
    expect(response.statusCode).toBe(400)
    const body = expectProblem(response, 400, 'validation-error')
    expect(body.errors).toEqual([{ path: '/nmae', message: 'is not a known property' }])
    expect(body.detail).toContain('request body')
  })

  it('rejects unknown query parameters on operations that take none', async () => {
    for (const url of ['/api/health?verbose=1', '/api/events/6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70?expand=tiers']) {
      const response = await t.app.inject({ method: 'GET', url })
      expect(response.statusCode, url).toBe(400)
      expect(response.json().detail).toContain('query string')
    }
  })

  it('names a missing required property by its path', async () => {
    const { venue: _venue, ...withoutVenue } = validEvent
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: asAdmin, payload: withoutVenue })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '/venue', message: 'is required' }])
  })

  it('does not coerce JSON types in bodies', async () => {
    const event = await createEvent(t.app)
    const response = await t.app.inject({
      method: 'POST', url: `/api/events/${event.id}/ticket-tiers`, headers: asAdmin, payload: { name: 'GA', price: '100', capacity: 10 }
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '/price', message: 'must be integer' }])
  })

  it('reports a wrong type on a nullable field once', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: asAdmin, payload: { ...validEvent, description: 5 } })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '/description', message: 'must be string or null' }])
  })
})

describe('unexpected failures', () => {
  let app: App
  beforeAll(async () => {
    app = await t.newApp({
      extend: (failing, sql) => {
        failing.get('/api/test/throws', async () => { throw new Error('secret internal detail: select * from users') })
        failing.get('/api/test/bad-sql', async () => await sql`select * from table_that_does_not_exist`)
      }
    })
  })

  it('hides the message of an unexpected error behind a 500 problem', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/test/throws' })
    expect(response.statusCode).toBe(500)
    const body = expectProblem(response, 500, 'internal-error')
    expect(response.body).not.toContain('secret')
    expect(body).not.toHaveProperty('stack')
  })

  it('never shows SQL or driver messages', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/test/bad-sql' })
    expect(response.statusCode).toBe(500)
    expectProblem(response, 500, 'internal-error')
    expect(response.body).not.toMatch(/table_that_does_not_exist|relation|select/i)
  })
})

describe('an unreachable database', () => {
  let app: App
  let deadSql: Sql
  beforeAll(async () => {
    deadSql = postgres('postgres://nobody@127.0.0.1:1/none', { max: 1, connect_timeout: 2 }) as unknown as Sql
    app = await readyApp(deadSql)
  })
  afterAll(async () => {
    await app.close()
    await deadSql.end()
  })

  it('answers reads with a 503 problem and Retry-After', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/events' })
    expect(response.statusCode).toBe(503)
    expectProblem(response, 503, 'service-unavailable')
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0)
    expect(response.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/)
  })

  it('reports the outage on the health check', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/health' })
    expect(response.statusCode).toBe(503)
    expectProblem(response, 503, 'service-unavailable')
  })
})
