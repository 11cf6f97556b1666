import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { createGroupCommit } from '../../db/group-commit.js'
import { onCloseStep } from '../../plugins/close-steps.js'
import { REQUEST_DEADLINE_MS } from '../../plugins/load-shedding.js'
import type { Sql } from '../../db/sql.js'
import type { Metrics } from '../../metrics.js'
import { afterCursor, nextCursor } from '../../pagination.js'
import { scannerMaySee, scannerOf } from '../../plugins/auth.js'
import { notFoundProblem } from '../../problems.js'
import type { CheckInType } from '../../schemas/check-in.js'
import { DEFAULT_PAGE_SIZE } from '../../schemas/common.js'
import type { TicketCodes } from '../tickets/codes.js'
import type { CheckInRepository } from './check-in-repository.js'
import {
  checkInStatusOperation, createCheckInListOperation, createScannerKeyOperation, getCheckInListOperation, listCheckInListsOperation, listConflictsOperation, listScannerKeysOperation,
  revokeScannerKeyOperation, scanOperation, uploadScansOperation
} from './openapi.js'
import { createScans, type ScanMode, type ScanOutcome, type ScanRequest } from './scans.js'

/** An upload of 1,000 scans with every field at its longest is about 1.4 MB. */
const UPLOAD_BODY_LIMIT_BYTES = 2 * 1024 * 1024

function missingEvent (id: string): Error {
  return notFoundProblem(`Event ${id} does not exist.`)
}

function missingList (id: string): Error {
  return notFoundProblem(`Check-in list ${id} does not exist.`)
}

export interface CheckInFeatureOptions {
  sql: Sql
  /** Verifies the codes of reissued and void tickets (shared with the features that sign them). */
  codes: TicketCodes
  /** The check-in repository, shared with authentication (which finds scanner keys through it). */
  checkIn: CheckInRepository
  metrics: Metrics
}

interface ScanBody {
  code: string
  checkInListId: string
  nonce: string
  type?: CheckInType
  scannedAt?: string
  gate?: string
}

function scanRequest (body: ScanBody, scanner: { eventId: string, keyId: string }, now: Date): ScanRequest {
  return {
    eventId: scanner.eventId,
    scannerKeyId: scanner.keyId,
    code: body.code,
    checkInListId: body.checkInListId.toLowerCase(),
    nonce: body.nonce,
    type: body.type ?? 'entry',
    scannedAt: body.scannedAt === undefined ? now : new Date(body.scannedAt),
    gate: body.gate ?? null
  }
}

/** A single scan's answer: the check-in (201) or the refusal, and on a replay the first answer as it was. */
async function answer (reply: FastifyReply, outcome: ScanOutcome) {
  if (outcome.outcome === 'replayed') reply.header('Idempotent-Replayed', 'true')
  if (outcome.problem !== null) return await reply.code(outcome.problem.status).type('application/problem+json').send(outcome.problem)
  return await reply.code(201).send(outcome.checkIn)
}

export const checkInFeature: FastifyPluginAsyncTypebox<CheckInFeatureOptions> = async (app, { sql, codes, checkIn, metrics }) => {
  const scans = createScans(sql, codes)
  /** Counts each scan's result, online and offline alike, and hands the outcomes on. */
  const counted = (mode: ScanMode) => (outcomes: ScanOutcome[]): ScanOutcome[] => {
    for (const { outcome } of outcomes) metrics.checkIns.inc({ result: outcome, mode })
    return outcomes
  }
  // Online scans that arrive together are decided together, in arrival order (group commit), one
  // batch in flight, as bookings (see there): online scans of distinct tickets ran at 0.71 × a hot
  // tier run right after them with four slots, 1.22 × with one (two whole `npm run bench`, 2026-12-03).
  const online = createGroupCommit(async (requests: ScanRequest[]) => await scans.apply(requests, 'online', '/api/check-ins').then(counted('online')), {
    maxBatchSize: 100,
    maxConcurrentBatches: 1,
    maxQueued: 2000,
    busy: 'Too many scans are waiting for the database; retry shortly.',
    deadlineMs: REQUEST_DEADLINE_MS,
    onBatch: (size) => { metrics.batchSize.observe({ kind: 'scans' }, size) },
    span: { name: 'check_in.batch', outcomeOf: (outcome) => outcome.outcome }
  })
  onCloseStep(app, 'scan batches', async () => { await online.drain() })

  app.post('/events/:eventId/check-in-lists', {
    onRequest: app.verifyAdminKey,
    schema: createCheckInListOperation
  }, async function createCheckInList (request, reply) {
    const list = await checkIn.createList(request.params.eventId, request.body)
    if (list === undefined) throw missingEvent(request.params.eventId)
    return await reply.code(201).header('Location', `/api/check-in-lists/${list.id}`).send(list)
  })

  app.get('/events/:eventId/check-in-lists', {
    onRequest: app.verifyAdminOrScannerKey,
    schema: listCheckInListsOperation
  }, async function listCheckInLists (request) {
    if (!scannerMaySee(request.principal, request.params.eventId)) throw missingEvent(request.params.eventId)
    const data = await checkIn.listsOf(request.params.eventId)
    if (data === undefined) throw missingEvent(request.params.eventId)
    return { data }
  })

  app.get('/check-in-lists/:checkInListId', {
    onRequest: app.verifyAdminOrScannerKey,
    schema: getCheckInListOperation
  }, async function getCheckInList (request) {
    const list = await checkIn.findList(request.params.checkInListId)
    if (list === undefined || !scannerMaySee(request.principal, list.eventId)) throw missingList(request.params.checkInListId)
    return list
  })

  app.post('/events/:eventId/scanner-keys', {
    onRequest: app.verifyAdminKey,
    schema: createScannerKeyOperation
  }, async function createScannerKey (request, reply) {
    const key = await checkIn.createKey(request.params.eventId, request.body.name)
    if (key === undefined) throw missingEvent(request.params.eventId)
    return await reply.code(201).send(key)
  })

  app.get('/events/:eventId/scanner-keys', {
    onRequest: app.verifyAdminKey,
    schema: listScannerKeysOperation
  }, async function listScannerKeys (request) {
    const data = await checkIn.keysOf(request.params.eventId)
    if (data === undefined) throw missingEvent(request.params.eventId)
    return { data }
  })

  app.post('/check-ins', {
    onRequest: app.verifyScannerKey,
    schema: scanOperation
  }, async function scanTicket (request, reply) {
    return await answer(reply, await online.submit(scanRequest(request.body, scannerOf(request.principal), new Date())))
  })

  app.post('/check-ins/batch', {
    onRequest: app.verifyScannerKey,
    // 1,000 scans of the longest fields fit; every other body keeps the general limit.
    bodyLimit: UPLOAD_BODY_LIMIT_BYTES,
    schema: uploadScansOperation
  }, async function uploadScans (request) {
    const scanner = scannerOf(request.principal)
    const now = new Date()
    const outcomes = await scans.apply(request.body.checkIns.map((scan) => scanRequest(scan, scanner, now)), 'offline', '/api/check-ins/batch').then(counted('offline'))
    return {
      results: outcomes.map((outcome, index) => ({
        nonce: request.body.checkIns[index]?.nonce ?? '',
        outcome: outcome.outcome,
        checkIn: outcome.checkIn,
        problem: outcome.problem
      }))
    }
  })

  app.get('/check-in-lists/:checkInListId/status', {
    onRequest: app.verifyAdminOrScannerKey,
    schema: checkInStatusOperation
  }, async function getCheckInListStatus (request) {
    const status = await checkIn.status(request.params.checkInListId)
    if (status === undefined || !scannerMaySee(request.principal, status.eventId)) throw missingList(request.params.checkInListId)
    return status
  })

  app.get('/check-in-lists/:checkInListId/conflicts', {
    onRequest: app.verifyAdminOrScannerKey,
    schema: listConflictsOperation
  }, async function listCheckInConflicts (request) {
    const { limit = DEFAULT_PAGE_SIZE, cursor } = request.query
    const page = await checkIn.conflicts(request.params.checkInListId, limit, afterCursor(cursor))
    if (page === undefined || !scannerMaySee(request.principal, page.eventId)) throw missingList(request.params.checkInListId)
    return { data: page.data, nextCursor: nextCursor(page.data, page.hasMore, (conflict) => conflict.recordedAt) }
  })
  // Last, so that a run of the Postman collection (in this order) scans before it revokes its key.
  app.delete('/events/:eventId/scanner-keys/:keyId', {
    onRequest: app.verifyAdminKey,
    schema: revokeScannerKeyOperation
  }, async function revokeScannerKey (request, reply) {
    if (!await checkIn.revokeKey(request.params.eventId, request.params.keyId)) {
      throw notFoundProblem(`Event ${request.params.eventId} has no scanner key ${request.params.keyId}.`)
    }
    return await reply.code(204).send()
  })
}
