import type { Span } from '@opentelemetry/api'
import { ProblemError, problemKinds, RETRY_AFTER_SECONDS, unavailableProblem } from '../problems.js'
import { currentSpan, inSpan } from '../tracing.js'
import { withinDeadline } from './deadline.js'
import { isDatabaseTimeout, isDatabaseUnavailable } from './sql.js'

export interface GroupCommitOptions<Outcome> {
  /** Most requests decided in one transaction. */
  maxBatchSize: number
  /** Most batch transactions open at once (each holds one pool connection). */
  maxConcurrentBatches: number
  /** Most requests waiting for a slot; beyond it new ones are refused at once with a 503. */
  maxQueued: number
  /** The 503's detail for a request refused because the queue is full. */
  busy: string
  /**
   * How long a batch may take before its requests are failed with a 503 and its slot is given to
   * the next batch (default: no limit). A transaction on a database that died under it can stay
   * unsettled for ever; without this, the batches behind it would wait with it.
   */
  deadlineMs?: number
  /** Told the size of each batch as it starts (for the batch-size metric). */
  onBatch?: (size: number) => void
  /**
   * The span of each transaction: `name`, with the batch's size and, per `outcomeOf` of its
   * outcomes, how many ended so (`<name>.<outcome>` attributes). Without it, no span.
   */
  span?: { name: string, outcomeOf: (outcome: Outcome) => string }
}

/** A batch past its deadline: a 503, and its requests are not retried one by one. */
class OverdueBatch extends ProblemError {
  constructor () {
    super(problemKinds.unavailable, 'The database did not answer in time; retry shortly.', {}, { 'Retry-After': RETRY_AFTER_SECONDS })
  }
}

interface Pending<Request, Outcome> {
  request: Request
  resolve: (outcome: Outcome) => void
  reject: (error: unknown) => void
  /** The span of the code that submitted it (its request's), which the batch links to. */
  origin: Span | undefined
}

/**
 * Group commit, for bookings and scans. A request that finds a free slot is decided at once, alone; requests
 * arriving while the slots are busy queue up and are decided together in the next transaction,
 * in arrival order. So an idle server adds no delay, and a busy one pays for locks and a commit
 * once per batch instead of once per booking. If a batch fails on an unexpected error, its
 * requests are retried one by one, so one bad request never fails its neighbours (a database that
 * is unreachable or too slow fails them all at once instead). When the
 * database cannot keep up, the queue is bounded: requests beyond it get a 503 at once instead
 * of waiting without end.
 */
export function createGroupCommit<Request, Outcome> (decide: (requests: Request[]) => Promise<Outcome[]>, options: GroupCommitOptions<Outcome>) {
  const queue: Array<Pending<Request, Outcome>> = []
  let running = 0

  /**
   * A batch serves many requests, so its span starts a trace of its own, linked to each request's
   * span, and each request's span links back to it: an operator goes from a booking to the
   * transaction that decided it, and from there to the requests decided with it.
   */
  async function traced (batch: Array<Pending<Request, Outcome>>, work: (requests: Request[]) => Promise<Outcome[]>): Promise<Outcome[]> {
    if (options.span === undefined) return await work(batch.map((entry) => entry.request))
    const { name, outcomeOf } = options.span
    const links = batch.flatMap((entry) => entry.origin === undefined ? [] : [{ context: entry.origin.spanContext() }])
    return await inSpan(name, { links, attributes: { [`${name}.size`]: batch.length } }, async (span) => {
      const context = span.spanContext()
      for (const entry of batch) entry.origin?.addLink({ context })
      const outcomes = await work(batch.map((entry) => entry.request))
      const counts = new Map<string, number>()
      for (const outcome of outcomes) counts.set(outcomeOf(outcome), (counts.get(outcomeOf(outcome)) ?? 0) + 1)
      for (const [outcome, count] of counts) span.setAttribute(`${name}.${outcome}`, count)
      return outcomes
    })
  }

  async function decideOneByOne (batch: Array<Pending<Request, Outcome>>): Promise<void> {
    for (const entry of batch) {
      try {
        const [outcome] = await traced([entry], decide)
        if (outcome === undefined) throw new Error('a batch of one gave no outcome')
        entry.resolve(outcome)
      } catch (error) {
        entry.reject(error)
      }
    }
  }

  /** `decide`, failed with a 503 once `deadlineMs` has passed. */
  async function decideInTime (requests: Request[]): Promise<Outcome[]> {
    if (options.deadlineMs === undefined) return await decide(requests)
    return await withinDeadline(decide(requests), options.deadlineMs, () => new OverdueBatch())
  }

  async function run (batch: Array<Pending<Request, Outcome>>): Promise<void> {
    options.onBatch?.(batch.length)
    try {
      const outcomes = await traced(batch, decideInTime)
      batch.forEach((entry, index) => {
        const outcome = outcomes[index]
        if (outcome === undefined) entry.reject(new Error('the batch gave no outcome for a request'))
        else entry.resolve(outcome)
      })
    } catch (error) {
      // Deciding one by one helps when one request broke the batch, not when the database did.
      if (batch.length === 1 || error instanceof OverdueBatch || isDatabaseUnavailable(error) || isDatabaseTimeout(error)) {
        for (const entry of batch) entry.reject(error)
      } else {
        await decideOneByOne(batch)
      }
    }
  }

  const drained: Array<() => void> = []

  function pump (): void {
    if (running === 0 && queue.length === 0) for (const resolve of drained.splice(0)) resolve()
    while (running < options.maxConcurrentBatches && queue.length > 0) {
      const batch = queue.splice(0, options.maxBatchSize)
      running++
      void run(batch).finally(() => {
        running--
        pump()
      })
    }
  }

  return {
    /**
     * Resolves once every request submitted so far is decided (for shutdown: the pool must not
     * close under a batch whose client has gone, which the server no longer waits for).
     */
    async drain (): Promise<void> {
      if (running === 0 && queue.length === 0) return
      await new Promise<void>((resolve) => { drained.push(resolve) })
    },

    async submit (request: Request): Promise<Outcome> {
      if (queue.length >= options.maxQueued) {
        throw unavailableProblem(options.busy, '1')
      }
      return await new Promise<Outcome>((resolve, reject) => {
        queue.push({ request, resolve, reject, origin: currentSpan() })
        pump()
      })
    }
  }
}
