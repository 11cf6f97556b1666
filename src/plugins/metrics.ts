import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { withinDeadline } from '../db/deadline.js'
import { poolStats } from '../db/pool-stats.js'
import type { Sql } from '../db/sql.js'
import { scrapedGauge, type Metrics } from '../metrics.js'

export interface MetricsPluginOptions {
  metrics: Metrics
  /** The pools to report, by name (`main`, and `sessions` when there is a direct one). */
  pools: Record<string, Sql>
  /** Where the webhook deliveries waiting are counted. */
  sql: Sql
  /** Serve /metrics without an admin key (METRICS_PUBLIC=true: a scraper on a private network). */
  public: boolean
}

/** A scrape must not hang on a database that does not answer: the other metrics come without this one. */
const SCRAPE_QUERY_DEADLINE_MS = 2_000

/**
 * `GET /metrics` in the Prometheus text format, outside `/api` and the OpenAPI document, and the
 * HTTP histogram of every request the app answers (labelled by route template: `/api/bookings/:bookingId`,
 * never the raw path; requests no route matched are `unmatched`).
 */
export default fp(async function metricsPlugin (app: FastifyInstance, { metrics, pools, sql, public: isPublic }: MetricsPluginOptions) {
  const { registry, httpRequestDuration } = metrics

  app.addHook('onResponse', async (request, reply) => {
    httpRequestDuration.observe({
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: reply.statusCode
    }, reply.elapsedTime / 1000)
  })

  const pool = (read: (stats: NonNullable<ReturnType<typeof poolStats>>) => number) => (gauge: { set: (labels: { pool: string }, value: number) => void }) => {
    for (const [name, each] of Object.entries(pools)) {
      const stats = poolStats(each)
      if (stats !== undefined) gauge.set({ pool: name }, read(stats))
    }
  }
  scrapedGauge(registry, 'db_pool_connections_in_use', 'Database connections running a query or a transaction, by pool.', ['pool'], pool((stats) => stats.inUse))
  scrapedGauge(registry, 'db_pool_connections_idle', 'Open database connections with nothing to do, by pool.', ['pool'], pool((stats) => stats.idle))
  scrapedGauge(registry, 'db_pool_waiting', 'Queries and transactions waiting for a database connection, by pool.', ['pool'], pool((stats) => stats.waiting))
  scrapedGauge(registry, 'db_pool_max_connections', 'The most connections each pool opens.', ['pool'], pool((stats) => stats.max))
  scrapedGauge(registry, 'webhook_deliveries_pending', 'Webhook deliveries not yet delivered or given up (all processes: the same figure in each).', [], async (gauge) => {
    gauge.reset()
    try {
      const [row] = await withinDeadline(sql<{ pending: number }[]>`select count(*)::int as pending from webhook_deliveries where status = 'pending'`.execute(),
        SCRAPE_QUERY_DEADLINE_MS, () => new Error('counting pending deliveries took too long'))
      gauge.set(row?.pending ?? 0)
    } catch (error) {
      app.log.warn({ err: error }, 'metrics: could not count the pending webhook deliveries')
    }
  })

  app.get('/metrics', {
    ...(isPublic ? {} : { onRequest: app.verifyAdminKey }),
    schema: { hide: true },
    logLevel: 'warn'
  }, async function getMetrics (_request, reply) {
    return await reply.type(registry.contentType).send(await registry.metrics())
  })
}, { name: 'metrics', dependencies: ['auth'] })
