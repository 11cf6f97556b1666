/**
 * Identical reads that arrive together share one query, and no read is answered by a query that
 * began before it arrived. A read of a key that no query is reading runs at once; a read that finds
 * one in flight waits for the next, which starts as soon as that one ends and answers every read
 * that arrived meanwhile. So each answer is what the database held at some instant after its
 * request arrived: a booking, a cancellation or a key revocation committed before a request came
 * in is always seen, on this process or any other, while a hot key (one event's tiers read by many
 * buyers, one integrator's key on every request) costs one query per round trip instead of one
 * per request. An idle server adds no delay.
 *
 * Every reader of a round gets the same value, so callers must not change it. A failed query fails
 * the reads of its round (a new round starts for the reads that came after it).
 */
export function sharedReads<Args, Value> (load: (args: Args) => Promise<Value>, keyOf: (args: Args) => string): (args: Args) => Promise<Value> {
  /** Per key in flight: the round that will start when the running query ends, once someone waits for it. */
  const flights = new Map<string, { next: PromiseWithResolvers<Value> | undefined }>()

  /** `args` are the first reader's of the round; the key says every reader's would read the same. */
  function start (key: string, args: Args): Promise<Value> {
    const flight: { next: PromiseWithResolvers<Value> | undefined } = { next: undefined }
    flights.set(key, flight)
    const running = (async () => await load(args))()
    const settled = (): void => {
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
