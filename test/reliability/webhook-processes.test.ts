import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Webhook } from 'standardwebhooks'
import type { App } from '../../src/app.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { readyApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { createEventWithTier } from '../support/fixtures.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../support/process.js'
import { startReceiver, type Receiver } from '../support/receiver.js'
import { waitUntil } from '../support/wait.js'

let db: TestDatabase
let app: App
let receiver: Receiver
let headers: Record<string, string>
let secret: string
let eventId: string
let tierId: string
const servers: ServerProcess[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  receiver = await startReceiver()
  // An app without a dispatcher, to set up and to make bookings while no server runs.
  app = await readyApp(db.sql, { config: { webhookAllowPrivateNetworks: true } })
  headers = { authorization: `Bearer ${(await createIntegratorsRepository(db.sql).createWithKey('Processes')).key.key}` }
  const event = await createEventWithTier(app, { price: 100, capacity: 100_000 })
  eventId = event.eventId
  tierId = event.tierId
  const endpoint = await app.inject({
    method: 'POST',
    url: '/api/webhook-endpoints',
    headers,
    payload: { url: receiver.url, events: ['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired'] }
  })
  secret = endpoint.json().secret
})
afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
    await server.exited
  }
  receiver.reset()
})
afterAll(async () => {
  await app.close()
  await receiver.close()
  await db.drop()
})

async function start (): Promise<{ server: ServerProcess, base: string }> {
  const server = spawnServer(loadServerEnv(db.url, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }))
  servers.push(server)
  const base = await listeningAt(server)
  return { server, base }
}

async function book (base?: string, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
  const payload = { eventId, items: [{ ticketTierId: tierId, quantity: 1 }], ...extra }
  if (base === undefined) {
    const response = await app.inject({ method: 'POST', url: '/api/bookings', headers, payload })
    expect(response.statusCode).toBe(201)
    return response.json()
  }
  const response = await fetch(`${base}/api/bookings`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(payload) })
  expect(response.status).toBe(201)
  return await response.json() as { id: string }
}

function succeededIds (): Set<string> {
  return new Set(receiver.received.filter((each) => each.status < 300).map((each) => String(each.headers['webhook-id'])))
}

async function undelivered (): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from webhook_deliveries where status <> 'succeeded'`
  return row?.n ?? -1
}

/** Waits for the servers to record the attempts the receiver has answered. */
async function allRecorded (): Promise<void> {
  await waitUntil(async () => await undelivered() === 0, 'every delivery is recorded as succeeded')
}

describe('webhook delivery across server processes', () => {
  it('delivers each of 200 events exactly once with two server processes sharing the work', async () => {
    // A receiver that takes a little while, so attempts overlap and both processes work at once.
    receiver.respond(async () => { await new Promise((resolve) => setTimeout(resolve, 5)); return 200 })
    const [a, b] = await Promise.all([start(), start()])
    const bases = [a.base, b.base]
    const booked: string[] = []
    await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
      for (let n = 0; n < 25; n++) booked.push((await book(bases[(worker + n) % 2])).id)
    }))
    expect(booked).toHaveLength(200)

    await receiver.waitFor(() => succeededIds().size >= 200, 30_000)
    // Stopped, each server first finishes the attempts it has in flight: after that no duplicate can come.
    for (const { server } of [a, b]) server.child.kill('SIGTERM')
    expect(await Promise.all([a.server.exited, b.server.exited])).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }])
    expect(receiver.received).toHaveLength(200)
    expect(succeededIds().size).toBe(200)
    const bookingIds = new Set(receiver.received.map((each) => (new Webhook(secret).verify(each.body, {
      'webhook-id': String(each.headers['webhook-id']),
      'webhook-timestamp': String(each.headers['webhook-timestamp']),
      'webhook-signature': String(each.headers['webhook-signature'])
    }) as { data: { booking: { id: string } } }).data.booking.id))
    expect(bookingIds).toEqual(new Set(booked))
    expect(await undelivered()).toBe(0)
    const [attempts] = await db.sql<{ max: number }[]>`select max(attempts)::int as max from webhook_deliveries`
    expect(attempts?.max).toBe(1)
  })

  it('delivers after a restart what a killed server left pending, and what was queued while none ran', async () => {
    receiver.respond(() => 500)
    const { server, base } = await start()
    const before = await Promise.all(Array.from({ length: 5 }, async () => (await book(base)).id))
    await receiver.waitFor((received) => received.length >= 5)
    // Killed once the failed attempts are recorded, so they are pending retries, not attempts in flight (those wait out their lease).
    await waitUntil(async () => {
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from webhook_deliveries where status = 'pending' and attempts = 1 and leased_until is null`
      return row?.n === 5
    }, 'the five failed attempts are recorded')
    server.child.kill('SIGKILL')
    await server.exited

    // Queued while no server runs: nobody attempts them yet.
    const during = await Promise.all(Array.from({ length: 5 }, async () => (await book()).id))
    expect(await undelivered()).toBe(10)

    receiver.respond(() => 200)
    await start()
    await receiver.waitFor(() => succeededIds().size >= 10, 30_000)
    const delivered = receiver.received.filter((each) => each.status === 200).map((each) => JSON.parse(each.body).data.booking.id as string)
    expect(new Set(delivered)).toEqual(new Set([...before, ...during]))
    // The ones that failed before the kill were retried with the same webhook-id.
    const failedIds = new Set(receiver.received.filter((each) => each.status === 500).map((each) => String(each.headers['webhook-id'])))
    expect(failedIds.size).toBe(5)
    for (const id of failedIds) expect(succeededIds().has(id)).toBe(true)
    await allRecorded()
    expect(await undelivered()).toBe(0)
  })

  it('finishes the attempts in flight before it exits on SIGTERM', async () => {
    // A slow receiver: the attempt is still in flight when SIGTERM comes.
    receiver.respond(async () => { await new Promise((resolve) => setTimeout(resolve, 1_500)); return 200 })
    const { server, base } = await start()
    const booking = await book(base)
    await receiver.waitFor(() => receiver.arrived() >= 1)
    server.child.kill('SIGTERM')
    expect(await server.exited).toEqual({ code: 0, signal: null })
    expect(receiver.received.map((each) => JSON.parse(each.body).data.booking.id)).toEqual([booking.id])
    // The attempt was recorded before the pool closed: nothing is left to send again.
    expect(await undelivered()).toBe(0)
  })

  it('sends booking.expired from the running server\'s own sweep, well within 30 s of expiresAt', async () => {
    const { base } = await start()
    const hold = await book(base, { hold: { ttlSeconds: 60 } })
    await receiver.waitFor((received) => received.length >= 1)
    const [lapsed] = await db.sql<{ at: Date }[]>`
      update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${hold.id} returning expires_at as at
    `
    await db.sql`update booking_items set hold_expires_at = ${lapsed?.at ?? null} where booking_id = ${hold.id}`
    const received = await receiver.waitFor((all) => all.some((each) => JSON.parse(each.body).type === 'booking.expired'), 30_000)
    const expired = received.find((each) => JSON.parse(each.body).type === 'booking.expired')
    expect(JSON.parse(expired?.body ?? '{}').data.booking).toMatchObject({ id: hold.id, status: 'expired' })
    expect(Date.now() - (lapsed?.at.getTime() ?? 0)).toBeLessThan(30_000)
  })
})
