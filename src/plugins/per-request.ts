import type { FastifyRequest } from 'fastify'

/** `compute` run at most once per request: every later call for the same request shares its answer. */
export function oncePerRequest<T> (compute: (request: FastifyRequest) => Promise<T>): (request: FastifyRequest) => Promise<T> {
  const answers = new WeakMap<FastifyRequest, Promise<T>>()
  return async function once (request) {
    let answer = answers.get(request)
    if (answer === undefined) {
      answer = compute(request)
      answers.set(request, answer)
    }
    return await answer
  }
}
