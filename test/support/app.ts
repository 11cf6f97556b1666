import { buildApp, type App } from '../../src/app.js'
import type { Sql } from '../../src/db/sql.js'
import { createTestDatabase } from './database.js'

export const ADMIN_KEY = 'admin-key-current-0123456789abcdef'
export const ROTATED_ADMIN_KEY = 'admin-key-previous-0123456789abcdef'

export interface TestApp {
  app: App
  sql: Sql
  /** URL of this file's own database, for a second pool or app on it. */
  databaseUrl: string
  close: () => Promise<void>
}

/** The real app on a fresh database of its own, ready for `inject`. */
export async function createTestApp (adminApiKeys: string[] = [ADMIN_KEY, ROTATED_ADMIN_KEY]): Promise<TestApp> {
  const database = await createTestDatabase()
  const app = buildApp({ config: { adminApiKeys }, sql: database.sql })
  await app.ready()
  return {
    app,
    sql: database.sql,
    databaseUrl: database.url,
    close: async () => {
      await app.close()
      await database.drop()
    }
  }
}

export const asAdmin = { authorization: `Bearer ${ADMIN_KEY}` }
