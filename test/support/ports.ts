import net from 'node:net'

async function isFree (candidate: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => { resolve(false) })
    server.listen(candidate, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
  })
}

/**
 * A port below the ephemeral range (32768 and up on Linux), for a server a test stops and starts
 * again: while it is down, no other test's server that asks the OS for a free port can take it and
 * be reached in its place (seen once in CI: a booking answered 401 by another server's empty api_keys).
 */
export async function portOutsideEphemeralRange (): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 10_000)
    if (await isFree(candidate)) return candidate
  }
  throw new Error('no free port between 20000 and 29999')
}
