import { lockBelowLimit } from '../../db/collection-limit.js'
import type { Queryable, Sql } from '../../db/sql.js'
import { ProblemError, problemKinds } from '../../problems.js'
import { DEFAULT_MAX_PER_BOOKING, MAX_TIERS_PER_EVENT, type TicketTier, type TicketTierCreate, type TicketTierUpdate } from '../../schemas/ticket-tiers.js'
import { lapsedHeldTickets, lockTiers, releaseLapsedHolds } from '../bookings/holds.js'

const tierColumns = (q: Queryable) => q`
  t.id, e.id as event_id, t.name, t.price, e.currency, t.capacity, t.remaining, t.held, t.max_per_booking
`

/**
 * `remaining` counts the tickets of lapsed holds from the instant they lapse, before the sweep
 * returns them, and `held` stops counting them. Looked up only for tiers with held tickets, in a
 * separate small query: folding it into the listing made PostgreSQL plan a CTE on every read.
 */
async function countLapsedHolds (q: Queryable, tiers: TicketTier[]): Promise<TicketTier[]> {
  const withHolds = tiers.filter((tier) => tier.held > 0).map((tier) => tier.id)
  if (withHolds.length === 0) return tiers
  const lapsed = new Map((await q<{ ticketTierId: string, quantity: number }[]>`${lapsedHeldTickets(q, withHolds)}`)
    .map((row) => [row.ticketTierId, row.quantity]))
  return tiers.map((tier) => {
    const quantity = lapsed.get(tier.id) ?? 0
    return quantity === 0 ? tier : { ...tier, remaining: tier.remaining + quantity, held: tier.held - quantity }
  })
}

export function createTicketTiersRepository (sql: Sql) {
  return {
    /** The event's tiers in creation order, or undefined when the event does not exist (one query either way). */
    async listByEvent (eventId: string): Promise<TicketTier[] | undefined> {
      const rows = await sql<(Omit<TicketTier, 'id'> & { id: string | null })[]>`
        select ${tierColumns(sql)}
        from events e left join ticket_tiers t on t.event_id = e.id
        where e.id = ${eventId}
        order by t.creation_seq
      `
      if (rows.length === 0) return undefined
      return await countLapsedHolds(sql, rows.filter((row): row is TicketTier => row.id !== null))
    },

    /**
     * Adds a tier with all of its capacity remaining and, unless given, DEFAULT_MAX_PER_BOOKING (the
     * body's validation does not fill that in: the default is in a referenced schema); undefined when the event does not exist, a 409 limit-reached when it has
     * MAX_TIERS_PER_EVENT already (counted under the event's lock, so concurrent additions cannot pass it).
     */
    async create (eventId: string, input: TicketTierCreate): Promise<TicketTier | undefined> {
      return await sql.begin(async (tx) => {
        const exists = await lockBelowLimit(tx, {
          parent: { table: 'events', id: eventId },
          children: { table: 'ticket_tiers', column: 'event_id' },
          limit: MAX_TIERS_PER_EVENT,
          detail: `Event ${eventId} has ${MAX_TIERS_PER_EVENT} ticket tiers, the most an event may have.`
        })
        if (!exists) return undefined
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
      })
    },

    /**
     * Applies the changes under the tier's lock. A new capacity moves `remaining` by the same
     * amount, and is refused below what is taken (confirmed and live holds: capacity - remaining,
     * once lapsed holds are back).
     */
    async update (id: string, changes: TicketTierUpdate): Promise<TicketTier | undefined> {
      return await sql.begin(async (tx) => {
        await lockTiers(tx, [id])
        await releaseLapsedHolds(tx, [id])
        const [current] = await tx<{ capacity: number, remaining: number }[]>`
          select capacity, remaining from ticket_tiers where id = ${id}
        `
        if (current === undefined) return undefined
        const sold = current.capacity - current.remaining
        const capacity = changes.capacity ?? current.capacity
        if (capacity < sold) {
          throw new ProblemError(
            problemKinds.capacityBelowSold,
            `${sold} tickets of this tier are sold or held, so its capacity cannot go below ${sold}.`
          )
        }
        await tx`
          update ticket_tiers set
            name = coalesce(${changes.name ?? null}, name),
            price = coalesce(${changes.price ?? null}::integer, price),
            max_per_booking = coalesce(${changes.maxPerBooking ?? null}::integer, max_per_booking),
            capacity = ${capacity},
            remaining = ${capacity - sold}
          where id = ${id}
        `
        const tiers = await tx<TicketTier[]>`
          select ${tierColumns(tx)} from ticket_tiers t join events e on e.id = t.event_id where t.id = ${id}
        `
        const [tier] = await countLapsedHolds(tx, tiers)
        return tier
      })
    }
  }
}
