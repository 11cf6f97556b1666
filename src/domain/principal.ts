import type { Scope } from '../schemas/integrators.js'

/** Who made a request: an operator with an admin key, an integrator with one of its keys, or a scanning device of one event. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'integrator', integratorId: string, keyId: string }
  | { kind: 'scanner', eventId: string, keyId: string }

/** A live integrator key, as a bearer token turned out to be: what authentication checks scopes against. */
export interface IntegratorKey {
  id: string
  integratorId: string
  scopes: Scope[]
  /** The integrator's own rate limits, per key and minute; null: the service's defaults. */
  rateLimits: { requestsPerMinute: number, bookingsPerMinute: number } | null
}

/** A live scanner key, as a bearer token turned out to be: it works for its own event only. */
export interface ScannerKey {
  id: string
  eventId: string
}
