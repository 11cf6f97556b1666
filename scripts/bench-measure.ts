/**
 * What `npm run bench` reads besides autocannon's figures: processes' CPU and memory from /proc
 * (Linux), pgbench runs, and a summary of a V8 CPU profile (`node --cpu-prof`). No dependencies.
 */
import { execFileSync, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`, 100 nearly everywhere). */
export const CLOCK_TICKS = ((): number => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100
  } catch {
    return 100
  }
})()

interface ProcStat {
  pid: number
  comm: string
  ppid: number
  /** utime + stime, in clock ticks. */
  ticks: number
  /** cutime + cstime: CPU of children that exited and were waited for, in clock ticks. */
  childTicks: number
}

function readStat (pid: number): ProcStat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split after the last ')'.
  const close = text.lastIndexOf(')')
  const fields = text.slice(close + 2).split(' ')
  const field = (n: number): number => Number(fields[n - 3])
  return { pid, comm: text.slice(text.indexOf('(') + 1, close), ppid: field(4), ticks: field(14) + field(15), childTicks: field(16) + field(17) }
}

function allPids (): number[] {
  try {
    return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number)
  } catch {
    return []
  }
}

function cmdline (pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  } catch {
    return []
  }
}

/** True where /proc can be read (Linux). */
export const hasProc = readStat(process.pid) !== undefined

/** CPU a process has used (user + system), in ms. */
export function processCpuMs (pid: number): number {
  const stat = readStat(pid)
  return stat === undefined ? Number.NaN : stat.ticks * 1000 / CLOCK_TICKS
}

/** Resident memory of a process (VmRSS), in MiB. */
export function rssMiB (pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? Number.NaN : Number(match[1]) / 1024
  } catch {
    return Number.NaN
  }
}

/** The postmaster a child of this process runs on the cluster in `clusterDir` (its `-D`). */
export function findPostmaster (clusterDir: string): number | undefined {
  return allPids().find((pid) => readStat(pid)?.ppid === process.pid && cmdline(pid).includes(clusterDir))
}

/**
 * What a PostgreSQL server's processes have used, in ms: the postmaster with the CPU of its children
 * that have exited, plus its living children (backends, WAL writer, checkpointer…). With
 * `postmaster: undefined` (a server the bench did not start) every process named `postgres` on the
 * machine counts, each root of them with its exited children.
 */
export function postgresCpuMs (postmaster: number | undefined): number {
  const stats = allPids().map(readStat).filter((stat): stat is ProcStat => stat !== undefined)
  let ticks = 0
  if (postmaster !== undefined) {
    for (const stat of stats) {
      if (stat.pid === postmaster) ticks += stat.ticks + stat.childTicks
      else if (stat.ppid === postmaster) ticks += stat.ticks
    }
  } else {
    const postgres = new Set(stats.filter((stat) => stat.comm === 'postgres').map((stat) => stat.pid))
    for (const stat of stats) {
      if (!postgres.has(stat.pid)) continue
      ticks += stat.ticks + (postgres.has(stat.ppid) ? 0 : stat.childTicks)
    }
  }
  return ticks * 1000 / CLOCK_TICKS
}

/** The machine's CPU time so far, all cores, from /proc/stat's `cpu` line, in ticks: idle (with iowait) and in all. */
function machineTicks (): { idle: number, total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number)
    return { idle: (values[3] ?? 0) + (values[4] ?? 0), total: values.reduce((sum, value) => sum + value, 0) }
  } catch {
    return { idle: Number.NaN, total: Number.NaN }
  }
}

export interface CpuWindow {
  wallMs: number
  /** CPU ms of each process measured (the server, …). */
  processes: number[]
  /** CPU ms of the PostgreSQL server's processes. */
  database: number
  /** CPU ms of this process (the bench: autocannon's client). */
  client: number
  /** Share of the machine's CPU time that was idle, by /proc/stat (other work on the machine counts as busy). */
  machineIdle: number
}

/** CPU used by `pids`, the database and this process while `work` runs. */
export async function measureCpu<T> (pids: number[], postmaster: number | undefined, work: () => Promise<T>): Promise<{ result: T, cpu: CpuWindow }> {
  const before = { processes: pids.map(processCpuMs), database: postgresCpuMs(postmaster), client: process.cpuUsage(), machine: machineTicks(), wall: performance.now() }
  const result = await work()
  const wallMs = performance.now() - before.wall
  const client = process.cpuUsage(before.client)
  const machine = machineTicks()
  return {
    result,
    cpu: {
      wallMs,
      processes: pids.map((pid, index) => processCpuMs(pid) - (before.processes[index] ?? 0)),
      database: postgresCpuMs(postmaster) - before.database,
      client: (client.user + client.system) / 1000,
      machineIdle: (machine.idle - before.machine.idle) / (machine.total - before.machine.total)
    }
  }
}

export interface PgbenchResult {
  clients: number
  mode: string
  tps: number
  transactions: number
  failed: number
  p50: number
  p99: number
}

/** Whether `pgbench` runs here, and its version line. */
export function pgbenchVersion (): string | undefined {
  try {
    return execFileSync('pgbench', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

/** libpq's environment for a postgres:// URL (pgbench 15 takes no URL for its database argument everywhere alike). */
function libpqEnvironment (databaseUrl: string): Record<string, string> {
  const url = new URL(databaseUrl)
  return {
    PGHOST: url.hostname,
    PGPORT: url.port === '' ? '5432' : url.port,
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGDATABASE: decodeURIComponent(url.pathname.slice(1)),
    PGAPPNAME: 'bench-pgbench'
  }
}

async function pgbenchOnce (databaseUrl: string, script: string, clients: number, seconds: number, mode: string, variables: Record<string, string>): Promise<PgbenchResult> {
  const logs = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-pgbench-'))
  try {
    const args = [
      '-n', '-M', mode, '-T', String(seconds), '-c', String(clients), '-j', String(Math.min(clients, 2)), '-f', script,
      ...Object.entries(variables).flatMap(([name, value]) => ['-D', `${name}=${value}`]),
      '-l', '--log-prefix', path.join(logs, 'tx')
    ]
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('pgbench', args, { cwd: logs, env: { ...process.env, ...libpqEnvironment(databaseUrl) }, stdio: ['ignore', 'pipe', 'pipe'] })
      let text = ''
      child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
      child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString('utf8') })
      child.on('error', reject)
      child.on('exit', (code) => { code === 0 ? resolve(text) : reject(new Error(`pgbench -M ${mode} -c ${clients} exited ${code}: ${text.trim().split('\n').slice(-3).join(' ')}`)) })
    })
    const tps = /^tps = ([\d.]+)/m.exec(output)
    if (tps === null) throw new Error(`no tps in pgbench's output: ${output}`)
    // Per-transaction log lines: client_id transaction_no time_us script_no epoch epoch_us.
    const latencies: number[] = []
    for (const file of await readdir(logs)) {
      for (const line of (await readFile(path.join(logs, file), 'utf8')).split('\n')) {
        const micros = Number(line.split(' ')[2])
        if (line !== '' && Number.isFinite(micros)) latencies.push(micros / 1000)
      }
    }
    latencies.sort((a, b) => a - b)
    const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10
    return {
      clients,
      mode,
      tps: Number(tps[1]),
      transactions: Number(/^number of transactions actually processed: (\d+)/m.exec(output)?.[1] ?? latencies.length),
      failed: Number(/^number of failed transactions: (\d+)/m.exec(output)?.[1] ?? 0),
      p50: at(0.5),
      p99: at(0.99)
    }
  } finally {
    await rm(logs, { recursive: true, force: true })
  }
}

/** One pgbench run, with prepared statements, else (when they fail) the simple protocol. */
export async function pgbench (databaseUrl: string, script: string, clients: number, seconds: number, variables: Record<string, string>): Promise<PgbenchResult> {
  try {
    return await pgbenchOnce(databaseUrl, script, clients, seconds, 'prepared', variables)
  } catch (error) {
    console.log(`  ${error instanceof Error ? error.message : String(error)}; again with -M simple`)
    return await pgbenchOnce(databaseUrl, script, clients, seconds, 'simple', variables)
  }
}

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

/** A file as the summary shows it: relative to the project, node: URLs as they are. */
function shortFile (url: string, root: string): string {
  return url.startsWith('file://') ? path.relative(root, decodeURIComponent(new URL(url).pathname)) : url
}

/** Where a function's self time is counted: a package, Node's internals, the project's code, or V8's pseudo-frames. */
function groupOf (functionName: string, url: string, root: string): string {
  if (url === '') return /^\(.*\)$/.test(functionName) ? functionName : '(native: V8 builtins and C++ bindings)'
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url
  if (file.startsWith('node:')) return 'node: internals'
  const modules = file.lastIndexOf('/node_modules/')
  if (modules !== -1) {
    const parts = file.slice(modules + '/node_modules/'.length).split('/')
    return `node_modules/${parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : parts[0] ?? ''}`
  }
  const relative = path.relative(root, file)
  if (relative.startsWith('src/') || relative.startsWith('dist/src/')) return 'the project\'s src/'
  return relative.startsWith('..') ? file : relative
}

interface FunctionEntry { functionName: string, file: string, group: string, micros: number, samples: number, callers: Map<string, number> }

/**
 * Lines of a summary of the first .cpuprofile in `folder` (V8's format: nodes with their call frames,
 * the node of each sample, the µs before each): samples, the top functions by self time (a native
 * one with the JavaScript function it was mostly called from), and self time by group.
 */
export async function summariseProfile (folder: string, root: string, top = 15): Promise<string[]> {
  const files = (await readdir(folder)).filter((name) => name.endsWith('.cpuprofile'))
  const file = files[0]
  if (file === undefined) return [`no .cpuprofile in ${folder}: the server did not exit cleanly`]
  const profile = JSON.parse(await readFile(path.join(folder, file), 'utf8')) as CpuProfile
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parents = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id)
  /** The nearest caller with a JavaScript file, for native frames. */
  const caller = (id: number): string => {
    for (let parent = parents.get(id); parent !== undefined; parent = parents.get(parent)) {
      const frame = nodes.get(parent)?.callFrame
      if (frame !== undefined && frame.url !== '') return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} (${shortFile(frame.url, root)})`
    }
    return ''
  }
  // Sample i lasts until sample i + 1 (timeDeltas[i + 1], in µs); the last one, the mean.
  const totalMicros = profile.endTime - profile.startTime
  const mean = totalMicros / Math.max(1, profile.samples.length)
  const byFunction = new Map<string, FunctionEntry>()
  const byGroup = new Map<string, number>()
  let sampled = 0
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index + 1] ?? mean
    sampled += micros
    const frame = nodes.get(id)?.callFrame ?? { functionName: '(unknown)', url: '', lineNumber: 0 }
    const group = groupOf(frame.functionName, frame.url, root)
    byGroup.set(group, (byGroup.get(group) ?? 0) + micros)
    const functionName = frame.functionName === '' ? '(anonymous)' : frame.functionName
    const key = `${functionName} ${frame.url}`
    const entry = byFunction.get(key) ?? { functionName, file: shortFile(frame.url, root), group, micros: 0, samples: 0, callers: new Map<string, number>() }
    entry.micros += micros
    entry.samples++
    if (frame.url === '' && !/^\(.*\)$/.test(functionName)) {
      const from = caller(id)
      entry.callers.set(from, (entry.callers.get(from) ?? 0) + micros)
    }
    byFunction.set(key, entry)
  })
  const idle = byGroup.get('(idle)') ?? 0
  const busy = sampled - idle
  const ms = (micros: number): string => (micros / 1000).toFixed(0)
  const share = (micros: number, of: number): string => `${(100 * micros / of).toFixed(1)}%`
  const lines = [
    `${profile.samples.length} samples over ${(totalMicros / 1e6).toFixed(1)} s (mean interval ${mean.toFixed(0)} µs); busy (all but "(idle)") ${(busy / 1e6).toFixed(1)} s of the main thread`,
    '',
    `Top ${top} functions by self time (aggregated by function name and file; a native one with the JavaScript caller most of its time came from):`,
    '',
    '| self ms | of busy | samples | function | file | group |',
    '|---:|---:|---:|---|---|---|'
  ]
  const functions = [...byFunction.values()].filter((entry) => entry.functionName !== '(idle)').sort((a, b) => b.micros - a.micros).slice(0, top)
  for (const entry of functions) {
    const [from, fromMicros] = [...entry.callers].sort(([, a], [, b]) => b - a)[0] ?? ['', 0]
    const where = entry.file !== '' ? entry.file : from !== '' ? `called from ${from}, ${share(fromMicros, entry.micros)} of it` : ''
    lines.push(`| ${ms(entry.micros)} | ${share(entry.micros, busy)} | ${entry.samples} | ${entry.functionName} | ${where} | ${entry.group} |`)
  }
  lines.push('', 'Self time by group (groups under 0.5% of busy together as "others"):', '', '| group | self ms | of all | of busy |', '|---|---:|---:|---:|')
  let others = 0
  let otherGroups = 0
  for (const [group, micros] of [...byGroup].sort(([, a], [, b]) => b - a)) {
    if (group !== '(idle)' && micros < 0.005 * busy) {
      others += micros
      otherGroups++
      continue
    }
    lines.push(`| ${group} | ${ms(micros)} | ${share(micros, sampled)} | ${group === '(idle)' ? '' : share(micros, busy)} |`)
  }
  if (otherGroups > 0) lines.push(`| others (${otherGroups} groups) | ${ms(others)} | ${share(others, sampled)} | ${share(others, busy)} |`)
  return lines
}
