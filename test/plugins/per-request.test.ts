import Fastify, { type FastifyRequest } from 'fastify'
import { describe, expect, it } from 'vitest'
import { oncePerRequest } from '../../src/plugins/per-request.js'

/** An app whose hook and handler both ask `once` (as the rate limiter and authentication ask for the request's key). */
async function appAsking (compute: (request: FastifyRequest) => Promise<string>) {
  const app = Fastify()
  const once = oncePerRequest(app, compute)
  app.addHook('onRequest', async (request) => { await once(request) })
  app.get('/', async (request) => ({ first: await once(request), again: await once(request) }))
  await app.ready()
  return app
}

describe('oncePerRequest', () => {
  it('computes once per request, for every caller of that request, and anew for the next request', async () => {
    const computed: string[] = []
    const app = await appAsking(async (request) => {
      computed.push(request.id)
      return `answer for ${request.id}`
    })
    const responses = await Promise.all(Array.from({ length: 20 }, async () => await app.inject({ method: 'GET', url: '/' })))
    expect(computed).toHaveLength(20)
    expect(new Set(computed).size).toBe(20)
    for (const response of responses) {
      const body = response.json<{ first: string, again: string }>()
      expect(body.first).toBe(body.again)
      expect(computed.map((id) => `answer for ${id}`)).toContain(body.first)
    }
    await app.close()
  })

  it('shares a failure with every caller of that request, and computes again for the next', async () => {
    let calls = 0
    const app = Fastify()
    const once = oncePerRequest(app, async () => {
      calls++
      throw new Error(`look-up ${calls} failed`)
    })
    app.addHook('onRequest', async (request) => { await once(request).catch(() => {}) })
    app.get('/', async (request, reply) => {
      const messages = await Promise.all([once(request), once(request)].map(async (answer) => await answer.then(() => 'answered', (error: Error) => error.message)))
      return await reply.code(503).send({ messages })
    })
    await app.ready()
    expect((await app.inject({ method: 'GET', url: '/' })).json()).toEqual({ messages: ['look-up 1 failed', 'look-up 1 failed'] })
    expect((await app.inject({ method: 'GET', url: '/' })).json()).toEqual({ messages: ['look-up 2 failed', 'look-up 2 failed'] })
    expect(calls).toBe(2)
    await app.close()
  })
})
