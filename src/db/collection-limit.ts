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
  const [locked] = await tx`select 1 from ${tx(parent.table)} where id = ${parent.id} for no key update`
  if (locked === undefined) return false
  // Counted by a statement of its own: its snapshot is taken after the lock was granted, so it sees
  // what the transactions that held the lock before committed.
  const [row] = await tx<{ count: number }[]>`select count(*)::int as count from ${tx(children.table)} where ${tx(children.column)} = ${parent.id}`
  if ((row?.count ?? 0) >= limit) throw new ProblemError(problemKinds.limitReached, detail, { limit })
  return true
}
