import type { PreparedTicket } from '../tickets/issuing.js'
import { hash } from 'node:crypto'
import { validationProblem, type FieldError } from '../../problems.js'
import type { BookingCreate } from '../../schemas/bookings.js'

export interface RequestedItem {
  /** Index in the request's `items`, for error paths. */
  index: number
  ticketTierId: string
  quantity: number
}

export interface BookingRequest {
  /** The integrator making the booking; idempotency keys are unique per integrator. */
  integratorId: string
  eventId: string
  items: RequestedItem[]
  /** The idempotency key: the Idempotency-Key header or `clientReference`. */
  clientReference: string | undefined
  hold: { ttlSeconds: number } | undefined
  /** Hash of the request's meaning; equal for equal JSON values whatever the key or item order. */
  fingerprint: string
  /**
   * Its tickets (with their codes, for a booking confirmed at once), prepared from the request's
   * arrival while it waits for a batch; when absent, the batch prepares them.
   */
  preparedTickets?: Promise<PreparedTicket[]>
}

/**
 * Checks what the schema cannot (header and body keys agree, no tier twice) and puts the request
 * in canonical form: UUIDs in lower case, items in request order; the fingerprint takes them in
 * tier id order, so the same items in another order are the same request.
 */
export function toBookingRequest (body: BookingCreate, idempotencyKey: string | undefined, integratorId: string): BookingRequest {
  if (idempotencyKey !== undefined && body.clientReference !== undefined && idempotencyKey !== body.clientReference) {
    throw validationProblem(
      [{ path: '/clientReference', message: 'must equal the Idempotency-Key header when both are sent' }],
      'The Idempotency-Key header and clientReference differ.'
    )
  }

  const firstIndex = new Map<string, number>()
  const errors: FieldError[] = []
  const items = body.items.map((item, index) => {
    const ticketTierId = item.ticketTierId.toLowerCase()
    const first = firstIndex.get(ticketTierId)
    if (first === undefined) firstIndex.set(ticketTierId, index)
    else errors.push({ path: `/items/${index}/ticketTierId`, message: `repeats the tier of /items/${first}; book each tier once with the total quantity` })
    return { index, ticketTierId, quantity: item.quantity }
  })
  if (errors.length > 0) throw validationProblem(errors, 'The request body is not valid: a ticket tier appears more than once.')

  const eventId = body.eventId.toLowerCase()
  const canonical = JSON.stringify({
    eventId,
    items: [...items].sort((a, b) => a.ticketTierId < b.ticketTierId ? -1 : a.ticketTierId > b.ticketTierId ? 1 : 0)
      .map(({ ticketTierId, quantity }) => [ticketTierId, quantity]),
    ...(body.hold === undefined ? {} : { holdSeconds: body.hold.ttlSeconds })
  })
  return {
    integratorId,
    eventId,
    items,
    clientReference: idempotencyKey ?? body.clientReference,
    hold: body.hold,
    fingerprint: hash('sha256', canonical, 'base64url')
  }
}
