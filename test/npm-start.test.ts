import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { alive, listeningAt, spawnNpmStart } from './support/process.js'

const ADMIN_KEY = 'npm-start-admin-key-0123456789'

let folder: string
beforeAll(async () => {
  folder = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-npm-start-'))
  await chmod(folder, 0o755)
})
afterAll(async () => { await rm(folder, { recursive: true, force: true }) })

/** Every process below `pid`, read from /proc: the shell-less server and its PostgreSQL. */
function descendants (pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // The fields after the command's closing parenthesis: state, then the parent's pid.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)])
    } catch { /* the process ended while we looked */ }
  }
  const found: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

async function portIsFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('connect', () => { socket.destroy(); resolve(false) })
    socket.on('error', () => { resolve(true) })
  })
}

/**
 * Starts an event creation whose body arrives in two parts, so it is in flight when the signal
 * comes; `finish()` sends the rest and resolves with the status the draining server answered.
 */
function requestInFlight (port: number): { finish: () => Promise<number> } {
  const body = JSON.stringify({ name: 'Drained', venue: 'Hall', startsAt: '2028-01-01T20:00:00Z', currency: 'EUR' })
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/events',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
  })
  const status = new Promise<number>((resolve, reject) => {
    request.on('response', (response) => {
      response.resume()
      response.on('end', () => { resolve(response.statusCode ?? 0) })
    })
    request.on('error', reject)
  })
  request.write(body.slice(0, 10))
  return {
    finish: async () => {
      request.end(body.slice(10))
      return await status
    }
  }
}

type Target = 'npm' | 'server' | 'group'

// Through npm, its shell and the server: how a user, a process manager or `CMD ["npm", "start"]` runs it.
describe.runIf(process.platform === 'linux')('npm start, stopped by a signal', () => {
  const cases: Array<[NodeJS.Signals, Target, string]> = [
    ['SIGTERM', 'npm', 'SIGTERM to npm alone (a process manager, a container runtime)'],
    ['SIGINT', 'npm', 'SIGINT to npm alone'],
    ['SIGTERM', 'server', 'SIGTERM to the server alone'],
    ['SIGINT', 'group', 'SIGINT to the whole process group (Ctrl-C at a terminal: npm relays it, so the server gets it twice)']
  ]

  it.each(cases)('%s → %s: the server drains and exits 0, npm exits 0, nothing is left running (%s)', async (signal, target) => {
    const dataDir = path.join(folder, 'data')
    const npm = await spawnNpmStart({ DATA_DIR: dataDir, PORT: '0', ADMIN_API_KEYS: ADMIN_KEY, LOG_LEVEL: 'debug' })
    const npmPid = npm.child.pid as number
    try {
      const url = await listeningAt(npm, 90_000)
      const port = Number(new URL(url).port)
      expect((await fetch(`${url}/api/health`)).status).toBe(200)
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(true)

      const tree = descendants(npmPid)
      const server = tree.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/src/server.js'))
      expect(server, 'the server process').toBeDefined()
      expect(tree.length, 'npm, the server and the PostgreSQL processes').toBeGreaterThanOrEqual(2)

      const inFlight = requestInFlight(port)
      // In flight once the server has begun it (at debug level it logs each request as it arrives), not
      // merely once the client is connected: one it first sees after the drain delay is refused with a 503.
      await npm.waitFor(/"method":"POST","route":"\/api\/events"[^\n]*"msg":"request received"/)
      if (target === 'npm') process.kill(npmPid, signal)
      if (target === 'server') process.kill(server as number, signal)
      if (target === 'group') process.kill(-npmPid, signal)
      await npm.waitFor(/shutting down: draining requests/)
      expect(await inFlight.finish(), 'the request in flight when the signal came').toBe(201)

      const { code, signal: killedBy } = await npm.exited
      expect({ code, killedBy }, npm.output()).toEqual({ code: 0, killedBy: null })
      expect(npm.output()).toMatch(/"msg":"stopped"/)
      expect(npm.output()).not.toMatch(/"level":50/)
      expect(tree.filter(alive), 'processes left running').toEqual([])
      expect(await portIsFree(port)).toBe(true)
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false)
    } finally {
      if (alive(npmPid)) process.kill(-npmPid, 'SIGKILL')
    }
  }, 120_000)
})
