/**
 * The ceiling of `npm run bench`: a bare Fastify app (the project's own `fastify`) with the real
 * routes' schemas and nothing else: no database, no authentication, no logging, no other plugin.
 * The routes take the very operation objects the real ones do (src/features/…/openapi.ts: body,
 * headers, query and params validated alike, responses serialised through the same schemas) on a
 * Fastify built with the same Ajv options and validator compilers as src/app.ts, with the same
 * shared schemas added, and answer a static body of the real server's (the bench sends it one it
 * got from the real server, over the IPC channel, before measuring):
 *
 * - `POST /api/bookings`: 201 with that Booking and its `Location`;
 * - `GET /api/events`, `GET /api/events/:eventId/ticket-tiers`, `GET /api/bookings/:bookingId`: 200 with that body.
 *
 * Started by scripts/bench.ts from dist/ (as the real server is), on PORT, with an IPC channel;
 * it tells the bench `{ listening: port }`, answers each `{ set, value }` with `{ done: set }`,
 * and exits 0 on SIGTERM.
 */
import Fastify from 'fastify'
import { buildValidatorCompilers, sharedSchemas } from '../src/app.js'
import { createBookingOperation, getBookingOperation } from '../src/features/bookings/openapi.js'
import { listEventsOperation } from '../src/features/events/openapi.js'
import { listTicketTiersOperation } from '../src/features/ticket-tiers/openapi.js'
import { BODY_LIMIT_BYTES } from '../src/limits.js'

/** The static bodies the ceiling answers with. */
export type CeilingBody = 'booking' | 'events' | 'ticketTiers' | 'bookingRead'
export interface CeilingSet { set: CeilingBody, value: unknown }
export type CeilingReport = { listening: number } | { done: CeilingBody }

const app = Fastify({
  logger: false,
  bodyLimit: BODY_LIMIT_BYTES,
  return503OnClosing: false,
  ajv: { customOptions: { removeAdditional: false } },
  schemaController: { compilersFactory: buildValidatorCompilers() }
})
for (const schema of sharedSchemas) app.addSchema(schema)

const bodies = new Map<CeilingBody, unknown>()

function body (name: CeilingBody): unknown {
  const value = bodies.get(name)
  if (value === undefined) throw new Error(`the bench has not sent the ceiling its ${name} body`)
  return value
}

app.post('/api/bookings', { schema: createBookingOperation }, async function createBooking (_request, reply) {
  const booking = body('booking') as { id: string }
  return reply.code(201).header('Location', `/api/bookings/${booking.id}`).send(booking)
})
app.get('/api/events', { schema: listEventsOperation }, async function listEvents () {
  return body('events')
})
app.get('/api/events/:eventId/ticket-tiers', { schema: listTicketTiersOperation }, async function listTicketTiers () {
  return body('ticketTiers')
})
app.get('/api/bookings/:bookingId', { schema: getBookingOperation }, async function getBooking () {
  return body('bookingRead')
})

function report (message: CeilingReport): void {
  process.send?.(message)
}

process.on('message', (message: CeilingSet) => {
  bodies.set(message.set, message.value)
  report({ done: message.set })
})
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0))
})
// The bench went away without stopping us.
process.once('disconnect', () => {
  void app.close().then(() => process.exit(0))
})

await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
const address = app.server.address()
report({ listening: typeof address === 'object' && address !== null ? address.port : 0 })
