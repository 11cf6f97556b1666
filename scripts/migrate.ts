import { migrate } from '../src/db/migrate.js'
import { withDatabase } from './with-database.js'

await withDatabase(async (databaseUrl) => {
  const applied = await migrate(databaseUrl, console)
  console.log(applied.length > 0 ? `Applied: ${applied.join(', ')}` : 'No pending migrations.')
})
