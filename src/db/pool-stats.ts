import type { Sql } from './sql.js'

/** What a pool's connections are doing now (`scripts/patch-postgres.mjs` adds the getter to postgres.js). */
export interface PoolStats {
  max: number
  connecting: number
  idle: number
  inUse: number
  /** Queries (and transactions) waiting for a connection. */
  waiting: number
}

/** The pool's stats, or undefined when the driver was not patched (a fresh `npm install` patches it). */
export function poolStats (sql: Sql): PoolStats | undefined {
  return (sql as unknown as { poolStats?: PoolStats }).poolStats
}
