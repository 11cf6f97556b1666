import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * `compute` run at most once per request: every later call for the same request shares its answer.
 * The answer is kept on the request itself, in a slot `app` declares on every request (a
 * decoration: requests keep one shape, and nothing outlives the request).
 */
export function oncePerRequest<T> (app: FastifyInstance, compute: (request: FastifyRequest) => Promise<T>): (request: FastifyRequest) => Promise<T> {
  const slot = Symbol(compute.name)
  app.decorateRequest(slot, null)
  return function once (request) {
    // The slot is the decoration above, which fastify's types cannot name.
    const slots = request as unknown as Record<symbol, Promise<T> | null>
    const kept = slots[slot]
    if (kept !== null && kept !== undefined) return kept
    const answer = compute(request)
    slots[slot] = answer
    return answer
  }
}
