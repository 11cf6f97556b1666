import { hash } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import QRCode from 'qrcode'
import type { Sql } from '../../db/sql.js'
import { notFoundProblem } from '../../problems.js'
import { DEFAULT_PAGE_SIZE } from '../../schemas/common.js'
import type { Ticket } from '../../schemas/tickets.js'
import { principalOf, scannerMaySee } from '../../plugins/auth.js'
import type { TicketCodes } from './codes.js'
import {
  getTicketOperation, getTicketQrOperation, listBookingTicketsOperation, listRevocationsOperation, listTicketKeysOperation, reissueTicketOperation,
  rotateTicketKeyOperation, updateTicketOperation
} from './openapi.js'
import { createTicketsRepository } from './tickets-repository.js'

function missingTicket (id: string): Error {
  return notFoundProblem(`Ticket ${id} does not exist.`)
}

export interface TicketsFeatureOptions {
  sql: Sql
  /** Signs ticket codes (shared with the bookings feature, which issues them). */
  codes: TicketCodes
}

export const ticketsFeature: FastifyPluginAsyncTypebox<TicketsFeatureOptions> = async (app, { sql, codes }) => {
  const tickets = createTicketsRepository(sql, codes)

  app.get('/bookings/:bookingId/tickets', {
    onRequest: app.authenticate({ scope: 'bookings:read', admin: true }),
    schema: listBookingTicketsOperation
  }, async function listBookingTickets (request, reply) {
    const serialize = reply.getSerializationFunction('200', 'application/json')
    if (serialize === undefined) throw new Error('listBookingTickets has no serializer for its 200 response')
    const body = await tickets.listByBooking(request.params.bookingId, principalOf(request.principal), serialize)
    if (body === undefined) throw notFoundProblem(`Booking ${request.params.bookingId} does not exist.`)
    // Serialized by this route's own serializer (and maybe cached): a Buffer is sent as it is.
    return await reply.type('application/json; charset=utf-8').send(body as unknown as { data: Ticket[] })
  })

  app.get('/tickets/:ticketId', {
    onRequest: app.authenticate({ scope: 'bookings:read', admin: true }),
    schema: getTicketOperation
  }, async function getTicket (request) {
    const ticket = await tickets.findById(request.params.ticketId, principalOf(request.principal))
    if (ticket === undefined) throw missingTicket(request.params.ticketId)
    return ticket
  })

  app.patch('/tickets/:ticketId', {
    onRequest: app.authenticate({ scope: 'bookings:write', admin: false }),
    schema: updateTicketOperation
  }, async function updateTicket (request) {
    const ticket = await tickets.name(request.params.ticketId, principalOf(request.principal), request.body.attendeeName)
    if (ticket === undefined) throw missingTicket(request.params.ticketId)
    return ticket
  })

  app.get('/tickets/:ticketId/qr', {
    onRequest: app.authenticate({ scope: 'bookings:read', admin: true }),
    schema: getTicketQrOperation
  }, async function getTicketQr (request, reply) {
    const code = await tickets.code(request.params.ticketId, principalOf(request.principal))
    if (code === undefined) throw missingTicket(request.params.ticketId)
    const svg = await QRCode.toString(code, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 })
    return await reply.type('image/svg+xml').send(svg)
  })

  app.post('/tickets/:ticketId/reissue', {
    onRequest: app.authenticate({ scope: 'bookings:write', admin: false }),
    schema: reissueTicketOperation
  }, async function reissueTicket (request) {
    const ticket = await tickets.reissue(request.params.ticketId, principalOf(request.principal))
    if (ticket === undefined) throw missingTicket(request.params.ticketId)
    return ticket
  })

  app.get('/ticket-keys', {
    schema: listTicketKeysOperation
  }, async function listTicketKeys (request, reply) {
    const keySet = { keys: await codes.publicKeys() }
    const etag = `"${hash('sha256', JSON.stringify(keySet), 'base64url').slice(0, 22)}"`
    reply.header('Cache-Control', 'public, max-age=300').header('ETag', etag)
    const wanted = request.headers['if-none-match']
    if (wanted !== undefined && wanted.split(',').some((tag) => [etag, `W/${etag}`, '*'].includes(tag.trim()))) {
      return await reply.code(304).send()
    }
    return keySet
  })

  app.post('/ticket-keys/rotate', {
    onRequest: app.verifyAdminKey,
    schema: rotateTicketKeyOperation
  }, async function rotateTicketKey (request, reply) {
    return await reply.code(201).send(await codes.rotate())
  })

  app.get('/events/:eventId/revocations', {
    onRequest: app.verifyAdminOrScannerKey,
    schema: listRevocationsOperation
  }, async function listRevocations (request) {
    const { limit = DEFAULT_PAGE_SIZE, cursor } = request.query
    const missingEvent = notFoundProblem(`Event ${request.params.eventId} does not exist.`)
    if (!scannerMaySee(request.principal, request.params.eventId)) throw missingEvent
    const page = await tickets.revocations(request.params.eventId, limit, cursor)
    if (page === undefined) throw missingEvent
    return page
  })
}
