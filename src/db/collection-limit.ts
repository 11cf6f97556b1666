import { ProblemError, problemKinds } from '../problems.js'
import type { Queryable } from './sql.js'

export interface CollectionLimit {
  /** The parent row, e.g. an event. */
  parent: { table: string, id: string }
  /** The rows counted against the limit: `table` rows whose `column` is the parent's id. */
  children: { table: string, column: string }
  limit: number
  /** The problem's detail when the limit is reached. */
  detail: string
}

/**
 * Locks the parent row (`FOR NO KEY UPDATE`: concurrent additions wait, inserts referencing it do
 * not) and refuses with a 409 limit-reached when it has `limit` children already, so concurrent
 * additions cannot pass the limit. Returns false when the parent does not exist.
 */
export async function lockBelowLimit (tx: Queryable, { parent, children, limit, detail }: CollectionLimit): Promise<boolean> {
  const [row] = await tx<{ count: number }[]>`
    select (select count(*)::int from ${tx(children.table)} where ${tx(children.column)} = ${parent.id}) as count
    from ${tx(parent.table)} where id = ${parent.id} for no key update
  `
  if (row === undefined) return false
  if (row.count >= limit) throw new ProblemError(problemKinds.limitReached, detail, { limit })
  return true
}
