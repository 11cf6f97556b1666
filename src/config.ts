import { createPrivateKey, createPublicKey } from 'node:crypto'
import path from 'node:path'
import { Type } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isValidDatabaseUrl } from './db/hosts.js'
import { projectRoot } from './paths.js'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]
const LOG_FORMATS = ['json', 'pretty'] as const
export type LogFormat = typeof LOG_FORMATS[number]

/** Longest DRAIN_DELAY_MS: a load balancer that needs more than a minute to notice is misconfigured. */
export const MAX_DRAIN_DELAY_MS = 60_000

const EnvSchema = Type.Object({
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'postgres:// or postgresql:// URL' })),
  DATABASE_DIRECT_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', description: 'postgres:// or postgresql:// URL' })),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  ADMIN_API_KEYS: Type.String({ default: '' }),
  LOG_LEVEL: Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)), { default: 'info' }),
  LOG_FORMAT: Type.Union(LOG_FORMATS.map((format) => Type.Literal(format)), { default: 'json' }),
  DRAIN_DELAY_MS: Type.Integer({ minimum: 0, maximum: MAX_DRAIN_DELAY_MS, default: 1000 }),
  DATA_DIR: Type.String({ minLength: 1, default: '.data' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+(/\\S*)?$' })),
  RATE_LIMIT_REQUESTS_PER_MINUTE: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 60_000 }),
  RATE_LIMIT_BOOKINGS_PER_MINUTE: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 30_000 }),
  CORS_ORIGINS: Type.String({ default: '' }),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false' }),
  TICKET_SIGNING_KEYS: Type.Optional(Type.String()),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis:// or rediss:// URL' })),
  METRICS_PUBLIC: Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false' }),
  RETENTION_DAYS: Type.Integer({ minimum: 1, maximum: 36_500, default: 30 }),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://\\S+$', description: 'http:// or https:// URL' }))
})

/** An Ed25519 private key in JWK form (RFC 8037), as TICKET_SIGNING_KEYS lists them. */
export interface PrivateTicketKey {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  d: string
  kid: string
}

const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/

/**
 * TICKET_SIGNING_KEYS: a JSON array of Ed25519 private JWKs, each with its own `kid`; the first
 * signs new codes. Errors name the entry, never a value (they are private keys).
 */
function parseTicketSigningKeys (text: string | undefined): PrivateTicketKey[] {
  if (text === undefined) return []
  const fail = (why: string): never => { throw new ConfigError(`Invalid configuration: TICKET_SIGNING_KEYS: ${why}`) }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return fail('must be a JSON array of Ed25519 private JWKs')
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return fail('must be a non-empty JSON array of Ed25519 private JWKs')
  const keys = parsed.map((entry: unknown, index): PrivateTicketKey => {
    const jwk = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') return fail(`entry ${index}: must have kty "OKP" and crv "Ed25519"`)
    if (typeof jwk.x !== 'string' || !BASE64URL_32_BYTES.test(jwk.x) || typeof jwk.d !== 'string' || !BASE64URL_32_BYTES.test(jwk.d)) {
      return fail(`entry ${index}: must have x and d, each 32 bytes in base64url`)
    }
    if (typeof jwk.kid !== 'string' || !/^[\x21-\x7e]{1,100}$/.test(jwk.kid)) return fail(`entry ${index}: must have a kid of 1 to 100 visible ASCII characters`)
    const key = { kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x, d: jwk.d, kid: jwk.kid }
    if (createPublicKey(createPrivateKey({ key, format: 'jwk' })).export({ format: 'jwk' }).x !== key.x) {
      return fail(`entry ${index}: x is not the public key of d`)
    }
    return key
  })
  if (new Set(keys.map((key) => key.kid)).size !== keys.length) return fail('each key must have a kid of its own')
  return keys
}

export const MIN_ADMIN_KEY_LENGTH = 16

export interface Config {
  databaseUrl: string | undefined
  /**
   * With DATABASE_URL naming a pooler in transaction mode (PgBouncer): the database itself, for
   * what needs a session of its own (migrations, LISTEN, the sweep's session lock).
   */
  databaseDirectUrl: string | undefined
  port: number
  host: string
  adminApiKeys: string[]
  logLevel: LogLevel
  /** `json` (one object a line, for collectors) or `pretty` (coloured lines for a person at a terminal). */
  logFormat: LogFormat
  /**
   * On SIGTERM/SIGINT: how long readiness answers 503 while the server still serves, so load
   * balancers move traffic away before it stops accepting connections.
   */
  drainDelayMs: number
  dataDir: string
  /** The URL integrators reach this deployment at, listed first in the OpenAPI `servers`. */
  publicUrl: string | undefined
  /** Requests allowed per key (else per client address) per minute across the API; 0 turns the limit off. */
  rateLimitRequestsPerMinute: number
  /** Booking creations allowed per key (else per client address) per minute; 0: the general limit applies. */
  rateLimitBookingsPerMinute: number
  /** Browser origins allowed to call the API (CORS); none by default. */
  corsOrigins: string[]
  /** Deliver webhooks to loopback, private and other non-public addresses too (local development). */
  webhookAllowPrivateNetworks: boolean
  /** Operator-supplied ticket signing keys, the first current; empty: the service generates and keeps its own. */
  ticketSigningKeys: PrivateTicketKey[]
  /** Where rate-limit counters are shared between processes; without it each process counts alone. */
  redisUrl: string | undefined
  /** Serve GET /metrics without an admin key (for a scraper on a private network). */
  metricsPublic: boolean
  /** Finished webhook events, deliveries and attempts older than this many days are deleted. */
  retentionDays: number
  /**
   * Where traces go over OTLP/HTTP (a collector's base URL, e.g. http://collector:4318); unset: no
   * tracing SDK is loaded. The SDK reads it, and the other OTEL_* variables, itself.
   */
  otlpEndpoint: string | undefined
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

function describe (variable: string, message: string): string {
  if (variable === 'LOG_LEVEL') return `LOG_LEVEL: must be one of ${LOG_LEVELS.join(', ')}`
  if (variable === 'LOG_FORMAT') return `LOG_FORMAT: must be one of ${LOG_FORMATS.join(', ')}`
  if (variable === 'DRAIN_DELAY_MS') return `DRAIN_DELAY_MS: must be a whole number of milliseconds from 0 to ${MAX_DRAIN_DELAY_MS}`
  if (variable === 'DATABASE_URL' || variable === 'DATABASE_DIRECT_URL') return `${variable}: must be a postgres:// or postgresql:// URL`
  if (variable === 'PUBLIC_URL' || variable === 'OTEL_EXPORTER_OTLP_ENDPOINT') return `${variable}: must be an http:// or https:// URL`
  if (variable === 'WEBHOOK_ALLOW_PRIVATE_NETWORKS' || variable === 'METRICS_PUBLIC') return `${variable}: must be true or false`
  if (variable === 'RETENTION_DAYS') return 'RETENTION_DAYS: must be a whole number of days from 1 to 36500'
  return `${variable}: ${message.toLowerCase()}`
}

/**
 * Reads and validates the configuration once, at start-up. Nothing else reads `process.env`.
 * Values are never echoed back in errors: DATABASE_URL, ADMIN_API_KEYS and TICKET_SIGNING_KEYS hold secrets.
 */
export function loadConfig (env: NodeJS.ProcessEnv): Config {
  const known = Object.keys(EnvSchema.properties)
  const raw: Record<string, unknown> = {}
  for (const key of known) {
    const value = env[key]
    if (value !== undefined && value !== '') raw[key] = value
  }

  const converted = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const problems = [...Value.Errors(EnvSchema, converted)].map((error) => describe(error.path.slice(1), error.message))
  // Value.Convert reads "1.5" as 1; a count given as anything but digits is a mistake to report.
  for (const [key, schema] of Object.entries(EnvSchema.properties)) {
    const text = env[key]
    if (schema.type === 'integer' && text !== undefined && text !== '' && !/^-?[0-9]+$/.test(text)) {
      problems.push(describe(key, 'Expected integer'))
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration: ${[...new Set(problems)].join('; ')}`)
  }
  const valid = Value.Decode(EnvSchema, converted)

  for (const variable of ['REDIS_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const) {
    const url = valid[variable]
    if (url !== undefined && !URL.canParse(url)) throw new ConfigError(`Invalid configuration: ${variable}: is not a valid URL`)
  }

  for (const variable of ['DATABASE_URL', 'DATABASE_DIRECT_URL'] as const) {
    const url = valid[variable]
    if (url !== undefined && !isValidDatabaseUrl(url)) throw new ConfigError(`Invalid configuration: ${variable}: is not a valid URL`)
  }
  if (valid.DATABASE_DIRECT_URL !== undefined && valid.DATABASE_URL === undefined) {
    throw new ConfigError('Invalid configuration: DATABASE_DIRECT_URL: needs DATABASE_URL (the pooler it bypasses)')
  }

  const adminApiKeys = valid.ADMIN_API_KEYS.split(',').map((key) => key.trim()).filter((key) => key !== '')
  if (adminApiKeys.some((key) => key.length < MIN_ADMIN_KEY_LENGTH)) {
    throw new ConfigError(
      `Invalid configuration: ADMIN_API_KEYS: each key must be at least ${MIN_ADMIN_KEY_LENGTH} characters long`
    )
  }

  // Integrators reach a deployment over https; plain http is for a server on one's own machine.
  if (valid.PUBLIC_URL !== undefined && valid.PUBLIC_URL.startsWith('http://') &&
    !['localhost', '127.0.0.1', '[::1]'].includes(new URL(valid.PUBLIC_URL).hostname)) {
    throw new ConfigError('Invalid configuration: PUBLIC_URL: must be an https:// URL (http:// only for localhost)')
  }

  const corsOrigins = valid.CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '')
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[^/\s]+$/.test(origin) || !URL.canParse(origin)) {
      throw new ConfigError('Invalid configuration: CORS_ORIGINS: each entry must be an origin such as https://shop.example.com')
    }
  }

  return {
    databaseUrl: valid.DATABASE_URL,
    databaseDirectUrl: valid.DATABASE_DIRECT_URL,
    port: valid.PORT,
    host: valid.HOST,
    adminApiKeys,
    logLevel: valid.LOG_LEVEL,
    logFormat: valid.LOG_FORMAT,
    drainDelayMs: valid.DRAIN_DELAY_MS,
    dataDir: path.resolve(projectRoot, valid.DATA_DIR),
    publicUrl: valid.PUBLIC_URL?.replace(/\/+$/, ''),
    rateLimitRequestsPerMinute: valid.RATE_LIMIT_REQUESTS_PER_MINUTE,
    rateLimitBookingsPerMinute: valid.RATE_LIMIT_BOOKINGS_PER_MINUTE,
    corsOrigins,
    webhookAllowPrivateNetworks: valid.WEBHOOK_ALLOW_PRIVATE_NETWORKS === 'true',
    ticketSigningKeys: parseTicketSigningKeys(valid.TICKET_SIGNING_KEYS),
    redisUrl: valid.REDIS_URL,
    metricsPublic: valid.METRICS_PUBLIC === 'true',
    retentionDays: valid.RETENTION_DAYS,
    otlpEndpoint: valid.OTEL_EXPORTER_OTLP_ENDPOINT
  }
}
