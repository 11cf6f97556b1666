import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'
import { projectRoot } from '../src/paths.js'
import { spawnServer } from './support/process.js'

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    expect(loadConfig({})).toEqual({
      databaseUrl: undefined,
      port: 3000,
      host: '127.0.0.1',
      adminApiKeys: [],
      logLevel: 'info',
      dataDir: path.join(projectRoot, '.data'),
      publicUrl: undefined,
      rateLimitRequestsPerMinute: 6000,
      rateLimitBookingsPerMinute: 600,
      corsOrigins: [],
      webhookAllowPrivateNetworks: false
    })
  })

  it('reads every variable', () => {
    expect(loadConfig({
      DATABASE_URL: 'postgresql://app:pw@db.internal:5433/booking',
      PORT: '8080',
      HOST: '0.0.0.0',
      ADMIN_API_KEYS: ' key-one-0123456789abcdef ,key-two-0123456789abcdef,',
      LOG_LEVEL: 'warn',
      DATA_DIR: '/var/tmp/booking',
      PUBLIC_URL: 'https://tickets.example.com/',
      RATE_LIMIT_REQUESTS_PER_MINUTE: '100',
      RATE_LIMIT_BOOKINGS_PER_MINUTE: '0',
      CORS_ORIGINS: 'https://shop.example.com, http://localhost:5173',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true'
    })).toEqual({
      databaseUrl: 'postgresql://app:pw@db.internal:5433/booking',
      port: 8080,
      host: '0.0.0.0',
      adminApiKeys: ['key-one-0123456789abcdef', 'key-two-0123456789abcdef'],
      logLevel: 'warn',
      dataDir: '/var/tmp/booking',
      publicUrl: 'https://tickets.example.com',
      rateLimitRequestsPerMinute: 100,
      rateLimitBookingsPerMinute: 0,
      corsOrigins: ['https://shop.example.com', 'http://localhost:5173'],
      webhookAllowPrivateNetworks: true
    })
  })

  it('takes a plain http PUBLIC_URL for a server on this machine only', () => {
    expect(loadConfig({ PUBLIC_URL: 'http://localhost:3000' }).publicUrl).toBe('http://localhost:3000')
    expect(loadConfig({ PUBLIC_URL: 'http://127.0.0.1:3000/' }).publicUrl).toBe('http://127.0.0.1:3000')
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 3000, databaseUrl: undefined })
  })

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: 'mysql://root:hunter2@db/x' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://[bad' }, 'DATABASE_URL'],
    [{ ADMIN_API_KEYS: 'short' }, 'ADMIN_API_KEYS'],
    [{ PUBLIC_URL: 'tickets.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'http://tickets.example.com' }, 'PUBLIC_URL'],
    [{ RATE_LIMIT_BOOKINGS_PER_MINUTE: '-1' }, 'RATE_LIMIT_BOOKINGS_PER_MINUTE'],
    [{ CORS_ORIGINS: '*' }, 'CORS_ORIGINS'],
    [{ CORS_ORIGINS: 'https://shop.example.com/path' }, 'CORS_ORIGINS'],
    [{ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'yes' }, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS']
  ])('rejects %j, naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError)
    expect(() => loadConfig(env)).toThrow(variable)
  })

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'y' })).toThrow(/PORT.*LOG_LEVEL/)
  })

  it('never repeats secret values in its messages', () => {
    for (const env of [{ DATABASE_URL: 'mysql://root:hunter2@db/x' }, { ADMIN_API_KEYS: 'hunter2' }]) {
      expect(() => loadConfig(env)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }))
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
})
