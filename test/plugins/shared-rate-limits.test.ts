import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { ADMIN_KEY, readyApp } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { listeningAt, type ServerProcess, spawnServer } from '../support/process.js'
import { startTestRedis, type TestRedis } from '../support/redis.js'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js'
import { waitUntil } from '../support/wait.js'

/*
 * Rate limits shared through Redis, against the Redis these machines run at 127.0.0.1:6379 (or one
 * started for the test where none runs there; behind
 * a TCP hop, to take it away): two server processes with REDIS_URL enforce one limit together;
 * while Redis is unreachable they keep answering (never a 5xx), each counting alone, and say so
 * once; once it is back they share again. Without REDIS_URL each process counts alone.
 */

const LIMIT = 10
let db: TestDatabase
let redis: TestRedis
let proxy: TcpProxy
const servers: ServerProcess[] = []
let bases: string[] = []

beforeAll(async () => {
  db = await createTestDatabase()
  redis = await startTestRedis()
  proxy = await startTcpProxy(redis)
  bases = await Promise.all([0, 1].map(async () => {
    const server = spawnServer({
      DATABASE_URL: db.url,
      PORT: '0',
      ADMIN_API_KEYS: ADMIN_KEY,
      LOG_LEVEL: 'info',
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      RATE_LIMIT_REQUESTS_PER_MINUTE: String(LIMIT)
    })
    servers.push(server)
    const base = await listeningAt(server)
    return base
  }))
}, 60_000)

afterAll(async () => {
  for (const server of servers) {
    if (server.child.exitCode === null) server.child.kill('SIGTERM')
    await server.exited
  }
  await proxy.close()
  await redis.stop()
  await db.drop()
})

/** A key of its own for each test: its counters in Redis are new. */
async function newKey (): Promise<string> {
  return (await createIntegratorsRepository(db.sql).createWithKey('Limited')).key.key
}

async function list (base: string, key: string) {
  const response = await fetch(`${base}/api/bookings?limit=1`, { headers: { authorization: `Bearer ${key}` } })
  await response.arrayBuffer()
  return { status: response.status, remaining: response.headers.get('ratelimit-remaining') }
}

/** `count` requests of one key, alternately to the two processes, one after the other; their statuses. */
async function alternate (key: string, count: number): Promise<number[]> {
  const statuses: number[] = []
  for (let n = 0; n < count; n++) statuses.push((await list(bases[n % 2] as string, key)).status)
  return statuses
}

const mentions = (pattern: RegExp) => servers.map((server) => server.output().split('\n').filter((line) => pattern.test(line)).length)

describe('rate limits with REDIS_URL', () => {
  it('are one limit for both processes', async () => {
    const key = await newKey()
    const statuses = await alternate(key, 2 * LIMIT)
    expect(statuses.filter((status) => status === 200)).toHaveLength(LIMIT)
    expect(statuses.slice(LIMIT)).toEqual(Array.from({ length: LIMIT }, () => 429))
    // The counter is the same on either process: the next answer on the other one says none is left.
    expect(await list(bases[0] as string, key)).toMatchObject({ status: 429, remaining: '0' })
  })

  it('fail open while Redis is unreachable, each process counting alone, logged once; and are shared again once it is back', async () => {
    await proxy.setMode('refuse')
    const key = await newKey()
    const statuses = await alternate(key, 4 * LIMIT)
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true)
    // Each process let its own LIMIT through: twice the shared limit, and no more.
    expect(statuses.filter((status) => status === 200)).toHaveLength(2 * LIMIT)
    // A dropped route (accepted, never answered) costs a request at most the command timeout.
    await proxy.setMode('silent')
    const started = Date.now()
    expect((await list(bases[0] as string, await newKey())).status).toBe(200)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(mentions(/Redis is unreachable/)).toEqual([1, 1])

    await proxy.setMode('forward')
    // Each process goes back to Redis with the first request it can count there again.
    const probe = await newKey()
    await waitUntil(async () => {
      await Promise.all(bases.map(async (base) => await list(base, probe)))
      return mentions(/Redis is back/).every((count) => count === 1)
    }, 'both processes use Redis again', { timeoutMs: 10_000, intervalMs: 100 })
    const shared = await alternate(await newKey(), 2 * LIMIT)
    expect(shared.filter((status) => status === 200)).toHaveLength(LIMIT)
    expect(mentions(/Redis is unreachable/)).toEqual([1, 1])
  }, 60_000)
})

describe('rate limits without REDIS_URL', () => {
  it('are counted by each process alone', async () => {
    const apps = await Promise.all([0, 1].map(async () => await readyApp(db.sql, { config: { rateLimitRequestsPerMinute: LIMIT } })))
    try {
      const key = await newKey()
      const statuses: number[] = []
      for (let n = 0; n < 4 * LIMIT; n++) {
        statuses.push((await (apps[n % 2] as typeof apps[number]).inject({ method: 'GET', url: '/api/bookings?limit=1', headers: { authorization: `Bearer ${key}` } })).statusCode)
      }
      expect(statuses.filter((status) => status === 200)).toHaveLength(2 * LIMIT)
    } finally {
      await Promise.all(apps.map(async (app) => { await app.close() }))
    }
  })
})
