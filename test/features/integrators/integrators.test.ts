import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemo } from '../../../src/db/seed.js'
import { asAdmin, createTestApp, type TestApp, type TestIntegrator } from '../../support/app.js'
import { DEMO_BOOKING as booking, problemType } from '../../support/fixtures.js'

let t: TestApp
beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
})
afterAll(async () => { await t.close() })

async function createIntegrator (name: string) {
  const response = await t.app.inject({ method: 'POST', url: '/api/integrators', headers: asAdmin, payload: { name } })
  expect(response.statusCode).toBe(201)
  return response.json<{ id: string, name: string, createdAt: string }>()
}

async function createKey (integratorId: string, body: Record<string, unknown> = {}) {
  const response = await t.app.inject({ method: 'POST', url: `/api/integrators/${integratorId}/keys`, headers: asAdmin, payload: body })
  expect(response.statusCode).toBe(201)
  return response.json<{ id: string, key: string, prefix: string, scopes: string[], lastUsedAt: string | null }>()
}

function bearer (key: string) {
  return { authorization: `Bearer ${key}` }
}

describe('integrators and keys (admin)', () => {
  it('creates, reads and lists integrators', async () => {
    const acme = await createIntegrator('Acme')
    expect(acme).toEqual({ id: expect.any(String), name: 'Acme', createdAt: expect.stringMatching(/Z$/), rateLimits: null })
    const read = await t.app.inject({ method: 'GET', url: `/api/integrators/${acme.id}`, headers: asAdmin })
    expect(read.json()).toEqual(acme)
    expect((await t.app.inject({ method: 'GET', url: `/api/integrators/${randomUUID()}`, headers: asAdmin })).statusCode).toBe(404)

    for (let i = 0; i < 3; i++) await createIntegrator(`Page ${i}`)
    const ids: string[] = []
    let cursor: string | null = null
    do {
      const url: string = `/api/integrators?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`
      const page = (await t.app.inject({ method: 'GET', url, headers: asAdmin })).json()
      ids.push(...page.data.map((each: { id: string }) => each.id))
      cursor = page.nextCursor
    } while (cursor !== null)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toContain(acme.id)
  })

  it('shows a key once: tbk_ and 32 random bytes; lists keys without secrets', async () => {
    const acme = await createIntegrator('Key shop')
    const key = await createKey(acme.id, { name: 'checkout', scopes: ['bookings:write', 'bookings:read'] })
    expect(key.key).toMatch(/^tbk_[A-Za-z0-9_-]{43}$/)
    expect(key.prefix).toBe(key.key.slice(0, 12))
    expect(key.scopes).toEqual(['bookings:read', 'bookings:write'])
    const listed = await t.app.inject({ method: 'GET', url: `/api/integrators/${acme.id}/keys`, headers: asAdmin })
    expect(listed.statusCode).toBe(200)
    expect(listed.body).not.toContain(key.key)
    expect(listed.json().data).toEqual([expect.not.objectContaining({ key: expect.anything() })])
    const defaults = await createKey(acme.id)
    expect(defaults.scopes).toEqual(['bookings:read', 'bookings:write', 'webhooks:manage'])
    const [stored] = await t.sql<{ hash: Buffer }[]>`select key_hash as hash from api_keys where id = ${key.id}`
    expect(stored?.hash.toString('hex')).not.toContain(Buffer.from(key.key).toString('hex'))
  })

  it('refuses bad key requests', async () => {
    const acme = await createIntegrator('Strict')
    for (const body of [{ scopes: [] }, { scopes: ['bookings:delete'] }, { scopes: ['bookings:read', 'bookings:read'] }, { secret: 'x' }]) {
      const response = await t.app.inject({ method: 'POST', url: `/api/integrators/${acme.id}/keys`, headers: asAdmin, payload: body })
      expect(response.statusCode, JSON.stringify(body)).toBe(400)
    }
    expect((await t.app.inject({ method: 'POST', url: `/api/integrators/${randomUUID()}/keys`, headers: asAdmin, payload: {} })).statusCode).toBe(404)
  })

  it('needs an admin key: integrator keys get 401', async () => {
    for (const headers of [{}, t.asIntegrator]) {
      const response = await t.app.inject({ method: 'POST', url: '/api/integrators', headers, payload: { name: 'x' } })
      expect(response.statusCode).toBe(401)
    }
  })

  it('revokes a key (again 204): it fails from the next request on', async () => {
    const acme = await createIntegrator('Revoker')
    const key = await createKey(acme.id)
    expect((await t.app.inject({ method: 'POST', url: '/api/bookings', headers: bearer(key.key), payload: booking })).statusCode).toBe(201)
    for (let i = 0; i < 2; i++) {
      const revoked = await t.app.inject({ method: 'DELETE', url: `/api/integrators/${acme.id}/keys/${key.id}`, headers: asAdmin })
      expect(revoked.statusCode).toBe(204)
    }
    const after = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: bearer(key.key), payload: booking })
    expect(after.statusCode).toBe(401)
    expect(after.headers['www-authenticate']).toContain('invalid_token')
    const listed = await t.app.inject({ method: 'GET', url: `/api/integrators/${acme.id}/keys`, headers: asAdmin })
    expect(listed.json().data[0].revokedAt).toEqual(expect.stringMatching(/Z$/))
    expect((await t.app.inject({ method: 'DELETE', url: `/api/integrators/${acme.id}/keys/${randomUUID()}`, headers: asAdmin })).statusCode).toBe(404)
  })

  it('records when a key was last used', async () => {
    const acme = await createIntegrator('User')
    const key = await createKey(acme.id)
    expect(key.lastUsedAt).toBeNull()
    await t.app.inject({ method: 'GET', url: '/api/bookings', headers: bearer(key.key) })
    const listed = await t.app.inject({ method: 'GET', url: `/api/integrators/${acme.id}/keys`, headers: asAdmin })
    expect(listed.json().data[0].lastUsedAt).toEqual(expect.stringMatching(/Z$/))
  })
})

describe('booking operations with keys', () => {
  let a: TestIntegrator
  let b: TestIntegrator
  beforeAll(async () => {
    a = await t.newIntegrator('A')
    b = await t.newIntegrator('B')
  })

  it('answers a missing or unknown key with 401 and WWW-Authenticate', async () => {
    for (const headers of [{}, { authorization: 'Bearer tbk_' + 'x'.repeat(43) }, { authorization: 'Bearer nonsense' }]) {
      const response = await t.app.inject({ method: 'POST', url: '/api/bookings', headers, payload: booking })
      expect(response.statusCode).toBe(401)
      expect(response.headers['www-authenticate']).toMatch(/^Bearer/)
    }
  })

  it('gives two integrators with the same clientReference a booking each', async () => {
    const body = { ...booking, clientReference: 'order-1' }
    const first = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: a.headers, payload: body })
    const second = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: b.headers, payload: body })
    expect([first.statusCode, second.statusCode]).toEqual([201, 201])
    expect(first.json().id).not.toBe(second.json().id)
    const replay = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: a.headers, payload: body })
    expect(replay.statusCode).toBe(200)
    expect(replay.json().id).toBe(first.json().id)
  })

  it('hides a booking from other integrators: 404 for read, cancel and confirm, and not in their list', async () => {
    const own = (await t.app.inject({ method: 'POST', url: '/api/bookings', headers: a.headers, payload: { ...booking, hold: { ttlSeconds: 600 } } })).json()
    for (const [method, url] of [['GET', `/api/bookings/${own.id}`], ['POST', `/api/bookings/${own.id}/cancel`], ['POST', `/api/bookings/${own.id}/confirm`]] as const) {
      const response = await t.app.inject({ method, url, headers: b.headers })
      expect(response.statusCode, `${method} ${url}`).toBe(404)
      expect(response.json().type).toBe(problemType('not-found'))
    }
    const listA = (await t.app.inject({ method: 'GET', url: '/api/bookings?limit=100', headers: a.headers })).json()
    const listB = (await t.app.inject({ method: 'GET', url: '/api/bookings?limit=100', headers: b.headers })).json()
    expect(listA.data.map((each: { id: string }) => each.id)).toContain(own.id)
    expect(listB.data.map((each: { id: string }) => each.id)).not.toContain(own.id)
    expect((await t.app.inject({ method: 'GET', url: `/api/bookings/${own.id}`, headers: a.headers })).json().status).toBe('held')
  })

  it('lets a key without bookings:write read but not book', async () => {
    const reader = await t.newIntegrator('Reader', ['bookings:read'])
    const create = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: reader.headers, payload: booking })
    expect(create.statusCode).toBe(403)
    expect(create.json()).toMatchObject({ type: problemType('insufficient-scope'), scope: 'bookings:write' })
    expect(create.headers['www-authenticate']).toContain('insufficient_scope')
    expect((await t.app.inject({ method: 'GET', url: '/api/bookings', headers: reader.headers })).statusCode).toBe(200)
    const writer = await t.newIntegrator('Writer', ['bookings:write'])
    expect((await t.app.inject({ method: 'GET', url: '/api/bookings', headers: writer.headers })).statusCode).toBe(403)
  })

  it('lets admin keys read and cancel any booking, but not create or confirm one', async () => {
    const own = (await t.app.inject({ method: 'POST', url: '/api/bookings', headers: a.headers, payload: { ...booking, hold: { ttlSeconds: 600 } } })).json()
    expect((await t.app.inject({ method: 'GET', url: `/api/bookings/${own.id}`, headers: asAdmin })).statusCode).toBe(200)
    const listed = (await t.app.inject({ method: 'GET', url: '/api/bookings?limit=100', headers: asAdmin })).json()
    expect(listed.data.map((each: { id: string }) => each.id)).toContain(own.id)
    expect((await t.app.inject({ method: 'POST', url: '/api/bookings', headers: asAdmin, payload: booking })).statusCode).toBe(403)
    expect((await t.app.inject({ method: 'POST', url: `/api/bookings/${own.id}/confirm`, headers: asAdmin })).statusCode).toBe(403)
    const cancelled = await t.app.inject({ method: 'POST', url: `/api/bookings/${own.id}/cancel`, headers: asAdmin })
    expect(cancelled.statusCode).toBe(200)
    expect(cancelled.json().status).toBe('cancelled')
  })

  it('lists an integrator\'s bookings newest first, by event and by status, page by page', async () => {
    const lister = await t.newIntegrator('Lister')
    const made: string[] = []
    for (let i = 0; i < 5; i++) {
      made.push((await t.app.inject({ method: 'POST', url: '/api/bookings', headers: lister.headers, payload: booking })).json().id)
    }
    await t.app.inject({ method: 'POST', url: `/api/bookings/${made[0]}/cancel`, headers: lister.headers })
    const ids: string[] = []
    let cursor: string | null = null
    do {
      const url: string = `/api/bookings?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`
      const page = (await t.app.inject({ method: 'GET', url, headers: lister.headers })).json()
      ids.push(...page.data.map((each: { id: string }) => each.id))
      cursor = page.nextCursor
    } while (cursor !== null)
    expect(ids).toEqual([...made].reverse())
    const cancelled = (await t.app.inject({ method: 'GET', url: '/api/bookings?status=cancelled', headers: lister.headers })).json()
    expect(cancelled.data.map((each: { id: string }) => each.id)).toEqual([made[0]])
    const otherEvent = (await t.app.inject({ method: 'GET', url: `/api/bookings?eventId=${randomUUID()}`, headers: lister.headers })).json()
    expect(otherEvent.data).toEqual([])
    expect((await t.app.inject({ method: 'GET', url: '/api/bookings?status=gone', headers: lister.headers })).statusCode).toBe(400)
  })
})
