/**
 * Resolves once `condition` holds, checking it every `intervalMs`; rejects after `timeoutMs`,
 * naming `what`. For waiting on a state (a row, a response, a request that arrived), not on a time.
 */
export async function waitUntil (
  condition: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 15_000, intervalMs = 25 }: { timeoutMs?: number, intervalMs?: number } = {}
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** How many of `pending` settle within `ms` (for "none is answered while …": a state that must last, so a time). */
export async function settledWithin (pending: Array<Promise<unknown>>, ms: number): Promise<number> {
  let settled = 0
  for (const each of pending) each.then(() => { settled++ }, () => { settled++ })
  await new Promise((resolve) => setTimeout(resolve, ms))
  return settled
}
