import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { PROBLEM_TYPE_PREFIX, problemKinds } from '../problems.js'

/** A reference to a named component (`#/components/schemas/<$id>`) that keeps the static type. */
export function ref<T extends TSchema> (schema: T) {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id))
}

export function Nullable<T extends TSchema> (schema: T) {
  return Type.Union([schema, Type.Null()])
}

export const UuidSchema = Type.String({ format: 'uuid', examples: ['6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70'] })

export const EARLIEST_INSTANT = '1970-01-01T00:00:00.000Z'
export const LATEST_INSTANT = '9999-12-31T23:59:59.999Z'

export const DateTimeSchema = Type.String({
  format: 'date-time',
  description: `RFC 3339 date-time. Input may carry any offset; output is always UTC with milliseconds. Between ${EARLIEST_INSTANT} and ${LATEST_INSTANT}.`,
  examples: ['2026-12-31T20:00:00.000Z']
})

export const CurrencySchema = Type.String({
  pattern: '^[A-Z]{3}$',
  description: 'ISO 4217 currency code: three capital letters.',
  examples: ['EUR']
})

export const NameSchema = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '\\S',
  description: '1 to 200 characters, not only whitespace.'
})

export const FieldErrorSchema = Type.Object({
  path: Type.String({ description: 'JSON Pointer to the offending value within the part of the request named in `detail` (body, querystring, path parameters or headers); empty for the whole part.', examples: ['/items/0/quantity'] }),
  message: Type.String({ examples: ['must be <= 10'] })
}, { $id: 'FieldError', additionalProperties: false })

const problemTypeList = Object.values(problemKinds)
  .map((kind) => `\`${kind.type}\` (${kind.status})`)
  .join(', ')

const problemProperties = {
  type: Type.String({
    format: 'uri',
    description: `A stable URI identifying the kind of error; compare it, not \`title\`. Known types: ${problemTypeList}. New types may be added; all start with \`${PROBLEM_TYPE_PREFIX}\`.`,
    examples: [problemKinds.notFound.type]
  }),
  title: Type.String({ description: 'Short summary of the kind of error; the same for every occurrence of a `type`.' }),
  status: Type.Integer({ minimum: 400, maximum: 599, description: 'The HTTP status code.' }),
  detail: Type.Optional(Type.String({ description: 'Explanation specific to this occurrence.' })),
  instance: Type.Optional(Type.String({ description: 'The request path this problem occurred on.' }))
}

export const ProblemSchema = Type.Object(problemProperties, {
  $id: 'Problem',
  description: 'An RFC 9457 problem details object.',
  additionalProperties: true
})

export const ValidationProblemSchema = Type.Object({
  ...problemProperties,
  errors: Type.Array(ref(FieldErrorSchema), { description: 'What is wrong, one entry per offending value.' })
}, {
  $id: 'ValidationProblem',
  description: `Problem details for a request that is not valid (\`${problemKinds.validation.type}\`).`,
  additionalProperties: true
})

export const commonSchemas = [FieldErrorSchema, ProblemSchema, ValidationProblemSchema]

const requestIdHeader = {
  'x-request-id': {
    description: 'The request id: the `x-request-id` sent with the request when it was 1 to 200 visible ASCII characters, otherwise a generated UUID.',
    type: 'string'
  }
}

type Headers = Record<string, { description: string, type: string }>

/** A JSON success response, documented with its headers. */
export function jsonResponse<T extends TSchema> (schema: T, description: string, headers: Headers = {}) {
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/json': { schema } }
  }
}

export function problemResponse<T extends TSchema> (schema: T, description: string, headers: Headers = {}) {
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/problem+json': { schema } }
  }
}

const problemResponses = {
  400: problemResponse(ref(ValidationProblemSchema), 'The request is not valid: a schema violation, a malformed id or cursor, or a body that is not JSON.'),
  401: problemResponse(ref(ProblemSchema), 'The bearer key is missing or wrong.', {
    'WWW-Authenticate': { description: 'Always `Bearer`, with `error="invalid_token"` when a key was sent but not accepted.', type: 'string' }
  }),
  404: problemResponse(ref(ProblemSchema), 'The resource does not exist.'),
  409: problemResponse(ref(ProblemSchema), 'The request conflicts with the current state of the resource.'),
  413: problemResponse(ref(ProblemSchema), 'The request body is larger than the limit.'),
  415: problemResponse(ref(ProblemSchema), 'The request body is not `application/json`.'),
  500: problemResponse(ref(ProblemSchema), 'An unexpected error; nothing about it is disclosed beyond the request id.'),
  503: problemResponse(ref(ProblemSchema), 'The database is unreachable or the server is shutting down; retry later.', {
    'Retry-After': { description: 'Seconds to wait before retrying.', type: 'integer' }
  })
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

/** `security` of the operator operations: the ADMIN_API_KEYS bearer scheme (a new array each time, so YAML has no aliases). */
export function adminSecurity () {
  return [{ adminKey: [] }]
}

/** Responses for operations that take a JSON body: it may be too large or not JSON. */
export const bodyProblems = [400, 413, 415] as const
