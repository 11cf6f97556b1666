import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql, type Sql } from '../../../src/db/sql.js'
import { createIntegratorsRepository } from '../../../src/features/integrators/integrators-repository.js'
import type { CheckInResult } from '../../../src/schemas/check-in.js'
import type { Ticket } from '../../../src/schemas/tickets.js'
import { ADMIN_KEY, readyApp } from '../../support/app.js'
import { createTestDatabase, type TestDatabase } from '../../support/database.js'
import { createEventWithTier, overHttp, problemType } from '../../support/fixtures.js'
import { holdInTransaction, waitForLockWaiters } from '../../support/locks.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../../support/process.js'
import { startTcpProxy } from '../../support/tcp-proxy.js'

/*
 * "Exactly once at the door" across server processes, and an upload cut off by the database: two
 * real server processes on one database scan the same tickets at once (online scans, and an offline
 * upload racing them); a database connection reset in the middle of an upload's transaction is a
 * 503, and the same upload sent again records every scan exactly once.
 */

let db: TestDatabase
beforeAll(async () => { db = await createTestDatabase() })
afterAll(async () => { await db.drop() })

const asAdmin = { authorization: `Bearer ${ADMIN_KEY}` }

interface Call { status: number, body: Record<string, unknown>, headers: Headers }

async function call (base: string, method: 'GET' | 'POST', url: string, headers: Record<string, string>, payload?: object): Promise<Call> {
  const response = await fetch(`${base}${url}`, payload === undefined
    ? { method, headers }
    : { method, headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(payload) })
  return { status: response.status, body: await response.json() as Record<string, unknown>, headers: response.headers }
}

/** An event with one tier, `count` valid tickets of an integrator's bookings, a list and a scanner key, made through `base`. */
async function door (base: string, sql: Sql, count: number) {
  const { eventId, tierId } = await createEventWithTier(overHttp(base), { capacity: count, maxPerBooking: 100 })
  const integrator = { authorization: `Bearer ${(await createIntegratorsRepository(sql).createWithKey('Door')).key.key}` }
  const tickets: Ticket[] = []
  for (let left = count; left > 0; left -= 100) {
    const booking = await call(base, 'POST', '/api/bookings', integrator, { eventId, items: [{ ticketTierId: tierId, quantity: Math.min(100, left) }] })
    expect(booking.status, JSON.stringify(booking.body)).toBe(201)
    const listed = await call(base, 'GET', `/api/bookings/${String(booking.body.id)}/tickets`, integrator)
    tickets.push(...(listed.body.data as Ticket[]))
  }
  const list = await call(base, 'POST', `/api/events/${eventId}/check-in-lists`, asAdmin, { name: 'Main door' })
  const key = await call(base, 'POST', `/api/events/${eventId}/scanner-keys`, asAdmin, { name: 'Gate' })
  return { eventId, tickets, listId: String(list.body.id), scanner: { authorization: `Bearer ${String(key.body.key)}` } }
}

/** Per ticket: its admissions (entries let in), its conflicts and its refused entries, as recorded. */
async function ledger (sql: Sql, listId: string) {
  return await sql<Array<{ ticketId: string, admitted: number, conflicts: number, refused: number }>>`
    select ticket_id,
      count(*) filter (where result = 'admitted' and type = 'entry')::int as admitted,
      count(*) filter (where result = 'conflict')::int as conflicts,
      count(*) filter (where result = 'rejected')::int as refused
    from check_ins where check_in_list_id = ${listId}
    group by ticket_id order by ticket_id
  `
}

describe('two server processes scanning the same tickets', () => {
  const servers: ServerProcess[] = []
  afterAll(async () => {
    for (const server of servers) {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM')
      await server.exited
    }
  })

  async function start (): Promise<string> {
    const server = spawnServer(loadServerEnv(db.url))
    servers.push(server)
    const base = await listeningAt(server)
    return base
  }

  it('admits each ticket exactly once, online on both and with an upload racing the online scans', async () => {
    const bases = await Promise.all([start(), start()])
    const base = (n: number): string => bases[n % 2] as string
    const d = await door(base(0), db.sql, 40)
    const online = d.tickets.slice(0, 20)
    const raced = d.tickets.slice(20)

    // Half of them met a door before (an exit refused as not-inside): the first entry is then decided on a
    // row that exists, the other half's on a row made by the first scan.
    for (const ticket of online.slice(0, 10)) {
      const exit = await call(base(0), 'POST', '/api/check-ins', d.scanner, { code: ticket.code, checkInListId: d.listId, nonce: randomUUID(), type: 'exit' })
      expect(exit.body.type).toBe(problemType('not-inside'))
    }
    // 20 tickets, each scanned 12 times at once, alternately on the two processes: 240 scans in flight.
    const answers = await Promise.all(online.flatMap((ticket) => Array.from({ length: 12 }, async (_, n) =>
      ({ ticket: ticket.id, answer: await call(base(n), 'POST', '/api/check-ins', d.scanner, { code: ticket.code, checkInListId: d.listId, nonce: randomUUID() }) }))))
    for (const ticket of online) {
      const mine = answers.filter((each) => each.ticket === ticket.id).map((each) => each.answer)
      expect(mine.filter((answer) => answer.status === 201), ticket.id).toHaveLength(1)
      expect(mine.filter((answer) => answer.status === 409 && answer.body.type === problemType('already-checked-in')), ticket.id).toHaveLength(11)
    }

    // The other 20: an offline device uploads their entries on one process while four doors scan them online on the other.
    const upload = call(base(0), 'POST', '/api/check-ins/batch', d.scanner, {
      checkIns: raced.map((ticket) => ({ code: ticket.code, checkInListId: d.listId, nonce: randomUUID(), scannedAt: new Date(Date.now() - 60_000).toISOString() }))
    })
    const scans = Promise.all(raced.flatMap((ticket) => Array.from({ length: 4 }, async () =>
      await call(base(1), 'POST', '/api/check-ins', d.scanner, { code: ticket.code, checkInListId: d.listId, nonce: randomUUID() }))))
    const [uploaded, scanned] = await Promise.all([upload, scans])
    expect(uploaded.status).toBe(200)
    const outcomes = (uploaded.body.results as CheckInResult[]).map((result) => result.outcome)
    expect(outcomes.every((outcome) => outcome === 'admitted' || outcome === 'conflict')).toBe(true)
    expect(scanned.every((answer) => answer.status === 201 || answer.status === 409)).toBe(true)

    // The database's own record: every ticket admitted exactly once; an upload's entry that came
    // second is a conflict, an online one a refusal; the status counts agree.
    const rows = await ledger(db.sql, d.listId)
    expect(rows).toHaveLength(40)
    for (const row of rows) expect(row.admitted, row.ticketId).toBe(1)
    expect(rows.reduce((sum, row) => sum + row.refused, 0)).toBe(20 * 11 + 10 + scanned.filter((answer) => answer.status === 409).length)
    const racedRows = rows.filter((row) => raced.some((ticket) => ticket.id === row.ticketId))
    expect(racedRows.reduce((sum, row) => sum + row.conflicts, 0)).toBe(outcomes.filter((outcome) => outcome === 'conflict').length)
    const status = await call(base(1), 'GET', `/api/check-in-lists/${d.listId}/status`, d.scanner)
    expect(status.body).toMatchObject({ tickets: 40, admitted: 40, inside: 40, conflicts: outcomes.filter((outcome) => outcome === 'conflict').length })
  }, 120_000)
})

describe('an upload the database cuts off', () => {
  it('is a 503 with Retry-After and records nothing; the same upload again records every scan exactly once', async () => {
    const target = new URL(db.url)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    const proxied = new URL(db.url)
    proxied.host = `127.0.0.1:${proxy.port}`
    const sql = createSql(proxied.toString(), { max: 4 })
    const app = await readyApp(sql)
    try {
      const base = await app.listen({ port: 0, host: '127.0.0.1' })
      const d = await door(base, db.sql, 300)
      const scans = d.tickets.map((ticket, n) => ({ code: ticket.code, checkInListId: d.listId, nonce: `offline-${n}`, scannedAt: new Date(Date.now() - 600_000 + n).toISOString() }))
      // Another session holds the last ticket's row: the upload waits for it inside its transaction.
      const last = d.tickets.at(-1) as Ticket
      await db.sql`insert into check_in_states (check_in_list_id, ticket_id, ticket_tier_id) values (${d.listId}, ${last.id}, ${last.ticketTierId})`
      const release = await holdInTransaction(db.sql, async (tx) => await tx`select 1 from check_in_states where ticket_id = ${last.id} for update`)
      const cut = call(base, 'POST', '/api/check-ins/batch', d.scanner, { checkIns: scans })
      await waitForLockWaiters(db.sql)
      await proxy.setMode('reset')
      const refused = await cut
      expect(refused.status, JSON.stringify(refused.body)).toBe(503)
      expect(refused.body.type).toBe(problemType('service-unavailable'))
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
      await release()
      expect(await db.sql`select 1 from check_ins where check_in_list_id = ${d.listId}`).toHaveLength(0)

      await proxy.setMode('forward')
      let retried: Call | undefined
      for (let attempt = 0; attempt < 50 && retried?.status !== 200; attempt++) {
        retried = await call(base, 'POST', '/api/check-ins/batch', d.scanner, { checkIns: scans })
        if (retried.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(retried?.status).toBe(200)
      expect((retried?.body.results as CheckInResult[]).map((result) => result.outcome)).toEqual(scans.map(() => 'admitted'))
      const again = await call(base, 'POST', '/api/check-ins/batch', d.scanner, { checkIns: scans })
      expect((again.body.results as CheckInResult[]).map((result) => result.outcome)).toEqual(scans.map(() => 'replayed'))
      const rows = await ledger(db.sql, d.listId)
      expect(rows).toHaveLength(300)
      expect(rows.every((row) => row.admitted === 1 && row.conflicts === 0 && row.refused === 0)).toBe(true)
    } finally {
      await app.close()
      await sql.end({ timeout: 1 })
      await proxy.close()
    }
  }, 60_000)
})
