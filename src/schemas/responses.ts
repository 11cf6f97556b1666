import type { TSchema } from '@sinclair/typebox'
import { problemKinds, type ProblemKind } from '../problems.js'
import { ProblemSchema, ValidationProblemSchema, ref } from './common.js'

/**
 * A documented response header: bounded like every other value of the contract (strings with a
 * maximum length, integers with a format and a range), with an example so documents and
 * collections are the same on every generation.
 */
type Header =
  | { description: string, type: 'string', maxLength: number, pattern?: string, format?: string, enum?: string[], example: string }
  | { description: string, type: 'integer', format: 'int32', minimum: number, maximum: number, example: number }
type Headers = Record<string, Header>

/** A URL path of this API, as `Location` headers carry. */
export function locationHeader (description: string, example: string): Headers {
  return { Location: { description, type: 'string', format: 'uri-reference', maxLength: 200, example } }
}

const requestIdHeader: Headers = {
  'x-request-id': {
    description: 'The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID.',
    type: 'string',
    maxLength: 200,
    pattern: '^[\\x21-\\x7e]+$',
    example: '3f2b8c1e-5d4a-4b6c-9e7f-0a1b2c3d4e5f'
  },
  'Access-Control-Allow-Origin': {
    description: 'Only on responses to a browser request whose `Origin` is one of the server\'s `CORS_ORIGINS` (none by default): that origin. Other origins get no CORS headers, so browsers withhold the response.',
    type: 'string',
    format: 'uri',
    maxLength: 200,
    example: 'https://shop.example.com'
  }
}

/** Sent on every 2xx and 4xx response while the server has rate limits on (the default). */
export const rateLimitHeaders: Headers = {
  'RateLimit-Limit': { description: 'Requests allowed per one-minute window, counted per integrator or admin key, else per client address: across the API, or for this operation alone where it has a limit of its own (booking creation).', type: 'integer', format: 'int32', minimum: 1, maximum: 1_000_000, example: 6000 },
  'RateLimit-Remaining': { description: 'Requests left in the current window.', type: 'integer', format: 'int32', minimum: 0, maximum: 1_000_000, example: 5999 },
  'RateLimit-Reset': { description: 'Seconds until the window resets.', type: 'integer', format: 'int32', minimum: 0, maximum: 60, example: 42 }
}

/** `Retry-After` in seconds, as 429, 503 and in-flight 409 responses send it. */
export function retryAfterHeader (description: string, example: number): Headers {
  return { 'Retry-After': { description, type: 'integer', format: 'int32', minimum: 0, maximum: 3600, example } }
}

/** A JSON success response with its headers and an example. */
export function jsonResponse<T extends TSchema> (schema: T, description: string, example: unknown, headers: Headers = {}) {
  return {
    description,
    headers: { ...requestIdHeader, ...rateLimitHeaders, ...headers },
    content: { 'application/json': { schema, example } }
  }
}

/** A success response that is not JSON (an image, say), with an example. */
export function mediaResponse (mediaType: string, description: string, example: string, headers: Headers = {}) {
  return {
    description,
    headers: { ...requestIdHeader, ...rateLimitHeaders, ...headers },
    content: { [mediaType]: { schema: { type: 'string', maxLength: 100_000 }, example } }
  }
}

/** `304 Not Modified`: the representation the client holds (its `If-None-Match`) is still current. */
export function notModifiedResponse (description: string, headers: Headers = {}) {
  return { description, type: 'null', headers: { ...requestIdHeader, ...rateLimitHeaders, ...headers } }
}

/** A success response without a body (`204`). */
export function emptyResponse (description: string) {
  return { description, type: 'null', headers: { ...requestIdHeader, ...rateLimitHeaders } }
}

export function problemExample (kind: ProblemKind, detail: string, instance: string, extensions: Record<string, unknown> = {}) {
  return { type: kind.type, title: kind.title, status: kind.status, detail, instance, ...extensions }
}

interface ProblemExample {
  summary: string
  value: ReturnType<typeof problemExample>
}

/**
 * A problem response; its description and examples name every problem `type` it can carry. Client
 * errors (the default) carry the rate-limit headers; server errors (`server`) may come before the
 * rate limiter ran, so they are not promised there.
 */
export function problemResponse<T extends TSchema> (schema: T, description: string, examples: ProblemExample[], headers: Headers = {}, kind: 'client' | 'server' = 'client') {
  const types = [...new Set(examples.map((example) => `\`${example.value.type}\``))].join(', ')
  return {
    description: `${description} Problem type: ${types}.`,
    headers: { ...requestIdHeader, ...(kind === 'client' ? rateLimitHeaders : {}), ...headers },
    content: {
      'application/problem+json': {
        schema,
        examples: Object.fromEntries(examples.map((example) => [example.value.type.split(':').at(-1) ?? example.value.type, example]))
      }
    }
  }
}

const retryAfter = retryAfterHeader('Seconds to wait before retrying.', 2)

const problemResponses = {
  400: problemResponse(ref(ValidationProblemSchema), 'The request is not valid: a schema violation, an unknown property or query parameter, a malformed id or cursor, or a body that is not JSON.', [{
    summary: 'A value breaks the schema',
    value: problemExample(problemKinds.validation, 'The request body is not valid: /items/0/quantity must be >= 1.', '/api/bookings', {
      errors: [{ path: '/items/0/quantity', message: 'must be >= 1' }]
    })
  }]),
  401: problemResponse(ref(ProblemSchema), 'The bearer key is missing, unknown, revoked, or not one this operation takes.', [{
    summary: 'No or wrong key',
    value: problemExample(problemKinds.unauthorized, 'The bearer key is not valid for this operation.', '/api/events')
  }], { 'WWW-Authenticate': { description: '`Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted.', type: 'string', maxLength: 200, pattern: '^Bearer ', example: 'Bearer realm="admin", error="invalid_token"' } }),
  403: problemResponse(ref(ProblemSchema), 'The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed.', [{
    summary: 'Missing scope',
    value: problemExample(problemKinds.insufficientScope, 'This key lacks the scope bookings:write.', '/api/bookings', { scope: 'bookings:write' })
  }], { 'WWW-Authenticate': { description: '`Bearer realm="integrator", error="insufficient_scope", scope="…"`.', type: 'string', maxLength: 200, pattern: '^Bearer ', example: 'Bearer realm="integrator", error="insufficient_scope", scope="bookings:write"' } }),
  404: problemResponse(ref(ProblemSchema), 'The resource does not exist, or belongs to another integrator.', [{
    summary: 'Unknown id',
    value: problemExample(problemKinds.notFound, 'Event 6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70 does not exist.', '/api/events/6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70')
  }]),
  413: problemResponse(ref(ProblemSchema), 'The request body is larger than 64 KiB.', [{
    summary: 'Body too large',
    value: problemExample(problemKinds.payloadTooLarge, 'Request body is too large', '/api/bookings')
  }]),
  415: problemResponse(ref(ProblemSchema), 'The request body is not `application/json`.', [{
    summary: 'Not JSON',
    value: problemExample(problemKinds.unsupportedMediaType, 'Send the body as application/json.', '/api/bookings')
  }]),
  429: problemResponse(ref(ProblemSchema), 'Too many requests from this key (or, without one, this client address) in the current minute, across the API or for this operation where it has a limit of its own.', [{
    summary: 'Rate limited',
    value: problemExample(problemKinds.rateLimited, 'Too many requests from this client: at most 600 a minute; retry after 42 seconds.', '/api/bookings')
  }], retryAfterHeader('Seconds until the window resets.', 42)),
  500: problemResponse(ref(ProblemSchema), 'An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it.', [{
    summary: 'Unexpected error',
    value: problemExample(problemKinds.internal, 'An unexpected error occurred', '/api/bookings')
  }], {}, 'server'),
  503: problemResponse(ref(ProblemSchema), 'The database is unreachable or did not answer in time (a request still unanswered after 12 seconds gets this; a booking answered so may still have been made: retry with the same `Idempotency-Key` to find out), or the server is overloaded or shutting down; retry after `Retry-After` seconds.', [{
    summary: 'Database unreachable',
    value: problemExample(problemKinds.unavailable, 'The database is unreachable; retry shortly.', '/api/events')
  }], retryAfter, 'server')
}

/** The 409 of an operation that adds to a collection with a maximum size (`limit` names it). */
export function limitReachedResponse (description: string, detail: string, instance: string, limit: number) {
  return problemResponse(ref(ProblemSchema), description, [{
    summary: 'Limit reached',
    value: problemExample(problemKinds.limitReached, detail, instance, { limit })
  }])
}

type ProblemStatus = keyof typeof problemResponses

/** The documented problem responses of an operation; 429 (the rate limit), 500 and 503 can happen on every operation. */
export function problems<S extends Exclude<ProblemStatus, 429 | 500 | 503>> (...statuses: S[]) {
  const picked: Partial<typeof problemResponses> = {}
  for (const status of [...statuses, 429, 500, 503] as const) {
    Object.assign(picked, { [status]: problemResponses[status] })
  }
  return picked as Pick<typeof problemResponses, S | 429 | 500 | 503>
}

/** Responses for operations that take a JSON body: it may be invalid, too large or not JSON. */
export const bodyProblems = [400, 413, 415] as const

/** `security` of the operator operations: the ADMIN_API_KEYS bearer scheme (a new array each time, so YAML has no aliases). */
export function adminSecurity () {
  return [{ adminKey: [] }]
}

/**
 * `security` of booking operations: an integrator key with `scope` (listed as the scheme's role),
 * or, where `adminToo`, an admin key.
 */
export function integratorSecurity (scope: string, adminToo = false): Record<string, string[]>[] {
  return adminToo ? [{ integratorKey: [scope] }, { adminKey: [] }] : [{ integratorKey: [scope] }]
}

/** `security` of check-in operations: a scanner key of the operation's event, or (where `adminToo`) an admin key. */
export function scannerSecurity (adminToo = true): Record<string, string[]>[] {
  return adminToo ? [{ adminKey: [] }, { scannerKey: [] }] : [{ scannerKey: [] }]
}

/** `security` of public operations: none, stated explicitly. */
export function publicSecurity () {
  return []
}
