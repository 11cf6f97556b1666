import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Webhook } from 'standardwebhooks'
import { sweepLapsedHolds } from '../../../src/features/bookings/hold-sweeper.js'
import { asAdmin, createTestApp, type TestApp, type TestIntegrator } from '../../support/app.js'
import { createEventWithTier, problemType } from '../../support/fixtures.js'
import { startReceiver, type Received, type Receiver } from '../../support/receiver.js'
import { waitForSettledDeliveries } from '../../support/webhooks.js'
import { createTicketCodes } from '../../../src/features/tickets/codes.js'

const ALL_EVENTS = ['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired']

let t: TestApp
let receiver: Receiver
let eventId: string
let tierId: string

beforeAll(async () => {
  // Retries come after 50 ms here instead of the contract's 5 s, 1 min, ...: the schedule's own
  // values are tested in webhook-delivery.test.ts.
  t = await createTestApp({ webhookDispatcher: { retryDelaysMs: [50, 50, 50, 50], pollIntervalMs: 50 } })
  receiver = await startReceiver()
  const event = await createEventWithTier(t.app, { price: 2500, capacity: 100_000 })
  eventId = event.eventId
  tierId = event.tierId
})
afterAll(async () => {
  await t.close()
  await receiver.close()
})
afterEach(() => { receiver.reset() })

interface Endpoint { id: string, url: string, events: string[], secret: string, disabled: boolean, description: string | null }

async function register (who: TestIntegrator, body: Record<string, unknown>) {
  return await t.app.inject({ method: 'POST', url: '/api/webhook-endpoints', headers: who.headers, payload: body })
}

async function endpointFor (who: TestIntegrator, url = receiver.url, events = ALL_EVENTS): Promise<Endpoint> {
  const response = await register(who, { url, events })
  expect(response.statusCode).toBe(201)
  return response.json()
}

async function book (who: TestIntegrator, extra: Record<string, unknown> = {}) {
  const response = await t.app.inject({
    method: 'POST',
    url: '/api/bookings',
    headers: who.headers,
    payload: { eventId, items: [{ ticketTierId: tierId, quantity: 1 }], ...extra }
  })
  expect(response.statusCode).toBe(201)
  return response.json<{ id: string, status: string }>()
}

function verified (secret: string, received: Received): { id: string, type: string, createdAt: string, data: { booking: { id: string, status: string } } } {
  const headers = {
    'webhook-id': String(received.headers['webhook-id']),
    'webhook-timestamp': String(received.headers['webhook-timestamp']),
    'webhook-signature': String(received.headers['webhook-signature'])
  }
  return new Webhook(secret).verify(received.body, headers) as ReturnType<typeof verified>
}

const ofBooking = (bookingId: string, type: string) => (received: Received[]) =>
  received.some((each) => each.body.includes(bookingId) && JSON.parse(each.body).type === type)

async function deliveries (who: TestIntegrator, endpointId: string) {
  const response = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpointId}/deliveries`, headers: who.headers })
  expect(response.statusCode).toBe(200)
  return response.json().data as { id: string, eventId: string, eventType: string, status: string, attempts: number, lastResponseStatus: number | null, nextAttemptAt: string | null }[]
}

/** Once no delivery to the receiver is pending: everything it will get has arrived (see waitForSettledDeliveries). */
async function settled (): Promise<void> {
  await waitForSettledDeliveries(t.sql, receiver.url)
}

/** Gives rows explicit, one second apart creation times in the given order, so that order does not rest on the clock. */
async function createdInOrder (table: 'webhook_endpoints' | 'webhook_deliveries', ids: string[]): Promise<void> {
  for (const [n, id] of ids.entries()) {
    await t.sql`update ${t.sql(table)} set created_at = '2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => ${n}) where id = ${id}`
  }
}

/** Pings the endpoint and waits for the receiver to get that ping. */
async function pingAndReceive (who: TestIntegrator, endpointId: string): Promise<Received> {
  const response = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpointId}/ping`, headers: who.headers })
  expect(response.statusCode).toBe(202)
  const eventId = response.json().eventId
  const received = (await receiver.waitFor((all) => all.some((each) => each.headers['webhook-id'] === eventId)))
    .find((each) => each.headers['webhook-id'] === eventId)
  if (received === undefined) throw new Error('no ping')
  return received
}

describe('webhook endpoints', () => {
  it('registers an endpoint, shows its secret once, and lists, reads, changes and deletes it', async () => {
    const who = await t.newIntegrator('Endpoint owner')
    const created = await register(who, { url: 'https://tickets.example.com/hooks', events: ['booking.created'], description: 'Orders' })
    expect(created.statusCode).toBe(201)
    const endpoint = created.json()
    expect(created.headers.location).toBe(`/api/webhook-endpoints/${endpoint.id}`)
    expect(endpoint).toMatchObject({ url: 'https://tickets.example.com/hooks', events: ['booking.created'], description: 'Orders', disabled: false })
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/)
    expect(Buffer.from(endpoint.secret.slice('whsec_'.length), 'base64').length).toBeGreaterThanOrEqual(24)

    const one = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers: who.headers })
    expect(one.statusCode).toBe(200)
    expect(one.json()).not.toHaveProperty('secret')
    const list = await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints?limit=1', headers: who.headers })
    expect(list.json()).toMatchObject({ data: [{ id: endpoint.id }], nextCursor: null })
    expect(list.json().data[0]).not.toHaveProperty('secret')

    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/api/webhook-endpoints/${endpoint.id}`,
      headers: who.headers,
      payload: { events: ['booking.cancelled', 'booking.expired'], description: null, disabled: true }
    })
    expect(patched.statusCode).toBe(200)
    expect(patched.json()).toMatchObject({ url: 'https://tickets.example.com/hooks', events: ['booking.cancelled', 'booking.expired'], description: null, disabled: true })

    const empty = await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers: who.headers, payload: {} })
    expect(empty.statusCode).toBe(400)

    const deleted = await t.app.inject({ method: 'DELETE', url: `/api/webhook-endpoints/${endpoint.id}`, headers: who.headers })
    expect(deleted.statusCode).toBe(204)
    const again = await t.app.inject({ method: 'DELETE', url: `/api/webhook-endpoints/${endpoint.id}`, headers: who.headers })
    expect(again.statusCode).toBe(404)
  })

  it('pages through endpoints oldest first', async () => {
    const who = await t.newIntegrator('Many endpoints')
    const ids = []
    for (let n = 0; n < 3; n++) ids.push((await endpointFor(who, `https://example.com/hooks/${n}`)).id)
    await createdInOrder('webhook_endpoints', ids)
    const first = await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints?limit=2', headers: who.headers })
    expect(first.json().data.map((each: { id: string }) => each.id)).toEqual(ids.slice(0, 2))
    const second = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints?limit=2&cursor=${first.json().nextCursor}`, headers: who.headers })
    expect(second.json()).toEqual({ data: [expect.objectContaining({ id: ids[2] })], nextCursor: null })
  })

  it('refuses bad endpoints with a 400 naming the field', async () => {
    const who = t.integrator
    const cases: [Record<string, unknown>, string][] = [
      [{ url: 'ftp://example.com/hooks', events: ['booking.created'] }, '/url'],
      [{ url: 'not a url', events: ['booking.created'] }, '/url'],
      [{ url: `https://example.com/${'a'.repeat(2048)}`, events: ['booking.created'] }, '/url'],
      [{ url: 'https://user:secret@example.com/hooks', events: ['booking.created'] }, '/url'],
      [{ url: 'https://example.com/hooks', events: [] }, '/events'],
      [{ url: 'https://example.com/hooks', events: ['booking.updated'] }, '/events/0'],
      [{ url: 'https://example.com/hooks', events: ['booking.created', 'booking.created'] }, '/events'],
      [{ url: 'https://example.com/hooks', events: ['webhook.ping'] }, '/events/0'],
      [{ url: 'https://example.com/hooks', events: ['booking.created'], description: 'x'.repeat(501) }, '/description'],
      [{ url: 'https://example.com/hooks', events: ['booking.created'], secret: 'mine' }, '/secret'],
      [{ events: ['booking.created'] }, '/url']
    ]
    for (const [body, path] of cases) {
      const response = await register(who, body)
      expect(response.statusCode, JSON.stringify(body)).toBe(400)
      expect(response.json().type).toBe(problemType('validation-error'))
      expect(response.json().errors.map((error: { path: string }) => error.path)).toContain(path)
    }
    const longest = await register(who, { url: `https://example.com/${'a'.repeat(2048 - 'https://example.com/'.length)}`, events: ['booking.created'], description: 'x'.repeat(500) })
    expect(longest.statusCode).toBe(201)
  })

  it('refuses every malformed shape of URL with a 400 on /url, when registering and when changing an endpoint', async () => {
    const malformed = [
      'http://', 'https://', 'http:///hooks', 'https://:443/hooks', 'http://?x=1', 'http://#frag',
      'http://exa mple.com/hooks', 'http://exa<mple.com', 'http://exa>mple.com', 'http://exa^mple.com', 'http://exa|mple.com',
      'http://exa%mple.com', 'http://exa%zzmple.com', 'http://ex\u0000ample.com', 'http://[::1', 'http://[]/', 'http://[not:an:ip]/',
      'http://example.com:99999/hooks', 'http://example.com:65536', 'http://example.com:-1', 'http://example.com:0/hooks',
      'http://example.com:80:80', 'http://example.com:port', 'http://1.2.3.4.5.6/', 'http://0x100000000/', 'https://@/',
      'http://\uD800example.com', 'https://xn--/', `https://${'a'.repeat(64)}.com/`
    ]
    const who = await t.newIntegrator('Malformed URLs')
    const endpoint = await endpointFor(who, 'https://example.com/hooks')
    for (const url of malformed) {
      for (const response of [
        await register(who, { url, events: ['booking.created'] }),
        await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${endpoint.id}`, headers: who.headers, payload: { url } })
      ]) {
        const where = `${JSON.stringify(url)} → ${response.statusCode} ${response.body.slice(0, 200)}`
        expect(response.statusCode, where).toBe(400)
        expect(response.json().type, where).toBe(problemType('validation-error'))
        expect(response.json().errors[0].path, where).toBe('/url')
      }
    }
    const unchanged = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers: who.headers })
    expect(unchanged.json().url).toBe('https://example.com/hooks')
    for (const url of ['https://example.com:8443/hooks', 'https://xn--bcher-kva.example/hooks', 'https://hooks.example.com./in', 'http://203.0.113.7:65535/']) {
      expect((await register(who, { url, events: ['booking.created'] })).statusCode, url).toBe(201)
    }
  })

  it('takes integrator keys with the webhooks:manage scope only', async () => {
    const readOnly = await t.newIntegrator('No webhooks', ['bookings:read', 'bookings:write'])
    const refused = await register(readOnly, { url: 'https://example.com/hooks', events: ['booking.created'] })
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toMatchObject({ type: problemType('insufficient-scope'), scope: 'webhooks:manage' })
    const admin = await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints', headers: asAdmin })
    expect(admin.statusCode).toBe(403)
    const anonymous = await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/)
  })

  it('keeps endpoints and deliveries private to their integrator', async () => {
    const a = await t.newIntegrator('A')
    const b = await t.newIntegrator('B')
    const endpoint = await endpointFor(a, 'https://a.example.com/hooks')
    const ping = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/ping`, headers: a.headers })
    expect(ping.statusCode).toBe(202)
    const deliveryId = ping.json().id
    const attempts = [
      { method: 'GET' as const, url: `/api/webhook-endpoints/${endpoint.id}` },
      { method: 'PATCH' as const, url: `/api/webhook-endpoints/${endpoint.id}`, payload: { disabled: true } },
      { method: 'DELETE' as const, url: `/api/webhook-endpoints/${endpoint.id}` },
      { method: 'POST' as const, url: `/api/webhook-endpoints/${endpoint.id}/rotate-secret` },
      { method: 'POST' as const, url: `/api/webhook-endpoints/${endpoint.id}/ping` },
      { method: 'GET' as const, url: `/api/webhook-endpoints/${endpoint.id}/deliveries` },
      { method: 'POST' as const, url: `/api/webhook-deliveries/${deliveryId}/retry` }
    ]
    for (const attempt of attempts) {
      const response = await t.app.inject({ ...attempt, headers: b.headers })
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(404)
      expect(response.json().type).toBe(problemType('not-found'))
    }
    const list = await t.app.inject({ method: 'GET', url: '/api/webhook-endpoints', headers: b.headers })
    expect(list.json().data).toEqual([])
    const still = await t.app.inject({ method: 'GET', url: `/api/webhook-endpoints/${endpoint.id}`, headers: a.headers })
    expect(still.json().disabled).toBe(false)
  })
})

describe('webhook deliveries', () => {
  it('delivers every event type, signed per Standard Webhooks, with the booking as it was', async () => {
    const who = await t.newIntegrator('All events')
    const endpoint = await endpointFor(who)

    const confirmed = await book(who)
    const held = await book(who, { hold: { ttlSeconds: 600 } })
    const confirm = await t.app.inject({ method: 'POST', url: `/api/bookings/${held.id}/confirm`, headers: who.headers })
    expect(confirm.statusCode).toBe(200)
    // An operator cancels: the integrator hears of it.
    const cancel = await t.app.inject({ method: 'POST', url: `/api/bookings/${confirmed.id}/cancel`, headers: asAdmin })
    expect(cancel.statusCode).toBe(200)
    const lapsing = await book(who, { hold: { ttlSeconds: 60 } })
    await t.sql`update bookings set expires_at = clock_timestamp() - interval '1 second' where id = ${lapsing.id}`
    await t.sql`update booking_items set hold_expires_at = clock_timestamp() - interval '1 second' where booking_id = ${lapsing.id}`
    expect(await sweepLapsedHolds(t.sql, createTicketCodes(t.sql))).toBeGreaterThanOrEqual(1)

    const expected: [string, string, string][] = [
      [confirmed.id, 'booking.created', 'confirmed'],
      [held.id, 'booking.created', 'held'],
      [held.id, 'booking.confirmed', 'confirmed'],
      [confirmed.id, 'booking.cancelled', 'cancelled'],
      [lapsing.id, 'booking.created', 'held'],
      [lapsing.id, 'booking.expired', 'expired']
    ]
    await receiver.waitFor((received) => expected.every(([id, type]) => ofBooking(id, type)(received)))
    await settled()
    expect(receiver.received).toHaveLength(expected.length)

    for (const [bookingId, type, status] of expected) {
      const received = receiver.received.find((each) => each.body.includes(bookingId) && JSON.parse(each.body).type === type)
      if (received === undefined) throw new Error(`no ${type} for ${bookingId}`)
      const event = verified(endpoint.secret, received)
      expect(event).toMatchObject({ type, data: { booking: { id: bookingId, status } } })
      expect(received.headers['webhook-id']).toBe(event.id)
      expect(received.headers['content-type']).toBe('application/json')
      expect(Math.abs(Number(received.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30)
      expect(Date.parse(event.createdAt)).not.toBeNaN()
    }
    // The cancelled event carries the booking exactly as a read shows it now.
    const cancelledEvent = JSON.parse(receiver.received.find((each) => JSON.parse(each.body).type === 'booking.cancelled')?.body ?? '{}')
    const read = await t.app.inject({ method: 'GET', url: `/api/bookings/${confirmed.id}`, headers: who.headers })
    expect(cancelledEvent.data.booking).toEqual(read.json())

    const log = await deliveries(who, endpoint.id)
    expect(log).toHaveLength(expected.length)
    for (const delivery of log) expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1, lastResponseStatus: 200, nextAttemptAt: null })
  })

  it('sends only the subscribed types, and nothing to disabled endpoints', async () => {
    const who = await t.newIntegrator('Picky')
    const picky = await endpointFor(who, `${receiver.url}/picky`, ['booking.cancelled'])
    const off = await endpointFor(who, `${receiver.url}/off`, ['booking.created', 'booking.cancelled'])
    await t.app.inject({ method: 'PATCH', url: `/api/webhook-endpoints/${off.id}`, headers: who.headers, payload: { disabled: true } })
    const booking = await book(who)
    await t.app.inject({ method: 'POST', url: `/api/bookings/${booking.id}/cancel`, headers: who.headers })
    await receiver.waitFor(ofBooking(booking.id, 'booking.cancelled'))
    await settled()
    expect(receiver.received.map((each) => [each.path, JSON.parse(each.body).type])).toEqual([['/hooks/picky', 'booking.cancelled']])
    expect(await deliveries(who, off.id)).toEqual([])
    expect(await deliveries(who, picky.id)).toHaveLength(1)

    const ping = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${off.id}/ping`, headers: who.headers })
    expect(ping.statusCode).toBe(409)
    expect(ping.json().type).toBe(problemType('webhook-endpoint-disabled'))
  })

  it('never sends integrator B\'s events to integrator A\'s endpoint', async () => {
    const a = await t.newIntegrator('A')
    const b = await t.newIntegrator('B')
    const aEndpoint = await endpointFor(a, `${receiver.url}/a`)
    const bEndpoint = await endpointFor(b, `${receiver.url}/b`)
    const ofA = await book(a)
    const ofB = await book(b)
    await receiver.waitFor((received) => ofBooking(ofA.id, 'booking.created')(received) && ofBooking(ofB.id, 'booking.created')(received))
    await settled()
    const toA = receiver.received.filter((each) => each.path === '/hooks/a')
    const toB = receiver.received.filter((each) => each.path === '/hooks/b')
    expect(toA.map((each) => verified(aEndpoint.secret, each).data.booking.id)).toEqual([ofA.id])
    expect(toB.map((each) => verified(bEndpoint.secret, each).data.booking.id)).toEqual([ofB.id])
    expect(receiver.received).toHaveLength(2)
    expect((await deliveries(a, aEndpoint.id)).map((delivery) => delivery.eventId)).toEqual([toA[0]?.headers['webhook-id']])
  })

  it('retries a receiver that answers 500 twice, with the same webhook-id, until it answers 200', async () => {
    const who = await t.newIntegrator('Flaky receiver')
    const endpoint = await endpointFor(who)
    receiver.respond(({ n }) => n < 2 ? 500 : 200)
    const booking = await book(who)
    await receiver.waitFor((received) => received.length >= 3)
    await settled()
    expect(receiver.received.map((each) => each.status)).toEqual([500, 500, 200])
    const ids = new Set(receiver.received.map((each) => each.headers['webhook-id']))
    expect(ids.size).toBe(1)
    for (const received of receiver.received) expect(verified(endpoint.secret, received).data.booking.id).toBe(booking.id)
    const [delivery] = await deliveries(who, endpoint.id)
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 3, lastResponseStatus: 200, nextAttemptAt: null })
    const attempts = await t.sql`select response_status from webhook_delivery_attempts where delivery_id = ${delivery?.id ?? ''} order by attempted_at, id`
    expect(attempts.map((row) => row.responseStatus)).toEqual([500, 500, 200])
  })

  it('marks a delivery failed after the last attempt of the schedule, and retries it by hand', async () => {
    const who = await t.newIntegrator('Down receiver')
    const endpoint = await endpointFor(who)
    receiver.respond(() => 503)
    await book(who)
    // The schedule here has four retries: five attempts in all.
    await receiver.waitFor((received) => received.length >= 5)
    await settled()
    const [failed] = await deliveries(who, endpoint.id)
    expect(failed).toMatchObject({ status: 'failed', attempts: 5, lastResponseStatus: 503, nextAttemptAt: null })
    expect(receiver.received).toHaveLength(5)

    receiver.respond(() => 204)
    const retry = await t.app.inject({ method: 'POST', url: `/api/webhook-deliveries/${failed?.id}/retry`, headers: who.headers })
    expect(retry.statusCode).toBe(202)
    expect(retry.json()).toMatchObject({ id: failed?.id, status: 'pending' })
    await receiver.waitFor((received) => received.length >= 6)
    await settled()
    expect(receiver.received).toHaveLength(6)
    expect(new Set(receiver.received.map((each) => each.headers['webhook-id'])).size).toBe(1)
    const [retried] = await deliveries(who, endpoint.id)
    expect(retried).toMatchObject({ id: failed?.id, status: 'succeeded', attempts: 6, lastResponseStatus: 204 })
  })

  it('pings an endpoint at once', async () => {
    const who = await t.newIntegrator('Pinger')
    const endpoint = await endpointFor(who)
    const ping = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/ping`, headers: who.headers })
    expect(ping.statusCode).toBe(202)
    expect(ping.json()).toMatchObject({ endpointId: endpoint.id, eventType: 'webhook.ping', status: 'pending', attempts: 0 })
    // Its own event: a late retry of an earlier test's delivery may arrive at the receiver too.
    const eventId = ping.json().eventId
    const received = (await receiver.waitFor((all) => all.some((each) => each.headers['webhook-id'] === eventId)))
      .find((each) => each.headers['webhook-id'] === eventId)
    if (received === undefined) throw new Error('no ping')
    expect(verified(endpoint.secret, received)).toMatchObject({ id: eventId, type: 'webhook.ping', data: { endpointId: endpoint.id } })
  })

  it('pages through an endpoint\'s deliveries newest first', async () => {
    const who = await t.newIntegrator('Paged deliveries')
    const endpoint = await endpointFor(who)
    const ids: string[] = []
    for (let n = 0; n < 3; n++) {
      const ping = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/ping`, headers: who.headers })
      ids.push(ping.json().id)
    }
    await createdInOrder('webhook_deliveries', ids)
    const url = `/api/webhook-endpoints/${endpoint.id}/deliveries?limit=2`
    const first = await t.app.inject({ method: 'GET', url, headers: who.headers })
    expect(first.json().data.map((each: { id: string }) => each.id)).toEqual([ids[2], ids[1]])
    const second = await t.app.inject({ method: 'GET', url: `${url}&cursor=${first.json().nextCursor}`, headers: who.headers })
    expect(second.json().data.map((each: { id: string }) => each.id)).toEqual([ids[0]])
    expect(second.json().nextCursor).toBeNull()
    const bad = await t.app.inject({ method: 'GET', url: `${url}&cursor=nonsense`, headers: who.headers })
    expect(bad.statusCode).toBe(400)
  })

  it('signs with the old secret too for 24 hours after a rotation', async () => {
    const who = await t.newIntegrator('Rotator')
    const endpoint = await endpointFor(who)
    const rotated = await t.app.inject({ method: 'POST', url: `/api/webhook-endpoints/${endpoint.id}/rotate-secret`, headers: who.headers })
    expect(rotated.statusCode).toBe(200)
    const newSecret: string = rotated.json().secret
    expect(newSecret).not.toBe(endpoint.secret)

    const received = await pingAndReceive(who, endpoint.id)
    expect(String(received.headers['webhook-signature']).split(' ')).toHaveLength(2)
    expect(verified(newSecret, received).type).toBe('webhook.ping')
    expect(verified(endpoint.secret, received).type).toBe('webhook.ping')

    // Once the overlap is over (moved into the past here), only the new secret signs.
    const [overlap] = await t.sql<{ hours: number }[]>`
      select extract(epoch from previous_secret_expires_at - clock_timestamp()) / 3600 as hours from webhook_endpoints where id = ${endpoint.id}
    `
    expect(Number(overlap?.hours)).toBeGreaterThan(23.9)
    expect(Number(overlap?.hours)).toBeLessThanOrEqual(24)
    await t.sql`update webhook_endpoints set previous_secret_expires_at = clock_timestamp() - interval '1 second' where id = ${endpoint.id}`
    const later = await pingAndReceive(who, endpoint.id)
    expect(String(later.headers['webhook-signature']).split(' ')).toHaveLength(1)
    expect(verified(newSecret, later).type).toBe('webhook.ping')
    expect(() => verified(endpoint.secret, later)).toThrow()
  })

  it('emits nothing for a booking rolled back by a forced failure', async () => {
    const who = await t.newIntegrator('Rolled back')
    const endpoint = await endpointFor(who)
    await t.sql.unsafe(`
      create function fail_webhook_test() returns trigger language plpgsql as $$
      begin raise exception 'forced failure after the outbox write'; end $$;
      create trigger fail_webhook_test after insert on webhook_deliveries for each statement execute function fail_webhook_test();
    `)
    try {
      const response = await t.app.inject({
        method: 'POST', url: '/api/bookings', headers: who.headers, payload: { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] }
      })
      expect(response.statusCode).toBe(500)
    } finally {
      await t.sql.unsafe('drop trigger fail_webhook_test on webhook_deliveries; drop function fail_webhook_test();')
    }
    const mine = await t.app.inject({ method: 'GET', url: '/api/bookings', headers: who.headers })
    expect(mine.json().data).toEqual([])
    const [events] = await t.sql`select count(*)::int as n from webhook_events e join integrators i on i.id = e.integrator_id where i.id = ${who.id}`
    expect(events?.n).toBe(0)
    await settled()
    expect(receiver.received).toEqual([])
    expect(await deliveries(who, endpoint.id)).toEqual([])
  })
})
