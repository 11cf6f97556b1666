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
