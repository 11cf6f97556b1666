import { pino, type DestinationStream, type Logger } from 'pino'
import { prettyFactory } from 'pino-pretty'
import type { LogFormat, LogLevel } from './config.js'

/**
 * `pretty` turns each JSON line into a human one as it is written, in this thread: a line logged
 * just before the process exits is not lost in a worker (pino's transports) or a stream buffer.
 * @see https://github.com/pinojs/pino-pretty#usage-with-the-programmatic-api
 */
function prettyDestination (out: DestinationStream, colorize: boolean): DestinationStream {
  const prettify = prettyFactory({ colorize, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
  return { write (line: string) { out.write(prettify(line)) } }
}

/**
 * Logs (stdout unless a destination is given) as JSON lines, or in `pretty` form for a person at a
 * terminal; credentials in headers are never written, in either form.
 */
export function createLogger (level: LogLevel, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const options = {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'], censor: '[redacted]' }
  }
  if (format === 'pretty') return pino(options, prettyDestination(destination ?? process.stdout, destination === undefined && process.stdout.isTTY === true))
  return destination === undefined ? pino(options) : pino(options, destination)
}
