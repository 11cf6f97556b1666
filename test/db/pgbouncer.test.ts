import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createSql, SESSION_SETTINGS } from '../../src/db/sql.js'
import { asAdmin } from '../support/app.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'
import { createEventWithTiers, ledger, overHttp } from '../support/fixtures.js'
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js'
import { listeningAt, loadServerEnv, spawnServer, type ServerProcess } from '../support/process.js'
import { startReceiver, type Receiver } from '../support/receiver.js'
import { waitUntil } from '../support/wait.js'

/*
 * The service behind a real PgBouncer in transaction mode, as operators run it: DATABASE_URL names
 * the pooler and DATABASE_DIRECT_URL the database. Bookings, replays, the webhook dispatcher's
 * LISTEN and the hold sweep's session lock must all work, and nothing session-scoped may be left
 * on a pooled server connection.
 */

const SESSIONS_APP_NAME = 'ticket-booking-api:sessions'

let db: TestDatabase
let bouncer: PgBouncer
let receiver: Receiver
const servers: ServerProcess[] = []

function startServer (): ServerProcess {
  const server = spawnServer(loadServerEnv(bouncer.urlOf(db.url), { DATABASE_DIRECT_URL: db.url, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }))
  servers.push(server)
  return server
}

/** pino's JSON lines of the process at `level` (50 error, 40 warn) or above. */
function logLines (server: ServerProcess, level: number): Array<{ level: number, msg: string }> {
  return server.output().split('\n').filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number, msg: string })
    .filter((line) => line.level >= level)
}

async function stop (server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM')
  expect(await server.exited).toEqual({ code: 0, signal: null })
}

beforeAll(async () => {
  db = await createTestDatabase()
  bouncer = await startPgBouncer(inject('postgresUrl'))
  receiver = await startReceiver()
}, 60_000)

afterAll(async () => {
  for (const server of servers) if (server.child.exitCode === null) server.child.kill('SIGKILL')
  await receiver?.close()
  await bouncer?.stop()
  await db?.drop()
})

describe('through PgBouncer in transaction mode', () => {
  it('answers every statement of a pool that runs autocommit statements, with and without parameters, and transactions at once', async () => {
    // Pipelined behind an autocommit statement, a statement with parameters lost its answer
    // (PgBouncer took the server back in between): about half of these hung before createSql sent
    // one statement at a time through a pooler.
    const pooled = createSql(bouncer.urlOf(db.url), { throughPooler: true, max: 2 })
    try {
      const work = Array.from({ length: 300 }, async (_, i) => {
        if (i % 3 === 0) return (await pooled<{ n: number }[]>`select 1 as n`)[0]?.n
        if (i % 3 === 1) return (await pooled<{ n: number }[]>`select ${i}::int as n`)[0]?.n
        return await pooled.begin(async (tx) => {
          const [first, second] = await Promise.all([tx<{ n: number }[]>`select ${i}::int as n`.execute(), tx<{ n: number }[]>`select 2 as n`.execute()])
          return (first[0]?.n ?? 0) + (second[0]?.n ?? 0)
        })
      })
      const answered = await Promise.race([Promise.all(work), new Promise<'hung'>((resolve) => setTimeout(resolve, 10_000, 'hung'))])
      expect(answered).toEqual(Array.from({ length: 300 }, (_, i) => i % 3 === 0 ? 1 : i % 3 === 1 ? i : i + 2))
      expect(bouncer.output()).not.toContain('when not linked')
    } finally {
      await pooled.end({ timeout: 1 })
    }
  })

  it('warns at start when the session settings it cannot send are off on the database', async () => {
    const server = startServer()
    await listeningAt(server, 60_000)
    const warning = logLines(server, 40).find((line) => line.msg.includes('these settings are off'))
    expect(warning?.msg).toContain(Object.keys(SESSION_SETTINGS).sort().join(', '))
    await stop(server)
  })

  it('books without overselling, replays, delivers webhooks and sweeps holds, with sessions only on the direct connection', async () => {
    const database = new URL(db.url).pathname.slice(1)
    for (const [name, value] of Object.entries(SESSION_SETTINGS)) {
      await db.sql.unsafe(`alter database ${database} set ${name} = ${value}`)
    }
    // They apply to sessions opened from now on: a new PgBouncer, as after an operator's RECONNECT.
    await bouncer.stop()
    bouncer = await startPgBouncer(inject('postgresUrl'))
    const server = startServer()
    const base = await listeningAt(server, 60_000)
    const admin = overHttp(base)
    const { eventId, tiers: [hot, other] } = await createEventWithTiers(admin, [{ name: 'Hot', capacity: 100 }, { name: 'Other', capacity: 100 }])
    const integrator = await admin.inject({ method: 'POST', url: '/api/integrators', headers: asAdmin, payload: { name: 'Pooled reseller' } })
    const integratorId = (integrator.json() as { id: string }).id
    const key = ((await admin.inject({ method: 'POST', url: `/api/integrators/${integratorId}/keys`, headers: asAdmin, payload: {} })).json() as { key: string }).key
    const post = async (path: string, body: object, headers: Record<string, string> = {}): Promise<Response> =>
      await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    expect((await post('/api/webhook-endpoints', { url: receiver.url, events: ['booking.created'] })).status).toBe(201)

    // 150 buyers at once for 100 tickets: every one answered, exactly 100 sold.
    const keys = Array.from({ length: 150 }, () => randomUUID())
    const answers = await Promise.all(keys.map(async (idempotencyKey) => {
      const response = await post('/api/bookings', { eventId, items: [{ ticketTierId: hot?.id, quantity: 1 }] }, { 'idempotency-key': idempotencyKey })
      return { idempotencyKey, status: response.status, body: await response.json() as { id?: string } }
    }))
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(100)
    expect(answers.filter((answer) => answer.status === 409)).toHaveLength(50)
    expect(await ledger(db.sql, hot?.id ?? '')).toMatchObject({ capacity: 100, remaining: 0, confirmed: 100 })

    // Retries with the same keys replay the same bookings.
    const sold = answers.filter((answer) => answer.status === 201).slice(0, 20)
    for (const answer of sold) {
      const replay = await post('/api/bookings', { eventId, items: [{ ticketTierId: hot?.id, quantity: 1 }] }, { 'idempotency-key': answer.idempotencyKey })
      expect(replay.status).toBe(200)
      expect(replay.headers.get('idempotent-replayed')).toBe('true')
      expect((await replay.json() as { id: string }).id).toBe(answer.body.id)
    }

    // The dispatcher LISTENs on the direct connection, and every sale reaches the receiver.
    await receiver.waitFor((received) => received.length >= 100, 30_000)
    const listening = await db.sql`
      select 1 from pg_stat_activity where datname = ${database} and application_name = ${SESSIONS_APP_NAME} and query ilike 'listen%'
    `
    expect(listening).toHaveLength(1)

    // A lapsed hold is swept (the sweep's session lock on the direct connection).
    const hold = await post('/api/bookings', { eventId, items: [{ ticketTierId: other?.id, quantity: 3 }], hold: { ttlSeconds: 60 } })
    expect(hold.status).toBe(201)
    const holdId = (await hold.json() as { id: string }).id
    await db.sql`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${holdId}`
    await waitUntil(async () => (await db.sql`select 1 from bookings where id = ${holdId} and status = 'expired'`).length === 1,
      'the lapsed hold is swept', { timeoutMs: 20_000 })
    expect(await ledger(db.sql, other?.id ?? '')).toMatchObject({ remaining: 100, unreleased: 0 })

    // No session advisory lock is left on a connection PgBouncer hands to others.
    const strayLocks = await db.sql`
      select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and a.datname = ${database} and a.application_name <> ${SESSIONS_APP_NAME}
    `
    expect(strayLocks).toEqual([])
    expect(logLines(server, 50)).toEqual([])
    expect(logLines(server, 40).filter((line) => line.msg.includes('these settings are off'))).toEqual([])
    await stop(server)
  })
})
