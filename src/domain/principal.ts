import type { Scope } from '../schemas/integrators.js'

/** Who made a request: an operator with an admin key, or an integrator with one of its keys. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'integrator', integratorId: string, keyId: string }

/** A live integrator key, as a bearer token turned out to be: what authentication checks scopes against. */
export interface IntegratorKey {
  id: string
  integratorId: string
  scopes: Scope[]
}
