import Fastify, { type FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import { trackMethodsForNotAllowed } from '../../src/plugins/method-not-allowed.js'
import problems from '../../src/plugins/problems.js'

/** An app with GET /api/first and the 405 handler after it; `after` adds to the same scope after the handler. */
function appWith405 (after: (scope: FastifyInstance) => void = () => {}) {
  const app = Fastify()
  app.register(problems)
  app.register(async (scope) => {
    const methodNotAllowed = trackMethodsForNotAllowed(scope)
    scope.get('/first', async () => ({ ok: true }))
    scope.register(methodNotAllowed)
    after(scope)
  }, { prefix: '/api' })
  return app
}

describe('the 405 handler', () => {
  it('fails at start-up when a route is added after the 405 handler (it would answer 404 to a wrong method)', async () => {
    const app = appWith405((scope) => { scope.register(async (late) => { late.get('/late', async () => ({ ok: true })) }) })
    await expect(app.ready()).rejects.toThrow(/GET \/api\/late was added after method-not-allowed/)
    await app.close()
  })

  it('answers a wrong method with 405 when the order is right', async () => {
    const app = appWith405()
    const response = await app.inject({ method: 'DELETE', url: '/api/first' })
    expect(response.statusCode).toBe(405)
    expect(response.headers.allow).toBe('GET, HEAD')
    await app.close()
  })
})
