import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError, problemKinds } from '../problems.js'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']

/**
 * Answers a known path of the scope with an unsupported method with 405 and `Allow`, instead of
 * Fastify's 404. Call before the scope's routes are added, and register the returned plugin after
 * the last one: a route added after it would get no 405, so adding one fails at start-up.
 * @see https://www.rfc-editor.org/rfc/rfc9110#name-405-method-not-allowed
 */
export function trackMethodsForNotAllowed (app: FastifyInstance) {
  const methodsByUrl = new Map<string, Set<string>>()
  let sealed = false
  let answering = false
  app.addHook('onRoute', (route) => {
    if (answering) return
    if (sealed) throw new Error(`${[route.method].flat().join(',')} ${route.url} was added after method-not-allowed, so it would get no 405: register that plugin last`)
    const methods = methodsByUrl.get(route.url) ?? new Set<string>()
    for (const method of [route.method].flat()) methods.add(method)
    methodsByUrl.set(route.url, methods)
  })

  return fp(async function methodNotAllowedPlugin (instance: FastifyInstance) {
    sealed = true
    answering = true
    for (const [url, methods] of methodsByUrl) {
      const allow = METHODS.filter((method) => methods.has(method))
      const missing = METHODS.filter((method) => !methods.has(method))
      if (missing.length === 0) continue
      instance.route({
        method: missing,
        // Routes of the scope are known by their full path; the scope adds its prefix back.
        url: url.slice(instance.prefix.length),
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
    answering = false
  }, { name: 'method-not-allowed', dependencies: ['problems'] })
}
