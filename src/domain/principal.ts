/** Who made a request: an operator with an admin key, or an integrator with one of its keys. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'integrator', integratorId: string, keyId: string }
