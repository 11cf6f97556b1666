import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../../src/app.js'
import type { Integrator } from '../../../src/schemas/integrators.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTier, problemType } from '../../support/fixtures.js'

/*
 * An integrator's own rate limits: set and cleared by an operator with PATCH, refused when
 * incomplete or out of range, and applied to each of its keys from the next request on, on
 * another app with a pool of its own (as another process would), for requests and bookings alike.
 */

let t: TestApp
let other: App
beforeAll(async () => {
  t = await createTestApp()
  other = await t.newApp({ pool: { max: 4 }, config: { rateLimitRequestsPerMinute: 1000, rateLimitBookingsPerMinute: 500 } })
})
afterAll(async () => { await t.close() })

async function patch (id: string, payload: unknown, headers: Record<string, string> = asAdmin) {
  return await t.app.inject({ method: 'PATCH', url: `/api/integrators/${id}`, headers, payload: payload as object })
}

describe('PATCH /api/integrators/{integratorId}', () => {
  it('sets, shows and clears an integrator\'s own limits, and renames it', async () => {
    const { id } = await t.newIntegrator('Reseller')
    expect((await t.app.inject({ method: 'GET', url: `/api/integrators/${id}`, headers: asAdmin })).json<Integrator>().rateLimits).toBeNull()
    const set = await patch(id, { rateLimits: { requestsPerMinute: 120000, bookingsPerMinute: 60000 } })
    expect(set.statusCode, set.body).toBe(200)
    expect(set.json<Integrator>()).toMatchObject({ id, name: 'Reseller', rateLimits: { requestsPerMinute: 120000, bookingsPerMinute: 60000 } })
    const renamed = await patch(id, { name: 'Reseller GmbH' })
    expect(renamed.json<Integrator>()).toMatchObject({ name: 'Reseller GmbH', rateLimits: { requestsPerMinute: 120000, bookingsPerMinute: 60000 } })
    const cleared = await patch(id, { rateLimits: null })
    expect(cleared.json<Integrator>()).toMatchObject({ name: 'Reseller GmbH', rateLimits: null })
    const listed = await t.app.inject({ method: 'GET', url: '/api/integrators?limit=100', headers: asAdmin })
    expect(listed.json<{ data: Integrator[] }>().data.find((integrator) => integrator.id === id)?.rateLimits).toBeNull()
  })

  it('refuses incomplete or out-of-range limits and empty bodies with a 400, unknown integrators with a 404, and non-admins with a 401', async () => {
    const { id, headers } = await t.newIntegrator('Careless')
    for (const bad of [
      {}, { rateLimits: {} }, { rateLimits: { requestsPerMinute: 10 } }, { rateLimits: { requestsPerMinute: 0, bookingsPerMinute: 1 } },
      { rateLimits: { requestsPerMinute: 1_000_001, bookingsPerMinute: 1 } }, { rateLimits: { requestsPerMinute: 1.5, bookingsPerMinute: 1 } },
      { rateLimits: { requestsPerMinute: 1, bookingsPerMinute: 1, burst: 5 } }, { name: '' }, { typo: 1 }
    ]) {
      const response = await patch(id, bad)
      expect(response.statusCode, JSON.stringify(bad)).toBe(400)
      expect(response.json<{ type: string }>().type).toBe(problemType('validation-error'))
    }
    expect((await patch('5a2c6a7e-9f3b-4d1e-8c2a-1b3c4d5e6f70', { name: 'Nobody' })).statusCode).toBe(404)
    expect((await patch(id, { name: 'Self-service' }, headers)).statusCode).toBe(401)
  })

  it('applies to each of the integrator\'s keys from the next request on, on another app, and null restores the defaults', async () => {
    const reseller = await t.newIntegrator('Limited reseller')
    const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 100, maxPerBooking: 1 })
    const list = async () => await other.inject({ method: 'GET', url: '/api/bookings?limit=1', headers: reseller.headers })
    const book = async () => await other.inject({ method: 'POST', url: '/api/bookings', headers: reseller.headers, payload: { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] } })

    expect((await list()).headers['ratelimit-limit']).toBe('1000')
    expect((await patch(reseller.id, { rateLimits: { requestsPerMinute: 4, bookingsPerMinute: 2 } })).statusCode).toBe(200)
    const first = await list()
    expect(first.headers['ratelimit-limit']).toBe('4')
    // The request before the change counted too: 1 + 3 more fill the budget.
    const statuses = [first.statusCode]
    for (let n = 0; n < 4; n++) statuses.push((await list()).statusCode)
    expect(statuses).toEqual([200, 200, 200, 429, 429])

    // Bookings are counted apart, at their own limit.
    const booked = [(await book()).statusCode, (await book()).statusCode, (await book()).statusCode]
    expect(booked).toEqual([201, 201, 429])
    const refused = await book()
    expect(refused.json<{ type: string }>().type).toBe(problemType('rate-limited'))
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)

    expect((await patch(reseller.id, { rateLimits: null })).statusCode).toBe(200)
    const restored = await book()
    expect(restored.headers['ratelimit-limit']).toBe('500')
    expect(restored.statusCode).toBe(201)
  })
})
