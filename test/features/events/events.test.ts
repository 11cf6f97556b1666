import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { EventCreate } from '../../../src/schemas/events.js'
import { ADMIN_KEY, ROTATED_ADMIN_KEY, asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEvent as createEventOn, createTier, problemType } from '../../support/fixtures.js'

let t: TestApp
beforeAll(async () => { t = await createTestApp() })
afterAll(async () => { await t.close() })

async function createEvent (fields: Partial<EventCreate> = {}) {
  return await createEventOn(t.app, fields)
}

/** POST /api/events as an admin, whatever the answer. */
async function postEvent (payload: Record<string, unknown>) {
  return await t.app.inject({ method: 'POST', url: '/api/events', headers: asAdmin, payload })
}

async function listAll (limit: number) {
  const pages: { data: { id: string }[], nextCursor: string | null }[] = []
  let cursor: string | null = null
  do {
    const query: string = cursor === null ? `limit=${limit}` : `limit=${limit}&cursor=${cursor}`
    const response = await t.app.inject({ method: 'GET', url: `/api/events?${query}` })
    expect(response.statusCode).toBe(200)
    const page = response.json()
    pages.push(page)
    cursor = page.nextCursor
  } while (cursor !== null)
  return pages
}

describe('GET /api/events', () => {
  beforeEach(async () => { await t.sql`truncate events cascade` })

  it('returns an empty first page with no cursor when there are no events', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/events' })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ data: [], nextCursor: null })
  })

  it('orders by startsAt, then id, across pages, with no event lost or repeated', async () => {
    const sameStart = '2027-06-01T18:00:00Z'
    const created = [
      await createEvent({ startsAt: '2027-08-01T18:00:00Z' }),
      await createEvent({ startsAt: sameStart }),
      await createEvent({ startsAt: sameStart }),
      await createEvent({ startsAt: sameStart }),
      await createEvent({ startsAt: '2027-01-01T18:00:00Z' })
    ]
    const expected = [...created]
      .sort((a, b) => a.startsAt.localeCompare(b.startsAt) || a.id.localeCompare(b.id))
      .map((event) => event.id)

    const pages = await listAll(2)
    expect(pages.map((page) => page.data.length)).toEqual([2, 2, 1])
    expect(pages.flatMap((page) => page.data.map((event) => event.id))).toEqual(expected)
  })

  it('gives no cursor when the last page is exactly full', async () => {
    await createEvent()
    await createEvent()
    const pages = await listAll(2)
    expect(pages).toHaveLength(1)
    expect(pages[0]?.data).toHaveLength(2)
    expect(pages[0]?.nextCursor).toBeNull()
  })

  it('defaults to 20 per page', async () => {
    for (let i = 0; i < 21; i++) await createEvent()
    const response = await t.app.inject({ method: 'GET', url: '/api/events' })
    expect(response.json().data).toHaveLength(20)
    expect(response.json().nextCursor).toEqual(expect.any(String))
  })

  it.each(['0', '101', 'ten', '1.5', '1e309', '-1e309', 'Infinity'])('rejects limit=%s with a 400', async (limit) => {
    const response = await t.app.inject({ method: 'GET', url: `/api/events?limit=${limit}` })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors[0].path).toBe('/limit')
  })

  it.each([
    ['not base64 json', 'garbage!!'],
    ['a JSON value of the wrong shape', Buffer.from('{"a":1}').toString('base64url')],
    ['a bad id', Buffer.from('["2027-01-01T00:00:00.000Z","nope"]').toString('base64url')],
    ['a bad time', Buffer.from(`["yesterday","${randomUUID()}"]`).toString('base64url')]
  ])('rejects a cursor that is %s with a 400', async (_what, cursor) => {
    const response = await t.app.inject({ method: 'GET', url: `/api/events?cursor=${encodeURIComponent(cursor)}` })
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    // Characters outside base64url break the documented pattern; the rest fail to decode.
    expect(response.json().errors).toEqual([{ path: '/cursor', message: cursor === 'garbage!!' ? 'must match pattern "^[A-Za-z0-9_-]+$"' : 'is not a cursor returned by this API' }])
  })

  it('rejects unknown query parameters', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/events?limt=5' })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '/limt', message: 'is not a known property' }])
  })
})

describe('GET /api/events/{eventId}', () => {
  it('returns the event', async () => {
    const event = await createEvent({ description: 'Doors at 19:00', endsAt: '2027-05-01T23:00:00Z' })
    const response = await t.app.inject({ method: 'GET', url: `/api/events/${event.id}` })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual(event)
  })

  it('answers a malformed id with 400', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/api/events/not-a-uuid' })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors[0].path).toBe('/eventId')
    expect(response.json().detail).toContain('path parameters')
  })

  it('answers an unknown id with 404', async () => {
    const response = await t.app.inject({ method: 'GET', url: `/api/events/${randomUUID()}` })
    expect(response.statusCode).toBe(404)
    expect(response.json().type).toBe(problemType('not-found'))
  })
})

describe('POST /api/events', () => {
  it('creates an event with a Location, storing times as the same instant in UTC', async () => {
    const response = await postEvent({ name: 'Offsets', venue: 'Tokyo Dome', startsAt: '2027-05-01T20:00:00+09:00', endsAt: '2027-05-01T23:30:00.5+09:00', currency: 'JPY' })
    expect(response.statusCode).toBe(201)
    const event = response.json()
    expect(response.headers.location).toBe(`/api/events/${event.id}`)
    expect(event).toEqual({
      id: expect.any(String),
      name: 'Offsets',
      description: null,
      venue: 'Tokyo Dome',
      startsAt: '2027-05-01T11:00:00.000Z',
      endsAt: '2027-05-01T14:30:00.500Z',
      currency: 'JPY',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    })
    const stored = await t.app.inject({ method: 'GET', url: response.headers.location as string })
    expect(stored.json()).toEqual(event)
  })

  it('accepts endsAt equal to startsAt and rejects endsAt before startsAt', async () => {
    await createEvent({ startsAt: '2027-05-01T20:00:00Z', endsAt: '2027-05-01T20:00:00Z' })
    const response = await postEvent({ name: 'Backwards', venue: 'Hall', startsAt: '2027-05-01T20:00:00Z', endsAt: '2027-05-01T19:59:59Z', currency: 'EUR' })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '/endsAt', message: 'must not be before startsAt' }])
  })

  it.each([
    ['a lower-case currency', { currency: 'eur' }, '/currency'],
    ['a blank name', { name: '   ' }, '/name'],
    ['a 201-character name', { name: 'x'.repeat(201) }, '/name'],
    ['a date without offset', { startsAt: '2027-05-01T20:00:00' }, '/startsAt'],
    ['an impossible date', { startsAt: '2027-02-30T20:00:00Z' }, '/startsAt'],
    ['a leap second', { startsAt: '2027-12-31T23:59:60Z' }, '/startsAt'],
    ['year zero', { startsAt: '0000-01-01T00:00:00Z' }, '/startsAt'],
    ['a null name', { name: null }, '/name']
  ])('rejects %s with a 400 naming the field', async (_what, overrides, path) => {
    const response = await postEvent({ name: 'Bad', venue: 'Hall', startsAt: '2027-05-01T20:00:00Z', currency: 'EUR', ...overrides })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors.map((error: { path: string }) => error.path)).toContain(path)
  })

  it('accepts a 200-character name', async () => {
    const event = await createEvent({ name: 'x'.repeat(200) })
    expect(event.name).toHaveLength(200)
  })
})

describe('PATCH /api/events/{eventId}', () => {
  it('changes only the fields sent, and clears nullable ones with null', async () => {
    const event = await createEvent({ description: 'Old', endsAt: '2027-05-01T23:00:00Z' })
    const response = await t.app.inject({
      method: 'PATCH', url: `/api/events/${event.id}`, headers: asAdmin, payload: { venue: 'Harbour Hall', description: null }
    })
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ ...event, venue: 'Harbour Hall', description: null })
  })

  it('rejects an empty patch', async () => {
    const event = await createEvent()
    const response = await t.app.inject({ method: 'PATCH', url: `/api/events/${event.id}`, headers: asAdmin, payload: {} })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '', message: 'must contain at least one property' }])
  })

  it('rejects moving startsAt after the stored endsAt', async () => {
    const event = await createEvent({ endsAt: '2027-05-01T23:00:00Z' })
    const response = await t.app.inject({
      method: 'PATCH', url: `/api/events/${event.id}`, headers: asAdmin, payload: { startsAt: '2027-05-02T00:00:00Z' }
    })
    expect(response.statusCode).toBe(400)
    expect(response.json().errors).toEqual([{ path: '/startsAt', message: 'must not be after endsAt' }])
    const unchanged = await t.app.inject({ method: 'GET', url: `/api/events/${event.id}` })
    expect(unchanged.json()).toEqual(event)
  })

  it('rejects a null startsAt', async () => {
    const event = await createEvent()
    const response = await t.app.inject({ method: 'PATCH', url: `/api/events/${event.id}`, headers: asAdmin, payload: { startsAt: null } })
    expect(response.statusCode).toBe(400)
  })

  it('answers an unknown event with 404 and a malformed id with 400', async () => {
    const unknown = await t.app.inject({ method: 'PATCH', url: `/api/events/${randomUUID()}`, headers: asAdmin, payload: { name: 'x' } })
    expect(unknown.statusCode).toBe(404)
    const malformed = await t.app.inject({ method: 'PATCH', url: '/api/events/123', headers: asAdmin, payload: { name: 'x' } })
    expect(malformed.statusCode).toBe(400)
  })
})

describe('admin authentication', () => {
  const body = { name: 'Auth', venue: 'Hall', startsAt: '2027-05-01T20:00:00Z', currency: 'EUR' }

  it('answers a missing key with 401 and WWW-Authenticate: Bearer', async () => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', payload: body })
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/)
    expect(response.json().type).toBe(problemType('unauthorized'))
  })

  it.each([
    ['a wrong key', 'Bearer not-the-admin-key-0123456789', true],
    ['a key in another scheme', `Basic ${ADMIN_KEY}`, false],
    ['a prefix of the key', `Bearer ${ADMIN_KEY.slice(0, -1)}`, true],
    ['the key plus a character', `Bearer ${ADMIN_KEY}x`, true],
    ['an empty bearer', 'Bearer ', false]
  ])('answers %s with 401 and invalid_token where a key was sent', async (_what, authorization, keySent) => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: { authorization }, payload: body })
    expect(response.statusCode).toBe(401)
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/)
    if (keySent) expect(response.headers['www-authenticate']).toContain('error="invalid_token"')
    else expect(response.headers['www-authenticate']).not.toContain('error=')
  })

  it.each([
    ['the current key', `Bearer ${ADMIN_KEY}`],
    ['the rotated key', `Bearer ${ROTATED_ADMIN_KEY}`],
    ['a lower-case scheme', `bearer ${ADMIN_KEY}`],
    ['an upper-case scheme', `BEARER ${ROTATED_ADMIN_KEY}`]
  ])('accepts %s', async (_what, authorization) => {
    const response = await t.app.inject({ method: 'POST', url: '/api/events', headers: { authorization }, payload: body })
    expect(response.statusCode).toBe(201)
  })

  it('checks the key before the body: a bad key on a bad body is a 401', async () => {
    const response = await t.app.inject({
      method: 'POST', url: '/api/events', headers: { authorization: 'Bearer wrong-key-0123456789abcdef' }, payload: { nonsense: true }
    })
    expect(response.statusCode).toBe(401)
  })

  it('checks the key before the path: a bad key on a malformed id is a 401', async () => {
    const response = await t.app.inject({ method: 'PATCH', url: '/api/events/not-a-uuid', payload: { name: 'x' } })
    expect(response.statusCode).toBe(401)
  })

  it('guards every admin operation', async () => {
    const event = await createEvent()
    const tier = await createTier(t.app, event.id, { price: 100, capacity: 10 })
    const operations = [
      { method: 'POST' as const, url: '/api/events' },
      { method: 'PATCH' as const, url: `/api/events/${event.id}` },
      { method: 'POST' as const, url: `/api/events/${event.id}/ticket-tiers` },
      { method: 'PATCH' as const, url: `/api/ticket-tiers/${tier.id}` }
    ]
    for (const operation of operations) {
      const response = await t.app.inject({ ...operation, payload: { name: 'x' } })
      expect(response.statusCode, `${operation.method} ${operation.url}`).toBe(401)
    }
  })

  it('answers 401 to everyone when no admin keys are configured', async () => {
    const app = await t.newApp({ config: { adminApiKeys: [] } })
    try {
      for (const authorization of [undefined, `Bearer ${ADMIN_KEY}`, 'Bearer ']) {
        const response = await app.inject({
          method: 'POST', url: '/api/events', headers: authorization === undefined ? {} : { authorization }, payload: body
        })
        expect(response.statusCode).toBe(401)
      }
    } finally {
      await app.close()
    }
  })
})
