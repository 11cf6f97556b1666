import type { FastifySchema } from 'fastify'
import { problemKinds } from '../../problems.js'
import {
  CheckInBatchResultSchema, CheckInBatchSchema, CheckInConflictPageSchema, CheckInListCreateSchema, CheckInListListSchema, CheckInListStatusSchema, CheckInListTierProblemSchema,
  CheckInListParamsSchema, CheckInListSchema, CheckInSchema, ConflictQuerySchema, MAX_CHECK_IN_LISTS_PER_EVENT, MAX_SCANNER_KEYS_PER_EVENT, MAX_SCANS_PER_UPLOAD, ScanProblemSchema,
  ScanSchema, ScannerKeyCreateSchema, ScannerKeyCreatedSchema, ScannerKeyListSchema, ScannerKeyParamsSchema, checkInExample, checkInListExample, checkInStatusExample, conflictExample,
  scannerKeyCreatedExample, scannerKeyExample
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

const scanPath = '/api/check-ins'
const replayedHeader = {
  'Idempotent-Replayed': { description: 'Present (`true`) on a replay: the first answer to a scan with this nonce, as it was then; nothing more was recorded.', type: 'string' as const, enum: ['true'], maxLength: 4, example: 'true' }
}
const ticketId = checkInExample.ticketId

export const scanOperation = {
  operationId: 'scanTicket',
  tags: TAGS,
  summary: 'Scan a ticket at a door',
  description: [
    'With a scanner key: checks the code (its signature and `kid`, revocations, the ticket\'s status, the list\'s tiers), then lets the holder in',
    '(`entry`, the default) or out (`exit`). Any number of simultaneous scans of one ticket on one list, on any number of devices and server',
    'processes, admit it exactly once: every other entry is `409 already-checked-in`, naming the admission that stands in `firstCheckIn`.',
    'Every answer, refusals included, is recorded. The same `nonce` again with the same code, list and type replays the first answer',
    '(status and body) with `Idempotent-Replayed: true` and records nothing more; with another code, list or type it is a `422 nonce-reuse`.'
  ].join(' '),
  security: scannerSecurity(false),
  querystring: NoQuerySchema,
  body: ref(ScanSchema),
  response: {
    201: jsonResponse(ref(CheckInSchema), 'Admitted (an entry let in) or let out (an exit), with the ticket so the gate can show the tier and the holder\'s name; also the replay of such an answer, with `Idempotent-Replayed: true`.', checkInExample, replayedHeader),
    ...problems(...bodyProblems, 401, 403),
    404: problemResponse(ref(ScanProblemSchema), 'The code is malformed, its signature does not verify, or it names no ticket of the scanner key\'s event (`unknown-code`); or the check-in list is not one of the event\'s (`not-found`). Also as a replay.', [
      { summary: 'Unknown code', value: problemExample(problemKinds.unknownCode, 'The code is not a ticket code of this event: it is malformed, its signature does not verify, or it names no ticket of the event.', scanPath) },
      { summary: 'Unknown list', value: problemExample(problemKinds.notFound, `Check-in list ${checkInListExample.id} does not exist.`, scanPath) }
    ], replayedHeader),
    409: problemResponse(ref(ScanProblemSchema), 'Refused at the door, with the `ticketId`; also as a replay.', [
      { summary: 'Already checked in', value: problemExample(problemKinds.alreadyCheckedIn, `Ticket ${ticketId} was admitted on this list already, and the list has no re-entry.`, scanPath, { ticketId, firstCheckIn: { scannedAt: checkInExample.scannedAt, gate: 'North gate' } }) },
      { summary: 'Void ticket', value: problemExample(problemKinds.ticketVoid, `Ticket ${ticketId} is void: its booking was cancelled or its hold expired.`, scanPath, { ticketId }) },
      { summary: 'Revoked code', value: problemExample(problemKinds.codeRevoked, `This code of ticket ${ticketId} was revoked when the ticket was given a new one; the holder must show the new code.`, scanPath, { ticketId }) },
      { summary: 'Not inside', value: problemExample(problemKinds.notInside, `Ticket ${ticketId} is not inside on this list: it cannot be let out.`, scanPath, { ticketId }) }
    ], replayedHeader),
    422: problemResponse(ref(ScanProblemSchema), 'The list does not admit the ticket\'s tier (`ticket-not-on-list`, with the `ticketId`; also as a replay), or the nonce was used for another scan (`nonce-reuse`: nothing was recorded).', [
      { summary: 'Not on this list', value: problemExample(problemKinds.ticketNotOnList, `Ticket ${ticketId} is a GA ticket, which check-in list ${checkInListExample.id} does not admit.`, scanPath, { ticketId }) },
      { summary: 'Nonce reused', value: problemExample(problemKinds.nonceReuse, `The nonce ${checkInExample.nonce} was used for another scan (another code, list or type); nothing was recorded. Use a new nonce for every scan.`, scanPath) }
    ])
  }
} satisfies FastifySchema

export const uploadScansOperation = {
  operationId: 'uploadScans',
  tags: TAGS,
  summary: 'Upload the scans an offline device made',
  description: [
    `With a scanner key: records up to ${MAX_SCANS_PER_UPLOAD} scans a device made while offline (it verified the codes itself), applied in \`scannedAt\``,
    'order after what is recorded already, and answers one result per scan in request order: `admitted`, `replayed` (this nonce was',
    'recorded before: uploading again is safe), `rejected` (as a single scan would have been, with its `problem`), or `conflict` (an entry',
    'of a ticket admitted already: the holder got in twice; the first admission stands, and `GET /api/check-in-lists/{checkInListId}/conflicts`',
    'lists it). A rejected scan never stops the rest. The whole upload is one transaction: if it fails (a `503`), nothing of it was recorded,',
    'and the same upload sent again records every scan exactly once.'
  ].join(' '),
  security: scannerSecurity(false),
  querystring: NoQuerySchema,
  body: ref(CheckInBatchSchema),
  response: {
    200: jsonResponse(ref(CheckInBatchResultSchema), 'One result per scan, in request order.', { results: [{ nonce: checkInExample.nonce, outcome: 'admitted', checkIn: checkInExample, problem: null }] }),
    ...problems(...bodyProblems, 401, 403)
  }
} satisfies FastifySchema

export const listConflictsOperation = {
  operationId: 'listCheckInConflicts',
  tags: TAGS,
  summary: 'List a check-in list\'s conflicts',
  description: 'Tickets admitted twice while a device was offline, in the order the second entries were recorded: the admission that stands (`first`) and the entry recorded as the conflict (`second`). With an admin key, or a scanner key of the list\'s event.',
  security: scannerSecurity(),
  params: CheckInListParamsSchema,
  querystring: ConflictQuerySchema,
  response: { 200: jsonResponse(ref(CheckInConflictPageSchema), 'A page of conflicts.', { data: [conflictExample], nextCursor: null }), ...problems(400, 401, 404) }
} satisfies FastifySchema

export const checkInStatusOperation = {
  operationId: 'getCheckInListStatus',
  tags: TAGS,
  summary: 'Count who is in',
  description: [
    'Exact counts of the list at one instant: `tickets` (valid tickets the list admits), `admitted` (distinct tickets admitted at least once),',
    '`inside` (tickets whose last recorded scan let them in) and `conflicts`, in all and for every tier the list admits. With an admin key, or a',
    'scanner key of the list\'s event.'
  ].join(' '),
  security: scannerSecurity(),
  params: CheckInListParamsSchema,
  querystring: NoQuerySchema,
  response: { 200: jsonResponse(ref(CheckInListStatusSchema), 'The counts.', checkInStatusExample), ...problems(400, 401, 404) }
} satisfies FastifySchema
