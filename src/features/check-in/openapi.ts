import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import {
  CheckInListCreateSchema, CheckInListListSchema, CheckInListTierProblemSchema, CheckInListParamsSchema, CheckInListSchema, MAX_CHECK_IN_LISTS_PER_EVENT, MAX_SCANNER_KEYS_PER_EVENT,
  ScannerKeyCreateSchema, ScannerKeyCreatedSchema, ScannerKeyListSchema, ScannerKeyParamsSchema, checkInListExample, scannerKeyCreatedExample, scannerKeyExample
} from '../../schemas/check-in.js'
import { NoQuerySchema, ref } from '../../schemas/common.js'
import { EventParamsSchema } from '../../schemas/events.js'
import {
  adminSecurity, bodyProblems, emptyResponse, jsonResponse, limitReachedResponse, locationHeader, problemExample, problemResponse, problems, scannerSecurity
} from '../../schemas/responses.js'

const TAGS = ['Check-in']
const eventId = checkInListExample.eventId
const listsPath = `/api/events/${eventId}/check-in-lists`
const keysPath = `/api/events/${eventId}/scanner-keys`
const foreignTier = '9b2e4c1a-7d3f-4e5a-8b6c-0d1e2f3a4b5c'

export const createCheckInListOperation = {
  operationId: 'createCheckInList',
  tags: TAGS,
  summary: 'Create a check-in list for an event (admin)',
  description: [
    'A door\'s rule: `ticketTierIds` limits the list to those tiers of the event (`null` or absent: every tier), and `allowReentry`',
    '(default `false`) lets a holder go out and in again. A tier that does not exist or belongs to another event is a `422`',
    '(`tier-not-in-event`, listing `ticketTierIds`).'
  ].join(' '),
  security: adminSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  body: ref(CheckInListCreateSchema),
  response: {
    201: jsonResponse(ref(CheckInListSchema), 'The list was created.', checkInListExample, locationHeader('The URL of the new check-in list.', `/api/check-in-lists/${checkInListExample.id}`)),
    ...problems(...bodyProblems, 401, 404),
    409: limitReachedResponse(
      `The event has ${MAX_CHECK_IN_LISTS_PER_EVENT} check-in lists already, the most an event may have.`,
      `Event ${eventId} has ${MAX_CHECK_IN_LISTS_PER_EVENT} check-in lists, the most an event may have.`,
      listsPath,
      MAX_CHECK_IN_LISTS_PER_EVENT
    ),
    422: problemResponse(ref(CheckInListTierProblemSchema), 'A tier does not exist or belongs to another event (listed in `ticketTierIds`). Nothing was created.', [{
      summary: 'Tier of another event',
      value: problemExample(problemKinds.tierNotInEvent, `Ticket tier ${foreignTier} is not a tier of event ${eventId}.`, listsPath, { ticketTierIds: [foreignTier] })
    }])
  }
} satisfies FastifySchema

export const getCheckInListOperation = {
  operationId: 'getCheckInList',
  tags: TAGS,
  summary: 'Get a check-in list',
  description: 'With an admin key, or a scanner key of the list\'s event; another event\'s scanner key gets `404`, exactly as for an unknown list.',
  security: scannerSecurity(),
  params: CheckInListParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(CheckInListSchema), 'The list.', checkInListExample), ...problems(400, 401, 404) }
} satisfies FastifySchema

export const listCheckInListsOperation = {
  operationId: 'listCheckInLists',
  tags: TAGS,
  summary: 'List an event\'s check-in lists',
  description: `Every list of the event in creation order (at most ${MAX_CHECK_IN_LISTS_PER_EVENT}). With an admin key, or a scanner key of this event; another event's scanner key gets \`404\`, as for an unknown event.`,
  security: scannerSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(CheckInListListSchema), 'The event\'s lists.', { data: [checkInListExample] }), ...problems(400, 401, 404) }
} satisfies FastifySchema

export const createScannerKeyOperation = {
  operationId: 'createScannerKey',
  tags: TAGS,
  summary: 'Create a scanner key for an event (admin)',
  description: [
    'A key for one scanning device: `key` is `tbs_` and 32 random bytes, shown this once; the server keeps only a hash.',
    'It works for the check-in operations and the revocations feed of this event only, until it is revoked.'
  ].join(' '),
  security: adminSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  body: ref(ScannerKeyCreateSchema),
  response: {
    201: jsonResponse(ref(ScannerKeyCreatedSchema), 'The key was created; store `key` on the device now.', { ...scannerKeyExample, key: scannerKeyCreatedExample }),
    ...problems(...bodyProblems, 401, 404),
    409: limitReachedResponse(
      `The event has ${MAX_SCANNER_KEYS_PER_EVENT} scanner keys already, revoked ones included: the most it may have.`,
      `Event ${eventId} has ${MAX_SCANNER_KEYS_PER_EVENT} scanner keys, revoked ones included: the most it may have.`,
      keysPath,
      MAX_SCANNER_KEYS_PER_EVENT
    )
  }
} satisfies FastifySchema

export const listScannerKeysOperation = {
  operationId: 'listScannerKeys',
  tags: TAGS,
  summary: 'List an event\'s scanner keys (admin)',
  description: 'Every scanner key of the event, revoked ones included, without secrets.',
  security: adminSecurity(),
  params: EventParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(ScannerKeyListSchema), 'The keys.', { data: [scannerKeyExample] }), ...problems(400, 401, 404) }
} satisfies FastifySchema

export const revokeScannerKeyOperation = {
  operationId: 'revokeScannerKey',
  tags: TAGS,
  summary: 'Revoke a scanner key (admin)',
  description: 'The key fails from the next request on (`401`). Revoking a revoked key is a `204` again; a key of another event is a `404`.',
  security: adminSecurity(),
  params: ScannerKeyParamsSchema,
  querystring: NoQuerySchema,
  response: { 204: emptyResponse('The key is revoked.'), ...problems(...bodyProblems, 401, 404) }
} satisfies FastifySchema
