import { lockBelowLimit } from '../../db/collection-limit.js'
import { sharedReads } from '../../db/shared-reads.js'
import type { Queryable, Sql } from '../../db/sql.js'
import { MAX_TIERS_PER_EVENT, type TicketTier, type TicketTierCreate, type TicketTierUpdate } from '../../schemas/ticket-tiers.js'
import { changeTier, insertTier, withLapsedHoldsReturned } from './stock.js'

const tierColumns = (q: Queryable) => q`
  t.id, e.id as event_id, t.name, t.price, e.currency, t.capacity, t.remaining, t.held, t.max_per_booking
`

export function createTicketTiersRepository (sql: Sql) {
  /**
   * The event's tiers in creation order, or undefined when the event does not exist, in one query:
   * a lapsed hold's tickets count as `remaining` from the instant it lapses (withLapsedHoldsReturned,
   * here as a lateral sum that PostgreSQL skips, by a one-time filter, for a tier holding nothing).
   * Shared by identical reads that arrive together (see sharedReads).
   */
  const listByEvent = sharedReads(async (eventId: string): Promise<TicketTier[] | undefined> => {
    const rows = await sql<(Omit<TicketTier, 'id'> & { id: string | null })[]>`
      select t.id, e.id as event_id, t.name, t.price, e.currency, t.capacity,
        t.remaining + coalesce(l.quantity, 0) as remaining, t.held - coalesce(l.quantity, 0) as held, t.max_per_booking
      from events e
      left join ticket_tiers t on t.event_id = e.id
      left join lateral (
        select sum(i.quantity)::int as quantity from booking_items i
        where t.held > 0 and i.ticket_tier_id = t.id
          and i.hold_expires_at is not null and not i.released and i.hold_expires_at <= statement_timestamp()
      ) l on true
      where e.id = ${eventId}
      order by t.creation_seq
    `
    if (rows.length === 0) return undefined
    return rows.filter((row): row is TicketTier => row.id !== null)
  }, (eventId) => eventId)

  return {
    listByEvent,

    /**
     * Adds a tier; undefined when the event does not exist, a 409 limit-reached when it has
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
        return exists ? await insertTier(tx, eventId, input) : undefined
      })
    },

    /** Applies the changes under the tier's lock (see changeTier); undefined when the tier does not exist. */
    async update (id: string, changes: TicketTierUpdate): Promise<TicketTier | undefined> {
      return await sql.begin(async (tx) => {
        if (!await changeTier(tx, id, changes)) return undefined
        const tiers = await tx<TicketTier[]>`
          select ${tierColumns(tx)} from ticket_tiers t join events e on e.id = t.event_id where t.id = ${id}
        `
        const [tier] = await withLapsedHoldsReturned(tx, tiers)
        return tier
      })
    }
  }
}
