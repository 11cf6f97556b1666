import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Webhook } from 'standardwebhooks'
import type { App, BuildAppOptions } from '../../../src/app.js'
import { RETRY_DELAYS_MS, nextStep } from '../../../src/features/webhooks/dispatcher.js'
import { isPublicAddress } from '../../../src/features/webhooks/network-guard.js'
import { createSender, generateWebhookSecret } from '../../../src/features/webhooks/sender.js'
import { createTestApp, type TestApp } from '../../support/app.js'
import { startReceiver, type Receiver } from '../../support/receiver.js'
import { waitUntil } from '../../support/wait.js'

let t: TestApp
let receiver: Receiver
beforeAll(async () => {
  t = await createTestApp()
  receiver = await startReceiver()
})
afterAll(async () => {
  await t.close()
  await receiver.close()
})
afterEach(() => { receiver.reset() })

/** Another app on this file's database; with a dispatcher only while a test needs one. */
async function appWith ({ allowPrivate, webhookDispatcher }: Pick<BuildAppOptions, 'webhookDispatcher'> & { allowPrivate: boolean }): Promise<App> {
  return await t.newApp({ config: { webhookAllowPrivateNetworks: allowPrivate }, webhookDispatcher })
}

async function pingDelivery (app: App, url: string) {
  const endpoint = await app.inject({ method: 'POST', url: '/api/webhook-endpoints', headers: t.asIntegrator, payload: { url, events: ['booking.created'] } })
  expect(endpoint.statusCode).toBe(201)
  const ping = await app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.json().id}/ping`, headers: t.asIntegrator })
  expect(ping.statusCode).toBe(202)
  return { endpointId: endpoint.json().id as string, deliveryId: ping.json().id as string }
}

interface DeliveryRow { attempts: number, status: string, lastAttemptAt: Date | null, nextAttemptAt: Date | null, lastError: string | null, lastResponseStatus: number | null }

async function deliveryAfterAttempts (deliveryId: string, attempts: number): Promise<DeliveryRow> {
  let row: DeliveryRow | undefined
  await waitUntil(async () => {
    [row] = await t.sql<DeliveryRow[]>`
      select attempts, status, last_attempt_at, next_attempt_at, last_error, last_response_status from webhook_deliveries where id = ${deliveryId}
    `
    return row !== undefined && row.attempts >= attempts
  }, `delivery ${deliveryId} has had ${attempts} attempts`, { timeoutMs: 5_000 })
  if (row === undefined) throw new Error(`delivery ${deliveryId} not found`)
  return row
}

describe('the retry schedule', () => {
  it('is about 5 s, 1 min, 10 min, 1 h, then every 6 h for 3 days', () => {
    expect(RETRY_DELAYS_MS.slice(0, 4)).toEqual([5_000, 60_000, 600_000, 3_600_000])
    const later = RETRY_DELAYS_MS.slice(4)
    expect(new Set(later)).toEqual(new Set([6 * 3_600_000]))
    expect(later.reduce((sum, delay) => sum + delay, 0)).toBe(72 * 3_600_000)
    const failure = { ok: false, status: 500, error: 'The endpoint answered 500.' }
    expect(nextStep(failure, 0, RETRY_DELAYS_MS)).toEqual({ status: 'pending', delayMs: 5_000 })
    expect(nextStep(failure, RETRY_DELAYS_MS.length - 1, RETRY_DELAYS_MS)).toEqual({ status: 'pending', delayMs: 6 * 3_600_000 })
    expect(nextStep(failure, RETRY_DELAYS_MS.length, RETRY_DELAYS_MS)).toEqual({ status: 'failed' })
    expect(nextStep({ ok: true, status: 200, error: null }, 3, RETRY_DELAYS_MS)).toEqual({ status: 'succeeded' })
  })

  it('schedules the first retry 5 s after a failed attempt, as the database stores it', async () => {
    const app = await appWith({ allowPrivate: true, webhookDispatcher: { pollIntervalMs: 50 } })
    try {
      receiver.respond(() => 500)
      const { deliveryId } = await pingDelivery(app, receiver.url)
      const row = await deliveryAfterAttempts(deliveryId, 1)
      expect(row.status).toBe('pending')
      expect(row.lastResponseStatus).toBe(500)
      expect(row.lastError).toBe('The endpoint answered 500.')
      const wait = (row.nextAttemptAt?.getTime() ?? 0) - (row.lastAttemptAt?.getTime() ?? 0)
      expect(wait).toBeGreaterThanOrEqual(5_000)
      expect(wait).toBeLessThan(6_000)
      expect(receiver.received).toHaveLength(1)
    } finally {
      await app.close()
    }
  })
})

describe('the SSRF guard', () => {
  it('tells public addresses from loopback, private, link-local and other special ones', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) expect(isPublicAddress(address), address).toBe(true)
    const special = ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1', '224.0.0.1', '255.255.255.255']
    for (const address of special) expect(isPublicAddress(address), address).toBe(false)
  })

  it('refuses to send to loopback addresses, by literal or by name, unless private networks are allowed', async () => {
    const port = new URL(receiver.url).port
    const guarded = createSender({ allowPrivateNetworks: false, timeoutMs: 2_000 })
    const open = createSender({ allowPrivateNetworks: true, timeoutMs: 2_000 })
    try {
      const delivery = { eventId: 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f', body: '{}', secrets: [generateWebhookSecret()] }
      for (const url of [`http://127.0.0.1:${port}/hooks`, `http://localhost:${port}/hooks`, `http://[::ffff:127.0.0.1]:${port}/hooks`, `http://127.1:${port}/hooks`]) {
        const result = await guarded.send({ ...delivery, url })
        expect(result, url).toMatchObject({ ok: false, status: null })
        expect(result.error, url).toMatch(/^Refused: .* is not a public address\.$/)
      }
      expect(receiver.received).toHaveLength(0)
      const allowed = await open.send({ ...delivery, url: `http://localhost:${port}/hooks` })
      expect(allowed).toEqual({ ok: true, status: 200, error: null })
      expect(receiver.received).toHaveLength(1)
    } finally {
      await guarded.close()
      await open.close()
    }
  })

  it('checks the address again at delivery time: an endpoint saved while allowed is refused once the flag is off', async () => {
    const permissive = await appWith({ allowPrivate: true })
    const { deliveryId } = await pingDelivery(permissive, receiver.url)
    await permissive.close()
    const strict = await appWith({ allowPrivate: false, webhookDispatcher: { pollIntervalMs: 50 } })
    try {
      const row = await deliveryAfterAttempts(deliveryId, 1)
      expect(row).toMatchObject({ status: 'pending', lastResponseStatus: null })
      expect(row.lastError).toMatch(/^Refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, which is not a public address\.$/)
      expect(receiver.received).toHaveLength(0)
      const saved = await strict.inject({ method: 'POST', url: '/api/webhook-endpoints', headers: t.asIntegrator, payload: { url: receiver.url, events: ['booking.created'] } })
      expect(saved.statusCode).toBe(400)
      expect(saved.json().errors).toEqual([{ path: '/url', message: 'must point at a public address; 127.0.0.1 is not one' }])
      const named = await strict.inject({ method: 'POST', url: '/api/webhook-endpoints', headers: t.asIntegrator, payload: { url: 'http://localhost:8080/hooks', events: ['booking.created'] } })
      expect(named.statusCode).toBe(400)
      const endpoints = await strict.inject({ method: 'GET', url: '/api/webhook-endpoints', headers: t.asIntegrator })
      const moved = await strict.inject({
        method: 'PATCH', url: `/api/webhook-endpoints/${endpoints.json().data[0].id}`, headers: t.asIntegrator, payload: { url: 'http://[::1]:8080/hooks' }
      })
      expect(moved.statusCode).toBe(400)
      expect(moved.json().errors).toEqual([{ path: '/url', message: 'must point at a public address; ::1 is not one' }])
    } finally {
      await strict.close()
    }
  })
})

describe('sending', () => {
  let target: Server
  /** The paths the target was asked for, in order. */
  const hits: string[] = []
  beforeAll(async () => {
    target = createServer((request, response) => {
      hits.push(request.url ?? '')
      if (request.url === '/redirect') response.writeHead(307, { location: receiver.url }).end()
      // Slower than the sender's timeout below.
      else if (request.url === '/slow') setTimeout(() => response.writeHead(200).end(), 1_500)
      else response.writeHead(200).end()
    })
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  })
  afterAll(async () => { await new Promise((resolve) => target.close(resolve)) })
  afterEach(() => { hits.length = 0 })
  const base = () => `http://127.0.0.1:${(target.address() as AddressInfo).port}`

  it('does not follow redirects: a 3xx is a failed attempt', async () => {
    const sender = createSender({ allowPrivateNetworks: true })
    try {
      const result = await sender.send({ url: `${base()}/redirect`, eventId: 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f', body: '{}', secrets: [generateWebhookSecret()] })
      expect(result).toEqual({ ok: false, status: 307, error: 'The endpoint answered 307.' })
      // One request, not followed to the Location and not repeated.
      expect(hits).toEqual(['/redirect'])
      expect(receiver.received).toHaveLength(0)
    } finally {
      await sender.close()
    }
  })

  it('gives up on an attempt that takes longer than the timeout', async () => {
    const sender = createSender({ allowPrivateNetworks: true, timeoutMs: 300 })
    try {
      const started = Date.now()
      const result = await sender.send({ url: `${base()}/slow`, eventId: 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f', body: '{}', secrets: [generateWebhookSecret()] })
      expect(result).toEqual({ ok: false, status: null, error: 'No complete response within 0.3 s.' })
      expect(Date.now() - started).toBeLessThan(1_400)
      expect(hits).toEqual(['/slow'])
    } finally {
      await sender.close()
    }
  })

  it('signs so that the Standard Webhooks library verifies, with every secret given', async () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()]
    const sender = createSender({ allowPrivateNetworks: true })
    try {
      const body = JSON.stringify({ id: 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f', type: 'webhook.ping', data: {} })
      const result = await sender.send({ url: receiver.url, eventId: 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f', body, secrets: [current, previous] })
      expect(result.ok).toBe(true)
      const [received] = receiver.received
      const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, String(received?.headers[name])]))
      expect(new Webhook(current).verify(received?.body ?? '', headers)).toEqual(JSON.parse(body))
      expect(new Webhook(previous).verify(received?.body ?? '', headers)).toEqual(JSON.parse(body))
      expect(() => new Webhook(generateWebhookSecret()).verify(received?.body ?? '', headers)).toThrow()
    } finally {
      await sender.close()
    }
  })
})
