import http from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, type TestDatabase } from '../../support/database.js'
import { listeningAt, loadServerEnv, spawnServer } from '../../support/process.js'

let db: TestDatabase
beforeAll(async () => { db = await createTestDatabase() })
afterAll(async () => { await db.drop() })

/** A GET on a connection of its own (no keep-alive pool), so an answer proves the server still accepts connections. */
async function getOnNewConnection (url: string): Promise<{ status: number, retryAfter: string | undefined, body: string }> {
  return await new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (response) => {
      let body = ''
      response.on('data', (chunk: Buffer) => { body += chunk.toString() })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body }) })
    }).on('error', reject)
  })
}

describe('SIGTERM', () => {
  it('turns readiness to 503 while the server still accepts connections and serves, then exits 0', async () => {
    const server = spawnServer(loadServerEnv(db.url, { DRAIN_DELAY_MS: '3000' }))
    try {
      const base = await listeningAt(server)
      expect((await getOnNewConnection(`${base}/api/health/ready`)).status).toBe(200)

      server.child.kill('SIGTERM')
      await server.waitFor(/readiness answers 503/)
      const ready = await getOnNewConnection(`${base}/api/health/ready`)
      expect(ready.status).toBe(503)
      expect(ready.retryAfter).toMatch(/^\d+$/)
      expect(JSON.parse(ready.body)).toMatchObject({ type: 'urn:ticket-booking:problem:service-unavailable', status: 503 })
      expect((await getOnNewConnection(`${base}/api/health/live`)).status).toBe(200)
      expect((await getOnNewConnection(`${base}/api/events`)).status, 'ordinary requests are still served').toBe(200)

      expect(await server.exited).toEqual({ code: 0, signal: null })
      expect(server.output()).toMatch(/readiness answers 503[\s\S]*"msg":"stopped"/)
      await expect(getOnNewConnection(`${base}/api/health/live`)).rejects.toThrow()
    } finally {
      if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL')
    }
  }, 60_000)
})
