import { chmod, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startEmbeddedPostgres } from '../../src/db/embedded.js'

export interface TestPostgresServer {
  kind: 'external' | 'testcontainers' | 'embedded'
  /** A URL with rights to create databases. */
  url: string
  stop: () => Promise<void>
}

const POSTGRES_IMAGE = 'postgres:17-alpine'

/** Durability is of no use to throw-away test data. */
const FAST_SETTINGS = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' }

async function startWithTestcontainers (): Promise<TestPostgresServer | undefined> {
  const { getContainerRuntimeClient } = await import('testcontainers')
  try {
    await getContainerRuntimeClient()
  } catch {
    return undefined
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  const container = await new PostgreSqlContainer(POSTGRES_IMAGE)
    .withCommand(['postgres', ...Object.entries(FAST_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])])
    .start()
  return { kind: 'testcontainers', url: container.getConnectionUri(), stop: async () => { await container.stop() } }
}

async function startEmbedded (): Promise<TestPostgresServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-test-'))
  await chmod(dataDir, 0o755)
  const embedded = await startEmbeddedPostgres({ dataDir, settings: FAST_SETTINGS })
  return {
    kind: 'embedded',
    url: embedded.url,
    stop: async () => {
      await embedded.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  }
}

/** TEST_DATABASE_URL or DATABASE_URL when set, else a container where Docker answers, else embedded PostgreSQL. */
export async function startTestPostgres (env: NodeJS.ProcessEnv): Promise<TestPostgresServer> {
  const external = env.TEST_DATABASE_URL ?? env.DATABASE_URL
  if (external !== undefined && external !== '') {
    return { kind: 'external', url: external, stop: async () => {} }
  }
  return await startWithTestcontainers() ?? await startEmbedded()
}
