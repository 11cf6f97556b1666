import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../src/app.js'
import { seedDemo } from '../src/db/seed.js'
import { createLogger } from '../src/logger.js'
import { ADMIN_KEY, createTestApp, type TestApp } from './support/app.js'
import { DEMO_BOOKING as booking, problemType } from './support/fixtures.js'
import { listeningAt, loadServerEnv, spawnServer } from './support/process.js'

let t: TestApp
let app: App
let logged = ''
/** An app logging at info, the default level, into `infoLines`. */
let infoApp: App
let infoLines: string[] = []
beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
  const sink = new Writable({ write (chunk: Buffer, _encoding, done) { logged += chunk.toString(); done() } })
  app = await t.newApp({ logger: createLogger('trace', sink) })
  const infoSink = new Writable({ write (chunk: Buffer, _encoding, done) { infoLines.push(...chunk.toString().split('\n').filter((line) => line !== '')); done() } })
  infoApp = await t.newApp({ logger: createLogger('info', infoSink) })
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
    expect(logged).toContain('request completed')
    expect(logged).not.toContain(ADMIN_KEY)
  })

  it('never contain an integrator key', async () => {
    await app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: booking })
    await app.inject({ method: 'GET', url: '/api/bookings', headers: t.asIntegrator })
    expect(logged).toContain('request completed')
    expect(logged).not.toContain(t.integrator.key)
  })
})

/** The lines logged for the request `requestId` (sent as x-request-id, so the test knows it). */
function linesOf (requestId: string): Array<Record<string, unknown>> {
  return infoLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.reqId === requestId)
}

describe('the request line', () => {
  it('is one info line per request with id, method, route pattern, status, duration and integrator id, never the key', async () => {
    infoLines = []
    const created = await infoApp.inject({ method: 'POST', url: '/api/bookings', headers: { ...t.asIntegrator, 'x-request-id': 'log-create' }, payload: booking })
    expect(created.statusCode).toBe(201)
    const { id } = created.json<{ id: string }>()
    const read = await infoApp.inject({ method: 'GET', url: `/api/bookings/${id}?`, headers: { ...t.asIntegrator, 'x-request-id': 'log-read' } })
    expect(read.statusCode).toBe(200)

    const [createLine, ...moreCreate] = linesOf('log-create')
    expect(moreCreate).toEqual([])
    expect(createLine).toMatchObject({ level: 30, msg: 'request completed', reqId: 'log-create', method: 'POST', route: '/api/bookings', statusCode: 201, integratorId: t.integrator.id })
    expect(createLine?.durationMs).toEqual(expect.any(Number))
    expect(createLine?.durationMs).toBeGreaterThan(0)
    expect(createLine?.problem).toBeUndefined()

    const [readLine, ...moreRead] = linesOf('log-read')
    expect(moreRead).toEqual([])
    expect(readLine).toMatchObject({ route: '/api/bookings/:bookingId', method: 'GET', statusCode: 200, integratorId: t.integrator.id })
    expect(infoLines.join('\n')).not.toContain(id)
    expect(infoLines.join('\n')).not.toContain(t.integrator.key)
  })

  it('names the route pattern of a 404 of a known route, and no route for an unknown path, without the URL', async () => {
    infoLines = []
    const unknownId = randomUUID()
    expect((await infoApp.inject({ method: 'GET', url: `/api/bookings/${unknownId}`, headers: { ...t.asIntegrator, 'x-request-id': 'log-404' } })).statusCode).toBe(404)
    expect((await infoApp.inject({ method: 'GET', url: `/api/no-such-thing/${unknownId}`, headers: { ...t.asIntegrator, 'x-request-id': 'log-unrouted' } })).statusCode).toBe(404)

    expect(linesOf('log-404')).toEqual([expect.objectContaining({
      msg: 'request completed', method: 'GET', route: '/api/bookings/:bookingId', statusCode: 404, problem: problemType('not-found'), integratorId: t.integrator.id
    })])
    const [unrouted, ...more] = linesOf('log-unrouted')
    expect(more).toEqual([])
    expect(unrouted).toMatchObject({ msg: 'request completed', method: 'GET', statusCode: 404, problem: problemType('not-found') })
    expect(unrouted?.route).toBeUndefined()
    expect(unrouted?.integratorId).toBeUndefined()
    expect(infoLines.join('\n')).not.toContain(unknownId)
    expect(infoLines.join('\n')).not.toContain(t.integrator.key)
  })

  it('carries no integrator id for an admin key', async () => {
    infoLines = []
    await infoApp.inject({ method: 'GET', url: '/api/bookings', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-request-id': 'log-admin' } })
    const [line] = linesOf('log-admin')
    expect(line).toMatchObject({ route: '/api/bookings', statusCode: 200 })
    expect(line?.integratorId).toBeUndefined()
    expect(infoLines.join('\n')).not.toContain(ADMIN_KEY)
  })
})

describe('LOG_FORMAT=pretty', () => {
  it('makes a server process write human lines, not JSON, still without keys', async () => {
    const server = spawnServer(loadServerEnv(t.databaseUrl, { LOG_FORMAT: 'pretty' }))
    try {
      const base = await listeningAt(server)
      expect((await fetch(`${base}/api/bookings`, { headers: t.asIntegrator })).status).toBe(200)
      server.child.kill('SIGTERM')
      expect(await server.exited).toEqual({ code: 0, signal: null })
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
    }
    const lines = server.output().split('\n').filter((line) => line.trim() !== '')
    const headed = lines.filter((line) => /^\[\d{2}:\d{2}:\d{2}\.\d{3}\] (INFO|WARN|ERROR|DEBUG)/.test(line))
    expect(headed.some((line) => line.includes('request completed'))).toBe(true)
    expect(headed.some((line) => line.includes('stopped'))).toBe(true)
    for (const line of lines) expect(() => JSON.parse(line), line).toThrow()
    expect(server.output()).toMatch(/route: "\/api\/bookings"/)
    expect(server.output()).not.toContain(t.integrator.key)
    expect(server.output()).not.toContain(ADMIN_KEY)
  }, 60_000)
})
