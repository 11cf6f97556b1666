import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError, problemKinds } from '../problems.js'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']

/**
 * Answers a known API path (under `prefix`) with an unsupported method with 405 and `Allow`, instead of Fastify's 404.
 * Call before any route is added; register the returned plugin after the last one.
 * @see https://www.rfc-editor.org/rfc/rfc9110#name-405-method-not-allowed
 */
export function trackMethodsForNotAllowed (app: FastifyInstance, prefix: string) {
  const methodsByUrl = new Map<string, Set<string>>()
  let sealed = false
  app.addHook('onRoute', (route) => {
    if (sealed || !route.url.startsWith(prefix)) return
    const methods = methodsByUrl.get(route.url) ?? new Set<string>()
    for (const method of [route.method].flat()) methods.add(method)
    methodsByUrl.set(route.url, methods)
  })

  return fp(async function methodNotAllowedPlugin (instance: FastifyInstance) {
    sealed = true
    for (const [url, methods] of methodsByUrl) {
      const allow = METHODS.filter((method) => methods.has(method))
      const missing = METHODS.filter((method) => !methods.has(method))
      if (missing.length === 0) continue
      instance.route({
        method: missing,
        url,
        schema: { hide: true },
        handler: async function methodNotAllowed (request) {
          throw new ProblemError(
            problemKinds.methodNotAllowed,
            `${request.method} is not supported here; use ${allow.join(', ')}.`,
            {},
            { Allow: allow.join(', ') }
          )
        }
      })
    }
  }, { name: 'method-not-allowed' })
}
