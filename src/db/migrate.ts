import { runner } from 'node-pg-migrate'
import { migrationsDir } from '../paths.js'
import { primaryUrl } from './hosts.js'

export interface MigrationLogger {
  debug: (message: string) => void
  warn: (message: string) => void
  error: (message: string) => void
}

const quiet: MigrationLogger = { debug () {}, warn () {}, error () {} }

/**
 * Applies pending migrations. node-pg-migrate waits on an advisory lock, so several
 * processes starting at once apply each migration exactly once. With several hosts in
 * `databaseUrl`, they are applied on the one that is the primary (node-pg-migrate's driver takes one).
 * @see https://salsita.github.io/node-pg-migrate/api
 */
export async function migrate (databaseUrl: string, logger: MigrationLogger = quiet): Promise<string[]> {
  const applied = await runner({
    databaseUrl: await primaryUrl(databaseUrl),
    dir: migrationsDir,
    migrationsTable: 'pgmigrations',
    direction: 'up',
    count: Infinity,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    verbose: false,
    logger: {
      info: (message: string) => { logger.debug(message) },
      warn: (message: string) => { logger.warn(message) },
      error: (message: string) => { logger.error(message) },
      debug: () => {}
    }
  })
  return applied.map((migration) => migration.name)
}
