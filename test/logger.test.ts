import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../src/app.js'
import { seedDemo } from '../src/db/seed.js'
import { createLogger } from '../src/logger.js'
import { ADMIN_KEY, createTestApp, type TestApp } from './support/app.js'
import { DEMO_BOOKING as booking } from './support/fixtures.js'

let t: TestApp
let app: App
let logged = ''
beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
  const sink = new Writable({ write (chunk: Buffer, _encoding, done) { logged += chunk.toString(); done() } })
  app = await t.newApp({ logger: createLogger('trace', sink) })
})
afterAll(async () => { await t.close() })

describe('the logger', () => {
  it('redacts credentials in logged request headers', () => {
    let line = ''
    const logger = createLogger('info', new Writable({ write (chunk: Buffer, _encoding, done) { line += chunk.toString(); done() } }))
    logger.info({ req: { headers: { authorization: `Bearer ${ADMIN_KEY}`, cookie: 'session=secret-cookie', 'x-api-key': 'secret-api-key', accept: 'application/json' } } }, 'a request')
    expect(JSON.parse(line).req.headers).toEqual({ authorization: '[redacted]', cookie: '[redacted]', 'x-api-key': '[redacted]', accept: 'application/json' })
  })
})

describe('request logs', () => {
  it('never contain the admin key, accepted or refused', async () => {
    await app.inject({ method: 'POST', url: '/api/events', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { name: 'x' } })
    await app.inject({ method: 'POST', url: '/api/events', headers: { authorization: `Bearer ${ADMIN_KEY}-wrong` }, payload: {} })
    expect(logged).toContain('incoming request')
    expect(logged).not.toContain(ADMIN_KEY)
  })

  it('never contain an integrator key', async () => {
    await app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: booking })
    await app.inject({ method: 'GET', url: '/api/bookings', headers: t.asIntegrator })
    expect(logged).toContain('incoming request')
    expect(logged).not.toContain(t.integrator.key)
  })
})
