import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql, type Sql } from '../../src/db/sql.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import { createCredentialCache, type CredentialCache, LEASE_MS } from '../../src/plugins/credential-cache.js'
import { ADMIN_KEY } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../support/process.js'
import { startTcpProxy } from '../support/tcp-proxy.js'
import { waitUntil } from '../support/wait.js'

/*
 * Keys kept in memory under a lease (src/plugins/credential-cache.ts): a revocation answers only
 * once no process can accept the key, whichever process revoked it and whichever one is asked next.
 */

let db: TestDatabase
beforeAll(async () => { db = await createTestDatabase() })
afterAll(async () => { await db.drop() })

/** A cache on `sql`, and a `load` that counts how often the cache had to go to it. */
function counted (cache: CredentialCache) {
  let loads = 0
  return {
    get loads () { return loads },
    lookup: async (name: string, found = true) => await cache.lookup(name, async () => {
      loads++
      return found ? { found: name } : undefined
    })
  }
}

/** Whether a look-up of `name` is answered from memory, without going to the database. */
async function fromMemory (keys: ReturnType<typeof counted>, name: string): Promise<boolean> {
  const before = keys.loads
  await keys.lookup(name)
  return keys.loads === before
}

async function leaseRenewed (sql: Sql, since: Date): Promise<void> {
  await waitUntil(async () => (await sql`select 1 from credential_leases where lease_until > ${since}::timestamptz + make_interval(secs => ${LEASE_MS / 1000})`).length > 0,
    'a lease renewed', { timeoutMs: 5_000 })
}

describe('the credential cache', () => {
  it('uses what it holds only under a running lease, keeps only what was found, and hands its lease back when stopped', async () => {
    const cache = createCredentialCache({ sql: db.sql })
    const keys = counted(cache)
    try {
      // No lease yet: every look-up goes to the database.
      await keys.lookup('a')
      await keys.lookup('a')
      expect(keys.loads).toBe(2)

      const started = new Date()
      cache.start()
      await leaseRenewed(db.sql, started)
      await waitUntil(async () => (await fromMemory(keys, 'a')), 'a look-up answered from memory')
      const before = keys.loads
      for (let n = 0; n < 20; n++) expect(await keys.lookup('a')).toEqual({ found: 'a' })
      expect(keys.loads).toBe(before)

      // A key the database does not have is looked up every time.
      expect(await keys.lookup('unknown', false)).toBeUndefined()
      expect(await keys.lookup('unknown', false)).toBeUndefined()
      expect(keys.loads).toBe(before + 2)
    } finally {
      await cache.stop()
    }
    expect(await db.sql`select holder from credential_leases`).toEqual([])
    const after = keys.loads
    await keys.lookup('a')
    expect(keys.loads).toBe(after + 1)
  })

  it('drops everything at once when a key changes in the database, even by hand, without a revocation waiting on it', async () => {
    const { key } = await createIntegratorsRepository(db.sql).createWithKey('By hand')
    const cache = createCredentialCache({ sql: db.sql })
    const keys = counted(cache)
    try {
      cache.start()
      await waitUntil(async () => (await fromMemory(keys, 'held')), 'a look-up answered from memory')
      await db.sql`update api_keys set revoked_at = clock_timestamp() where id = ${key.id}`
      // The trigger's NOTIFY reaches the process within moments (the next renewal, 500 ms, at the latest).
      await waitUntil(async () => !(await fromMemory(keys, 'held')), 'the cache dropped what it held', { timeoutMs: 1_000 })
    } finally {
      await cache.stop()
    }
  })

  it('stops using what it holds when it cannot renew its lease, before the lease ends in the database', async () => {
    const proxy = await startTcpProxy({ host: new URL(db.url).hostname, port: Number(new URL(db.url).port) })
    const proxied = new URL(db.url)
    proxied.host = `127.0.0.1:${proxy.port}`
    const sql = createSql(proxied.href, { max: 2 })
    const cache = createCredentialCache({ sql })
    const keys = counted(cache)
    try {
      cache.start()
      await waitUntil(async () => (await fromMemory(keys, 'held')), 'a look-up answered from memory')
      await proxy.setMode('stall')
      const stalled = Date.now()
      const [lease] = await db.sql<Array<{ endsIn: number }>>`select extract(epoch from max(lease_until) - clock_timestamp()) * 1000 as ends_in from credential_leases`
      const endsAt = stalled + Number(lease?.endsIn)
      await waitUntil(async () => !(await fromMemory(keys, 'held')), 'the cache no longer used', { timeoutMs: LEASE_MS + 1_000 })
      expect(Date.now()).toBeLessThan(endsAt)
    } finally {
      await cache.stop()
      await proxy.close()
      await sql.end({ timeout: 1 })
    }
  })

  it('settles only once every running lease has seen the change, or has run out', async () => {
    const cache = createCredentialCache({ sql: db.sql })
    cache.start()
    try {
      await waitUntil(async () => (await db.sql`select 1 from credential_leases`).length > 0, 'the lease taken')
      await db.sql`update integrators set requests_per_minute = requests_per_minute`
      let started = performance.now()
      await cache.settle()
      expect(performance.now() - started).toBeLessThan(LEASE_MS)

      // A process that holds a lease and has not renewed since the change (it hangs): the wait is for its lease to end.
      const [lease] = await db.sql<Array<{ until: Date }>>`
        insert into credential_leases (holder, lease_until, seen)
        select ${randomUUID()}, clock_timestamp() + interval '1.2 seconds', version from credential_version
        returning lease_until as until
      `
      await db.sql`update integrators set requests_per_minute = requests_per_minute`
      started = performance.now()
      await cache.settle()
      expect(Date.now()).toBeGreaterThanOrEqual((lease?.until ?? new Date()).getTime())
      expect(performance.now() - started).toBeLessThan(LEASE_MS + 1_500)
    } finally {
      await cache.stop()
      await db.sql`delete from credential_leases`
    }
  })
})

describe('revocations across two server processes', () => {
  let servers: ServerProcess[] = []
  let bases: string[] = []
  let slowLink: Awaited<ReturnType<typeof startTcpProxy>> | undefined
  beforeAll(async () => {
    // The second process is 30 ms from the database each way: it hears of a revocation well after
    // the first could have answered it, so a revocation that did not wait for it would show.
    slowLink = await startTcpProxy({ host: new URL(db.url).hostname, port: Number(new URL(db.url).port) }, { latencyMs: 30 })
    const far = new URL(db.url)
    far.host = `127.0.0.1:${slowLink.port}`
    servers = [spawnServer(loadServerEnv(db.url)), spawnServer(loadServerEnv(far.href))]
    bases = await Promise.all(servers.map(async (server) => await listeningAt(server)))
  }, 60_000)
  afterAll(async () => {
    for (const server of servers) server.child.kill('SIGTERM')
    await Promise.all(servers.map(async (server) => await server.exited))
    await slowLink?.close()
  })

  const asAdmin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }
  const status = async (base: string, key: string): Promise<number> =>
    (await fetch(`${base}/api/bookings?limit=1`, { headers: { authorization: `Bearer ${key}` } })).status

  it('a key revoked through one process fails on the very next request to either, while requests keep coming', async () => {
    for (let round = 0; round < 10; round++) {
      const integrator = await (await fetch(`${bases[0]}/api/integrators`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ name: `Round ${round}` }) })).json() as { id: string }
      const created = await (await fetch(`${bases[0]}/api/integrators/${integrator.id}/keys`, { method: 'POST', headers: asAdmin, body: '{}' })).json() as { id: string, key: string }
      // Both processes have the key in memory, and keep being asked with it while it is revoked.
      await waitUntil(async () => (await Promise.all(bases.map(async (base) => await status(base, created.key)))).every((code) => code === 200), 'the key works on both')
      let asking = true
      const meanwhile = Promise.all(bases.map(async (base) => {
        // eslint-disable-next-line no-unmodified-loop-condition -- set below, between awaits
        while (asking) await status(base, created.key)
      }))
      const revoker = bases[round % 2] as string
      const other = bases[(round + 1) % 2] as string
      const revoked = await fetch(`${revoker}/api/integrators/${integrator.id}/keys/${created.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      expect(revoked.status).toBe(204)
      const [onOther, onRevoker] = await Promise.all([status(other, created.key), status(revoker, created.key)])
      asking = false
      await meanwhile
      expect({ onOther, onRevoker }).toEqual({ onOther: 401, onRevoker: 401 })
    }
  }, 60_000)

  it('new rate limits apply from the very next request to either process', async () => {
    const integrator = await (await fetch(`${bases[0]}/api/integrators`, { method: 'POST', headers: asAdmin, body: JSON.stringify({ name: 'Limited' }) })).json() as { id: string }
    const created = await (await fetch(`${bases[0]}/api/integrators/${integrator.id}/keys`, { method: 'POST', headers: asAdmin, body: '{}' })).json() as { key: string }
    await waitUntil(async () => (await Promise.all(bases.map(async (base) => await status(base, created.key)))).every((code) => code === 200), 'the key works on both')
    const limit = async (base: string): Promise<string | null> =>
      (await fetch(`${base}/api/bookings?limit=1`, { headers: { authorization: `Bearer ${created.key}` } })).headers.get('ratelimit-limit')
    // The service's own limits are off here (RATE_LIMIT_* = 0): the integrator has none of its own yet.
    expect(await limit(bases[1] as string)).toBeNull()
    const patched = await fetch(`${bases[0]}/api/integrators/${integrator.id}`, {
      method: 'PATCH', headers: asAdmin, body: JSON.stringify({ rateLimits: { requestsPerMinute: 7, bookingsPerMinute: 5 } })
    })
    expect(patched.status).toBe(200)
    expect(await limit(bases[1] as string)).toBe('7')
  }, 30_000)
})
