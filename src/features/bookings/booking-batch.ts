import { randomUUID } from 'node:crypto'
import type { Queryable } from '../../db/sql.js'
import { ProblemError, notFoundProblem, problemKinds, validationProblem } from '../../problems.js'
import type { Booking } from '../../schemas/bookings.js'
import { readBooking, toBooking } from './booking-reads.js'
import type { BookingRequest } from './booking-request.js'
import { releaseLapsedHolds } from './holds.js'
import { recordBookingEvents } from '../webhooks/outbox.js'

export type BatchOutcome =
  | { outcome: 'created', booking: Booking }
  | { outcome: 'replayed', booking: Booking }
  | { outcome: 'failed', problem: ProblemError }

interface Tier {
  id: string
  eventId: string
  name: string
  price: number
  remaining: number
  maxPerBooking: number
}

interface Planned {
  index: number
  id: string
  request: BookingRequest
  currency: string
  total: number
  lines: { ticketTierId: string, tierName: string, quantity: number, unitPrice: number }[]
}

function inFlight (): ProblemError {
  return new ProblemError(
    problemKinds.idempotencyKeyInFlight,
    'Another request with this idempotency key is being processed; retry shortly to get its result.',
    {},
    { 'Retry-After': '1' }
  )
}

function keyReused (bookingId: string): ProblemError {
  return new ProblemError(
    problemKinds.idempotencyKeyReuse,
    `The idempotency key was already used for booking ${bookingId} with a different request.`
  )
}

/** Judges one request against the tiers as this batch has left them; undefined when it can be booked. */
function check (request: BookingRequest, tiers: Map<string, Tier>): ProblemError | undefined {
  const foreign = request.items.filter((item) => tiers.get(item.ticketTierId)?.eventId !== request.eventId)
  if (foreign.length > 0) {
    const ids = foreign.map((item) => item.ticketTierId)
    return new ProblemError(
      problemKinds.tierNotInEvent,
      `Ticket tier ${ids.join(', ')} is not a tier of event ${request.eventId}.`,
      { ticketTierIds: ids }
    )
  }

  const tooMany = request.items.filter((item) => item.quantity > (tiers.get(item.ticketTierId)?.maxPerBooking ?? 0))
  if (tooMany.length > 0) {
    return validationProblem(
      tooMany.map((item) => ({
        path: `/items/${item.index}/quantity`,
        message: `must be <= ${tiers.get(item.ticketTierId)?.maxPerBooking ?? 0}, the tier's maxPerBooking`
      })),
      'The request body is not valid: a quantity is above its tier\'s maxPerBooking.'
    )
  }

  const shortages = request.items
    .map((item) => ({ ticketTierId: item.ticketTierId, requested: item.quantity, remaining: tiers.get(item.ticketTierId)?.remaining ?? 0 }))
    .filter((shortage) => shortage.requested > shortage.remaining)
  if (shortages.length > 0) {
    return new ProblemError(
      problemKinds.insufficientInventory,
      `Not enough tickets remain for ${shortages.length === 1 ? 'one tier' : `${shortages.length} tiers`}; nothing was booked.`,
      { shortages }
    )
  }
  return undefined
}

/**
 * Decides booking requests together inside the caller's transaction `tx`: their tiers are locked
 * once, in id order; each request is judged in arrival order against what the ones before it
 * left, and booked all-or-nothing; the accepted ones are written with one statement per table.
 *
 * Idempotency keys are claimed with transaction-scoped advisory locks, so a key being decided by
 * another transaction is "in flight"; a key used earlier in the same batch replays (or refuses)
 * exactly as if the first request had committed before. Each new booking's `booking.created`
 * event goes into the webhook outbox in the same transaction.
 */
export async function decideBatch (tx: Queryable, requests: BookingRequest[]): Promise<BatchOutcome[]> {
  const outcomes: (BatchOutcome | undefined)[] = requests.map(() => undefined)
  const fail = (index: number, problem: ProblemError): void => { outcomes[index] = { outcome: 'failed', problem } }

  // Keys are unique per integrator: `${integratorId}:${clientReference}` names one.
  const keyOf = (request: BookingRequest): string | undefined =>
    request.clientReference === undefined ? undefined : `${request.integratorId}:${request.clientReference}`
  const keys = [...new Set(requests.flatMap((request) => keyOf(request) ?? []))]
  const claimed = new Set<string>()
  const earlier = new Map<string, { id: string, fingerprint: string }>()
  if (keys.length > 0) {
    const claims = await tx<{ key: string, acquired: boolean }[]>`
      select key, pg_try_advisory_xact_lock(hashtextextended('booking:' || key, 0)) as acquired
      from unnest(${keys}::text[]) as key
    `
    for (const claim of claims) if (claim.acquired) claimed.add(claim.key)
    const owners = [...claimed].map((key) => key.slice(0, key.indexOf(':')))
    const references = [...claimed].map((key) => key.slice(key.indexOf(':') + 1))
    const previous = await tx<{ integratorId: string, clientReference: string, id: string, requestFingerprint: string }[]>`
      select b.integrator_id, b.client_reference, b.id, b.request_fingerprint
      from bookings b join unnest(${owners}::uuid[], ${references}::text[]) as k(integrator_id, client_reference)
        on b.integrator_id = k.integrator_id and b.client_reference = k.client_reference
    `
    for (const row of previous) earlier.set(`${row.integratorId}:${row.clientReference}`, { id: row.id, fingerprint: row.requestFingerprint })
  }

  const eventIds = [...new Set(requests.map((request) => request.eventId))]
  const events = new Map((await tx<{ id: string, currency: string }[]>`
    select id, currency from events where id in ${tx(eventIds)}
  `).map((event) => [event.id, event.currency]))

  // Locks are always taken in tier id order, so transactions sharing tiers cannot deadlock.
  const tierIds = [...new Set(requests.flatMap((request) => request.items.map((item) => item.ticketTierId)))].sort()
  const tiers = new Map((await tx<Tier[]>`
    select id, event_id, name, price, remaining, max_per_booking
    from ticket_tiers where id in ${tx(tierIds)} order by id for update
  `).map((tier) => [tier.id, tier]))
  for (const freed of await releaseLapsedHolds(tx, tierIds)) {
    const tier = tiers.get(freed.ticketTierId)
    if (tier !== undefined) tier.remaining += freed.quantity
  }

  const planned: Planned[] = []
  const bookedHere = new Map<string, Planned>()
  const replayOf = new Map<number, string>()
  requests.forEach((request, index) => {
    const key = keyOf(request)
    if (key !== undefined) {
      if (!claimed.has(key)) return fail(index, inFlight())
      const here = bookedHere.get(key)
      const before = earlier.get(key) ?? (here === undefined ? undefined : { id: here.id, fingerprint: here.request.fingerprint })
      if (before !== undefined) {
        if (before.fingerprint !== request.fingerprint) return fail(index, keyReused(before.id))
        replayOf.set(index, before.id)
        return
      }
    }
    const currency = events.get(request.eventId)
    if (currency === undefined) return fail(index, notFoundProblem(`Event ${request.eventId} does not exist.`))
    const problem = check(request, tiers)
    if (problem !== undefined) return fail(index, problem)

    const lines = [...request.items].sort((a, b) => a.index - b.index).map((item) => {
      const tier = tiers.get(item.ticketTierId) as Tier
      tier.remaining -= item.quantity
      return { ticketTierId: tier.id, tierName: tier.name, quantity: item.quantity, unitPrice: tier.price }
    })
    const booking: Planned = {
      index,
      id: randomUUID(),
      request,
      currency,
      total: lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0),
      lines
    }
    planned.push(booking)
    if (key !== undefined) bookedHere.set(key, booking)
  })

  if (planned.length > 0) {
    const taken = planned.flatMap((booking) => booking.lines.map((line) => ({ ...line, held: booking.request.hold === undefined ? 0 : line.quantity })))
    await tx`
      update ticket_tiers t set remaining = t.remaining - d.quantity, held = t.held + d.held
      from (
        select id, sum(quantity)::int as quantity, sum(held)::int as held
        from unnest(
          ${taken.map((line) => line.ticketTierId)}::uuid[], ${taken.map((line) => line.quantity)}::int[], ${taken.map((line) => line.held)}::int[]
        ) as x(id, quantity, held)
        group by id
      ) d
      where t.id = d.id
    `
    const inserted = await tx<{ id: string, createdAt: Date, expiresAt: Date | null }[]>`
      insert into bookings (id, integrator_id, event_id, client_reference, request_fingerprint, status, total, currency, expires_at)
      select id, integrator_id, event_id, reference, fingerprint,
        case when ttl is null then 'confirmed' else 'held' end,
        total, currency,
        case when ttl is null then null else clock_timestamp() + make_interval(secs => ttl) end
      from unnest(
        ${planned.map((booking) => booking.id)}::uuid[],
        ${planned.map((booking) => booking.request.integratorId)}::uuid[],
        ${planned.map((booking) => booking.request.eventId)}::uuid[],
        ${planned.map((booking) => booking.request.clientReference ?? null)}::text[],
        ${planned.map((booking) => booking.request.clientReference === undefined ? null : booking.request.fingerprint)}::text[],
        ${planned.map((booking) => booking.total)}::bigint[],
        ${planned.map((booking) => booking.currency)}::text[],
        ${planned.map((booking) => booking.request.hold?.ttlSeconds ?? null)}::int[]
      ) as b(id, integrator_id, event_id, reference, fingerprint, total, currency, ttl)
      returning id, created_at, expires_at
    `
    const positions = planned.flatMap((booking) => booking.lines.map((line, position) => ({ bookingId: booking.id, position, ...line })))
    await tx`
      insert into booking_items (booking_id, position, ticket_tier_id, tier_name, quantity, unit_price, hold_expires_at)
      select x.*, b.expires_at
      from unnest(
        ${positions.map((line) => line.bookingId)}::uuid[],
        ${positions.map((line) => line.position)}::smallint[],
        ${positions.map((line) => line.ticketTierId)}::uuid[],
        ${positions.map((line) => line.tierName)}::text[],
        ${positions.map((line) => line.quantity)}::int[],
        ${positions.map((line) => line.unitPrice)}::int[]
      ) as x(booking_id, position, ticket_tier_id, tier_name, quantity, unit_price)
      join bookings b on b.id = x.booking_id
    `
    const times = new Map(inserted.map((row) => [row.id, row]))
    for (const booking of planned) {
      const row = times.get(booking.id)
      if (row === undefined) throw new Error(`booking ${booking.id} was not inserted`)
      outcomes[booking.index] = {
        outcome: 'created',
        booking: toBooking({
          id: booking.id,
          eventId: booking.request.eventId,
          clientReference: booking.request.clientReference ?? null,
          status: booking.request.hold === undefined ? 'confirmed' : 'held',
          total: booking.total,
          currency: booking.currency,
          createdAt: row.createdAt,
          expiresAt: row.expiresAt,
          cancelledAt: null
        }, booking.lines.map((line) => ({ ...line, lineTotal: line.quantity * line.unitPrice })))
      }
    }
    await recordBookingEvents(tx, outcomes.flatMap((outcome) => outcome?.outcome === 'created' ? [{ type: 'booking.created' as const, booking: outcome.booking }] : []))
  }

  for (const [index, bookingId] of replayOf) {
    const here = planned.find((booking) => booking.id === bookingId)
    const created = here === undefined ? undefined : outcomes[here.index]
    const booking = created?.outcome === 'created' ? created.booking : await readBooking(tx, bookingId)
    if (booking === undefined) throw new Error(`replayed booking ${bookingId} vanished`)
    outcomes[index] = { outcome: 'replayed', booking }
  }

  return outcomes.map((outcome, index) => {
    if (outcome === undefined) throw new Error(`request ${index} of the batch was not decided`)
    return outcome
  })
}
