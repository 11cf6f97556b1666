import { buildApp, type App, type BuildAppOptions } from '../../src/app.js'
import type { Sql } from '../../src/db/sql.js'
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
  close: () => Promise<void>
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
  return {
    app,
    sql: database.sql,
    databaseUrl: database.url,
    integrator,
    asIntegrator: integrator.headers,
    newIntegrator,
    close: async () => {
      await app.close()
      await database.drop()
    }
  }
}

export const asAdmin = { authorization: `Bearer ${ADMIN_KEY}` }
