import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sharedReads } from '../../src/db/shared-reads.js'
import { asAdmin, createTestApp, type TestApp } from '../support/app.js'
import { createEventWithTier } from '../support/fixtures.js'

/*
 * Identical reads that arrive together share one query, and none is answered by a query that began
 * before it arrived (src/db/shared-reads.ts): so whatever was committed before a request came in
 * shows in its answer, however many identical reads are in flight around it.
 */

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

/** A read of `key` that takes `ms` in PostgreSQL, recording when each query began and ended. */
function slowRead (ms: number) {
  const queries: Array<{ key: string, startedAt: number, endedAt: number }> = []
  const read = sharedReads(async (key: string) => {
    const startedAt = performance.now()
    const [row] = await t.sql<Array<{ key: string }>>`select ${key}::text as key, pg_sleep(${ms / 1000})`
    const query = { key: row?.key ?? '', startedAt, endedAt: performance.now() }
    queries.push(query)
    return query
  }, (key) => key)
  return { read, queries }
}

describe('shared reads', () => {
  it('share a query among identical reads that arrive while it runs, and answer none from a query begun before it arrived', async () => {
    const { read, queries } = slowRead(30)
    // 40 reads of one key arriving 3 ms apart, over about 120 ms: rounds of a 30 ms query.
    const answers = await Promise.all(Array.from({ length: 40 }, async (_, n) => {
      await sleep(n * 3)
      const arrivedAt = performance.now()
      return { arrivedAt, query: await read('a') }
    }))
    for (const { arrivedAt, query } of answers) {
      expect(query.key).toBe('a')
      expect(query.startedAt).toBeGreaterThanOrEqual(arrivedAt)
    }
    expect(queries.length).toBeGreaterThan(1)
    expect(queries.length).toBeLessThan(answers.length / 4)
    // One query of a key at a time: each began after the one before it ended.
    for (let i = 1; i < queries.length; i++) expect(queries[i]?.startedAt).toBeGreaterThanOrEqual(queries[i - 1]?.endedAt ?? Infinity)
  })

  it('let reads of different keys run at once', async () => {
    const { read, queries } = slowRead(200)
    await Promise.all([read('a'), read('b')])
    const [first, second] = queries
    expect(queries.map((q) => q.key).sort()).toEqual(['a', 'b'])
    expect(second?.startedAt).toBeLessThan(first?.endedAt ?? 0)
  })

  it('start the next round without a query that runs too long, which still answers its own reads', async () => {
    let calls = 0
    const read = sharedReads(async (key: string) => {
      calls++
      // The first query stands in for one on a connection that died: it does not end for a long time.
      const [row] = await t.sql<Array<{ round: number }>>`select ${calls}::int as round, pg_sleep(${calls === 1 ? 3 : 0})`
      return `${key} ${row?.round ?? 0}`
    }, (key) => key, 200)
    let stuckEnded = false
    const stuck = read('a').finally(() => { stuckEnded = true })
    await sleep(50)
    const waiting = [read('a'), read('a')]
    await sleep(250)
    // Past 200 ms, the next read starts a round of its own, which the waiting reads share.
    expect(await Promise.all([...waiting, read('a')])).toEqual(['a 2', 'a 2', 'a 2'])
    expect(stuckEnded).toBe(false)
    expect(await read('a')).toBe('a 3')
    expect(await stuck).toBe('a 1')
    expect(calls).toBe(3)
  })

  it('fail the reads of a round whose query failed, and read afresh for those that come after', async () => {
    let calls = 0
    const read = sharedReads(async (key: string) => {
      calls++
      if (calls === 1) {
        await t.sql`select pg_sleep(0.05)`
        await t.sql`select * from no_such_table`
      }
      return key
    }, (key) => key)
    const first = read('a')
    const joined = (async () => { await sleep(10); return await read('a') })()
    await expect(first).rejects.toMatchObject({ code: '42P01' })
    // The read that joined during the failed query waited for a round of its own.
    expect(await joined).toBe('a')
    expect(calls).toBe(2)
  })
})

describe('reads with identical reads always in flight around them', () => {
  /** `readers` loops making `request` until `stop` is set; returns how many answers they had. */
  function keepReading (readers: number, request: () => Promise<unknown>) {
    const state = { stopped: false, answers: 0 }
    const loops = Array.from({ length: readers }, async () => {
      while (!state.stopped) {
        await request()
        state.answers++
      }
    })
    return { answers: () => state.answers, stop: async () => { state.stopped = true; await Promise.all(loops) } }
  }

  it('see every booking answered before they were sent: remaining, a booking\'s status, a revoked key', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 40 })
    const tiersUrl = `/api/events/${eventId}/ticket-tiers`
    const remainingNow = async (): Promise<number> => {
      const response = await t.app.inject({ method: 'GET', url: tiersUrl })
      expect(response.statusCode).toBe(200)
      return response.json<{ data: Array<{ remaining: number }> }>().data[0]?.remaining ?? -1
    }

    const tierReaders = keepReading(16, async () => await t.app.inject({ method: 'GET', url: tiersUrl }))
    const bookingIds: string[] = []
    try {
      for (let booked = 1; booked <= 20; booked++) {
        const response = await t.app.inject({
          method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] }
        })
        expect(response.statusCode).toBe(201)
        bookingIds.push(response.json<{ id: string }>().id)
        expect(await remainingNow()).toBe(40 - booked)
      }
    } finally {
      await tierReaders.stop()
    }
    expect(tierReaders.answers()).toBeGreaterThan(20)

    // A cancellation shows in the next read of the booking.
    for (const id of bookingIds.slice(0, 5)) {
      const bookingReaders = keepReading(16, async () => await t.app.inject({ method: 'GET', url: `/api/bookings/${id}`, headers: t.asIntegrator }))
      try {
        const cancelled = await t.app.inject({ method: 'POST', url: `/api/bookings/${id}/cancel`, headers: t.asIntegrator })
        expect(cancelled.statusCode).toBe(200)
        const read = await t.app.inject({ method: 'GET', url: `/api/bookings/${id}`, headers: t.asIntegrator })
        expect(read.json<{ status: string }>().status).toBe('cancelled')
      } finally {
        await bookingReaders.stop()
      }
    }
    expect(await remainingNow()).toBe(40 - 20 + 5)

    // A key revoked while its requests are in flight fails on the next request sent after.
    const other = await t.newIntegrator('Revoked while busy')
    const [{ id: keyId } = { id: '' }] = await t.sql<Array<{ id: string }>>`select id from api_keys where integrator_id = ${other.id}`
    const keyReaders = keepReading(16, async () => await t.app.inject({ method: 'GET', url: '/api/bookings', headers: other.headers }))
    try {
      await sleep(50)
      const revoked = await t.app.inject({ method: 'DELETE', url: `/api/integrators/${other.id}/keys/${keyId}`, headers: asAdmin })
      expect(revoked.statusCode).toBe(204)
      const after = await t.app.inject({ method: 'GET', url: '/api/bookings', headers: other.headers })
      expect(after.statusCode).toBe(401)
    } finally {
      await keyReaders.stop()
    }
  })
})
