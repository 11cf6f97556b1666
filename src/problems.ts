export const PROBLEM_TYPE_PREFIX = 'urn:ticket-booking:problem:'

export interface ProblemKind {
  type: string
  title: string
  status: number
}

function kind (slug: string, status: number, title: string): ProblemKind {
  return { type: `${PROBLEM_TYPE_PREFIX}${slug}`, title, status }
}

/** Every kind of error the API answers with; `type` never changes once published. */
export const problemKinds = {
  validation: kind('validation-error', 400, 'The request is not valid'),
  unauthorized: kind('unauthorized', 401, 'Authentication is required'),
  insufficientScope: kind('insufficient-scope', 403, 'The key may not do this'),
  notFound: kind('not-found', 404, 'The resource does not exist'),
  methodNotAllowed: kind('method-not-allowed', 405, 'The method is not allowed on this resource'),
  capacityBelowSold: kind('capacity-below-sold', 409, 'The capacity is below the tickets already sold'),
  insufficientInventory: kind('insufficient-inventory', 409, 'Not enough tickets remain'),
  holdExpired: kind('hold-expired', 409, 'The hold has expired'),
  bookingCancelled: kind('booking-cancelled', 409, 'The booking is cancelled'),
  limitReached: kind('limit-reached', 409, 'A limit on how many there may be is reached'),
  webhookEndpointDisabled: kind('webhook-endpoint-disabled', 409, 'The webhook endpoint is disabled'),
  ticketVoid: kind('ticket-void', 409, 'The ticket is void'),
  ticketPending: kind('ticket-pending', 409, 'The ticket has no code yet'),
  alreadyCheckedIn: kind('already-checked-in', 409, 'The ticket was admitted already'),
  codeRevoked: kind('code-revoked', 409, 'The code was revoked'),
  notInside: kind('not-inside', 409, 'The ticket is not inside'),
  keysConfigured: kind('keys-configured', 409, 'The signing keys are configured by the operator'),
  idempotencyKeyInFlight: kind('idempotency-key-in-flight', 409, 'A request with this idempotency key is still being processed'),
  tierNotInEvent: kind('tier-not-in-event', 422, 'A ticket tier does not belong to the event'),
  idempotencyKeyReuse: kind('idempotency-key-reuse', 422, 'The idempotency key was used for a different request'),
  ticketNotOnList: kind('ticket-not-on-list', 422, 'The check-in list does not admit the ticket\'s tier'),
  nonceReuse: kind('nonce-reuse', 422, 'The nonce was used for a different scan'),
  unknownCode: kind('unknown-code', 404, 'The code is not a ticket of this event'),
  payloadTooLarge: kind('payload-too-large', 413, 'The request body is too large'),
  unsupportedMediaType: kind('unsupported-media-type', 415, 'The request body must be JSON'),
  rateLimited: kind('rate-limited', 429, 'Too many requests'),
  clientError: kind('client-error', 400, 'The request cannot be processed'),
  internal: kind('internal-error', 500, 'An unexpected error occurred'),
  unavailable: kind('service-unavailable', 503, 'The service is temporarily unavailable')
} as const satisfies Record<string, ProblemKind>

export interface FieldError {
  path: string
  message: string
}

/** A failure a client can act on; the error handler turns it into problem details. */
export class ProblemError extends Error {
  constructor (
    readonly kind: ProblemKind,
    readonly detail?: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {}
  ) {
    super(detail ?? kind.title)
    this.name = 'ProblemError'
  }
}

export function validationProblem (errors: FieldError[], detail = 'The request has invalid fields.'): ProblemError {
  return new ProblemError(problemKinds.validation, detail, { errors })
}

/** Seconds a client is told to wait (Retry-After) before it tries again when the database cannot serve it. */
export const RETRY_AFTER_SECONDS = '2'

/** A 503 with Retry-After: the database cannot serve the request now (or the server cannot take more). */
export function unavailableProblem (detail: string, retryAfterSeconds = RETRY_AFTER_SECONDS): ProblemError {
  return new ProblemError(problemKinds.unavailable, detail, {}, { 'Retry-After': retryAfterSeconds })
}

export function notFoundProblem (detail: string): ProblemError {
  return new ProblemError(problemKinds.notFound, detail)
}
