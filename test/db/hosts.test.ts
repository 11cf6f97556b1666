import net from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostsOf, isValidDatabaseUrl, primaryUrl } from '../../src/db/hosts.js'
import { createSql, isDatabaseUnavailable } from '../../src/db/sql.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { ADMIN_KEY } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { createEventWithTier, overHttp } from '../support/fixtures.js'
import { portOutsideEphemeralRange } from '../support/ports.js'
import { listeningAt, type ServerProcess, spawnServer } from '../support/process.js'

/*
 * DATABASE_URL with several hosts (`host-a:5432,host-b:5432`, `target_session_attrs=primary`), as
 * operators write it for a primary and its standby: the configuration takes it, the migrations run
 * on the host that is the primary (node-pg-migrate's driver takes one host), and the service, with
 * a host that does not answer listed first, starts and books. A query tries each host once: when
 * none will do (the primary dead, its standby not yet promoted) it fails at once, a 503, instead
 * of waiting for one to become the primary (postgres.js 3.4.9 went round the hosts for ever;
 * scripts/patch-postgres.mjs mends it).
 */

let db: TestDatabase
let deadPort: number
beforeAll(async () => {
  db = await createTestDatabase()
  deadPort = await portOutsideEphemeralRange()
})
afterAll(async () => { await db.drop() })

/** The file's database URL with a host that does not answer listed before its own. */
function withDeadHostFirst (): string {
  const url = new URL(db.url)
  const { single } = hostsOf(db.url)
  const multi = single(`127.0.0.1:${deadPort},${url.host}`)
  return `${multi}${multi.includes('?') ? '&' : '?'}target_session_attrs=primary`
}

describe('several hosts in DATABASE_URL', () => {
  it('are taken apart and checked host by host', () => {
    const { hosts, single } = hostsOf('postgres://app:pw@db-a:5432,db-b:5433/booking?target_session_attrs=primary')
    expect(hosts).toEqual(['db-a:5432', 'db-b:5433'])
    expect(single('db-b:5433')).toBe('postgres://app:pw@db-b:5433/booking?target_session_attrs=primary')
    expect(isValidDatabaseUrl('postgres://app:pw@db-a:5432,db-b:5433/booking?target_session_attrs=primary')).toBe(true)
    expect(isValidDatabaseUrl('postgresql://db-a,db-b/booking')).toBe(true)
    expect(isValidDatabaseUrl('postgres://db-a:5432,[bad/booking')).toBe(false)
    expect(isValidDatabaseUrl('postgres://db-a:99999/booking')).toBe(false)
  })

  it('give the migrations the primary\'s own URL, skipping a host that does not answer', async () => {
    expect(await primaryUrl(db.url)).toBe(db.url)
    const primary = await primaryUrl(withDeadHostFirst())
    expect(new URL(primary).host).toBe(new URL(db.url).host)
    expect(new URL(primary).searchParams.has('target_session_attrs')).toBe(false)
    await expect(primaryUrl(`postgres://postgres@127.0.0.1:${deadPort},127.0.0.1:${deadPort}/x`)).rejects.toThrow()
  })

  it('fail a query at once when no host will do, and move past a host that never answers', async () => {
    const { host } = new URL(db.url)
    const { single } = hostsOf(db.url)
    const failure = async (query: Promise<unknown>): Promise<unknown> => await query.then(() => new Error('it did not fail'), (error: unknown) => error)

    // Both hosts refuse, as between a primary's death and its standby's promotion on one machine.
    const refused = createSql(`postgres://postgres@127.0.0.1:${deadPort},127.0.0.1:${deadPort}/x?target_session_attrs=primary`, { max: 1 })
    try {
      const error = await failure(refused`select 1`)
      expect(error).toMatchObject({ code: 'ECONNREFUSED' })
      expect(isDatabaseUnavailable(error)).toBe(true)
    } finally {
      await refused.end({ timeout: 1 })
    }

    // A refusing host and one that answers but is not wanted: a session read-only by default (what
    // a standby is) where a read-write one is asked for. Each is tried once, in order, and the query
    // fails with the last one's error.
    for (const [hosts, code] of [[`127.0.0.1:${deadPort},${host}`, 'CONNECTION_DESTROYED'], [`${host},127.0.0.1:${deadPort}`, 'ECONNREFUSED']] as const) {
      const readOnly = postgres(single(hosts), {
        max: 1, target_session_attrs: 'read-write', connection: { default_transaction_read_only: true }, onnotice: () => {}
      })
      try {
        const error = await failure(readOnly`select 1`)
        expect(error, hosts).toMatchObject({ code })
        expect(isDatabaseUnavailable(error)).toBe(true)
      } finally {
        await readOnly.end({ timeout: 1 })
      }
    }

    // A host that takes the connection and never says a word: after connect_timeout the next host.
    const silent = net.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const silentHost = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`
    const patient = postgres(single(`${silentHost},${host}`), { max: 1, connect_timeout: 1, onnotice: () => {} })
    try {
      const [row] = await patient<{ one: number }[]>`select 1 as one`
      expect(row?.one).toBe(1)
    } finally {
      await patient.end({ timeout: 1 })
      silent.close()
    }
  })

  it('start the service, which migrates and books through them', async () => {
    let server: ServerProcess | undefined
    try {
      server = spawnServer({ DATABASE_URL: withDeadHostFirst(), PORT: '0', ADMIN_API_KEYS: ADMIN_KEY, LOG_LEVEL: 'info' })
      const base = await listeningAt(server)
      const { eventId, tierId } = await createEventWithTier(overHttp(base), { capacity: 5 })
      const key = (await createIntegratorsRepository(db.sql).createWithKey('Failover-ready')).key.key
      const booked = await fetch(`${base}/api/bookings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
      })
      expect(booked.status).toBe(201)
    } finally {
      if (server !== undefined && server.child.exitCode === null) {
        server.child.kill('SIGTERM')
        expect((await server.exited).code).toBe(0)
      }
    }
  }, 60_000)
})
