import { migrate } from '../src/db/migrate.js'
import { DEMO_EVENT_ID, seedDemo } from '../src/db/seed.js'
import { createSql } from '../src/db/sql.js'
import { withDatabase } from './with-database.js'

await withDatabase(async (databaseUrl) => {
  await migrate(databaseUrl, console)
  const sql = createSql(databaseUrl, { max: 1 })
  try {
    const { created } = await seedDemo(sql)
    console.log(created ? `Seeded the demo event ${DEMO_EVENT_ID}.` : `The demo event ${DEMO_EVENT_ID} is already there.`)
  } finally {
    await sql.end()
  }
})
