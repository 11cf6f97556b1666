import type { TSchema } from '@sinclair/typebox'
import { problemKinds, type ProblemKind } from '../problems.js'
import { ProblemSchema, ValidationProblemSchema, ref } from './common.js'

/** Response headers; each has an example so documents and collections are the same on every generation. */
type Headers = Record<string, { description: string, type: string, example: string | number }>

const requestIdHeader: Headers = {
  'x-request-id': {
    description: 'The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID.',
    type: 'string',
    example: '3f2b8c1e-5d4a-4b6c-9e7f-0a1b2c3d4e5f'
  }
}

/** A JSON success response with its headers and an example. */
export function jsonResponse<T extends TSchema> (schema: T, description: string, example: unknown, headers: Headers = {}) {
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/json': { schema, example } }
  }
}

export function problemExample (kind: ProblemKind, detail: string, instance: string, extensions: Record<string, unknown> = {}) {
  return { type: kind.type, title: kind.title, status: kind.status, detail, instance, ...extensions }
}

interface ProblemExample {
  summary: string
  value: ReturnType<typeof problemExample>
}

/** A problem response; its description and examples name every problem `type` it can carry. */
export function problemResponse<T extends TSchema> (schema: T, description: string, examples: ProblemExample[], headers: Headers = {}) {
  const types = [...new Set(examples.map((example) => `\`${example.value.type}\``))].join(', ')
  return {
    description: `${description} Problem type: ${types}.`,
    headers: { ...requestIdHeader, ...headers },
    content: {
      'application/problem+json': {
        schema,
        examples: Object.fromEntries(examples.map((example) => [example.value.type.split(':').at(-1), example]))
      }
    }
  }
}

const retryAfter: Headers = { 'Retry-After': { description: 'Seconds to wait before retrying.', type: 'integer', example: 2 } }

/** Sent on rate-limited operations (when the server has a limit configured). */
export const rateLimitHeaders: Headers = {
  'RateLimit-Limit': { description: 'Requests allowed per window (one minute) for this client address.', type: 'integer', example: 600 },
  'RateLimit-Remaining': { description: 'Requests left in the current window.', type: 'integer', example: 599 },
  'RateLimit-Reset': { description: 'Seconds until the window resets.', type: 'integer', example: 42 }
}

export const tooManyRequests = problemResponse(ref(ProblemSchema), 'Too many requests from this client address in the current minute.', [{
  summary: 'Rate limited',
  value: problemExample(problemKinds.rateLimited, 'Too many bookings from this client: at most 600 a minute; retry after 42 seconds.', '/api/bookings')
}], { ...retryAfter, ...rateLimitHeaders })

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
  }], { 'WWW-Authenticate': { description: '`Bearer realm="admin"`, with `error="invalid_token"` when a key was sent but not accepted.', type: 'string', example: 'Bearer realm="admin", error="invalid_token"' } }),
  403: problemResponse(ref(ProblemSchema), 'The key is valid but may not do this: it lacks the scope named in `scope`, or it is an admin key where an integrator key is needed.', [{
    summary: 'Missing scope',
    value: problemExample(problemKinds.insufficientScope, 'This key lacks the scope bookings:write.', '/api/bookings', { scope: 'bookings:write' })
  }], { 'WWW-Authenticate': { description: '`Bearer realm="integrator", error="insufficient_scope", scope="…"`.', type: 'string', example: 'Bearer realm="integrator", error="insufficient_scope", scope="bookings:write"' } }),
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
  500: problemResponse(ref(ProblemSchema), 'An unexpected error; nothing about its cause is disclosed. Quote the `x-request-id` when reporting it.', [{
    summary: 'Unexpected error',
    value: problemExample(problemKinds.internal, 'An unexpected error occurred', '/api/bookings')
  }]),
  503: problemResponse(ref(ProblemSchema), 'The database is unreachable or the server is shutting down; retry after `Retry-After` seconds.', [{
    summary: 'Database unreachable',
    value: problemExample(problemKinds.unavailable, 'The database is unreachable; retry shortly.', '/api/events')
  }], retryAfter)
}

type ProblemStatus = keyof typeof problemResponses

/** The documented problem responses of an operation; 500 and 503 can happen on every operation. */
export function problems<S extends Exclude<ProblemStatus, 500 | 503>> (...statuses: S[]) {
  const picked: Partial<typeof problemResponses> = {}
  for (const status of [...statuses, 500, 503] as const) {
    Object.assign(picked, { [status]: problemResponses[status] })
  }
  return picked as Pick<typeof problemResponses, S | 500 | 503>
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

/** `security` of public operations: none, stated explicitly. */
export function publicSecurity () {
  return []
}
