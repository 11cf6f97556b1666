import { buildApp, type App, type BuildAppOptions } from '../../src/app.js'
import { createSql, type Sql, type SqlOptions } from '../../src/db/sql.js'
import { createIntegratorsRepository } from '../../src/features/integrators/integrators-repository.js'
import type { Scope } from '../../src/schemas/integrators.js'
import { createTestDatabase } from './database.js'

export const ADMIN_KEY = 'admin-key-current-0123456789abcdef'
export const ROTATED_ADMIN_KEY = 'admin-key-previous-0123456789abcdef'

export interface TestIntegrator {
  id: string
  key: string
  /** `{ authorization: 'Bearer <key>' }` */
  headers: { authorization: string }
}

export interface TestApp {
  app: App
  sql: Sql
  /** URL of this file's own database, for a second pool or app on it. */
  databaseUrl: string
  /** An integrator with a key of every scope, made for this file. */
  integrator: TestIntegrator
  /** `integrator.headers`, for requests to booking operations. */
  asIntegrator: { authorization: string }
  /** Another integrator with a key of the given scopes (all by default). */
  newIntegrator: (name?: string, scopes?: Scope[]) => Promise<TestIntegrator>
  /**
   * Another app on this file's database, ready for `inject`: on the file's pool, or on a pool of
   * its own (`pool`), ended when the app closes. `close()` closes the ones still open.
   */
  newApp: (options?: NewAppOptions) => Promise<App>
  close: () => Promise<void>
}

export interface AppOptions extends Omit<BuildAppOptions, 'config' | 'sql'> {
  /** buildApp's config; `adminApiKeys` defaults to `[ADMIN_KEY]`. */
  config?: Partial<BuildAppOptions['config']>
  /** Adds routes or hooks before the app is ready, e.g. a route that fails on purpose; `sql` is the app's pool. */
  extend?: (app: App, sql: Sql) => void
}

export interface NewAppOptions extends AppOptions {
  /** A pool of its own on the file's database, with these options, instead of the file's pool. */
  pool?: SqlOptions
}

/** buildApp on `sql`, ready for `inject`; the caller closes it. */
export async function readyApp (sql: Sql, { config, extend, ...options }: AppOptions = {}): Promise<App> {
  const app = buildApp({ ...options, sql, config: { adminApiKeys: [ADMIN_KEY], ...config } })
  extend?.(app, sql)
  await app.ready()
  return app
}

export interface TestAppOptions {
  adminApiKeys?: string[]
  /** Webhooks to loopback receivers are allowed unless this is false. */
  webhookAllowPrivateNetworks?: boolean
  /** Run the webhook dispatcher (off by default). */
  webhookDispatcher?: BuildAppOptions['webhookDispatcher']
}

/** The real app on a fresh database of its own, with one integrator, ready for `inject`. */
export async function createTestApp (options: TestAppOptions = {}): Promise<TestApp> {
  const { adminApiKeys = [ADMIN_KEY, ROTATED_ADMIN_KEY], webhookAllowPrivateNetworks = true, webhookDispatcher } = options
  const database = await createTestDatabase()
  const integrators = createIntegratorsRepository(database.sql)
  const newIntegrator = async (name = 'Test integrator', scopes?: Scope[]): Promise<TestIntegrator> => {
    const { integrator, key } = await integrators.createWithKey(name, scopes === undefined ? {} : { scopes })
    return { id: integrator.id, key: key.key, headers: { authorization: `Bearer ${key.key}` } }
  }
  const integrator = await newIntegrator()
  const app = buildApp({ config: { adminApiKeys, webhookAllowPrivateNetworks }, sql: database.sql, webhookDispatcher })
  await app.ready()
  const others = new Set<App>()
  const newApp = async ({ pool, ...options }: NewAppOptions = {}): Promise<App> => {
    const sql = pool === undefined ? database.sql : createSql(database.url, pool)
    const other = await readyApp(sql, {
      ...options,
      extend: (built, builtOn) => {
        built.addHook('onClose', async () => {
          others.delete(built)
          if (sql !== database.sql) await sql.end()
        })
        options.extend?.(built, builtOn)
      }
    })
    others.add(other)
    return other
  }
  return {
    app,
    sql: database.sql,
    databaseUrl: database.url,
    integrator,
    asIntegrator: integrator.headers,
    newIntegrator,
    newApp,
    close: async () => {
      await Promise.all([...others].map(async (other) => { await other.close() }))
      await app.close()
      await database.drop()
    }
  }
}

export const asAdmin = { authorization: `Bearer ${ADMIN_KEY}` }
