import type { Queryable, Sql } from '../../db/sql.js'
import { recordBookingEvents } from '../webhooks/outbox.js'
import { readBooking } from './booking-reads.js'

/**
 * Tickets of lapsed holds not yet back in `remaining`, for these tiers. Few rows: the partial
 * index holds only unreleased tickets of holds, and the sweep releases lapsed ones within seconds.
 */
export function lapsedHeldTickets (q: Queryable, tierIds: string[]) {
  return q`
    select ticket_tier_id, sum(quantity)::int as quantity
    from booking_items
    where hold_expires_at is not null and not released and hold_expires_at <= statement_timestamp()
      and ticket_tier_id = any(${tierIds}::uuid[])
    group by ticket_tier_id
  `
}

/**
 * Puts the tickets of lapsed holds back into `remaining` for these tiers, which the caller has
 * locked. The lapsed bookings are locked too (after the tiers, in id order, as everywhere), so a
 * confirmation racing the expiry either commits first, and its tickets stay sold, or finds the
 * hold lapsed. Returns how many tickets each tier got back.
 */
export async function releaseLapsedHolds (tx: Queryable, tierIds: string[]): Promise<{ ticketTierId: string, quantity: number }[]> {
  return await tx<{ ticketTierId: string, quantity: number }[]>`
    with candidates as (
      select distinct booking_id from booking_items
      where ticket_tier_id in ${tx(tierIds)}
        and hold_expires_at is not null and not released and hold_expires_at <= clock_timestamp()
    ), lapsed as (
      select b.id from bookings b
      where b.id in (select booking_id from candidates) and b.status = 'held' and b.expires_at <= clock_timestamp()
      order by b.id
      for update
    ), released as (
      update booking_items i set released = true
      from lapsed
      where i.booking_id = lapsed.id and i.ticket_tier_id in ${tx(tierIds)} and not i.released
      returning i.ticket_tier_id, i.quantity
    )
    update ticket_tiers t set remaining = t.remaining + r.quantity, held = t.held - r.quantity
    from (select ticket_tier_id, sum(quantity)::int as quantity from released group by ticket_tier_id) r
    where t.id = r.ticket_tier_id
    returning t.id as ticket_tier_id, r.quantity
  `
}

/** Locks the given tiers in id order: the one lock order every transaction here follows. */
export async function lockTiers (tx: Queryable, tierIds: string[]): Promise<void> {
  if (tierIds.length === 0) return
  await tx`select id from ticket_tiers where id in ${tx(tierIds)} order by id for update`
}

/**
 * Gives a booking's unreleased tickets back to `remaining` (and takes them from `held` when the
 * booking is a hold); the caller holds the tier and booking locks.
 */
export async function releaseAllTickets (tx: Queryable, bookingId: string, wasHeld: boolean): Promise<void> {
  await tx`
    with released as (
      update booking_items set released = true
      where booking_id = ${bookingId} and not released
      returning ticket_tier_id, quantity
    )
    update ticket_tiers t
    set remaining = t.remaining + r.quantity, held = t.held - ${wasHeld ? tx`r.quantity` : tx`0`}
    from released r
    where t.id = r.ticket_tier_id
  `
}

/** Moves a confirmed hold's tickets out of `held` (they stay out of `remaining`); the caller holds the locks. */
export async function settleHeldTickets (tx: Queryable, bookingId: string): Promise<void> {
  await tx`
    with settled as (
      update booking_items set hold_expires_at = null
      where booking_id = ${bookingId} and not released
      returning ticket_tier_id, quantity
    )
    update ticket_tiers t set held = t.held - s.quantity
    from settled s
    where t.id = s.ticket_tier_id
  `
}

async function unreleasedTiers (q: Queryable, bookingId: string): Promise<string[]> {
  const rows = await q<{ ticketTierId: string }[]>`
    select distinct ticket_tier_id from booking_items where booking_id = ${bookingId} and not released
  `
  return rows.map((row) => row.ticketTierId)
}

/** Expires one lapsed hold, returning its tickets, with its `booking.expired` event; false when it is no longer a lapsed hold. */
async function expireHold (sql: Sql, bookingId: string): Promise<boolean> {
  return await sql.begin(async (tx) => {
    await lockTiers(tx, await unreleasedTiers(tx, bookingId))
    const [booking] = await tx`
      select id from bookings
      where id = ${bookingId} and status = 'held' and expires_at <= clock_timestamp()
      for update
    `
    if (booking === undefined) return false
    await releaseAllTickets(tx, bookingId, true)
    await tx`update bookings set status = 'expired' where id = ${bookingId}`
    const expired = await readBooking(tx, bookingId)
    if (expired !== undefined) await recordBookingEvents(tx, [{ type: 'booking.expired', booking: expired }])
    return true
  })
}

const SWEEP_LOCK = 'ticket-booking:sweep-lapsed-holds'

/**
 * Marks lapsed holds `expired` and returns all their tickets, oldest first, up to `limit`.
 * A session advisory lock lets one process sweep at a time; the others skip the round.
 * Returns the number of holds expired.
 */
export async function sweepLapsedHolds (sql: Sql, limit = 500): Promise<number> {
  const session = await sql.reserve()
  try {
    const [lock] = await session<{ acquired: boolean }[]>`
      select pg_try_advisory_lock(hashtextextended(${SWEEP_LOCK}, 0)) as acquired
    `
    if (lock?.acquired !== true) return 0
    try {
      const lapsed = await sql<{ id: string }[]>`
        select id from bookings
        where status = 'held' and expires_at <= clock_timestamp()
        order by expires_at
        limit ${limit}
      `
      let expired = 0
      for (const { id } of lapsed) {
        if (await expireHold(sql, id)) expired++
      }
      return expired
    } finally {
      await session`select pg_advisory_unlock(hashtextextended(${SWEEP_LOCK}, 0))`
    }
  } finally {
    session.release()
  }
}
