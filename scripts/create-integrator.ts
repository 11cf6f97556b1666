import { parseArgs } from 'node:util'
import { migrate } from '../src/db/migrate.js'
import { createSql } from '../src/db/sql.js'
import { createIntegratorsRepository } from '../src/features/integrators/integrators-repository.js'
import { withDatabase } from './with-database.js'

const usage = 'Usage: npm run integrator:create -- --name "Acme Tickets" [--key-name "checkout"]'
let name: string | undefined
let keyName: string | undefined
try {
  const { values } = parseArgs({ options: { name: { type: 'string' }, 'key-name': { type: 'string' } } })
  name = values.name?.trim()
  keyName = values['key-name']?.trim()
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`)
  process.exit(2)
}
if (name === undefined || name === '' || name.length > 200) {
  console.error(`--name is required (1 to 200 characters).\n${usage}`)
  process.exit(2)
}

await withDatabase(async (databaseUrl) => {
  await migrate(databaseUrl)
  const sql = createSql(databaseUrl, { max: 1 })
  try {
    const { integrator, key } = await createIntegratorsRepository(sql).createWithKey(name, keyName === undefined || keyName === '' ? {} : { name: keyName })
    console.log(`Integrator "${integrator.name}" (${integrator.id}) with an API key of scopes ${key.scopes.join(', ')}.`)
    console.log(`\n  ${key.key}\n`)
    console.log('This key is shown once; only its hash is stored. Send it as "Authorization: Bearer <key>".')
  } finally {
    await sql.end()
  }
})
