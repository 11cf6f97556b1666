import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogLevel } from './config.js'

/** JSON logs (stdout unless a destination is given); credentials in headers are never written. */
export function createLogger (level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' }
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}
