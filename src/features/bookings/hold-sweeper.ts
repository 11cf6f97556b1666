import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { underSessionLock } from '../../db/session-lock.js'
import type { Sql } from '../../db/sql.js'
import type { Metrics } from '../../metrics.js'
import { runPeriodically } from '../../plugins/periodic-job.js'
import type { TicketCodes } from '../tickets/codes.js'
import { changeStatus } from './lifecycle.js'

const SWEEP_LOCK = 'ticket-booking:sweep-lapsed-holds'
/** A round stuck on a database that died under it must not stop the rounds after it (after a failover). */
const SWEEP_DEADLINE_MS = 60_000

export interface SweepOptions {
  /** Most holds expired in one round (default 500). */
  limit?: number
  /**
   * Where the session lock is taken (default `sql`): through a pooler in transaction mode a session
   * lock would stay on whichever server connection took it, so it needs a direct connection.
   */
  sessionSql?: Sql
}

/**
 * Marks lapsed holds `expired` and returns all their tickets, oldest first, up to `limit`, each in
 * a transaction of its own. A session advisory lock, on a connection reserved for it, lets one
 * process sweep at a time; the others skip the round. Returns the number of holds expired.
 */
export async function sweepLapsedHolds (sql: Sql, codes: TicketCodes, { limit = 500, sessionSql = sql }: SweepOptions = {}): Promise<number> {
  return await underSessionLock(sessionSql, SWEEP_LOCK, async () => {
    const lapsed = await sql<{ id: string }[]>`
      select id from bookings
      where status = 'held' and expires_at <= clock_timestamp()
      order by expires_at
      limit ${limit}
    `
    let expired = 0
    for (const { id } of lapsed) {
      if (await sql.begin(async (tx) => await changeStatus(tx, codes, id, 'expired')) !== undefined) expired++
    }
    return expired
  }) ?? 0
}

export interface HoldSweeperOptions {
  sql: Sql
  /** Direct connections for the sweep's session lock (see SweepOptions); default `sql`. */
  sessionSql?: Sql
  codes: TicketCodes
  /** How often to look for lapsed holds; 0 turns the sweep off. */
  intervalMs: number
  metrics?: Metrics | undefined
}

/**
 * Records the expiry of lapsed holds in the background. Clients never wait for it: reads and
 * bookings treat a hold as expired the instant it lapses. Several processes may run it.
 */
export const holdSweeper = fp(async function holdSweeperPlugin (app: FastifyInstance, { sql, sessionSql, codes, intervalMs, metrics }: HoldSweeperOptions) {
  runPeriodically(app, {
    name: 'hold sweep',
    intervalMs,
    deadlineMs: SWEEP_DEADLINE_MS,
    round: async () => await sweepLapsedHolds(sql, codes, { sessionSql }),
    report: (expired) => {
      metrics?.holdSweeps.inc({ result: 'completed' })
      if (expired === 0) return
      metrics?.holdsExpired.inc(expired)
      app.log.info({ expired }, 'expired lapsed holds')
    },
    failed: () => { metrics?.holdSweeps.inc({ result: 'failed' }) }
  })
}, { name: 'hold-sweeper' })
