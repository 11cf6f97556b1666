import type { TransactionSql } from 'postgres'
import type { Queryable, Sql } from '../../src/db/sql.js'
import { waitUntil } from './wait.js'

/**
 * Opens a transaction, runs `take` in it (e.g. `select … for update`), and keeps it open, with
 * whatever it locked, until the returned `release` is called; `release` waits for the commit.
 */
export async function holdInTransaction (sql: Sql, take: (tx: TransactionSql<{ bigint: number }>) => Promise<unknown>): Promise<() => Promise<void>> {
  let release = (): void => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  let taken = (): void => {}
  const isTaken = new Promise<void>((resolve) => { taken = resolve })
  const holder = sql.begin(async (tx) => {
    await take(tx)
    taken()
    await released
  })
  await Promise.race([isTaken, holder])
  return async () => {
    release()
    await holder
  }
}

/** Waits until `count` sessions of `sql`'s database wait on a lock (e.g. requests behind a held tier). */
export async function waitForLockWaiters (sql: Queryable, count = 1, timeoutMs = 5_000): Promise<void> {
  await waitUntil(async () => {
    const [row] = await sql<{ waiting: number }[]>`
      select count(*)::int as waiting from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()
    `
    return (row?.waiting ?? 0) >= count
  }, `${count} ${count === 1 ? 'query waits' : 'queries wait'} on a lock`, { timeoutMs, intervalMs: 10 })
}
