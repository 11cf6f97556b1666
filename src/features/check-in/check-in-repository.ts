import { lockBelowLimit } from '../../db/collection-limit.js'
import type { Sql } from '../../db/sql.js'
import type { ScannerKey as LiveScannerKey } from '../../domain/principal.js'
import type { PagePosition } from '../../pagination.js'
import { ProblemError, problemKinds } from '../../problems.js'
import {
  MAX_CHECK_IN_LISTS_PER_EVENT, MAX_SCANNER_KEYS_PER_EVENT, type CheckIn, type CheckInConflict, type CheckInList, type CheckInListCreate, type CheckInListStatus, type ScannerKey,
  type ScannerKeyCreated
} from '../../schemas/check-in.js'
import { bearerSecrets, digestKey } from '../integrators/api-keys.js'

/** Scanner keys: `tbs_…`, made and stored as integrator keys are. */
const scannerKeys = bearerSecrets('tbs_')

interface CheckInListRow {
  id: string
  eventId: string
  name: string
  ticketTierIds: string[] | null
  allowReentry: boolean
  createdAt: Date
}

interface ScannerKeyRow {
  id: string
  name: string
  prefix: string
  createdAt: Date
  revokedAt: Date | null
}

function toCheckInList (row: CheckInListRow): CheckInList {
  return {
    id: row.id,
    eventId: row.eventId,
    name: row.name,
    ticketTierIds: row.ticketTierIds,
    allowReentry: row.allowReentry,
    createdAt: row.createdAt.toISOString()
  }
}

function toScannerKey (row: ScannerKeyRow): ScannerKey {
  return { id: row.id, name: row.name, prefix: row.prefix, createdAt: row.createdAt.toISOString(), revokedAt: row.revokedAt?.toISOString() ?? null }
}

export function createCheckInRepository (sql: Sql) {
  const listColumns = sql`id, event_id, name, ticket_tier_ids::text[] as ticket_tier_ids, allow_reentry, created_at`
  const keyColumns = sql`id, name, prefix, created_at, revoked_at`

  return {
    /**
     * A new list of the event, or undefined when the event does not exist; a 422 tier-not-in-event
     * naming every tier that is not the event's, a 409 limit-reached past MAX_CHECK_IN_LISTS_PER_EVENT.
     */
    async createList (eventId: string, input: CheckInListCreate): Promise<CheckInList | undefined> {
      const tierIds = input.ticketTierIds ?? null
      return await sql.begin(async (tx) => {
        const exists = await lockBelowLimit(tx, {
          parent: { table: 'events', id: eventId },
          children: { table: 'check_in_lists', column: 'event_id' },
          limit: MAX_CHECK_IN_LISTS_PER_EVENT,
          detail: `Event ${eventId} has ${MAX_CHECK_IN_LISTS_PER_EVENT} check-in lists, the most an event may have.`
        })
        if (!exists) return undefined
        if (tierIds !== null) {
          const own = await tx<{ id: string }[]>`select id::text as id from ticket_tiers where event_id = ${eventId} and id = any(${tierIds}::uuid[])`
          const owned = new Set(own.map((row) => row.id))
          const foreign = tierIds.filter((id) => !owned.has(id.toLowerCase()))
          if (foreign.length > 0) {
            throw new ProblemError(problemKinds.tierNotInEvent, `Ticket tier ${foreign.join(', ')} is not a tier of event ${eventId}.`, { ticketTierIds: foreign })
          }
        }
        const [row] = await tx<CheckInListRow[]>`
          insert into check_in_lists (event_id, name, ticket_tier_ids, allow_reentry)
          values (${eventId}, ${input.name}, ${tierIds === null ? null : tierIds.map((id) => id.toLowerCase())}::uuid[], ${input.allowReentry ?? false})
          returning ${listColumns}
        `
        if (row === undefined) throw new Error('insert into check_in_lists returned no row')
        return toCheckInList(row)
      })
    },

    async findList (id: string): Promise<CheckInList | undefined> {
      const [row] = await sql<CheckInListRow[]>`select ${listColumns} from check_in_lists where id = ${id}`
      return row === undefined ? undefined : toCheckInList(row)
    },

    /** The event's lists in creation order; undefined when the event does not exist. */
    async listsOf (eventId: string): Promise<CheckInList[] | undefined> {
      const [event] = await sql`select 1 from events where id = ${eventId}`
      if (event === undefined) return undefined
      const rows = await sql<CheckInListRow[]>`select ${listColumns} from check_in_lists where event_id = ${eventId} order by created_at, id`
      return rows.map(toCheckInList)
    },

    /** A new key with its secret (returned this once), or undefined when the event does not exist. */
    async createKey (eventId: string, name: string): Promise<ScannerKeyCreated | undefined> {
      const { key, prefix, hash } = scannerKeys.generate()
      return await sql.begin(async (tx) => {
        const exists = await lockBelowLimit(tx, {
          parent: { table: 'events', id: eventId },
          children: { table: 'scanner_keys', column: 'event_id' },
          limit: MAX_SCANNER_KEYS_PER_EVENT,
          detail: `Event ${eventId} has ${MAX_SCANNER_KEYS_PER_EVENT} scanner keys, revoked ones included: the most it may have.`
        })
        if (!exists) return undefined
        const [row] = await tx<ScannerKeyRow[]>`
          insert into scanner_keys (event_id, name, prefix, key_hash) values (${eventId}, ${name}, ${prefix}, ${hash})
          returning ${keyColumns}
        `
        if (row === undefined) throw new Error('insert into scanner_keys returned no row')
        return { ...toScannerKey(row), key }
      })
    },

    /** The event's keys, oldest first, without secrets; undefined when the event does not exist. */
    async keysOf (eventId: string): Promise<ScannerKey[] | undefined> {
      const [event] = await sql`select 1 from events where id = ${eventId}`
      if (event === undefined) return undefined
      const rows = await sql<ScannerKeyRow[]>`select ${keyColumns} from scanner_keys where event_id = ${eventId} order by created_at, id`
      return rows.map(toScannerKey)
    },

    /** Revokes a key (again: no change); false when the event has no such key. */
    async revokeKey (eventId: string, keyId: string): Promise<boolean> {
      const rows = await sql`
        update scanner_keys set revoked_at = coalesce(revoked_at, clock_timestamp())
        where id = ${keyId} and event_id = ${eventId}
        returning id
      `
      return rows.length > 0
    },

    /**
     * Exact counts of a list, in one statement (one snapshot): `tickets` per tier are its confirmed
     * units (capacity less what remains and what sits in holds: one valid ticket each), admissions
     * and who is inside from the list's ticket states, conflicts from the recorded scans.
     * Undefined when there is no such list.
     */
    async status (listId: string): Promise<(CheckInListStatus & { eventId: string }) | undefined> {
      const rows = await sql<{ eventId: string, ticketTierId: string | null, tickets: number, admitted: number, inside: number, conflicts: number }[]>`
        with list as (
          select id, event_id, ticket_tier_ids from check_in_lists where id = ${listId}
        ), states as (
          select ticket_tier_id, count(*) filter (where first_check_in_id is not null)::int as admitted, count(*) filter (where inside)::int as inside
          from check_in_states where check_in_list_id = ${listId}
          group by ticket_tier_id
        )
        select l.event_id, t.id as ticket_tier_id, coalesce(t.capacity - t.remaining - t.held, 0)::int as tickets,
          coalesce(s.admitted, 0) as admitted, coalesce(s.inside, 0) as inside,
          (select count(*) from check_ins where check_in_list_id = ${listId} and result = 'conflict')::int as conflicts
        from list l
        left join ticket_tiers t on t.event_id = l.event_id and (l.ticket_tier_ids is null or t.id = any(l.ticket_tier_ids))
        left join states s on s.ticket_tier_id = t.id
        order by t.creation_seq
      `
      const first = rows[0]
      if (first === undefined) return undefined
      const byTier = rows.flatMap((row) => row.ticketTierId === null ? [] : [{ ticketTierId: row.ticketTierId, tickets: row.tickets, admitted: row.admitted, inside: row.inside }])
      const sum = (count: 'tickets' | 'admitted' | 'inside') => byTier.reduce((total, tier) => total + tier[count], 0)
      return { eventId: first.eventId, tickets: sum('tickets'), admitted: sum('admitted'), inside: sum('inside'), conflicts: first.conflicts, byTier }
    },

    /** A page of a list's conflicts in the order they were recorded, after `after`; undefined when there is no such list. */
    async conflicts (listId: string, limit: number, after: PagePosition | undefined) {
      const [list] = await sql<{ eventId: string }[]>`select event_id from check_in_lists where id = ${listId}`
      if (list === undefined) return undefined
      const rows = await sql<{ id: string, ticketId: string, first: CheckIn, nonce: string, scannedAt: Date, gate: string | null, recordedAt: Date }[]>`
        select c.id, c.ticket_id, f.check_in as first, c.nonce, c.scanned_at, c.gate, c.recorded_at
        from check_ins c join check_ins f on f.id = c.standing_check_in_id
        where c.check_in_list_id = ${listId} and c.result = 'conflict'
          ${after === undefined ? sql`` : sql`and (c.recorded_at, c.id) > (${after.at}, ${after.id})`}
        order by c.recorded_at, c.id
        limit ${limit + 1}
      `
      const data: Array<CheckInConflict & { id: string, recordedAt: string }> = rows.slice(0, limit).map((row) => ({
        id: row.id,
        recordedAt: row.recordedAt.toISOString(),
        ticketId: row.ticketId,
        first: row.first,
        second: { nonce: row.nonce, scannedAt: row.scannedAt.toISOString(), gate: row.gate, recordedAt: row.recordedAt.toISOString() }
      }))
      return { eventId: list.eventId, data, hasMore: rows.length > limit }
    },

    /** The live (unrevoked) key a bearer token is, found by its SHA-256 digest on every request; undefined for anything else. */
    async findLiveKey (token: string): Promise<LiveScannerKey | undefined> {
      if (!scannerKeys.looksLike(token)) return undefined
      const [key] = await sql<LiveScannerKey[]>`
        select id, event_id from scanner_keys where key_hash = ${digestKey(token)} and revoked_at is null
      `
      return key
    }
  }
}

export type CheckInRepository = ReturnType<typeof createCheckInRepository>
