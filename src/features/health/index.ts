import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { unavailableProblem } from '../../problems.js'
import { databaseAnswers } from './database-check.js'
import { getHealthOperation } from './openapi.js'

export const healthFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  app.get('/health', {
    schema: getHealthOperation
  }, async function getHealth () {
    if (!await databaseAnswers(sql)) {
      throw unavailableProblem('The database does not answer.')
    }
    return { status: 'ok' as const, database: 'ok' as const }
  })
}
