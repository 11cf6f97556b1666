import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../../src/app.js'
import { createSql } from '../../../src/db/sql.js'
import { createTestApp, readyApp, type TestApp } from '../../support/app.js'
import { problemType } from '../../support/fixtures.js'
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

const READY_PATHS = ['/api/health/ready', '/api/health'] as const

/** Asserts a 503 service-unavailable problem with Retry-After, and returns its detail. */
function expectUnavailable (response: Awaited<ReturnType<App['inject']>>): string {
  expect(response.statusCode).toBe(503)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(response.headers['retry-after']).toMatch(/^\d+$/)
  const body = response.json<{ type: string, detail: string }>()
  expect(body.type).toBe(problemType('service-unavailable'))
  return body.detail
}

describe('GET /api/health, /api/health/ready and /api/health/live', () => {
  it('report the service and database as ok', async () => {
    for (const url of READY_PATHS) {
      const response = await t.app.inject({ method: 'GET', url })
      expect(response.statusCode).toBe(200)
      expect(response.json()).toEqual({ status: 'ok', database: 'ok' })
    }
    const live = await t.app.inject({ method: 'GET', url: '/api/health/live' })
    expect(live.statusCode).toBe(200)
    expect(live.json()).toEqual({ status: 'ok' })
  })

  it('need no authentication', async () => {
    for (const url of [...READY_PATHS, '/api/health/live']) {
      const response = await t.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer whatever' } })
      expect(response.statusCode).toBe(200)
    }
  })
})

describe('when the database refuses connections', () => {
  let proxy: TcpProxy
  let app: App
  beforeAll(async () => {
    const target = new URL(t.databaseUrl)
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    const through = new URL(t.databaseUrl)
    through.host = `127.0.0.1:${proxy.port}`
    const sql = createSql(through.toString(), { max: 2 })
    app = await readyApp(sql, { extend: (built) => { built.addHook('onClose', async () => { await sql.end({ timeout: 1 }) }) } })
    expect((await app.inject({ method: 'GET', url: '/api/health/ready' })).statusCode).toBe(200)
    await proxy.setMode('refuse')
  })
  afterAll(async () => {
    await app.close()
    await proxy.close()
  })

  it('live still answers 200: it queries nothing', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/health/live' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ status: 'ok' })
  })

  it('ready (and /api/health) answer 503 with Retry-After, naming no driver error', async () => {
    for (const url of READY_PATHS) {
      const detail = expectUnavailable(await app.inject({ method: 'GET', url }))
      expect(detail).toBe('The database does not answer.')
    }
  })
})

describe('when a migration is missing from the database', () => {
  it('ready answers 503 until it is applied', async () => {
    const [latest] = await t.sql<{ id: number, name: string, runOn: Date }[]>`
      delete from pgmigrations where id = (select max(id) from pgmigrations) returning id, name, run_on
    `
    if (latest === undefined) throw new Error('the test database has no migrations recorded')
    let app: App | undefined
    try {
      app = await t.newApp()
      for (const url of READY_PATHS) {
        expect(expectUnavailable(await app.inject({ method: 'GET', url }))).toBe('The database lacks 1 of the migrations this version needs.')
      }
      expect((await app.inject({ method: 'GET', url: '/api/health/live' })).statusCode).toBe(200)
    } finally {
      await t.sql`insert into pgmigrations (id, name, run_on) values (${latest.id}, ${latest.name}, ${latest.runOn})`
    }
    expect((await app.inject({ method: 'GET', url: '/api/health/ready' })).statusCode).toBe(200)
    await app.close()
  })
})

describe('while the service drains', () => {
  it('ready answers 503 and live 200', async () => {
    const app = await t.newApp({ isDraining: () => true })
    for (const url of READY_PATHS) {
      expect(expectUnavailable(await app.inject({ method: 'GET', url }))).toMatch(/shutting down/)
    }
    expect((await app.inject({ method: 'GET', url: '/api/health/live' })).statusCode).toBe(200)
    await app.close()
  })
})

describe('at capacity (load shedding)', () => {
  it('live still answers 200, so a busy process is not restarted; ready answers 503', async () => {
    const app = await t.newApp({ maxInFlightRequests: 0 })
    expect((await app.inject({ method: 'GET', url: '/api/health/live' })).statusCode).toBe(200)
    expectUnavailable(await app.inject({ method: 'GET', url: '/api/health/ready' }))
    expectUnavailable(await app.inject({ method: 'GET', url: '/api/events' }))
    await app.close()
  })
})
