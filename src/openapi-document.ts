import postgres from 'postgres'
import { buildApp } from './app.js'
import type { Sql } from './db/sql.js'

/**
 * The OpenAPI document exactly as the server serves it at /docs/json, built without a database:
 * the pool is created but never connects, since postgres.js connects on first query.
 */
export async function generateOpenApi (): Promise<{ json: string, yaml: string }> {
  const unusedSql = postgres('postgres://unused@127.0.0.1:1/unused', { max: 1 }) as unknown as Sql
  const app = buildApp({ config: { adminApiKeys: [] }, sql: unusedSql })
  try {
    await app.ready()
    return {
      json: JSON.stringify(app.swagger(), null, 2) + '\n',
      yaml: app.swagger({ yaml: true })
    }
  } finally {
    await app.close()
    await unusedSql.end()
  }
}
