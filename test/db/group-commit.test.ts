import { describe, expect, it } from 'vitest'
import { createGroupCommit } from '../../src/db/group-commit.js'

/*
 * The group commit's queueing, with a decide function that records its batches and finishes when
 * told to: requests that find a free slot go at once; those that arrive while every slot is busy
 * wait and then go together, in arrival order, up to the batch size.
 */

interface Item { id: number }

function recorder () {
  const batches: number[][] = []
  const open: Array<() => void> = []
  const decide = async (requests: Item[]): Promise<number[]> => {
    batches.push(requests.map((request) => request.id))
    await new Promise<void>((resolve) => open.push(resolve))
    return requests.map((request) => request.id)
  }
  /** Finishes the oldest batch in flight and lets the queue move. */
  const finishOne = async (): Promise<void> => {
    open.shift()?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { batches, decide, finishOne, inFlight: () => open.length }
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

describe('group commit', () => {
  it('decides a request at once in a free slot, and those arriving while the slot is busy together in the next batch, in arrival order', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 3, maxConcurrentBatches: 1, maxQueued: 100, busy: 'busy' })
    const answers = Array.from({ length: 6 }, async (_, id) => await batcher.submit({ id }))
    await tick()
    expect(r.batches).toEqual([[0]])
    await r.finishOne()
    expect(r.batches).toEqual([[0], [1, 2, 3]])
    await r.finishOne()
    expect(r.batches).toEqual([[0], [1, 2, 3], [4, 5]])
    await r.finishOne()
    expect(await Promise.all(answers)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('fills every slot before it makes anyone wait', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 100, maxConcurrentBatches: 3, maxQueued: 100, busy: 'busy' })
    const answers = Array.from({ length: 6 }, async (_, id) => await batcher.submit({ id }))
    await tick()
    expect(r.batches).toEqual([[0], [1], [2]])
    expect(r.inFlight()).toBe(3)
    await r.finishOne()
    expect(r.batches).toEqual([[0], [1], [2], [3, 4, 5]])
    while (r.inFlight() > 0) await r.finishOne()
    expect(await Promise.all(answers)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('refuses a request with a 503 at once when the queue is full', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 100, maxConcurrentBatches: 1, maxQueued: 2, busy: 'Too busy.' })
    const admitted = [batcher.submit({ id: 0 }), batcher.submit({ id: 1 }), batcher.submit({ id: 2 })]
    await expect(batcher.submit({ id: 3 })).rejects.toMatchObject({ kind: { status: 503 }, detail: 'Too busy.' })
    while (r.inFlight() > 0 || r.batches.flat().length < 3) await r.finishOne()
    expect(await Promise.all(admitted)).toEqual([0, 1, 2])
  })

  it('drains: resolves once every request submitted is decided, at once when nothing is pending', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 2, maxConcurrentBatches: 1, maxQueued: 100, busy: 'busy' })
    await batcher.drain()
    const answers = Array.from({ length: 5 }, async (_, id) => await batcher.submit({ id }))
    let drained = false
    const drain = batcher.drain().then(() => { drained = true })
    await tick()
    for (let batches = 0; batches < 3; batches++) {
      expect(drained).toBe(false)
      await r.finishOne()
    }
    await drain
    expect(drained).toBe(true)
    expect(await Promise.all(answers)).toEqual([0, 1, 2, 3, 4])
  })

  it('fails a batch past its deadline with a 503, and gives its slot to the next batch', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 100, maxConcurrentBatches: 1, maxQueued: 100, busy: 'busy', deadlineMs: 50 })
    const stuck = batcher.submit({ id: 1 })
    const next = batcher.submit({ id: 2 })
    // The first batch never settles (a transaction on a database that died); its request gets a 503 at the deadline.
    await expect(stuck).rejects.toMatchObject({ kind: { status: 503 }, detail: 'The database did not answer in time; retry shortly.', headers: { 'Retry-After': '2' } })
    await tick()
    expect(r.batches).toEqual([[1], [2]])
    await r.finishOne()
    await r.finishOne()
    expect(await next).toBe(2)
    await batcher.drain()
  })
})
