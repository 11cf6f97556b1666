import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp, type App } from '../src/app.js'
import { createLogger } from '../src/logger.js'
import { ADMIN_KEY, createTestApp, type TestApp } from './support/app.js'

let t: TestApp
let app: App
let logged = ''
beforeAll(async () => {
  t = await createTestApp()
  const sink = new Writable({ write (chunk: Buffer, _encoding, done) { logged += chunk.toString(); done() } })
  app = buildApp({ config: { adminApiKeys: [ADMIN_KEY] }, sql: t.sql, logger: createLogger('trace', sink) })
  await app.ready()
})
afterAll(async () => {
  await app.close()
  await t.close()
})

describe('request logs', () => {
  it('never contain the admin key, accepted or refused', async () => {
    await app.inject({ method: 'POST', url: '/api/events', headers: { authorization: `Bearer ${ADMIN_KEY}` }, payload: { name: 'x' } })
    await app.inject({ method: 'POST', url: '/api/events', headers: { authorization: `Bearer ${ADMIN_KEY}-wrong` }, payload: {} })
    expect(logged).toContain('incoming request')
    expect(logged).not.toContain(ADMIN_KEY)
  })
})
