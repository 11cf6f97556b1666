import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdir, rm, writeFile, readFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { projectRoot } from '../../src/paths.js'
import { ADMIN_KEY } from './app.js'

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams
  output: () => string
  /** Resolves with the first line that matches, or rejects when the process exits first. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * The environment of a server process that a test puts under load: `databaseUrl`, a port of its
 * own, the tests' admin key, info logs, no rate limits; `extra` adds to it or overrides it.
 */
export function loadServerEnv (databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    PORT: '0',
    ADMIN_API_KEYS: ADMIN_KEY,
    LOG_LEVEL: 'info',
    RATE_LIMIT_REQUESTS_PER_MINUTE: '0',
    RATE_LIMIT_BOOKINGS_PER_MINUTE: '0',
    ...extra
  }
}

/** Runs `src/server.ts` as `npm start` would, with exactly the environment given (plus PATH). */
export function spawnServer (env: Record<string, string>): ServerProcess {
  return watch(spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'src', 'server.ts')], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', ...env }
  }))
}

/** Held while an `npm start` builds dist/, by whichever test file's process starts one. */
const BUILD_LOCK = path.join(os.tmpdir(), `ticket-booking-npm-start-${Buffer.from(projectRoot).toString('hex').slice(-16)}.lock`)

/** Whether a process with this pid exists (signal 0 only checks). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Waits until no other test process's `npm start` is building (its build rewrites dist/ while
 * another's server may be loading it), and takes the turn; a lock left by a process that died is
 * taken over.
 */
async function takeBuildTurn (): Promise<() => Promise<void>> {
  for (;;) {
    try {
      await mkdir(BUILD_LOCK)
      await writeFile(path.join(BUILD_LOCK, 'pid'), String(process.pid))
      return async () => { await rm(BUILD_LOCK, { recursive: true, force: true }) }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number(await readFile(path.join(BUILD_LOCK, 'pid'), 'utf8').catch(() => ''))
      if (holder > 0 && !alive(holder)) await rm(BUILD_LOCK, { recursive: true, force: true })
      else await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/**
 * Runs `npm start` itself, as a user, a process manager or a container runtime does (it builds
 * first), in a process group of its own so a test can signal the group as a terminal's Ctrl-C does.
 * One at a time across the test files builds: the next starts once this one's server says it
 * listens (or it exits).
 */
export async function spawnNpmStart (env: Record<string, string>): Promise<ServerProcess> {
  const release = await takeBuildTurn()
  const server = watch(spawn('npm', ['start'], {
    cwd: projectRoot,
    detached: true,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }
  }))
  void Promise.race([server.waitFor(/listening on/, 120_000), server.exited]).catch(() => {}).finally(() => { void release() })
  return server
}

function watch (child: ChildProcessWithoutNullStreams): ServerProcess {
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { resolve({ code, signal }) })
  })

  async function waitFor (pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const match = output.match(pattern)
      if (match !== null) return match
      if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}) before ${pattern}:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`timed out waiting for ${pattern}:\n${output}`)
  }

  return { child, output: () => output, waitFor, exited }
}

/** The URL a server process (or `npm start`) says it serves the API under, without `/api`, once it says so. */
export async function listeningAt (server: ServerProcess, timeoutMs?: number): Promise<string> {
  const [, url] = await server.waitFor(/listening on (http:\/\/\S+)\/api,/, timeoutMs)
  if (url === undefined) throw new Error('the server named no URL')
  return url
}
