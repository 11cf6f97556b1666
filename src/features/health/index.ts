import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { unavailableProblem } from '../../problems.js'
import { getHealthOperation, getLivenessOperation, getReadinessOperation } from './openapi.js'
import { createReadiness } from './readiness.js'

export interface HealthOptions {
  sql: Sql
  /** Whether the service is draining: readiness then answers 503 while requests are still served. */
  isDraining: () => boolean
}

export const healthFeature: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { sql, isDraining }) => {
  const unready = await createReadiness({ sql, isDraining })
  async function ready () {
    const reason = await unready()
    if (reason !== undefined) throw unavailableProblem(reason)
    return { status: 'ok' as const, database: 'ok' as const }
  }

  // Not shed under load: a liveness probe that failed at capacity would have a busy process restarted.
  app.get('/health/live', { schema: getLivenessOperation, config: { shedLoad: false } }, async function getLiveness () {
    return { status: 'ok' as const }
  })
  app.get('/health/ready', { schema: getReadinessOperation }, async function getReadiness () { return await ready() })
  app.get('/health', { schema: getHealthOperation }, async function getHealth () { return await ready() })
}
