import { Type, type Static, type TSchema, type TString } from '@sinclair/typebox'
import { PROBLEM_TYPE_PREFIX, problemKinds } from '../problems.js'

/** A reference to a named component (`#/components/schemas/<$id>`) that keeps the static type. */
export function ref<T extends TSchema> (schema: T) {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id))
}

export function Nullable<T extends TSchema> (schema: T, description?: string) {
  return Type.Union([schema, Type.Null()], description === undefined ? {} : { description })
}

/**
 * A string or null, as `type: ["string", "null"]` rather than `anyOf`: the serializer writes such a
 * field directly, where an `anyOf` makes it validate every value to pick a branch (a list of 200
 * tickets took milliseconds longer to serialize).
 */
export function NullableString (schema: TString, description: string) {
  return Type.Unsafe<string | null>({ ...schema, type: ['string', 'null'], description })
}

/** The same schema with its own description, e.g. a UUID that names what it identifies. */
export function described<T extends TSchema> (schema: T, description: string): T {
  return { ...schema, description }
}

export const UuidSchema = Type.String({ format: 'uuid', maxLength: 36, examples: ['6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70'] })

export const EARLIEST_INSTANT = '1970-01-01T00:00:00.000Z'
export const LATEST_INSTANT = '9999-12-31T23:59:59.999Z'

/** `2026-12-31T20:00:00.123456789+01:00`: nanoseconds and an offset are the longest RFC 3339 form in use. */
export const MAX_DATE_TIME_LENGTH = 35

export const DateTimeSchema = Type.String({
  format: 'date-time',
  maxLength: MAX_DATE_TIME_LENGTH,
  description: `RFC 3339 date-time of at most ${MAX_DATE_TIME_LENGTH} characters. Input may carry any offset; output is always UTC with milliseconds. Between ${EARLIEST_INSTANT} and ${LATEST_INSTANT}.`,
  examples: ['2026-12-31T20:00:00.000Z']
})

export const CurrencySchema = Type.String({
  pattern: '^[A-Z]{3}$',
  maxLength: 3,
  description: 'ISO 4217 currency code: three capital letters.',
  examples: ['EUR']
})

export const NameSchema = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '\\S',
  description: '1 to 200 characters, not only whitespace.'
})

/** Bounds of problem documents; the error handler cuts longer texts and lists to them. */
export const PROBLEM_LIMITS = { text: 1000, fieldText: 500, errors: 100 } as const

export const FieldErrorSchema = Type.Object({
  path: Type.String({ maxLength: PROBLEM_LIMITS.fieldText, pattern: '^(/[^/]*)*$', description: 'JSON Pointer to the offending value within the part of the request named in `detail` (body, querystring, path parameters or headers); empty for the whole part.', examples: ['/items/0/quantity'] }),
  message: Type.String({ maxLength: PROBLEM_LIMITS.fieldText, description: 'What is wrong with it, in English.', examples: ['must be <= 10'] })
}, { $id: 'FieldError', additionalProperties: false, description: 'One offending value of a request.' })

const problemTypeList = Object.values(problemKinds)
  .map((kind) => `\`${kind.type}\` (${kind.status})`)
  .join(', ')

const problemProperties = {
  type: Type.String({
    format: 'uri',
    maxLength: 200,
    description: `A stable URI identifying the kind of error; compare it, not \`title\`. Known types: ${problemTypeList}. New types may be added; all start with \`${PROBLEM_TYPE_PREFIX}\`.`,
    examples: [problemKinds.notFound.type]
  }),
  title: Type.String({ maxLength: 200, description: 'Short summary of the kind of error; the same for every occurrence of a `type`.' }),
  status: Type.Integer({ format: 'int32', minimum: 400, maximum: 599, description: 'The HTTP status code.' }),
  detail: Type.Optional(Type.String({ maxLength: PROBLEM_LIMITS.text, description: 'Explanation specific to this occurrence.' })),
  instance: Type.Optional(Type.String({ maxLength: PROBLEM_LIMITS.text, pattern: '^/', description: 'The request path this problem occurred on.' }))
}

export const ProblemSchema = Type.Object(problemProperties, {
  $id: 'Problem',
  description: 'An RFC 9457 problem details object.',
  additionalProperties: true
})

export const ValidationProblemSchema = Type.Object({
  ...problemProperties,
  errors: Type.Array(ref(FieldErrorSchema), { maxItems: PROBLEM_LIMITS.errors, description: 'What is wrong, one entry per offending value.' })
}, {
  $id: 'ValidationProblem',
  description: `Problem details for a request that is not valid (\`${problemKinds.validation.type}\`).`,
  additionalProperties: true
})

export const commonSchemas = [FieldErrorSchema, ProblemSchema, ValidationProblemSchema]

export const MAX_PAGE_SIZE = 100
export const DEFAULT_PAGE_SIZE = 20
const MAX_CURSOR_LENGTH = 500

/** One page of a cursor-paginated list: `data`, and the cursor of the next page. */
export function PageSchema<T extends TSchema> (item: T, options: { $id: string, description: string, items: string }) {
  return Type.Object({
    data: Type.Array(ref(item), { maxItems: MAX_PAGE_SIZE, description: options.items }),
    nextCursor: NullableString(Type.String({ maxLength: MAX_CURSOR_LENGTH, pattern: '^[A-Za-z0-9_-]+$' }), 'Pass as `cursor` to get the next page; `null` on the last page.')
  }, { $id: options.$id, additionalProperties: false, description: options.description })
}

/**
 * The `limit` and `cursor` query parameters every cursor-paginated list takes. `cursor` has no
 * example on purpose: Swagger UI's "Try it out" would send it, and show a page after the example.
 */
export function pageQueryFields () {
  return {
    limit: Type.Optional(Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: `Page size, 1 to ${MAX_PAGE_SIZE}; ${DEFAULT_PAGE_SIZE} when left out.` })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_CURSOR_LENGTH, pattern: '^[A-Za-z0-9_-]+$', description: 'The `nextCursor` of the previous page; leave it out for the first.' }))
  }
}

/** Operations that take no query parameters reject unknown ones, like every other unknown input. */
export const NoQuerySchema = Type.Object({}, { additionalProperties: false })
