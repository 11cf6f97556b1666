import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Sql } from '../db/sql.js'
import { createDispatcher, type DispatcherOptions } from '../features/webhooks/dispatcher.js'
import { createSender } from '../features/webhooks/sender.js'

/** Tuning of the dispatcher; the defaults are the contract's. */
export type WebhookDispatcherTuning = Pick<DispatcherOptions, 'retryDelaysMs' | 'concurrency' | 'pollIntervalMs' | 'leaseMs'> & {
  /** How long one attempt may take (default 10 s). */
  timeoutMs?: number
}

export interface WebhookDispatcherOptions extends WebhookDispatcherTuning {
  sql: Sql
  allowPrivateNetworks: boolean
}

/**
 * Runs the webhook dispatcher beside the API once the app is ready. On close it stops claiming
 * deliveries and waits for the attempts in flight (each bounded by its timeout) before the pool
 * is ended.
 */
export default fp(async function webhookDispatcherPlugin (app: FastifyInstance, { sql, allowPrivateNetworks, timeoutMs, ...tuning }: WebhookDispatcherOptions) {
  const sender = createSender({ allowPrivateNetworks, timeoutMs })
  const dispatcher = createDispatcher({ sql, sender, logger: app.log, ...tuning })
  app.addHook('onReady', async () => { await dispatcher.start() })
  app.addHook('onClose', async () => {
    await dispatcher.stop()
    await sender.close()
  })
}, { name: 'webhook-dispatcher' })
