import { randomUUID } from 'node:crypto'
import type { Queryable } from '../../db/sql.js'
import { ProblemError, notFoundProblem, problemKinds, validationProblem } from '../../problems.js'
import type { Booking } from '../../schemas/bookings.js'
import { dbSpan } from '../../tracing.js'
import { lockStock, type StockedTier } from '../ticket-tiers/stock.js'
import type { TicketCodes } from '../tickets/codes.js'
import type { PreparedTicket } from '../tickets/issuing.js'
import { readBooking } from './booking-reads.js'
import type { BookingRequest } from './booking-request.js'
import { createBookings, type NewBooking } from './lifecycle.js'

export type BatchOutcome =
  | { outcome: 'created', booking: Booking }
  | { outcome: 'replayed', booking: Booking }
  | { outcome: 'failed', problem: ProblemError }

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
function check (request: BookingRequest, tiers: Map<string, StockedTier>): ProblemError | undefined {
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

/** Idempotency keys are unique per integrator: this names one (and its advisory lock). */
function keyOf (request: BookingRequest): string | undefined {
  return request.clientReference === undefined ? undefined : `${request.integratorId}:${request.clientReference}`
}

/**
 * Claims the batch's idempotency keys with transaction-scoped advisory locks (a key another
 * transaction holds is in flight), and finds the bookings earlier requests made with them. Both
 * statements are sent at once, in this order (PostgreSQL runs the look-up after the claims, so it
 * sees what a previous holder of a key committed); the caller may send more after them before it
 * awaits the answer.
 */
function claimKeys (tx: Queryable, requests: BookingRequest[]): Promise<{ claimed: Set<string>, earlier: Map<string, { id: string, fingerprint: string }> }> {
  const keys = new Map(requests.flatMap((request) => {
    const key = keyOf(request)
    return key === undefined ? [] : [[key, { integratorId: request.integratorId, clientReference: request.clientReference as string }] as const]
  }))
  const claimed = new Set<string>()
  const earlier = new Map<string, { id: string, fingerprint: string }>()
  if (keys.size === 0) return Promise.resolve({ claimed, earlier })
  const all = [...keys.values()]
  const claims = tx<{ key: string, acquired: boolean }[]>`
    select key, pg_try_advisory_xact_lock(hashtextextended('booking:' || key, 0)) as acquired
    from unnest(${[...keys.keys()]}::text[]) as key
  `.execute()
  const previous = tx<{ integratorId: string, clientReference: string, id: string, requestFingerprint: string }[]>`
    select b.integrator_id, b.client_reference, b.id, b.request_fingerprint
    from bookings b join unnest(${all.map((key) => key.integratorId)}::uuid[], ${all.map((key) => key.clientReference)}::text[]) as k(integrator_id, client_reference)
      on b.integrator_id = k.integrator_id and b.client_reference = k.client_reference
  `.execute()
  return Promise.all([claims, previous]).then(([claimRows, previousRows]) => {
    for (const claim of claimRows) if (claim.acquired) claimed.add(claim.key)
    // Only a claimed key's earlier booking counts: another key is in flight, whatever it finds.
    for (const row of previousRows) {
      const key = `${row.integratorId}:${row.clientReference}`
      if (claimed.has(key)) earlier.set(key, { id: row.id, fingerprint: row.requestFingerprint })
    }
    return { claimed, earlier }
  })
}

/**
 * Decides booking requests together inside the caller's transaction `tx`: their tiers are locked
 * once, in id order; each request is judged in arrival order against what the ones before it
 * left, and booked all-or-nothing; the accepted ones are written together (lifecycle.ts).
 *
 * Idempotency keys are claimed with transaction-scoped advisory locks, so a key being decided by
 * another transaction is "in flight"; a key used earlier in the same batch replays (or refuses)
 * exactly as if the first request had committed before.
 */
export async function decideBatch (tx: Queryable, codes: TicketCodes, requests: Array<BookingRequest & { tickets: PreparedTicket[] }>): Promise<BatchOutcome[]> {
  const outcomes: (BatchOutcome | undefined)[] = requests.map(() => undefined)
  const fail = (index: number, problem: ProblemError): void => { outcomes[index] = { outcome: 'failed', problem } }

  // One round trip: the keys' claims, the events and the tiers' locks are sent together, in this order.
  const [{ claimed, earlier }, events, tiers] = await dbSpan('claim keys, read events, lock tiers', async () => {
    const keys = claimKeys(tx, requests)
    const eventIds = [...new Set(requests.map((request) => request.eventId))]
    const eventRows = tx<{ id: string, currency: string }[]>`
      select id, currency from events where id in ${tx(eventIds)}
    `.execute()
    const stock = lockStock(tx, [...new Set(requests.flatMap((request) => request.items.map((item) => item.ticketTierId)))])
    return await Promise.all([keys, eventRows.then((rows) => new Map(rows.map((event) => [event.id, event.currency]))), stock])
  })

  const planned: Array<NewBooking & { index: number }> = []
  const bookedHere = new Map<string, { id: string, fingerprint: string }>()
  const replayOf = new Map<number, string>()
  requests.forEach((request, index) => {
    const key = keyOf(request)
    if (key !== undefined) {
      if (!claimed.has(key)) return fail(index, inFlight())
      const before = earlier.get(key) ?? bookedHere.get(key)
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

    const lines = request.items.map((item) => {
      const tier = tiers.get(item.ticketTierId) as StockedTier
      tier.remaining -= item.quantity
      return { ticketTierId: tier.id, tierName: tier.name, quantity: item.quantity, unitPrice: tier.price }
    })
    const booking = { index, id: randomUUID(), request, currency, lines, tickets: request.tickets }
    planned.push(booking)
    if (key !== undefined) bookedHere.set(key, { id: booking.id, fingerprint: request.fingerprint })
  })

  const created = await createBookings(tx, codes, planned)
  const byId = new Map(created.map((booking) => [booking.id, booking]))
  planned.forEach((booking, position) => {
    outcomes[booking.index] = { outcome: 'created', booking: created[position] as Booking }
  })
  for (const [index, bookingId] of replayOf) {
    const booking = byId.get(bookingId) ?? await dbSpan('read replayed booking', async () => await readBooking(tx, bookingId))
    if (booking === undefined) throw new Error(`replayed booking ${bookingId} vanished`)
    outcomes[index] = { outcome: 'replayed', booking }
  }

  return outcomes.map((outcome, index) => {
    if (outcome === undefined) throw new Error(`request ${index} of the batch was not decided`)
    return outcome
  })
}
