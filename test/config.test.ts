import { generateKeyPairSync } from 'node:crypto'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, type PrivateTicketKey } from '../src/config.js'
import { projectRoot } from '../src/paths.js'
import { spawnServer } from './support/process.js'

/** A new Ed25519 private JWK, as an operator would put in TICKET_SIGNING_KEYS. */
function ed25519Jwk (kid: string): PrivateTicketKey {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  if (typeof jwk.x !== 'string' || typeof jwk.d !== 'string') throw new Error('node:crypto exported no x or d')
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d, kid }
}

const first = ed25519Jwk('2026-12')
const second = ed25519Jwk('2026-06')

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: undefined,
      databaseDirectUrl: undefined,
      port: 3000,
      host: '127.0.0.1',
      adminApiKeys: [],
      logLevel: 'info',
      logFormat: 'json',
      drainDelayMs: 1000,
      dataDir: path.join(projectRoot, '.data'),
      publicUrl: undefined,
      rateLimitRequestsPerMinute: 60000,
      rateLimitBookingsPerMinute: 30000,
      corsOrigins: [],
      webhookAllowPrivateNetworks: false,
      ticketSigningKeys: [],
      redisUrl: undefined,
      metricsPublic: false,
      retentionDays: 30,
      otlpEndpoint: undefined
    })
  })

  it('reads every variable', () => {
    expect(loadConfig({
      DATABASE_URL: 'postgresql://app:pw@db.internal:5433/booking',
      DATABASE_DIRECT_URL: 'postgresql://app:pw@db.internal:5432/booking',
      PORT: '8080',
      HOST: '0.0.0.0',
      ADMIN_API_KEYS: ' key-one-0123456789abcdef ,key-two-0123456789abcdef,',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'pretty',
      DRAIN_DELAY_MS: '10000',
      DATA_DIR: '/var/tmp/booking',
      PUBLIC_URL: 'https://tickets.example.com/',
      RATE_LIMIT_REQUESTS_PER_MINUTE: '100',
      RATE_LIMIT_BOOKINGS_PER_MINUTE: '0',
      CORS_ORIGINS: 'https://shop.example.com, http://localhost:5173',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      TICKET_SIGNING_KEYS: JSON.stringify([first, second]),
      REDIS_URL: 'redis://:secret@cache.internal:6380/2',
      METRICS_PUBLIC: 'true',
      RETENTION_DAYS: '7',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318'
    })).toEqual({
      databaseUrl: 'postgresql://app:pw@db.internal:5433/booking',
      databaseDirectUrl: 'postgresql://app:pw@db.internal:5432/booking',
      port: 8080,
      host: '0.0.0.0',
      adminApiKeys: ['key-one-0123456789abcdef', 'key-two-0123456789abcdef'],
      logLevel: 'warn',
      logFormat: 'pretty',
      drainDelayMs: 10000,
      dataDir: '/var/tmp/booking',
      publicUrl: 'https://tickets.example.com',
      rateLimitRequestsPerMinute: 100,
      rateLimitBookingsPerMinute: 0,
      corsOrigins: ['https://shop.example.com', 'http://localhost:5173'],
      webhookAllowPrivateNetworks: true,
      ticketSigningKeys: [first, second],
      redisUrl: 'redis://:secret@cache.internal:6380/2',
      metricsPublic: true,
      retentionDays: 7,
      otlpEndpoint: 'http://collector:4318'
    })
  })

  it('takes a plain http PUBLIC_URL for a server on this machine only', () => {
    expect(loadConfig({ PUBLIC_URL: 'http://localhost:3000' }).publicUrl).toBe('http://localhost:3000')
    expect(loadConfig({ PUBLIC_URL: 'http://127.0.0.1:3000/' }).publicUrl).toBe('http://127.0.0.1:3000')
  })

  it('takes a DATABASE_URL of several hosts (a primary and its standbys)', () => {
    const url = 'postgres://app:pw@db-a:5432,db-b:5432/booking?target_session_attrs=primary'
    expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url)
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 3000, databaseUrl: undefined })
  })

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ LOG_FORMAT: 'text' }, 'LOG_FORMAT: must be one of json, pretty'],
    [{ DRAIN_DELAY_MS: 'soon' }, 'DRAIN_DELAY_MS'],
    [{ DRAIN_DELAY_MS: '-1' }, 'DRAIN_DELAY_MS'],
    [{ DRAIN_DELAY_MS: '60001' }, 'DRAIN_DELAY_MS'],
    [{ DATABASE_URL: 'mysql://root:hunter2@db/x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://[bad' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://pgbouncer:6432/x', DATABASE_DIRECT_URL: 'mysql://root:hunter2@db/x' }, 'DATABASE_DIRECT_URL'],
    [{ DATABASE_URL: 'postgres://pgbouncer:6432/x', DATABASE_DIRECT_URL: 'postgres://[bad' }, 'DATABASE_DIRECT_URL'],
    [{ DATABASE_DIRECT_URL: 'postgres://db:5432/x' }, 'DATABASE_DIRECT_URL: needs DATABASE_URL'],
    [{ ADMIN_API_KEYS: 'short' }, 'ADMIN_API_KEYS'],
    [{ PUBLIC_URL: 'tickets.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'http://tickets.example.com' }, 'PUBLIC_URL'],
    [{ RATE_LIMIT_BOOKINGS_PER_MINUTE: '-1' }, 'RATE_LIMIT_BOOKINGS_PER_MINUTE'],
    [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS'],
    [{ CORS_ORIGINS: 'https://shop.example.com/path' }, 'CORS_ORIGINS'],
    [{ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'yes' }, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS'],
    [{ METRICS_PUBLIC: '1' }, 'METRICS_PUBLIC'],
    [{ REDIS_URL: 'memcached://cache:11211' }, 'REDIS_URL'],
    [{ REDIS_URL: 'redis://[bad' }, 'REDIS_URL'],
    [{ RETENTION_DAYS: '0' }, 'RETENTION_DAYS'],
    [{ RETENTION_DAYS: '-3' }, 'RETENTION_DAYS'],
    [{ RETENTION_DAYS: '1.5' }, 'RETENTION_DAYS'],
    [{ RETENTION_DAYS: 'thirty' }, 'RETENTION_DAYS'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://[bad' }, 'OTEL_EXPORTER_OTLP_ENDPOINT: is not a valid URL']
  ])('rejects %j, naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError)
    expect(() => loadConfig(env)).toThrow(variable)
  })

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT.*LOG_LEVEL/)
  })

  it('never repeats secret values in its messages', () => {
    for (const env of [{ DATABASE_URL: 'mysql://root:hunter2@db/x' }, { DATABASE_URL: 'postgres://db/x', DATABASE_DIRECT_URL: 'postgres://root:hunter2@[bad' }, { ADMIN_API_KEYS: 'hunter2' }]) {
      expect(() => loadConfig(env)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }))
    }
  })
})

describe('TICKET_SIGNING_KEYS', () => {
  const keys = (value: unknown): PrivateTicketKey[] => loadConfig({ TICKET_SIGNING_KEYS: typeof value === 'string' ? value : JSON.stringify(value) }).ticketSigningKeys

  it('takes a JSON array of Ed25519 private JWKs with kids, in order (the first signs), keeping only what a key is', () => {
    expect(keys([first])).toEqual([first])
    expect(keys([second, first])).toEqual([second, first])
    expect(keys([{ ...first, alg: 'EdDSA', use: 'sig', key_ops: ['sign'] }])).toEqual([first])
    expect(keys(` ${JSON.stringify([first])}\n`)).toEqual([first])
  })

  const other = ed25519Jwk('other')
  it.each([
    ['not JSON', `[${JSON.stringify(first)}`],
    ['a JWK rather than an array', JSON.stringify(first)],
    ['an empty array', '[]'],
    ['a string entry', JSON.stringify([first.d])],
    ['null', 'null'],
    ['kty RSA', [{ ...first, kty: 'RSA' }]],
    ['kty EC', [{ ...first, kty: 'EC', crv: 'P-256' }]],
    ['crv X25519', [{ ...first, crv: 'X25519' }]],
    ['crv Ed448', [{ ...first, crv: 'Ed448' }]],
    ['no crv', [{ ...first, crv: undefined }]],
    ['a public key only', [{ ...first, d: undefined }]],
    ['no x', [{ ...first, x: undefined }]],
    ['x too short', [{ ...first, x: first.x.slice(1) }]],
    ['x in plain base64', [{ ...first, x: `${first.x.slice(0, 42)}+` }]],
    ['d too long', [{ ...first, d: `${first.d}A` }]],
    ['d as a number', [{ ...first, d: 12345 }]],
    ['x that is not the public key of d', [{ ...first, x: other.x }]],
    ['x and d of different keys, the second entry', [first, { ...other, d: second.d }]],
    ['no kid', [{ ...first, kid: undefined }]],
    ['an empty kid', [{ ...first, kid: '' }]],
    ['a kid with spaces', [{ ...first, kid: 'my key' }]],
    ['a kid of 101 characters', [{ ...first, kid: 'k'.repeat(101) }]],
    ['the same kid twice', [first, { ...second, kid: first.kid }]],
    ['the same key twice', [first, first]]
  ])('refuses %s, naming the variable and never the key material', (_what, value) => {
    let error: unknown
    try {
      keys(value)
    } catch (thrown) {
      error = thrown
    }
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as Error).message
    expect(message).toMatch(/^Invalid configuration: TICKET_SIGNING_KEYS: /)
    for (const key of [first, second, other]) {
      expect(message).not.toContain(key.d)
      expect(message).not.toContain(key.x)
      expect(message).not.toContain(key.d.slice(0, 12))
    }
  })
})

describe('starting with a bad configuration', () => {
  it('exits non-zero with a message naming the variable', async () => {
    const server = spawnServer({ PORT: 'not-a-port', ADMIN_API_KEYS: 'secret-admin-key-0123456789' })
    const { code } = await server.exited
    expect(code).toBe(1)
    expect(server.output()).toContain('Invalid configuration: PORT')
    expect(server.output()).not.toContain('secret-admin-key')
    expect(server.output()).not.toMatch(/\n\s+at /)
  })

  it.each([
    [{ LOG_FORMAT: 'colour' }, 'Invalid configuration: LOG_FORMAT: must be one of json, pretty'],
    [{ RETENTION_DAYS: '0' }, 'Invalid configuration: RETENTION_DAYS: must be a whole number of days from 1 to 36500']
  ])('exits non-zero on %j, naming the variable', async (env, message) => {
    const server = spawnServer({ PORT: '0', ...env })
    const { code } = await server.exited
    expect(code).toBe(1)
    expect(server.output()).toContain(message)
    expect(server.output()).not.toMatch(/\n\s+at /)
  })

  it('exits non-zero on a bad TICKET_SIGNING_KEYS without printing the key', async () => {
    const server = spawnServer({ PORT: '0', TICKET_SIGNING_KEYS: JSON.stringify([{ ...first, x: second.x }]) })
    const { code } = await server.exited
    expect(code).toBe(1)
    expect(server.output()).toContain('Invalid configuration: TICKET_SIGNING_KEYS: entry 0: x is not the public key of d')
    expect(server.output()).not.toContain(first.d)
    expect(server.output()).not.toContain(second.x)
    expect(server.output()).not.toMatch(/\n\s+at /)
  })
})
