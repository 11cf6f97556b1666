import closeWithGrace from 'close-with-grace'
import { setFlagsFromString } from 'node:v8'
import { ConfigError, loadConfig } from './config.js'
import { EmbeddedPostgresError } from './db/embedded.js'
import { createLogger } from './logger.js'
import type { RunningService } from './service.js'
import type { Tracing } from './tracing-sdk.js'

// Room for in-flight requests and webhook attempts (each at most 10 s) to finish, after DRAIN_DELAY_MS.
const SHUTDOWN_GRACE_MS = 15_000
/**
 * Signals that drain and exit 0. They often come twice: Ctrl-C reaches every process of the
 * terminal's group, and `npm start` relays what it gets to the server. The repeat is the same
 * request to stop, so it must not cut the drain short (close-with-grace exits 1 on a second one).
 */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

/*
 * After each full collection V8 lets the heap grow to up to 4 times what survived before the next
 * one. The service's live heap is small (about 40 MiB under load) but it allocates fast, so the heap
 * stood at 3-4 times that, garbage mostly: 195 MiB RSS after a booking and read load where a growth
 * of 1.5 times leaves 145-150 MiB, for about 5% more CPU per request (measured side by side; README,
 * Performance). V8 reads the factor at every collection, so setting it here takes effect at once.
 * A `--heap-growing-percent` given on the command line wins.
 */
if (!process.execArgv.some((flag) => flag.startsWith('--heap-growing-percent'))) setFlagsFromString('--heap-growing-percent=50')

let config
try {
  config = loadConfig(process.env)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`${error.message}\n`)
  process.exit(1)
}

const logger = createLogger(config.logLevel, undefined, config.logFormat)

// The tracing SDK is loaded only when asked for, and started before the service's modules (fastify,
// node:http) are imported, so its instrumentations see them; hence the dynamic imports.
let tracing: Tracing | undefined
if (config.otlpEndpoint !== undefined) {
  tracing = (await import('./tracing-sdk.js')).startTracing()
  logger.info({ endpoint: new URL(config.otlpEndpoint).origin }, 'exporting traces over OTLP/HTTP')
}
const { startService } = await import('./service.js')

// Installed before anything starts, so a signal during start-up still stops the embedded database.
let service: RunningService | undefined
const shutdown = closeWithGrace({ delay: config.drainDelayMs + SHUTDOWN_GRACE_MS, skip: [...STOP_SIGNALS], logger }, async ({ err }) => {
  if (err !== undefined) logger.error({ err }, 'shutting down after an error')
  await service?.close()
  // Last, so the spans of the requests just drained are sent too.
  await tracing?.shutdown()
  logger.info('stopped')
})
let stopRequested = false
for (const signal of STOP_SIGNALS) {
  process.on(signal, () => {
    if (stopRequested) {
      logger.info({ signal }, 'already shutting down')
      return
    }
    stopRequested = true
    logger.info({ signal }, 'shutting down: draining requests')
    if (service !== undefined) void shutdown.close()
  })
}

try {
  service = await startService(config, logger, { drainTimeoutMs: SHUTDOWN_GRACE_MS - 3_000 })
} catch (error) {
  if (error instanceof EmbeddedPostgresError) {
    logger.fatal(error.message)
  } else {
    logger.fatal({ err: error }, 'the service could not start')
  }
  process.exit(1)
}

const browsable = service.url.replace('//0.0.0.0:', '//127.0.0.1:')
logger.info(`Ticket Booking API listening on ${browsable}/api, Swagger UI at ${browsable}/docs`)
if (service.demoKey !== undefined) {
  // Printed once, on the embedded database's first start, outside the JSON log on purpose.
  process.stdout.write(
    `\nA demo integrator was created. Its API key (shown this once; book with "Authorization: Bearer <key>"):\n\n  ${service.demoKey}\n\n`
  )
}
if (stopRequested) void shutdown.close()
