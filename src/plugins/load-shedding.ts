import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { unavailableProblem } from '../problems.js'
import { sendProblem } from './problems.js'

export interface LoadSheddingOptions {
  /** Most API requests in progress at once; beyond it new ones get a 503 at once. */
  maxInFlight: number
  /**
   * Longest a request may take before it is answered with a 503 whatever its handler is waiting
   * for (a database that died mid-transaction can leave a query unsettled for ever).
   */
  deadlineMs: number
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: the route is answered even at capacity (the liveness probe, which touches nothing). */
    shedLoad?: false
  }
}

/** The contract: during a failover every request is answered within 15 s, a 503 at worst. */
export const REQUEST_DEADLINE_MS = 12_000

/**
 * Bounds the work waiting on the database, in number and in time. When `maxInFlight` requests to
 * the routes of the scope it is registered in are already in progress (the pool is exhausted and
 * requests are piling up), new ones are refused at once with a 503 problem and Retry-After instead
 * of queueing without end. A request still unanswered after `deadlineMs` is answered with a 503
 * then: whatever it waited on may still finish (a booking may have been made), which a retry with
 * the same Idempotency-Key tells.
 */
export default fp(async function loadShedding (app: FastifyInstance, { maxInFlight, deadlineMs }: LoadSheddingOptions) {
  let inFlight = 0
  app.addHook('onRequest', async function shedLoad (request, reply) {
    if (request.routeOptions.config?.shedLoad === false) return
    if (inFlight >= maxInFlight) {
      throw unavailableProblem('The server is at capacity; retry shortly.', '1')
    }
    inFlight++
    const overdue = setTimeout(() => {
      if (reply.sent) return
      request.log.warn({ deadlineMs, method: request.method, route: request.routeOptions.url }, 'request unanswered at its deadline: answered 503')
      void sendProblem(request, reply, unavailableProblem(
        'The database did not answer in time; retry shortly. A booking may have been made: retry with the same Idempotency-Key to find out.'))
    }, deadlineMs)
    reply.raw.once('close', () => {
      inFlight--
      clearTimeout(overdue)
    })
  })
}, { name: 'load-shedding', dependencies: ['problems'] })
