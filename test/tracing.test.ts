import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIntegratorsRepository } from '../src/features/integrators/integrators-repository.js'
import { projectRoot } from '../src/paths.js'
import { createTestDatabase, type TestDatabase } from './support/database.js'
import { createEventWithTier, overHttp } from './support/fixtures.js'
import { listeningAt, loadServerEnv, spawnNpmStart, spawnServer, type ServerProcess } from './support/process.js'
import { startReceiver } from './support/receiver.js'

/** An OTLP attribute value as the JSON encoding sends it. */
interface AnyValue { stringValue?: string, intValue?: number | string, boolValue?: boolean, doubleValue?: number }
interface KeyValue { key: string, value: AnyValue }
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes: KeyValue[]
  links?: Array<{ traceId: string, spanId: string }>
}
interface ExportRequest { resourceSpans: Array<{ resource: { attributes: KeyValue[] }, scopeSpans: Array<{ scope: { name: string }, spans: OtlpSpan[] }> }> }

/** A span as the test reads it: attributes flattened, with its scope and its resource's. */
interface Span extends Omit<OtlpSpan, 'attributes'> {
  scope: string
  attributes: Record<string, string | number | boolean | undefined>
  resource: Record<string, string | number | boolean | undefined>
}

const SPAN_KIND_SERVER = 2
const SPAN_KIND_CLIENT = 3

function flatten (attributes: KeyValue[]): Record<string, string | number | boolean | undefined> {
  return Object.fromEntries(attributes.map(({ key, value }) => [key, value.stringValue ?? (value.intValue === undefined ? undefined : Number(value.intValue)) ?? value.boolValue ?? value.doubleValue]))
}

/** An OTLP/HTTP receiver: the tests' recording HTTP receiver, whose requests are read as JSON-encoded span exports. */
async function startCollector (): Promise<{ url: string, requests: () => Array<{ path: string, contentType: string | undefined, body: string }>, spans: () => Span[], close: () => Promise<void> }> {
  const receiver = await startReceiver('')
  const requests = (): Array<{ path: string, contentType: string | undefined, body: string }> =>
    receiver.received.map(({ path, headers, body }) => ({ path, contentType: headers['content-type'], body }))
  return {
    url: receiver.url,
    requests,
    spans: () => requests().flatMap((request) => (JSON.parse(request.body) as ExportRequest).resourceSpans.flatMap((resourceSpans) =>
      resourceSpans.scopeSpans.flatMap((scopeSpans) => scopeSpans.spans.map((span): Span => ({
        ...span,
        scope: scopeSpans.scope.name,
        attributes: flatten(span.attributes),
        resource: flatten(resourceSpans.resource.attributes)
      })))
    )),
    close: receiver.close
  }
}

let db: TestDatabase
let integratorKey: string
let folder: string
/** Preloaded into every Node process of the server (and npm): on exit, prints the CommonJS modules it loaded (the SDK's packages are CommonJS). */
let moduleReport: string
beforeAll(async () => {
  db = await createTestDatabase()
  integratorKey = (await createIntegratorsRepository(db.sql).createWithKey('Traces')).key.key
  folder = await mkdtemp(path.join(os.tmpdir(), 'ticket-booking-traces-'))
  moduleReport = path.join(folder, 'module-report.mjs')
  await writeFile(moduleReport, [
    "import { createRequire } from 'node:module'",
    'const require = createRequire(import.meta.url)',
    "process.on('exit', () => { process.stdout.write('\\nloaded modules ' + process.pid + ': ' + JSON.stringify(Object.keys(require.cache)) + '\\n') })"
  ].join('\n'))
})
afterAll(async () => {
  await db.drop()
  await rm(folder, { recursive: true, force: true })
})

/** Every module file the processes of `server` reported loading. */
function loadedModules (server: ServerProcess): string[] {
  return [...server.output().matchAll(/^loaded modules \d+: (.*)$/gm)].flatMap((match) => JSON.parse(match[1] ?? '[]') as string[])
}

const TRACING_PACKAGES = /node_modules\/(@opentelemetry\/(sdk-|exporter-|instrumentation)|@fastify\/otel\/)/

/**
 * Starts a server with `env` by `start`, books one ticket with `requestId`, then stops it with
 * SIGTERM and waits until it has exited.
 */
async function bookOnceThenStop (start: (env: Record<string, string>) => ServerProcess | Promise<ServerProcess>, env: Record<string, string>, requestId: string): Promise<ServerProcess> {
  const server = await start(loadServerEnv(db.url, { NODE_OPTIONS: `--import=${pathToFileURL(moduleReport).href}`, ...env }))
  try {
    const base = await listeningAt(server, 60_000)
    const { eventId, tierId } = await createEventWithTier(overHttp(base))
    const response = await fetch(`${base}/api/bookings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${integratorKey}`, 'x-request-id': requestId },
      body: JSON.stringify({ eventId, items: [{ ticketTierId: tierId, quantity: 2 }] })
    })
    expect(response.status).toBe(201)
    expect(response.headers.get('x-request-id')).toBe(requestId)
  } finally {
    server.child.kill('SIGTERM')
  }
  const { code } = await server.exited
  expect(code, server.output()).toBe(0)
  return server
}

describe('traces over OTLP/HTTP', () => {
  it('with OTEL_EXPORTER_OTLP_ENDPOINT, a booking sends its request, batch and database spans, flushed at SIGTERM', async () => {
    const collector = await startCollector()
    try {
      // Through `npm start` (the build, then `node dist/src/server.js`): the instrumentations must
      // work in the compiled ES modules as they run in production. A schedule delay far beyond the
      // test: the spans can only arrive through the shutdown's flush.
      const server = await bookOnceThenStop(spawnNpmStart, {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '600000'
      }, 'trace-test-booking-1')
      expect(server.output()).toContain('exporting traces over OTLP/HTTP')
      expect(loadedModules(server).some((file) => file.includes('node_modules/@opentelemetry/sdk-node/'))).toBe(true)

      expect(collector.requests().length).toBeGreaterThan(0)
      expect(collector.requests().every((request) => request.path === '/v1/traces' && request.contentType === 'application/json')).toBe(true)
      const spans = collector.spans()
      const { version } = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }
      for (const span of spans) expect(span.resource).toMatchObject({ 'service.name': 'ticket-booking-api', 'service.version': version })

      // The request: the HTTP server span, Fastify's request span under it, the handler under that.
      const http = spans.find((span) => span.kind === SPAN_KIND_SERVER && span.attributes['http.route'] === '/api/bookings')
      expect(http, JSON.stringify(spans.map((span) => span.name))).toBeDefined()
      expect(http?.name).toBe('POST /api/bookings')
      expect(http?.parentSpanId ?? '').toBe('')
      expect(http?.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 201, 'request.id': 'trace-test-booking-1' })
      const request = spans.find((span) => span.scope === '@fastify/otel' && span.name === 'request' && span.parentSpanId === http?.spanId)
      expect(request?.attributes).toMatchObject({ 'http.route': '/api/bookings', 'http.response.status_code': 201, 'request.id': 'trace-test-booking-1' })
      const handler = spans.find((span) => span.parentSpanId === request?.spanId && span.name === 'handler - createBooking')
      expect(handler).toBeDefined()
      const keyLookup = spans.find((span) => span.name === 'db find integrator key')
      expect(keyLookup).toMatchObject({ traceId: http?.traceId, parentSpanId: request?.spanId, kind: SPAN_KIND_CLIENT })

      // The batch: a trace of its own (it serves many requests), linked to the handler and back.
      const batch = spans.find((span) => span.name === 'booking.batch')
      expect(batch?.parentSpanId ?? '').toBe('')
      expect(batch?.traceId).not.toBe(http?.traceId)
      expect(batch?.attributes).toMatchObject({ 'booking.batch.size': 1, 'booking.batch.created': 1 })
      expect(batch?.links).toEqual([expect.objectContaining({ traceId: handler?.traceId, spanId: handler?.spanId })])
      expect(handler?.links).toEqual([expect.objectContaining({ traceId: batch?.traceId, spanId: batch?.spanId })])

      // Its transaction, and under it one span per database round trip.
      const transaction = spans.find((span) => span.name === 'db transaction' && span.parentSpanId === batch?.spanId)
      expect(transaction).toMatchObject({ traceId: batch?.traceId, kind: SPAN_KIND_CLIENT })
      const roundTrips = spans.filter((span) => span.parentSpanId === transaction?.spanId)
      expect(roundTrips.map((span) => span.name)).toEqual(['db claim keys, read events, lock tiers', 'db take stock, insert bookings, items and tickets'])
      for (const span of [transaction, ...roundTrips]) expect(span?.attributes['db.system.name']).toBe('postgresql')

      // No secret in any span: not the key, not the Authorization header.
      expect(collector.requests().map((exported) => exported.body).join('')).not.toMatch(new RegExp(`${integratorKey}|Bearer|authorization`, 'i'))
    } finally {
      await collector.close()
    }
  }, 120_000)

  it('without OTEL_EXPORTER_OTLP_ENDPOINT, no tracing package is loaded and nothing is sent', async () => {
    const collector = await startCollector()
    try {
      // The signal's own variable alone would be honoured by a loaded SDK: it must not load one.
      const server = await bookOnceThenStop(spawnServer, {
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '10'
      }, 'trace-test-booking-2')
      const modules = loadedModules(server)
      expect(modules.some((file) => file.includes('node_modules/fastify/')), 'the report lists the server\'s modules').toBe(true)
      expect(modules.filter((file) => TRACING_PACKAGES.test(file))).toEqual([])
      expect(server.output()).not.toContain('exporting traces')
      expect(collector.requests()).toEqual([])
    } finally {
      await collector.close()
    }
  }, 120_000)
})
