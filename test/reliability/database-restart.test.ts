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
import { createEventWithTier, problemType } from '../support/fixtures.js'
import { portOutsideEphemeralRange } from '../support/ports.js'

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
      while (phase === 'load') {
        const key = `restart-${sequence++}`
        const response = await app.inject({
          method: 'POST', url: '/api/bookings', headers: { ...integratorHeaders, 'idempotency-key': key },
          payload: { eventId, items: [{ ticketTierId, quantity: 1 }] }
        })
        results.push({ key, status: response.statusCode, body: response.json(), retryAfter: response.headers['retry-after'] })
        if (response.statusCode !== 201) await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const workers = Array.from({ length: 8 }, worker)

    await new Promise((resolve) => setTimeout(resolve, 400))
    await database.stop()
    await new Promise((resolve) => setTimeout(resolve, 800))
    const health = await app.inject({ method: 'GET', url: '/api/health' })
    expect(health.statusCode).toBe(503)
    database = await startDatabase()

    const deadline = Date.now() + 20_000
    let recovered = false
    while (!recovered && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      recovered = results.slice(-8).some((result) => result.status === 201) &&
        (await app.inject({ method: 'GET', url: '/api/health' })).statusCode === 200
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    phase = 'stop'
    await Promise.all(workers)

    expect(recovered).toBe(true)
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
    expect(failures.map((failure) => failure.key).filter((key) => storedKeys.has(key))).toEqual([])
    expect(storedKeys.size).toBe(acknowledged.length)

    const [ledger] = await sql<{ remaining: number, booked: number }[]>`
      select remaining, (select coalesce(sum(quantity), 0)::int from booking_items where ticket_tier_id = ${ticketTierId}) as booked
      from ticket_tiers where id = ${ticketTierId}
    `
    expect(ledger).toEqual({ remaining: 100_000 - acknowledged.length, booked: acknowledged.length })
  })
})
