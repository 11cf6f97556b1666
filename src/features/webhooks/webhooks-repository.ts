import { lockBelowLimit } from '../../db/collection-limit.js'
import type { Queryable, Sql } from '../../db/sql.js'
import {
  MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR,
  type WebhookDelivery, type WebhookEndpoint, type WebhookEndpointCreate, type WebhookEndpointUpdate, type WebhookEndpointWithSecret, type WebhookEventType
} from '../../schemas/webhooks.js'
import { DELIVERIES_CHANNEL } from './dispatcher.js'
import { recordPing } from './outbox.js'
import { generateWebhookSecret } from './sender.js'

/** How long a rotated-out secret still signs deliveries, so receivers can switch without a gap. */
export const SECRET_ROTATION_OVERLAP = '24 hours'

interface EndpointRow {
  id: string
  url: string
  events: WebhookEventType[]
  description: string | null
  createdAt: Date
  disabled: boolean
}

interface DeliveryRow {
  id: string
  endpointId: string
  eventId: string
  eventType: string
  status: WebhookDelivery['status']
  attempts: number
  createdAt: Date
  lastAttemptAt: Date | null
  lastResponseStatus: number | null
  lastError: string | null
  nextAttemptAt: Date | null
}

function toEndpoint (row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    createdAt: row.createdAt.toISOString(),
    disabled: row.disabled
  }
}

function toDelivery (row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    endpointId: row.endpointId,
    eventId: row.eventId,
    eventType: row.eventType,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.createdAt.toISOString(),
    lastAttemptAt: row.lastAttemptAt?.toISOString() ?? null,
    lastResponseStatus: row.lastResponseStatus,
    lastError: row.lastError,
    nextAttemptAt: row.nextAttemptAt?.toISOString() ?? null
  }
}

/** Webhook endpoints and their deliveries; every query is confined to one integrator's own. */
export function createWebhooksRepository (sql: Sql) {
  const endpointColumns = sql`id, url, events, description, created_at, disabled`
  const deliveryColumns = sql`
    d.id, d.endpoint_id, d.event_id, e.type as event_type, d.status, d.attempts, d.created_at,
    d.last_attempt_at, d.last_response_status, d.last_error, d.next_attempt_at
  `

  async function findDelivery (integratorId: string, deliveryId: string, q: Queryable = sql): Promise<WebhookDelivery | undefined> {
    const [row] = await q<DeliveryRow[]>`
      select ${deliveryColumns}
      from webhook_deliveries d join webhook_events e on e.id = d.event_id join webhook_endpoints w on w.id = d.endpoint_id
      where d.id = ${deliveryId} and w.integrator_id = ${integratorId}
    `
    return row === undefined ? undefined : toDelivery(row)
  }

  return {
    /** A new endpoint with its secret; a 409 limit-reached when the integrator has the most it may have. */
    async create (integratorId: string, input: WebhookEndpointCreate): Promise<WebhookEndpointWithSecret> {
      const secret = generateWebhookSecret()
      return await sql.begin(async (tx) => {
        await lockBelowLimit(tx, {
          parent: { table: 'integrators', id: integratorId },
          children: { table: 'webhook_endpoints', column: 'integrator_id' },
          limit: MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR,
          detail: `You have ${MAX_WEBHOOK_ENDPOINTS_PER_INTEGRATOR} webhook endpoints, the most an integrator may have; delete one first.`
        })
        const [row] = await tx<EndpointRow[]>`
          insert into webhook_endpoints (integrator_id, url, events, description, secret)
          values (${integratorId}, ${input.url}, ${[...new Set(input.events)]}::text[], ${input.description ?? null}, ${secret})
          returning ${endpointColumns}
        `
        if (row === undefined) throw new Error('insert returned no endpoint')
        return { ...toEndpoint(row), secret }
      })
    },

    /** Oldest first, after `after` when given; `hasMore` tells if another page follows. */
    async list (integratorId: string, limit: number, after?: { at: Date, id: string }): Promise<{ endpoints: WebhookEndpoint[], hasMore: boolean }> {
      const rows = await sql<EndpointRow[]>`
        select ${endpointColumns} from webhook_endpoints
        where integrator_id = ${integratorId}
          ${after === undefined ? sql`` : sql`and (created_at, id) > (${after.at}, ${after.id})`}
        order by created_at, id
        limit ${limit + 1}
      `
      return { endpoints: rows.slice(0, limit).map(toEndpoint), hasMore: rows.length > limit }
    },

    async findById (integratorId: string, id: string): Promise<WebhookEndpoint | undefined> {
      const [row] = await sql<EndpointRow[]>`
        select ${endpointColumns} from webhook_endpoints where id = ${id} and integrator_id = ${integratorId}
      `
      return row === undefined ? undefined : toEndpoint(row)
    },

    async update (integratorId: string, id: string, changes: WebhookEndpointUpdate): Promise<WebhookEndpoint | undefined> {
      const [row] = await sql<EndpointRow[]>`
        update webhook_endpoints set
          url = ${changes.url === undefined ? sql`url` : sql`${changes.url}`},
          events = ${changes.events === undefined ? sql`events` : sql`${[...new Set(changes.events)]}::text[]`},
          description = ${changes.description === undefined ? sql`description` : sql`${changes.description}`},
          disabled = ${changes.disabled === undefined ? sql`disabled` : sql`${changes.disabled}`}
        where id = ${id} and integrator_id = ${integratorId}
        returning ${endpointColumns}
      `
      return row === undefined ? undefined : toEndpoint(row)
    },

    /** Deletes an endpoint with its deliveries; false when the integrator has no such endpoint. */
    async delete (integratorId: string, id: string): Promise<boolean> {
      const rows = await sql`delete from webhook_endpoints where id = ${id} and integrator_id = ${integratorId} returning id`
      return rows.length > 0
    },

    /**
     * A new secret signs from now on; the one it replaces keeps signing beside it for 24 hours.
     * Rotating again within those hours drops the oldest.
     */
    async rotateSecret (integratorId: string, id: string): Promise<WebhookEndpointWithSecret | undefined> {
      const secret = generateWebhookSecret()
      const [row] = await sql<EndpointRow[]>`
        update webhook_endpoints
        set previous_secret = secret, previous_secret_expires_at = clock_timestamp() + ${SECRET_ROTATION_OVERLAP}::interval, secret = ${secret}
        where id = ${id} and integrator_id = ${integratorId}
        returning ${endpointColumns}
      `
      return row === undefined ? undefined : { ...toEndpoint(row), secret }
    },

    /**
     * Queues a `webhook.ping` for the endpoint; undefined when the integrator has no such endpoint,
     * `disabled` when it is disabled (a ping would wait until it is enabled).
     */
    async ping (integratorId: string, id: string): Promise<WebhookDelivery | 'disabled' | undefined> {
      // Read in the transaction: the delivery as queued, before a dispatcher can have attempted it.
      return await sql.begin(async (tx) => {
        const [endpoint] = await tx<{ id: string, disabled: boolean }[]>`
          select id, disabled from webhook_endpoints where id = ${id} and integrator_id = ${integratorId} for share
        `
        if (endpoint === undefined) return undefined
        if (endpoint.disabled) return 'disabled' as const
        return await findDelivery(integratorId, await recordPing(tx, { id, integratorId }), tx)
      })
    },

    /** The endpoint's deliveries, newest first; undefined when the integrator has no such endpoint. */
    async listDeliveries (integratorId: string, endpointId: string, limit: number, before?: { at: Date, id: string }): Promise<{ deliveries: WebhookDelivery[], hasMore: boolean } | undefined> {
      const [endpoint] = await sql`select 1 from webhook_endpoints where id = ${endpointId} and integrator_id = ${integratorId}`
      if (endpoint === undefined) return undefined
      const rows = await sql<DeliveryRow[]>`
        select ${deliveryColumns}
        from webhook_deliveries d join webhook_events e on e.id = d.event_id
        where d.endpoint_id = ${endpointId}
          ${before === undefined ? sql`` : sql`and (d.created_at, d.id) < (${before.at}, ${before.id})`}
        order by d.created_at desc, d.id desc
        limit ${limit + 1}
      `
      return { deliveries: rows.slice(0, limit).map(toDelivery), hasMore: rows.length > limit }
    },

    findDelivery,

    /**
     * Makes a delivery due now, whatever its status, and wakes the dispatchers; an attempt in
     * flight finishes first. Undefined when the integrator has no such delivery, `disabled` when
     * its endpoint is disabled.
     */
    async retryDelivery (integratorId: string, deliveryId: string): Promise<WebhookDelivery | 'disabled' | undefined> {
      return await sql.begin(async (tx) => {
        const [endpoint] = await tx<{ disabled: boolean }[]>`
          select w.disabled from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id
          where d.id = ${deliveryId} and w.integrator_id = ${integratorId}
          for share of w
        `
        if (endpoint === undefined) return undefined
        if (endpoint.disabled) return 'disabled' as const
        await tx`update webhook_deliveries set status = 'pending', next_attempt_at = clock_timestamp() where id = ${deliveryId}`
        await tx`select pg_notify(${DELIVERIES_CHANNEL}, '')`
        return await findDelivery(integratorId, deliveryId, tx)
      })
    }
  }
}

export type WebhooksRepository = ReturnType<typeof createWebhooksRepository>
