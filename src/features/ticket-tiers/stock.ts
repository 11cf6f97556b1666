import { definedColumns, type Queryable } from '../../db/sql.js'
import { ProblemError, problemKinds } from '../../problems.js'
import { DEFAULT_MAX_PER_BOOKING, type TicketTier, type TicketTierCreate, type TicketTierUpdate } from '../../schemas/ticket-tiers.js'

/*
 * Tier stock: the one module that writes `ticket_tiers`. A tier's `remaining` tickets can be
 * booked; `held` counts the taken ones that sit in live holds; a booking item's `released` says
 * its tickets are back in `remaining`. Every transaction that changes stock locks its tiers here
 * first, in id order, and only then any booking rows, so no two of them can deadlock; the
 * database refuses negative stock on its own (`CHECK (remaining >= 0)`).
 */

/** A locked tier as a booking decision needs it. */
export interface StockedTier {
  id: string
  eventId: string
  name: string
  price: number
  capacity: number
  remaining: number
  maxPerBooking: number
}

/** Locks the given tiers in id order: the one lock order every transaction follows. */
export async function lockTiers (tx: Queryable, tierIds: string[]): Promise<void> {
  if (tierIds.length === 0) return
  await tx`select id from ticket_tiers where id in ${tx(tierIds)} order by id for update`
}

/**
 * Puts the tickets of lapsed holds back into `remaining` for these tiers, which the caller has
 * locked. The lapsed bookings are locked too (after the tiers, in id order), so a confirmation
 * racing the expiry either commits first, and its tickets stay sold, or finds the hold lapsed.
 */
async function releaseLapsedHolds (tx: Queryable, tierIds: string[]): Promise<{ ticketTierId: string, quantity: number }[]> {
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

/** Locks the tiers (in id order), returns their lapsed holds' tickets, and tells what each has left. */
export async function lockStock (tx: Queryable, tierIds: string[]): Promise<Map<string, StockedTier>> {
  const locked = await tx<Array<StockedTier & { held: number }>>`
    select id, event_id, name, price, capacity, remaining, held, max_per_booking
    from ticket_tiers where id in ${tx(tierIds)} order by id for update
  `.execute()
  const tiers = new Map(locked.map(({ held: _, ...tier }) => [tier.id, tier]))
  // `held` counts every unreleased held ticket, lapsed ones included: a tier holding none has nothing to release.
  const holding = locked.filter((tier) => tier.held > 0).map((tier) => tier.id)
  if (holding.length === 0) return tiers
  for (const freed of await releaseLapsedHolds(tx, holding)) {
    const tier = tiers.get(freed.ticketTierId)
    if (tier !== undefined) tier.remaining += freed.quantity
  }
  return tiers
}

/**
 * Takes booked tickets out of `remaining` (into `held` for a hold), one statement for any number of
 * lines, sent at once (so a caller can pipeline it with the statements after it).
 */
export async function takeTickets (tx: Queryable, lines: Array<{ ticketTierId: string, quantity: number, held: boolean }>): Promise<unknown> {
  if (lines.length === 0) return undefined
  return await tx`
    update ticket_tiers t set remaining = t.remaining - d.quantity, held = t.held + d.held
    from (
      select id, sum(quantity)::int as quantity, sum(held)::int as held
      from unnest(
        ${lines.map((line) => line.ticketTierId)}::uuid[], ${lines.map((line) => line.quantity)}::int[],
        ${lines.map((line) => line.held ? line.quantity : 0)}::int[]
      ) as x(id, quantity, held)
      group by id
    ) d
    where t.id = d.id
  `.execute()
}

/** Gives a booking's unreleased tickets back to `remaining`, and out of `held` if it was a hold; the caller holds the locks. */
export async function returnTickets (tx: Queryable, bookingId: string, { wereHeld }: { wereHeld: boolean }): Promise<void> {
  await tx`
    with released as (
      update booking_items set released = true
      where booking_id = ${bookingId} and not released
      returning ticket_tier_id, quantity
    )
    update ticket_tiers t
    set remaining = t.remaining + r.quantity, held = t.held - ${wereHeld ? tx`r.quantity` : tx`0`}
    from released r
    where t.id = r.ticket_tier_id
  `
}

/** Moves a confirmed hold's tickets out of `held` (they stay out of `remaining`); the caller holds the locks. */
export async function settleHold (tx: Queryable, bookingId: string): Promise<void> {
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

/**
 * Tiers as clients see them: a lapsed hold's tickets count as `remaining` from the instant it
 * lapses, before any transaction returns them, and no longer as `held`. Looked up only for tiers
 * with held tickets, in a small query of its own (folded into a listing, PostgreSQL planned a CTE
 * on every read); few rows, since the partial index holds only unreleased tickets of holds.
 */
export async function withLapsedHoldsReturned (q: Queryable, tiers: TicketTier[]): Promise<TicketTier[]> {
  const withHolds = tiers.filter((tier) => tier.held > 0).map((tier) => tier.id)
  if (withHolds.length === 0) return tiers
  const lapsed = new Map((await q<{ ticketTierId: string, quantity: number }[]>`
    select ticket_tier_id, sum(quantity)::int as quantity
    from booking_items
    where hold_expires_at is not null and not released and hold_expires_at <= statement_timestamp()
      and ticket_tier_id = any(${withHolds}::uuid[])
    group by ticket_tier_id
  `).map((row) => [row.ticketTierId, row.quantity]))
  return tiers.map((tier) => {
    const quantity = lapsed.get(tier.id) ?? 0
    return quantity === 0 ? tier : { ...tier, remaining: tier.remaining + quantity, held: tier.held - quantity }
  })
}

/**
 * Adds a tier to an existing event with all of its capacity remaining and, unless given,
 * DEFAULT_MAX_PER_BOOKING (validation does not fill it in: the schema's default sits behind a
 * `$ref`); the caller holds the event's lock.
 */
export async function insertTier (tx: Queryable, eventId: string, input: TicketTierCreate): Promise<TicketTier | undefined> {
  const [tier] = await tx<TicketTier[]>`
    with inserted as (
      insert into ticket_tiers (event_id, name, price, capacity, remaining, max_per_booking)
      select id, ${input.name}, ${input.price}, ${input.capacity}, ${input.capacity}, ${input.maxPerBooking ?? DEFAULT_MAX_PER_BOOKING}
      from events where id = ${eventId}
      returning *
    )
    select i.id, i.event_id, i.name, i.price, e.currency, i.capacity, i.remaining, 0 as held, i.max_per_booking
    from inserted i join events e on e.id = i.event_id
  `
  return tier
}

/**
 * Changes a tier under its lock. A new capacity moves `remaining` by the same amount, and is
 * refused below what is taken (sold and in live holds, once lapsed holds are back). False when
 * the tier does not exist.
 */
export async function changeTier (tx: Queryable, id: string, changes: TicketTierUpdate): Promise<boolean> {
  const current = (await lockStock(tx, [id])).get(id)
  if (current === undefined) return false
  const taken = current.capacity - current.remaining
  const capacity = changes.capacity ?? current.capacity
  if (capacity < taken) {
    throw new ProblemError(problemKinds.capacityBelowSold, `${taken} tickets of this tier are sold or held, so its capacity cannot go below ${taken}.`)
  }
  const values = { ...changes, capacity, remaining: capacity - taken }
  await tx`update ticket_tiers set ${tx(values, definedColumns(values))} where id = ${id}`
  return true
}
