import { randomUUID } from 'node:crypto'
import type { FastifyInstance, RawRequestDefaultExpression } from 'fastify'
import fp from 'fastify-plugin'

const ACCEPTABLE_REQUEST_ID = /^[\x21-\x7e]{1,200}$/

/** Keeps the caller's `x-request-id` when it is 1 to 200 visible ASCII characters, else makes one. */
export function genReqId (request: RawRequestDefaultExpression): string {
  const given = request.headers['x-request-id']
  return typeof given === 'string' && ACCEPTABLE_REQUEST_ID.test(given) ? given : randomUUID()
}

/** Puts the request id on every response, errors and unknown routes included. */
export default fp(async function requestIdPlugin (app: FastifyInstance) {
  app.addHook('onRequest', async function echoRequestId (request, reply) {
    reply.header('x-request-id', request.id)
  })
}, { name: 'request-id' })
