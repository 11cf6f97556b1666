import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import { BookingParamsSchema } from '../../schemas/bookings.js'
import { EventParamsSchema } from '../../schemas/events.js'
import { NoQuerySchema, ProblemSchema, ref } from '../../schemas/common.js'
import {
  adminSecurity, bodyProblems, integratorSecurity, jsonResponse, mediaResponse, notModifiedResponse, problemExample, problemResponse, problems,
  publicSecurity, scannerSecurity
} from '../../schemas/responses.js'
import {
  RevocationPageSchema, RevocationQuerySchema, TicketKeySetSchema, TicketKeysHeadersSchema, TicketListSchema, TicketParamsSchema, TicketPublicKeySchema, TicketSchema,
  TicketUpdateSchema, publicKeyExample, qrExample, revocationExample, ticketExample
} from '../../schemas/tickets.js'

const TAGS = ['Tickets']
const ticketPath = `/api/tickets/${ticketExample.id}`
const voidExample = {
  summary: 'The ticket is void',
  value: problemExample(problemKinds.ticketVoid, `Ticket ${ticketExample.id} is void: its booking was cancelled or its hold expired.`, ticketPath)
}
const pendingExample = {
  summary: 'The ticket has no code yet',
  value: problemExample(problemKinds.ticketPending, `Ticket ${ticketExample.id} has no code while its booking is held; confirm the booking first.`, ticketPath)
}

const cacheHeaders = {
  'Cache-Control': {
    description: 'The key set may be cached for five minutes; fetch it again at once on a code whose `kid` it lacks.',
    type: 'string' as const,
    maxLength: 100,
    pattern: '^public, max-age=[0-9]{1,9}$',
    example: 'public, max-age=300'
  },
  ETag: {
    description: 'Names this version of the key set (a strong entity tag); send it back as `If-None-Match` to get `304` while nothing changed.',
    type: 'string' as const,
    maxLength: 100,
    pattern: '^"[A-Za-z0-9_-]{1,98}"$',
    example: '"Nq3b0Tb6Xx5XtR1F1mS8kQ"'
  }
}

export const listBookingTicketsOperation = {
  operationId: 'listBookingTickets',
  tags: TAGS,
  summary: 'List a booking\'s tickets',
  description: [
    'Every ticket of the booking (one per booked unit), in `position` order, as the booking is now: `pending` while it is held,',
    '`valid` with a `code` once it is confirmed, `void` once it is cancelled or expired. The tickets and the booking never disagree.',
    'Another integrator\'s booking is a `404`; an admin key reads any.'
  ].join(' '),
  security: integratorSecurity('bookings:read', true),
  params: BookingParamsSchema,
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(TicketListSchema), 'The booking\'s tickets.', { data: [ticketExample, { ...ticketExample, id: '4d0e3f2a-5b6c-4d7e-9f8a-0b1c2d3e4f5a', position: 2, attendeeName: null }] }),
    ...problems(400, 401, 403, 404)
  }
} satisfies FastifySchema

export const getTicketOperation = {
  operationId: 'getTicket',
  tags: TAGS,
  summary: 'Get a ticket',
  description: 'One ticket, as its booking is now. Another integrator\'s ticket is a `404`, exactly like a missing one; an admin key reads any.',
  security: integratorSecurity('bookings:read', true),
  params: TicketParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(TicketSchema), 'The ticket.', ticketExample), ...problems(400, 401, 403, 404) }
} satisfies FastifySchema

export const updateTicketOperation = {
  operationId: 'updateTicket',
  tags: TAGS,
  summary: 'Name a ticket\'s holder',
  description: 'Sets or clears `attendeeName`, on a `pending` or `valid` ticket; the code does not change (it holds nothing personal). A `void` ticket is a `409`. Admin keys read tickets but do not change them.',
  security: integratorSecurity('bookings:write'),
  params: TicketParamsSchema,
  querystring: NoQuerySchema,
  body: ref(TicketUpdateSchema),
  response: {
    200: jsonResponse(ref(TicketSchema), 'The ticket with its holder\'s name.', ticketExample),
    ...problems(...bodyProblems, 401, 403, 404),
    409: problemResponse(ref(ProblemSchema), 'The ticket is void.', [voidExample])
  }
} satisfies FastifySchema

export const getTicketQrOperation = {
  operationId: 'getTicketQr',
  tags: TAGS,
  summary: 'Get a ticket\'s QR code',
  description: 'The ticket\'s `code` as a QR code (SVG, error correction level M), for e-mails and wallets. A ticket without a code (`pending` or `void`) is a `409`.',
  security: integratorSecurity('bookings:read', true),
  params: TicketParamsSchema,
  querystring: NoQuerySchema,
  response: {
    200: mediaResponse('image/svg+xml', 'An SVG image of the QR code (the example\'s path data is shortened).', qrExample),
    ...problems(400, 401, 403, 404),
    409: problemResponse(ref(ProblemSchema), 'The ticket has no code: it is `pending` (its booking is held) or `void`.', [pendingExample, voidExample])
  }
} satisfies FastifySchema

export const reissueTicketOperation = {
  operationId: 'reissueTicket',
  tags: TAGS,
  summary: 'Reissue a ticket\'s code',
  description: [
    'Gives a `valid` ticket a new code (`ver` one more, signed with the current key, `reissuedAt` set), for a holder whose code leaked.',
    'The old code is revoked from that instant: it is listed in the event\'s revocations for offline scanners. A `pending` or `void` ticket is a `409`.'
  ].join(' '),
  security: integratorSecurity('bookings:write'),
  params: TicketParamsSchema,
  querystring: NoQuerySchema,
  response: {
    200: jsonResponse(ref(TicketSchema), 'The ticket with its new code.', { ...ticketExample, reissuedAt: '2026-11-26T09:30:00.000Z' }),
    ...problems(...bodyProblems, 401, 403, 404),
    409: problemResponse(ref(ProblemSchema), 'The ticket has no code to reissue: it is `pending` or `void`.', [pendingExample, voidExample])
  }
} satisfies FastifySchema

export const listTicketKeysOperation = {
  operationId: 'listTicketKeys',
  tags: TAGS,
  summary: 'Get the keys that verify ticket codes',
  description: [
    'A JWK Set (RFC 7517) of Ed25519 public keys: the current signing key and every older one that signed a code still valid.',
    'Verify a code offline with any JOSE library: the key is the one whose `kid` the code\'s protected header names, the algorithm `EdDSA`.',
    'Public and cacheable (`Cache-Control`, `ETag`; `If-None-Match` gives `304`).'
  ].join(' '),
  security: publicSecurity(),
  querystring: NoQuerySchema,
  headers: TicketKeysHeadersSchema,
  response: {
    200: jsonResponse(ref(TicketKeySetSchema), 'The key set.', { keys: [publicKeyExample] }, cacheHeaders),
    304: notModifiedResponse('The key set is the one named in `If-None-Match`.', cacheHeaders),
    ...problems(400)
  }
} satisfies FastifySchema

export const rotateTicketKeyOperation = {
  operationId: 'rotateTicketKey',
  tags: TAGS,
  summary: 'Rotate the ticket signing key',
  description: [
    'Generates a new Ed25519 key that signs every code from now on (new tickets and reissues; other server processes switch within a second).',
    'Codes already issued keep their key, which stays in `GET /api/ticket-keys` while any code it signed is valid.',
    'When the operator supplies the keys (`TICKET_SIGNING_KEYS`) they are rotated there: `409`.'
  ].join(' '),
  security: adminSecurity(),
  querystring: NoQuerySchema,
  response: {
    201: jsonResponse(ref(TicketPublicKeySchema), 'The new current key (its public part).', publicKeyExample),
    ...problems(...bodyProblems, 401),
    409: problemResponse(ref(ProblemSchema), 'The keys come from `TICKET_SIGNING_KEYS`.', [{
      summary: 'Keys configured by the operator',
      value: problemExample(problemKinds.keysConfigured, 'The signing keys come from TICKET_SIGNING_KEYS: rotate them there (put the new key first) and restart.', '/api/ticket-keys/rotate')
    }])
  }
} satisfies FastifySchema

export const listRevocationsOperation = {
  operationId: 'listRevocations',
  tags: TAGS,
  summary: 'List an event\'s revoked codes',
  description: [
    'For offline scanners: every code of the event that no longer admits anyone (reissued, or its booking cancelled after it was confirmed), oldest first.',
    '`nextCursor` is never `null`: keep the last one and ask again with it later for what came since. Each entry is written in the transaction that',
    'revoked the code, and entries are numbered in the order those transactions commit, so none ever appears behind a cursor you hold.',
    'A hold\'s tickets never had a code, so its expiry or cancellation revokes nothing. An admin key or a scanner key of this event reads it;',
    'another event\'s scanner key gets `404`, as for an unknown event.'
  ].join(' '),
  security: scannerSecurity(),
  params: EventParamsSchema,
  querystring: RevocationQuerySchema,
  response: {
    200: jsonResponse(ref(RevocationPageSchema), 'Revocations after `cursor`.', { data: [revocationExample], nextCursor: 'cjQy' }),
    ...problems(400, 401, 404)
  }
} satisfies FastifySchema
