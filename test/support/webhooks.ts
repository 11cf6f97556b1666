import type { Queryable } from '../../src/db/sql.js'
import { waitUntil } from './wait.js'

/**
 * Waits until every webhook delivery to an endpoint whose URL starts with `urlPrefix` (a
 * receiver's) has succeeded or failed: none is pending, so nothing more will be sent there. An
 * attempt is recorded only after the receiver has answered it, so the receiver's log then holds
 * every request it will get.
 */
export async function waitForSettledDeliveries (sql: Queryable, urlPrefix: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(async () => {
    const [row] = await sql<{ pending: number }[]>`
      select count(*)::int as pending
      from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
      where d.status = 'pending' and starts_with(w.url, ${urlPrefix})
    `
    return row?.pending === 0
  }, `no delivery to ${urlPrefix} is pending`, { timeoutMs, intervalMs: 20 })
}
