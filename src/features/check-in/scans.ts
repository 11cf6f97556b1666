import { hash, randomUUID } from 'node:crypto'
import type { Queryable, Sql } from '../../db/sql.js'
import { problemBody } from '../../plugins/problems.js'
import { ProblemError, problemKinds, unavailableProblem, validationProblem } from '../../problems.js'
import { MAX_SCAN_CLOCK_SKEW_MS, type CheckIn, type CheckInType } from '../../schemas/check-in.js'
import { TICKET_CHECKED_IN } from '../../schemas/webhooks.js'
import { readClaims, type TicketCodes } from '../tickets/codes.js'
import { ticketColumns, toTicket, type TicketRow } from '../tickets/tickets-repository.js'
import { recordEvents } from '../webhooks/outbox.js'

/*
 * Scans: the door's decisions. A set of scans (one online scan, the scans that arrived together,
 * or an offline upload) is decided in one transaction:
 *
 * 1. Each scan is judged on its own: a nonce recorded before (replayed, or reused for another
 *    scan), its list (of the scanner key's event), its code (the one the ticket holds now; any
 *    other code is verified with the key its `kid` names, and then is revoked or void or unknown),
 *    the ticket's tier on the list.
 * 2. The (list, ticket) rows of check_in_states that the rest need are locked, in one statement,
 *    in (list, ticket) order: every transaction that decides a ticket's admission holds its row,
 *    so any number of simultaneous scans of it, on any number of processes, see each other's
 *    outcome. That is the whole of "exactly once at the door".
 * 3. The scans are applied to those rows one after the other (an upload in `scannedAt` order),
 *    and what they recorded is written with the rows' new state in one statement.
 *
 * A nonce recorded by another transaction between 1 and 3 makes the write find fewer rows than it
 * wrote; the transaction is then rolled back and run again, and the scan is a replay.
 */

/** One scan as the door asked for it, with the scanner key's event. */
export interface ScanRequest {
  eventId: string
  scannerKeyId: string
  code: string
  checkInListId: string
  nonce: string
  type: CheckInType
  scannedAt: Date
  gate: string | null
}

/**
 * `online`: an entry of a ticket admitted already is refused (`already-checked-in`), and scans are
 * applied in arrival order. `offline`: the device admitted the holder already, so such an entry is
 * recorded as a conflict; scans are applied in `scannedAt` order.
 */
export type ScanMode = 'online' | 'offline'

/** A problem document as answered (and stored for replays). */
export type ProblemDocument = Record<string, unknown> & { type: string, title: string, status: number }

export type ScanOutcome =
  | { outcome: 'admitted', checkIn: CheckIn, problem: null }
  | { outcome: 'conflict', checkIn: CheckIn, problem: ProblemDocument }
  | { outcome: 'rejected', checkIn: null, problem: ProblemDocument }
  | { outcome: 'replayed', checkIn: CheckIn | null, problem: ProblemDocument | null }

interface ListRule {
  id: string
  eventId: string
  ticketTierIds: string[] | null
  allowReentry: boolean
}

interface RecordedScan {
  eventId: string
  nonce: string
  codeDigest: Buffer
  checkInListId: string
  type: CheckInType
  checkIn: CheckIn | null
  problem: ProblemDocument | null
}

/** Where a ticket stands on a list, as the locked row says (and as this transaction moves it). */
interface TicketState {
  checkInListId: string
  ticketId: string
  inside: boolean
  firstCheckInId: string | null
  entryCheckInId: string | null
  entryScannedAt: Date | null
  entryGate: string | null
  changed: boolean
}

/** What step 1 made of a scan. */
type Judgement =
  | { kind: 'replay', recorded: RecordedScan }
  | { kind: 'refuse', problem: ProblemError, ticketId: string | null, record: boolean }
  | { kind: 'decide', ticket: TicketRow, list: ListRule }

/** A row of check_ins to write. */
interface Recording {
  id: string
  scan: ScanRequest
  codeDigest: Buffer
  ticketId: string | null
  result: 'admitted' | 'rejected' | 'conflict'
  recordedAt: Date
  standingCheckInId: string | null
  checkIn: CheckIn | null
  problem: ProblemDocument | null
}

/** Another transaction recorded one of these nonces meanwhile: run the scans again. */
class NonceRecordedMeanwhile extends Error {}

const MAX_ATTEMPTS = 5
/** Check-in lists never change once made: a process keeps those it has seen (up to this many). */
const MAX_CACHED_LISTS = 10_000

function digest (code: string): Buffer {
  return hash('sha256', code, 'buffer')
}

function nonceKey (eventId: string, nonce: string): string {
  return `${eventId} ${nonce}`
}

function unknownCode (): ProblemError {
  return new ProblemError(problemKinds.unknownCode, 'The code is not a ticket code of this event: it is malformed, its signature does not verify, or it names no ticket of the event.')
}

/** What makes two scans with one nonce the same scan (a retry) rather than a reused nonce. */
interface ScanIdentity {
  checkInListId: string
  type: CheckInType
  codeDigest: Buffer
}

function isSameScan (a: ScanIdentity, b: ScanIdentity): boolean {
  return a.checkInListId === b.checkInListId && a.type === b.type && a.codeDigest.equals(b.codeDigest)
}

function nonceReused (scan: ScanRequest): ProblemError {
  return new ProblemError(problemKinds.nonceReuse, `The nonce ${scan.nonce} was used for another scan (another code, list or type); nothing was recorded. Use a new nonce for every scan.`)
}

export function createScans (sql: Sql, codes: TicketCodes) {
  const lists = new Map<string, ListRule>()

  async function loadLists (tx: Queryable, ids: string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !lists.has(id))
    if (missing.length === 0) return
    const rows = await tx<ListRule[]>`
      select id, event_id, ticket_tier_ids::text[] as ticket_tier_ids, allow_reentry from check_in_lists where id = any(${missing}::uuid[])
    `
    if (lists.size + rows.length > MAX_CACHED_LISTS) lists.clear()
    for (const row of rows) lists.set(row.id, row)
  }

  /**
   * Step 1 for one scan (the nonce's repetitions within the set are step 3's). `ticketId` is the
   * ticket its code names, read from the code, when the code is shaped like one of the scanner key's event.
   */
  async function judge (scan: ScanRequest, codeDigest: Buffer, ticketId: string | undefined, recorded: Map<string, RecordedScan>, tickets: Map<string, TicketRow>, now: number): Promise<Judgement> {
    if (scan.scannedAt.getTime() > now + MAX_SCAN_CLOCK_SKEW_MS) {
      return {
        kind: 'refuse',
        problem: validationProblem([{ path: '/scannedAt', message: 'is more than 60 s ahead of the server\'s clock' }], 'The scan is not valid: scannedAt is more than 60 s in the future.'),
        ticketId: null,
        record: false
      }
    }
    const earlier = recorded.get(nonceKey(scan.eventId, scan.nonce))
    if (earlier !== undefined) {
      return isSameScan(earlier, { ...scan, codeDigest }) ? { kind: 'replay', recorded: earlier } : { kind: 'refuse', problem: nonceReused(scan), ticketId: null, record: false }
    }
    const list = lists.get(scan.checkInListId)
    if (list === undefined || list.eventId !== scan.eventId) {
      return { kind: 'refuse', problem: new ProblemError(problemKinds.notFound, `Check-in list ${scan.checkInListId} does not exist.`), ticketId: null, record: false }
    }
    const ticket = ticketId === undefined ? undefined : tickets.get(ticketId)
    if (ticket === undefined || ticket.eventId !== scan.eventId) return { kind: 'refuse', problem: unknownCode(), ticketId: null, record: true }
    if (ticket.code !== scan.code) {
      // Not the code the ticket holds now: one this service signed for it earlier, or none at all.
      const verified = await codes.verify(scan.code)
      if (verified === undefined || verified.tid !== ticket.id) return { kind: 'refuse', problem: unknownCode(), ticketId: null, record: true }
      if (verified.ver < ticket.codeVersion) {
        return { kind: 'refuse', problem: new ProblemError(problemKinds.codeRevoked, `This code of ticket ${ticket.id} was revoked when the ticket was given a new one; the holder must show the new code.`, { ticketId: ticket.id }), ticketId: ticket.id, record: true }
      }
      if (ticket.status !== 'valid') {
        return { kind: 'refuse', problem: new ProblemError(problemKinds.ticketVoid, `Ticket ${ticket.id} is void: its booking was cancelled or its hold expired.`, { ticketId: ticket.id }), ticketId: ticket.id, record: true }
      }
      return { kind: 'refuse', problem: unknownCode(), ticketId: null, record: true }
    }
    if (list.ticketTierIds !== null && !list.ticketTierIds.includes(ticket.ticketTierId)) {
      return {
        kind: 'refuse',
        problem: new ProblemError(problemKinds.ticketNotOnList, `Ticket ${ticket.id} is a ${ticket.tierName} ticket, which check-in list ${list.id} does not admit.`, { ticketId: ticket.id }),
        ticketId: ticket.id,
        record: true
      }
    }
    return { kind: 'decide', ticket, list }
  }

  /** Step 2: locks (creating where needed) the states of these (list, ticket) pairs, in that order. */
  async function lockStates (tx: Queryable, pairs: Array<{ list: string, ticket: string, tier: string }>): Promise<Map<string, TicketState>> {
    const states = new Map<string, TicketState>()
    if (pairs.length === 0) return states
    const rows = await tx<Omit<TicketState, 'changed'>[]>`
      insert into check_in_states (check_in_list_id, ticket_id, ticket_tier_id)
      select l, t, tier from unnest(${pairs.map((pair) => pair.list)}::uuid[], ${pairs.map((pair) => pair.ticket)}::uuid[], ${pairs.map((pair) => pair.tier)}::uuid[]) as s(l, t, tier)
      order by l, t
      on conflict (check_in_list_id, ticket_id) do update set ticket_tier_id = excluded.ticket_tier_id
      returning check_in_list_id, ticket_id, inside, first_check_in_id, entry_check_in_id, entry_scanned_at, entry_gate
    `
    for (const row of rows) states.set(`${row.checkInListId} ${row.ticketId}`, { ...row, changed: false })
    return states
  }

  /** Step 3 for a scan that passed step 1: what its list's rule makes of it, given where the ticket stands. */
  function decide (scan: ScanRequest, judged: { ticket: TicketRow, list: ListRule }, state: TicketState, mode: ScanMode, instance: string, codeDigest: Buffer, recordedAt: Date): Recording {
    const { ticket, list } = judged
    const id = randomUUID()
    const checkIn: CheckIn = {
      id,
      ticketId: ticket.id,
      checkInListId: list.id,
      type: scan.type,
      scannedAt: scan.scannedAt.toISOString(),
      recordedAt: recordedAt.toISOString(),
      gate: scan.gate,
      nonce: scan.nonce,
      ticket: toTicket(ticket)
    }
    const base = { id, scan, codeDigest, ticketId: ticket.id, recordedAt }
    const refuse = (problem: ProblemError): Recording => ({ ...base, result: 'rejected', standingCheckInId: null, checkIn: null, problem: document(problem, instance) })

    if (scan.type === 'exit') {
      if (!state.inside) return refuse(new ProblemError(problemKinds.notInside, `Ticket ${ticket.id} is not inside on this list: it cannot be let out.`, { ticketId: ticket.id }))
      Object.assign(state, { inside: false, changed: true })
      return { ...base, result: 'admitted', standingCheckInId: null, checkIn, problem: null }
    }
    const mayEnter = state.firstCheckInId === null || (list.allowReentry && !state.inside)
    if (mayEnter) {
      Object.assign(state, { inside: true, firstCheckInId: state.firstCheckInId ?? id, entryCheckInId: id, entryScannedAt: scan.scannedAt, entryGate: scan.gate, changed: true })
      return { ...base, result: 'admitted', standingCheckInId: null, checkIn, problem: null }
    }
    const already = new ProblemError(
      problemKinds.alreadyCheckedIn,
      state.inside ? `Ticket ${ticket.id} is inside already (admitted on this list).` : `Ticket ${ticket.id} was admitted on this list already, and the list has no re-entry.`,
      { ticketId: ticket.id, firstCheckIn: { scannedAt: state.entryScannedAt?.toISOString(), gate: state.entryGate } }
    )
    if (mode === 'online') return refuse(already)
    // Offline, the device let the holder in already: record it; the first admission stands.
    const standing = state.entryCheckInId
    Object.assign(state, { inside: true, changed: true })
    return { ...base, result: 'conflict', standingCheckInId: standing, checkIn, problem: document(already, instance) }
  }

  function document (problem: ProblemError, instance: string): ProblemDocument {
    return problemBody(problem, instance) as ProblemDocument
  }

  /** Writes what the scans recorded and the states they moved, in one statement; the rows it inserted. */
  async function write (tx: Queryable, recordings: Recording[], states: TicketState[]): Promise<number> {
    const rows = [...recordings].sort((a, b) => a.scan.eventId.localeCompare(b.scan.eventId) || (a.scan.nonce < b.scan.nonce ? -1 : a.scan.nonce > b.scan.nonce ? 1 : 0))
    const [written] = await tx<{ inserted: number }[]>`
      with inserted as (
        insert into check_ins (id, event_id, check_in_list_id, scanner_key_id, nonce, code_digest, ticket_id, type, result, scanned_at, recorded_at, gate, standing_check_in_id, check_in, problem)
        select id, event_id, list_id, key_id, nonce, decode(code_digest, 'hex'), ticket_id, type, result, scanned_at, recorded_at, gate, standing_id, check_in::jsonb, problem::jsonb
        from unnest(
          ${rows.map((row) => row.id)}::uuid[], ${rows.map((row) => row.scan.eventId)}::uuid[], ${rows.map((row) => row.scan.checkInListId)}::uuid[],
          ${rows.map((row) => row.scan.scannerKeyId)}::uuid[], ${rows.map((row) => row.scan.nonce)}::text[], ${rows.map((row) => row.codeDigest.toString('hex'))}::text[],
          ${rows.map((row) => row.ticketId)}::uuid[], ${rows.map((row) => row.scan.type)}::text[], ${rows.map((row) => row.result)}::text[],
          ${rows.map((row) => row.scan.scannedAt.toISOString())}::timestamptz[], ${rows.map((row) => row.recordedAt.toISOString())}::timestamptz[],
          ${rows.map((row) => row.scan.gate)}::text[], ${rows.map((row) => row.standingCheckInId)}::uuid[],
          ${rows.map((row) => row.checkIn === null ? null : JSON.stringify(row.checkIn))}::text[], ${rows.map((row) => row.problem === null ? null : JSON.stringify(row.problem))}::text[]
        ) with ordinality as r(id, event_id, list_id, key_id, nonce, code_digest, ticket_id, type, result, scanned_at, recorded_at, gate, standing_id, check_in, problem, ord)
        order by ord
        on conflict (event_id, nonce) do nothing
        returning 1
      ), moved as (
        update check_in_states s
        set inside = m.inside::boolean, first_check_in_id = m.first_id, entry_check_in_id = m.entry_id, entry_scanned_at = m.entry_at, entry_gate = m.entry_gate
        from unnest(
          ${states.map((state) => state.checkInListId)}::uuid[], ${states.map((state) => state.ticketId)}::uuid[], ${states.map((state) => String(state.inside))}::text[],
          ${states.map((state) => state.firstCheckInId)}::uuid[], ${states.map((state) => state.entryCheckInId)}::uuid[],
          ${states.map((state) => state.entryScannedAt?.toISOString() ?? null)}::timestamptz[], ${states.map((state) => state.entryGate)}::text[]
        ) as m(list_id, ticket_id, inside, first_id, entry_id, entry_at, entry_gate)
        where s.check_in_list_id = m.list_id and s.ticket_id = m.ticket_id
        returning 1
      )
      select (select count(*) from inserted)::int as inserted, (select count(*) from moved)::int as moved
    `
    return written?.inserted ?? 0
  }

  async function applyOnce (tx: Queryable, scans: ScanRequest[], mode: ScanMode, instance: string): Promise<ScanOutcome[]> {
    const now = Date.now()
    const recordedAt = new Date(now)
    const digests = scans.map((scan) => digest(scan.code))
    const named = scans.map((scan) => {
      const claims = readClaims(scan.code)
      return claims === undefined || claims.eid !== scan.eventId ? undefined : claims.tid
    })
    const ticketIds = [...new Set(named.filter((id) => id !== undefined))]

    // Step 1: what was recorded of these nonces, the tickets the codes name, and the lists (pipelined).
    const [recordedRows, ticketRows] = await Promise.all([
      tx<(Omit<RecordedScan, 'checkIn' | 'problem'> & { checkIn: CheckIn | null, problem: ProblemDocument | null })[]>`
        select c.event_id, c.nonce, c.code_digest, c.check_in_list_id, c.type, c.check_in, c.problem
        from check_ins c
        join unnest(${scans.map((scan) => scan.eventId)}::uuid[], ${scans.map((scan) => scan.nonce)}::text[]) as n(event_id, nonce)
          on c.event_id = n.event_id and c.nonce = n.nonce
      `,
      ticketIds.length === 0
        ? Promise.resolve([] as TicketRow[])
        : tx<TicketRow[]>`select ${ticketColumns(tx)} from tickets t join bookings b on b.id = t.booking_id where t.id = any(${ticketIds}::uuid[])`,
      loadLists(tx, scans.map((scan) => scan.checkInListId))
    ])
    const recorded = new Map(recordedRows.map((row) => [nonceKey(row.eventId, row.nonce), row]))
    const tickets = new Map(ticketRows.map((row) => [row.id, row]))
    const judgements = await Promise.all(scans.map(async (scan, index) => await judge(scan, digests[index] as Buffer, named[index], recorded, tickets, now)))

    // Step 2.
    const pairs = new Map<string, { list: string, ticket: string, tier: string }>()
    for (const judged of judgements) {
      if (judged.kind === 'decide') pairs.set(`${judged.list.id} ${judged.ticket.id}`, { list: judged.list.id, ticket: judged.ticket.id, tier: judged.ticket.ticketTierId })
    }
    const states = await lockStates(tx, [...pairs.values()])

    // Step 3, in arrival order online, in scannedAt order (then arrival) offline.
    const order = scans.map((_, index) => index)
    if (mode === 'offline') order.sort((a, b) => ((scans[a] as ScanRequest).scannedAt.getTime() - (scans[b] as ScanRequest).scannedAt.getTime()) || a - b)
    const outcomes: Array<ScanOutcome | undefined> = scans.map(() => undefined)
    const recordings: Recording[] = []
    const seen = new Map<string, number>()
    for (const index of order) {
      const scan = scans[index] as ScanRequest
      const codeDigest = digests[index] as Buffer
      const judged = judgements[index] as Judgement
      const key = nonceKey(scan.eventId, scan.nonce)
      const first = seen.get(key)
      if (first !== undefined) {
        // The same nonce earlier in this set: a repetition of that scan, or a device bug.
        const earlier = outcomes[first] as ScanOutcome
        outcomes[index] = isSameScan({ ...(scans[first] as ScanRequest), codeDigest: digests[first] as Buffer }, { ...scan, codeDigest })
          ? { outcome: 'replayed', checkIn: earlier.checkIn, problem: earlier.problem }
          : { outcome: 'rejected', checkIn: null, problem: document(nonceReused(scan), instance) }
        continue
      }
      seen.set(key, index)
      if (judged.kind === 'replay') {
        outcomes[index] = { outcome: 'replayed', checkIn: judged.recorded.checkIn, problem: judged.recorded.problem }
        continue
      }
      if (judged.kind === 'refuse') {
        const problem = document(judged.problem, instance)
        outcomes[index] = { outcome: 'rejected', checkIn: null, problem }
        if (judged.record) {
          recordings.push({ id: randomUUID(), scan, codeDigest, ticketId: judged.ticketId, result: 'rejected', recordedAt, standingCheckInId: null, checkIn: null, problem })
        }
        continue
      }
      const state = states.get(`${judged.list.id} ${judged.ticket.id}`)
      if (state === undefined) throw new Error('a scanned ticket\'s state was not locked')
      const recording = decide(scan, judged, state, mode, instance, codeDigest, recordedAt)
      recordings.push(recording)
      outcomes[index] = recording.result === 'rejected'
        ? { outcome: 'rejected', checkIn: null, problem: recording.problem as ProblemDocument }
        : recording.result === 'conflict'
          ? { outcome: 'conflict', checkIn: recording.checkIn as CheckIn, problem: recording.problem as ProblemDocument }
          : { outcome: 'admitted', checkIn: recording.checkIn as CheckIn, problem: null }
    }

    if (recordings.length > 0) {
      const moved = [...states.values()].filter((state) => state.changed)
      const inserted = await write(tx, recordings, moved)
      if (inserted !== recordings.length) throw new NonceRecordedMeanwhile()
      await recordEvents(tx, recordings
        .filter((recording) => recording.result === 'admitted' && recording.scan.type === 'entry' && recording.checkIn !== null)
        .map((recording) => {
          const checkIn = recording.checkIn as CheckIn
          return { type: TICKET_CHECKED_IN, bookingId: checkIn.ticket.bookingId, data: { ticket: checkIn.ticket, checkIn } }
        }))
    }
    return outcomes.map((outcome) => {
      if (outcome === undefined) throw new Error('a scan was left without an outcome')
      return outcome
    })
  }

  return {
    /**
     * Decides and records `scans` in one transaction; one outcome per scan, in their order.
     * `instance` is the request path the answers' problems name.
     */
    async apply (scans: ScanRequest[], mode: ScanMode, instance: string): Promise<ScanOutcome[]> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await sql.begin(async (tx) => await applyOnce(tx, scans, mode, instance))
        } catch (error) {
          if (!(error instanceof NonceRecordedMeanwhile)) throw error
          if (attempt === MAX_ATTEMPTS) {
            throw unavailableProblem('The scans\' nonces are being recorded by other requests; retry shortly.', '1')
          }
        }
      }
    }
  }
}

export type Scans = ReturnType<typeof createScans>
