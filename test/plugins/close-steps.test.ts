import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { describe, expect, it } from 'vitest'
import { closeStepsRunning, onCloseStep } from '../../src/plugins/close-steps.js'

describe('onCloseStep', () => {
  it('names the steps that are still running while the app closes, from every scope, until each ends', async () => {
    const app = Fastify()
    const gates = new Map<string, () => void>()
    const gated = (name: string) => async () => { await new Promise<void>((resolve) => { gates.set(name, resolve) }) }
    onCloseStep(app, 'root step', gated('root step'))
    // An encapsulated scope (a feature) and an fp plugin (background work) report to the same app.
    app.register(async (scope) => { onCloseStep(scope, 'scoped step', gated('scoped step')) })
    app.register(fp(async (plugin) => { onCloseStep(plugin, 'root step', gated('second root step')) }))
    await app.ready()
    expect(closeStepsRunning(app)).toEqual([])

    const closing = app.close()
    // onClose hooks run one after another: each is named while it runs, and only then.
    const seen: Array<{ gate: string, running: string[] }> = []
    for (let n = 0; n < 3; n++) {
      const gate = await nextGate(gates, seen.map((each) => each.gate))
      seen.push({ gate, running: closeStepsRunning(app) })
      gates.get(gate)?.()
    }
    await closing
    const stepOf = { 'root step': 'root step', 'second root step': 'root step', 'scoped step': 'scoped step' }
    expect(seen.map((each) => each.gate).sort()).toEqual(['root step', 'scoped step', 'second root step'])
    for (const { gate, running } of seen) expect(running).toEqual([stepOf[gate as keyof typeof stepOf]])
    expect(closeStepsRunning(app)).toEqual([])
  })

  it('forgets a step that failed', async () => {
    const app = Fastify()
    onCloseStep(app, 'failing step', async () => { throw new Error('it failed') })
    await app.ready()
    await expect(app.close()).rejects.toThrow('it failed')
    expect(closeStepsRunning(app)).toEqual([])
  })
})

/** The gate of the step that runs now: the first not yet seen. */
async function nextGate (gates: Map<string, () => void>, seen: string[]): Promise<string> {
  for (let tries = 0; tries < 1000; tries++) {
    const gate = [...gates.keys()].find((name) => !seen.includes(name))
    if (gate !== undefined) return gate
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error('no further step ran')
}
