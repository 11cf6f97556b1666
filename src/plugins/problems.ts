import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isDatabaseTimeout, isDatabaseUnavailable, isPostgresError } from '../db/sql.js'
import { ProblemError, problemKinds, unavailableProblem, validationProblem, type FieldError } from '../problems.js'
import { PROBLEM_LIMITS } from '../schemas/common.js'

interface ValidationIssue {
  instancePath: string
  keyword: string
  params: Record<string, unknown>
  message?: string
}

const PART_NAMES: Record<string, string> = {
  body: 'request body',
  querystring: 'query string',
  params: 'path parameters',
  headers: 'request headers'
}

function escapePointer (segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1')
}

function toFieldError (issue: ValidationIssue): FieldError {
  const { additionalProperty, missingProperty } = issue.params
  if (issue.keyword === 'additionalProperties' && typeof additionalProperty === 'string') {
    return { path: `${issue.instancePath}/${escapePointer(additionalProperty)}`, message: 'is not a known property' }
  }
  if (issue.keyword === 'required' && typeof missingProperty === 'string') {
    return { path: `${issue.instancePath}/${escapePointer(missingProperty)}`, message: 'is required' }
  }
  if (issue.keyword === 'minProperties' && issue.params.limit === 1) {
    return { path: issue.instancePath, message: 'must contain at least one property' }
  }
  return { path: issue.instancePath, message: issue.message ?? `fails ${issue.keyword}` }
}

/** Ajv reports a nullable mismatch as one `type` error per branch plus `anyOf`; say it once. */
function mergeTypeIssues (issues: ValidationIssue[]): FieldError[] {
  const errors: FieldError[] = []
  const typesAt = new Map<string, string[]>()
  for (const issue of issues) {
    if (issue.keyword === 'anyOf' && issues.length > 1) continue
    if (issue.keyword === 'type' && typeof issue.params.type === 'string') {
      const types = typesAt.get(issue.instancePath)
      if (types !== undefined) {
        types.push(issue.params.type)
        continue
      }
      const first = [issue.params.type]
      typesAt.set(issue.instancePath, first)
      errors.push({ path: issue.instancePath, message: '' })
      continue
    }
    errors.push(toFieldError(issue))
  }
  return errors.map((error) => {
    const types = error.message === '' ? typesAt.get(error.path) : undefined
    return types === undefined ? error : { path: error.path, message: `must be ${types.join(' or ')}` }
  })
}

function validationError (issues: ValidationIssue[], part: string | undefined): ProblemError {
  const shown = mergeTypeIssues(issues)
  const where = PART_NAMES[part ?? ''] ?? 'request'
  const first = shown[0]
  const summary = first === undefined ? '' : `: ${first.path || '(root)'} ${first.message}`
  return new ProblemError(problemKinds.validation, `The ${where} is not valid${summary}.`, { errors: shown })
}

/** Maps anything thrown while handling a request to a problem a client may see. */
function toProblem (error: FastifyError | ProblemError | Error): ProblemError {
  if (error instanceof ProblemError) return error
  const fastifyError = error as FastifyError
  if (Array.isArray(fastifyError.validation)) {
    return validationError(fastifyError.validation, fastifyError.validationContext)
  }
  if (isPostgresError(error, '22021') || isPostgresError(error, '22P05')) {
    return validationProblem([{ path: '', message: 'contains characters that cannot be stored' }], 'The request contains characters that cannot be stored.')
  }
  if (isDatabaseTimeout(error)) {
    return unavailableProblem('The database did not answer in time (the tickets are in great demand); retry shortly.')
  }
  if (isDatabaseUnavailable(error)) {
    return unavailableProblem('The database is unreachable; retry shortly.')
  }
  const status = fastifyError.statusCode ?? 500
  const isFrameworkClientError = status >= 400 && status < 500 && fastifyError.code?.startsWith('FST_') === true
  if (!isFrameworkClientError) return new ProblemError(problemKinds.internal)

  switch (status) {
    case 413: return new ProblemError(problemKinds.payloadTooLarge, fastifyError.message)
    case 414: return validationProblem([{ path: '', message: 'is too long' }], 'The path parameters are not valid: a path segment is too long.')
    case 415: return new ProblemError(problemKinds.unsupportedMediaType, 'Send the body as application/json.')
    case 400: return new ProblemError(problemKinds.validation, `The request cannot be read: ${fastifyError.message}.`, {
      errors: [{ path: '', message: fastifyError.message }]
    })
    default: return new ProblemError({ ...problemKinds.clientError, status }, fastifyError.message)
  }
}

/** Cuts a text to `max` characters, marking the cut. */
function bounded (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

/** Keeps a problem within the bounds its schema declares (PROBLEM_LIMITS), whatever the input was. */
function boundedExtensions (extensions: Record<string, unknown>): Record<string, unknown> {
  const errors = extensions.errors
  if (!Array.isArray(errors)) return extensions
  return {
    ...extensions,
    errors: (errors as FieldError[]).slice(0, PROBLEM_LIMITS.errors).map((error) => ({
      path: bounded(error.path, PROBLEM_LIMITS.fieldText),
      message: bounded(error.message, PROBLEM_LIMITS.fieldText)
    }))
  }
}

/** The problem document of `problem` answered to a request for `url`. */
export function problemBody (problem: ProblemError, url: string): Record<string, unknown> {
  const { kind, detail, extensions } = problem
  return {
    type: kind.type,
    title: kind.title,
    status: kind.status,
    ...(detail !== undefined && detail !== kind.title ? { detail: bounded(detail, PROBLEM_LIMITS.text) } : {}),
    // The path alone, even for an absolute-form request target.
    instance: bounded(new URL(url, 'http://localhost').pathname, PROBLEM_LIMITS.text),
    ...boundedExtensions(extensions)
  }
}

/** The problem type each answered request got, for its request log line. */
const answeredProblems = new WeakMap<FastifyRequest, string>()

/** The `type` of the problem `request` was answered with, if it was. */
export function problemTypeOf (request: FastifyRequest): string | undefined {
  return answeredProblems.get(request)
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, problem: ProblemError) {
  answeredProblems.set(request, problem.kind.type)
  return reply.code(problem.kind.status).headers(problem.headers).type('application/problem+json').send(problemBody(problem, request.url))
}

/** For Fastify's `frameworkErrors`: URLs the router cannot even decode, before any hook runs. */
export function handleFrameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id)
  void sendProblem(request, reply, toProblem(error))
}

/** PostgreSQL text cannot hold U+0000; finds the first string that has it, as a JSON Pointer. */
function findNulCharacter (value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? path : undefined
  if (typeof value !== 'object' || value === null) return undefined
  for (const [key, child] of Object.entries(value)) {
    const found = findNulCharacter(child, `${path}/${escapePointer(key)}`)
    if (found !== undefined) return found
  }
  return undefined
}

/** Names of the integer or number parameters a querystring schema declares. */
function numericQueryParameters (schema: unknown): string[] {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> } | undefined)?.properties ?? {}
  return Object.entries(properties)
    .filter(([, property]) => property.type === 'integer' || property.type === 'number')
    .map(([name]) => name)
}

/**
 * One place that turns errors and unknown routes into RFC 9457 problem details. Client
 * errors keep their message; anything else becomes a bare 500 logged with the request id.
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
export default fp(async function problemsPlugin (app: FastifyInstance) {
  app.setErrorHandler(function handleError (error: FastifyError, request, reply) {
    const problem = toProblem(error)
    if (problem.kind.status >= 500) {
      request.log.error({ err: error }, 'request failed')
    } else {
      // The request line names the problem type; the detail (it may hold ids) only at debug.
      request.log.debug({ problem: problem.kind.type, detail: problem.detail }, 'request rejected')
    }
    return sendProblem(request, reply, problem)
  })

  app.addHook('preValidation', async function rejectWhatValidationMisses (request) {
    for (const [part, value] of [['request body', request.body], ['query string', request.query]] as const) {
      const path = findNulCharacter(value)
      if (path !== undefined) {
        throw validationProblem([{ path, message: 'must not contain the NUL character (U+0000)' }], `The ${part} is not valid: ${path || '(root)'} contains U+0000.`)
      }
    }
    const numeric = numericQueryParameters(request.routeOptions.schema?.querystring)
    const query = (request.query ?? {}) as Record<string, unknown>
    for (const name of numeric) {
      const given = query[name]
      // Ajv coerces "1e309" to Infinity and then skips minimum/maximum; refuse it here.
      if (typeof given === 'string' && given.trim() !== '' && !Number.isFinite(Number(given))) {
        throw validationProblem([{ path: `/${escapePointer(name)}`, message: 'must be a finite number' }], `The query string is not valid: /${name} must be a finite number.`)
      }
    }
  })

  // Fastify's own 503 while closing is not a problem document; answer it here instead.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onRequest', async function refuseWhileClosing (_request, reply) {
    if (!closing) return
    reply.header('connection', 'close')
    throw unavailableProblem('The server is shutting down; retry shortly.')
  })

  app.setNotFoundHandler(function handleNotFound (request, reply) {
    const path = request.url.split('?')[0] ?? ''
    const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path
    return sendProblem(request, reply, new ProblemError(problemKinds.notFound, `No operation matches ${request.method} ${shown}.`))
  })
}, { name: 'problems' })
