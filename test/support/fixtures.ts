import { expect } from 'vitest'
import { DEMO_EVENT_ID } from '../../src/db/seed.js'
import type { Queryable } from '../../src/db/sql.js'
import { PROBLEM_TYPE_PREFIX } from '../../src/problems.js'
import type { Event, EventCreate } from '../../src/schemas/events.js'
import type { TicketTier, TicketTierCreate } from '../../src/schemas/ticket-tiers.js'
import { asAdmin } from './app.js'

/** The `type` of one of this API's problems, e.g. `problemType('not-found')`. */
export function problemType (slug: string): string {
  return `${PROBLEM_TYPE_PREFIX}${slug}`
}

/** The demo seed's tiers (src/db/seed.ts), for a database seeded with seedDemo. */
export const DEMO_TIER_IDS = {
  vip: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71',
  generalAdmission: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f72',
  balcony: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73'
} as const

/** A booking of one general admission ticket of the demo event. */
export const DEMO_BOOKING = { eventId: DEMO_EVENT_ID, items: [{ ticketTierId: DEMO_TIER_IDS.generalAdmission, quantity: 1 }] }

/** What admin requests go to: the test app, another app on a file's database, or a server over HTTP (`overHttp`). */
export interface AdminClient {
  inject: (request: AdminRequest) => Promise<{ statusCode: number, body: string, json: () => unknown }>
}

interface AdminRequest { method: 'POST', url: string, headers: Record<string, string>, payload: object }

/** `inject` for a server that runs in another process, through `fetch`. */
export function overHttp (base: string): AdminClient {
  return {
    inject: async ({ method, url, headers, payload }) => {
      const response = await fetch(`${base}${url}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(payload) })
      const body = await response.text()
      return { statusCode: response.status, body, json: () => JSON.parse(body) as unknown }
    }
  }
}

async function created<T> (client: AdminClient, url: string, payload: object, headers: Record<string, string>): Promise<T> {
  const response = await client.inject({ method: 'POST', url, headers, payload })
  expect(response.statusCode, `POST ${url}: ${response.body}`).toBe(201)
  return response.json() as T
}

/** Creates an event through the admin API (any field can be given); fails the test unless it is a 201. */
export async function createEvent (client: AdminClient, fields: Partial<EventCreate> = {}, headers: Record<string, string> = asAdmin): Promise<Event> {
  return await created<Event>(client, '/api/events', { name: 'Test night', venue: 'Hall', startsAt: '2027-05-01T20:00:00Z', currency: 'EUR', ...fields }, headers)
}

/** Creates a tier of the event through the admin API (GA, price 1000, 100 tickets, unless given); fails the test unless it is a 201. */
export async function createTier (client: AdminClient, eventId: string, fields: Partial<TicketTierCreate> = {}, headers: Record<string, string> = asAdmin): Promise<TicketTier> {
  return await created<TicketTier>(client, `/api/events/${eventId}/ticket-tiers`, { name: 'GA', price: 1000, capacity: 100, ...fields }, headers)
}

/** An event (`event` fields) with a tier for each entry of `tiers`, created one after another in that order. */
export async function createEventWithTiers (
  client: AdminClient,
  tiers: Partial<TicketTierCreate>[],
  { event = {}, headers = asAdmin }: { event?: Partial<EventCreate>, headers?: Record<string, string> } = {}
): Promise<{ eventId: string, tiers: TicketTier[] }> {
  const { id: eventId } = await createEvent(client, event, headers)
  const made: TicketTier[] = []
  for (const fields of tiers) made.push(await createTier(client, eventId, fields, headers))
  return { eventId, tiers: made }
}

/** An event (`event` fields) with one tier (`tier` fields): their ids. */
export async function createEventWithTier (
  client: AdminClient,
  tier: Partial<TicketTierCreate> = {},
  { event = {}, headers = asAdmin }: { event?: Partial<EventCreate>, headers?: Record<string, string> } = {}
): Promise<{ eventId: string, tierId: string }> {
  const { id: eventId } = await createEvent(client, event, headers)
  const { id: tierId } = await createTier(client, eventId, tier, headers)
  return { eventId, tierId }
}

/** A tier's `remaining` as stored. */
export async function remaining (sql: Queryable, tierId: string): Promise<number> {
  const [row] = await sql<{ remaining: number }[]>`select remaining from ticket_tiers where id = ${tierId}`
  if (row === undefined) throw new Error(`tier ${tierId} not found`)
  return row.remaining
}

/** Where a tier's tickets are, as the database records them. */
export interface Ledger {
  capacity: number
  /** `remaining` as stored. */
  remaining: number
  /** Tickets of confirmed bookings. */
  confirmed: number
  /** Tickets not given back yet from holds, live or lapsed (held or expired, not released). */
  unreleased: number
  /** Every ticket of every booking item of the tier, whatever its booking's status. */
  items: number
  /** Bookings of the tier's event without a single item (a booking written by halves). */
  emptyBookings: number
}

/**
 * The tier's ledger. Fails the test unless it balances: capacity = remaining + confirmed +
 * unreleased (nothing lost, nothing sold twice), and the tier's `held` counter equals the tickets
 * of its live holds.
 */
export async function ledger (sql: Queryable, tierId: string): Promise<Ledger> {
  const [row] = await sql<(Ledger & { heldCounter: number, inHolds: number })[]>`
    select t.capacity, t.remaining, t.held as held_counter,
      coalesce((select sum(i.quantity) from booking_items i join bookings b on b.id = i.booking_id
                where i.ticket_tier_id = t.id and b.status = 'held' and not i.released), 0)::int as in_holds,
      coalesce((select sum(i.quantity) from booking_items i join bookings b on b.id = i.booking_id
                where i.ticket_tier_id = t.id and b.status = 'confirmed'), 0)::int as confirmed,
      coalesce((select sum(i.quantity) from booking_items i join bookings b on b.id = i.booking_id
                where i.ticket_tier_id = t.id and b.status in ('held', 'expired') and not i.released), 0)::int as unreleased,
      coalesce((select sum(i.quantity) from booking_items i where i.ticket_tier_id = t.id), 0)::int as items,
      (select count(*)::int from bookings b
       where b.event_id = t.event_id and not exists (select 1 from booking_items i where i.booking_id = b.id)) as empty_bookings
    from ticket_tiers t where t.id = ${tierId}
  `
  if (row === undefined) throw new Error(`tier ${tierId} not found`)
  const { heldCounter, inHolds, ...totals } = row
  expect(totals.remaining + totals.confirmed + totals.unreleased, `tier ${tierId}: capacity = remaining + confirmed + unreleased`).toBe(totals.capacity)
  expect(heldCounter, `tier ${tierId}: the held counter`).toBe(inHolds)
  return totals
}
