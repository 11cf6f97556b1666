import { createPrivateKey, sign as signEd25519, type JsonWebKey, type KeyObject } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import { calculateJwkThumbprint, compactVerify, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'
import type { PrivateTicketKey } from '../../config.js'
import type { Queryable, Sql } from '../../db/sql.js'
import { ProblemError, problemKinds } from '../../problems.js'

/*
 * Ticket codes: compact JWS (RFC 7515), Ed25519 (`alg: EdDSA`, RFC 8037), `kid` in the protected
 * header, payload `{ tid, eid, tier, ver }` and nothing personal. Codes are signed once, when a
 * ticket becomes valid or is reissued, and stored with the kid that signed them, so a code never
 * changes and every key that signed a valid code can be listed for scanners.
 *
 * Keys: without TICKET_SIGNING_KEYS the service generates a key on first use and keeps it in
 * `ticket_signing_keys` (private JWK included); with it, the operator's keys sign (the first one is
 * current), and only their public parts are written to the database. Private keys are never
 * logged and never leave this module except to sign.
 */

export interface TicketClaims {
  /** Ticket id. */
  tid: string
  /** Event id. */
  eid: string
  /** Ticket tier id. */
  tier: string
  /** Code version: 1 at issue, one more at each reissue. */
  ver: number
}

/** The public JWK of a signing key, as the JWK Set lists it. */
export interface PublicTicketKey {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
}

/** What a code says of itself, before its signature is checked. */
export interface PresentedClaims extends TicketClaims {
  kid: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The claims a code carries, read without checking its signature (for looking its ticket up), or
 * undefined when it is not shaped like a code of this service: a compact JWS with `alg: EdDSA`, a
 * `kid`, and a payload of a ticket id, event id, tier id and positive version.
 */
export function readClaims (code: string): PresentedClaims | undefined {
  try {
    const header = decodeProtectedHeader(code)
    const payload = decodeJwt(code)
    const { tid, eid, tier, ver } = payload
    if (header.alg !== 'EdDSA' || typeof header.kid !== 'string' || typeof tid !== 'string' || typeof eid !== 'string' || typeof tier !== 'string') return undefined
    if (!UUID.test(tid) || !UUID.test(eid) || !UUID.test(tier) || typeof ver !== 'number' || !Number.isSafeInteger(ver) || ver < 1) return undefined
    return { tid: tid.toLowerCase(), eid: eid.toLowerCase(), tier: tier.toLowerCase(), ver, kid: header.kid }
  } catch {
    return undefined
  }
}

export interface SignedCode {
  code: string
  kid: string
}

/** How long a process trusts its idea of the current key (another process may rotate it). */
const CURRENT_KEY_TTL_MS = 1_000
const KEYS_LOCK = 'ticket-booking:ticket-signing-keys'

function publicPart (jwk: JWK, kid: string): PublicTicketKey {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error(`ticket signing key ${kid} is not an Ed25519 key`)
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: 'EdDSA', use: 'sig' }
}

/** A short, stable kid: the start of the key's RFC 7638 thumbprint (codes must stay under 400 characters). */
async function kidOf (jwk: JWK): Promise<string> {
  return (await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x }, 'sha256')).slice(0, 16)
}

async function newKey (): Promise<{ kid: string, publicJwk: PublicTicketKey, privateJwk: JWK }> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const privateJwk = await exportJWK(privateKey)
  const kid = await kidOf(privateJwk)
  return { kid, publicJwk: publicPart(privateJwk, kid), privateJwk: { ...privateJwk, kid } }
}

/**
 * Runs writes to `ticket_signing_keys`. PostgreSQL quotes a whole row in the `detail` of some
 * errors ("Failing row contains (…)"), private JWK included; that detail is dropped before the
 * error travels on (to a 500's error log), so a failed write cannot log a private key.
 */
async function withoutRowDetail<T> (write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'detail' in error) delete (error as { detail?: unknown }).detail
    throw error
  }
}

/** Codes signed in one go before other work gets a turn: about 2 ms of CPU at 43 µs each. */
const SIGNED_BETWEEN_YIELDS = 50

function base64url (text: string): string {
  return Buffer.from(text).toString('base64url')
}

function keyObject (jwk: JWK): KeyObject {
  // node:crypto imports the JWK as it is, and signs with the KeyObject (signCode).
  return createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' })
}

/**
 * A ticket's code: a JWS in compact serialisation (RFC 7515 §7.1), byte for byte what jose's
 * CompactSign makes with the same header (Ed25519 signatures are deterministic; a test compares
 * the two), signed by node:crypto at once. jose 6 signs through WebCrypto, an asynchronous job per
 * signature: 159 µs of CPU per code one at a time and 75 µs two hundred at once, against 43 and
 * 41 µs here (Node 20, these 2-core machines, 2026-12-04): a quarter or more of a booking's CPU in
 * the server. Codes are still verified with jose, as any scanner would.
 */
export function signCode (signer: { kid: string, key: KeyObject }, claims: TicketClaims): SignedCode {
  const payload = { tid: claims.tid, eid: claims.eid, tier: claims.tier, ver: claims.ver }
  const input = `${base64url(JSON.stringify({ alg: 'EdDSA', kid: signer.kid }))}.${base64url(JSON.stringify(payload))}`
  return { code: `${input}.${signEd25519(null, Buffer.from(input), signer.key).toString('base64url')}`, kid: signer.kid }
}

export function createTicketCodes (sql: Sql, configuredKeys: PrivateTicketKey[] = []) {
  const configured = new Map(configuredKeys.map((jwk) => [jwk.kid, keyObject(jwk)]))
  const privateKeys = new Map<string, KeyObject>(configured)
  let current: { kid: string, key: KeyObject, until: number } | undefined
  let setUp: Promise<void> | undefined
  /** The set-up committed (made through the pool): it need not be checked again in this process. */
  let ready = false

  /**
   * Writes the operator's public keys (the first current), or generates a key when none that this
   * service can sign with is current (the first use, or TICKET_SIGNING_KEYS was removed).
   */
  async function setUpKeys (tx: Queryable): Promise<void> {
    await withoutRowDetail(async () => {
      await tx`select pg_advisory_xact_lock(hashtextextended(${KEYS_LOCK}, 0))`
      if (configuredKeys.length > 0) {
        for (const jwk of configuredKeys) {
          await tx`
            insert into ticket_signing_keys (kid, public_jwk) values (${jwk.kid}, ${tx.json(publicPart(jwk, jwk.kid) as unknown as postgresJson)})
            on conflict (kid) do nothing
          `
        }
        await tx`update ticket_signing_keys set current = false where current and kid <> ${configuredKeys[0]?.kid ?? ''}`
        await tx`update ticket_signing_keys set current = true where kid = ${configuredKeys[0]?.kid ?? ''}`
        return
      }
      const [row] = await tx`select 1 from ticket_signing_keys where current and private_jwk is not null`
      if (row === undefined) await insertKey(tx)
    })
  }

  /**
   * Sets the keys up once per process. A caller inside a transaction (`q` is not the pool) has it
   * done in that transaction: waiting for a second pool connection while holding one can wait for
   * ever when every connection is held by such a caller. Only a set-up made through the pool is
   * remembered, since the caller's transaction may still roll back; the caller starts that one
   * too, without waiting for it.
   */
  async function ensureKeys (q: Queryable = sql): Promise<void> {
    if (ready) return
    if (q !== sql) {
      ensureKeys().catch(() => {}) // a failure is retried by the next caller
      await setUpKeys(q)
      return
    }
    setUp ??= sql.begin(async (tx) => { await setUpKeys(tx) }).then(() => { ready = true }, (error: unknown) => {
      setUp = undefined
      throw error
    })
    await setUp
  }

  async function insertKey (tx: Queryable): Promise<PublicTicketKey> {
    const key = await newKey()
    await withoutRowDetail(async () => {
      await tx`update ticket_signing_keys set current = false where current`
      await tx`
        insert into ticket_signing_keys (kid, public_jwk, private_jwk, current)
        values (${key.kid}, ${tx.json(key.publicJwk as unknown as postgresJson)}, ${tx.json(key.privateJwk)}, true)
      `
    })
    return key.publicJwk
  }

  async function privateKey (q: Queryable, kid: string): Promise<KeyObject> {
    const known = privateKeys.get(kid)
    if (known !== undefined) return known
    const [row] = await q<{ privateJwk: JWK | null }[]>`select private_jwk from ticket_signing_keys where kid = ${kid}`
    if (row?.privateJwk == null) throw new Error(`no private key for ticket signing key ${kid}: it was supplied in TICKET_SIGNING_KEYS and is no longer there`)
    const key = keyObject(row.privateJwk)
    privateKeys.set(kid, key)
    return key
  }

  /**
   * The key that signs new codes (looked up at most once a second per process): the current one,
   * unless this process holds no private part of it, as during a rolling restart onto other keys,
   * when another process made its own current: then a process given TICKET_SIGNING_KEYS signs
   * with its own first key, and one without them with the newest key the service generated.
   */
  async function currentKey (q: Queryable): Promise<{ kid: string, key: KeyObject }> {
    if (current !== undefined && current.until > Date.now()) return current
    await ensureKeys(q)
    let kid: string | undefined
    if (configured.size > 0) {
      const [row] = await q<{ kid: string }[]>`select kid from ticket_signing_keys where current`
      kid = row !== undefined && configured.has(row.kid) ? row.kid : configuredKeys[0]?.kid
    } else {
      const [row] = await q<{ kid: string }[]>`
        select kid from ticket_signing_keys where private_jwk is not null
        order by current desc, created_at desc limit 1
      `
      kid = row?.kid
    }
    if (kid === undefined) throw new Error('no current ticket signing key')
    // A set-up made in the caller's transaction is not trusted beyond it (it may roll back).
    current = { kid, key: await privateKey(q, kid), until: ready ? Date.now() + CURRENT_KEY_TTL_MS : 0 }
    return current
  }

  /** Public keys by kid, as scanners hold them (a kid never changes its key). */
  const verifyingKeys = new Map<string, Awaited<ReturnType<typeof importJWK>>>()

  async function verifyingKey (kid: string) {
    const known = verifyingKeys.get(kid)
    if (known !== undefined) return known
    const [row] = await sql<{ publicJwk: PublicTicketKey }[]>`select public_jwk from ticket_signing_keys where kid = ${kid}`
    if (row === undefined) return undefined
    const key = await importJWK(row.publicJwk, 'EdDSA')
    verifyingKeys.set(kid, key)
    return key
  }

  return {
    /**
     * The claims of a code whose signature verifies with the key its `kid` names (one this service
     * signed with), as a scanner checks it offline; undefined for anything else.
     */
    async verify (code: string): Promise<PresentedClaims | undefined> {
      const claims = readClaims(code)
      if (claims === undefined) return undefined
      const key = await verifyingKey(claims.kid)
      if (key === undefined) return undefined
      try {
        await compactVerify(code, key, { algorithms: ['EdDSA'] })
        return claims
      } catch {
        return undefined
      }
    },

    /** Signs codes with the current key, in order. `q` is where to look the key up (a transaction, or the pool). */
    async sign (claims: TicketClaims[], q: Queryable = sql): Promise<SignedCode[]> {
      if (claims.length === 0) return []
      const signer = await currentKey(q)
      const signed: SignedCode[] = []
      for (let start = 0; start < claims.length; start += SIGNED_BETWEEN_YIELDS) {
        // A booking of 20 tiers × 100 tickets would otherwise hold the event loop for some 90 ms.
        if (start > 0) await setImmediate()
        for (const claim of claims.slice(start, start + SIGNED_BETWEEN_YIELDS)) signed.push(signCode(signer, claim))
      }
      return signed
    },

    /** The JWK Set: the current key and every key that signed a code still valid. */
    async publicKeys (): Promise<PublicTicketKey[]> {
      await ensureKeys()
      const rows = await sql<{ publicJwk: PublicTicketKey }[]>`
        select k.public_jwk from ticket_signing_keys k
        where k.current or exists (select 1 from tickets t where t.code_kid = k.kid and t.status = 'valid')
        order by k.current desc, k.created_at desc, k.kid
      `
      return rows.map((row) => row.publicJwk)
    },

    /** Makes a new key current (generated keys only); codes already issued keep theirs. */
    async rotate (): Promise<PublicTicketKey> {
      if (configuredKeys.length > 0) {
        throw new ProblemError(problemKinds.keysConfigured, 'The signing keys come from TICKET_SIGNING_KEYS: rotate them there (put the new key first) and restart.')
      }
      await ensureKeys()
      const key = await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtextextended(${KEYS_LOCK}, 0))`
        return await insertKey(tx)
      })
      current = undefined
      return key
    },

    /**
     * Signs the valid tickets that have no code yet (those of bookings made before tickets
     * existed), in batches; the service runs this at start, before it serves. A process starting at
     * the same time as another waits for the batches the other holds (no SKIP LOCKED), so neither
     * serves before every such ticket has its code.
     */
    async signMissingCodes (batchSize = 500): Promise<number> {
      let signed = 0
      for (;;) {
        const done = await sql.begin(async (tx) => {
          // Their bookings first (the lock order of every change of tickets), a batch of them at a time.
          const bookings = await tx<{ id: string }[]>`
            select id from bookings
            where id in (select booking_id from tickets where status = 'valid' and code is null)
            order by id
            limit ${batchSize} for update
          `
          if (bookings.length === 0) return 0
          const rows = await tx<{ id: string, eventId: string, ticketTierId: string, codeVersion: number }[]>`
            select id, event_id, ticket_tier_id, code_version from tickets
            where booking_id in ${tx(bookings.map((booking) => booking.id))} and status = 'valid' and code is null
          `
          const codes = await this.sign(rows.map((row) => ({ tid: row.id, eid: row.eventId, tier: row.ticketTierId, ver: row.codeVersion })), tx)
          await storeCodes(tx, rows.map((row) => row.id), codes)
          signed += rows.length
          return bookings.length
        })
        if (done < batchSize) return signed
      }
    }
  }
}

/** postgres.js's JSON parameter type. */
type postgresJson = Parameters<Sql['json']>[0]

/** Makes tickets valid with their signed codes (same order), one statement. */
export async function storeCodes (tx: Queryable, ticketIds: string[], codes: SignedCode[]): Promise<void> {
  if (ticketIds.length === 0) return
  await tx`
    update tickets t set status = 'valid', code = c.code, code_kid = c.kid
    from unnest(${ticketIds}::uuid[], ${codes.map((code) => code.code)}::text[], ${codes.map((code) => code.kid)}::text[]) as c(id, code, kid)
    where t.id = c.id
  `
}

export type TicketCodes = ReturnType<typeof createTicketCodes>
