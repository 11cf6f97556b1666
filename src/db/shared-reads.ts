/**
 * A query that has run this long no longer holds back the reads that wait for the next round: a
 * query on a connection that died can stay unsettled for ever, and the reads of its key with it.
 */
export const ABANDON_ROUND_AFTER_MS = 2_000

/**
 * Identical reads that arrive together share one query, and no read is answered by a query that
 * began before it arrived. A read of a key that no query is reading runs at once; a read that finds
 * one in flight waits for the next, which starts as soon as that one ends and answers every read
 * that arrived meanwhile. So each answer is what the database held at some instant after its
 * request arrived: a booking, a cancellation or a key revocation committed before a request came
 * in is always seen, on this process or any other, while a hot key (one event's tiers read by many
 * buyers, one integrator's key on every request) costs one query per round trip instead of one
 * per request. An idle server adds no delay. A query still running after `abandonAfterMs` is left
 * to finish on its own (its readers still get its answer): the next read of its key starts the
 * next round without it, for itself and the reads that were waiting.
 *
 * Every reader of a round gets the same value, so callers must not change it. A failed query fails
 * the reads of its round (a new round starts for the reads that came after it).
 */
export function sharedReads<Args, Value> (
  load: (args: Args) => Promise<Value>,
  keyOf: (args: Args) => string,
  abandonAfterMs = ABANDON_ROUND_AFTER_MS
): (args: Args) => Promise<Value> {
  interface Flight {
    /** The round that starts when this one ends, once a read waits for it. */
    next: PromiseWithResolvers<Value> | undefined
    startedAt: number
  }
  const flights = new Map<string, Flight>()

  /** `args` are the first reader's of the round; the key says every reader's would read the same. */
  function start (key: string, args: Args): Promise<Value> {
    const flight: Flight = { next: undefined, startedAt: performance.now() }
    flights.set(key, flight)
    const running = (async () => await load(args))()
    const settled = (): void => {
      if (flights.get(key) !== flight) return
      if (flight.next === undefined) flights.delete(key)
      else flight.next.resolve(start(key, args))
    }
    running.then(settled, settled)
    return running
  }

  return async function read (args: Args): Promise<Value> {
    const key = keyOf(args)
    const flight = flights.get(key)
    if (flight === undefined) return await start(key, args)
    if (performance.now() - flight.startedAt > abandonAfterMs) {
      // Left to finish on its own: this read starts the next round, for the reads waiting too.
      const fresh = start(key, args)
      flight.next?.resolve(fresh)
      return await fresh
    }
    flight.next ??= withResolvers<Value>()
    return await flight.next.promise
  }
}

interface PromiseWithResolvers<T> {
  promise: Promise<T>
  resolve: (value: T | Promise<T>) => void
}

/** `Promise.withResolvers` (Node 22), for Node 20. */
function withResolvers<T> (): PromiseWithResolvers<T> {
  let settle: (value: T | Promise<T>) => void = () => {}
  const promise = new Promise<T>((resolve) => { settle = resolve })
  return { promise, resolve: settle }
}
