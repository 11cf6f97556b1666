import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPostgresError } from '../../../src/db/sql.js'
import { TRANSITIONS, type BookingStatus } from '../../../src/features/bookings/lifecycle.js'
import { createTestApp, type TestApp } from '../../support/app.js'
import { createEvent } from '../../support/fixtures.js'

let t: TestApp
let eventId: string
beforeAll(async () => {
  t = await createTestApp()
  eventId = (await createEvent(t.app, { name: 'Lifecycle' })).id
})
afterAll(async () => { await t.close() })

const STATUSES: BookingStatus[] = ['held', 'confirmed', 'expired', 'cancelled']
class Rollback extends Error {}

/**
 * Whether the database lets a booking go from `from` to `to`: the booking is made (as a hold that
 * is live or lapsed, or confirmed) and brought to `from` by allowed moves, then moved, all in a
 * transaction that is rolled back.
 */
async function databaseAllows (from: BookingStatus, to: BookingStatus, lapsed: boolean): Promise<boolean> {
  let allowed = false
  await t.sql.begin(async (tx) => {
    const id = randomUUID()
    const start = from === 'confirmed' ? 'confirmed' : 'held'
    await tx`
      insert into bookings (id, integrator_id, event_id, status, total, currency, expires_at)
      values (${id}, ${t.integrator.id}, ${eventId}, ${start}, 0, 'EUR',
        ${start === 'held' ? tx`clock_timestamp() + ${lapsed || from === 'expired' ? '-1 minute' : '1 minute'}::interval` : tx`null`})
    `
    if (from === 'expired' || from === 'cancelled') {
      await tx`update bookings set status = ${from}, cancelled_at = ${from === 'cancelled' ? tx`clock_timestamp()` : tx`null`} where id = ${id}`
    }
    try {
      await tx.savepoint(async (move) => {
        await move`update bookings set status = ${to}, cancelled_at = ${to === 'cancelled' ? move`clock_timestamp()` : move`null`} where id = ${id}`
      })
      allowed = true
    } catch (error) {
      if (!(isPostgresError(error, '23514') && error.constraint_name === 'bookings_status_transition')) throw error
    }
    throw new Rollback()
  }).catch((error: unknown) => { if (!(error instanceof Rollback)) throw error })
  return allowed
}

describe('the booking state machine', () => {
  it('is the same in the code (TRANSITIONS) and in the database trigger, for live and lapsed holds', async () => {
    for (const from of STATUSES) {
      const allowed = new Set<BookingStatus>()
      for (const to of STATUSES.filter((status) => status !== from)) {
        for (const lapsed of from === 'held' ? [false, true] : [false]) {
          if (await databaseAllows(from, to, lapsed)) allowed.add(to)
        }
      }
      expect([...allowed].sort(), `from ${from}`).toEqual([...TRANSITIONS[from]].sort())
    }
  })

  it('lets a hold be confirmed only while live and expire only once lapsed', async () => {
    expect(await databaseAllows('held', 'confirmed', false)).toBe(true)
    expect(await databaseAllows('held', 'confirmed', true)).toBe(false)
    expect(await databaseAllows('held', 'expired', false)).toBe(false)
    expect(await databaseAllows('held', 'expired', true)).toBe(true)
  })
})
