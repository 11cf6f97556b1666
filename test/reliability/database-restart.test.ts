import { chmod, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../src/app.js'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { createSql, type Sql } from '../../src/db/sql.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { readyApp } from '../support/app.js'
import { createEventWithTier, ledger, problemType } from '../support/fixtures.js'
import { portOutsideEphemeralRange } from '../support/ports.js'
import { waitUntil } from '../support/wait.js'

/** This file runs its own PostgreSQL, since it stops and starts it. */
let folder: string
let database: EmbeddedPostgres
let port: number
let sql: Sql
let app: App
let integratorHeaders: { authorization: string }

async function startDatabase (): Promise<EmbeddedPostgres> {
  return await startEmbeddedPostgres({ dataDir: path.join(folder, 'data'), port, settings: { fsync: 'off' } })
}

beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-restart-'))
  await chmod(folder, 0o755)
  port = await portOutsideEphemeralRange()
  database = await startDatabase()
  await migrate(database.url)
  sql = createSql(database.url, { max: 8 })
  app = await readyApp(sql)
  const { key } = await createIntegratorsRepository(sql).createWithKey('Restart')
  integratorHeaders = { authorization: `Bearer ${key.key}` }
})

afterAll(async () => {
  await app.close()
  await sql.end({ timeout: 1 })
  await database.stop()
  await rm(folder, { recursive: true, force: true })
})

describe('a database restart during a booking load', () => {
  it('answers 503 problems while it is down, recovers by itself, and loses or invents no booking', async () => {
    const { eventId, tierId: ticketTierId } = await createEventWithTier(app, { price: 100, capacity: 100_000 })

    const results: { key: string, status: number, body: { type?: string }, retryAfter: unknown }[] = []
    let phase: 'load' | 'stop' = 'load'
    let sequence = 0
    const worker = async (): Promise<void> => {
      // eslint-disable-next-line no-unmodified-loop-condition -- the test sets it, between awaits
      while (phase === 'load') {
        const key = `restart-${sequence++}`
        const response = await app.inject({
          method: 'POST',
          url: '/api/bookings',
          headers: { ...integratorHeaders, 'idempotency-key': key },
          payload: { eventId, items: [{ ticketTierId, quantity: 1 }] }
        })
        results.push({ key, status: response.statusCode, body: response.json(), retryAfter: response.headers['retry-after'] })
        // A failed request is retried after a pause, not in a tight loop, while the database is down.
        if (response.statusCode !== 201) await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const workers = Array.from({ length: 8 }, worker)
    const booked = (since = 0): number => results.slice(since).filter((result) => result.status === 201).length

    let stoppingAt = 0
    let restartingAt = 0
    try {
      await waitUntil(() => booked() >= 16, 'the load is booking')
      stoppingAt = results.length
      await database.stop()
      const stoppedAt = results.length
      await waitUntil(() => results.slice(stoppedAt).filter((result) => result.status === 503).length >= 8, 'bookings meet the stopped database')
      const health = await app.inject({ method: 'GET', url: '/api/health' })
      expect(health.statusCode).toBe(503)
      restartingAt = results.length
      database = await startDatabase()

      await waitUntil(async () => results.slice(-8).some((result) => result.status === 201) &&
        (await app.inject({ method: 'GET', url: '/api/health' })).statusCode === 200, 'the service recovers', { timeoutMs: 20_000, intervalMs: 100 })
      const recoveredAt = results.length
      await waitUntil(() => booked(recoveredAt) >= 16, 'the load books again after the recovery')
    } finally {
      phase = 'stop'
      await Promise.all(workers)
    }

    const failures = results.filter((result) => result.status !== 201)
    expect(failures.length).toBeGreaterThan(0)
    for (const failure of failures) {
      expect(failure.status).toBe(503)
      expect(failure.body.type).toBe(problemType('service-unavailable'))
      expect(Number(failure.retryAfter)).toBeGreaterThan(0)
    }

    const stored = await sql<{ clientReference: string }[]>`select client_reference from bookings where event_id = ${eventId}`
    const storedKeys = new Set(stored.map((row) => row.clientReference))
    const acknowledged = results.filter((result) => result.status === 201).map((result) => result.key)
    expect(acknowledged.filter((key) => !storedKeys.has(key))).toEqual([])
    // A failed booking was not stored, unless its commit reached the database as it stopped and the
    // answer was lost with the connection (README: "the client sees an error although the booking
    // exists"): answered while the database was down, and what a retry with its key returns.
    const committedUnseen = results.flatMap((result, index) => result.status !== 201 && storedKeys.has(result.key) ? [{ ...result, index }] : [])
    for (const { key, index } of committedUnseen) {
      expect(index, key).toBeGreaterThanOrEqual(stoppingAt)
      expect(index, key).toBeLessThan(restartingAt)
      const retried = await app.inject({
        method: 'POST',
        url: '/api/bookings',
        headers: { ...integratorHeaders, 'idempotency-key': key },
        payload: { eventId, items: [{ ticketTierId, quantity: 1 }] }
      })
      expect(retried.statusCode, key).toBe(200)
      expect(retried.headers['idempotent-replayed'], key).toBe('true')
    }
    expect(storedKeys.size).toBe(acknowledged.length + committedUnseen.length)

    expect(await ledger(sql, ticketTierId)).toMatchObject({ remaining: 100_000 - storedKeys.size, items: storedKeys.size })
  })
})
