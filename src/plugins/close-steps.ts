import type { FastifyInstance } from 'fastify'

/**
 * The onClose steps still running, per app. Every scope of one app shares its HTTP server, so the
 * server is the key: a feature's encapsulated scope and the root see the same steps.
 */
const running = new WeakMap<object, Map<string, number>>()

/**
 * Runs `step` when the app closes (waiting for background work to end), named in
 * `closeStepsRunning` while it runs: a shutdown out of time can then say what it cut short.
 */
export function onCloseStep (app: FastifyInstance, name: string, step: () => Promise<void>): void {
  app.addHook('onClose', async () => {
    let steps = running.get(app.server)
    if (steps === undefined) running.set(app.server, steps = new Map<string, number>())
    steps.set(name, (steps.get(name) ?? 0) + 1)
    try {
      await step()
    } finally {
      const left = (steps.get(name) ?? 1) - 1
      if (left === 0) steps.delete(name)
      else steps.set(name, left)
    }
  })
}

/** The names of the onClose steps of `app` that have begun and not yet ended. */
export function closeStepsRunning (app: FastifyInstance): string[] {
  return [...(running.get(app.server)?.keys() ?? [])]
}
