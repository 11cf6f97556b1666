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
    expect(summary.run.stats.requests.total).toBe(28)
    expect(summary.run.stats.requests.failed).toBe(0)
    expect(summary.run.stats.assertions.total).toBeGreaterThanOrEqual(28 * 4)

    const statuses = summary.run.executions.map((execution) =>
      `${execution.item.name}: ${(execution.response as { code?: number } | undefined)?.code ?? 'no response'}`)
    expect(statuses).toContain('Book tickets: 201')
    expect(statuses).toContain('Create an event (admin): 201')
    expect(statuses).toContain('Register a webhook endpoint: 201')
  })
})
