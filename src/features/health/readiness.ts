import type { Sql } from '../../db/sql.js'
import { databaseAnswers, expectedMigrations, pendingMigrations } from './database-check.js'

export interface ReadinessOptions {
  sql: Sql
  isDraining: () => boolean
}

/**
 * Why the service should get no traffic now, or undefined when it should: it is draining, the
 * database does not answer, or the database lacks a migration this code expects. Once every
 * migration is found applied that is remembered (migrations are never undone under a running
 * service), so a ready check is then one `select 1`.
 */
export async function createReadiness ({ sql, isDraining }: ReadinessOptions): Promise<() => Promise<string | undefined>> {
  const expected = await expectedMigrations()
  let schemaCurrent = false
  return async function unready () {
    if (isDraining()) return 'The service is shutting down; other instances take the traffic.'
    if (schemaCurrent) return await databaseAnswers(sql) ? undefined : 'The database does not answer.'
    const pending = await pendingMigrations(sql, expected)
    if (pending === undefined) return 'The database does not answer.'
    if (pending.length > 0) return `The database lacks ${pending.length} of the migrations this version needs.`
    schemaCurrent = true
    return undefined
  }
}
