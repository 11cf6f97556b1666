import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Sql } from '../../db/sql.js'
import { ProblemError, problemKinds } from '../../problems.js'
import { NoQuerySchema, ref } from '../../schemas/common.js'
import { HealthSchema } from '../../schemas/health.js'
import { jsonResponse, problems, publicSecurity } from '../../schemas/responses.js'

const DATABASE_CHECK_TIMEOUT_MS = 2000

async function databaseAnswers (sql: Sql): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(resolve, DATABASE_CHECK_TIMEOUT_MS, false) })
  const query = sql`select 1`.then(() => true, () => false)
  try {
    return await Promise.race([query, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export const healthFeature: FastifyPluginAsyncTypebox<{ sql: Sql }> = async (app, { sql }) => {
  app.get('/health', {
    schema: {
      operationId: 'getHealth',
      tags: ['Health'],
      summary: 'Check the service and its database',
      description: `\`200\` when the database answers within ${DATABASE_CHECK_TIMEOUT_MS / 1000} s, else a \`503\` problem. Needs no authentication; suitable for load balancer and container health checks.`,
      security: publicSecurity(),
      querystring: NoQuerySchema,
      response: {
        200: jsonResponse(ref(HealthSchema), 'The service and its database are up.', { status: 'ok', database: 'ok' }),
        ...problems(400)
      }
    }
  }, async function getHealth () {
    if (!await databaseAnswers(sql)) {
      throw new ProblemError(problemKinds.unavailable, 'The database does not answer.', {}, { 'Retry-After': '2' })
    }
    return { status: 'ok' as const, database: 'ok' as const }
  })
}
