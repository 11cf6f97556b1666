import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { validationProblem } from '../problems.js'

/** Deeper than any body of the contract (a booking nests three levels); far below any stack limit. */
export const MAX_JSON_DEPTH = 32

const OPEN_BRACKET = 0x5b
const OPEN_BRACE = 0x7b
const CLOSE_BRACKET = 0x5d
const CLOSE_BRACE = 0x7d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** True when the JSON text opens more than `limit` arrays or objects inside one another. */
export function nestsDeeperThan (text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (inString) {
      if (code === BACKSLASH) index++
      else if (code === QUOTE) inString = false
    } else if (code === QUOTE) {
      inString = true
    } else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      if (++depth > limit) return true
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      depth--
    }
  }
  return false
}

/**
 * Fastify's own JSON parser (secure-json-parse: `__proto__` and `constructor.prototype` keys are
 * refused), behind a depth check on the raw text, so that a body nested thousands of levels deep
 * is a 400 before any recursive code (validation, canonical forms, the NUL check) walks it.
 * @see https://fastify.dev/docs/latest/Reference/ContentTypeParser/
 */
export default fp(async function jsonBodyPlugin (app: FastifyInstance) {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseBoundedJson (request, body, done) {
    const text = body.toString()
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      done(validationProblem([{ path: '', message: `nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep` }],
        `The request body is not valid: it nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`), undefined)
      return
    }
    void parseJson(request, text, done)
  })
}, { name: 'json-body', dependencies: ['problems'] })
