import { describe, expect, it } from 'vitest'
import { createGroupCommit } from '../../src/db/group-commit.js'

/*
 * The group commit's queueing, with a decide function that records its batches and finishes when
 * told to: requests that find a free slot go at once; with keys, batches in flight never hold one
 * key more than `perKey` times, the key's other requests wait and then go together, in arrival
 * order, while requests for other keys go on.
 */

interface Item { id: number, keys: string[] }

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
  it('keeps at most perKey batches on a key and sends its waiting requests together, while other keys go on', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 100, maxConcurrentBatches: 4, maxQueued: 100, busy: 'busy', keysOf: (item) => item.keys, perKey: 1 })
    const hot = (id: number): Item => ({ id, keys: ['hot'] })
    const answers = [batcher.submit(hot(1)), batcher.submit(hot(2)), batcher.submit(hot(3)), batcher.submit({ id: 4, keys: ['cold'] }), batcher.submit({ id: 5, keys: ['hot', 'cold'] })]
    await tick()
    // 1 goes alone; 2 and 3 wait for the hot key; 4 goes on its own key; 5 needs both.
    expect(r.batches).toEqual([[1], [4]])
    await r.finishOne()
    expect(r.batches).toEqual([[1], [4], [2, 3]])
    await r.finishOne()
    expect(r.batches.at(-1)).toEqual([2, 3])
    await r.finishOne()
    expect(r.batches).toEqual([[1], [4], [2, 3], [5]])
    await r.finishOne()
    expect(await Promise.all(answers)).toEqual([1, 2, 3, 4, 5])
  })

  it('lets perKey batches hold one key at once, and without keys fills every slot', async () => {
    const keyed = recorder()
    const two = createGroupCommit(keyed.decide, { maxBatchSize: 100, maxConcurrentBatches: 4, maxQueued: 100, busy: 'busy', keysOf: (item) => item.keys, perKey: 2 })
    const first = Array.from({ length: 6 }, async (_, id) => await two.submit({ id, keys: ['hot'] }))
    await tick()
    expect(keyed.batches).toEqual([[0], [1]])
    expect(keyed.inFlight()).toBe(2)
    while (keyed.inFlight() > 0) await keyed.finishOne()
    expect(await Promise.all(first)).toEqual([0, 1, 2, 3, 4, 5])
    expect(keyed.batches.flat()).toEqual([0, 1, 2, 3, 4, 5])

    const plain = recorder()
    const any = createGroupCommit(plain.decide, { maxBatchSize: 100, maxConcurrentBatches: 4, maxQueued: 100, busy: 'busy' })
    const second = Array.from({ length: 6 }, async (_, id) => await any.submit({ id, keys: ['hot'] }))
    await tick()
    expect(plain.batches).toEqual([[0], [1], [2], [3]])
    while (plain.inFlight() > 0) await plain.finishOne()
    expect(await Promise.all(second)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('drains: resolves once every request submitted is decided, at once when nothing is pending', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 2, maxConcurrentBatches: 1, maxQueued: 100, busy: 'busy' })
    await batcher.drain()
    const answers = Array.from({ length: 5 }, async (_, id) => await batcher.submit({ id, keys: [] }))
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

  it('fails a batch past its deadline with a 503, and gives its slot to the next batch on the key', async () => {
    const r = recorder()
    const batcher = createGroupCommit(r.decide, { maxBatchSize: 100, maxConcurrentBatches: 1, maxQueued: 100, busy: 'busy', keysOf: (item) => item.keys, deadlineMs: 50 })
    const stuck = batcher.submit({ id: 1, keys: ['hot'] })
    const next = batcher.submit({ id: 2, keys: ['hot'] })
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
