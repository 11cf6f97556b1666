import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { Writable } from 'node:stream'
import { CompactSign, compactVerify, createLocalJWKSet, importJWK, decodeProtectedHeader, type JSONWebKeySet } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { App } from '../../../src/app.js'
import type { PrivateTicketKey } from '../../../src/config.js'
import { createSql, type Sql } from '../../../src/db/sql.js'
import { createTicketCodes } from '../../../src/features/tickets/codes.js'
import { createLogger } from '../../../src/logger.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createTestDatabase, type TestDatabase } from '../../support/database.js'
import { createEventWithTier, createEventWithTiers, problemType } from '../../support/fixtures.js'
import { listeningAt, loadServerEnv, type ServerProcess, spawnServer } from '../../support/process.js'
import { waitUntil } from '../../support/wait.js'

/*
 * The keys that sign ticket codes: generated once into the database on first use, however many
 * processes start at once; or given by the operator in TICKET_SIGNING_KEYS, whose private parts
 * never reach the database; and never, either way, the logs.
 */

/** A new Ed25519 private JWK, as an operator would put in TICKET_SIGNING_KEYS. */
function operatorKey (kid: string): PrivateTicketKey {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string' || typeof jwk.d !== 'string') throw new Error('node:crypto exported no x or d')
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid }
}

function publicOf (key: PrivateTicketKey) {
  return { kty: 'OKP', crv: 'Ed25519', x: key.x, kid: key.kid, alg: 'EdDSA', use: 'sig' }
}

interface KeyRow { kid: string, publicJwk: Record<string, unknown>, privateJwk: Record<string, unknown> | null, current: boolean }

async function keyRows (sql: Sql): Promise<KeyRow[]> {
  return await sql<KeyRow[]>`select kid, public_jwk, private_jwk, current from ticket_signing_keys order by created_at, kid`
}

/** A generated key as stored: its private JWK is an Ed25519 key whose public part is the stored one. */
function expectGenerated (row: KeyRow): void {
  expect(row.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.stringMatching(/^[\w-]{43}$/), kid: row.kid, alg: 'EdDSA', use: 'sig' })
  expect(row.privateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: row.publicJwk.x, d: expect.stringMatching(/^[\w-]{43}$/) })
  const derived = createPublicKey(createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: String(row.privateJwk?.x), d: String(row.privateJwk?.d) }, format: 'jwk' })).export({ format: 'jwk' })
  expect(derived.x).toBe(row.publicJwk.x)
}

async function keySet (app: App): Promise<JSONWebKeySet> {
  const response = await app.inject({ method: 'GET', url: '/api/ticket-keys' })
  expect(response.statusCode).toBe(200)
  return response.json()
}

/** The code's kid, after checking it verifies with `keys` and names `ticket`. */
async function verifiedKid (keys: JSONWebKeySet, ticket: { id: string, eventId: string, ticketTierId: string, code: string | null }): Promise<string> {
  expect(ticket.code).toEqual(expect.any(String))
  const code = ticket.code as string
  const { payload } = await compactVerify(code, createLocalJWKSet(keys), { algorithms: ['EdDSA'] })
  expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toMatchObject({ tid: ticket.id, eid: ticket.eventId, tier: ticket.ticketTierId })
  return decodeProtectedHeader(code).kid as string
}

describe('the first use of ticket codes', () => {
  let db: TestDatabase
  const pools: Sql[] = []
  beforeAll(async () => { db = await createTestDatabase() })
  afterEach(async () => { await Promise.all(pools.splice(0).map(async (pool) => { await pool.end() })) })
  afterAll(async () => { await db.drop() })

  function newPools (count: number): Sql[] {
    const made = Array.from({ length: count }, () => createSql(db.url, { max: 2 }))
    pools.push(...made)
    return made
  }

  it('generates exactly one current key when several processes (pools) start using codes at once', async () => {
    for (let round = 0; round < 3; round++) {
      await db.sql`delete from ticket_signing_keys`
      // Each pool stands for a process: its own codes, reading the key set or signing first.
      const results = await Promise.all(newPools(6).map(async (pool, n) => {
        const codes = createTicketCodes(pool)
        if (n % 2 === 0) return await codes.publicKeys()
        const [signed] = await codes.sign([{ tid: crypto.randomUUID(), eid: crypto.randomUUID(), tier: crypto.randomUUID(), ver: 1 }])
        return [{ kid: signed?.kid }]
      }))
      const rows = await keyRows(db.sql)
      expect(rows, `round ${round}`).toHaveLength(1)
      const [row] = rows as [KeyRow]
      expect(row.current).toBe(true)
      expectGenerated(row)
      for (const result of results) expect(result.map((key) => key.kid)).toEqual([row.kid])
      for (const [n, result] of results.entries()) if (n % 2 === 0) expect(result).toEqual([row.publicJwk])
    }
  })

  it('signs many codes at once in the order asked, each verifying as its own claims', async () => {
    // More than one round of signing between yields to the event loop (50 a round), and a partial last round.
    const claims = Array.from({ length: 123 }, (_, n) => ({ tid: crypto.randomUUID(), eid: crypto.randomUUID(), tier: crypto.randomUUID(), ver: 1 + (n % 3) }))
    const codes = createTicketCodes(newPools(1)[0] as Sql)
    const signed = await codes.sign(claims)
    expect(signed).toHaveLength(claims.length)
    expect(new Set(signed.map((each) => each.code)).size).toBe(claims.length)
    const keys = { keys: await codes.publicKeys() } as JSONWebKeySet
    for (const [n, { code }] of signed.entries()) {
      const { payload } = await compactVerify(code, createLocalJWKSet(keys), { algorithms: ['EdDSA'] })
      expect(JSON.parse(Buffer.from(payload).toString('utf8'))).toEqual(claims[n])
    }
  })

  it('keeps every key when rotations race, exactly one of them current', async () => {
    await db.sql`delete from ticket_signing_keys`
    const rotated = await Promise.all(newPools(4).map(async (pool) => await createTicketCodes(pool).rotate()))
    const rows = await keyRows(db.sql)
    // The first use generated one key, then each rotation one more.
    expect(rows).toHaveLength(5)
    expect(new Set(rows.map((row) => row.kid)).size).toBe(5)
    expect(rows.filter((row) => row.current)).toHaveLength(1)
    for (const row of rows) expectGenerated(row)
    for (const key of rotated) expect(key).not.toHaveProperty('d')
    expect(rotated.map((key) => key.kid)).toContain(rows.find((row) => row.current)?.kid)
  })
})

describe('signing inside a booking\'s transaction', () => {
  let t: TestApp
  beforeAll(async () => { t = await createTestApp() })
  afterAll(async () => { await t.close() })

  it('never waits for another pool connection: the first confirmations on a process with a busy pool all succeed', async () => {
    // Holds sign nothing, so no key exists yet; each confirmation then holds a connection while it signs the first codes.
    const { eventId, tiers } = await createEventWithTiers(t.app, ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name, capacity: 5 })))
    const holds = await Promise.all(tiers.map(async (tier) => {
      const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, hold: { ttlSeconds: 600 }, items: [{ ticketTierId: tier.id, quantity: 2 }] } })
      expect(response.statusCode).toBe(201)
      return response.json().id as string
    }))
    expect(await keyRows(t.sql)).toEqual([])
    const app = await t.newApp({ pool: { max: 2 } })
    // Were the first key made on another connection, all of them would wait for it until the
    // database ended their idle transactions (30 s), past this test's timeout.
    const confirms = await Promise.all(holds.map(async (id) => await app.inject({ method: 'POST', url: `/api/bookings/${id}/confirm`, headers: t.asIntegrator })))
    expect(confirms.map((response) => response.statusCode)).toEqual(holds.map(() => 200))
    const rows = await keyRows(t.sql)
    expect(rows).toHaveLength(1)
    const keys = await keySet(app)
    for (const id of holds) {
      const tickets = (await app.inject({ method: 'GET', url: `/api/bookings/${id}/tickets`, headers: t.asIntegrator })).json().data
      for (const ticket of tickets) expect(await verifiedKid(keys, ticket)).toBe(rows[0]?.kid)
    }
  })
})

describe('keys given in TICKET_SIGNING_KEYS', () => {
  let t: TestApp
  let eventId: string
  let tierId: string
  beforeAll(async () => {
    t = await createTestApp()
    ;({ eventId, tierId } = await createEventWithTier(t.app, { capacity: 1000 }))
  })
  afterAll(async () => { await t.close() })

  async function book (app: App): Promise<{ id: string, tickets: Array<{ id: string, eventId: string, ticketTierId: string, code: string | null, status: string }> }> {
    const response = await app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId: tierId, quantity: 2 }] } })
    expect(response.statusCode, response.body).toBe(201)
    const id = response.json().id as string
    return { id, tickets: (await app.inject({ method: 'GET', url: `/api/bookings/${id}/tickets`, headers: t.asIntegrator })).json().data }
  }

  async function kidsOf (app: App, booking: { tickets: Array<{ id: string, eventId: string, ticketTierId: string, code: string | null }> }): Promise<string[]> {
    const keys = await keySet(app)
    return await Promise.all(booking.tickets.map(async (ticket) => await verifiedKid(keys, ticket)))
  }

  /**
   * Books through `app` again and again for longer than a process trusts its idea of the current
   * key (1 s), so bookings made after it looks the key up again are among them: each must succeed
   * with codes of a key `expectKid` accepts that verify from the published set.
   */
  async function keepsSigning (app: App, expectKid: (kid: string) => void): Promise<void> {
    const until = Date.now() + 1_500
    await waitUntil(async () => {
      const booking = await book(app)
      for (const kid of await kidsOf(app, booking)) expectKid(kid)
      return Date.now() > until
    }, 'bookings went on past the current key\'s look-up', { intervalMs: 100 })
  }

  it('sign with the first key, list public parts only, store no private part, refuse rotation, and keep earlier codes verifying', async () => {
    // Before: a code signed by a key the service generated.
    const generated = await t.newApp()
    const early = await book(generated)
    const [generatedKey] = await keyRows(t.sql)
    expectGenerated(generatedKey as KeyRow)
    expect(await kidsOf(generated, early)).toEqual([generatedKey?.kid, generatedKey?.kid])
    await generated.close()

    const first = operatorKey('operator-2027-01')
    const spare = operatorKey('operator-spare')
    const configured = await t.newApp({ config: { ticketSigningKeys: [first, spare] } })
    const later = await book(configured)
    expect(await kidsOf(configured, later)).toEqual([first.kid, first.kid])
    // Each code is the compact JWS jose's CompactSign makes of its claims with that key, byte for byte.
    for (const ticket of later.tickets) {
      const claims = { tid: ticket.id, eid: ticket.eventId, tier: ticket.ticketTierId, ver: 1 }
      const expected = await new CompactSign(Buffer.from(JSON.stringify(claims)))
        .setProtectedHeader({ alg: 'EdDSA', kid: first.kid })
        .sign(await importJWK(first, 'EdDSA'))
      expect(ticket.code).toBe(expected)
    }

    const keys = await keySet(configured)
    expect(keys.keys[0]).toEqual(publicOf(first))
    expect(keys.keys).toContainEqual(generatedKey?.publicJwk)
    for (const key of keys.keys) expect(key).not.toHaveProperty('d')
    // The early code still verifies from the published set while its ticket is valid.
    expect(await kidsOf(configured, early)).toEqual([generatedKey?.kid, generatedKey?.kid])

    const rows = await keyRows(t.sql)
    for (const kid of [first.kid, spare.kid]) {
      expect(rows.find((row) => row.kid === kid)).toMatchObject({ privateJwk: null })
    }
    expect(rows.find((row) => row.kid === first.kid)).toMatchObject({ current: true, publicJwk: publicOf(first) })
    expect(JSON.stringify(rows)).not.toContain(first.d)
    expect(JSON.stringify(rows)).not.toContain(spare.d)

    const rotate = await configured.inject({ method: 'POST', url: '/api/ticket-keys/rotate', headers: asAdmin })
    expect(rotate.statusCode).toBe(409)
    expect(rotate.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(rotate.json().type).toBe(problemType('keys-configured'))
    expect(await keyRows(t.sql)).toEqual(rows)

    // Once the early booking is cancelled, no valid code needs the generated key: it leaves the set.
    expect((await configured.inject({ method: 'POST', url: `/api/bookings/${early.id}/cancel`, headers: t.asIntegrator })).statusCode).toBe(200)
    expect((await keySet(configured)).keys.map((key) => key.kid)).toEqual([first.kid])
    await configured.close()
  })

  it('sign with a key put first by the operator while the old one stays listed, and a process still on the old list keeps signing', async () => {
    const old = operatorKey('rotation-old')
    const next = operatorKey('rotation-new')
    const before = await t.newApp({ config: { ticketSigningKeys: [old] } })
    const oldBooking = await book(before)
    expect(await kidsOf(before, oldBooking)).toEqual([old.kid, old.kid])

    // A rolling restart: a new process with the new key first, while the old one still runs.
    const after = await t.newApp({ config: { ticketSigningKeys: [next, old] } })
    const newBooking = await book(after)
    expect(await kidsOf(after, newBooking)).toEqual([next.kid, next.kid])
    const keys = await keySet(after)
    expect(keys.keys[0]).toEqual(publicOf(next))
    expect(keys.keys).toContainEqual(publicOf(old))
    expect(await kidsOf(after, oldBooking)).toEqual([old.kid, old.kid])

    // The old process holds no private part of the new current key: it signs with its own.
    await keepsSigning(before, (kid) => { expect(kid).toBe(old.kid) })
    expect((await keyRows(t.sql)).find((row) => row.current)?.kid).toBe(next.kid)
    await before.close()
    await after.close()
  })

  it('hand back to a generated key when TICKET_SIGNING_KEYS is removed, the operator\'s key listed while its codes are valid', async () => {
    const given = operatorKey('given-then-removed')
    const configured = await t.newApp({ config: { ticketSigningKeys: [given] } })
    const signedByGiven = await book(configured)
    expect(await kidsOf(configured, signedByGiven)).toEqual([given.kid, given.kid])
    await configured.close()

    const restarted = await t.newApp()
    const booking = await book(restarted)
    const current = (await keyRows(t.sql)).find((row) => row.current) as KeyRow
    expectGenerated(current)
    expect(await kidsOf(restarted, booking)).toEqual([current.kid, current.kid])
    expect((await keySet(restarted)).keys.map((key) => key.kid)).toContain(given.kid)
    expect(await kidsOf(restarted, signedByGiven)).toEqual([given.kid, given.kid])
    // Rotation is the service's own again.
    const rotate = await restarted.inject({ method: 'POST', url: '/api/ticket-keys/rotate', headers: asAdmin })
    expect(rotate.statusCode).toBe(201)
    await restarted.close()
  })

  it('keep a process without them signing while a rolling restart brings TICKET_SIGNING_KEYS in', async () => {
    const running = await t.newApp()
    await book(running)
    const generatedKids = new Set((await keyRows(t.sql)).filter((row) => row.privateJwk !== null).map((row) => row.kid))
    const given = operatorKey('rolled-in')
    const restarted = await t.newApp({ config: { ticketSigningKeys: [given] } })
    expect(await kidsOf(restarted, await book(restarted))).toEqual([given.kid, given.kid])
    // The process not yet restarted holds no private part of the operator's key: it signs with the newest generated one.
    await keepsSigning(running, (kid) => { expect(generatedKids).toContain(kid) })
    expect((await keyRows(t.sql)).find((row) => row.current)?.kid).toBe(given.kid)
    await running.close()
    await restarted.close()
  })
})

describe('private key material in logs', () => {
  let t: TestApp
  beforeAll(async () => { t = await createTestApp() })
  afterAll(async () => { await t.close() })

  /** A JWK's `d` member with a value, plain or inside an escaped JSON string. */
  const PRIVATE_MEMBER = /\\*"d\\*"\s*:\s*\\*"[\w-]{20,}/

  it('never appears, for generated or configured keys, through bookings, confirmations, reissues, rotations and failures', async () => {
    let logged = ''
    const sink = new Writable({ write (chunk: Buffer, _encoding, done) { logged += chunk.toString(); done() } })
    const logger = createLogger('trace', sink)
    const generated = await t.newApp({ logger })
    const { eventId, tierId } = await createEventWithTier(generated, { capacity: 100 })
    const post = async (app: App, url: string, payload?: object, headers: Record<string, string> = t.asIntegrator) =>
      await app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload }) })

    const exercise = async (app: App, rotateStatus: number): Promise<void> => {
      const plain = await post(app, '/api/bookings', { eventId, items: [{ ticketTierId: tierId, quantity: 2 }] })
      expect(plain.statusCode).toBe(201)
      const hold = await post(app, '/api/bookings', { eventId, hold: { ttlSeconds: 600 }, items: [{ ticketTierId: tierId, quantity: 1 }] })
      expect((await post(app, `/api/bookings/${hold.json().id}/confirm`)).statusCode).toBe(200)
      const tickets = (await app.inject({ method: 'GET', url: `/api/bookings/${plain.json().id}/tickets`, headers: t.asIntegrator })).json().data
      expect((await post(app, `/api/tickets/${tickets[0].id}/reissue`)).statusCode).toBe(200)
      expect((await app.inject({ method: 'GET', url: `/api/tickets/${tickets[1].id}/qr`, headers: t.asIntegrator })).statusCode).toBe(200)
      expect((await post(app, `/api/bookings/${plain.json().id}/cancel`)).statusCode).toBe(200)
      expect((await post(app, '/api/ticket-keys/rotate', undefined, asAdmin)).statusCode).toBe(rotateStatus)
      expect((await app.inject({ method: 'GET', url: '/api/ticket-keys' })).statusCode).toBe(200)
    }
    await exercise(generated, 201)

    // A rotation that fails in the database (a check that refuses the new row, whose detail would show it) is logged as an error.
    await t.sql`alter table ticket_signing_keys add constraint forced_failure check (kid = '') not valid`
    try {
      expect((await post(generated, '/api/ticket-keys/rotate', undefined, asAdmin)).statusCode).toBe(500)
    } finally {
      await t.sql`alter table ticket_signing_keys drop constraint forced_failure`
    }
    await generated.close()

    const given = operatorKey('logged-operator-key')
    const configured = await t.newApp({ logger, config: { ticketSigningKeys: [given] } })
    await exercise(configured, 409)
    await configured.close()

    expect(logged).toContain('request completed')
    expect(logged).toContain('request failed')
    const secrets = [given.d, ...(await keyRows(t.sql)).map((row) => row.privateJwk?.d).filter((d) => typeof d === 'string')]
    expect(secrets.length).toBeGreaterThanOrEqual(3)
    for (const d of secrets) expect(logged).not.toContain(d)
    expect(logged).not.toMatch(PRIVATE_MEMBER)
  })

  it('never appears in a server process\'s output at trace level with TICKET_SIGNING_KEYS set', async () => {
    const given = operatorKey('process-key')
    let server: ServerProcess | undefined
    try {
      server = spawnServer(loadServerEnv(t.databaseUrl, { LOG_LEVEL: 'trace', TICKET_SIGNING_KEYS: JSON.stringify([given]) }))
      const base = await listeningAt(server)
      const { eventId, tierId } = await createEventWithTier(t.app, { capacity: 10 })
      const booked = await fetch(`${base}/api/bookings`, {
        method: 'POST', headers: { ...t.asIntegrator, 'content-type': 'application/json' }, body: JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
      })
      expect(booked.status).toBe(201)
      const { id } = await booked.json() as { id: string }
      const tickets = await (await fetch(`${base}/api/bookings/${id}/tickets`, { headers: t.asIntegrator })).json() as { data: Array<{ id: string, eventId: string, ticketTierId: string, code: string | null }> }
      const keys = await (await fetch(`${base}/api/ticket-keys`)).json() as JSONWebKeySet
      expect(await verifiedKid(keys, tickets.data[0] as { id: string, eventId: string, ticketTierId: string, code: string | null })).toBe(given.kid)
      expect((await fetch(`${base}/api/ticket-keys/rotate`, { method: 'POST', headers: asAdmin })).status).toBe(409)
      server.child.kill('SIGTERM')
      expect(await server.exited).toEqual({ code: 0, signal: null })
      expect(server.output()).toContain('request completed')
      expect(server.output()).not.toContain(given.d)
      expect(server.output()).not.toMatch(PRIVATE_MEMBER)
    } finally {
      if (server !== undefined && server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill('SIGKILL')
        await server.exited
      }
    }
  })
})
