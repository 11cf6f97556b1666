import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig } from './config.js'
import { EmbeddedPostgresError } from './db/embedded.js'
import { createLogger } from './logger.js'
import { startService } from './service.js'

// Room for in-flight requests and webhook attempts (each at most 10 s) to finish.
const SHUTDOWN_GRACE_MS = 15_000

let config
try {
  config = loadConfig(process.env)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  process.stderr.write(`${error.message}\n`)
  process.exit(1)
}

const logger = createLogger(config.logLevel)

try {
  const service = await startService(config, logger)
  const browsable = service.url.replace('//0.0.0.0:', '//127.0.0.1:')
  logger.info(`Ticket Booking API listening on ${browsable}/api, Swagger UI at ${browsable}/docs`)
  if (service.demoKey !== undefined) {
    // Printed once, on the embedded database's first start, outside the JSON log on purpose.
    process.stdout.write(
      `\nA demo integrator was created. Its API key (shown this once; book with "Authorization: Bearer <key>"):\n\n  ${service.demoKey}\n\n`
    )
  }

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'shutting down after an error')
    else logger.info({ signal }, 'shutting down: draining requests')
    await service.close()
    logger.info('stopped')
  })
} catch (error) {
  if (error instanceof EmbeddedPostgresError) {
    logger.fatal(error.message)
  } else {
    logger.fatal({ err: error }, 'the service could not start')
  }
  process.exit(1)
}
