import type { TransactionSql } from 'postgres'
import type { Sql } from '../../src/db/sql.js'

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
