import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { underSessionLock } from '../../db/session-lock.js'
import type { Sql } from '../../db/sql.js'
import type { Metrics } from '../../metrics.js'
import { runPeriodically } from '../../plugins/periodic-job.js'

/*
 * Retention: webhook events, their deliveries and the deliveries' attempts are an operational log,
 * deleted once they are finished and older than RETENTION_DAYS, so the tables stop growing without
 * bound. "Older" means:
 *
 * - a delivery (with its attempts): settled (`succeeded` or `failed`) and settled that long ago, by
 *   its last attempt (a delivery settled without an attempt: by its creation). A pending delivery,
 *   leased or not, stays whatever its age; a retried one is pending again and young after its
 *   next attempt.
 * - an event: created that long ago, and with no delivery left, so only once every delivery of it
 *   has gone by the rule above.
 *
 * Bookings, tickets and check-ins are never deleted, rejected scans included: a rejected scan is
 * what answers a retry of its nonce (the first answer again, with `Idempotent-Replayed: true`, and
 * nothing recorded twice), a promise the contract makes without a time limit. Without it the retry
 * would be decided anew: recorded a second time, and an `already-checked-in` or `not-inside` then
 * might admit or let out.
 *
 * Each batch is one statement, its own transaction, over at most `batchSize` rows (a delivery's
 * attempts go before it, in batches of their own), taking rows with SKIP LOCKED: it never waits
 * for a row, and bookings never wait for it, since they only add new events and deliveries.
 */

/** RETENTION_DAYS' default. */
export const DEFAULT_RETENTION_DAYS = 30
const RETENTION_LOCK = 'ticket-booking:retention-sweep'
/** A round stops starting batches after this long, and the next round goes on from there. */
const ROUND_BUDGET_MS = 5 * 60_000
/** Past this, a round stuck on a database that died under it no longer keeps the next one from starting. */
const ROUND_DEADLINE_MS = 10 * 60_000
/** The first round comes this soon after start, whatever the interval. */
const FIRST_ROUND_AFTER_MS = 60_000
const BEFORE_EVERYTHING = { at: new Date('0001-01-01T00:00:00.000Z'), id: '00000000-0000-0000-0000-000000000000' }

/** Rows a round deleted, by kind. */
export interface RetentionDeleted {
  webhookDeliveryAttempts: number
  webhookDeliveries: number
  webhookEvents: number
}

export interface RetentionSweepOptions {
  /** Finished rows older than this many days are deleted. */
  retentionDays: number
  /** Most rows a statement deletes (default 500). */
  batchSize?: number
  /** Where the session lock is taken (default `sql`); see underSessionLock. */
  sessionSql?: Sql
  /** Stops the round between batches (the app closing). */
  signal?: AbortSignal
  /** How long a round may go on starting batches (default 5 minutes). */
  budgetMs?: number
}

/** Where a batch ended, in the order its kind is swept in: the next batch starts after it. */
interface Position { at: Date, id: string }

interface BatchResult {
  deleted: number
  /** Rows the batch looked at: fewer than the batch size, and the kind is done for this round. */
  scanned: number
  lastAt: Date | null
  lastId: string | null
}

/**
 * One retention round: deletes what has expired, oldest first, in batches, while this session
 * holds the retention lock; `undefined` when another process holds it (that one sweeps).
 */
export async function sweepRetention (sql: Sql, { retentionDays, batchSize = 500, sessionSql = sql, signal, budgetMs = ROUND_BUDGET_MS }: RetentionSweepOptions): Promise<RetentionDeleted | undefined> {
  return await underSessionLock(sessionSql, RETENTION_LOCK, async () => {
    const ends = Date.now() + budgetMs
    const [clock] = await sql<{ cutoff: Date }[]>`select clock_timestamp() - make_interval(days => ${retentionDays}) as cutoff`
    const cutoff = clock?.cutoff ?? new Date(0)

    /** Runs a kind's batches until one finds fewer rows than a batch, the budget is spent or the app closes. */
    async function inBatches (batch: (after: Position) => Promise<BatchResult[]>): Promise<number> {
      let after = BEFORE_EVERYTHING
      let deleted = 0
      while (signal?.aborted !== true && Date.now() < ends) {
        const [result] = await batch(after)
        deleted += result?.deleted ?? 0
        if (result === undefined || result.scanned < batchSize || result.lastAt === null || result.lastId === null) break
        after = { at: result.lastAt, id: result.lastId }
      }
      return deleted
    }

    /**
     * A batch's result: how many rows its `deleted` step deleted, and how many it looked at (the
     * rows of `scanned`) with the last of them (by `at`, `id`). The deletes find their rows by `id = any(array(…))`, by primary key
     * whatever the planner guesses of the batch's size (a join to it was planned as a whole-table scan).
     */
    const summary = (scanned: 'doomed' | 'candidates') => sql`
      select (select count(*)::int from deleted) as deleted, count(*)::int as scanned,
        (array_agg(at order by at desc, id desc))[1] as last_at,
        (array_agg(id order by at desc, id desc))[1] as last_id
      from ${sql(scanned)}
    `

    // Attempts first, so each statement deletes at most a batch; `>=`: the last delivery may have more.
    const webhookDeliveryAttempts = await inBatches(async (after) => await sql<BatchResult[]>`
      with doomed as (
        select a.id as attempt_id, coalesce(d.last_attempt_at, d.created_at) as at, d.id
        from webhook_deliveries d join webhook_delivery_attempts a on a.delivery_id = d.id
        where d.status <> 'pending' and coalesce(d.last_attempt_at, d.created_at) < ${cutoff}
          and (coalesce(d.last_attempt_at, d.created_at), d.id) >= (${after.at}::timestamptz, ${after.id}::uuid)
        order by coalesce(d.last_attempt_at, d.created_at), d.id
        limit ${batchSize}
        for share of d skip locked
      ), deleted as (
        delete from webhook_delivery_attempts where id = any(array(select attempt_id from doomed)) returning id
      )
      ${summary('doomed')}
    `)

    // Then the deliveries; the cascade takes an attempt the first step skipped (its delivery was locked).
    const webhookDeliveries = await inBatches(async (after) => await sql<BatchResult[]>`
      with doomed as (
        select coalesce(last_attempt_at, created_at) as at, id
        from webhook_deliveries
        where status <> 'pending' and coalesce(last_attempt_at, created_at) < ${cutoff}
          and (coalesce(last_attempt_at, created_at), id) > (${after.at}::timestamptz, ${after.id}::uuid)
        order by coalesce(last_attempt_at, created_at), id
        limit ${batchSize}
        for update skip locked
      ), deleted as (
        delete from webhook_deliveries where id = any(array(select id from doomed)) returning id
      )
      ${summary('doomed')}
    `)

    // Then the events with no delivery left; one still delivering is passed over, and met again next round.
    const webhookEvents = await inBatches(async (after) => await sql<BatchResult[]>`
      with candidates as (
        select created_at as at, id from webhook_events
        where created_at < ${cutoff} and (created_at, id) > (${after.at}::timestamptz, ${after.id}::uuid)
        order by created_at, id
        limit ${batchSize}
      ), deleted as (
        delete from webhook_events
        where id = any(array(
          select e.id from webhook_events e
          where e.id = any(array(select id from candidates))
            and not exists (select 1 from webhook_deliveries d where d.event_id = e.id)
          for update skip locked
        ))
        returning id
      )
      ${summary('candidates')}
    `)

    return { webhookDeliveryAttempts, webhookDeliveries, webhookEvents }
  })
}

export interface RetentionSweeperOptions {
  sql: Sql
  /** Direct connections for the sweep's session lock (see underSessionLock); default `sql`. */
  sessionSql?: Sql | undefined
  retentionDays: number
  /** How often a round starts; 0 turns retention off. */
  intervalMs: number
  metrics?: Metrics | undefined
}

/** The metric's label of each kind a round deletes. */
const KIND_LABELS: Record<keyof RetentionDeleted, string> = {
  webhookDeliveryAttempts: 'webhook_delivery_attempts',
  webhookDeliveries: 'webhook_deliveries',
  webhookEvents: 'webhook_events'
}

/** Deletes expired webhook rows in the background. Several processes may run it; one sweeps at a time. */
export const retentionSweeper = fp(async function retentionSweeperPlugin (app: FastifyInstance, { sql, sessionSql, retentionDays, intervalMs, metrics }: RetentionSweeperOptions) {
  runPeriodically(app, {
    name: 'retention sweep',
    intervalMs,
    firstAfterMs: Math.min(intervalMs, FIRST_ROUND_AFTER_MS),
    deadlineMs: ROUND_DEADLINE_MS,
    round: async (signal) => await sweepRetention(sql, { retentionDays, sessionSql, signal }),
    report: (deleted) => {
      for (const [kind, count] of Object.entries(deleted ?? {}) as Array<[keyof RetentionDeleted, number]>) {
        metrics?.retentionDeleted.inc({ kind: KIND_LABELS[kind] }, count)
      }
      const counts = Object.fromEntries(Object.entries(deleted ?? {}).filter(([, count]) => count > 0))
      if (Object.keys(counts).length > 0) app.log.info({ deleted: counts, retentionDays }, 'retention sweep deleted expired rows')
    }
  })
}, { name: 'retention-sweeper' })
