import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { isPostgresError, type Sql } from '../../db/sql.js'
import { migrationsDir } from '../../paths.js'

export const DATABASE_CHECK_TIMEOUT_MS = 2000

/** What `query` settles with, or `onTimeout` once the database has been silent for DATABASE_CHECK_TIMEOUT_MS. */
async function withinCheckTimeout<T> (query: Promise<T>, onTimeout: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<T>((resolve) => { timer = setTimeout(resolve, DATABASE_CHECK_TIMEOUT_MS, onTimeout) })
  try {
    return await Promise.race([query, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export async function databaseAnswers (sql: Sql): Promise<boolean> {
  return await withinCheckTimeout(sql`select 1`.then(() => true, () => false), false)
}

/** The migrations the code expects, named as node-pg-migrate records them (the file name without its extension). */
export async function expectedMigrations (dir = migrationsDir): Promise<string[]> {
  const files = await readdir(dir)
  return files.filter((file) => !file.startsWith('.')).map((file) => path.parse(file).name)
}

/**
 * Which of `expected` the database has not applied (every one when it has no pgmigrations table),
 * or undefined when the database does not answer.
 */
export async function pendingMigrations (sql: Sql, expected: string[]): Promise<string[] | undefined> {
  const query = sql<{ name: string }[]>`select name from pgmigrations`.then(
    (rows) => { const applied = new Set(rows.map((row) => row.name)); return expected.filter((name) => !applied.has(name)) },
    (error: unknown) => isPostgresError(error, '42P01') ? expected : undefined
  )
  return await withinCheckTimeout(query, undefined)
}
