import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { asAdmin, createTestApp, type TestApp } from '../support/app.js'
import { createEventWithTier } from '../support/fixtures.js'
import { lintMetrics, startPrometheus, type Prometheus } from '../support/prometheus.js'
import { startReceiver, type Receiver } from '../support/receiver.js'
import { waitUntil } from '../support/wait.js'

/*
 * GET /metrics as Prometheus scrapes it: a real Prometheus server scrapes the app every second with
 * an admin key, and the figures are read back with PromQL after real bookings, scans, webhook
 * deliveries and hold sweeps; promtool lints the exposition.
 */

let t: TestApp
let base: string
let receiver: Receiver
let prometheus: Prometheus

async function listen (app: App): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** The exposition as a scraper gets it. */
async function scrape (url = base, headers: Record<string, string> = asAdmin): Promise<string> {
  const response = await fetch(`${url}/metrics`, { headers })
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  return await response.text()
}

/** Resolves once Prometheus, scraping each second, has `promql` at `expected`. */
async function scraped (promql: string, expected: number): Promise<void> {
  let last: number | undefined
  await waitUntil(async () => (last = await prometheus.valueOf(promql)) === expected, `prometheus has ${promql} = ${expected} (last: ${last})`, { timeoutMs: 20_000 })
}

beforeAll(async () => {
  receiver = await startReceiver()
  t = await createTestApp({ webhookDispatcher: { pollIntervalMs: 50 } })
  base = await listen(t.app)
  prometheus = await startPrometheus(new URL(base).host, { bearer: asAdmin.authorization.replace('Bearer ', '') })
}, 30_000)
afterAll(async () => {
  await prometheus?.stop()
  await t.close()
  await receiver.close()
})

describe('GET /metrics', () => {
  it('needs an admin key: none, an integrator key or a wrong key is a 401 problem', async () => {
    for (const headers of [{}, t.asIntegrator, { authorization: 'Bearer not-a-key-0123456789abcdef' }]) {
      const response = await fetch(`${base}/metrics`, { headers })
      expect(response.status).toBe(401)
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    }
  })

  it('is neither under /api nor in the OpenAPI document', async () => {
    expect((await fetch(`${base}/api/metrics`, { headers: asAdmin })).status).toBe(404)
    const document = await (await fetch(`${base}/docs/json`)).json() as { paths: Record<string, unknown> }
    expect(Object.keys(document.paths).filter((path) => path.includes('metrics'))).toEqual([])
  })

  it('counts requests by route template, bookings by outcome, batches, scans and deliveries, with bounded labels', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 3, maxPerBooking: 2 })
    const endpoint = await t.app.inject({ method: 'POST', url: '/api/webhook-endpoints', headers: t.asIntegrator, payload: { url: receiver.url, events: ['booking.created'] } })
    expect(endpoint.statusCode).toBe(201)
    const book = async (quantity: number, key = randomUUID()) => await t.app.inject({
      method: 'POST', url: '/api/bookings', headers: { ...t.asIntegrator, 'idempotency-key': key }, payload: { eventId, items: [{ ticketTierId: tierId, quantity }] }
    })
    const key = randomUUID()
    const first = await book(1, key)
    expect(first.statusCode).toBe(201)
    expect((await book(1)).statusCode).toBe(201)
    expect((await book(1, key)).statusCode).toBe(200)
    expect((await book(2)).statusCode).toBe(409)
    expect((await book(3)).statusCode).toBe(400)
    const bookingId = first.json<{ id: string }>().id
    for (let i = 0; i < 2; i++) expect((await fetch(`${base}/api/bookings/${bookingId}`, { headers: t.asIntegrator })).status).toBe(200)
    expect((await fetch(`${base}/api/no-such-thing/${bookingId}`)).status).toBe(404)

    // Scans: one admitted, the same ticket again (refused: already in), a forged code (rejected).
    const list = await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/check-in-lists`, headers: asAdmin, payload: { name: 'Doors' } })
    const scanner = await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/scanner-keys`, headers: asAdmin, payload: { name: 'Gate' } })
    const tickets = await t.app.inject({ method: 'GET', url: `/api/bookings/${bookingId}/tickets`, headers: t.asIntegrator })
    const code = tickets.json<{ data: Array<{ code: string }> }>().data[0]?.code ?? ''
    const scan = async (scanned: string) => await t.app.inject({
      method: 'POST', url: '/api/check-ins', headers: { authorization: `Bearer ${scanner.json<{ key: string }>().key}` }, payload: { code: scanned, checkInListId: list.json<{ id: string }>().id, nonce: randomUUID() }
    })
    expect((await scan(code)).statusCode).toBe(201)
    expect((await scan(code)).statusCode).toBe(409)
    expect((await scan(`${code.slice(0, -4)}AAAA`)).statusCode).toBe(404)

    await receiver.waitFor((received) => received.length >= 2)
    const expected: Array<[string, number]> = [
      ['webhook_delivery_attempts_total{result="succeeded"}', 2],
      ['bookings_total{outcome="created"}', 2],
      ['bookings_total{outcome="replayed"}', 1],
      ['bookings_total{outcome="insufficient"}', 1],
      ['bookings_total{outcome="rejected"}', 1],
      ['bookings_total{outcome="unavailable"}', 0],
      ['group_commit_batch_size_count{kind="bookings"}', 5],
      ['group_commit_batch_size_count{kind="scans"}', 3],
      ['check_ins_total{result="admitted",mode="online"}', 1],
      ['sum(check_ins_total{result=~"conflict|rejected",mode="online"})', 2],
      ['webhook_delivery_attempt_duration_seconds_count', 2],
      ['webhook_delivery_latency_seconds_count', 2],
      ['webhook_deliveries_pending', 0],
      ['db_pool_max_connections{pool="main"}', 20],
      ['db_pool_waiting{pool="main"}', 0],
      ['http_request_duration_seconds_count{method="GET",route="/api/bookings/:bookingId",status_code="200"}', 2],
      ['up', 1]
    ]
    for (const [promql, value] of expected) await scraped(promql, value)
    // Requests inject()ed into the app are measured as those over the network.
    expect(await prometheus.valueOf('http_request_duration_seconds_count{method="POST",route="/api/bookings",status_code="201"}')).toBe(2)
    // No route matched: this test's request, and the earlier one's to /api/metrics.
    expect(await prometheus.valueOf('http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"}')).toBeGreaterThanOrEqual(1)
    expect(await prometheus.valueOf('process_resident_memory_bytes')).toBeGreaterThan(0)
    expect(await prometheus.valueOf('nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0)

    // Route labels are templates: never an id, never a raw path.
    const routes = new Set((await prometheus.query('http_request_duration_seconds_count')).map((series) => series.metric.route))
    expect(routes.size).toBeGreaterThan(3)
    expect([...routes].filter((route) => route === undefined || (route !== 'unmatched' && !route.startsWith('/')) || /[0-9a-f]{8}-[0-9a-f]{4}/.test(route))).toEqual([])
    // promtool parses the whole exposition; its only complaints are of prom-client's default gauges' names.
    const complaints = (await lintMetrics(await scrape())).split('\n').filter((line) => line !== '')
    expect(complaints.filter((line) => !/^nodejs_active_(handles|requests|resources)_total non-counter/.test(line))).toEqual([])
  })

  it('counts hold sweeps and the holds they expire', async () => {
    const sweeping = await t.newApp({ holdSweepIntervalMs: 50 })
    const url = await listen(sweeping)
    const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 5 })
    const hold = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId: tierId, quantity: 2 }], hold: { ttlSeconds: 60 } } })
    expect(hold.statusCode).toBe(201)
    await t.sql`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${hold.json<{ id: string }>().id}`
    await waitUntil(async () => (await scrape(url)).includes('\nholds_expired_total 1\n'), 'the sweep counts the hold it expired')
    expect(await scrape(url)).toMatch(/\nhold_sweeps_total\{result="completed"\} [1-9]/)
    await sweeping.close()
  })

  it('needs no key with METRICS_PUBLIC=true', async () => {
    const open = await t.newApp({ config: { metricsPublic: true } })
    const url = await listen(open)
    expect(await scrape(url, {})).toContain('# TYPE http_request_duration_seconds histogram')
    await open.close()
  })
})
