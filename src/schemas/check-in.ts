import { Type, type Static } from '@sinclair/typebox'
import { problemKinds } from '../problems.js'
import { DateTimeSchema, NameSchema, Nullable, ProblemSchema, UuidSchema, described, ref } from './common.js'
import { eventExample } from './events.js'
import { MAX_TIERS_PER_EVENT, ticketTierExample } from './ticket-tiers.js'

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
  revokedAt: Nullable(DateTimeSchema, 'When the key was revoked, or `null` while it works.')
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

export const checkInSchemas = [
  NewListAllowReentrySchema, CheckInListSchema, CheckInListTierProblemSchema, CheckInListCreateSchema, CheckInListListSchema, ScannerKeySchema, ScannerKeyCreatedSchema, ScannerKeyCreateSchema, ScannerKeyListSchema
]
