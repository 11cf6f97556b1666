import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { withinDeadline } from '../../db/deadline.js'
import type { Sql } from '../../db/sql.js'
import type { Metrics } from '../../metrics.js'
import { onCloseStep } from '../../plugins/close-steps.js'
import { createSender, type AttemptResult, type Sender } from './sender.js'

export const DELIVERIES_CHANNEL = 'webhook_deliveries'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
/** A claim stuck on a database that died under it (a failover) must not stop the loop. */
const CLAIM_DEADLINE_MS = 15 * SECOND

/**
 * The contract's retry schedule: the wait after each failed attempt, about 5 s, 1 min, 10 min,
 * 1 h, then every 6 h for 3 days. After the last one fails, the delivery is `failed`.
 */
export const RETRY_DELAYS_MS: readonly number[] = [5 * SECOND, MINUTE, 10 * MINUTE, HOUR, ...Array<number>(12).fill(6 * HOUR)]

export interface DispatcherOptions {
  sql: Sql
  /**
   * Where the dispatcher LISTENs (default `sql`): through a pooler in transaction mode a LISTEN
   * lasts only as long as its transaction, so it needs a direct connection.
   */
  listenSql?: Sql
  sender: Sender
  logger: FastifyBaseLogger
  /** Waits after failed attempts (default: the contract's schedule). */
  retryDelaysMs?: readonly number[]
  /**
   * Attempts in flight at once in this process (default 32). An attempt holds no database
   * connection while it waits for the receiver, only a socket.
   */
  concurrency?: number
  /** How often to look for due retries when no notification comes (default 1 s). */
  pollIntervalMs?: number
  /**
   * How long a claimed delivery stays out of other processes' reach (default 30 s, three times the
   * attempt timeout); a process that dies mid-attempt leaves it to be retried after this.
   */
  leaseMs?: number
  /** Counts attempts and times them, and the latency of each delivery. */
  metrics?: Metrics | undefined
}

interface Claimed {
  id: string
  attempts: number
  eventId: string
  body: string
  url: string
  secrets: string[]
  leaseToken: string
  eventCreatedAt: Date
}

/** The next state after an attempt: delivered, retried after a delay, or given up. */
export function nextStep (result: AttemptResult, attemptsBefore: number, delays: readonly number[]): { status: 'succeeded' | 'failed' } | { status: 'pending', delayMs: number } {
  if (result.ok) return { status: 'succeeded' }
  const delayMs = delays[attemptsBefore]
  return delayMs === undefined ? { status: 'failed' } : { status: 'pending', delayMs }
}

/**
 * Delivers webhook events from the outbox. Each process runs one; they share the work through the
 * database: due deliveries are claimed with `FOR UPDATE SKIP LOCKED` and leased to one process,
 * so no delivery is attempted by two at once, and each attempt is recorded only while its lease
 * holds. New deliveries wake it through LISTEN/NOTIFY; due retries are found by polling.
 */
export function createDispatcher ({ sql, listenSql = sql, sender, logger, retryDelaysMs = RETRY_DELAYS_MS, concurrency = 32, pollIntervalMs = SECOND, leaseMs = 30 * SECOND, metrics }: DispatcherOptions) {
  const inFlight = new Set<Promise<void>>()
  let stopping = false
  let wake: (() => void) | undefined
  /** Set by a wake-up that came while no sleep was waiting, so the next sleep is skipped. */
  let woken = false
  let loop: Promise<void> | undefined
  let unlisten: (() => Promise<void>) | undefined

  const poke = (): void => {
    woken = true
    wake?.()
  }

  async function claim (limit: number): Promise<Claimed[]> {
    const token = randomUUID()
    return await sql<Claimed[]>`
      with due as (
        select d.id from webhook_deliveries d
        where d.status = 'pending' and d.next_attempt_at <= clock_timestamp()
          and (d.leased_until is null or d.leased_until <= clock_timestamp())
          and exists (select 1 from webhook_endpoints w where w.id = d.endpoint_id and not w.disabled)
        order by d.next_attempt_at
        limit ${limit}
        for update of d skip locked
      )
      update webhook_deliveries d
      set leased_until = clock_timestamp() + make_interval(secs => ${leaseMs / 1000}), lease_token = ${token}
      from due, webhook_events e, webhook_endpoints w
      where d.id = due.id and e.id = d.event_id and w.id = d.endpoint_id
      returning d.id, d.attempts, e.id as event_id, e.body, w.url, e.created_at as event_created_at,
        array_remove(array[w.secret, case when w.previous_secret_expires_at > clock_timestamp() then w.previous_secret end], null) as secrets,
        d.lease_token
    `
  }

  async function record (delivery: Claimed, startedAt: Date, durationMs: number, result: AttemptResult): Promise<void> {
    const step = nextStep(result, delivery.attempts, retryDelaysMs)
    const rows = await sql`
      with updated as (
        update webhook_deliveries
        set attempts = attempts + 1, last_attempt_at = ${startedAt}, last_response_status = ${result.status}, last_error = ${result.error},
          status = ${step.status},
          next_attempt_at = ${step.status === 'pending' ? sql`clock_timestamp() + make_interval(secs => ${step.delayMs / 1000})` : null},
          leased_until = null, lease_token = null
        where id = ${delivery.id} and lease_token = ${delivery.leaseToken}
        returning id
      )
      insert into webhook_delivery_attempts (delivery_id, attempted_at, duration_ms, response_status, error)
      select id, ${startedAt}, ${durationMs}, ${result.status}, ${result.error} from updated
      returning delivery_id
    `
    if (rows.length === 0) {
      logger.warn({ deliveryId: delivery.id }, 'webhook attempt not recorded: its lease ended first, or its endpoint was deleted meanwhile')
      return
    }
    metrics?.webhookAttempts.inc({ result: step.status === 'pending' ? 'retrying' : step.status })
    metrics?.webhookAttemptDuration.observe(durationMs / 1000)
    if (step.status === 'succeeded') metrics?.webhookDeliveryLatency.observe((Date.now() - delivery.eventCreatedAt.getTime()) / 1000)
  }

  async function attempt (delivery: Claimed): Promise<void> {
    const startedAt = new Date()
    const result = await sender.send({ url: delivery.url, eventId: delivery.eventId, body: delivery.body, secrets: delivery.secrets })
    const durationMs = Date.now() - startedAt.getTime()
    logger.debug({ deliveryId: delivery.id, eventId: delivery.eventId, status: result.status, ok: result.ok }, 'webhook attempt')
    await record(delivery, startedAt, durationMs, result)
  }

  function start (delivery: Claimed): void {
    const running = attempt(delivery)
      .catch((error: unknown) => { logger.error({ err: error, deliveryId: delivery.id }, 'recording a webhook attempt failed; it is retried when its lease ends') })
      .finally(() => { inFlight.delete(running); poke() })
    inFlight.add(running)
  }

  async function sleep (ms: number): Promise<void> {
    if (woken) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done (): void { clearTimeout(timer); wake = undefined; resolve() }
      wake = done
    })
  }

  async function run (): Promise<void> {
    let failing = false
    // eslint-disable-next-line no-unmodified-loop-condition -- stop() sets it, between awaits
    while (!stopping) {
      woken = false
      const free = concurrency - inFlight.size
      let claimed: Claimed[] = []
      if (free > 0) {
        try {
          claimed = await withinDeadline(claim(free), CLAIM_DEADLINE_MS, () => new Error(`claiming deliveries did not end within ${CLAIM_DEADLINE_MS} ms`))
          if (failing) logger.info('claiming webhook deliveries works again')
          failing = false
        } catch (error) {
          // Once per outage, not once per poll.
          if (!failing) logger.warn({ err: error }, 'claiming webhook deliveries failed; trying again every poll')
          failing = true
        }
        for (const delivery of claimed) start(delivery)
      }
      // A full claim may have left more due; otherwise wait for a notification, a free slot or the poll.
      if (free === 0 || claimed.length < free) await sleep(pollIntervalMs)
    }
  }

  return {
    async start (): Promise<void> {
      const listening = await listenSql.listen(DELIVERIES_CHANNEL, poke)
      unlisten = async () => { await listening.unlisten() }
      loop = run()
    },

    /** Stops claiming, then waits for the attempts in flight to finish and be recorded. */
    async stop (): Promise<void> {
      stopping = true
      poke()
      await loop
      await Promise.allSettled([...inFlight])
      // Not waited for: on a connection that has stalled it would never end, and ending the pool
      // drops the listen anyway.
      void unlisten?.().catch(() => {})
    }
  }
}

export type Dispatcher = ReturnType<typeof createDispatcher>

/** Tuning of the dispatcher; the defaults are the contract's. */
export type WebhookDispatcherTuning = Pick<DispatcherOptions, 'retryDelaysMs' | 'concurrency' | 'pollIntervalMs' | 'leaseMs' | 'metrics'> & {
  /** How long one attempt may take (default 10 s). */
  timeoutMs?: number
}

export interface WebhookDispatcherOptions extends WebhookDispatcherTuning {
  sql: Sql
  listenSql?: Sql | undefined
  allowPrivateNetworks: boolean
}

/**
 * Runs the webhook dispatcher beside the API once the app is ready. On close it stops claiming
 * deliveries and waits for the attempts in flight (each bounded by its timeout) before the pool
 * is ended.
 */
export const webhookDispatcher = fp(async function webhookDispatcherPlugin (app: FastifyInstance, { sql, listenSql, allowPrivateNetworks, timeoutMs, ...tuning }: WebhookDispatcherOptions) {
  const sender = createSender({ allowPrivateNetworks, timeoutMs })
  const dispatcher = createDispatcher({ sql, listenSql, sender, logger: app.log, ...tuning })
  app.addHook('onReady', async () => { await dispatcher.start() })
  onCloseStep(app, 'webhook dispatcher', async () => {
    await dispatcher.stop()
    await sender.close()
  })
}, { name: 'webhook-dispatcher' })
