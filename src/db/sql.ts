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
  /** How long a statement may wait for a row lock before it fails (55P03). */
  lockTimeoutMs?: number
  /** How long a statement may run before PostgreSQL cancels it (57014). */
  statementTimeoutMs?: number
}

/** A stuck lock or a runaway statement ends in a clear 503, not a hung request. */
export const DEFAULT_LOCK_TIMEOUT_MS = 3_000
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000

export function createSql (databaseUrl: string, options: SqlOptions = {}): Sql {
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    connect_timeout: 5,
    // Reconnect within a second once the database is back (the default backs off to 20 s).
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    idle_timeout: 60,
    transform: postgres.camel,
    types,
    onnotice: options.onNotice ?? (() => {}),
    connection: {
      application_name: options.applicationName ?? 'ticket-booking-api',
      lock_timeout: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: 30_000
    }
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

/** True for a lock wait or a statement that ran out of time: the database is too busy right now. */
export function isDatabaseTimeout (error: unknown): boolean {
  return error instanceof postgres.PostgresError && (error.code === '55P03' || error.code === '57014')
}

export function isPostgresError (error: unknown, code: string): error is postgres.PostgresError {
  return error instanceof postgres.PostgresError && error.code === code
}
