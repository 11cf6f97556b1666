import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { seedDemo } from '../../src/db/seed.js'
import { ADMIN_KEY, createTestApp, type TestApp } from '../support/app.js'
import { loadDocumented } from '../support/documented.js'
import { DEMO_BOOKING as booking, problemType } from '../support/fixtures.js'

let t: TestApp
let limited: App
beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
  limited = await t.newApp({ config: { rateLimitBookingsPerMinute: 3, corsOrigins: ['https://shop.example.com'] } })
})
afterAll(async () => { await t.close() })

describe('rate limiting of booking creation', () => {
  it('answers 429 problems with Retry-After and RateLimit headers past the limit, per integrator key', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      const response = await limited.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: booking, remoteAddress: '203.0.113.7' })
      statuses.push(response.statusCode)
      expect(response.headers['ratelimit-limit']).toBe('3')
      expect(response.headers['ratelimit-remaining']).toBe(String(2 - i))
    }
    expect(statuses).toEqual([201, 201, 201])

    const over = await limited.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: booking, remoteAddress: '203.0.113.7' })
    expect(over.statusCode).toBe(429)
    expect(over.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(over.json()).toMatchObject({ type: problemType('rate-limited'), status: 429 })
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
    expect(over.headers['ratelimit-remaining']).toBe('0')

    const sameKeyElsewhere = await limited.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: booking, remoteAddress: '198.51.100.9' })
    expect(sameKeyElsewhere.statusCode).toBe(429)
    const other = await t.newIntegrator('Other')
    const otherKey = await limited.inject({ method: 'POST', url: '/api/bookings', headers: other.headers, payload: booking, remoteAddress: '203.0.113.7' })
    expect(otherKey.statusCode).toBe(201)
    const reads = await limited.inject({ method: 'GET', url: '/api/events', remoteAddress: '203.0.113.7' })
    expect(reads.statusCode).toBe(200)
  })

  it('is off when set to 0', async () => {
    for (let i = 0; i < 5; i++) {
      const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: booking, remoteAddress: '203.0.113.8' })
      expect(response.statusCode).toBe(201)
      expect(response.headers['ratelimit-limit']).toBeUndefined()
    }
  })
})

describe('the rate limit of every operation', () => {
  it('sends RateLimit headers on every 2xx and 4xx of every documented operation, and CORS headers to allowed origins', async () => {
    const everywhere = await t.newApp({ config: { rateLimitRequestsPerMinute: 1000, corsOrigins: ['https://shop.example.com'] } })
    try {
      const { operations, check } = await loadDocumented()
      for (const operation of operations) {
        const admin = operation.security?.[0]?.adminKey !== undefined
        const url = operation.template.replace(/\{[^}]+\}/g, '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70')
        for (const authorization of [undefined, admin ? `Bearer ${ADMIN_KEY}` : t.asIntegrator.authorization]) {
          const response = await everywhere.inject({
            method: operation.method as 'GET',
            url,
            headers: { origin: 'https://shop.example.com', ...(authorization === undefined ? {} : { authorization }) },
            ...(['POST', 'PATCH'].includes(operation.method) ? { payload: {} } : {})
          })
          const where = `${operation.method} ${url} (${authorization === undefined ? 'no key' : 'key'}) → ${response.statusCode}`
          expect(response.statusCode, where).toBeLessThan(500)
          expect(check(operation, response.statusCode, response.headers['content-type']?.toString(), response.body), where).toBeUndefined()
          expect(response.headers['ratelimit-limit'], where).toBe('1000')
          expect(Number(response.headers['ratelimit-remaining']), where).toBeLessThan(1000)
          expect(Number(response.headers['ratelimit-reset']), where).toBeLessThanOrEqual(60)
          expect(response.headers['access-control-allow-origin'], where).toBe('https://shop.example.com')
          expect(response.headers['x-request-id'], where).toBeTruthy()
        }
      }
    } finally {
      await everywhere.close()
    }
  })

  it('counts every request of a client, answered or refused, and answers 429 past the limit, to that client only', async () => {
    const strict = await t.newApp({ config: { rateLimitRequestsPerMinute: 3 } })
    try {
      const address = { remoteAddress: '203.0.113.20' }
      const first = await strict.inject({ method: 'GET', url: '/api/events', ...address })
      const unauthorized = await strict.inject({ method: 'POST', url: '/api/events', payload: {}, ...address })
      const notFound = await strict.inject({ method: 'GET', url: '/api/events/6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f79', ...address })
      expect([first.statusCode, unauthorized.statusCode, notFound.statusCode]).toEqual([200, 401, 404])
      expect([first, unauthorized, notFound].map((response) => response.headers['ratelimit-remaining'])).toEqual(['2', '1', '0'])

      const over = await strict.inject({ method: 'GET', url: '/api/health', ...address })
      expect(over.statusCode).toBe(429)
      expect(over.json()).toMatchObject({ type: problemType('rate-limited'), status: 429 })
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
      expect(over.headers['ratelimit-limit']).toBe('3')

      const elsewhere = await strict.inject({ method: 'GET', url: '/api/events', remoteAddress: '198.51.100.20' })
      expect(elsewhere.statusCode).toBe(200)
      // A key has a budget of its own, wherever it comes from.
      const withKey = await strict.inject({ method: 'GET', url: '/api/bookings', headers: t.asIntegrator, ...address })
      expect(withKey.statusCode).toBe(200)
    } finally {
      await strict.close()
    }
  })
})

describe('security headers', () => {
  it('sends helmet\'s default headers (no CSP) and no x-powered-by, on success and on errors', async () => {
    for (const url of ['/api/events', '/api/nothing']) {
      const response = await t.app.inject({ method: 'GET', url })
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(response.headers['x-frame-options']).toBe('SAMEORIGIN')
      expect(response.headers['strict-transport-security']).toMatch(/max-age=/)
      expect(response.headers['referrer-policy']).toBe('no-referrer')
      expect(response.headers['cross-origin-resource-policy']).toBe('same-origin')
      expect(response.headers['x-powered-by']).toBeUndefined()
    }
  })
})

describe('CORS', () => {
  it('is closed by default: no CORS headers for any origin', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/events', headers: { origin: 'https://shop.example.com' } })
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('allows exactly the configured origins, with the headers integrators need', async () => {
    const preflight = await limited.inject({
      method: 'OPTIONS',
      url: '/api/bookings',
      headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, idempotency-key' }
    })
    expect(preflight.statusCode).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('https://shop.example.com')
    expect(preflight.headers['access-control-allow-headers']).toContain('idempotency-key')

    const allowed = await limited.inject({ method: 'GET', url: '/api/events', headers: { origin: 'https://shop.example.com' } })
    expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example.com')
    expect(allowed.headers['access-control-expose-headers']).toContain('x-request-id')

    const other = await limited.inject({ method: 'GET', url: '/api/events', headers: { origin: 'https://evil.example.net' } })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
  })
})
