import postgres from 'postgres'

function parseSafeInteger (text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) throw new RangeError('bigint value exceeds the safe integer range')
  return value
}

const types = {
  bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: parseSafeInteger }
}

/** The pool type used across the code base: `bigint` columns arrive as safe JS numbers. */
export type Sql = postgres.Sql<{ bigint: number }>
/** Anything that runs queries: the pool, a transaction or a savepoint. */
export type Queryable = postgres.ISql<{ bigint: number }>

export interface SqlOptions {
  max?: number
  applicationName?: string
  onNotice?: (notice: postgres.Notice) => void
}

export function createSql (databaseUrl: string, options: SqlOptions = {}): Sql {
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    connect_timeout: 5,
    idle_timeout: 60,
    transform: postgres.camel,
    types,
    onnotice: options.onNotice ?? (() => {}),
    connection: { application_name: options.applicationName ?? 'ticket-booking-api' }
  })
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  '53300', '57P01', '57P02', '57P03'
])

/** True for errors that mean "the database cannot be reached right now", as opposed to a bad query. */
export function isDatabaseUnavailable (error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false
  const code = String(error.code)
  return UNAVAILABLE_CODES.has(code) || code.startsWith('08')
}

export function isPostgresError (error: unknown, code: string): error is postgres.PostgresError {
  return error instanceof postgres.PostgresError && error.code === code
}
