import { Type, type Static } from '@sinclair/typebox'
import { problemKinds } from '../problems.js'
import { MAX_ITEMS_PER_BOOKING, MAX_QUANTITY, bookingExample } from './bookings.js'
import { DateTimeSchema, MAX_PAGE_SIZE, NameSchema, Nullable, NullableString, UuidSchema, described, pageQueryFields, ref } from './common.js'

/** A booking's tickets: one per booked unit, at most every item at its highest quantity. */
export const MAX_TICKETS_PER_BOOKING = MAX_ITEMS_PER_BOOKING * MAX_QUANTITY
export const MAX_CODE_LENGTH = 400
/**
 * A revocations cursor is base64url of `r<entry number>`: at most 1 + 19 = 20 bytes, 27 characters;
 * the shortest, `r0`, is 3. The feed accepts no other (tickets-repository.ts).
 */
const MIN_FEED_CURSOR_LENGTH = 3
const MAX_FEED_CURSOR_LENGTH = 27
const FeedCursorSchema = { minLength: MIN_FEED_CURSOR_LENGTH, maxLength: MAX_FEED_CURSOR_LENGTH, pattern: '^[A-Za-z0-9_-]+$' }

export const TICKET_STATUSES = ['pending', 'valid', 'void'] as const

export const TicketStatusSchema = Type.Union(TICKET_STATUSES.map((status) => Type.Literal(status)), {
  $id: 'TicketStatus',
  description: [
    'Follows the booking: `pending` while it is `held` (no code yet: nobody gets in on an unpaid hold), ',
    '`valid` once it is `confirmed` (the ticket has a `code`), `void` once it is `cancelled` or `expired`.'
  ].join('')
})

export const ticketExample = {
  id: '3c9d2e1f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
  bookingId: bookingExample.id,
  eventId: bookingExample.eventId,
  ticketTierId: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71',
  tierName: 'VIP',
  position: 1,
  status: 'valid',
  code: 'eyJhbGciOiJFZERTQSIsImtpZCI6IlJybUFEOEwzM3F0aTBEaG0ifQ.eyJ0aWQiOiIzYzlkMmUxZi00YTViLTRjNmQtOGU3Zi05YTBiMWMyZDNlNGYiLCJlaWQiOiI2ZjFjMmE5ZS04ZDRiLTRjMWUtOWE3Zi0yYjNjNGQ1ZTZmNzAiLCJ0aWVyIjoiNmYxYzJhOWUtOGQ0Yi00YzFlLTlhN2YtMmIzYzRkNWU2ZjcxIiwidmVyIjoxfQ.9lxMn1wBupYetiXPMYHmJoXj-jKVgr4LxaWXkpwVB_Nf99XXx6PZ038FhvhM2isNzVSmplIG6qj3cWceF7BFBA',
  attendeeName: 'Ada Lovelace',
  createdAt: bookingExample.createdAt,
  reissuedAt: null
}

export const TicketCodeSchema = Type.String({
  maxLength: MAX_CODE_LENGTH,
  pattern: '^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$',
  description: [
    'A compact JWS (RFC 7515) signed with Ed25519 (`alg: "EdDSA"`, RFC 8037), at most 400 characters. ',
    'Its protected header names the signing key in `kid` (one of `GET /api/ticket-keys`); its payload is ',
    '`{ "tid": ticket id, "eid": event id, "tier": ticket tier id, "ver": code version }` and nothing personal. ',
    '`ver` is 1 at issue and one more at each reissue; a scanner refuses a `(tid, ver)` listed in the event\'s revocations.'
  ].join('')
})

const AttendeeNameSchema = described(NameSchema, 'The name of the person this ticket admits, 1 to 200 characters.')

export const TicketSchema = Type.Object({
  id: described(UuidSchema, 'The ticket\'s id (`tid` in its code).'),
  bookingId: described(UuidSchema, 'The booking the ticket belongs to.'),
  eventId: described(UuidSchema, 'The event it admits to (`eid` in its code).'),
  ticketTierId: described(UuidSchema, 'Its tier (`tier` in its code).'),
  tierName: described(NameSchema, 'The tier\'s name when the booking was made.'),
  position: Type.Integer({ format: 'int32', minimum: 1, maximum: MAX_TICKETS_PER_BOOKING, description: 'Numbers the booking\'s tickets from 1, in the order of its items.' }),
  status: ref(TicketStatusSchema),
  code: NullableString(TicketCodeSchema, 'The code to show at the door while the ticket is `valid`; `null` while it is `pending` or `void`.'),
  attendeeName: NullableString(AttendeeNameSchema, 'Who the ticket is for, or `null` while nobody is named.'),
  createdAt: described(DateTimeSchema, 'When the ticket was made (with its booking), in UTC.'),
  reissuedAt: NullableString(DateTimeSchema, 'When the code was last reissued, or `null`.')
}, {
  $id: 'Ticket',
  additionalProperties: false,
  description: 'What one person shows at the door. A booking of 2 VIP and 1 GA has 3 tickets.',
  examples: [ticketExample]
})
export type Ticket = Static<typeof TicketSchema>

export const TicketListSchema = Type.Object({
  data: Type.Array(ref(TicketSchema), { maxItems: MAX_TICKETS_PER_BOOKING, description: 'Every ticket of the booking, in `position` order.' })
}, { $id: 'TicketList', additionalProperties: false, description: 'A booking\'s tickets.' })

export const TicketUpdateSchema = Type.Object({
  attendeeName: Nullable(AttendeeNameSchema, 'The holder\'s name, or `null` to clear it.')
}, {
  $id: 'TicketUpdate',
  additionalProperties: false,
  description: 'Names (or un-names) the ticket\'s holder. The code does not change: it holds nothing personal.',
  examples: [{ attendeeName: 'Ada Lovelace' }]
})
export type TicketUpdate = Static<typeof TicketUpdateSchema>

export const TicketParamsSchema = Type.Object({ ticketId: Type.String({ ...UuidSchema, examples: [ticketExample.id] }) }, { additionalProperties: false })

export const publicKeyExample = {
  kty: 'OKP',
  crv: 'Ed25519',
  x: 'kvKE10q9KATOb6g0HWiBHFs5eHvZPTpnoJZlOopcjdw',
  kid: 'RrmAD8L33qti0Dhm',
  alg: 'EdDSA',
  use: 'sig'
}

export const TicketPublicKeySchema = Type.Object({
  kty: Type.Literal('OKP', { description: 'Key type: an octet key pair (RFC 8037).' }),
  crv: Type.Literal('Ed25519', { description: 'The curve.' }),
  x: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', maxLength: 43, description: 'The public key, base64url.' }),
  kid: Type.String({ minLength: 1, maxLength: 100, pattern: '^[\\x21-\\x7e]+$', description: 'The key id codes name in their protected header.' }),
  alg: Type.Literal('EdDSA', { description: 'The one algorithm codes are signed with.' }),
  use: Type.Literal('sig', { description: 'The key verifies signatures.' })
}, {
  $id: 'TicketPublicKey',
  additionalProperties: false,
  description: 'A public key that verifies ticket codes (a JWK, RFC 7517).',
  examples: [publicKeyExample]
})

export const TicketKeySetSchema = Type.Object({
  keys: Type.Array(ref(TicketPublicKeySchema), { minItems: 1, maxItems: 1000, description: 'The current signing key first, then every older key that signed a code still valid.' })
}, {
  $id: 'TicketKeySet',
  additionalProperties: false,
  description: 'A JWK Set (RFC 7517) of the keys whose codes may still be presented.',
  examples: [{ keys: [publicKeyExample] }]
})

export const qrExample = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 85 85" shape-rendering="crispEdges"><path fill="#ffffff" d="M0 0h85v85H0z"/><path stroke="#000000" d="M4 4.5h7m3 0h1…"/></svg>'

export const TicketKeysHeadersSchema = Type.Object({
  'if-none-match': Type.Optional(Type.String({
    maxLength: 1000,
    description: 'The `ETag` of the key set you hold (or several, comma-separated): while it is still the current one the answer is `304` without a body.',
    examples: ['"Nq3b0Tb6Xx5XtR1F1mS8kQ"']
  }))
})

export const REVOCATION_REASONS = ['reissued', 'cancelled'] as const

export const revocationExample = {
  ticketId: ticketExample.id,
  ver: 1,
  reason: 'reissued',
  revokedAt: '2026-11-26T09:30:00.000Z'
}

export const RevocationSchema = Type.Object({
  ticketId: described(UuidSchema, 'The ticket whose code is revoked (`tid`).'),
  ver: Type.Integer({ format: 'int32', minimum: 1, maximum: 2_147_483_647, description: 'The code version revoked: refuse a code with this `tid` and this `ver` (or a lower one).' }),
  reason: Type.Union(REVOCATION_REASONS.map((reason) => Type.Literal(reason)), { description: '`reissued`: the ticket has a newer code. `cancelled`: its booking was cancelled.' }),
  revokedAt: described(DateTimeSchema, 'When the code was revoked, in UTC.')
}, { $id: 'Revocation', additionalProperties: false, description: 'A code that no longer admits anyone.', examples: [revocationExample] })

export const RevocationPageSchema = Type.Object({
  data: Type.Array(ref(RevocationSchema), { maxItems: MAX_PAGE_SIZE, description: 'Up to `limit` revocations, oldest first.' }),
  nextCursor: Type.String({
    ...FeedCursorSchema,
    description: 'Never `null`: keep it, and ask again with it later for the revocations written since. A page shorter than `limit` means you are up to date.'
  })
}, { $id: 'RevocationPage', additionalProperties: false, description: 'Revocations of one event\'s codes, oldest first.' })

export const RevocationQuerySchema = Type.Object({
  limit: pageQueryFields().limit,
  cursor: Type.Optional(Type.String({
    ...FeedCursorSchema,
    description: 'A `nextCursor` this feed returned; leave it out to read from the start.'
  }))
}, { additionalProperties: false })

export const ticketSchemas = [TicketStatusSchema, TicketSchema, TicketListSchema, TicketUpdateSchema, TicketPublicKeySchema, TicketKeySetSchema, RevocationSchema, RevocationPageSchema]

/** The problem types of ticket operations, for their documentation. */
export const ticketProblemKinds = [problemKinds.ticketVoid, problemKinds.ticketPending, problemKinds.keysConfigured]
