import type { FastifyBaseLogger } from 'fastify'
import { buildApp, type App } from './app.js'
import type { Config } from './config.js'
import { startEmbeddedPostgres, type EmbeddedPostgres } from './db/embedded.js'
import { settlesWithin } from './db/deadline.js'
import { migrate } from './db/migrate.js'
import { seedDemo } from './db/seed.js'
import { createSql, missingSessionSettings, type Sql, type SqlOptions } from './db/sql.js'
import { createIntegratorsRepository } from './features/integrators/integrators-repository.js'
import { createTicketCodes } from './features/tickets/codes.js'
import { closeStepsRunning } from './plugins/close-steps.js'

/** Lapsed holds are expired in the database within this long (clients see them expired at once). */
const HOLD_SWEEP_INTERVAL_MS = 5_000
/** Expired webhook rows are deleted hourly: a round's batches are short, and the backlog of an hour small. */
const RETENTION_SWEEP_INTERVAL_MS = 60 * 60_000
/**
 * At shutdown, once the app has closed (or run out of time), the pools' connections get this long
 * to end before they are destroyed. Nothing of the service's is running on them by then; a
 * connection that broke mid-query after a failover waits for the full timeout (postgres.js keeps
 * the failed query as its current one, porsager/postgres#1130), so it is short.
 */
const POOL_END_TIMEOUT_S = 1

export interface RunningService {
  app: App
  /** Base URL the API listens on, e.g. http://127.0.0.1:3000 */
  url: string
  /**
   * Turns readiness to 503 and keeps serving for `drainDelayMs` (load balancers move traffic
   * away), then drains in-flight requests, ends the pool and stops the embedded database.
   */
  close: () => Promise<void>
  /** On the embedded database's first start: the key of the demo integrator, to print once. */
  demoKey?: string | undefined
}

/** The embedded default's first start makes a demo integrator, so a new user can book at once. */
async function createDemoIntegrator (sql: Sql): Promise<string> {
  const { key } = await createIntegratorsRepository(sql).createWithKey('Demo integrator', { name: 'demo' })
  return key.key
}

/**
 * Starts the whole service: without DATABASE_URL an embedded PostgreSQL under DATA_DIR (with the
 * demo event seeded into it), then pending migrations, then the HTTP listener.
 */
export interface StartServiceOptions {
  /**
   * How long `close()` lets requests in flight and background work finish, after the drain delay,
   * before it cuts them short (default 12 s). The pools then get POOL_END_TIMEOUT_S to end.
   */
  drainTimeoutMs?: number
}

export async function startService (config: Config, logger: FastifyBaseLogger, { drainTimeoutMs = 12_000 }: StartServiceOptions = {}): Promise<RunningService> {
  let embedded: EmbeddedPostgres | undefined
  let sql: Sql | undefined
  let sessionSql: Sql | undefined
  let app: App | undefined
  let draining = false
  const endPools = async (): Promise<void> => {
    await Promise.all([sql?.end({ timeout: POOL_END_TIMEOUT_S }), sessionSql?.end({ timeout: POOL_END_TIMEOUT_S })])
  }
  const close = async (): Promise<void> => {
    if (app !== undefined) {
      const serving = app.server.listening
      draining = true
      if (serving && config.drainDelayMs > 0) {
        logger.info({ drainDelayMs: config.drainDelayMs }, 'readiness answers 503: still serving until the drain delay ends')
        await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs))
      }
      const { server } = app
      let requestsDone = !serving
      server.once('close', () => { requestsDone = true })
      const closing = app.close()
      if (!await settlesWithin(closing, drainTimeoutMs)) {
        // Out of time: what still runs is cut short, and named. Requests still unanswered lose their
        // connections; background work (a sweep round, a webhook attempt, a batch) stuck on the
        // database sees its queries fail once the pool is ended, and is taken up again by this or
        // another process (a lapsed hold is swept, a leased delivery retried, a booking retried
        // with its idempotency key).
        const cut = [...(requestsDone ? [] : ['requests in flight']), ...closeStepsRunning(app)]
        logger.warn({ drainTimeoutMs, cut }, `shutdown: still running after ${drainTimeoutMs} ms, cut short: ${cut.join(', ')}`)
        server.closeAllConnections()
        closing.catch((error: unknown) => { logger.warn({ err: error }, 'shutdown: closing the app failed after the cut') })
        await endPools()
        await settlesWithin(closing, POOL_END_TIMEOUT_S * 1000)
      } else {
        await closing
      }
    }
    await endPools()
    await embedded?.stop()
  }

  try {
    let databaseUrl = config.databaseUrl
    if (databaseUrl === undefined) {
      logger.info({ dataDir: config.dataDir }, 'DATABASE_URL is not set: starting the embedded PostgreSQL')
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir })
      databaseUrl = embedded.url
    }

    // With a pooler in DATABASE_URL, what needs a session of its own goes to the database directly.
    const directUrl = config.databaseDirectUrl
    const applied = await migrate(directUrl ?? databaseUrl, logger)
    logger.info({ applied }, applied.length > 0 ? 'migrations applied' : 'database schema is up to date')

    const onNotice: SqlOptions['onNotice'] = (notice) => { logger.warn({ notice: notice.message }, 'postgres notice') }
    sql = createSql(databaseUrl, { throughPooler: directUrl !== undefined, onNotice })
    if (directUrl !== undefined) {
      sessionSql = createSql(directUrl, { max: 2, applicationName: 'ticket-booking-api:sessions', onNotice })
      const missing = await missingSessionSettings(sql)
      if (missing.length > 0) {
        logger.warn({ missing }, `through the pooler, these settings are off: ${missing.join(', ')}; set them on the database or role (alter database … set …), or a stuck lock or statement waits without end`)
      }
    }
    let demoKey: string | undefined
    if (embedded !== undefined) {
      const { created } = await seedDemo(sql)
      if (created) logger.info('seeded the demo event "The Demo Tour: Live"')
      if (embedded.created) demoKey = await createDemoIntegrator(sql)
    }

    // Valid tickets made before codes existed get theirs before anyone can read them.
    const signed = await createTicketCodes(sql, config.ticketSigningKeys).signMissingCodes()
    if (signed > 0) logger.info({ signed }, 'signed the codes of earlier tickets')

    app = buildApp({ config, sql, sessionSql, logger, isDraining: () => draining, holdSweepIntervalMs: HOLD_SWEEP_INTERVAL_MS, retentionSweepIntervalMs: RETENTION_SWEEP_INTERVAL_MS, webhookDispatcher: {} })
    await app.listen({ port: config.port, host: config.host })
    const address = app.server.address()
    const port = address !== null && typeof address === 'object' ? address.port : config.port
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
    return { app, url, close, demoKey }
  } catch (error) {
    await close().catch(() => {})
    throw error
  }
}
