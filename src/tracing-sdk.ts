import { readFileSync } from 'node:fs'
import path from 'node:path'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { trace, type Span } from '@opentelemetry/api'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources'
import { NodeSDK } from '@opentelemetry/sdk-node'
import type { FastifyRequest } from 'fastify'
import { projectRoot } from './paths.js'

/*
 * The OpenTelemetry SDK, imported by server.ts only when OTEL_EXPORTER_OTLP_ENDPOINT is set, and
 * started before anything imports fastify or node:http, so the http instrumentation patches them.
 * The SDK reads OTEL_EXPORTER_OTLP_ENDPOINT itself, with the other standard variables
 * (OTEL_EXPORTER_OTLP_PROTOCOL, _HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_TRACES_SAMPLER, OTEL_BSP_*, ...).
 * @see https://opentelemetry.io/docs/languages/sdk-configuration/
 */

/** How long the shutdown waits for the last spans to be sent. */
const SHUTDOWN_EXPORT_MS = 2_000

export interface Tracing {
  /** Ends the spans' export: sends what is buffered, then stops (on shutdown, after the app closed). */
  shutdown: () => Promise<void>
}

function packageVersion (): string {
  const { version } = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { version: string }
  return version
}

/** The request id on the HTTP server span and on Fastify's request span, so a trace is found from a log line or a client's report. */
function tagRequestId (span: Span, request: FastifyRequest): void {
  span.setAttribute('request.id', request.id)
  // Called while the HTTP server span (instrumentation-http) is the active one.
  trace.getActiveSpan()?.setAttribute('request.id', request.id)
}

/** Webhook URLs may carry an integrator's token in their query: it never goes into a span. */
function withoutQuery (request: { origin: string, path: string }): Record<string, string> {
  const url = new URL(request.path, request.origin)
  if (url.search === '') return {}
  return { 'url.full': `${url.origin}${url.pathname}?REDACTED`, 'url.query': 'REDACTED' }
}

export function startTracing (): Tracing {
  const sdk = new NodeSDK({
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK's env detector) win over these.
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'ticket-booking-api', 'service.version': packageVersion() })),
    instrumentations: [
      new HttpInstrumentation(),
      // Fastify's own instrumentation, applied to each Fastify instance as it is created: a span
      // per request and one for its handler. Not one per hook: a dozen spans of microseconds each;
      // the hooks that wait for something (the key look-up) have spans of their own.
      new FastifyOtelInstrumentation({ registerOnInitialization: true, instrumentHooks: false, requestHook: tagRequestId }),
      new UndiciInstrumentation({ startSpanHook: withoutQuery })
    ],
    // Traces only: metrics are served at /metrics, logs go to stdout.
    metricReaders: [],
    logRecordProcessors: []
  })
  sdk.start()
  return {
    shutdown: async () => {
      // A collector that does not answer must not hold the exit past the shutdown's grace.
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS) })
      try {
        await Promise.race([sdk.shutdown(), late])
      } finally {
        clearTimeout(timer)
      }
    }
  }
}
