import { SpanKind, SpanStatusCode, trace, type Attributes, type Link, type Span, type SpanOptions } from '@opentelemetry/api'

/*
 * Manual spans for what no instrumentation sees: postgres.js has none, so the booking batch and its
 * database round trips are traced here. Only `@opentelemetry/api` is imported: without an SDK
 * (OTEL_EXPORTER_OTLP_ENDPOINT unset) every call below is a no-op on a non-recording span.
 */

const tracer = trace.getTracer('ticket-booking-api')

export interface SpanSetup {
  attributes?: Attributes
  kind?: SpanKind
  /** Spans this one serves, each in a trace of its own; with them the span starts a new trace. */
  links?: Link[]
}

/**
 * The error's kind for `error.type`: a SQLSTATE or driver code, else the class name. Never its
 * message, which may quote a parameter value.
 */
function errorType (error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code } = error as { code?: unknown }
    if (typeof code === 'string') return code
    if (error instanceof Error) return error.name
  }
  return typeof error
}

/** Runs `work` inside a span named `name` (its child spans nest under it), ending it when `work` settles. */
export async function inSpan<T> (name: string, { attributes, kind, links }: SpanSetup, work: (span: Span) => Promise<T>): Promise<T> {
  const options: SpanOptions = links === undefined ? { attributes, kind } : { attributes, kind, links, root: true }
  return await tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await work(span)
    } catch (error) {
      span.setAttribute('error.type', errorType(error))
      span.setStatus({ code: SpanStatusCode.ERROR })
      throw error
    } finally {
      span.end()
    }
  })
}

/**
 * Database work as a client span: one round trip (statements sent together and awaited together)
 * or a whole transaction, whose round trips nest under it. `summary` names what it does; the
 * statements' text and parameters never go into a span.
 */
export async function dbSpan<T> (summary: string, work: () => Promise<T>): Promise<T> {
  return await inSpan(`db ${summary}`, {
    kind: SpanKind.CLIENT,
    attributes: { 'db.system.name': 'postgresql', 'db.query.summary': summary }
  }, work)
}

/** The span of the code running now (a request's handler), to link a batch to; undefined without an SDK. */
export function currentSpan (): Span | undefined {
  return trace.getActiveSpan()
}
