import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Sql } from '../db/sql.js'
import { sweepLapsedHolds } from '../features/bookings/holds.js'

export interface HoldSweeperOptions {
  sql: Sql
  /** How often to look for lapsed holds; 0 turns the sweep off. */
  intervalMs: number
}

/**
 * Marks lapsed holds `expired` and returns their tickets in the background. Clients never wait
 * for it: reads and bookings treat a hold as expired the instant it lapses. Several processes
 * may run it; an advisory lock lets one sweep at a time.
 */
export default fp(async function holdSweeperPlugin (app: FastifyInstance, { sql, intervalMs }: HoldSweeperOptions) {
  if (intervalMs <= 0) return
  let running: Promise<void> | undefined
  const timer = setInterval(() => {
    if (running !== undefined) return
    running = sweepLapsedHolds(sql)
      .then((expired) => { if (expired > 0) app.log.info({ expired }, 'expired lapsed holds') })
      .catch((error: unknown) => { app.log.error({ err: error }, 'hold sweep failed') })
      .finally(() => { running = undefined })
  }, intervalMs)
  timer.unref()
  app.addHook('onClose', async () => {
    clearInterval(timer)
    await running
  })
}, { name: 'hold-sweeper' })
