import { Type, type Static } from '@sinclair/typebox'
import { problemKinds } from '../problems.js'
import { DateTimeSchema, NameSchema, Nullable, NullableString, PageSchema, ProblemSchema, UuidSchema, described, pageQueryFields, ref } from './common.js'
import { eventExample } from './events.js'
import { MAX_TIERS_PER_EVENT, ticketTierExample } from './ticket-tiers.js'
import { TicketSchema, ticketExample } from './tickets.js'

/** Check-in lists one event may have: its list of lists is one response. */
export const MAX_CHECK_IN_LISTS_PER_EVENT = 100
/** Scanner keys one event may have, revoked ones included: its key list is one response. */
export const MAX_SCANNER_KEYS_PER_EVENT = 1000

export const checkInListExample = {
  id: '8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  eventId: eventExample.id,
  name: 'VIP entrance',
  ticketTierIds: [ticketTierExample.id],
  allowReentry: false,
  createdAt: '2026-12-01T18:00:00.000Z'
}

export const CheckInListSchema = Type.Object({
  id: described(UuidSchema, 'The check-in list\'s id.'),
  eventId: described(UuidSchema, 'The event whose tickets the list admits.'),
  name: described(NameSchema, 'The list\'s name, 1 to 200 characters.'),
  ticketTierIds: Nullable(
    Type.Array(UuidSchema, { minItems: 1, maxItems: MAX_TIERS_PER_EVENT, uniqueItems: true }),
    'The tiers whose tickets the list admits, or `null`: every tier of the event.'
  ),
  allowReentry: Type.Boolean({ description: 'Whether a holder admitted on this list may go out and in again.' }),
  createdAt: described(DateTimeSchema, 'When the list was created, in UTC.')
}, { $id: 'CheckInList', additionalProperties: false, description: 'A door\'s rule: which of an event\'s tickets it admits, and whether they may come back in.', examples: [checkInListExample] })
export type CheckInList = Static<typeof CheckInListSchema>

/**
 * `allowReentry` of a new list, with its `default`, as a component of its own (like
 * NewTierMaxPerBooking): through a `$ref` openapi-typescript keeps it optional. The repository
 * applies the default.
 */
const NewListAllowReentrySchema = Type.Boolean({
  $id: 'NewListAllowReentry',
  default: false,
  description: 'Whether a holder may go out and in again; `false` when left out.'
})

export const CheckInListCreateSchema = Type.Object({
  name: NameSchema,
  ticketTierIds: Type.Optional(Nullable(
    Type.Array(UuidSchema, { minItems: 1, maxItems: MAX_TIERS_PER_EVENT, uniqueItems: true }),
    'Tiers of this event whose tickets the list admits; `null` or absent: every tier.'
  )),
  allowReentry: Type.Optional(ref(NewListAllowReentrySchema))
}, {
  $id: 'CheckInListCreate',
  additionalProperties: false,
  description: 'A new check-in list for the event.',
  examples: [{ name: 'VIP entrance', ticketTierIds: [ticketTierExample.id], allowReentry: false }]
})
export type CheckInListCreate = Static<typeof CheckInListCreateSchema>

export const CheckInListListSchema = Type.Object({
  data: Type.Array(ref(CheckInListSchema), { maxItems: MAX_CHECK_IN_LISTS_PER_EVENT, description: `The event's check-in lists in creation order; an event has at most ${MAX_CHECK_IN_LISTS_PER_EVENT}.` })
}, { $id: 'CheckInListList', additionalProperties: false, description: 'An event\'s check-in lists.' })

export const CheckInListTierProblemSchema = Type.Object({
  ...ProblemSchema.properties,
  ticketTierIds: Type.Array(UuidSchema, { maxItems: MAX_TIERS_PER_EVENT, description: 'The requested tiers that do not exist or belong to another event.' })
}, {
  $id: 'CheckInListTierProblem',
  description: `\`${problemKinds.tierNotInEvent.type}\`: no list was created.`,
  additionalProperties: true
})

export const scannerKeyExample = {
  id: '1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b',
  name: 'North gate, device 3',
  prefix: 'tbs_N2Qx7aPz',
  createdAt: '2026-12-01T18:05:00.000Z',
  revokedAt: null
}
export const scannerKeyCreatedExample = 'tbs_4xQm2Zr0PpW9kVb7JhTg1cYs3LdN6eRf8oUaiSBjCtE'

const scannerKeyProperties = {
  id: described(UuidSchema, 'The scanner key\'s id.'),
  name: described(NameSchema, 'Your label for the device, 1 to 200 characters.'),
  prefix: Type.String({ maxLength: 12, pattern: '^tbs_', description: 'The first characters of the key, to recognise it; the rest is never shown again.' }),
  createdAt: described(DateTimeSchema, 'When the key was created, in UTC.'),
  revokedAt: NullableString(DateTimeSchema, 'When the key was revoked, or `null` while it works.')
}

export const ScannerKeySchema = Type.Object(scannerKeyProperties, {
  $id: 'ScannerKey', additionalProperties: false, description: 'A scanning device\'s key for one event, without its secret.', examples: [scannerKeyExample]
})
export type ScannerKey = Static<typeof ScannerKeySchema>

export const ScannerKeyCreatedSchema = Type.Object({
  ...scannerKeyProperties,
  key: Type.String({ maxLength: 47, pattern: '^tbs_[A-Za-z0-9_-]{43}$', description: 'The secret key, shown in this response only: store it on the device now. Send it as `Authorization: Bearer <key>`.' })
}, {
  $id: 'ScannerKeyCreated',
  additionalProperties: false,
  description: 'A new scanner key with its secret, which no later response shows.',
  examples: [{ ...scannerKeyExample, key: scannerKeyCreatedExample }]
})
export type ScannerKeyCreated = Static<typeof ScannerKeyCreatedSchema>

export const ScannerKeyCreateSchema = Type.Object({ name: NameSchema }, {
  $id: 'ScannerKeyCreate', additionalProperties: false, description: 'A new scanner key for the event.', examples: [{ name: 'North gate, device 3' }]
})

export const ScannerKeyListSchema = Type.Object({
  data: Type.Array(ref(ScannerKeySchema), { maxItems: MAX_SCANNER_KEYS_PER_EVENT, description: `All of the event's scanner keys, oldest first, revoked ones included; an event has at most ${MAX_SCANNER_KEYS_PER_EVENT}.` })
}, { $id: 'ScannerKeyList', additionalProperties: false, description: 'An event\'s scanner keys.' })

export const CheckInListParamsSchema = Type.Object({
  checkInListId: Type.String({ ...UuidSchema, examples: [checkInListExample.id] })
}, { additionalProperties: false })

export const ScannerKeyParamsSchema = Type.Object({
  eventId: Type.String({ ...UuidSchema, examples: [eventExample.id] }),
  keyId: Type.String({ ...UuidSchema, examples: [scannerKeyExample.id] })
}, { additionalProperties: false })

/** Scans in one offline upload. */
export const MAX_SCANS_PER_UPLOAD = 1000
/** How far ahead of the server's clock a scan's `scannedAt` may be (device clocks drift). */
export const MAX_SCAN_CLOCK_SKEW_MS = 60_000
/** Longest `code` a scan may send: codes this service issues have at most 400 characters; a longer one is not a code. */
export const MAX_SCANNED_CODE_LENGTH = 1000

export const CHECK_IN_TYPES = ['entry', 'exit'] as const
export type CheckInType = typeof CHECK_IN_TYPES[number]

export const CheckInTypeSchema = Type.Union(CHECK_IN_TYPES.map((type) => Type.Literal(type)), {
  $id: 'CheckInType',
  description: '`entry`: the holder comes in. `exit`: the holder goes out (on a list with re-entry, they may come back in).'
})

/** `type` of a scan, with its default, as a component of its own (so generated clients keep it optional). */
const ScanTypeSchema = Type.Union(CHECK_IN_TYPES.map((type) => Type.Literal(type)), {
  $id: 'ScanType',
  default: 'entry',
  description: '`entry` (when left out) or `exit`.'
})

const NonceSchema = Type.String({
  minLength: 1,
  maxLength: 100,
  description: 'The device\'s name for this one scan, 1 to 100 characters, unique among the scans of the event (a UUID is a good choice). Sending the same scan again with it replays the first answer and records nothing more.',
  examples: ['c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978']
})

const GateSchema = Type.String({ minLength: 1, maxLength: 100, description: 'Where the scan happened, 1 to 100 characters.', examples: ['North gate'] })

const ScannedCodeSchema = Type.String({
  minLength: 1,
  maxLength: MAX_SCANNED_CODE_LENGTH,
  description: `The ticket's code as the device read it (at most ${MAX_SCANNED_CODE_LENGTH} characters; codes this service issues have at most 400). Anything that is not a code of a ticket of the scanner key's event, forged or garbled, is a \`404 unknown-code\`.`,
  examples: [ticketExample.code]
})

export const checkInExample = {
  id: '5d4c3b2a-1908-4f7e-8d6c-5b4a39281706',
  ticketId: ticketExample.id,
  checkInListId: checkInListExample.id,
  type: 'entry',
  scannedAt: '2026-12-31T19:02:11.250Z',
  recordedAt: '2026-12-31T19:02:11.301Z',
  gate: 'North gate',
  nonce: 'c1a4f6e2-7b3d-4e8a-9f10-2d3c4b5a6978',
  ticket: ticketExample
}

export const scanExample = { code: ticketExample.code, checkInListId: checkInListExample.id, nonce: checkInExample.nonce, type: 'entry', gate: 'North gate' }

const scanProperties = {
  code: ScannedCodeSchema,
  checkInListId: described(UuidSchema, 'The check-in list the door scans for (a list of the scanner key\'s event).'),
  nonce: NonceSchema,
  type: Type.Optional(ref(ScanTypeSchema)),
  gate: Type.Optional(GateSchema)
}

export const ScanSchema = Type.Object({
  ...scanProperties,
  scannedAt: Type.Optional(described(DateTimeSchema, 'When the scan happened (default: now); more than 60 s ahead of the server\'s clock is a `400`.'))
}, { $id: 'Scan', additionalProperties: false, description: 'One scan of a ticket\'s code at a door.', examples: [scanExample] })
export type Scan = Static<typeof ScanSchema>

export const OfflineScanSchema = Type.Object({
  ...scanProperties,
  scannedAt: described(DateTimeSchema, 'When the scan happened on the device; more than 60 s ahead of the server\'s clock is `rejected`.')
}, { $id: 'OfflineScan', additionalProperties: false, description: 'A scan a device made while offline: as a `Scan`, with `scannedAt` required.', examples: [{ ...scanExample, scannedAt: checkInExample.scannedAt }] })

export const CheckInBatchSchema = Type.Object({
  checkIns: Type.Array(ref(OfflineScanSchema), { minItems: 1, maxItems: MAX_SCANS_PER_UPLOAD, description: `1 to ${MAX_SCANS_PER_UPLOAD} scans, in any order: they are applied in \`scannedAt\` order.` })
}, { $id: 'CheckInBatch', additionalProperties: false, description: 'The scans a device made while offline.', examples: [{ checkIns: [{ ...scanExample, scannedAt: checkInExample.scannedAt }] }] })
export type CheckInBatch = Static<typeof CheckInBatchSchema>

export const CheckInSchema = Type.Object({
  id: described(UuidSchema, 'The check-in\'s id.'),
  ticketId: described(UuidSchema, 'The ticket scanned.'),
  checkInListId: described(UuidSchema, 'The list it was scanned for.'),
  type: ref(CheckInTypeSchema),
  scannedAt: described(DateTimeSchema, 'When the scan happened (as the device said), in UTC.'),
  recordedAt: described(DateTimeSchema, 'When the server recorded it, in UTC.'),
  gate: NullableString(GateSchema, 'Where the scan happened, or `null`.'),
  nonce: described(NonceSchema, 'The device\'s nonce of the scan.'),
  ticket: ref(TicketSchema)
}, {
  $id: 'CheckIn',
  additionalProperties: false,
  description: 'A recorded scan that let its holder in (`entry`) or out (`exit`), with the ticket as it was then, so the gate can show the tier and the holder\'s name.',
  examples: [checkInExample]
})
export type CheckIn = Static<typeof CheckInSchema>

const FirstCheckInSchema = Type.Object({
  scannedAt: described(DateTimeSchema, 'When the admission that stands was scanned.'),
  gate: NullableString(GateSchema, 'Where, or `null`.')
}, { additionalProperties: false, description: 'The admission that stands: the first one (the entry of the current stay, on a list with re-entry).' })

export const ScanProblemSchema = Type.Object({
  ...ProblemSchema.properties,
  ticketId: Type.Optional(described(UuidSchema, 'The ticket the code names (every refusal of a ticket of the event carries it).')),
  firstCheckIn: Type.Optional(FirstCheckInSchema)
}, {
  $id: 'ScanProblem',
  additionalProperties: true,
  description: [
    'Why a scan was refused: `already-checked-in` (409, with `firstCheckIn`), `ticket-void`, `code-revoked`, `not-inside` (409),',
    '`ticket-not-on-list`, `nonce-reuse` (422), `unknown-code`, `not-found` (404, an unknown list) or `validation-error` (400).'
  ].join(' ')
})

export const CHECK_IN_OUTCOMES = ['admitted', 'replayed', 'rejected', 'conflict'] as const

export const CheckInResultSchema = Type.Object({
  nonce: described(NonceSchema, 'The scan\'s nonce.'),
  outcome: Type.Union(CHECK_IN_OUTCOMES.map((outcome) => Type.Literal(outcome)), {
    description: [
      '`admitted`: recorded (an entry let in, or an exit let out). `replayed`: this nonce was recorded before; `checkIn` and `problem` are its first answer.',
      '`rejected`: refused as a single scan would have been (`problem` says why). `conflict`: an entry a single scan would have refused as',
      '`already-checked-in`: the holder got in twice. The first admission stands; this one is recorded as the conflict (`checkIn`, with `problem`',
      'naming the first), and counts for `inside`.'
    ].join(' ')
  }),
  checkIn: Type.Union([ref(CheckInSchema), Type.Null()], { description: 'The recorded check-in (`admitted`, `conflict`, or a replay of one); otherwise `null`.' }),
  problem: Type.Union([ref(ScanProblemSchema), Type.Null()], { description: 'Why it was refused (`rejected`, or a replay of a refusal), or what it conflicts with (`conflict`); otherwise `null`.' })
}, { $id: 'CheckInResult', additionalProperties: false, description: 'What became of one scan of an upload.' })
export type CheckInResult = Static<typeof CheckInResultSchema>

export const CheckInBatchResultSchema = Type.Object({
  results: Type.Array(ref(CheckInResultSchema), { maxItems: MAX_SCANS_PER_UPLOAD, description: 'One result per scan, in request order.' })
}, {
  $id: 'CheckInBatchResult',
  additionalProperties: false,
  description: 'What became of each scan of an upload.',
  examples: [{ results: [{ nonce: checkInExample.nonce, outcome: 'admitted', checkIn: checkInExample, problem: null }] }]
})

export const conflictExample = {
  ticketId: ticketExample.id,
  first: checkInExample,
  second: { nonce: '0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b', scannedAt: '2026-12-31T19:40:02.000Z', gate: 'South gate', recordedAt: '2026-12-31T21:15:40.512Z' }
}

export const CheckInConflictSchema = Type.Object({
  ticketId: described(UuidSchema, 'The ticket that got in twice.'),
  first: ref(CheckInSchema),
  second: Type.Object({
    nonce: described(NonceSchema, 'The nonce of the second entry.'),
    scannedAt: described(DateTimeSchema, 'When the second entry was scanned (on the device).'),
    gate: NullableString(GateSchema, 'Where, or `null`.'),
    recordedAt: described(DateTimeSchema, 'When the upload that carried it was recorded.')
  }, { additionalProperties: false, description: 'The entry that let the holder in a second time, recorded as the conflict.' })
}, { $id: 'CheckInConflict', additionalProperties: false, description: 'A ticket admitted twice while a device was offline: the first admission stands.', examples: [conflictExample] })
export type CheckInConflict = Static<typeof CheckInConflictSchema>

export const CheckInConflictPageSchema = PageSchema(CheckInConflictSchema, {
  $id: 'CheckInConflictPage', description: 'One page of a list\'s conflicts.', items: 'Up to `limit` conflicts, oldest first (in the order they were recorded).'
})

export const ConflictQuerySchema = Type.Object(pageQueryFields(), { additionalProperties: false })

const countSchema = (description: string) => Type.Integer({ format: 'int32', minimum: 0, maximum: 2_147_483_647, description })

export const checkInStatusExample = {
  tickets: 1200,
  admitted: 845,
  inside: 790,
  conflicts: 2,
  byTier: [{ ticketTierId: ticketTierExample.id, tickets: 1200, admitted: 845, inside: 790 }]
}

export const CheckInListStatusSchema = Type.Object({
  tickets: countSchema('`valid` tickets the list admits.'),
  admitted: countSchema('Distinct tickets admitted on the list at least once.'),
  inside: countSchema('Tickets whose last recorded scan on the list let them in (a conflict counts: somebody got in).'),
  conflicts: countSchema('Offline double admissions recorded on the list (`GET …/conflicts` lists them).'),
  byTier: Type.Array(Type.Object({
    ticketTierId: described(UuidSchema, 'The tier.'),
    tickets: countSchema('`valid` tickets of the tier.'),
    admitted: countSchema('Its tickets admitted at least once.'),
    inside: countSchema('Its tickets inside now.')
  }, { additionalProperties: false }), { maxItems: MAX_TIERS_PER_EVENT, description: 'Every tier the list admits, zeros included, in the tiers\' creation order.' })
}, {
  $id: 'CheckInListStatus',
  additionalProperties: false,
  description: 'Exact counts of a list at one instant (one snapshot of the database), not estimates.',
  examples: [checkInStatusExample]
})
export type CheckInListStatus = Static<typeof CheckInListStatusSchema>

export const checkInSchemas = [
  NewListAllowReentrySchema, CheckInListSchema, CheckInListTierProblemSchema, CheckInListCreateSchema, CheckInListListSchema, ScannerKeySchema, ScannerKeyCreatedSchema, ScannerKeyCreateSchema, ScannerKeyListSchema,
  CheckInTypeSchema, ScanTypeSchema, ScanSchema, OfflineScanSchema, CheckInBatchSchema, CheckInSchema, ScanProblemSchema, CheckInResultSchema, CheckInBatchResultSchema,
  CheckInConflictSchema, CheckInConflictPageSchema, CheckInListStatusSchema
]
