import { execFile, spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { freePort } from '../../src/db/embedded.js'
import { waitUntil } from './wait.js'

/*
 * A real Prometheus server (Debian's, /usr/bin/prometheus; .ci/run installs it) that scrapes a
 * test's server every second, and Prometheus's own linter of the exposition format (promtool).
 */

export const PROMETHEUS = '/usr/bin/prometheus'
export const PROMTOOL = '/usr/bin/promtool'

export interface Prometheus {
  /** An instant PromQL query: each series' labels and value. */
  query: (promql: string) => Promise<Array<{ metric: Record<string, string>, value: number }>>
  /** The single value of `promql`, or undefined while it has no series. */
  valueOf: (promql: string) => Promise<number | undefined>
  stop: () => Promise<void>
}

/** Prometheus scraping `target` (`host:port`) every second at /metrics, with `bearer` as its credentials. */
export async function startPrometheus (target: string, { bearer }: { bearer?: string } = {}): Promise<Prometheus> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'prometheus-'))
  await chmod(dir, 0o755)
  const port = await freePort()
  await writeFile(path.join(dir, 'prometheus.yml'), [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: ticket-booking-api',
    '    metrics_path: /metrics',
    ...(bearer === undefined ? [] : ['    authorization:', '      type: Bearer', `      credentials: ${JSON.stringify(bearer)}`]),
    '    static_configs:',
    `      - targets: [${JSON.stringify(target)}]`,
    ''
  ].join('\n'))
  const child = spawn(PROMETHEUS, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn'
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<void>((resolve) => { child.on('exit', () => { resolve() }) })
  const base = `http://127.0.0.1:${port}`

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  }

  const query = async (promql: string): Promise<Array<{ metric: Record<string, string>, value: number }>> => {
    const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`)
    const body = await response.json() as { status: string, error?: string, data?: { result: Array<{ metric: Record<string, string>, value: [number, string] }> } }
    if (body.status !== 'success') throw new Error(`prometheus: ${promql}: ${body.error ?? response.status}`)
    return (body.data?.result ?? []).map(({ metric, value }) => ({ metric, value: Number(value[1]) }))
  }

  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${output}`)
      return await fetch(`${base}/-/ready`).then((response) => response.ok, () => false)
    }, 'prometheus is ready', { timeoutMs: 20_000 })
  } catch (error) {
    await stop()
    throw error
  }

  return {
    query,
    valueOf: async (promql) => {
      const [first, ...more] = await query(promql)
      if (more.length > 0) throw new Error(`prometheus: ${promql} has ${more.length + 1} series`)
      return first?.value
    },
    stop
  }
}

/** What `promtool check metrics` says of an exposition (empty when it finds nothing to fault). */
export async function lintMetrics (text: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = execFile(PROMTOOL, ['check', 'metrics'], (error, stdout, stderr) => {
      // promtool exits 3 on lint problems (it names them) and 1 when it cannot parse the text at all.
      if (error !== null && stdout === '' && stderr === '') reject(new Error(`promtool failed: ${error.message}`))
      else resolve(`${stdout}${stderr}`.trim())
    })
    child.stdin?.end(text)
  })
}
