import { spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../../src/db/embedded.js'
import { waitUntil } from './wait.js'

/*
 * A real PgBouncer (Debian's, /usr/sbin/pgbouncer; .ci/run installs it) in transaction mode in
 * front of a test's PostgreSQL server, as operators run it. Every database of the server is
 * reachable through it under its own name; PgBouncer lets clients in without a password
 * (auth_type trust, the user listed in the auth file) and logs in to the server with the user
 * and password of `serverUrl`.
 */

export const PGBOUNCER = '/usr/sbin/pgbouncer'

export interface PgBouncer {
  /** `serverUrl`'s database through PgBouncer (a URL of the same user, database and options). */
  urlOf: (databaseUrl: string) => string
  output: () => string
  stop: () => Promise<void>
}

/** Quotes a value for pgbouncer.ini's connection strings (libpq style). */
function quoted (value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

export async function startPgBouncer (serverUrl: string, { poolSize = 8 }: { poolSize?: number } = {}): Promise<PgBouncer> {
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username !== '' ? server.username : 'postgres')
  const password = decodeURIComponent(server.password)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgbouncer-'))
  await chmod(dir, 0o755)
  const port = await freePort()
  const upstream = [`host=${quoted(server.hostname)}`, `port=${server.port !== '' ? server.port : '5432'}`, `user=${quoted(user)}`, ...(password !== '' ? [`password=${quoted(password)}`] : [])]
  await writeFile(path.join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 })
  await writeFile(path.join(dir, 'pgbouncer.ini'), [
    '[databases]',
    `* = ${upstream.join(' ')}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    'pool_mode = transaction',
    `default_pool_size = ${poolSize}`,
    'max_client_conn = 1000',
    'server_reset_query =',
    ''
  ].join('\n'), { mode: 0o644 })

  // PgBouncer refuses to run as root; -u drops to the OS user postgres (which owns the server too).
  const args = process.getuid?.() === 0 ? ['-u', 'postgres', path.join(dir, 'pgbouncer.ini')] : [path.join(dir, 'pgbouncer.ini')]
  const child = spawn(PGBOUNCER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<void>((resolve) => { child.on('exit', () => { resolve() }) })

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await waitUntil(() => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}):\n${output}`)
      return /process up|listening on 127\.0\.0\.1/.test(output)
    }, 'pgbouncer listens', { timeoutMs: 10_000 })
  } catch (error) {
    await stop()
    throw error
  }

  return {
    urlOf: (databaseUrl) => {
      const url = new URL(databaseUrl)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      url.password = ''
      return url.toString()
    },
    output: () => output,
    stop
  }
}
