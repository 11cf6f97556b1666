import { randomUUID } from 'node:crypto'
import type { Queryable } from '../../db/sql.js'
import type { Booking } from '../../schemas/bookings.js'
import { PING_EVENT_TYPE, type WebhookEventType } from '../../schemas/webhooks.js'

/** A change to a booking that integrators hear about. */
export interface BookingEvent {
  type: WebhookEventType
  /** The booking as clients see it right after the change. */
  booking: Booking
}

function eventBody (id: string, type: string, createdAt: string, data: unknown): string {
  return JSON.stringify({ id, type, createdAt, data })
}

/** An event of one booking (or one of its tickets), sent to the booking's integrator: `data` is its body's `data`. */
export interface OutboxEvent {
  type: WebhookEventType
  bookingId: string
  data: unknown
}

/**
 * Whether any of these bookings' integrators has an enabled endpoint: when none has, recordEvents
 * stores nothing. The question is sent at once, so a caller may pipeline it after its other
 * statements and hand the answer to recordEvents, which then asks nothing.
 */
export async function anySubscribed (tx: Queryable, bookingIds: string[]): Promise<boolean> {
  if (bookingIds.length === 0) return false
  const [row] = await tx<{ any: boolean }[]>`
    select exists (
      select 1 from bookings b join webhook_endpoints w on w.integrator_id = b.integrator_id and not w.disabled
      where b.id = any(${bookingIds}::uuid[])
    ) as any
  `.execute()
  return row?.any === true
}

/** Records booking events (see recordEvents); `subscribed`, when known, is anySubscribed's answer for them. */
export async function recordBookingEvents (tx: Queryable, events: BookingEvent[], subscribed?: boolean): Promise<void> {
  await recordEvents(tx, events.map((event) => ({ type: event.type, bookingId: event.booking.id, data: { booking: event.booking } })), subscribed)
}

/**
 * The transactional outbox: records events inside the caller's transaction `tx`, with a pending
 * delivery for every enabled endpoint of the booking's integrator subscribed to the type. They
 * commit or roll back with the change; on commit a trigger's NOTIFY wakes the dispatchers. An
 * event nobody subscribed to is not stored; when none of the bookings' integrators has an
 * endpoint, that takes one small query.
 */
export async function recordEvents (tx: Queryable, events: OutboxEvent[], subscribed?: boolean): Promise<void> {
  if (events.length === 0) return
  // Most bookings have no endpoint to hear of them: find that out before building and sending bodies.
  if (!(subscribed ?? await anySubscribed(tx, events.map((event) => event.bookingId)))) return
  const createdAt = new Date().toISOString()
  const rows = events.map((event) => {
    const id = randomUUID()
    return { id, type: event.type, bookingId: event.bookingId, body: eventBody(id, event.type, createdAt, event.data) }
  })
  await tx`
    with subscribed as (
      select x.id, b.integrator_id, x.type, x.booking_id, x.body
      from unnest(
        ${rows.map((row) => row.id)}::uuid[], ${rows.map((row) => row.type)}::text[],
        ${rows.map((row) => row.bookingId)}::uuid[], ${rows.map((row) => row.body)}::text[]
      ) as x(id, type, booking_id, body)
      join bookings b on b.id = x.booking_id
      where exists (
        select 1 from webhook_endpoints w
        where w.integrator_id = b.integrator_id and not w.disabled and x.type = any(w.events)
      )
    ), events as (
      insert into webhook_events (id, integrator_id, type, booking_id, body, created_at)
      select id, integrator_id, type, booking_id, body, ${createdAt}::timestamptz from subscribed
      returning id, integrator_id, type
    )
    insert into webhook_deliveries (event_id, endpoint_id)
    select e.id, w.id
    from events e join webhook_endpoints w
      on w.integrator_id = e.integrator_id and not w.disabled and e.type = any(w.events)
  `
}

/** Records a `webhook.ping` event for one endpoint and its delivery; returns the delivery's id. */
export async function recordPing (tx: Queryable, endpoint: { id: string, integratorId: string }): Promise<string> {
  const id = randomUUID()
  const createdAt = new Date().toISOString()
  const [delivery] = await tx<{ id: string }[]>`
    with event as (
      insert into webhook_events (id, integrator_id, type, body, created_at)
      values (${id}, ${endpoint.integratorId}, ${PING_EVENT_TYPE}, ${eventBody(id, PING_EVENT_TYPE, createdAt, { endpointId: endpoint.id })}, ${createdAt})
      returning id
    )
    insert into webhook_deliveries (event_id, endpoint_id) select id, ${endpoint.id} from event
    returning id
  `
  if (delivery === undefined) throw new Error('the ping delivery was not inserted')
  return delivery.id
}
