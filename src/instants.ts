import { validationProblem } from './problems.js'
import { EARLIEST_INSTANT, LATEST_INSTANT } from './schemas/common.js'

const earliest = Date.parse(EARLIEST_INSTANT)
const latest = Date.parse(LATEST_INSTANT)

/** Turns a schema-valid RFC 3339 string into an instant, refusing ones JavaScript or PostgreSQL cannot hold. */
export function parseInstant (value: string, path: string): Date {
  const time = Date.parse(value)
  if (Number.isNaN(time) || time < earliest || time > latest) {
    throw validationProblem(
      [{ path, message: `must be a date-time between ${EARLIEST_INSTANT} and ${LATEST_INSTANT}` }],
      `The request body is not valid: ${path} is not a usable date-time.`
    )
  }
  return new Date(time)
}

export function parseOptionalInstant (value: string | null | undefined, path: string): Date | null | undefined {
  return value === null || value === undefined ? value : parseInstant(value, path)
}
