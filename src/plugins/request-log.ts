import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { problemTypeOf } from './problems.js'

/**
 * One info line per request, when its response is sent, in place of Fastify's two (incoming,
 * completed): the request id (`reqId`, on every line of the request), method, route pattern (never
 * the raw URL, whose ids and query make every line unique; absent when no route matched), status,
 * duration, the problem type of an error answer, and the integrator behind an integrator key (its
 * id, never the key). At debug level a line also marks each request's arrival, for requests that
 * never finish.
 * @see https://fastify.dev/docs/latest/Reference/Logging/
 */
export default fp(async function requestLog (app: FastifyInstance) {
  app.addHook('onRequest', async function logArrival (request) {
    request.log.debug({ method: request.method, route: request.routeOptions.url }, 'request received')
  })
  app.addHook('onResponse', async function logResponse (request, reply) {
    const principal = request.principal
    request.log.info({
      method: request.method,
      route: request.routeOptions.url,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      problem: problemTypeOf(request),
      ...(principal?.kind === 'integrator' ? { integratorId: principal.integratorId } : {})
    }, 'request completed')
  })
}, { name: 'request-log', dependencies: ['auth', 'problems'] })
