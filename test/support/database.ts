import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { inject } from 'vitest'
import { migrate } from '../../src/db/migrate.js'
import { createSql, type Sql } from '../../src/db/sql.js'

export interface TestDatabase {
  url: string
  sql: Sql
  drop: () => Promise<void>
}

function databaseUrl (serverUrl: string, database: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${database}`
  return url.toString()
}

/** A new, migrated database of its own for one test file, dropped by `drop()`. */
export async function createTestDatabase (): Promise<TestDatabase> {
  const serverUrl = inject('postgresUrl')
  const name = `ticket_booking_test_${randomBytes(6).toString('hex')}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`create database ${name}`)
  } finally {
    await admin.end()
  }
  const url = databaseUrl(serverUrl, name)
  await migrate(url)
  const sql = createSql(url, { max: 20 })
  return {
    url,
    sql,
    drop: async () => {
      await sql.end({ timeout: 5 })
      const dropper = postgres(serverUrl, { max: 1, onnotice: () => {} })
      try {
        await dropper.unsafe(`drop database if exists ${name} with (force)`)
      } finally {
        await dropper.end()
      }
    }
  }
}
