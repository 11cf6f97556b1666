import { pino, type Logger } from 'pino'
import type { LogLevel } from './config.js'

/** JSON logs on stdout; credentials in headers are never written. */
export function createLogger (level: LogLevel): Logger {
  return pino({
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' }
  })
}
