import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import newman, { type NewmanRunSummary } from 'newman'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { seedDemo } from '../../src/db/seed.js'
import { projectRoot } from '../../src/paths.js'
import { ADMIN_KEY, createTestApp, type TestApp } from '../support/app.js'

let t: TestApp
let port: number
beforeAll(async () => {
  t = await createTestApp()
  await seedDemo(t.sql)
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  port = (t.app.server.address() as AddressInfo).port
})
afterAll(async () => { await t.close() })

async function runCollection (): Promise<NewmanRunSummary> {
  const collection = JSON.parse(await readFile(path.join(projectRoot, 'openapi', 'postman-collection.json'), 'utf8')) as object
  return await new Promise((resolve, reject) => {
    newman.run({
      collection,
      envVar: [
        { key: 'host', value: '127.0.0.1' },
        { key: 'port', value: String(port) },
        { key: 'adminKey', value: ADMIN_KEY },
        { key: 'integratorKey', value: t.integrator.key }
      ],
      reporters: [],
      timeoutRequest: 10_000
    }, (error, summary) => { if (error !== null) reject(error); else resolve(summary) })
  })
}

describe('the committed Postman collection, run by newman against a live server', () => {
  it('sends every request and passes every assertion', async () => {
    const summary = await runCollection()
    const failures = summary.run.failures.map((failure) => `${failure.source?.name ?? '?'}: ${failure.error.message}`)
    expect(failures).toEqual([])
    expect(summary.run.stats.requests.total).toBe(49)
    expect(summary.run.stats.requests.failed).toBe(0)
    // Five on each: documented status and media type (its own), no 5xx, x-request-id, problem details (the collection's).
    expect(summary.run.stats.assertions.total).toBe(49 * 5)

    const statuses = summary.run.executions.map((execution) =>
      `${execution.item.name}: ${(execution.response as { code?: number } | undefined)?.code ?? 'no response'}`)
    expect(statuses).toContain('Book tickets: 201')
    expect(statuses).toContain('Create an event (admin): 201')
    expect(statuses).toContain('Register a webhook endpoint: 201')
    // The ticket requests work on the run's booking (its id and its first ticket's handed on), not on example ids.
    expect(statuses).toContain('Get a booking: 200')
    expect(statuses).toEqual(expect.arrayContaining([
      'List a booking\'s tickets: 200', 'Get a ticket: 200', 'Name a ticket\'s holder: 200', 'Get a ticket\'s QR code: 200',
      'Reissue a ticket\'s code: 200', 'Get the keys that verify ticket codes: 200', 'Rotate the ticket signing key: 201',
      'List an event\'s revoked codes: 200',
      // The check-in requests scan with the key the run made (the example code is of no ticket here: a 404),
      // read the list it made, and revoke the key last.
      'Create a check-in list for an event (admin): 201', 'Get a check-in list: 200', 'List an event\'s check-in lists: 200',
      'Create a scanner key for an event (admin): 201', 'List an event\'s scanner keys (admin): 200',
      'Scan a ticket at a door: 404', 'Upload the scans an offline device made: 200', 'Count who is in: 200', 'List a check-in list\'s conflicts: 200',
      'Revoke a scanner key (admin): 204'
    ]))
    const qr = summary.run.executions.find((execution) => execution.item.name === 'Get a ticket\'s QR code')?.response
    expect(qr?.headers.get('Content-Type')).toMatch(/^image\/svg\+xml/)
  })
})
