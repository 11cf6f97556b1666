import type { TransactionSql } from 'postgres'
import type { Queryable, Sql } from '../../src/db/sql.js'
import { waitUntil } from './wait.js'

/** Backends of the transactions holdInTransaction keeps open now. */
const holders = new Set<number>()

/**
 * Opens a transaction, runs `take` in it (e.g. `select … for update`), and keeps it open, with
 * whatever it locked, until the returned `release` is called; `release` waits for the commit.
 */
export async function holdInTransaction (sql: Sql, take: (tx: TransactionSql<{ bigint: number }>) => Promise<unknown>): Promise<() => Promise<void>> {
  let release = (): void => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  let taken = (): void => {}
  const isTaken = new Promise<void>((resolve) => { taken = resolve })
  let backend: number | undefined
  const holder = sql.begin(async (tx) => {
    const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`
    backend = row?.pid
    if (backend !== undefined) holders.add(backend)
    await take(tx)
    taken()
    await released
  }).finally(() => { if (backend !== undefined) holders.delete(backend) })
  await Promise.race([isTaken, holder])
  return async () => {
    release()
    await holder
  }
}

/**
 * Waits until `count` sessions of `sql`'s database wait on what a holdInTransaction holds (e.g.
 * requests behind a held tier): directly, or queued behind one that does (a second `for update` of
 * a row waits on the first one's tuple lock). Sessions waiting on any other lock do not count: the
 * service's own work (a relation extended, a commit's turn at NOTIFY, another job's row) is not
 * what a test that holds a lock is waiting for.
 */
export async function waitForLockWaiters (sql: Queryable, count = 1, timeoutMs = 5_000): Promise<void> {
  if (holders.size === 0) throw new Error('waitForLockWaiters: nothing is held; take a lock with holdInTransaction first')
  await waitUntil(async () => {
    const waiters = await sql<{ pid: number, blockers: number[] }[]>`
      select pid, pg_blocking_pids(pid) as blockers from pg_stat_activity
      where wait_event_type = 'Lock' and datname = current_database()
    `
    const behind = new Set<number>()
    for (let grew = true; grew;) {
      grew = false
      for (const { pid, blockers } of waiters) {
        if (behind.has(pid) || !blockers.some((blocker) => holders.has(blocker) || behind.has(blocker))) continue
        behind.add(pid)
        grew = true
      }
    }
    return behind.size >= count
  }, `${count} ${count === 1 ? 'query waits' : 'queries wait'} on a held lock`, { timeoutMs, intervalMs: 10 })
}
