import type { TestProject } from 'vitest/node'
import { startTestPostgres } from './support/postgres-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string
  }
}

export default async function setup (project: TestProject) {
  const server = await startTestPostgres(process.env)
  console.log(`Tests use PostgreSQL from: ${server.kind}`)
  project.provide('postgresUrl', server.url)
  return async () => { await server.stop() }
}
