import type { FastifyInstance } from 'fastify'
import { withinDeadline } from '../db/deadline.js'
import { onCloseStep } from './close-steps.js'

export interface PeriodicJob<T> {
  /** Names the job in the log. */
  name: string
  /** How often a round starts; 0 turns the job off. */
  intervalMs: number
  /** When the first round starts (default `intervalMs`): a process restarted more often than that still runs the job. */
  firstAfterMs?: number
  /**
   * A round stuck on a database that died under it must not stop the rounds after it (after a
   * failover): past this, the next round may start.
   */
  deadlineMs: number
  /** One round; `signal` aborts when the app closes, so a long round can stop between steps. */
  round: (signal: AbortSignal) => Promise<T>
  /** What a round that ended reports (e.g. logs what it did). */
  report: (result: T) => void
  /** Told of a round that failed (it is logged as an error too). */
  failed?: (error: unknown) => void
}

/**
 * Runs `round` every `intervalMs` in the background, one round at a time in this process, for as
 * long as the app lives; closing the app waits for the round in progress.
 */
export function runPeriodically<T> (app: FastifyInstance, { name, intervalMs, firstAfterMs = intervalMs, deadlineMs, round, report, failed }: PeriodicJob<T>): void {
  if (intervalMs <= 0) return
  const closing = new AbortController()
  let running: Promise<void> | undefined
  const start = (): void => {
    if (running !== undefined) return
    running = withinDeadline(round(closing.signal), deadlineMs, () => new Error(`the ${name} did not end within ${deadlineMs} ms; the next round starts anew`))
      .then(report)
      .catch((error: unknown) => {
        failed?.(error)
        app.log.error({ err: error }, `${name} failed`)
      })
      .finally(() => { running = undefined })
  }
  let timer = setTimeout(() => {
    start()
    timer = setInterval(start, intervalMs).unref()
  }, firstAfterMs).unref()
  onCloseStep(app, name, async () => {
    clearTimeout(timer)
    clearInterval(timer)
    closing.abort()
    await running
  })
}
