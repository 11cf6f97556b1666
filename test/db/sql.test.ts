import net from 'node:net'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isDatabaseTimeout, isDatabaseUnavailable } from '../../src/db/sql.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'

let db: TestDatabase
beforeAll(async () => { db = await createTestDatabase() })
afterAll(async () => { await db.drop() })

async function failure (attempt: () => Promise<unknown>): Promise<unknown> {
  try {
    await attempt()
  } catch (error) {
    return error
  }
  throw new Error('it did not fail')
}

/** A port nothing listens on (bound, then closed). */
async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}

describe('telling an unavailable database from a failed query', () => {
  it('takes real connection failures as unavailable: refused, a database that does not exist (FATAL), a terminated session, a write to a destroyed socket or to one the server ended', async () => {
    const refused = postgres(`postgres://postgres@127.0.0.1:${await closedPort()}/x`, { max: 1, connect_timeout: 2, onnotice: () => {} })
    expect(isDatabaseUnavailable(await failure(async () => await refused`select 1`))).toBe(true)
    await refused.end({ timeout: 1 })

    const missing = new URL(db.url)
    missing.pathname = '/ticket_booking_no_such_database'
    const absent = postgres(missing.toString(), { max: 1, onnotice: () => {} })
    const fatal = await failure(async () => await absent`select 1`)
    expect(fatal).toMatchObject({ code: '3D000', severity: 'FATAL' })
    expect(isDatabaseUnavailable(fatal)).toBe(true)
    await absent.end({ timeout: 1 })

    const victim = postgres(db.url, { max: 1, onnotice: () => {} })
    const [{ pid } = { pid: 0 }] = await victim<{ pid: number }[]>`select pg_backend_pid() as pid`
    const terminated = failure(async () => await victim`select pg_sleep(5)`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await db.sql`select pg_terminate_backend(${pid})`
    expect(isDatabaseUnavailable(await terminated)).toBe(true)
    await victim.end({ timeout: 1 })

    const socket = net.connect(new URL(db.url).port === '' ? 5432 : Number(new URL(db.url).port), new URL(db.url).hostname)
    await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
    socket.destroy()
    const destroyed = await new Promise<unknown>((resolve) => { socket.write('x', resolve) })
    expect(destroyed).toMatchObject({ code: 'ERR_STREAM_DESTROYED' })
    expect(isDatabaseUnavailable(destroyed)).toBe(true)

    // The server ends the connection (as PostgreSQL does to a terminated session); a write after
    // that is Node's EPIPE without a syscall: "This socket has been ended by the other party".
    const ending = net.createServer((peer) => { peer.end() })
    await new Promise<void>((resolve) => ending.listen(0, '127.0.0.1', resolve))
    const ended = net.connect({ port: (ending.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: false })
    ended.on('error', () => {})
    await new Promise<void>((resolve) => ended.once('end', () => { resolve() }))
    const afterEnd = await new Promise<unknown>((resolve) => { ended.write('x', resolve) })
    expect(afterEnd).toMatchObject({ code: 'EPIPE', message: 'This socket has been ended by the other party' })
    expect(isDatabaseUnavailable(afterEnd)).toBe(true)
    ended.destroy()
    await new Promise<void>((resolve) => ending.close(() => { resolve() }))
  })

  it('does not take query errors as unavailable: a constraint, a missing table, a syntax error, a cancelled statement (that is a timeout)', async () => {
    for (const query of [
      async () => await db.sql`insert into events (name, venue, starts_at, currency) values ('', 'v', now(), 'EUR')`,
      async () => await db.sql`select * from no_such_table`,
      async () => await db.sql.unsafe('selec 1'),
      async () => await db.sql.begin(async (tx) => { await tx`set local statement_timeout = 50`; await tx`select pg_sleep(1)` })
    ]) {
      const error = await failure(query)
      expect(isDatabaseUnavailable(error), String(error)).toBe(false)
    }
    const cancelled = await failure(async () => await db.sql.begin(async (tx) => { await tx`set local statement_timeout = 50`; await tx`select pg_sleep(1)` }))
    expect(isDatabaseTimeout(cancelled)).toBe(true)
    expect(isDatabaseUnavailable(new TypeError('a bug'))).toBe(false)
  })
})
