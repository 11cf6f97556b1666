import { ProblemError, problemKinds } from '../problems.js'
import { isDatabaseTimeout, isDatabaseUnavailable } from './sql.js'

export interface GroupCommitOptions {
  /** Most requests decided in one transaction. */
  maxBatchSize: number
  /** Most batch transactions open at once (each holds one pool connection). */
  maxConcurrentBatches: number
  /** Most requests waiting for a slot; beyond it new ones are refused at once with a 503. */
  maxQueued: number
  /** The 503's detail for a request refused because the queue is full. */
  busy: string
}

interface Pending<Request, Outcome> {
  request: Request
  resolve: (outcome: Outcome) => void
  reject: (error: unknown) => void
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
export function createGroupCommit<Request, Outcome> (decide: (requests: Request[]) => Promise<Outcome[]>, options: GroupCommitOptions) {
  const queue: Array<Pending<Request, Outcome>> = []
  let running = 0

  async function decideOneByOne (batch: Array<Pending<Request, Outcome>>): Promise<void> {
    for (const entry of batch) {
      try {
        const [outcome] = await decide([entry.request])
        if (outcome === undefined) throw new Error('a batch of one gave no outcome')
        entry.resolve(outcome)
      } catch (error) {
        entry.reject(error)
      }
    }
  }

  async function run (batch: Array<Pending<Request, Outcome>>): Promise<void> {
    try {
      const outcomes = await decide(batch.map((entry) => entry.request))
      batch.forEach((entry, index) => {
        const outcome = outcomes[index]
        if (outcome === undefined) entry.reject(new Error('the batch gave no outcome for a request'))
        else entry.resolve(outcome)
      })
    } catch (error) {
      // Deciding one by one helps when one request broke the batch, not when the database did.
      if (batch.length === 1 || isDatabaseUnavailable(error) || isDatabaseTimeout(error)) {
        for (const entry of batch) entry.reject(error)
      } else {
        await decideOneByOne(batch)
      }
    }
  }

  function pump (): void {
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
    async submit (request: Request): Promise<Outcome> {
      if (queue.length >= options.maxQueued) {
        throw new ProblemError(problemKinds.unavailable, options.busy, {}, { 'Retry-After': '1' })
      }
      return await new Promise<Outcome>((resolve, reject) => {
        queue.push({ request, resolve, reject })
        pump()
      })
    }
  }
}
