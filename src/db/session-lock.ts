import type { Sql } from './sql.js'

/**
 * Runs `work` while this session holds the advisory lock `name`, on a connection of `sessionSql`
 * reserved for it; `undefined` when another session holds it (another process is at the same
 * work), without waiting. The lock is a session's, so through a pooler in transaction mode it must
 * be taken on a direct connection; `work` itself may query any pool.
 */
export async function underSessionLock<T> (sessionSql: Sql, name: string, work: () => Promise<T>): Promise<T | undefined> {
  const session = await sessionSql.reserve()
  try {
    const [lock] = await session<{ acquired: boolean }[]>`
      select pg_try_advisory_lock(hashtextextended(${name}, 0)) as acquired
    `
    if (lock?.acquired !== true) return undefined
    try {
      return await work()
    } finally {
      await session`select pg_advisory_unlock(hashtextextended(${name}, 0))`
    }
  } finally {
    session.release()
  }
}
