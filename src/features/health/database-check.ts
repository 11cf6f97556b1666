import type { Sql } from '../../db/sql.js'

export const DATABASE_CHECK_TIMEOUT_MS = 2000

export async function databaseAnswers (sql: Sql): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(resolve, DATABASE_CHECK_TIMEOUT_MS, false) })
  const query = sql`select 1`.then(() => true, () => false)
  try {
    return await Promise.race([query, timeout])
  } finally {
    clearTimeout(timer)
  }
}
