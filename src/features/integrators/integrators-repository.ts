import type { Sql } from '../../db/sql.js'
import type { IntegratorKey } from '../../domain/principal.js'
import type { ApiKey, ApiKeyCreated, Integrator, IntegratorUpdate, Scope } from '../../schemas/integrators.js'
import { MAX_KEYS_PER_INTEGRATOR, SCOPES } from '../../schemas/integrators.js'
import { lockBelowLimit } from '../../db/collection-limit.js'
import { digestKey, integratorKeys } from './api-keys.js'

interface IntegratorRow { id: string, name: string, createdAt: Date, requestsPerMinute: number | null, bookingsPerMinute: number | null }
interface ApiKeyRow {
  id: string
  name: string | null
  prefix: string
  scopes: Scope[]
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

function toIntegrator (row: IntegratorRow): Integrator {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.createdAt.toISOString(),
    rateLimits: row.requestsPerMinute === null || row.bookingsPerMinute === null ? null : { requestsPerMinute: row.requestsPerMinute, bookingsPerMinute: row.bookingsPerMinute }
  }
}

function toApiKey (row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null
  }
}

/** `lastUsedAt` is recorded to the minute: written at most once a minute per key and process. */
const LAST_USED_PRECISION_MS = 60_000

export function createIntegratorsRepository (sql: Sql) {
  const keyColumns = sql`id, name, prefix, scopes, created_at, last_used_at, revoked_at`
  const integratorColumns = sql`id, name, created_at, requests_per_minute, bookings_per_minute`
  const lastUsedWritten = new Map<string, number>()

  const repository = {
    async create (name: string): Promise<Integrator> {
      const [row] = await sql<IntegratorRow[]>`insert into integrators (name) values (${name}) returning ${integratorColumns}`
      if (row === undefined) throw new Error('insert returned no integrator')
      return toIntegrator(row)
    },

    async findById (id: string): Promise<Integrator | undefined> {
      const [row] = await sql<IntegratorRow[]>`select ${integratorColumns} from integrators where id = ${id}`
      return row === undefined ? undefined : toIntegrator(row)
    },

    /** Renames an integrator or sets (null: clears) its own rate limits; undefined when there is no such integrator. */
    async update (id: string, changes: IntegratorUpdate): Promise<Integrator | undefined> {
      const limits = changes.rateLimits
      const [row] = await sql<IntegratorRow[]>`
        update integrators set
          name = coalesce(${changes.name ?? null}, name),
          requests_per_minute = ${limits === undefined ? sql`requests_per_minute` : sql`${limits?.requestsPerMinute ?? null}::int`},
          bookings_per_minute = ${limits === undefined ? sql`bookings_per_minute` : sql`${limits?.bookingsPerMinute ?? null}::int`}
        where id = ${id}
        returning ${integratorColumns}
      `
      return row === undefined ? undefined : toIntegrator(row)
    },

    /** Oldest first, after `after` when given; `hasMore` tells if another page follows. */
    async list (limit: number, after?: { at: Date, id: string }): Promise<{ integrators: Integrator[], hasMore: boolean }> {
      const rows = await sql<IntegratorRow[]>`
        select ${integratorColumns} from integrators
        ${after === undefined ? sql`` : sql`where (created_at, id) > (${after.at}, ${after.id})`}
        order by created_at, id
        limit ${limit + 1}
      `
      return { integrators: rows.slice(0, limit).map(toIntegrator), hasMore: rows.length > limit }
    },

    /**
     * A new key with its secret (returned this once), or undefined when the integrator does not
     * exist; a 409 limit-reached when it has MAX_KEYS_PER_INTEGRATOR keys (revoked ones count),
     * counted under the integrator's lock.
     */
    async createKey (integratorId: string, input: { name?: string, scopes?: Scope[] }): Promise<ApiKeyCreated | undefined> {
      const { key, prefix, hash } = integratorKeys.generate()
      const scopes = SCOPES.filter((scope) => (input.scopes ?? SCOPES).includes(scope))
      return await sql.begin(async (tx) => {
        const exists = await lockBelowLimit(tx, {
          parent: { table: 'integrators', id: integratorId },
          children: { table: 'api_keys', column: 'integrator_id' },
          limit: MAX_KEYS_PER_INTEGRATOR,
          detail: `Integrator ${integratorId} has ${MAX_KEYS_PER_INTEGRATOR} keys, revoked ones included: the most it may have.`
        })
        if (!exists) return undefined
        const [row] = await tx<ApiKeyRow[]>`
          insert into api_keys (integrator_id, name, prefix, key_hash, scopes)
          values (${integratorId}, ${input.name ?? null}, ${prefix}, ${hash}, ${scopes}::text[])
          returning ${keyColumns}
        `
        return row === undefined ? undefined : { ...toApiKey(row), key }
      })
    },

    /** The integrator's keys, oldest first; undefined when the integrator does not exist. */
    async listKeys (integratorId: string): Promise<ApiKey[] | undefined> {
      const [integrator] = await sql`select 1 from integrators where id = ${integratorId}`
      if (integrator === undefined) return undefined
      const rows = await sql<ApiKeyRow[]>`
        select ${keyColumns} from api_keys where integrator_id = ${integratorId} order by created_at, id
      `
      return rows.map(toApiKey)
    },

    /** Revokes a key (again: no change); false when the integrator has no such key. */
    async revokeKey (integratorId: string, keyId: string): Promise<boolean> {
      const rows = await sql`
        update api_keys set revoked_at = coalesce(revoked_at, clock_timestamp())
        where id = ${keyId} and integrator_id = ${integratorId}
        returning id
      `
      return rows.length > 0
    },

    /** A new integrator and one key of the given scopes (all by default), its secret shown this once. */
    async createWithKey (name: string, key: { name?: string, scopes?: Scope[] } = {}): Promise<{ integrator: Integrator, key: ApiKeyCreated }> {
      const integrator = await repository.create(name)
      const created = await repository.createKey(integrator.id, key)
      if (created === undefined) throw new Error(`integrator ${integrator.id} vanished`)
      return { integrator, key: created }
    },

    /**
     * The live (unrevoked) key a bearer token is, found by its SHA-256 digest, never compared in a
     * loop; undefined for anything else. Notes the key's use.
     */
    async findLiveKey (token: string): Promise<IntegratorKey | undefined> {
      if (!integratorKeys.looksLike(token)) return undefined
      const [row] = await sql<Array<Omit<IntegratorKey, 'rateLimits'> & { requestsPerMinute: number | null, bookingsPerMinute: number | null }>>`
        select k.id, k.integrator_id, k.scopes, i.requests_per_minute, i.bookings_per_minute
        from api_keys k join integrators i on i.id = k.integrator_id
        where k.key_hash = ${digestKey(token)} and k.revoked_at is null
      `
      const key: IntegratorKey | undefined = row === undefined
        ? undefined
        : {
            id: row.id,
            integratorId: row.integratorId,
            scopes: row.scopes,
            rateLimits: row.requestsPerMinute === null || row.bookingsPerMinute === null ? null : { requestsPerMinute: row.requestsPerMinute, bookingsPerMinute: row.bookingsPerMinute }
          }
      if (key !== undefined && Date.now() - (lastUsedWritten.get(key.id) ?? 0) > LAST_USED_PRECISION_MS) {
        lastUsedWritten.set(key.id, Date.now())
        await sql`
          update api_keys set last_used_at = clock_timestamp()
          where id = ${key.id} and (last_used_at is null or last_used_at < clock_timestamp() - interval '1 minute')
        `
      }
      return key
    }
  }
  return repository
}
