import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { settlesWithin } from '../db/deadline.js'
import type { Sql } from '../db/sql.js'
import { onCloseStep } from './close-steps.js'

/** How long a renewed lease runs; a process trusts what it holds a little less than that. */
export const LEASE_MS = 2_000
/** How often a process renews its lease (and learns of changes it was not woken for). */
const RENEW_EVERY_MS = 500
/** Taken off the lease on this process's side: the two clocks may not run at quite the same rate. */
const CLOCK_MARGIN_MS = 200
/** How often `settle` looks at the leases while it waits. */
const SETTLE_POLL_MS = 5
/** Most keys held at once; past it the cache starts again from empty (a full one is a flood of keys). */
const MAX_ENTRIES = 10_000
const CHANNEL = 'credentials_changed'

export interface CredentialCache {
  /**
   * What `load` finds for `name` (a kind and a digest of the key: the secret itself is never a
   * map key), from memory while this process's lease runs, else from `load`, kept when found. A key
   * `load` does not find is never kept, so a flood of made-up keys costs memory nothing.
   */
  lookup: <T extends object>(name: string, load: () => Promise<T | undefined>) => Promise<T | undefined>
  /**
   * Waits until no process can accept what changes committed before the call took away: every
   * lease still running has seen them, or the lease has run out. A revocation answers only after it.
   */
  settle: () => Promise<void>
  /** Takes a lease and listens for changes, in the background; the cache is used once the first renewal succeeds. */
  start: () => void
  stop: () => Promise<void>
}

export interface CredentialCacheOptions {
  sql: Sql
  /** Where LISTEN runs (a direct connection: through a pooler in transaction mode it hears nothing). */
  listenSql?: Sql
  /** Told when renewals begin to fail (the cache is not used until one succeeds again). */
  failed?: (error: unknown) => void
}

/**
 * Keys looked up once and kept in memory, safely across any number of processes. A process uses
 * what it holds only under a lease in the database (credential_leases, renewed every 500 ms, 2 s
 * long) and never while a renewal is on its way; each renewal records the credential version the
 * process has applied. Every change that can make a kept key wrong moves the version on in its
 * transaction (triggers on api_keys, scanner_keys, integrators) and NOTIFYs; a process drops
 * everything it holds as soon as it hears or reads a newer version. Whoever makes the change calls
 * `settle`, which waits until every running lease has seen it or run out. A process that cannot
 * renew (its database unreachable) stops using its cache before its lease ends in the database.
 * @see https://dl.acm.org/doi/10.1145/74851.74870 (Gray and Cheriton, Leases, 1989)
 */
export function createCredentialCache ({ sql, listenSql = sql, failed = () => {} }: CredentialCacheOptions): CredentialCache {
  const holder = randomUUID()
  const entries = new Map<string, object>()
  /** The credential version this process has applied; what it holds reflects every change up to it. */
  let version: bigint | undefined
  /** Moves on whenever the cache is emptied, so a load that began before cannot put back what it read. */
  let generation = 0
  /** Until when (this process's monotonic clock) what it holds may be used. */
  let trustedUntil = 0
  let renewing: Promise<void> | undefined
  let renewAgain = false
  let failing = false
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let unlisten: (() => void) | undefined

  const empty = (): void => {
    entries.clear()
    generation++
  }

  const apply = (seen: bigint): void => {
    if (version === undefined || seen > version) {
      empty()
      version = seen
    }
  }

  const renewOnce = async (): Promise<void> => {
    const sent = performance.now()
    try {
      const [row] = await sql<Array<{ seen: string }>>`
        insert into credential_leases (holder, lease_until, seen)
        select ${holder}, clock_timestamp() + make_interval(secs => ${LEASE_MS / 1000}), version from credential_version
        on conflict (holder) do update set lease_until = excluded.lease_until, seen = excluded.seen
        returning seen::text
      `
      if (row === undefined) throw new Error('the credential lease was not written')
      apply(BigInt(row.seen))
      if (!stopped) trustedUntil = sent + LEASE_MS - CLOCK_MARGIN_MS
      failing = false
    } catch (error) {
      if (!failing && !stopped) failed(error)
      failing = true
    }
  }

  /** Renews now, or right after the renewal on its way (which may have read the version too early). */
  const renew = (): Promise<void> => {
    if (renewing !== undefined) {
      renewAgain = true
      return renewing
    }
    renewing = (async () => {
      do {
        renewAgain = false
        await renewOnce()
        // eslint-disable-next-line no-unmodified-loop-condition -- stop() sets it, between awaits
      } while (renewAgain && !stopped)
    })().finally(() => { renewing = undefined })
    return renewing
  }

  let listening = false
  /** LISTEN, once; postgres.js listens again by itself after a reconnection, and `onlisten` runs each time. */
  const listen = (): void => {
    if (listening || stopped) return
    listening = true
    // What was sent while the connection was down went unheard: whatever came before counts as changed.
    const changed = (): void => {
      empty()
      void renew()
    }
    listenSql.listen(CHANNEL, changed, changed).then((subscription) => {
      unlisten = () => { subscription.unlisten().catch(() => {}) }
      if (stopped) unlisten()
    }, (error: unknown) => {
      // Tried again with every renewal; told once, as a renewal failing is.
      if (!failing && !stopped) failed(error)
      failing = true
      listening = false
    })
  }

  const trusted = (): boolean => renewing === undefined && performance.now() < trustedUntil

  return {
    async lookup (name, load) {
      if (trusted()) {
        const held = entries.get(name)
        // The entry's type is the one its own load gave: one name is only ever loaded by one kind of lookup.
        if (held !== undefined) return held as Awaited<ReturnType<typeof load>>
      }
      const before = generation
      const found = await load()
      if (found !== undefined && generation === before && !stopped) {
        if (entries.size >= MAX_ENTRIES) empty()
        else entries.set(name, found)
      }
      return found
    },

    async settle () {
      const [current] = await sql<Array<{ version: string }>>`select version::text from credential_version`
      const wanted = BigInt(current?.version ?? '0')
      if (version !== undefined && version < wanted) empty()
      void renew()
      const deadline = performance.now() + LEASE_MS + 1_000
      while (performance.now() < deadline) {
        const [row] = await sql<Array<{ behind: number }>>`
          select count(*)::int as behind from credential_leases where seen < ${wanted.toString()}::bigint and lease_until > clock_timestamp()
        `
        if ((row?.behind ?? 0) === 0) return
        await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS))
      }
      // Every lease the database granted before the change has run out by now; one renewed since has seen it.
    },

    start () {
      // Nothing here is waited for: a database out of reach must not stop the app from starting (its
      // requests answer 503 until it is back); the cache is simply not used until a renewal succeeds.
      listen()
      void renew()
      timer = setInterval(() => {
        if (unlisten === undefined) listen()
        void renew()
      }, RENEW_EVERY_MS).unref()
      sql`delete from credential_leases where lease_until < clock_timestamp() - interval '1 hour'`.catch(failed)
    },

    async stop () {
      stopped = true
      trustedUntil = 0
      clearInterval(timer)
      empty()
      // Not waited for: on a connection that has stalled it would never end (the pool's end closes it).
      unlisten?.()
      // Gone at once, so a revocation does not wait for this lease to run out; on a database out of
      // reach it runs out (and no query is left queued on it: postgres.js's end() would wait for it).
      if (failing) return
      await settlesWithin(Promise.all([renewing, sql`delete from credential_leases where holder = ${holder}`]), 1_000)
    }
  }
}

/** Starts the cache's lease and listener with the app, and gives them up when it closes. */
export const credentialCachePlugin = fp(async function credentialCache (app: FastifyInstance, { credentials }: { credentials: CredentialCache }) {
  app.addHook('onReady', async () => { credentials.start() })
  onCloseStep(app, 'credential lease', async () => { await credentials.stop() })
}, { name: 'credential-cache' })
