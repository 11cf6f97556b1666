import { randomUUID } from 'node:crypto'
import { createSql } from '../../src/db/sql.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asAdmin } from '../support/app.js'
import { createEventWithTiers, ledger, overHttp } from '../support/fixtures.js'
import { startReceiver, type Receiver } from '../support/receiver.js'
import { startReplicatedPostgres, type ReplicatedPostgres } from '../support/replicated-postgres.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../support/process.js'
import { waitUntil } from '../support/wait.js'

/*
 * The contract's failover guarantee, with real servers: a primary and a synchronous standby on
 * loopback, two service processes on a DATABASE_URL that names both, a booking load, then the
 * primary killed mid-sale and the standby promoted. Every booking answered 201 must exist on the
 * new primary; no tier is oversold or loses stock; no request is answered 500 or left unanswered
 * for 15 s (503 with Retry-After meanwhile, through an outage longer than that); bookings succeed again within 10 s of the promotion;
 * the webhook dispatcher (LISTEN) and a process started after the failover (migration lock) work
 * on the new primary.
 */

const WORKERS_PER_SERVER = 12
/** The contract: meanwhile every request is answered (a 503 at worst) within this long. */
const ANSWER_WITHIN_MS = 15_000
/** The contract: bookings succeed again this long after the promotion has completed. */
const RECOVERED_WITHIN_MS = 10_000
/**
 * How long the database has no primary: longer than the answer budget, so that a request which
 * waited for the promotion instead of being answered 503 shows.
 */
const OUTAGE_MS = ANSWER_WITHIN_MS + 2_000
/**
 * With no primary, a request is answered 503 as soon as every host has been tried: within 1-2 s
 * here (the slowest seen 1.9 s). One that starts earlier than this before the promotion and is
 * still unanswered when it begins has waited for it (as with a driver that never gives up on the
 * hosts, which kept requests until the 12 s deadline or for ever).
 */
const ANSWERED_AT_ONCE_MS = 5_000

interface Outcome {
  startedAt: number
  finishedAt: number
  status: number | 'no answer'
  bookingId?: string
  retryAfter?: string | null
  body?: string
}

let cluster: ReplicatedPostgres
const servers: ServerProcess[] = []
let receiver: Receiver

function startServer (): ServerProcess {
  const server = spawnServer(loadServerEnv(cluster.url, { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }))
  servers.push(server)
  return server
}

beforeAll(async () => {
  cluster = await startReplicatedPostgres()
  receiver = await startReceiver()
}, 120_000)

afterAll(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null) server.child.kill('SIGKILL')
  }
  await receiver?.close()
  await cluster?.stop()
})

async function book (base: string, key: string, body: object): Promise<Outcome> {
  const startedAt = Date.now()
  try {
    const response = await fetch(`${base}/api/bookings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(ANSWER_WITHIN_MS + 5_000)
    })
    const text = await response.text()
    const outcome: Outcome = { startedAt, finishedAt: Date.now(), status: response.status, retryAfter: response.headers.get('retry-after'), body: text }
    if (response.status === 201) outcome.bookingId = (JSON.parse(text) as { id: string }).id
    return outcome
  } catch {
    return { startedAt, finishedAt: Date.now(), status: 'no answer' }
  }
}

describe('a failover of the database mid-sale', () => {
  it('loses no acknowledged booking, oversells nothing, answers 503 meanwhile and books again soon after', async () => {
    const first = startServer()
    const second = startServer()
    const bases = [await listeningAt(first, 60_000), await listeningAt(second, 60_000)]
    const admin = overHttp(bases[0] ?? '')
    const { eventId, tiers } = await createEventWithTiers(admin, [{ name: 'Hot', capacity: 1_000_000 }, { name: 'Other', capacity: 1_000_000 }])
    const integrator = await admin.inject({ method: 'POST', url: '/api/integrators', headers: asAdmin, payload: { name: 'Failover reseller' } })
    const integratorId = (integrator.json() as { id: string }).id
    const keyResponse = await admin.inject({ method: 'POST', url: `/api/integrators/${integratorId}/keys`, headers: asAdmin, payload: {} })
    const key = (keyResponse.json() as { key: string }).key
    const endpoint = await fetch(`${bases[0]}/api/webhook-endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, events: ['booking.created'] })
    })
    expect(endpoint.status, await endpoint.clone().text()).toBe(201)

    // A hold made before the failover, to be swept on the new primary.
    const hold = await fetch(`${bases[0]}/api/bookings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ eventId, items: [{ ticketTierId: tiers[1]?.id, quantity: 4 }], hold: { ttlSeconds: 60 } })
    })
    expect(hold.status).toBe(201)
    const holdId = (await hold.json() as { id: string }).id

    const outcomes: Outcome[] = []
    let stopAt = Number.POSITIVE_INFINITY
    const worker = async (base: string, n: number): Promise<void> => {
      while (Date.now() < stopAt) {
        const tier = tiers[n % tiers.length]
        outcomes.push(await book(base, key, { eventId, items: [{ ticketTierId: tier?.id, quantity: 1 + (n % 3) }] }))
        if (outcomes.at(-1)?.status !== 201) await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    const load = bases.flatMap((base) => Array.from({ length: WORKERS_PER_SERVER }, async (_, n) => { await worker(base, n) }))

    await waitUntil(() => outcomes.filter((o) => o.status === 201).length >= 300, 'the load is booking', { timeoutMs: 30_000 })
    const killedAt = Date.now()
    await cluster.killPrimary()
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
    const promotionBegan = Date.now()
    await cluster.promoteStandby()
    const promotedAt = Date.now()
    stopAt = promotedAt + RECOVERED_WITHIN_MS + 5_000
    await Promise.all(load)

    const counts = new Map<string, number>()
    for (const o of outcomes) counts.set(String(o.status), (counts.get(String(o.status)) ?? 0) + 1)
    const summary = `answers ${JSON.stringify(Object.fromEntries(counts))}, promoted ${promotedAt - killedAt} ms after the kill`

    expect(outcomes.filter((o) => o.status !== 201 && o.status !== 503), summary).toEqual([])
    expect(outcomes.filter((o) => o.finishedAt - o.startedAt > ANSWER_WITHIN_MS), summary).toEqual([])
    expect(outcomes.filter((o) => o.status === 503 && o.retryAfter === null)).toEqual([])
    expect(outcomes.some((o) => o.status === 503 && o.startedAt >= killedAt), summary).toBe(true)
    // With no primary to be had, a request is answered then and there: none waits for the promotion.
    const waited = outcomes.filter((o) => o.startedAt >= killedAt + 1_000 && o.startedAt < promotionBegan - ANSWERED_AT_ONCE_MS && o.finishedAt >= promotionBegan)
    expect(waited, summary).toEqual([])
    const recovered = outcomes.filter((o) => o.startedAt >= promotedAt + RECOVERED_WITHIN_MS)
    expect(recovered.length).toBeGreaterThan(0)
    expect(recovered.filter((o) => o.status !== 201), summary).toEqual([])

    const sql = createSql(cluster.standbyUrl, { max: 2 })
    try {
      const acknowledged = outcomes.flatMap((o) => o.bookingId === undefined ? [] : [o.bookingId])
      const found = await sql<{ id: string }[]>`select id from bookings where id = any(${acknowledged}::uuid[]) and status = 'confirmed'`
      expect(found.length).toBe(acknowledged.length)
      for (const tier of tiers) await ledger(sql, tier.id)

      // The background work runs on the new primary: the webhook dispatcher delivers a booking made
      // after the failover, and the hold sweeper (advisory lock) expires a hold that lapses there.
      const after = acknowledged.at(-1)
      await receiver.waitFor((received) => received.some((r) => r.body.includes(String(after))), 20_000)
      await sql`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${holdId}`
      await waitUntil(async () => (await sql`select 1 from bookings where id = ${holdId} and status = 'expired'`).length === 1,
        'the lapsed hold is swept on the new primary', { timeoutMs: 20_000 })
      for (const tier of tiers) await ledger(sql, tier.id)
    } finally {
      await sql.end()
    }

    // A process started now migrates (node-pg-migrate's lock) on the new primary and books.
    const third = startServer()
    const late = await book(await listeningAt(third, 60_000), key, { eventId, items: [{ ticketTierId: tiers[0]?.id, quantity: 1 }] })
    expect(late.status).toBe(201)

    // And every process still drains and exits 0 on SIGTERM, with nothing left hanging.
    for (const server of [first, second, third]) {
      server.child.kill('SIGTERM')
      expect((await server.exited).code, server.output().slice(-2000)).toBe(0)
    }
  }, 180_000)
})
