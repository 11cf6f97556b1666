import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestApp, type TestApp } from '../../support/app.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

describe('GET /api/health', () => {
  it('reports the service and database as ok', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/health' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok', database: 'ok' })
  })

  it('needs no authentication', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/health', headers: { authorization: 'Bearer whatever' } })
    expect(response.statusCode).toBe(200)
  })
})
