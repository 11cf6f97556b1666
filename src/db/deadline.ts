/**
 * `work`, or the error `overdue()` makes once `ms` have passed, whichever comes first. A query on a
 * database that died under it can stay unsettled for ever (seen with postgres.js in a failover);
 * what waits on it must not. The work itself is left to end as it may.
 */
export async function withinDeadline<T> (work: Promise<T>, ms: number, overdue: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(overdue()) }, ms)
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Whether `work` settles (resolves or rejects) within `ms`; it is left to go on either way. For a
 * wait that has a fallback at its end rather than an error (a shutdown that cuts what still runs).
 */
export async function settlesWithin (work: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withinDeadline(work.then(() => {}, () => {}), ms, () => new Error('still running'))
    return true
  } catch {
    return false
  }
}
