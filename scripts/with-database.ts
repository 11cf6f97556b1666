import { loadConfig, ConfigError, type Config } from '../src/config.js'
import { startEmbeddedPostgres } from '../src/db/embedded.js'

/**
 * Runs `task` against the database: DATABASE_DIRECT_URL when set (these one-off commands need no
 * pooler, and migrations need a session of their own), else DATABASE_URL, else the embedded
 * PostgreSQL under DATA_DIR.
 */
export async function withDatabase (task: (databaseUrl: string, config: Config) => Promise<void>): Promise<void> {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      process.exit(1)
    }
    throw error
  }
  const databaseUrl = config.databaseDirectUrl ?? config.databaseUrl
  if (databaseUrl !== undefined) {
    await task(databaseUrl, config)
    return
  }
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir })
  try {
    await task(embedded.url, config)
  } finally {
    await embedded.stop()
  }
}
