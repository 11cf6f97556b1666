import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { chromium, type Browser, type Locator, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEMO_EVENT_ID, seedDemo } from '../../src/db/seed.js'
import { ADMIN_KEY, createTestApp, type TestApp } from '../support/app.js'
import { DEMO_TIER_IDS } from '../support/fixtures.js'

/**
 * Swagger UI at /docs as a person uses it, in a real browser: Debian's Chromium, driven by
 * playwright-core (which downloads no browser). `.ci/run` installs Chromium where it is missing;
 * without it this test fails, it does not skip.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const { generalAdmission: GENERAL_ADMISSION, balcony: BALCONY } = DEMO_TIER_IDS

let t: TestApp
let browser: Browser
let page: Page
let docs: string
/** Every request the page sent to the API, with its headers, in order. */
const sent: Promise<{ method: string, path: string, headers: Record<string, string> }>[] = []

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No Chromium at ${CHROMIUM}: install it (apt-get install -y --no-install-recommends chromium; .ci/run does) or set CHROMIUM_PATH`)
  }
  t = await createTestApp()
  await seedDemo(t.sql)
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  docs = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/docs`
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Without the background-networking flags Chromium reaches for Google's services, which a
    // closed network refuses.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  page = await browser.newPage()
  page.setDefaultTimeout(15_000)
  page.on('request', (request) => {
    const url = new URL(request.url())
    if (url.pathname.startsWith('/api/')) {
      sent.push(request.allHeaders().then((headers) => ({ method: request.method(), path: url.pathname, headers })))
    }
  })
})
afterAll(async () => {
  await browser?.close()
  await t?.close()
})

/** Opens an operation and gives back its block. */
async function open (tag: string, operationId: string): Promise<Locator> {
  const operation = page.locator(`#operations-${tag}-${operationId}`)
  await operation.locator('.opblock-summary-control').click()
  await operation.locator('button.try-out__btn').waitFor()
  return operation
}

/** Opens an operation and presses "Try it out". */
async function tryOut (tag: string, operationId: string): Promise<Locator> {
  const operation = await open(tag, operationId)
  await operation.locator('button.try-out__btn').click()
  return operation
}

const headerRow = (operation: Locator, name: string) => operation.locator(`tr[data-param-name="${name}"][data-param-in="header"]`)

/** Presses Execute; the server's status, once Swagger UI shows it as the operation's response. */
async function execute (operation: Locator): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((each) => new URL(each.url()).pathname.startsWith('/api/')),
    operation.locator('button.execute').click()
  ])
  await operation.locator('.live-responses-table .response .response-col_status')
    .filter({ hasText: new RegExp(`^\\s*${response.status()}\\s*$`) })
    .waitFor()
  return response.status()
}

describe('Swagger UI at /docs, in Chromium', () => {
  it('authorizes with an integrator key, lists events and books twice from one form', async () => {
    await page.goto(docs)
    await page.locator('.auth-wrapper button.authorize').click()
    const scheme = page.locator('.auth-container', { hasText: 'integratorKey' })
    await scheme.locator('input').fill(t.integrator.key)
    await scheme.locator('button.authorize').click()
    await scheme.locator('button.btn-done').click()

    const listEvents = await tryOut('Events', 'listEvents')
    expect(await execute(listEvents)).toBe(200)
    expect(await listEvents.locator('.live-responses-table .response .response-col_description').innerText()).toContain(DEMO_EVENT_ID)

    // The header examples are shown (and, below, not filled into the form).
    const createBooking = await open('Bookings', 'createBooking')
    expect(await headerRow(createBooking, 'idempotency-key').innerText()).toContain('Example : order-1042')
    expect(await headerRow(createBooking, 'x-request-id').innerText()).toContain('Example : checkout-7f3a-attempt-1')
    await createBooking.locator('button.try-out__btn').click()
    const body = createBooking.locator('textarea.body-param__text')
    const bookings = [
      { eventId: DEMO_EVENT_ID, items: [{ ticketTierId: GENERAL_ADMISSION, quantity: 2 }] },
      { eventId: DEMO_EVENT_ID, items: [{ ticketTierId: BALCONY, quantity: 1 }] }
    ]
    for (const booking of bookings) {
      await body.fill(JSON.stringify(booking))
      expect(await execute(createBooking), JSON.stringify(booking)).toBe(201)
    }

    // Nothing the person did not type went out: no example idempotency key or request id.
    expect(await headerRow(createBooking, 'idempotency-key').locator('input').inputValue()).toBe('')
    expect(await headerRow(createBooking, 'x-request-id').locator('input').inputValue()).toBe('')
    const posted = (await Promise.all(sent)).filter((request) => request.method === 'POST' && request.path === '/api/bookings')
    expect(posted).toHaveLength(2)
    for (const { headers } of posted) {
      expect(headers.authorization).toBe(`Bearer ${t.integrator.key}`)
      expect(headers).not.toHaveProperty('idempotency-key')
      expect(headers).not.toHaveProperty('x-request-id')
    }
    const stored = await t.sql<{ clientReference: string | null, quantity: number }[]>`
      select b.client_reference, sum(i.quantity)::int as quantity
      from bookings b join booking_items i on i.booking_id = b.id
      where b.integrator_id = ${t.integrator.id}
      group by b.id order by b.created_at
    `
    expect(stored).toEqual([{ clientReference: null, quantity: 2 }, { clientReference: null, quantity: 1 }])
  }, 60_000) // 17-19 s alone (Swagger UI renders each operation for 2-3 s in software); room for a busy CI machine

  it('authorizes with a scanner key and scans a ticket at the door from the form, then replays the scan', async () => {
    const admin = { authorization: `Bearer ${ADMIN_KEY}` }
    const list = (await t.app.inject({ method: 'POST', url: `/api/events/${DEMO_EVENT_ID}/check-in-lists`, headers: admin, payload: { name: 'Browser door' } })).json<{ id: string }>()
    const scanner = (await t.app.inject({ method: 'POST', url: `/api/events/${DEMO_EVENT_ID}/scanner-keys`, headers: admin, payload: { name: 'Browser gate' } })).json<{ key: string }>()
    const booking = (await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId: DEMO_EVENT_ID, items: [{ ticketTierId: GENERAL_ADMISSION, quantity: 1 }] } })).json<{ id: string }>()
    const tickets = (await t.app.inject({ method: 'GET', url: `/api/bookings/${booking.id}/tickets`, headers: t.asIntegrator })).json<{ data: Array<{ code: string }> }>()

    await page.goto(docs)
    await page.locator('.auth-wrapper button.authorize').click()
    const scheme = page.locator('.auth-container', { hasText: 'scannerKey' })
    await scheme.locator('input').fill(scanner.key)
    await scheme.locator('button.authorize').click()
    await page.locator('.auth-wrapper .modal-ux button.btn-done').first().click()

    const scanTicket = await tryOut('Check-in', 'scanTicket')
    await scanTicket.locator('textarea.body-param__text').fill(JSON.stringify({ code: tickets.data[0]?.code, checkInListId: list.id, nonce: 'browser-scan-1' }))
    expect(await execute(scanTicket)).toBe(201)
    expect(await scanTicket.locator('.live-responses-table .response .response-col_description').innerText()).toContain('"type": "entry"')
    expect(await execute(scanTicket)).toBe(201)
    expect(await scanTicket.locator('.live-responses-table .response .response-col_description').innerText()).toContain('idempotent-replayed: true')
    const scans = (await Promise.all(sent)).filter((request) => request.method === 'POST' && request.path === '/api/check-ins')
    expect(scans.map((request) => request.headers.authorization)).toEqual([`Bearer ${scanner.key}`, `Bearer ${scanner.key}`])
    expect(await t.sql`select 1 from check_ins where check_in_list_id = ${list.id}`).toHaveLength(1)
  }, 60_000)
})
