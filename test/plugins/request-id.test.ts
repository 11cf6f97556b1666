import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../support/app.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

describe('x-request-id', () => {
  it('echoes the request id the client sent', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/events', headers: { 'x-request-id': 'client-trace-42' } })
    expect(response.headers['x-request-id']).toBe('client-trace-42')
  })

  it('generates a UUID when none was sent, on errors too', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/unknown' })
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  })

  it('echoes a request id of up to 200 visible ASCII characters, its documented bounds, and replaces one past them', async () => {
    const longest = await t.app.inject({ method: 'GET', url: '/api/events', headers: { 'x-request-id': 'x'.repeat(200) } })
    expect(longest.headers['x-request-id']).toBe('x'.repeat(200))
    for (const unusable of ['x'.repeat(201), 'with space', 'naïve']) {
      const response = await t.app.inject({ method: 'GET', url: '/api/events', headers: { 'x-request-id': unusable } })
      expect(response.statusCode, unusable).toBe(200)
      expect(response.headers['x-request-id'], unusable).toMatch(/^[0-9a-f-]{36}$/)
    }
  })

  it('is on validation and auth failures', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', payload: {}, headers: { 'x-request-id': 'abc' } })
    expect(response.statusCode).toBe(401)
    expect(response.headers['x-request-id']).toBe('abc')
  })
})
