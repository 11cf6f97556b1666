import postgres from 'postgres'

/**
 * A bigint from the database as a number, refused beyond 2^53 (a double would round it): the
 * `bigint` type's parser, and the check for bigints that arrive inside JSON (already doubles).
 */
export function safeInteger (value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError('bigint value exceeds the safe integer range')
  return value
}

const types = {
  bigint: { to: 20, from: [20], serialize: (value: number) => String(value), parse: (text: string) => safeInteger(Number(text)) }
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
  /**
   * The URL names a pooler in transaction mode (PgBouncer), which hands each transaction to any of
   * its server connections, and takes it back at the first ReadyForQuery outside a transaction:
   * - no named prepared statements (a statement prepared on one would be missing on the next);
   * - one statement at a time per connection (`max_pipeline: 0`): without prepared statements
   *   postgres.js sends a statement with parameters in two steps (Parse and Describe, then Bind
   *   and Execute), and one pipelined behind an autocommit statement lost its first step's answer
   *   when the pooler took the server back in between ("got packet '1' from server when not
   *   linked"), which left the query waiting for ever;
   * - no session settings at start-up (PgBouncer refuses unknown startup parameters; the role or
   *   database must set SESSION_SETTINGS instead).
   */
  throughPooler?: boolean
}

/** A stuck lock or a runaway statement ends in a clear 503, not a hung request. */
export const DEFAULT_LOCK_TIMEOUT_MS = 3_000
export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000

/**
 * The settings every session of the service runs with, beside its own timeouts. Through a pooler
 * they cannot be sent at start-up, so the operator sets them on the role or database
 * (`alter role … set …`); the service warns at start when they are off.
 */
export const SESSION_SETTINGS = {
  lock_timeout: DEFAULT_LOCK_TIMEOUT_MS,
  statement_timeout: DEFAULT_STATEMENT_TIMEOUT_MS,
  idle_in_transaction_session_timeout: 30_000
} as const

export function createSql (databaseUrl: string, options: SqlOptions = {}): Sql {
  const applicationName = options.applicationName ?? 'ticket-booking-api'
  return postgres(databaseUrl, {
    max: options.max ?? 10,
    prepare: options.throughPooler !== true,
    ...(options.throughPooler === true ? { max_pipeline: 0 } : {}),
    connect_timeout: 5,
    // Reconnect within a second once the database is back (the default backs off to 20 s).
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    idle_timeout: 60,
    transform: postgres.camel,
    types,
    onnotice: options.onNotice ?? (() => {}),
    connection: options.throughPooler === true
      ? { application_name: applicationName }
      : {
          ...SESSION_SETTINGS,
          application_name: applicationName,
          lock_timeout: options.lockTimeoutMs ?? SESSION_SETTINGS.lock_timeout,
          statement_timeout: options.statementTimeoutMs ?? SESSION_SETTINGS.statement_timeout
        }
  })
}

/**
 * The SESSION_SETTINGS that are off (0) in the sessions `sql` opens: through a pooler they come
 * from the role or the database, and without them a stuck lock or statement waits for ever.
 */
export async function missingSessionSettings (sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select name from pg_settings where name in ${sql(Object.keys(SESSION_SETTINGS))} and setting = '0'
  `
  return rows.map((row) => row.name).sort()
}

/** postgres.js's own codes for a connection that could not be made or was lost. */
const DRIVER_CONNECTION_CODES = new Set(['CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'])

/**
 * Socket errno codes that mean the connection is gone, which Node sometimes raises without a
 * `syscall` (a write after the server ended the socket is EPIPE, "This socket has been ended by
 * the other party").
 */
const SOCKET_GONE_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN'])

/**
 * SQLSTATE classes in which the server says it cannot serve this session now, whatever the query:
 * 08 connection exception, 53 insufficient resources (too many connections, disk full, out of
 * memory), 57P operator intervention (shutting down, crashed, starting up, database dropped), and
 * 25006: a read-only transaction, what a standby (or a primary being demoted) answers to a write.
 * @see https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
function isUnavailableSqlState (code: string): boolean {
  return code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || code === '25006'
}

/**
 * True for errors that mean "the database cannot serve us right now", decided by the class of
 * failure, not by the query: the driver could not connect or lost the connection (its own codes,
 * or a socket error from the operating system: refused, reset, unreachable, name not resolved);
 * the server refused or ended the session (severity FATAL or PANIC: login refused because the
 * database does not accept connections, too many clients, authentication, shutdown, termination);
 * or it answered with a SQLSTATE class that means it is going away or out of resources.
 */
export function isDatabaseUnavailable (error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  if (error instanceof postgres.PostgresError) {
    return error.severity === 'FATAL' || error.severity === 'PANIC' || isUnavailableSqlState(error.code)
  }
  const { code, syscall } = error as { code?: unknown, syscall?: unknown }
  if (typeof code !== 'string') return false
  if (DRIVER_CONNECTION_CODES.has(code) || SOCKET_GONE_CODES.has(code)) return true
  // The socket's own layers: Node's system errors (ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT,
  // EHOSTUNREACH, ENOTFOUND, ...) name the call that failed; its socket and stream errors
  // (ERR_SOCKET_*, ERR_STREAM_*: a write to a socket already destroyed) say the connection is gone.
  return (typeof syscall === 'string' && code.startsWith('E')) || code.startsWith('ERR_SOCKET_') || code.startsWith('ERR_STREAM_')
}

/** The keys of `values` that are set: the columns a partial update writes, as in `sql(values, definedColumns(values))`. */
export function definedColumns<T extends object> (values: T): (keyof T & string)[] {
  return (Object.keys(values) as (keyof T & string)[]).filter((key) => values[key] !== undefined)
}

/** True for a lock wait or a statement that ran out of time: the database is too busy right now. */
export function isDatabaseTimeout (error: unknown): boolean {
  return error instanceof postgres.PostgresError && (error.code === '55P03' || error.code === '57014')
}

export function isPostgresError (error: unknown, code: string): error is postgres.PostgresError {
  return error instanceof postgres.PostgresError && error.code === code
}
