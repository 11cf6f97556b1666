import net from 'node:net'
import { portOutsideEphemeralRange } from './ports.js'

/**
 * How the network in front of the database behaves:
 * - `forward`: passes bytes both ways;
 * - `refuse`: nothing listens (connections are refused), and open ones are reset;
 * - `reset`: accepts and resets every connection at once, and resets open ones;
 * - `silent`: accepts and never answers (a dropped route), and resets open ones;
 * - `stall`: as `silent`, but open connections are kept and stop passing bytes, with no reset (a
 *   network partitioned: what is in flight on them waits); back to `forward`, they pass again
 *   what was held (the partition heals, TCP delivers what it kept).
 */
export type ProxyMode = 'forward' | 'refuse' | 'reset' | 'silent' | 'stall'

export interface TcpProxy {
  /** Where clients connect: 127.0.0.1 and this port. */
  port: number
  setMode: (mode: ProxyMode) => Promise<void>
  close: () => Promise<void>
}

/** A real TCP hop between the service and a real PostgreSQL, to break the network the ways it breaks. */
export async function startTcpProxy (target: { host: string, port: number }): Promise<TcpProxy> {
  const port = await portOutsideEphemeralRange()
  let mode: ProxyMode = 'forward'
  const open = new Set<net.Socket>()
  const pairs = new Set<{ client: net.Socket, upstream: net.Socket }>()

  const server = net.createServer((client) => {
    open.add(client)
    client.on('close', () => { open.delete(client) })
    client.on('error', () => {})
    if (mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    if (mode === 'silent' || mode === 'stall') return
    const upstream = net.connect(target.port, target.host)
    const pair = { client, upstream }
    open.add(upstream)
    pairs.add(pair)
    upstream.on('close', () => { open.delete(upstream); pairs.delete(pair); client.destroy() })
    upstream.on('error', () => { client.destroy() })
    client.on('close', () => { upstream.destroy() })
    client.pipe(upstream)
    upstream.pipe(client)
  })

  const listen = async (): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
  }
  await listen()

  return {
    port,
    setMode: async (next) => {
      const wasListening = mode !== 'refuse'
      const wasStalled = mode === 'stall'
      mode = next
      if (wasStalled && next === 'forward') {
        for (const { client, upstream } of pairs) {
          client.pipe(upstream)
          upstream.pipe(client)
          client.resume()
          upstream.resume()
        }
      }
      if (next === 'stall') {
        for (const { client, upstream } of pairs) {
          client.unpipe(upstream)
          upstream.unpipe(client)
          client.pause()
          upstream.pause()
        }
      } else if (next !== 'forward') {
        for (const socket of open) socket.resetAndDestroy()
      }
      if (next === 'refuse' && wasListening) await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      if (next !== 'refuse' && !wasListening) await listen()
    },
    close: async () => {
      for (const socket of open) socket.destroy()
      if (mode !== 'refuse') await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      mode = 'refuse'
    }
  }
}
