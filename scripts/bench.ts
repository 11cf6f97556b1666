/**
 * npm run bench: starts the real server (compiled, as `npm start` runs it) on a fresh database and
 * measures it with autocannon, next to what bounds it from above and below on the same machine in
 * the same run. Needs nothing but Node: the database is an embedded PostgreSQL in a temporary
 * folder unless BENCH_DATABASE_URL names a server (a fresh database is created on it).
 *
 * The main table: hot-tier bookings (one tier, concurrency 16/64/256), a sell-out, bookings spread
 * over 50 tiers, reads (GET /api/events, …/ticket-tiers, GET /api/bookings/{id}), a booking's 200
 * tickets, and the check-in lines (online scans, one ticket scanned 64 times at once, an upload).
 * Beside them:
 * - the ceiling: a bare Fastify app (scripts/bench-ceiling.ts, compiled: the project's Fastify, the
 *   real routes' schemas, static bodies of the real server's, no database, no auth, no plugins)
 *   started as its own process and driven exactly as the real booking and read lines, just before
 *   and just after each of them (the ratio is to the mean of the two: these machines drift);
 * - before every timed line that touches the database, a `vacuum analyze` and a `checkpoint`
 *   (settle), the state autovacuum keeps a live database in;
 * - the database's own best at one booking per transaction: pgbench running the direct-SQL
 *   reference's statements (scripts/bench-pgbench.sql) at clients 1/4/16/64 where pgbench is on
 *   PATH, and that direct-SQL reference itself (Node, one booking per transaction, 16/64/256);
 * - CPU per booking during the hot tier @64 (server process, the PostgreSQL server's processes and
 *   the bench's own client, from /proc and process.cpuUsage(), and the share of the machine left
 *   idle), and the server's RSS after the main run's bookings and reads, after the same hot-tier
 *   and read load once more in the same process, and after the whole bench;
 * - a second table of issue 20's targets, each ratio marked met or NOT MET (not a failure: the
 *   figures are noisy).
 * - bookings with 1, 2 and 4 server processes on the one database (the hot tier and the 50 tiers,
 *   concurrency 64 in all, split evenly among the processes), with the CPU of each side, so that
 *   the table shows what limits it; BENCH_ONLY=processes runs this part alone.
 * BENCH_PROFILE=1 runs the server with --cpu-prof and prints a summary of the profile (top
 * functions by self time, self time by package) after the tables.
 * Fails (exit 1) on any oversell, a sell-out that is not exact, or a check-in list that admitted a
 * ticket twice (or a simultaneous or uploaded scan that was not admitted exactly once).
 *
 * BENCH_BASELINE=<git ref> (a previous release, say) also builds that ref in a temporary git
 * worktree and measures its server beside this one in the same run, on a database of its own on the
 * same PostgreSQL, alternating the two, for a before/after table.
 */
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { chmod, mkdtemp, rm, symlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import { CompactSign, compactVerify } from 'jose'
import postgres from 'postgres'
import { freePort, startEmbeddedPostgres } from '../src/db/embedded.js'
import { migrate } from '../src/db/migrate.js'
import { createSql, type Sql } from '../src/db/sql.js'
import { signCode, type TicketClaims } from '../src/features/tickets/codes.js'
import { projectRoot } from '../src/paths.js'
import type { CeilingBody, CeilingReport, CeilingSet } from './bench-ceiling.js'
import { findPostmaster, hasProc, measureCpu, pgbench, pgbenchVersion, rssMiB, summariseProfile, type CpuWindow, type PgbenchResult } from './bench-measure.js'

const ADMIN_KEY = `bench-${randomBytes(16).toString('hex')}`
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const HOT_CONCURRENCY = [16, 64, 256]
const BASELINE = process.env.BENCH_BASELINE
/** The untimed run of each scenario on each side of the before/after comparison, before its timed ones. */
const WARM_UP_SECONDS = 2
/** Rounds of the before/after comparison, each measuring baseline, this, this, baseline. */
const COMPARE_ROUNDS = Number(process.env.BENCH_COMPARE_ROUNDS ?? 1)
/** BENCH_ONLY=compare runs the before/after comparison alone; BENCH_ONLY=processes the server-process scaling alone. */
const ONLY_COMPARE = process.env.BENCH_ONLY === 'compare'
const ONLY_PROCESSES = process.env.BENCH_ONLY === 'processes'
/** Server processes on one database in the scaling table (issue 21), the load split evenly among them. */
const PROCESS_COUNTS = [1, 2, 4]
/** BENCH_PROFILE=1: the server runs with --cpu-prof, and a summary of its profile follows the tables. */
const PROFILE = process.env.BENCH_PROFILE === '1'
/** Client counts of the pgbench reference (each with -j min(N, 2)). */
const PGBENCH_CLIENTS = [1, 4, 16, 64]
/** pgbench -T takes whole seconds. */
const PGBENCH_SECONDS = Math.max(1, Math.round(SECONDS))

interface Row {
  scenario: string
  concurrency: number
  perSecond: number
  /** Decimals of perSecond (0 unless said: a ratio row has 2). */
  digits?: number
  p50: number
  p99: number
  statuses: string
  check: string
}

const rows: Row[] = []
let failed = false

/** Issue 20's targets, as this run met them or not (reported, never a failure). */
interface Target { name: string, figure: string, goal: string, met: boolean | undefined }
const targets: Target[] = []

function target (name: string, figure: string, goal: string, met: boolean | undefined): void {
  targets.push({ name, figure, goal, met })
  console.log(`  target: ${name}: ${figure} (${goal}: ${verdict(met)})`)
}

function verdict (met: boolean | undefined): string {
  return met === undefined ? 'not measured' : met ? 'met' : 'NOT MET'
}

/** A row of responses per second (the reads, the sell-out), with the result's latencies and statuses. */
function recordRequests (scenario: string, concurrency: number, result: autocannon.Result, check = ''): void {
  record({ scenario, concurrency, perSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, statuses: statuses(result), check })
}

function record (row: Row): void {
  rows.push(row)
  console.log(`  ${row.scenario} @${row.concurrency}: ${row.perSecond.toFixed(row.digits ?? 0)}${row.digits === undefined ? '/s' : ''}, p50 ${row.p50} ms, p99 ${row.p99} ms, ${row.statuses} ${row.check}`)
}

interface Database {
  url: string
  stop: () => Promise<void>
  kind: string
  /** The postmaster of the bench's own PostgreSQL (undefined on an external server: every `postgres` process of the machine counts then). */
  postmaster: number | undefined
  /** Whose CPU "database" is. */
  cpuScope: string
}

async function startDatabase (): Promise<Database> {
  const external = process.env.BENCH_DATABASE_URL
  if (external !== undefined && external !== '') {
    const name = `ticket_booking_bench_${randomBytes(4).toString('hex')}`
    const admin = postgres(external, { max: 1, onnotice: () => {} })
    await admin.unsafe(`create database ${name}`)
    await admin.end()
    const url = new URL(external)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      kind: 'external server (BENCH_DATABASE_URL)',
      postmaster: undefined,
      cpuScope: 'every process named postgres on this machine (an external server: BENCH_DATABASE_URL)',
      stop: async () => {
        const dropper = postgres(external, { max: 1, onnotice: () => {} })
        await dropper.unsafe(`drop database if exists ${name} with (force)`)
        await dropper.end()
      }
    }
  }
  const folder = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-bench-'))
  await chmod(folder, 0o755)
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(folder, 'data'), settings: { max_connections: '400' } })
  const postmaster = findPostmaster(path.join(folder, 'data', 'postgres'))
  return {
    url: embedded.url,
    kind: 'embedded PostgreSQL (default durability: fsync and synchronous_commit on)',
    postmaster,
    cpuScope: postmaster === undefined ? 'every process named postgres on this machine (the embedded postmaster was not found)' : `the embedded postmaster (pid ${postmaster}) and its children`,
    stop: async () => {
      await embedded.stop()
      await rm(folder, { recursive: true, force: true })
    }
  }
}

async function startServer (databaseUrl: string, root = projectRoot, nodeOptions: string[] = []) {
  const port = await freePort()
  const child = spawn(process.execPath, [...nodeOptions, path.join(root, 'dist', 'src', 'server.js')], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, PORT: String(port), ADMIN_API_KEYS: ADMIN_KEY, LOG_LEVEL: 'warn', RATE_LIMIT_REQUESTS_PER_MINUTE: '0', RATE_LIMIT_BOOKINGS_PER_MINUTE: '0' },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while (true) {
    try {
      if ((await fetch(`${base}/api/health`)).ok) break
    } catch {}
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('the server did not start')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    base,
    pid: child.pid ?? 0,
    /** SIGTERM, and how the server exited: `0` when it drained and stopped cleanly. */
    stop: async (): Promise<string> => {
      if (child.exitCode !== null || child.signalCode !== null) return String(child.signalCode ?? child.exitCode)
      const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => { resolve(String(signal ?? code)) }))
      child.kill('SIGTERM')
      return await exited
    }
  }
}

/** The ceiling (scripts/bench-ceiling.ts, compiled to dist/ by the build) as a process of its own, on a free port. */
async function startCeiling () {
  const port = await freePort()
  const child = spawn(process.execPath, [path.join(projectRoot, 'dist', 'scripts', 'bench-ceiling.js')], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve() }))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('the ceiling did not start')) }, 30_000)
    void exited.then(() => { clearTimeout(timer); reject(new Error('the ceiling exited before it listened')) })
    const listening = (message: unknown): void => {
      if (typeof message === 'object' && message !== null && 'listening' in (message as CeilingReport)) {
        clearTimeout(timer)
        child.off('message', listening)
        resolve()
      }
    }
    child.on('message', listening)
  })
  return {
    base: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    /** Makes `value` the static body the ceiling answers `name`'s route with. */
    set: async (name: CeilingBody, value: unknown): Promise<void> => {
      await new Promise<void>((resolve) => {
        const done = (message: unknown): void => {
          if (typeof message === 'object' && message !== null && (message as Partial<Extract<CeilingReport, { done: CeilingBody }>>).done === name) {
            child.off('message', done)
            resolve()
          }
        }
        child.on('message', done)
        child.send({ set: name, value } satisfies CeilingSet)
      })
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
  }
}

type Ceiling = Awaited<ReturnType<typeof startCeiling>>

async function api<T> (base: string, method: string, url: string, body: unknown, key = ADMIN_KEY): Promise<T> {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`)
  return await response.json() as T
}

async function createEvent (base: string, name: string): Promise<string> {
  const event = await api<{ id: string }>(base, 'POST', '/api/events', { name, venue: 'Bench Arena', startsAt: '2027-06-01T19:00:00Z', currency: 'EUR' })
  return event.id
}

async function createTier (base: string, eventId: string, capacity: number, maxPerBooking = 10): Promise<string> {
  const tier = await api<{ id: string }>(base, 'POST', `/api/events/${eventId}/ticket-tiers`, { name: `Tier ${randomUUID().slice(0, 8)}`, price: 5000, capacity, maxPerBooking })
  return tier.id
}

/**
 * Signs and verifies codes as the service and a scanner do, and reports the cost of one of each and
 * its length, beside jose's CompactSign (what the service signed with before 2026-12-04).
 */
async function measureCodes (): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const claims = (): TicketClaims => ({ tid: randomUUID(), eid: randomUUID(), tier: randomUUID(), ver: 1 })
  const rounds = 5000
  const codes: string[] = []
  let start = performance.now()
  for (let i = 0; i < rounds; i++) codes.push(signCode({ kid: 'RrmAD8L33qti0Dhm', key: privateKey }, claims()).code)
  const signUs = (performance.now() - start) * 1000 / rounds
  start = performance.now()
  for (let i = 0; i < rounds; i++) {
    await new CompactSign(Buffer.from(JSON.stringify(claims()))).setProtectedHeader({ alg: 'EdDSA', kid: 'RrmAD8L33qti0Dhm' }).sign(privateKey)
  }
  const joseSignUs = (performance.now() - start) * 1000 / rounds
  start = performance.now()
  for (const code of codes) await compactVerify(code, publicKey)
  const verifyUs = (performance.now() - start) * 1000 / rounds
  const length = Math.max(...codes.map((code) => code.length))
  codeCost = `one code: signing ${signUs.toFixed(0)} µs (jose's CompactSign ${joseSignUs.toFixed(0)} µs), verifying ${verifyUs.toFixed(0)} µs (jose; mean of ${rounds}, one core), ${length} characters`
  console.log(`  ${codeCost}`)
}

let codeCost = ''

function statuses (result: autocannon.Result): string {
  const codes = Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => `${stat.count}×${code}`)
  if (result.errors > 0) codes.push(`${result.errors} errors`)
  if (result.timeouts > 0) codes.push(`${result.timeouts} timeouts`)
  return codes.join(' ')
}

function count (result: autocannon.Result, code: string): number {
  return (result.statusCodeStats as Record<string, { count: number } | undefined>)[code]?.count ?? 0
}

/** Sold, as the database sees it two ways; any difference, or remaining below 0, is an oversell. */
async function oversellCheck (sql: Sql, tierIds: string[]): Promise<string> {
  const tiers = await sql<{ capacity: number, remaining: number, booked: number }[]>`
    select t.capacity, t.remaining,
      coalesce((select sum(quantity) from booking_items i where i.ticket_tier_id = t.id), 0)::int as booked
    from ticket_tiers t where t.id in ${sql(tierIds)}
  `
  const bad = tiers.filter((tier) => tier.remaining < 0 || tier.capacity - tier.remaining !== tier.booked || tier.booked > tier.capacity)
  if (bad.length > 0) {
    failed = true
    return `OVERSELL: ${JSON.stringify(bad)}`
  }
  return 'no oversell'
}

let integratorKey = ''

/**
 * The database as autovacuum keeps it between bursts of writing: planner statistics of what the
 * runs before wrote, their dead rows vacuumed and their dirty pages written. Run before every timed
 * line that touches the database (the service's and the references' alike), so that each measures
 * a steady database, not a fresh one's plans (without statistics, a hot-tier booking cost PostgreSQL
 * 0.47 ms of CPU instead of 0.27-0.31, and the spread over 50 tiers four times as much) nor maintenance catching up alongside it.
 */
async function settle (sql: Sql): Promise<void> {
  await sql`vacuum analyze`
  await sql`checkpoint`
}

async function newIntegratorKey (base: string): Promise<string> {
  const integrator = await api<{ id: string }>(base, 'POST', '/api/integrators', { name: 'Bench' })
  return (await api<{ key: string }>(base, 'POST', `/api/integrators/${integrator.id}/keys`, {})).key
}

async function bookingLoad (base: string, connections: number, bodies: () => string, limit: { seconds: number } | { amount: number }, key = integratorKey) {
  return await autocannon({
    url: `${base}/api/bookings`,
    connections,
    ...('seconds' in limit ? { duration: limit.seconds } : { amount: limit.amount }),
    timeout: 30,
    requests: [{
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      setupRequest: (request) => ({ ...request, body: bodies() })
    }]
  })
}

async function reference (databaseUrl: string, sql: Sql, base: string, eventId: string, connections: number): Promise<number> {
  const tierId = await createTier(base, eventId, 1_000_000)
  const pool = createSql(databaseUrl, { max: connections, applicationName: 'bench-reference', lockTimeoutMs: 120_000, statementTimeoutMs: 120_000 })
  await settle(sql)
  const latencies: number[] = []
  let booked = 0
  const end = Date.now() + SECONDS * 1000
  const started = Date.now()
  await Promise.all(Array.from({ length: connections }, async () => {
    while (Date.now() < end) {
      const start = performance.now()
      await pool.begin(async (tx) => {
        const updated = await tx`update ticket_tiers set remaining = remaining - 1 where id = ${tierId} and remaining >= 1`
        if (updated.count !== 1) return
        const [booking] = await tx<{ id: string }[]>`
          insert into bookings (event_id, status, total, currency) values (${eventId}, 'confirmed', 5000, 'EUR') returning id
        `
        await tx`
          insert into booking_items (booking_id, position, ticket_tier_id, tier_name, quantity, unit_price)
          values (${booking?.id ?? null}, 0, ${tierId}, 'Tier', 1, 5000)
        `
        // Its ticket, as every booking has one per unit (the code is left out: signing is the API's work).
        await tx`
          insert into tickets (id, booking_id, event_id, ticket_tier_id, tier_name, item_position, position, status)
          values (${randomUUID()}, ${booking?.id ?? null}, ${eventId}, ${tierId}, 'Tier', 0, 1, 'valid')
        `
        booked++
      })
      latencies.push(performance.now() - start)
    }
  }))
  const elapsed = (Date.now() - started) / 1000
  await pool.end()
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10
  record({
    scenario: 'reference: direct SQL, one booking per transaction',
    concurrency: connections,
    perSecond: booked / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    statuses: `${booked} booked`,
    check: await oversellCheck(sql, [tierId])
  })
  return booked / elapsed
}

/**
 * The database's own best at one booking per transaction: pgbench running the direct-SQL reference's
 * statements (scripts/bench-pgbench.sql) on a fresh hot tier per client count, best of them all.
 * Without pgbench on PATH (or when it fails), the direct-SQL line is the reference.
 */
async function pgbenchReference (databaseUrl: string, sql: Sql, base: string, eventId: string, directSql: Map<number, number>): Promise<{ perSecond: number, label: string }> {
  const version = pgbenchVersion()
  const [bestDirect, bestDirectPerSecond] = [...directSql].sort(([, a], [, b]) => b - a)[0] ?? [0, 0]
  const fallback = (why: string) => {
    record({
      scenario: `reference: ${why}; the direct-SQL line is the reference (its best)`,
      concurrency: bestDirect,
      perSecond: bestDirectPerSecond,
      p50: 0,
      p99: 0,
      statuses: '',
      check: ''
    })
    return { perSecond: bestDirectPerSecond, label: `direct SQL @${bestDirect} (no pgbench)` }
  }
  if (version === undefined) return fallback('pgbench is not on PATH')
  console.log(`Reference: ${version}, one booking per transaction on one hot tier, clients ${PGBENCH_CLIENTS.join('/')}, ${PGBENCH_SECONDS} s each`)
  const results: PgbenchResult[] = []
  for (const clients of PGBENCH_CLIENTS) {
    const tierId = await createTier(base, eventId, 1_000_000)
    await settle(sql)
    let result: PgbenchResult
    try {
      result = await pgbench(databaseUrl, path.join(projectRoot, 'scripts', 'bench-pgbench.sql'), clients, PGBENCH_SECONDS, { tier: tierId, event: eventId })
    } catch (error) {
      console.log(`  ${error instanceof Error ? error.message : String(error)}`)
      return fallback('pgbench failed')
    }
    results.push(result)
    record({
      scenario: `reference: pgbench, one booking per transaction (-M ${result.mode})`,
      concurrency: clients,
      perSecond: result.tps,
      p50: result.p50,
      p99: result.p99,
      statuses: `${result.transactions} transactions${result.failed > 0 ? `, ${result.failed} failed` : ''}`,
      check: await oversellCheck(sql, [tierId])
    })
  }
  const best = [...results].sort((a, b) => b.tps - a.tps)[0] as PgbenchResult
  record({
    scenario: `reference: pgbench, best of clients ${PGBENCH_CLIENTS.join('/')}`,
    concurrency: best.clients,
    perSecond: best.tps,
    p50: best.p50,
    p99: best.p99,
    statuses: `${best.transactions} transactions`,
    check: ''
  })
  return { perSecond: best.tps, label: `pgbench -c ${best.clients}` }
}

/** Concurrency of the online scans (the issue's target: p99 under 100 ms there). */
const CHECK_IN_CONCURRENCY = 64
/**
 * Tickets booked for the online scans: SECONDS × this, so that every scan of the run is a distinct
 * ticket's first entry up to this many scans/s (beyond it codes come round again, answered 409).
 */
const CHECK_IN_TICKETS_PER_SECOND = 6000
const UPLOAD_SCANS = 1000

/**
 * At least `count` valid tickets' codes of `eventId`, booked with the integrator key in bookings of
 * 1,000 (10 tiers × 100, the most a booking of one tier may take), four bookings at a time.
 */
async function bookTickets (base: string, eventId: string, count: number): Promise<string[]> {
  const tierIds: string[] = []
  for (let i = 0; i < 10; i++) tierIds.push(await createTier(base, eventId, 1_000_000, 100))
  const items = tierIds.map((ticketTierId) => ({ ticketTierId, quantity: 100 }))
  const bookings = Math.ceil(count / (100 * tierIds.length))
  const codes: string[] = []
  let started = 0
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (started < bookings) {
      started++
      const booking = await api<{ id: string }>(base, 'POST', '/api/bookings', { eventId, items }, integratorKey)
      const tickets = await api<{ data: Array<{ code: string | null }> }>(base, 'GET', `/api/bookings/${booking.id}/tickets`, undefined, integratorKey)
      for (const ticket of tickets.data) {
        if (ticket.code === null) throw new Error(`a ticket of booking ${booking.id} has no code`)
        codes.push(ticket.code)
      }
    }
  }))
  return codes
}

/** Entries admitted on a list as the database has them, and the distinct tickets among them. */
async function admissions (sql: Sql, checkInListId: string): Promise<{ admitted: number, tickets: number }> {
  const [row] = await sql<{ admitted: number, tickets: number }[]>`
    select count(*)::int as admitted, count(distinct ticket_id)::int as tickets
    from check_ins where check_in_list_id = ${checkInListId} and result = 'admitted' and type = 'entry'
  `
  return row ?? { admitted: 0, tickets: 0 }
}

/**
 * Check-in, on an event of its own with a scanner key: online scans of distinct tickets (each a
 * first entry) for SECONDS at concurrency 64, next to the hot tier's bookings/s of this run; one
 * ticket scanned by 64 clients at once; an offline upload of 1,000 scans. Each on a list of its
 * own (a list admits a ticket once, so the lists can share tickets), checked in the database.
 */
async function measureCheckIn (sql: Sql, base: string, hotTierEventId: string): Promise<void> {
  const eventId = await createEvent(base, 'Check-in night')
  const ticketCount = SECONDS * CHECK_IN_TICKETS_PER_SECOND
  console.log(`Check-in: booking ${ticketCount} tickets`)
  let start = performance.now()
  const codes = await bookTickets(base, eventId, ticketCount)
  console.log(`  ${codes.length} tickets booked in ${((performance.now() - start) / 1000).toFixed(1)} s`)
  const scannerKey = (await api<{ key: string }>(base, 'POST', `/api/events/${eventId}/scanner-keys`, { name: 'Bench scanner' })).key
  const newList = async (name: string): Promise<string> => (await api<{ id: string }>(base, 'POST', `/api/events/${eventId}/check-in-lists`, { name })).id
  const scannerHeaders = { authorization: `Bearer ${scannerKey}`, 'content-type': 'application/json' }
  // The bookings left fresh rows.
  await settle(sql)

  console.log(`Check-in: online scans of distinct tickets, POST /api/check-ins, concurrency ${CHECK_IN_CONCURRENCY}`)
  {
    const checkInListId = await newList('Online doors')
    let next = 0
    const { result, batches } = await countingBatches(base, 'scans', async () => await autocannon({
      url: `${base}/api/check-ins`,
      connections: CHECK_IN_CONCURRENCY,
      duration: SECONDS,
      timeout: 30,
      requests: [{
        method: 'POST',
        headers: scannerHeaders,
        setupRequest: (request) => ({ ...request, body: JSON.stringify({ code: codes[next++ % codes.length], checkInListId, nonce: randomUUID() }) })
      }]
    }))
    const scansPerSecond = count(result, '201') / result.duration
    const database = await admissions(sql, checkInListId)
    const once = database.admitted === database.tickets
    if (!once) failed = true
    record({
      scenario: 'API: online scans of distinct tickets, POST /api/check-ins',
      concurrency: CHECK_IN_CONCURRENCY,
      perSecond: scansPerSecond,
      p50: result.latency.p50,
      p99: result.latency.p99,
      statuses: statuses(result),
      check: `${once ? 'no ticket admitted twice' : 'ADMITTED TWICE'}: ${database.admitted} admissions, ${database.tickets} tickets${next > codes.length ? ` (ran out of tickets: ${next - codes.length} repeats)` : ''}; ${batches}`
    })
    // Its target is a ratio to the hot tier, so the hot tier runs right after the scans (these machines drift).
    const hotTierPerSecond = await hotTierLine(sql, base, hotTierEventId, 'API: hot tier, POST /api/bookings, right after the scans')
    const ratio = scansPerSecond / hotTierPerSecond
    const met = ratio >= 1 && result.latency.p99 < 100
    record({
      scenario: 'target: online scans/s ÷ hot-tier bookings/s, run back to back',
      concurrency: CHECK_IN_CONCURRENCY,
      perSecond: ratio,
      digits: 2,
      p50: result.latency.p50,
      p99: result.latency.p99,
      statuses: `${scansPerSecond.toFixed(0)} scans/s, ${hotTierPerSecond.toFixed(0)} bookings/s`,
      check: `${met ? 'met' : 'NOT MET'} (≥ 1, p99 < 100 ms)`
    })
  }

  console.log('Check-in: one ticket scanned by 64 clients at once')
  {
    const checkInListId = await newList('One ticket')
    const code = codes[0] as string
    // The clients' connections are open before the scans, so that the scans leave together.
    await Promise.all(Array.from({ length: 64 }, async () => await (await fetch(`${base}/api/health`)).arrayBuffer()))
    start = performance.now()
    const answers = await Promise.all(Array.from({ length: 64 }, async () => {
      const sent = performance.now()
      const response = await fetch(`${base}/api/check-ins`, { method: 'POST', headers: scannerHeaders, body: JSON.stringify({ code, checkInListId, nonce: randomUUID() }) })
      await response.arrayBuffer()
      return { status: response.status, ms: performance.now() - sent }
    }))
    const wall = performance.now() - start
    const byStatus = new Map<number, number>()
    for (const { status } of answers) byStatus.set(status, (byStatus.get(status) ?? 0) + 1)
    const latencies = answers.map(({ ms }) => ms).sort((a, b) => a - b)
    const at = (q: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0) * 10) / 10
    const database = await admissions(sql, checkInListId)
    const exact = byStatus.get(201) === 1 && byStatus.get(409) === 63 && database.admitted === 1
    if (!exact) failed = true
    record({
      scenario: 'API: one ticket, 64 simultaneous POST /api/check-ins',
      concurrency: 64,
      perSecond: 64 / (wall / 1000),
      p50: at(0.5),
      p99: at(0.99),
      statuses: [...byStatus].sort(([a], [b]) => a - b).map(([status, n]) => `${n}×${status}`).join(' '),
      check: `${exact ? 'exactly 1 admitted' : `NOT EXACTLY ONCE: ${database.admitted} admitted in the database`}, all 64 answered in ${wall.toFixed(0)} ms`
    })
  }

  console.log(`Check-in: an offline upload of ${UPLOAD_SCANS} scans of distinct tickets, POST /api/check-ins/batch`)
  {
    const checkInListId = await newList('Offline door')
    // Scanned one a second, ending a minute ago, listed newest first (the server applies them in scannedAt order).
    const first = Date.now() - (UPLOAD_SCANS + 60) * 1000
    const checkIns = codes.slice(0, UPLOAD_SCANS).map((code, index) => ({ code, checkInListId, nonce: randomUUID(), scannedAt: new Date(first + index * 1000).toISOString() })).reverse()
    start = performance.now()
    const response = await fetch(`${base}/api/check-ins/batch`, { method: 'POST', headers: scannerHeaders, body: JSON.stringify({ checkIns }) })
    const body = await response.json() as { results?: Array<{ outcome: string }> }
    const seconds = (performance.now() - start) / 1000
    const outcomes = new Map<string, number>()
    for (const { outcome } of body.results ?? []) outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
    const database = await admissions(sql, checkInListId)
    const all = response.status === 200 && outcomes.get('admitted') === UPLOAD_SCANS && database.admitted === UPLOAD_SCANS && database.tickets === UPLOAD_SCANS
    if (!all) failed = true
    record({
      scenario: `API: offline upload of ${UPLOAD_SCANS} scans, POST /api/check-ins/batch`,
      concurrency: 1,
      perSecond: UPLOAD_SCANS / seconds,
      p50: Math.round(seconds * 1000),
      p99: Math.round(seconds * 1000),
      statuses: `1×${response.status}; ${[...outcomes].map(([outcome, n]) => `${n} ${outcome}`).join(', ')}`,
      check: `${all ? `all ${UPLOAD_SCANS} admitted` : `NOT ALL ADMITTED: ${database.admitted} in the database`} in ${seconds.toFixed(2)} s (target < 1 s: ${seconds < 1 ? 'met' : 'NOT MET'})`
    })
  }
}

async function run (command: string, args: string[], cwd: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: 'inherit' })
    child.on('exit', (code) => { code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed`)) })
  })
}

/** A fresh database on the same server as `url`, for a second server of the run. */
async function siblingDatabase (url: string, name: string): Promise<string> {
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const sibling = new URL(url)
  sibling.pathname = `/${name}`
  return sibling.toString()
}

interface Side { label: string, base: string, key: string, eventId: string, hotTier: string, spreadTiers: string[], readEventId: string, readBookingId: string }

async function prepareSide (label: string, base: string): Promise<Side> {
  const key = await newIntegratorKey(base)
  const eventId = await createEvent(base, 'Compare night')
  const spreadTiers: string[] = []
  for (let i = 0; i < 50; i++) spreadTiers.push(await createTier(base, eventId, 100_000))
  const readEventId = await createEvent(base, 'Compare reads')
  const readTiers: string[] = []
  for (let i = 0; i < 4; i++) readTiers.push(await createTier(base, readEventId, 500))
  const readBooking = await api<{ id: string }>(base, 'POST', '/api/bookings', { eventId: readEventId, items: [{ ticketTierId: readTiers[0], quantity: 1 }] }, key)
  return { label, base, key, eventId, hotTier: await createTier(base, eventId, 1_000_000), spreadTiers, readEventId, readBookingId: readBooking.id }
}

/**
 * Before and after in one run: the baseline's server and this one, each on a database of its own,
 * driven alike, in the order baseline, this, this, baseline, so that drift of the machine during
 * the run weighs on both.
 */
async function compareWithBaseline (ref: string, databaseUrl: string): Promise<void> {
  console.log(`Before/after: building ${ref} in a temporary worktree`)
  const root = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-baseline-'))
  await run('git', ['worktree', 'add', '--detach', root, ref], projectRoot)
  const servers: Array<Awaited<ReturnType<typeof startServer>>> = []
  try {
    await symlink(path.join(projectRoot, 'node_modules'), path.join(root, 'node_modules'))
    await run(path.join(projectRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'scripts/tsconfig.build.json'], root)
    // Both on fresh databases of their own, so that neither meets the other's (or the run's) history.
    const currentDatabase = await siblingDatabase(databaseUrl, `bench_current_${randomBytes(4).toString('hex')}`)
    const baselineDatabase = await siblingDatabase(databaseUrl, `bench_baseline_${randomBytes(4).toString('hex')}`)
    const baselineServer = await startServer(baselineDatabase, root)
    servers.push(baselineServer)
    const currentServer = await startServer(currentDatabase)
    servers.push(currentServer)
    const currentSql = createSql(currentDatabase, { max: 2 })
    const baselineSql = createSql(baselineDatabase, { max: 2 })
    const sides = [await prepareSide(`previous (${ref})`, baselineServer.base), await prepareSide('this release', currentServer.base)]
    const scenarios: Array<{ name: string, measure: (side: Side, seconds?: number) => Promise<number> }> = [
      {
        name: 'hot tier, POST /api/bookings @64',
        measure: async (side, seconds = SECONDS) => {
          const body = JSON.stringify({ eventId: side.eventId, items: [{ ticketTierId: side.hotTier, quantity: 1 }] })
          const result = await bookingLoad(side.base, 64, () => body, { seconds }, side.key)
          return count(result, '201') / result.duration
        }
      },
      {
        name: 'spread over 50 tiers @64',
        measure: async (side, seconds = SECONDS) => {
          const result = await bookingLoad(side.base, 64, () => JSON.stringify({
            eventId: side.eventId, items: [{ ticketTierId: side.spreadTiers[Math.floor(Math.random() * side.spreadTiers.length)], quantity: 1 }]
          }), { seconds }, side.key)
          return count(result, '201') / result.duration
        }
      },
      {
        name: 'GET /api/events/{eventId}/ticket-tiers @64',
        measure: async (side, seconds = SECONDS) => (await autocannon({ url: `${side.base}/api/events/${side.readEventId}/ticket-tiers`, connections: 64, duration: seconds })).requests.average
      },
      {
        name: 'GET /api/events @64',
        measure: async (side, seconds = SECONDS) => (await autocannon({ url: `${side.base}/api/events`, connections: 64, duration: seconds })).requests.average
      },
      {
        name: 'GET /api/bookings/{bookingId} @64',
        measure: async (side, seconds = SECONDS) => (await autocannon({
          url: `${side.base}/api/bookings/${side.readBookingId}`, connections: 64, duration: seconds, headers: { authorization: `Bearer ${side.key}` }
        })).requests.average
      }
    ]
    const [baseline, current] = sides as [Side, Side]
    // Neither server has served before: each runs every scenario once, untimed, so that the first
    // timed line does not pay for the JIT's warm-up (a first hot-tier line ran at a third of the rest).
    for (const side of sides) for (const scenario of scenarios) await scenario.measure(side, WARM_UP_SECONDS)
    const table: string[] = []
    for (const scenario of scenarios) {
      const figures = new Map<Side, number[]>([[baseline, []], [current, []]])
      for (let round = 0; round < COMPARE_ROUNDS; round++) {
        for (const side of [baseline, current, current, baseline]) {
          // As before every timed line of the main run: planner statistics, no maintenance catching up.
          await settle(side === baseline ? baselineSql : currentSql)
          figures.get(side)?.push(await scenario.measure(side))
        }
      }
      const mean = (side: Side): number => (figures.get(side) ?? []).reduce((sum, value) => sum + value, 0) / (2 * COMPARE_ROUNDS)
      const line = `| ${scenario.name} | ${(figures.get(baseline) ?? []).map((value) => value.toFixed(0)).join(', ')} | ${(figures.get(current) ?? []).map((value) => value.toFixed(0)).join(', ')} | ${(mean(current) / mean(baseline)).toFixed(2)} |`
      console.log(`  ${line}`)
      table.push(line)
    }
    console.log(await oversellCheck(currentSql, [current.hotTier, ...current.spreadTiers]))
    await currentSql.end()
    await baselineSql.end()
    console.log(`\n| per second (${2 * COMPARE_ROUNDS} runs each) | ${baseline.label} | ${current.label} | this / previous |`)
    console.log('|---|---:|---:|---:|')
    for (const line of table) console.log(line)
    console.log('')
  } finally {
    for (const server of servers) await server.stop()
    await run('git', ['worktree', 'remove', '--force', root], projectRoot).catch(() => {})
  }
}

/** Concurrency of the lines compared with the ceiling and of the CPU and memory accounting. */
const CEILING_CONCURRENCY = 64

/** "0.43 ms" (three decimals below 0.1 ms) per unit of `ms` over `units`, or "n/a" where /proc could not be read. */
function perUnit (ms: number, units: number): string {
  if (!Number.isFinite(ms) || units <= 0) return 'n/a'
  const each = ms / units
  return `${each.toFixed(each < 0.1 ? 3 : 2)} ms`
}

function percent (share: number): string {
  return Number.isFinite(share) ? `${(100 * share).toFixed(0)}%` : 'n/a'
}

/** CPU of a window per unit of work (bookings, requests), and the idle share of the machine over it. */
function cpuReport (cpu: CpuWindow, units: number, serverName: string): { text: string, idle: number } {
  const cores = os.availableParallelism()
  const server = cpu.processes[0] ?? Number.NaN
  const idle = 1 - (server + cpu.database + cpu.client) / (cores * cpu.wallMs)
  const text = `CPU per request: ${serverName} ${perUnit(server, units)}, database ${perUnit(cpu.database, units)}, bench client ${perUnit(cpu.client, units)}; ` +
    `idle ${percent(idle)} of ${cores} cores × ${(cpu.wallMs / 1000).toFixed(1)} s (by /proc/stat ${percent(cpu.machineIdle)})`
  return { text, idle }
}

/** Single-ticket bookings on a new tier of the event @64, on a settled database, recorded as `scenario`; bookings per second. */
async function hotTierLine (sql: Sql, base: string, eventId: string, scenario: string): Promise<number> {
  const tierId = await createTier(base, eventId, 1_000_000)
  const body = JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
  await settle(sql)
  const { result, batches } = await countingBatches(base, 'bookings', async () => await bookingLoad(base, CEILING_CONCURRENCY, () => body, { seconds: SECONDS }))
  const perSecond = count(result, '201') / result.duration
  record({
    scenario,
    concurrency: CEILING_CONCURRENCY,
    perSecond,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses: statuses(result),
    check: `${await oversellCheck(sql, [tierId])}; ${batches}`
  })
  return perSecond
}

/** Single-ticket bookings spread over 50 new tiers of the event @64, on a settled database; bookings per second. */
async function spreadLine (sql: Sql, base: string, eventId: string): Promise<number> {
  const tierIds: string[] = []
  for (let i = 0; i < 50; i++) tierIds.push(await createTier(base, eventId, 100_000))
  await settle(sql)
  const { result, batches } = await countingBatches(base, 'bookings', async () => await bookingLoad(base, 64, () => JSON.stringify({
    eventId, items: [{ ticketTierId: tierIds[Math.floor(Math.random() * tierIds.length)], quantity: 1 }]
  }), { seconds: SECONDS }))
  const spread = count(result, '201') / result.duration
  record({
    scenario: 'API: spread over 50 tiers',
    concurrency: 64,
    perSecond: spread,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses: statuses(result),
    check: `${await oversellCheck(sql, tierIds)}; ${batches}`
  })
  return spread
}

/** The ceiling's POST /api/bookings, driven as the real hot tier is, answering a Booking the real server just made. */
async function ceilingBookings (ceiling: Ceiling, base: string, eventId: string, tierId: string, postmaster: number | undefined, when: string): Promise<number> {
  const request = { eventId, items: [{ ticketTierId: tierId, quantity: 1 }] }
  await ceiling.set('booking', await api<unknown>(base, 'POST', '/api/bookings', request, integratorKey))
  const body = JSON.stringify(request)
  const { result, cpu } = await measureCpu([ceiling.pid], postmaster, async () => await bookingLoad(ceiling.base, CEILING_CONCURRENCY, () => body, { seconds: SECONDS }))
  const created = count(result, '201')
  record({
    scenario: `ceiling: bare Fastify, POST /api/bookings (validation + serialisation, no database), ${when}`,
    concurrency: CEILING_CONCURRENCY,
    perSecond: created / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses: statuses(result),
    check: cpuReport(cpu, created, 'ceiling').text
  })
  return created / result.duration
}

interface Read { name: string, url: string, body: CeilingBody, headers: Record<string, string> }

async function readLoad (base: string, read: Read): Promise<autocannon.Result> {
  return await autocannon({ url: `${base}${read.url}`, connections: CEILING_CONCURRENCY, duration: SECONDS, headers: read.headers })
}

/** The server's own /metrics (Prometheus text), or the status it refused with. */
async function scrapeMetrics (base: string): Promise<{ text: string } | { status: number }> {
  const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  return response.ok ? { text: await response.text() } : { status: response.status }
}

/** The server's group-commit batches of `kind` so far (sum of sizes, count). */
async function batchTotals (base: string, kind: 'bookings' | 'scans'): Promise<{ sum: number, count: number }> {
  const scraped = await scrapeMetrics(base)
  if (!('text' in scraped)) return { sum: Number.NaN, count: Number.NaN }
  // No series yet before the first batch of the kind.
  const value = (name: string): number => Number(new RegExp(`^group_commit_batch_size_${name}\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(scraped.text)?.[1] ?? 0)
  return { sum: value('sum'), count: value('count') }
}

/** Runs `load` and tells, for a line's check column, how many batches of `kind` it made and their mean size. */
async function countingBatches<T> (base: string, kind: 'bookings' | 'scans', load: () => Promise<T>): Promise<{ result: T, batches: string }> {
  const before = await batchTotals(base, kind)
  const result = await load()
  const after = await batchTotals(base, kind)
  const batches = after.count - before.count
  return { result, batches: `${batches} batches of ${((after.sum - before.sum) / batches).toFixed(1)} on average` }
}

/**
 * Where the server's resident memory is, from its own /metrics (prom-client's process defaults):
 * V8's heap (used of its total), memory outside it (Buffers, ArrayBuffers) and the rest (code,
 * native allocations, what the allocator keeps after a free).
 */
async function memoryBreakdown (base: string): Promise<string> {
  const scraped = await scrapeMetrics(base)
  if (!('text' in scraped)) return `(no /metrics: ${scraped.status})`
  const mib = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(scraped.text)?.[1] ?? Number.NaN) / 2 ** 20
  const rss = mib('process_resident_memory_bytes')
  const heapTotal = mib('nodejs_heap_size_total_bytes')
  const external = mib('nodejs_external_memory_bytes')
  return `RSS ${rss.toFixed(0)} MiB = V8 heap ${heapTotal.toFixed(0)} MiB (${mib('nodejs_heap_size_used_bytes').toFixed(0)} used) + external ${external.toFixed(0)} MiB + the rest ${(rss - heapTotal - external).toFixed(0)} MiB`
}

/** RSS of a process in MB (10^6 bytes), as the issue's target is written, with MiB beside it. */
function rssText (mib: number): string {
  return `${(mib * 2 ** 20 / 1e6).toFixed(1)} MB (${mib.toFixed(1)} MiB)`
}

type Server = Awaited<ReturnType<typeof startServer>>

/**
 * Bookings with 1, 2 and 4 server processes on one database: the same load (concurrency 64 in
 * all, split evenly, each process driven by its own autocannon) on a hot tier and over 50 tiers,
 * checked for oversell across the processes, with CPU per booking of the servers together, the
 * database and the bench's client, and the share of the machine left idle (what limits it).
 */
async function measureProcesses (database: Database, sql: Sql, first: Server): Promise<void> {
  const extra: Server[] = []
  try {
    for (const processes of PROCESS_COUNTS) {
      while (extra.length + 1 < processes) extra.push(await startServer(database.url))
      const servers = [first, ...extra].slice(0, processes)
      // An event of its own (an event has at most 100 tiers).
      const eventId = await createEvent(first.base, `${processes} processes night`)
      // Warm-up: a new process (its JIT, its pool) is slow for its first few thousand requests.
      const warmTier = await createTier(first.base, eventId, 1_000_000)
      const warm = JSON.stringify({ eventId, items: [{ ticketTierId: warmTier, quantity: 1 }] })
      await Promise.all(servers.map(async (server) => await bookingLoad(server.base, CEILING_CONCURRENCY / processes, () => warm, { seconds: 2 })))
      for (const spread of [false, true]) {
        const tierIds: string[] = []
        for (let i = 0; i < (spread ? 50 : 1); i++) tierIds.push(await createTier(first.base, eventId, 1_000_000))
        const body = (): string => JSON.stringify({ eventId, items: [{ ticketTierId: tierIds[Math.floor(Math.random() * tierIds.length)], quantity: 1 }] })
        await settle(sql)
        const { result: results, cpu } = await measureCpu(servers.map((server) => server.pid), database.postmaster, async () =>
          await Promise.all(servers.map(async (server) => await bookingLoad(server.base, CEILING_CONCURRENCY / processes, body, { seconds: SECONDS }))))
        const created = results.reduce((sum, result) => sum + count(result, '201'), 0)
        const seconds = Math.max(...results.map((result) => result.duration))
        const serversMs = cpu.processes.reduce((sum, ms) => sum + ms, 0)
        const cores = os.availableParallelism()
        const idle = 1 - (serversMs + cpu.database + cpu.client) / (cores * cpu.wallMs)
        const usage = `CPU per booking: ${processes === 1 ? 'server' : `${processes} servers together`} ${perUnit(serversMs, created)}, database ${perUnit(cpu.database, created)}, bench client ${perUnit(cpu.client, created)}; ` +
          `busy: servers ${percent(serversMs / cpu.wallMs / cores)}, database ${percent(cpu.database / cpu.wallMs / cores)}, client ${percent(cpu.client / cpu.wallMs / cores)}, idle ${percent(idle)} of ${cores} cores`
        record({
          scenario: `API, ${processes} server process${processes === 1 ? '' : 'es'}: ${spread ? 'spread over 50 tiers' : 'hot tier'}, POST /api/bookings`,
          concurrency: CEILING_CONCURRENCY,
          perSecond: created / seconds,
          // Latencies of the slowest process's client (autocannon's percentiles do not add up).
          p50: Math.max(...results.map((result) => result.latency.p50)),
          p99: Math.max(...results.map((result) => result.latency.p99)),
          statuses: results.map(statuses).join(' | '),
          check: `${await oversellCheck(sql, tierIds)}; ${usage}`
        })
      }
    }
  } finally {
    for (const server of extra) await server.stop()
  }
}

async function main (): Promise<void> {
  console.log('Building…')
  await new Promise<void>((resolve, reject) => {
    const build = spawn('npm', ['run', 'build', '--silent'], { cwd: projectRoot, stdio: 'inherit' })
    build.on('exit', (code) => { code === 0 ? resolve() : reject(new Error('build failed')) })
  })
  const database = await startDatabase()
  await migrate(database.url)
  const sql = createSql(database.url, { max: 4 })
  const profileDir = PROFILE ? await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-profile-')) : undefined
  const server = await startServer(database.url, projectRoot, profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])
  let ceiling: Ceiling | undefined
  let serverExit = ''
  try {
    const [{ version }] = await sql<{ version: string }[]>`select version()` as unknown as [{ version: string }]
    const eventId = await createEvent(server.base, 'Bench night')
    integratorKey = await newIntegratorKey(server.base)
    let cpuLine = ''
    const memory: string[] = []

    if (!ONLY_COMPARE && !ONLY_PROCESSES) {
      ceiling = await startCeiling()
      console.log(`Hot tier: single-ticket bookings on one tier, ${SECONDS} s per concurrency; @${CEILING_CONCURRENCY}, the ceiling's POST just before and after it, and the spread over 50 tiers right after it`)
      const directSql = new Map<number, number>()
      let hot: { perSecond: number, p99: number } | undefined
      let ceilingPost = Number.NaN
      let spread = Number.NaN
      for (const connections of HOT_CONCURRENCY) {
        directSql.set(connections, await reference(database.url, sql, server.base, eventId, connections))
        const tierId = await createTier(server.base, eventId, 1_000_000)
        const body = JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
        // The ratios against the ceiling and between the hot tier and the spread are of lines run
        // back to back: these machines drift by up to half within minutes, so the ceiling is
        // measured just before and just after the hot tier and the ratio taken to their mean.
        const ceilingBefore = connections === CEILING_CONCURRENCY ? await ceilingBookings(ceiling, server.base, eventId, tierId, database.postmaster, 'before the hot tier') : Number.NaN
        await settle(sql)
        const { result: { result, cpu }, batches } = await countingBatches(server.base, 'bookings', async () =>
          await measureCpu([server.pid], database.postmaster, async () => await bookingLoad(server.base, connections, () => body, { seconds: SECONDS })))
        const created = count(result, '201')
        let check = `${await oversellCheck(sql, [tierId])}; ${batches}`
        if (connections === CEILING_CONCURRENCY) {
          const report = cpuReport(cpu, created, 'server')
          check += `; ${report.text.replace('per request', 'per booking')}`
          cpuLine = `CPU per booking, hot tier @${connections} (${created} bookings): server ${perUnit(cpu.processes[0] ?? Number.NaN, created)}, ` +
            `database ${perUnit(cpu.database, created)} (${database.cpuScope}), bench client (autocannon, process.cpuUsage) ${perUnit(cpu.client, created)}; ` +
            `idle share 1 − (server + database + client) ÷ (cores × wall) = ${percent(report.idle)}; the machine's idle share by /proc/stat ${percent(cpu.machineIdle)} (other work on the machine counts there)`
          hot = { perSecond: created / result.duration, p99: result.latency.p99 }
        }
        record({
          scenario: 'API: hot tier, POST /api/bookings',
          concurrency: connections,
          perSecond: created / result.duration,
          p50: result.latency.p50,
          p99: result.latency.p99,
          statuses: statuses(result),
          check
        })
        if (connections === CEILING_CONCURRENCY) {
          spread = await spreadLine(sql, server.base, eventId)
          const ceilingAfter = await ceilingBookings(ceiling, server.base, eventId, tierId, database.postmaster, 'after the hot tier and the spread')
          ceilingPost = (ceilingBefore + ceilingAfter) / 2
        }
      }

      const best = await pgbenchReference(database.url, sql, server.base, eventId, directSql)

      console.log('Sell-out: capacity 1,000, 5,000 requests at concurrency 256')
      {
        const tierId = await createTier(server.base, eventId, 1000)
        const body = JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 1 }] })
        const result = await bookingLoad(server.base, 256, () => body, { amount: 5000 })
        const exact = count(result, '201') === 1000 && count(result, '409') === 4000
        if (!exact) failed = true
        recordRequests('API: sell-out, capacity 1000', 256, result, `${exact ? 'exactly 1000 × 201' : 'NOT EXACT'}, ${await oversellCheck(sql, [tierId])}`)
      }

      console.log('Reads, concurrency 64, on an event of 4 tiers with 40 live holds, and one booking; each beside the ceiling answering the same body')
      const readEventId = await createEvent(server.base, 'Read night')
      const readTiers: string[] = []
      for (let i = 0; i < 4; i++) readTiers.push(await createTier(server.base, readEventId, 500))
      for (let i = 0; i < 40; i++) {
        await fetch(`${server.base}/api/bookings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${integratorKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ eventId: readEventId, hold: { ttlSeconds: 3600 }, items: [{ ticketTierId: readTiers[i % 4], quantity: 2 }] })
        })
      }
      const readBooking = await api<{ id: string }>(server.base, 'POST', '/api/bookings', { eventId: readEventId, items: [{ ticketTierId: readTiers[0], quantity: 1 }] }, integratorKey)
      // The write scenarios left ~150k fresh rows.
      await settle(sql)
      const reads: Read[] = [
        { name: 'GET /api/events/{eventId}/ticket-tiers', url: `/api/events/${readEventId}/ticket-tiers`, body: 'ticketTiers', headers: {} },
        { name: 'GET /api/events', url: '/api/events', body: 'events', headers: {} },
        { name: 'GET /api/bookings/{bookingId}', url: `/api/bookings/${readBooking.id}`, body: 'bookingRead', headers: { authorization: `Bearer ${integratorKey}` } }
      ]
      const readRatios: Array<{ read: Read, real: number, ceiling: number }> = []
      for (const read of reads) {
        // The real server's body of this very request, as the ceiling's static one; the ceiling runs
        // just before and just after the server, and the ratio is to their mean (as for bookings).
        const real = await fetch(`${server.base}${read.url}`, { headers: read.headers })
        if (real.status !== 200) throw new Error(`${read.name}: ${real.status} ${await real.text()}`)
        await ceiling.set(read.body, await real.json())
        const bareBefore = await readLoad(ceiling.base, read)
        recordRequests(`ceiling: bare Fastify, ${read.name} (static body of the real one's, serialisation, no database), before`, CEILING_CONCURRENCY, bareBefore)
        const result = await readLoad(server.base, read)
        recordRequests(`API: ${read.name}`, CEILING_CONCURRENCY, result)
        const bareAfter = await readLoad(ceiling.base, read)
        recordRequests(`ceiling: bare Fastify, ${read.name}, after`, CEILING_CONCURRENCY, bareAfter)
        readRatios.push({ read, real: result.requests.average, ceiling: (bareBefore.requests.average + bareAfter.requests.average) / 2 })
      }

      // Memory: the same hot-tier and read load again, in the same server process.
      const rssFirst = rssMiB(server.pid)
      const breakdownFirst = await memoryBreakdown(server.base)
      console.log(`Memory: server RSS ${rssText(rssFirst)} after the bookings and reads; the hot tier @${CEILING_CONCURRENCY} and the reads once more`)
      await hotTierLine(sql, server.base, eventId, 'API, again (memory): hot tier, POST /api/bookings')
      for (const read of reads) {
        const result = await readLoad(server.base, read)
        recordRequests(`API, again (memory): ${read.name}`, CEILING_CONCURRENCY, result)
      }
      const rssSecond = rssMiB(server.pid)
      const breakdownSecond = await memoryBreakdown(server.base)
      const growth = rssSecond / rssFirst - 1
      memory.push(`server RSS after the main run's bookings and reads ${rssText(rssFirst)} (${breakdownFirst}); after the hot tier @${CEILING_CONCURRENCY} and the reads once more ${rssText(rssSecond)} (${breakdownSecond}): ${growth >= 0 ? '+' : ''}${(100 * growth).toFixed(1)}%`)
      console.log(`  ${memory[0] ?? ''}`)

      console.log('Tickets: reading one booking\'s 200 tickets (with codes), concurrency 64')
      {
        const tierIds = [await createTier(server.base, readEventId, 1000, 100), await createTier(server.base, readEventId, 1000, 100)]
        const booking = await fetch(`${server.base}/api/bookings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${integratorKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ eventId: readEventId, items: tierIds.map((ticketTierId) => ({ ticketTierId, quantity: 100 })) })
        })
        const { id } = await booking.json() as { id: string }
        const url = `/api/bookings/${id}/tickets`
        const first = await (await fetch(`${server.base}${url}`, { headers: { authorization: `Bearer ${integratorKey}` } })).json() as { data: Array<{ code: string | null }> }
        const withCodes = first.data.filter((ticket) => ticket.code !== null).length
        if (withCodes !== 200) failed = true
        const result = await autocannon({ url: `${server.base}${url}`, connections: 64, duration: SECONDS, headers: { authorization: `Bearer ${integratorKey}` } })
        recordRequests('API: GET /api/bookings/{bookingId}/tickets (200 tickets)', 64, result, withCodes === 200 ? '200 tickets with codes' : `ONLY ${withCodes} CODES`)
      }

      await measureCheckIn(sql, server.base, eventId)

      console.log('Ticket codes: what one costs, in this process (jose, Ed25519)')
      await measureCodes()

      const rssEnd = rssMiB(server.pid)
      memory.push(`server RSS after the whole bench ${rssText(rssEnd)} (${await memoryBreakdown(server.base)})`)
      console.log(`  ${memory[1] ?? ''}`)

      const ratio = (a: number, b: number): string => Number.isFinite(a / b) ? (a / b).toFixed(2) : 'n/a'
      const hotPerSecond = hot?.perSecond ?? Number.NaN
      target(`hot-tier bookings @${CEILING_CONCURRENCY} ÷ ceiling POST /api/bookings`, `${ratio(hotPerSecond, ceilingPost)} (${hotPerSecond.toFixed(0)} ÷ ${ceilingPost.toFixed(0)} /s)`, '≥ 0.5', hotPerSecond / ceilingPost >= 0.5)
      target(`hot-tier bookings @${CEILING_CONCURRENCY} ÷ best one-booking-per-transaction reference (${best.label})`, `${ratio(hotPerSecond, best.perSecond)} (${hotPerSecond.toFixed(0)} ÷ ${best.perSecond.toFixed(0)} /s)`, '≥ 2', hotPerSecond / best.perSecond >= 2)
      target(`hot-tier bookings @${CEILING_CONCURRENCY}, p99`, `${hot?.p99 ?? 'n/a'} ms`, '< 50 ms', hot === undefined ? undefined : hot.p99 < 50)
      target(`spread over 50 tiers @64 ÷ hot tier @${CEILING_CONCURRENCY}`, `${ratio(spread, hotPerSecond)} (${spread.toFixed(0)} ÷ ${hotPerSecond.toFixed(0)} /s)`, '≥ 1', spread / hotPerSecond >= 1)
      for (const { read, real, ceiling: bare } of readRatios) {
        target(`${read.name} @${CEILING_CONCURRENCY} ÷ its ceiling (static body)`, `${ratio(real, bare)} (${real.toFixed(0)} ÷ ${bare.toFixed(0)} /s)`, '≥ 0.7', real / bare >= 0.7)
      }
      // The profiler keeps its samples in the server's memory until it exits.
      const profiled = PROFILE ? ' (with --cpu-prof, whose samples count in it)' : ''
      target(`server RSS after the whole bench${profiled}`, rssText(rssEnd), '< 250 MB', Number.isFinite(rssEnd) ? rssEnd * 2 ** 20 / 1e6 < 250 : undefined)
      target(`server RSS growth, the hot tier @${CEILING_CONCURRENCY} and the reads run again in the same process${profiled}`, `${(100 * growth).toFixed(1)}% (${rssFirst.toFixed(1)} → ${rssSecond.toFixed(1)} MiB)`, '≤ 10%', Number.isFinite(growth) ? growth <= 0.1 : undefined)
    }

    if (!ONLY_COMPARE) {
      console.log(`Server processes: bookings with ${PROCESS_COUNTS.join(', ')} server processes on the one database, concurrency ${CEILING_CONCURRENCY} split evenly among them`)
      await measureProcesses(database, sql, server)
    }

    if (BASELINE !== undefined && BASELINE !== '') await compareWithBaseline(BASELINE, database.url)

    const cpus = os.cpus()
    console.log(`\nMachine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`)
    console.log(`Database: ${database.kind}; ${version.split(' on ')[0] ?? version}, same host`)
    console.log(`Command: ${PROFILE ? 'BENCH_PROFILE=1 ' : ''}npm run bench (${SECONDS} s per timed run; server with LOG_LEVEL=warn${PROFILE ? ' and --cpu-prof' : ''})\n`)
    console.log('| scenario | concurrency | per second | p50 ms | p99 ms | responses | check |')
    console.log('|---|---:|---:|---:|---:|---|---|')
    for (const row of rows) {
      console.log(`| ${row.scenario} | ${row.concurrency} | ${row.perSecond.toFixed(row.digits ?? 0)} | ${row.p50} | ${row.p99} | ${row.statuses} | ${row.check} |`)
    }
    if (codeCost !== '') console.log(`\nTicket code: ${codeCost}`)
    if (targets.length > 0) {
      console.log('\nTargets (issue 20), this run (reported, not enforced: the figures are noisy):\n')
      console.log('| target | this run | goal | |')
      console.log('|---|---|---|---|')
      for (const { name, figure, goal, met } of targets) console.log(`| ${name} | ${figure} | ${goal} | ${verdict(met)} |`)
    }
    if (cpuLine !== '') console.log(`\n${hasProc ? cpuLine : 'CPU per booking: not measured (no /proc here)'}`)
    for (const line of memory) console.log(`Memory: ${line}`)
  } finally {
    await ceiling?.stop()
    serverExit = await server.stop()
    await sql.end()
    await database.stop()
  }
  if (profileDir !== undefined) {
    console.log(`\nCPU profile of the server (BENCH_PROFILE=1, node --cpu-prof, the whole bench; the server exited ${serverExit === '0' ? 'cleanly (0)' : `with ${serverExit}`}):\n`)
    for (const line of await summariseProfile(profileDir, projectRoot)) console.log(line)
    await rm(profileDir, { recursive: true, force: true })
  }
  if (failed) {
    console.error('\nFAILED: an oversell, an inexact sell-out or a ticket admitted twice or not exactly once (see the check column).')
    process.exit(1)
  }
}

await main()
