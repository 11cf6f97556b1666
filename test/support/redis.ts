import { spawn, spawnSync } from 'node:child_process'
import net from 'node:net'
import { portOutsideEphemeralRange } from './ports.js'

export interface TestRedis {
  host: string
  port: number
  stop: () => Promise<void>
}

async function answers (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setTimeout(1_000)
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    socket.once('error', () => { resolve(false) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}

/**
 * A real Redis for the tests of shared rate limits: the one at 127.0.0.1:6379 when it answers (these
 * machines and CI run one), else a redis-server of its own on a free port, keeping nothing on disk.
 * Without either the test fails and says what to install; it never skips.
 */
export async function startTestRedis (): Promise<TestRedis> {
  if (await answers(6379)) return { host: '127.0.0.1', port: 6379, stop: async () => {} }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('No Redis answers at 127.0.0.1:6379 and redis-server is not installed: apt-get install -y redis-server (.ci/run does)')
  }
  const port = await portOutsideEphemeralRange()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  for (let attempt = 0; !(await answers(port)); attempt++) {
    if (attempt > 100 || child.exitCode !== null) throw new Error('redis-server did not start')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    host: '127.0.0.1',
    port,
    stop: async () => {
      child.kill('SIGTERM')
      if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve))
    }
  }
}
