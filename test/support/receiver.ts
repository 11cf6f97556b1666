import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  /** The request's path, e.g. `/hooks/a`. */
  path: string
  headers: IncomingHttpHeaders
  body: string
  /** The status the receiver answered with. */
  status: number
}

export interface Receiver {
  url: string
  received: Received[]
  /** Requests that have arrived, answered or not. */
  arrived: () => number
  /** Decides the status of each request (default 200), possibly after a while; `n` counts requests from 0. */
  respond: (answer: (request: { n: number, body: string }) => number | Promise<number>) => void
  /** Forgets what was received and answers 200 again (between tests). */
  reset: () => void
  /**
   * Resolves once `predicate` holds, checked now and whenever a request arrives or is answered, or
   * rejects after `timeoutMs`.
   */
  waitFor: (predicate: (received: Received[]) => boolean, timeoutMs?: number) => Promise<Received[]>
  close: () => Promise<void>
}

/** A real HTTP receiver on 127.0.0.1 that records every request it gets. */
export async function startReceiver (path = '/hooks'): Promise<Receiver> {
  const received: Received[] = []
  let answer = (_: { n: number, body: string }): number | Promise<number> => 200
  let arrived = 0
  const waiters = new Set<() => void>()
  const changed = (): void => { for (const check of [...waiters]) check() }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const answered = Promise.resolve(answer({ n: arrived++, body }))
      changed()
      void answered.then((status) => {
        received.push({ path: request.url ?? '', headers: request.headers, body, status })
        response.writeHead(status, { 'content-type': 'text/plain' }).end('ok')
        changed()
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  async function waitFor (predicate: (received: Received[]) => boolean, timeoutMs = 15_000): Promise<Received[]> {
    if (predicate(received)) return received
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`the receiver did not get what was expected within ${timeoutMs} ms; it got ${received.length} requests`))
      }, timeoutMs)
      function check (): void {
        try {
          if (!predicate(received)) return
          resolve(received)
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)))
        }
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
    })
  }

  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    arrived: () => arrived,
    respond: (next) => { answer = next },
    reset: () => {
      received.length = 0
      arrived = 0
      answer = () => 200
    },
    waitFor,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
