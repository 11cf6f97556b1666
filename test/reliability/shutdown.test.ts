import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemo } from '../../src/db/seed.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { createEventWithTier, ledger, overHttp, problemType } from '../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../support/locks.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../support/process.js'
import { startTcpProxy } from '../support/tcp-proxy.js'
import { waitUntil } from '../support/wait.js'

let db: TestDatabase
let integratorKey: string
beforeAll(async () => {
  db = await createTestDatabase()
  await seedDemo(db.sql)
  integratorKey = (await createIntegratorsRepository(db.sql).createWithKey('Shutdown')).key.key
})
afterAll(async () => { await db.drop() })

async function start (databaseUrl = db.url): Promise<{ server: ServerProcess, base: string, eventId: string, tierId: string }> {
  const server = spawnServer(loadServerEnv(databaseUrl))
  const base = await listeningAt(server)
  const { eventId, tierId } = await createEventWithTier(overHttp(base), { price: 100, capacity: 100_000 })
  return { server, base, eventId, tierId }
}

type Outcome = { key: string, status: number | 'network error', type?: string }

/** Sends bookings with unique idempotency keys from `workers` concurrent loops until `stop()`. */
function load (base: string, eventId: string, tierId: string, prefix: string, workers = 16) {
  const outcomes: Outcome[] = []
  let running = true
  let sequence = 0
  const loops = Array.from({ length: workers }, async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- stop() sets it, between awaits
    while (running) {
      const key = `${prefix}-${sequence++}`
      try {
        const response = await fetch(`${base}/api/bookings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization: `Bearer ${integratorKey}` },
          body: JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
        })
        const body = await response.json() as { type?: string }
        outcomes.push({ key, status: response.status, type: body.type })
      } catch {
        outcomes.push({ key, status: 'network error' })
        // Once the server is gone, retry after a pause rather than in a tight loop.
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  })
  return {
    outcomes,
    /** Resolves once the load has booked `count` tickets. */
    booking: async (count: number) => { await waitUntil(() => outcomes.filter((outcome) => outcome.status === 201).length >= count, `the load has booked ${count}`) },
    /** Resolves once a request sent after now finds no server. */
    findsServerGone: async () => {
      const from = outcomes.length
      await waitUntil(() => outcomes.slice(from).some((outcome) => outcome.status === 'network error'), 'the load finds the server gone')
    },
    stop: async () => { running = false; await Promise.all(loops) }
  }
}

async function storedKeys (prefix: string): Promise<Set<string>> {
  const rows = await db.sql<{ clientReference: string }[]>`select client_reference from bookings where client_reference like ${`${prefix}-%`}`
  return new Set(rows.map((row) => row.clientReference))
}

describe('SIGTERM during a booking load', () => {
  it('finishes the bookings in flight, refuses new ones, and exits 0', async () => {
    const { server, base, eventId, tierId } = await start()
    const traffic = load(base, eventId, tierId, 'term')
    try {
      await traffic.booking(20)
      server.child.kill('SIGTERM')
      const { code } = await server.exited
      await traffic.findsServerGone()
      expect(code).toBe(0)
      expect(server.output()).not.toContain('cut short')
    } finally {
      await traffic.stop()
      server.child.kill('SIGKILL')
    }

    const acknowledged = traffic.outcomes.filter((outcome) => outcome.status === 201).map((outcome) => outcome.key)
    expect(acknowledged.length).toBeGreaterThan(0)
    for (const outcome of traffic.outcomes.filter((each) => each.status !== 201)) {
      expect(['network error', 503]).toContain(outcome.status)
      if (outcome.status === 503) expect(outcome.type).toBe(problemType('service-unavailable'))
    }
    const stored = await storedKeys('term')
    expect(acknowledged.filter((key) => !stored.has(key))).toEqual([])
    expect(stored.size).toBe(acknowledged.length)
    expect(await ledger(db.sql, tierId)).toMatchObject({ capacity: 100_000, remaining: 100_000 - stored.size, confirmed: stored.size, items: stored.size, emptyBookings: 0 })
  })
})

describe('SIGKILL during a booking load', () => {
  it('leaves no partial booking: every stored booking is whole and inventory balances', async () => {
    const { server, base, eventId, tierId } = await start()
    const traffic = load(base, eventId, tierId, 'kill')
    try {
      await traffic.booking(20)
      server.child.kill('SIGKILL')
      await server.exited
      await traffic.findsServerGone()
    } finally {
      await traffic.stop()
      server.child.kill('SIGKILL')
    }

    const acknowledged = traffic.outcomes.filter((outcome) => outcome.status === 201).map((outcome) => outcome.key)
    const stored = await storedKeys('kill')
    expect(acknowledged.filter((key) => !stored.has(key))).toEqual([])
    expect(await ledger(db.sql, tierId)).toMatchObject({ capacity: 100_000, remaining: 100_000 - stored.size, confirmed: stored.size, items: stored.size, emptyBookings: 0 })
  })
})

describe('SIGTERM while the network to the database has stalled under a sweep round', () => {
  it('cuts the round short within the grace, names it, exits 0, and loses nothing: the next process sweeps', async () => {
    const proxy = await startTcpProxy({ host: new URL(db.url).hostname, port: Number(new URL(db.url).port) })
    const proxied = new URL(db.url)
    proxied.host = `127.0.0.1:${proxy.port}`
    const { server, base, eventId, tierId } = await start(proxied.href)
    let release: (() => Promise<void>) | undefined
    let next: ServerProcess | undefined
    try {
      const hold = await fetch(`${base}/api/bookings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${integratorKey}` },
        body: JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 3 }], hold: { ttlSeconds: 60 } })
      })
      expect(hold.status).toBe(201)
      const holdId = (await hold.json() as { id: string }).id

      // The tier's row lock, held here, stops the hold sweep's next round (every 5 s) inside its
      // transaction; the network then stalls (no byte passes, nothing is reset), so the lock
      // timeout that would end the round never reaches it.
      release = await holdInTransaction(db.sql, async (tx) => await tx`select 1 from ticket_tiers where id = ${tierId} for update`)
      await db.sql`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${holdId}`
      await waitForLockWaiters(db.sql, 1, 10_000)
      await proxy.setMode('stall')

      const signalled = Date.now()
      server.child.kill('SIGTERM')
      const { code } = await server.exited
      // The contract's budget: DRAIN_DELAY_MS (1 s) + 15 s, past which close-with-grace kills with exit 1.
      expect(Date.now() - signalled).toBeLessThan(16_000)
      expect(code, server.output().slice(-2000)).toBe(0)
      expect(server.output()).toMatch(/shutdown: still running after 12000 ms, cut short: [^"]*hold sweep/)

      // The partition ends (its connections are gone, and with them the sweep's session lock).
      await release()
      release = undefined
      await proxy.close()
      // The stuck round committed nothing; the next process sweeps the hold and the tier balances.
      expect(await db.sql`select status from bookings where id = ${holdId}`).toEqual([{ status: 'held' }])
      next = spawnServer(loadServerEnv(db.url))
      await listeningAt(next)
      await waitUntil(async () => (await db.sql`select 1 from bookings where id = ${holdId} and status = 'expired'`).length === 1,
        'the next process sweeps the hold', { timeoutMs: 20_000 })
      await ledger(db.sql, tierId)
      next.child.kill('SIGTERM')
      expect((await next.exited).code).toBe(0)
      expect(next.output()).not.toContain('cut short')
    } finally {
      await release?.()
      server.child.kill('SIGKILL')
      next?.child.kill('SIGKILL')
      await proxy.close()
    }
  }, 60_000)
})
