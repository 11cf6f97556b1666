import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { Agent, errors, request, type Dispatcher } from 'undici'
import { PrivateAddressError, hostOf, isPublicAddress, publicOnlyLookup } from './network-guard.js'

/** `whsec_` and the base64 of 32 random bytes: the Standard Webhooks secret format. */
export function generateWebhookSecret (): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

/**
 * The `webhook-signature` header: `v1,<signature>` with each secret (the current one, then the
 * previous one during a rotation's overlap), space-separated, made by the Standard Webhooks library.
 */
export function signatureHeader (secrets: string[], eventId: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(eventId, timestamp, body)).join(' ')
}

export interface Delivery {
  url: string
  eventId: string
  body: string
  /** The current secret first; the previous one too while a rotation's overlap lasts. */
  secrets: string[]
}

export interface AttemptResult {
  ok: boolean
  /** The response status, when a response came. */
  status: number | null
  /** Why it failed, in words an integrator can act on; null on success. */
  error: string | null
}

export interface SenderOptions {
  /** Send to loopback, private and other non-public addresses too (local development, tests). */
  allowPrivateNetworks: boolean
  /** How long an attempt may take, connection to last byte (default 10 s). */
  timeoutMs?: number
}

const MAX_ERROR_LENGTH = 500

function describeFailure (error: unknown, timeoutMs: number): string {
  // undici wraps socket errors (the guarded lookup's among them) as the `cause` of its own.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const refused = [error, cause].find((each) => each instanceof PrivateAddressError)
  if (refused !== undefined) return `Refused: ${refused.message}.`
  const timedOut = (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) ||
    error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError || error instanceof errors.ConnectTimeoutError
  if (timedOut) return `No complete response within ${timeoutMs / 1000} s.`
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined
  switch (code) {
    case 'ECONNREFUSED': return 'The connection was refused.'
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'The host name could not be resolved.'
    case 'ECONNRESET': case 'UND_ERR_SOCKET': return 'The connection was closed before a response came.'
    case 'CERT_HAS_EXPIRED': case 'DEPTH_ZERO_SELF_SIGNED_CERT': case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE': case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `The TLS certificate was not accepted (${code}).`
    default: return code === undefined ? 'The request failed.' : `The request failed (${code}).`
  }
}

/**
 * Sends webhook deliveries with undici: one POST per attempt, signed per Standard Webhooks,
 * redirects not followed (a `3xx` is a failed attempt), the whole attempt bounded by the timeout.
 * Without `allowPrivateNetworks`, connections go only to public addresses, checked on the
 * address the socket actually connects to.
 */
export function createSender ({ allowPrivateNetworks, timeoutMs = 10_000 }: SenderOptions) {
  const agent: Dispatcher = new Agent({
    connect: allowPrivateNetworks ? { timeout: timeoutMs } : { timeout: timeoutMs, lookup: publicOnlyLookup },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs
  })

  async function send (delivery: Delivery): Promise<AttemptResult> {
    try {
      const url = new URL(delivery.url)
      // Sockets skip the resolver for IP literals, so those are checked here.
      const host = hostOf(url)
      if (!allowPrivateNetworks && isIP(host) !== 0 && !isPublicAddress(host)) throw new PrivateAddressError(host, host)
      const timestamp = new Date()
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'ticket-booking-webhooks/1',
          'webhook-id': delivery.eventId,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': signatureHeader(delivery.secrets, delivery.eventId, timestamp, delivery.body)
        },
        body: delivery.body
      })
      // The body is not used; reading it (at most the first 64 KiB) lets the connection be reused.
      await response.body.dump({ limit: 64 * 1024 })
      const ok = response.statusCode >= 200 && response.statusCode < 300
      return { ok, status: response.statusCode, error: ok ? null : `The endpoint answered ${response.statusCode}.` }
    } catch (error) {
      return { ok: false, status: null, error: describeFailure(error, timeoutMs).slice(0, MAX_ERROR_LENGTH) }
    }
  }

  return {
    send,
    close: async (): Promise<void> => { await agent.close() }
  }
}

export type Sender = ReturnType<typeof createSender>
