import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { scannerMaySee } from '../../plugins/auth.js'
import { notFoundProblem } from '../../problems.js'
import type { CheckInRepository } from './check-in-repository.js'
import {
  createCheckInListOperation, createScannerKeyOperation, getCheckInListOperation, listCheckInListsOperation, listScannerKeysOperation, revokeScannerKeyOperation
} from './openapi.js'

function missingEvent (id: string): Error {
  return notFoundProblem(`Event ${id} does not exist.`)
}

export interface CheckInFeatureOptions {
  /** The check-in repository, shared with authentication (which finds scanner keys through it). */
  checkIn: CheckInRepository
}

export const checkInFeature: FastifyPluginAsyncTypebox<CheckInFeatureOptions> = async (app, { checkIn }) => {
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
    if (list === undefined || !scannerMaySee(request.principal, list.eventId)) {
      throw notFoundProblem(`Check-in list ${request.params.checkInListId} does not exist.`)
    }
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
