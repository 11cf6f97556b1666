import { loadConfig, ConfigError, type Config } from '../src/config.js'
import { startEmbeddedPostgres } from '../src/db/embedded.js'

/** Runs `task` against DATABASE_URL, or against the embedded PostgreSQL under DATA_DIR when it is unset. */
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
  if (config.databaseUrl !== undefined) {
    await task(config.databaseUrl, config)
    return
  }
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir })
  try {
    await task(embedded.url, config)
  } finally {
    await embedded.stop()
  }
}
