import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { EmbeddedPostgresError, startEmbeddedPostgres } from '../src/db/embedded.js'
import { DEMO_EVENT_ID } from '../src/db/seed.js'
import { startService } from '../src/service.js'
import { buildApp } from '../src/app.js'
import { projectRoot } from '../src/paths.js'
import { createTestDatabase } from './support/database.js'
import { listeningAt, spawnServer } from './support/process.js'

const ADMIN_KEY = 'server-test-admin-key-0123456789'

interface ListBody { data: { id: string }[] }

async function getList (url: string): Promise<ListBody> {
  const response = await fetch(url)
  expect(response.status).toBe(200)
  return await response.json() as ListBody
}
const silent = pino({ level: 'silent' })
const folders: string[] = []

/** A data folder the embedded cluster's OS user can reach even when the tests run as root. */
async function dataFolder (): Promise<string> {
  const folder = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-server-'))
  await chmod(folder, 0o755)
  folders.push(folder)
  return path.join(folder, 'data')
}

afterEach(async () => {
  for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true })
})

describe('npm run integrator:create', () => {
  it('creates an integrator and prints its key once, and the key works', async () => {
    const db = await createTestDatabase()
    try {
      const output = await new Promise<{ code: number | null, text: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts', 'create-integrator.ts'), '--name', 'CLI Tickets'], {
          cwd: projectRoot, env: { PATH: process.env.PATH ?? '', DATABASE_URL: db.url }
        })
        let text = ''
        child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString() })
        child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString() })
        child.on('exit', (code) => { resolve({ code, text }) })
      })
      expect(output.code).toBe(0)
      const key = /tbk_[A-Za-z0-9_-]{43}/.exec(output.text)?.[0]
      expect(key).toBeDefined()
      const [row] = await db.sql<{ name: string, keys: number }[]>`
        select i.name, (select count(*)::int from api_keys k where k.integrator_id = i.id) as keys from integrators i
      `
      expect(row).toEqual({ name: 'CLI Tickets', keys: 1 })
      const app = buildApp({ config: { adminApiKeys: [] }, sql: db.sql })
      try {
        const listed = await app.inject({ method: 'GET', url: '/api/bookings', headers: { authorization: `Bearer ${key ?? ''}` } })
        expect(listed.statusCode).toBe(200)
      } finally {
        await app.close()
      }
    } finally {
      await db.drop()
    }
  })

  it('refuses to run without --name', async () => {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'scripts', 'create-integrator.ts')], {
        cwd: projectRoot, env: { PATH: process.env.PATH ?? '' }
      })
      child.on('exit', resolve)
    })
    expect(code).toBe(2)
  })
})

describe('the embedded default (no DATABASE_URL)', () => {
  it('seeds the demo on first start and keeps its data across a restart', async () => {
    const config = loadConfig({ DATA_DIR: await dataFolder(), PORT: '0', ADMIN_API_KEYS: ADMIN_KEY })

    const first = await startService(config, silent)
    let createdId: string
    try {
      const events = await getList(`${first.url}/api/events`)
      expect(events.data.map((event) => event.id)).toEqual([DEMO_EVENT_ID])
      const tiers = await getList(`${first.url}/api/events/${DEMO_EVENT_ID}/ticket-tiers`)
      expect(tiers.data).toHaveLength(3)
      expect(first.demoKey).toMatch(/^tbk_/)
      const booked = await fetch(`${first.url}/api/bookings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${first.demoKey ?? ''}`, 'content-type': 'application/json' },
        body: JSON.stringify({ eventId: DEMO_EVENT_ID, items: [{ ticketTierId: tiers.data[1]?.id, quantity: 2 }] })
      })
      expect(booked.status).toBe(201)

      const created = await fetch(`${first.url}/api/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Survives restarts', venue: 'Hall', startsAt: '2028-01-01T20:00:00Z', currency: 'EUR' })
      })
      expect(created.status).toBe(201)
      createdId = (await created.json() as { id: string }).id
    } finally {
      await first.close()
    }

    const second = await startService(config, silent)
    try {
      expect(second.demoKey).toBeUndefined()
      const events = await getList(`${second.url}/api/events`)
      expect(events.data.map((event) => event.id)).toEqual([DEMO_EVENT_ID, createdId])
      const tiers = await getList(`${second.url}/api/events/${DEMO_EVENT_ID}/ticket-tiers`)
      expect(tiers.data).toHaveLength(3)
    } finally {
      await second.close()
    }
  })

  it('serves until SIGTERM, then stops PostgreSQL and exits 0', async () => {
    const dataDir = await dataFolder()
    const server = spawnServer({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info' })
    try {
      const url = await listeningAt(server)
      await server.waitFor(/API key \(shown this once[^\n]*\n\n {2}tbk_[A-Za-z0-9_-]{43}/)
      const health = await fetch(`${url}/api/health`)
      expect(health.status).toBe(200)
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(true)

      server.child.kill('SIGTERM')
      const { code } = await server.exited
      expect(code).toBe(0)
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false)
      await expect(fetch(`${url}/api/health`)).rejects.toThrow()
    } finally {
      server.child.kill('SIGKILL')
    }
  })

  it.runIf(process.getuid?.() === 0)('as root, explains a data folder the postgres user cannot reach', async () => {
    const hidden = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-private-'))
    folders.push(hidden)
    const attempt = startEmbeddedPostgres({ dataDir: path.join(hidden, 'data') })
    await expect(attempt).rejects.toThrow(EmbeddedPostgresError)
    await expect(attempt).rejects.toThrow(/cannot enter .*ticket-booking-private-.*DATA_DIR.*DATABASE_URL/)
  })
})
