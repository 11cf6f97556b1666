import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createLogger } from '../../../src/logger.js'
import { createSql } from '../../../src/db/sql.js'
import { sweepRetention, type RetentionDeleted } from '../../../src/features/webhooks/retention.js'
import type { Booking } from '../../../src/schemas/bookings.js'
import type { CheckInListStatus, ScannerKeyCreated } from '../../../src/schemas/check-in.js'
import type { Ticket } from '../../../src/schemas/tickets.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTier } from '../../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../../support/locks.js'
import { startPgBouncer } from '../../support/pgbouncer.js'
import { waitUntil } from '../../support/wait.js'

/*
 * Retention against the real database, with time stood in for by backdating rows: what goes (old
 * finished webhook rows, in batches), what stays (young rows, pending and leased deliveries and
 * their events, bookings, tickets, every check-in, rejected scans included, whose replays still
 * answer), one sweeper at a time across pools, and bookings that never wait for a sweep of a
 * large backlog.
 */

let t: TestApp
let eventId: string
let tierId: string
let endpointId: string

beforeAll(async () => {
  t = await createTestApp()
  const event = await createEventWithTier(t.app, { price: 1500, capacity: 1_000_000, maxPerBooking: 10 })
  eventId = event.eventId
  tierId = event.tierId
  // Every booking then writes an event and a pending delivery (no dispatcher runs here).
  const endpoint = await t.app.inject({
    method: 'POST',
    url: '/api/webhook-endpoints',
    headers: t.asIntegrator,
    payload: { url: 'https://receiver.example.com/hooks', events: ['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired', 'ticket.checked_in'] }
  })
  expect(endpoint.statusCode, endpoint.body).toBe(201)
  endpointId = endpoint.json<{ id: string }>().id
})
afterAll(async () => { await t.close() })

async function book (quantity = 1): Promise<Booking> {
  const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId: tierId, quantity }] } })
  expect(response.statusCode, response.body).toBe(201)
  return response.json<Booking>()
}

async function sweep (retentionDays = 30, batchSize?: number): Promise<RetentionDeleted | undefined> {
  return await sweepRetention(t.sql, { retentionDays, ...(batchSize === undefined ? {} : { batchSize }) })
}

interface Settled {
  status: 'succeeded' | 'failed' | 'pending'
  /** The last attempt this many days ago (and the others a minute apart before it); none: never attempted. */
  lastAttemptDaysAgo?: number
  attempts?: number
  /** Pending with a dispatcher's lease on it. */
  leased?: boolean
}

/**
 * A booking's event, made `createdDaysAgo` old, with its delivery (and as many more as `more`
 * lists) in the given state and attempts; returns the event and delivery ids.
 */
async function webhookHistory (createdDaysAgo: number, delivery: Settled, ...more: Settled[]): Promise<{ eventId: string, deliveryIds: string[] }> {
  const booking = await book()
  const [event] = await t.sql<{ id: string }[]>`
    update webhook_events set created_at = clock_timestamp() - make_interval(days => ${createdDaysAgo})
    where booking_id = ${booking.id} returning id
  `
  if (event === undefined) throw new Error('the booking wrote no webhook event')
  const [first] = await t.sql<{ id: string }[]>`select id from webhook_deliveries where event_id = ${event.id}`
  if (first === undefined) throw new Error('the booking wrote no delivery')
  const deliveryIds = [first.id]
  for (let added = 0; added < more.length; added++) {
    const [extra] = await t.sql<{ id: string }[]>`insert into webhook_deliveries (event_id, endpoint_id) values (${event.id}, ${endpointId}) returning id`
    if (extra !== undefined) deliveryIds.push(extra.id)
  }
  for (const [index, state] of [delivery, ...more].entries()) {
    const id = deliveryIds[index] as string
    const attempts = state.attempts ?? 0
    const last = state.lastAttemptDaysAgo
    await t.sql`
      update webhook_deliveries set
        status = ${state.status}, attempts = ${attempts},
        created_at = clock_timestamp() - make_interval(days => ${createdDaysAgo}),
        next_attempt_at = ${state.status === 'pending' ? t.sql`clock_timestamp() - interval '1 day'` : null},
        last_attempt_at = ${last === undefined ? null : t.sql`clock_timestamp() - make_interval(days => ${last})`},
        leased_until = ${state.leased === true ? t.sql`clock_timestamp() + interval '1 minute'` : null},
        lease_token = ${state.leased === true ? randomUUID() : null}
      where id = ${id}
    `
    if (attempts > 0 && last !== undefined) {
      await t.sql`
        insert into webhook_delivery_attempts (delivery_id, attempted_at, duration_ms, response_status)
        select ${id}, clock_timestamp() - make_interval(days => ${last}) - make_interval(mins => ${attempts} - g), 40, 500
        from generate_series(1, ${attempts}) g
      `
    }
  }
  return { eventId: event.id, deliveryIds }
}

/** `count` old events, each with a delivery that succeeded on its first attempt long ago. */
async function oldBacklog (count: number): Promise<void> {
  await t.sql`
    with events as (
      insert into webhook_events (id, integrator_id, type, booking_id, body, created_at)
      select gen_random_uuid(), ${t.integrator.id}, 'booking.created', null, '{}', clock_timestamp() - interval '60 days' + make_interval(secs => g)
      from generate_series(1, ${count}) g
      returning id, created_at
    ), deliveries as (
      insert into webhook_deliveries (event_id, endpoint_id, status, attempts, next_attempt_at, last_attempt_at, last_response_status, created_at)
      select id, ${endpointId}, 'succeeded', 1, null, created_at + interval '1 second', 200, created_at from events
      returning id, last_attempt_at
    )
    insert into webhook_delivery_attempts (delivery_id, attempted_at, duration_ms, response_status)
    select id, last_attempt_at, 40, 200 from deliveries
  `
}

async function exist (table: 'webhook_events' | 'webhook_deliveries', ids: string[]): Promise<number> {
  const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from ${t.sql(table)} where id = any(${ids}::uuid[])`
  return row?.count ?? 0
}

async function attemptsOf (deliveryIds: string[]): Promise<number> {
  const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from webhook_delivery_attempts where delivery_id = any(${deliveryIds}::uuid[])`
  return row?.count ?? 0
}

async function tableSizes (): Promise<Record<string, number>> {
  const [row] = await t.sql<Array<Record<string, number>>>`
    select (select count(*)::int from bookings) as bookings, (select count(*)::int from booking_items) as booking_items,
      (select count(*)::int from tickets) as tickets, (select count(*)::int from check_ins) as check_ins,
      (select count(*)::int from check_in_states) as check_in_states
  `
  return row ?? {}
}

describe('the retention sweep', () => {
  it('deletes exactly the finished webhook rows older than RETENTION_DAYS, and keeps everything else', async () => {
    const gone = [
      await webhookHistory(40, { status: 'succeeded', lastAttemptDaysAgo: 35, attempts: 3 }),
      await webhookHistory(40, { status: 'failed', lastAttemptDaysAgo: 31, attempts: 17 }),
      // Settled without an attempt (its age is its creation's).
      await webhookHistory(40, { status: 'failed' })
    ]
    const youngDelivery = await webhookHistory(40, { status: 'succeeded', lastAttemptDaysAgo: 29, attempts: 2 })
    const pending = await webhookHistory(400, { status: 'pending', lastAttemptDaysAgo: 35, attempts: 2 })
    const leased = await webhookHistory(400, { status: 'pending', lastAttemptDaysAgo: 35, attempts: 1, leased: true })
    const neverAttempted = await webhookHistory(400, { status: 'pending' })
    const halfDone = await webhookHistory(40, { status: 'succeeded', lastAttemptDaysAgo: 35, attempts: 2 }, { status: 'pending', lastAttemptDaysAgo: 35, attempts: 4 })
    const young = await webhookHistory(5, { status: 'succeeded', lastAttemptDaysAgo: 5, attempts: 1 })
    const sizes = await tableSizes()

    // Nothing is that old for a longer retention.
    expect(await sweep(90)).toEqual({ webhookDeliveryAttempts: 0, webhookDeliveries: 0, webhookEvents: 0 })

    expect(await sweep(30)).toEqual({ webhookDeliveryAttempts: 3 + 17 + 2, webhookDeliveries: 4, webhookEvents: 3 })
    expect(await exist('webhook_events', gone.map((each) => each.eventId))).toBe(0)
    expect(await exist('webhook_deliveries', gone.flatMap((each) => each.deliveryIds))).toBe(0)
    expect(await attemptsOf(gone.flatMap((each) => each.deliveryIds))).toBe(0)

    const kept = [youngDelivery, pending, leased, neverAttempted, young]
    expect(await exist('webhook_events', kept.map((each) => each.eventId))).toBe(5)
    expect(await exist('webhook_deliveries', kept.flatMap((each) => each.deliveryIds))).toBe(5)
    expect(await attemptsOf(kept.flatMap((each) => each.deliveryIds))).toBe(2 + 2 + 1 + 0 + 1)
    // The settled half of a half-done event goes; the event stays while its other delivery is pending.
    expect(await exist('webhook_events', [halfDone.eventId])).toBe(1)
    expect(await exist('webhook_deliveries', halfDone.deliveryIds)).toBe(1)
    expect(await attemptsOf(halfDone.deliveryIds)).toBe(4)
    expect(await tableSizes()).toEqual(sizes)

    // A kept delivery still reads as before through the API.
    const listed = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpointId}/deliveries?limit=100`, headers: t.asIntegrator })
    expect(listed.statusCode).toBe(200)
    expect(listed.json<{ data: Array<{ id: string }> }>().data.map((each) => each.id)).toEqual(expect.arrayContaining([...kept.flatMap((each) => each.deliveryIds), halfDone.deliveryIds[1]]))

    // Once its last delivery settled long enough ago, the half-done event goes too.
    await t.sql`update webhook_deliveries set status = 'failed', next_attempt_at = null where id = ${halfDone.deliveryIds[1] ?? ''}`
    expect(await sweep(30)).toEqual({ webhookDeliveryAttempts: 4, webhookDeliveries: 1, webhookEvents: 1 })
    expect(await sweep(30)).toEqual({ webhookDeliveryAttempts: 0, webhookDeliveries: 0, webhookEvents: 0 })
  })

  it('keeps every check-in, however old: admissions, conflicts, and the rejected scans whose nonces still replay', async () => {
    const booking = await book(2)
    const tickets = (await t.app.inject({ method: 'GET', url: `/api/bookings/${booking.id}/tickets`, headers: t.asIntegrator })).json<{ data: Ticket[] }>().data
    const [a, b] = tickets.map((ticket) => ticket.code)
    if (a == null || b == null) throw new Error('the tickets have no codes')
    const list = (await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/check-in-lists`, headers: asAdmin, payload: { name: 'Main door', allowReentry: true } })).json<{ id: string }>()
    const scanner = { authorization: `Bearer ${(await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/scanner-keys`, headers: asAdmin, payload: { name: 'Gate' } })).json<ScannerKeyCreated>().key}` }
    const scan = async (code: string, nonce: string, type = 'entry') => await t.app.inject({ method: 'POST', url: '/api/check-ins', headers: scanner, payload: { code, checkInListId: list.id, nonce, type } })

    expect((await scan(a, 'in')).statusCode).toBe(201)
    const refused = await scan(a, 'refused')
    expect(refused.statusCode).toBe(409)
    expect((await scan(a, 'out', 'exit')).statusCode).toBe(201)
    const unknown = await scan('not-a-code', 'unknown')
    expect(unknown.statusCode).toBe(404)
    const at = (secondsAgo: number): string => new Date(Date.now() - secondsAgo * 1000).toISOString()
    const upload = await t.app.inject({
      method: 'POST',
      url: '/api/check-ins/batch',
      headers: scanner,
      payload: { checkIns: [{ code: b, checkInListId: list.id, nonce: 'offline-1', scannedAt: at(20) }, { code: b, checkInListId: list.id, nonce: 'offline-2', scannedAt: at(10) }] }
    })
    expect(upload.json<{ results: Array<{ outcome: string }> }>().results.map((result) => result.outcome)).toEqual(['admitted', 'conflict'])
    const before = await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/status`, headers: asAdmin })
    await t.sql`update check_ins set scanned_at = scanned_at - interval '400 days', recorded_at = recorded_at - interval '400 days' where check_in_list_id = ${list.id}`
    await t.sql`update webhook_events set created_at = created_at - interval '400 days' where type = 'ticket.checked_in'`
    const sizes = await tableSizes()

    await sweep(30)
    expect(await tableSizes()).toEqual(sizes)
    // The holder is outside now, so deciding the refused entry anew would admit them: it replays instead.
    const replayed = await scan(a, 'refused')
    expect(replayed.statusCode).toBe(409)
    expect(replayed.headers['idempotent-replayed']).toBe('true')
    expect(replayed.json()).toEqual(refused.json())
    const unknownAgain = await scan('not-a-code', 'unknown')
    expect(unknownAgain.headers['idempotent-replayed']).toBe('true')
    expect(unknownAgain.json()).toEqual(unknown.json())
    const after = await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/status`, headers: asAdmin })
    expect(after.json<CheckInListStatus>()).toEqual(before.json<CheckInListStatus>())
    expect(after.json<CheckInListStatus>()).toMatchObject({ admitted: 2, inside: 1, conflicts: 1 })
    const conflicts = await t.app.inject({ method: 'GET', url: `/api/check-in-lists/${list.id}/conflicts`, headers: asAdmin })
    expect(conflicts.json<{ data: unknown[] }>().data).toHaveLength(1)
    expect(await tableSizes()).toEqual(sizes)
  })

  it('deletes a backlog larger than a batch in one round, a batch per statement', async () => {
    await oldBacklog(1_234)
    expect(await sweep(30, 100)).toEqual({ webhookDeliveryAttempts: 1_234, webhookDeliveries: 1_234, webhookEvents: 1_234 })
    expect(await sweep(30, 100)).toEqual({ webhookDeliveryAttempts: 0, webhookDeliveries: 0, webhookEvents: 0 })
  })

  it('runs in one process at a time: while one sweeps, another skips its round', async () => {
    await oldBacklog(300)
    const pools = [createSql(t.databaseUrl, { max: 2 }), createSql(t.databaseUrl, { max: 2 })] as const
    try {
      // The first sweep gets as far as the events, and waits there (holding the retention lock) ...
      const release = await holdInTransaction(t.sql, async (tx) => await tx`lock table webhook_events in exclusive mode`)
      const first = sweepRetention(pools[0], { retentionDays: 30, batchSize: 100 })
      await waitForLockWaiters(t.sql)
      // ... so the second, on a pool of its own, finds the lock taken and does nothing.
      expect(await sweepRetention(pools[1], { retentionDays: 30, batchSize: 100 })).toBeUndefined()
      await release()
      expect(await first).toEqual({ webhookDeliveryAttempts: 300, webhookDeliveries: 300, webhookEvents: 300 })

      // Started together, both rounds end, and the rows are deleted once between them.
      await oldBacklog(300)
      const rounds = await Promise.all([...pools, ...pools].map(async (pool) => await sweepRetention(pool, { retentionDays: 30, batchSize: 50 })))
      const total = rounds.reduce((sum, round) => sum + (round?.webhookEvents ?? 0), 0)
      expect(total).toBe(300)
      const [left] = await t.sql<{ count: number }[]>`select count(*)::int as count from webhook_events where booking_id is null`
      expect(left?.count).toBe(0)
    } finally {
      await Promise.all(pools.map(async (pool) => { await pool.end() }))
    }
  })

  it('never makes a booking wait while it deletes a large backlog', async () => {
    const backlog = 20_000
    await oldBacklog(backlog)
    const sweeper = createSql(t.databaseUrl, { max: 2, applicationName: 'retention-under-test' })
    const watcher = createSql(t.databaseUrl, { max: 1 })
    const waitsOnSweep: unknown[] = []
    const progress = { sweeping: true }
    try {
      // Every few milliseconds: is any session waiting for a lock that the sweep's sessions hold?
      const watching = (async () => {
        while (progress.sweeping) {
          waitsOnSweep.push(...await watcher`
            select w.pid, w.application_name, w.query from pg_stat_activity w
            where w.datname = current_database() and w.wait_event_type = 'Lock'
              and exists (select 1 from pg_stat_activity s where s.pid = any(pg_blocking_pids(w.pid)) and s.application_name = 'retention-under-test')
          `)
          await new Promise((resolve) => setTimeout(resolve, 2))
        }
      })()
      const round = sweepRetention(sweeper, { retentionDays: 30 }).finally(() => { progress.sweeping = false })
      // Eight buyers book one after another for as long as the sweep runs; their bookings write webhook rows too.
      const statuses: number[] = []
      let duringSweep = 0
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (progress.sweeping || statuses.length < 40) {
          const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] } })
          statuses.push(response.statusCode)
          if (progress.sweeping) duringSweep++
        }
      }))
      expect(await round).toEqual({ webhookDeliveryAttempts: backlog, webhookDeliveries: backlog, webhookEvents: backlog })
      await watching
      expect(duringSweep).toBeGreaterThan(0)
      expect(statuses.filter((status) => status !== 201)).toEqual([])
      expect(waitsOnSweep).toEqual([])
      // The new bookings' webhook rows are young and pending: all kept.
      const [rows] = await t.sql<{ events: number }[]>`
        select count(*)::int as events from webhook_events e join webhook_deliveries d on d.event_id = e.id
        where e.created_at > clock_timestamp() - interval '1 hour' and d.status = 'pending'
      `
      expect(rows?.events).toBeGreaterThanOrEqual(statuses.length)
    } finally {
      progress.sweeping = false
      await Promise.all([sweeper.end(), watcher.end()])
    }
  })
})

describe('the retention sweep behind PgBouncer in transaction mode', () => {
  it('sweeps through the pooler with its session lock on the direct connection, leaving no lock on a pooled one', async () => {
    await oldBacklog(700)
    const bouncer = await startPgBouncer(inject('postgresUrl'))
    const pooled = createSql(bouncer.urlOf(t.databaseUrl), { throughPooler: true, max: 2, applicationName: 'retention-pooled' })
    const direct = createSql(t.databaseUrl, { max: 1, applicationName: 'retention-direct' })
    try {
      expect(await sweepRetention(pooled, { retentionDays: 30, sessionSql: direct })).toEqual({ webhookDeliveryAttempts: 700, webhookDeliveries: 700, webhookEvents: 700 })
      const advisory = await t.sql`select l.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid where l.locktype = 'advisory' and a.datname = current_database()`
      expect(advisory).toEqual([])
    } finally {
      await Promise.all([pooled.end(), direct.end()])
      await bouncer.stop()
    }
  })
})

describe('the background retention sweep', () => {
  it('deletes expired rows on its own, logging and counting how many of each kind', async () => {
    await oldBacklog(10)
    const lines: string[] = []
    const app = await t.newApp({ retentionSweepIntervalMs: 20, config: { retentionDays: 30 }, logger: createLogger('info', { write: (line: string) => { lines.push(line) } }) })
    try {
      await waitUntil(() => lines.some((line) => line.includes('retention sweep deleted')), 'the background sweep logs what it deleted', { timeoutMs: 10_000, intervalMs: 20 })
      const scraped = (await app.inject({ method: 'GET', url: '/metrics', headers: asAdmin })).body
      for (const kind of ['webhook_delivery_attempts', 'webhook_deliveries', 'webhook_events']) {
        expect(scraped).toContain(`\nretention_rows_deleted_total{kind="${kind}"} 10\n`)
      }
    } finally {
      await app.close()
    }
    const logged = lines.map((line) => JSON.parse(line) as { msg: string, level: number, deleted?: Record<string, number> }).filter((line) => line.msg.startsWith('retention sweep'))
    expect(logged).toEqual([expect.objectContaining({ level: 30, deleted: { webhookDeliveryAttempts: 10, webhookDeliveries: 10, webhookEvents: 10 }, retentionDays: 30 })])
    const [left] = await t.sql<{ count: number }[]>`select count(*)::int as count from webhook_events where booking_id is null`
    expect(left?.count).toBe(0)
  })
})
