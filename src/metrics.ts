import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/*
 * The service's Prometheus metrics, one registry per app (so several apps in one process, as the
 * tests run them, keep their own counts). Label values are bounded: route templates, never raw
 * paths; outcomes and results from fixed sets.
 */

export const BOOKING_OUTCOMES = ['created', 'replayed', 'insufficient', 'rejected', 'unavailable', 'error'] as const
export type BookingOutcome = typeof BOOKING_OUTCOMES[number]

export const WEBHOOK_ATTEMPT_RESULTS = ['succeeded', 'retrying', 'failed'] as const
export type WebhookAttemptResult = typeof WEBHOOK_ATTEMPT_RESULTS[number]

/** Seconds: from a millisecond up to the 15 s past which no request waits (the 12 s deadline). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15]

export function createMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]

  const metrics = {
    registry,
    httpRequestDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by method, route template and status code, and how long each took to answer.',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: DURATION_BUCKETS,
      registers
    }),
    bookings: new Counter({
      name: 'bookings_total',
      help: 'Booking requests (POST /api/bookings) by outcome: created (201), replayed (200), insufficient (409, not enough tickets), rejected (another 4xx), unavailable (503: the database is down, busy or too slow), error (500).',
      labelNames: ['outcome'] as const,
      registers
    }),
    batchSize: new Histogram({
      name: 'group_commit_batch_size',
      help: 'Requests decided together in one transaction, by kind (bookings, scans).',
      labelNames: ['kind'] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100],
      registers
    }),
    holdSweeps: new Counter({
      name: 'hold_sweeps_total',
      help: 'Rounds of the lapsed-hold sweep in this process by result: completed (including rounds another process had the lock for), failed.',
      labelNames: ['result'] as const,
      registers
    }),
    holdsExpired: new Counter({
      name: 'holds_expired_total',
      help: 'Lapsed holds the sweep marked expired (their tickets returned).',
      registers
    }),
    webhookAttempts: new Counter({
      name: 'webhook_delivery_attempts_total',
      help: 'Webhook delivery attempts by result: succeeded (2xx), retrying (failed, another attempt is scheduled), failed (the last attempt failed).',
      labelNames: ['result'] as const,
      registers
    }),
    webhookAttemptDuration: new Histogram({
      name: 'webhook_delivery_attempt_duration_seconds',
      help: 'How long the receiver took to answer one delivery attempt.',
      buckets: DURATION_BUCKETS,
      registers
    }),
    webhookDeliveryLatency: new Histogram({
      name: 'webhook_delivery_latency_seconds',
      help: 'From the event (the change that caused it) to its successful delivery, retries included.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 3600, 21600, 86400],
      registers
    }),
    retentionDeleted: new Counter({
      name: 'retention_rows_deleted_total',
      help: 'Rows the retention sweep deleted, by kind: webhook_delivery_attempts, webhook_deliveries, webhook_events.',
      labelNames: ['kind'] as const,
      registers
    }),
    checkIns: new Counter({
      name: 'check_ins_total',
      help: 'Scans by result (admitted, conflict, rejected, replayed) and mode (online, offline).',
      labelNames: ['result', 'mode'] as const,
      registers
    })
  }
  // Every outcome shows from the start (a rate of 0 rather than a missing series).
  for (const outcome of BOOKING_OUTCOMES) metrics.bookings.inc({ outcome }, 0)
  for (const result of WEBHOOK_ATTEMPT_RESULTS) metrics.webhookAttempts.inc({ result }, 0)
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>

/** A gauge whose value is read when Prometheus scrapes, into `registry`. */
export function scrapedGauge<Label extends string> (registry: Registry, name: string, help: string, labelNames: readonly Label[], read: (gauge: Gauge<Label>) => void | Promise<void>): Gauge<Label> {
  return new Gauge<Label>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect () { await read(this) }
  })
}
