import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql } from '../../../src/db/sql.js'
import type { BatchOutcome } from '../../../src/features/bookings/booking-batch.js'
import { createGroupCommit } from '../../../src/db/group-commit.js'
import { toBookingRequest, type BookingRequest } from '../../../src/features/bookings/booking-request.js'
import { createBookingsRepository } from '../../../src/features/bookings/bookings-repository.js'
import { PROBLEM_TYPE_PREFIX } from '../../../src/problems.js'
import { createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTiers, problemType, remaining } from '../../support/fixtures.js'
import { holdInTransaction } from '../../support/locks.js'
import { createTicketCodes } from '../../../src/features/tickets/codes.js'

let t: TestApp
let repository: ReturnType<typeof createBookingsRepository>
beforeAll(async () => {
  t = await createTestApp()
  repository = createBookingsRepository(t.sql, createTicketCodes(t.sql))
})
afterAll(async () => { await t.close() })

/** An event with a tier of each name and capacity; the tiers' ids by name. */
async function setUp<Name extends string> (capacities: Record<Name, number>): Promise<{ eventId: string, tiers: Record<Name, string> }> {
  const names = Object.keys(capacities) as Name[]
  const { eventId, tiers } = await createEventWithTiers(t.app, names.map((name) => ({ name, capacity: capacities[name], maxPerBooking: 10 })))
  const ids = tiers.map((tier) => tier.id)
  return { eventId, tiers: Object.fromEntries(names.map((name, index) => [name, ids[index]])) as Record<Name, string> }
}

function request (eventId: string, items: [string, number][], key?: string): BookingRequest {
  return toBookingRequest({ eventId, items: items.map(([ticketTierId, quantity]) => ({ ticketTierId, quantity })) }, key, t.integrator.id)
}

function summary (outcomes: BatchOutcome[]) {
  return outcomes.map((outcome) => outcome.outcome === 'failed' ? `failed ${outcome.problem.kind.type.replace(PROBLEM_TYPE_PREFIX, '')}` : outcome.outcome)
}

describe('one batch, one transaction', () => {
  it('judges requests in arrival order against what the earlier ones left, each all-or-nothing', async () => {
    const { eventId, tiers: { a, b } } = await setUp({ a: 5, b: 0 })
    const outcomes = await repository.createBatch([
      request(eventId, [[a, 2]]),
      request(eventId, [[a, 1], [b, 1]]),
      request(eventId, [[a, 4]]),
      request(eventId, [[a, 3]]),
      request(randomUUID(), [[a, 1]]),
      request(eventId, [[randomUUID(), 1]])
    ])
    expect(summary(outcomes)).toEqual([
      'created', 'failed insufficient-inventory', 'failed insufficient-inventory', 'created', 'failed not-found', 'failed tier-not-in-event'
    ])
    const short = outcomes[2]
    expect(short?.outcome === 'failed' && short.problem.extensions.shortages).toEqual([{ ticketTierId: a, requested: 4, remaining: 3 }])
    expect(await remaining(t.sql, a)).toBe(0)
    expect(await remaining(t.sql, b)).toBe(0)
    const [row] = await t.sql<{ count: number }[]>`select count(*)::int as count from bookings where event_id = ${eventId}`
    expect(row?.count).toBe(2)
  })

  it('handles one idempotency key used twice in a batch as if the first had committed', async () => {
    const { eventId, tiers: { a } } = await setUp({ a: 10 })
    const key = `dup-${randomUUID()}`
    const other = `other-${randomUUID()}`
    const outcomes = await repository.createBatch([
      request(eventId, [[a, 2]], key),
      request(eventId, [[a, 2]], key),
      request(eventId, [[a, 3]], key),
      request(eventId, [[a, 1]], other)
    ])
    expect(summary(outcomes)).toEqual(['created', 'replayed', 'failed idempotency-key-reuse', 'created'])
    const [first, replay] = outcomes
    expect(first?.outcome === 'created' && replay?.outcome === 'replayed' && replay.booking).toEqual(first?.outcome === 'created' && first.booking)
    expect(await remaining(t.sql, a)).toBe(7)
  })

  it('does not let a failed request use up its key, even within the batch', async () => {
    const { eventId, tiers: { a } } = await setUp({ a: 2 })
    const key = `retry-${randomUUID()}`
    const outcomes = await repository.createBatch([request(eventId, [[a, 3]], key), request(eventId, [[a, 2]], key)])
    expect(summary(outcomes)).toEqual(['failed insufficient-inventory', 'created'])
  })

  it('answers in-flight for a key another transaction is deciding, and books the rest', async () => {
    const { eventId, tiers: { a } } = await setUp({ a: 10 })
    const key = `busy-${randomUUID()}`
    const release = await holdInTransaction(t.sql, async (tx) => await tx`select pg_advisory_xact_lock(hashtextextended(${`booking:${t.integrator.id}:${key}`}, 0))`)
    try {
      const outcomes = await repository.createBatch([request(eventId, [[a, 1]], key), request(eventId, [[a, 1]])])
      expect(summary(outcomes)).toEqual(['failed idempotency-key-in-flight', 'created'])
    } finally {
      await release()
    }
  })
})

describe('the batcher', () => {
  it('decides requests that queue up together, and retries a failed batch one by one so only the bad request fails', async () => {
    const { eventId, tiers: { good, bad } } = await setUp({ good: 20, bad: 20 })
    await t.sql`
      create function fail_bad_tier() returns trigger language plpgsql as $$
      begin
        if new.tier_name = 'bad' then raise exception 'forced failure of one item'; end if;
        return new;
      end $$
    `
    await t.sql`create trigger fail_bad_tier before insert on booking_items for each row execute function fail_bad_tier()`
    const sizes: number[] = []
    const batcher = createGroupCommit(async (requests: BookingRequest[]) => {
      sizes.push(requests.length)
      return await repository.createBatch(requests)
    }, { maxBatchSize: 50, maxConcurrentBatches: 1, maxQueued: 100, busy: 'busy' })
    try {
      const submissions = [
        request(eventId, [[good, 1]]),
        request(eventId, [[good, 1]]),
        request(eventId, [[bad, 1]]),
        request(eventId, [[good, 1]]),
        request(eventId, [[good, 1]])
      ].map(async (each) => await batcher.submit(each).then((outcome) => outcome.outcome, () => 'error'))
      expect(await Promise.all(submissions)).toEqual(['created', 'created', 'error', 'created', 'created'])
    } finally {
      await t.sql`drop trigger fail_bad_tier on booking_items`
      await t.sql`drop function fail_bad_tier()`
    }
    expect(sizes[0]).toBe(1)
    expect(sizes[1]).toBe(4)
    expect(await remaining(t.sql, good)).toBe(16)
    expect(await remaining(t.sql, bad)).toBe(20)
  })

  it('never oversells when two processes batch against one tier', async () => {
    const { eventId, tiers: { a } } = await setUp({ a: 150 })
    const pools = [createSql(t.databaseUrl, { max: 6 }), createSql(t.databaseUrl, { max: 6 })]
    const batchers = pools.map((pool) => {
      const bookings = createBookingsRepository(pool, createTicketCodes(pool))
      return createGroupCommit(async (requests: BookingRequest[]) => await bookings.createBatch(requests), { maxBatchSize: 40, maxConcurrentBatches: 3, maxQueued: 1000, busy: 'busy' })
    })
    try {
      const outcomes = await Promise.all(Array.from({ length: 400 }, async (_, i) =>
        await (batchers[i % 2] as ReturnType<typeof createGroupCommit<BookingRequest, BatchOutcome>>).submit(request(eventId, [[a, 1]], i % 5 === 0 ? `p-${i % 40}` : undefined))))
      const created = outcomes.filter((outcome) => outcome.outcome === 'created').length
      expect(created).toBe(150)
      expect(outcomes.every((outcome) => outcome.outcome !== 'failed' || [
        problemType('insufficient-inventory'), problemType('idempotency-key-in-flight')
      ].includes(outcome.problem.kind.type))).toBe(true)
    } finally {
      await Promise.all(pools.map(async (pool) => { await pool.end() }))
    }
    expect(await remaining(t.sql, a)).toBe(0)
    const [row] = await t.sql<{ booked: number, keys: number, distinct: number }[]>`
      select coalesce(sum(i.quantity), 0)::int as booked, count(b.client_reference)::int as keys, count(distinct b.client_reference)::int as distinct
      from bookings b join booking_items i on i.booking_id = b.id where b.event_id = ${eventId}
    `
    expect(row?.booked).toBe(150)
    expect(row?.keys).toBe(row?.distinct)
  })
})
