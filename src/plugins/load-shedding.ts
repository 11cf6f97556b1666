import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError, problemKinds } from '../problems.js'

export interface LoadSheddingOptions {
  /** Most API requests in progress at once; beyond it new ones get a 503 at once. */
  maxInFlight: number
}

/**
 * Bounds the work waiting on the database pool: when `maxInFlight` requests to the routes of the
 * scope it is registered in are already in progress (the pool is exhausted and requests are piling
 * up), new ones are refused at once with a 503 problem and Retry-After instead of queueing without end.
 */
export default fp(async function loadShedding (app: FastifyInstance, { maxInFlight }: LoadSheddingOptions) {
  let inFlight = 0
  app.addHook('onRequest', async function shedLoad (request, reply) {
    if (inFlight >= maxInFlight) {
      throw new ProblemError(problemKinds.unavailable, 'The server is at capacity; retry shortly.', {}, { 'Retry-After': '1' })
    }
    inFlight++
    reply.raw.once('close', () => { inFlight-- })
  })
}, { name: 'load-shedding', dependencies: ['problems'] })
