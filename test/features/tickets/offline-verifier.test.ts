import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../../../src/paths.js'
import { asAdmin, createTestApp, type TestApp } from '../../support/app.js'
import { createEventWithTier } from '../../support/fixtures.js'
import { waitUntil } from '../../support/wait.js'

/*
 * The README's offline verifier, exactly as printed there, run by Node against a listening server:
 * it must admit valid codes and refuse revoked, tampered and foreign ones.
 */

let t: TestApp
let api: string
let folder: string
beforeAll(async () => {
  t = await createTestApp()
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  const address = t.app.server.address()
  if (address === null || typeof address !== 'object') throw new Error('not listening')
  api = `http://127.0.0.1:${address.port}/api`
  // Inside the project, so that the verifier's `import 'jose'` resolves as in an integrator's project.
  folder = await mkdtemp(path.join(projectRoot, '.offline-verifier-'))
})
afterAll(async () => {
  await rm(folder, { recursive: true, force: true })
  await t.close()
})

async function readmeVerifier (): Promise<string> {
  const readme = await readFile(path.join(projectRoot, 'README.md'), 'utf8')
  const match = /<!-- offline-verifier -->\n```js\n([\s\S]*?)```\n<!-- \/offline-verifier -->/.exec(readme)
  if (match?.[1] === undefined) throw new Error('README.md has no offline verifier between its markers')
  return match[1]
}

interface Ticket { id: string, code: string | null }

async function book (eventId: string, tierId: string, quantity: number): Promise<{ id: string, tickets: Ticket[] }> {
  const booking = await t.app.inject({ method: 'POST', url: '/api/bookings', headers: t.asIntegrator, payload: { eventId, items: [{ ticketTierId: tierId, quantity }] } })
  expect(booking.statusCode, booking.body).toBe(201)
  const { id } = booking.json<{ id: string }>()
  const tickets = await t.app.inject({ url: `/api/bookings/${id}/tickets`, headers: t.asIntegrator })
  return { id, tickets: tickets.json<{ data: Ticket[] }>().data }
}

function codeOf (ticket: Ticket | undefined): string {
  if (ticket?.code == null) throw new Error('the ticket has no code')
  return ticket.code
}

/** Runs the verifier in a fresh Node process (it fetches keys and revocations once, at import), and asks it about each code. */
async function verdicts (eventId: string, codes: string[]): Promise<boolean[]> {
  const scannerKey = await t.app.inject({ method: 'POST', url: `/api/events/${eventId}/scanner-keys`, headers: asAdmin, payload: { name: 'Door' } })
  expect(scannerKey.statusCode, scannerKey.body).toBe(201)
  await writeFile(path.join(folder, 'verifier.mjs'), await readmeVerifier())
  await writeFile(path.join(folder, 'door.mjs'), [
    "import { admits } from './verifier.mjs'",
    'const codes = JSON.parse(process.argv[2])',
    'console.log(JSON.stringify(await Promise.all(codes.map(admits))))'
  ].join('\n'))
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(folder, 'door.mjs'), JSON.stringify(codes)], {
    env: { PATH: process.env.PATH ?? '', API: api, EVENT_ID: eventId, SCANNER_KEY: scannerKey.json<{ key: string }>().key }
  })
  return JSON.parse(stdout) as boolean[]
}

describe('the README\'s offline verifier', () => {
  it('admits valid codes and refuses reissued, cancelled, tampered and other events\' codes', async () => {
    const { eventId, tierId } = await createEventWithTier(t.app, { maxPerBooking: 10 })
    const other = await createEventWithTier(t.app)
    const kept = await book(eventId, tierId, 2)
    const cancelled = await book(eventId, tierId, 1)
    const foreign = await book(other.eventId, other.tierId, 1)

    const leaked = codeOf(kept.tickets[1])
    const reissued = await t.app.inject({ method: 'POST', url: `/api/tickets/${kept.tickets[1]?.id ?? ''}/reissue`, headers: t.asIntegrator })
    expect(reissued.statusCode).toBe(200)
    const cancelledCode = codeOf(cancelled.tickets[0])
    expect((await t.app.inject({ method: 'POST', url: `/api/bookings/${cancelled.id}/cancel`, headers: t.asIntegrator })).statusCode).toBe(200)
    // Both revocations are in the feed before the door goes offline.
    await waitUntil(async () => {
      const feed = await t.app.inject({ url: `/api/events/${eventId}/revocations`, headers: asAdmin })
      return feed.json<{ data: unknown[] }>().data.length === 2
    }, 'the revocations are in the feed')

    const valid = codeOf(kept.tickets[0])
    const [header, payload, signature] = valid.split('.') as [string, string, string]
    const flipped = (part: string): string => `${part.slice(0, -2)}${part.at(-2) === 'A' ? 'B' : 'A'}${part.at(-1) ?? ''}`
    const codes = [
      valid,
      reissued.json<Ticket>().code ?? '',
      leaked,
      cancelledCode,
      codeOf(foreign.tickets[0]),
      `${header}.${payload}.${flipped(signature)}`,
      `${header}.${flipped(payload)}.${signature}`,
      valid.slice(0, -10),
      'not a code'
    ]
    expect(await verdicts(eventId, codes)).toEqual([true, true, false, false, false, false, false, false, false])
  })
})
