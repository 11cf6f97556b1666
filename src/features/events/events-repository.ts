import { sharedReads } from '../../db/shared-reads.js'
import { definedColumns, isPostgresError, type Sql } from '../../db/sql.js'
import { validationProblem } from '../../problems.js'
import type { Event } from '../../schemas/events.js'

interface EventRow {
  id: string
  name: string
  description: string | null
  venue: string
  startsAt: Date
  endsAt: Date | null
  currency: string
  createdAt: Date
}

export interface EventInput {
  name: string
  description?: string | null
  venue: string
  startsAt: Date
  endsAt?: Date | null
  currency: string
}

export type EventChanges = Partial<EventInput>

export interface EventPosition {
  startsAt: Date
  id: string
}

function toEvent (row: EventRow): Event {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    venue: row.venue,
    startsAt: row.startsAt.toISOString(),
    endsAt: row.endsAt?.toISOString() ?? null,
    currency: row.currency,
    createdAt: row.createdAt.toISOString()
  }
}

function rethrowEndsBeforeStarts (error: unknown, changedStart: boolean): never {
  if (isPostgresError(error, '23514') && error.constraint_name === 'events_ends_at_not_before_starts_at') {
    throw validationProblem(
      [changedStart
        ? { path: '/startsAt', message: 'must not be after endsAt' }
        : { path: '/endsAt', message: 'must not be before startsAt' }],
      'The event would end before it starts.'
    )
  }
  throw error
}

export function createEventsRepository (sql: Sql) {
  const columns = sql`id, name, description, venue, starts_at, ends_at, currency, created_at`

  // The public reads, shared by identical requests that arrive together (see sharedReads).
  const listPage = sharedReads(async ({ limit, after }: { limit: number, after?: EventPosition }) => {
    const rows = await sql<EventRow[]>`
      select ${columns} from events
      ${after === undefined ? sql`` : sql`where (starts_at, id) > (${after.startsAt}, ${after.id})`}
      order by starts_at, id
      limit ${limit + 1}
    `
    return { events: rows.slice(0, limit).map(toEvent), hasMore: rows.length > limit }
  }, ({ limit, after }) => after === undefined ? `${limit}` : `${limit} ${after.startsAt.toISOString()} ${after.id}`)
  const findOne = sharedReads(async (id: string) => {
    const [row] = await sql<EventRow[]>`select ${columns} from events where id = ${id}`
    return row === undefined ? undefined : toEvent(row)
  }, (id) => id)

  return {
    /** One page in (startsAt, id) order, after `after` when given; `hasMore` tells if another page follows. */
    async list (limit: number, after?: EventPosition): Promise<{ events: Event[], hasMore: boolean }> {
      return await listPage(after === undefined ? { limit } : { limit, after })
    },

    async findById (id: string): Promise<Event | undefined> {
      return await findOne(id)
    },

    async create (input: EventInput): Promise<Event> {
      const values = { description: null, endsAt: null, ...input }
      try {
        const [row] = await sql<EventRow[]>`insert into events ${sql(values, definedColumns(values))} returning ${columns}`
        if (row === undefined) throw new Error('insert returned no row')
        return toEvent(row)
      } catch (error) {
        rethrowEndsBeforeStarts(error, false)
      }
    },

    async update (id: string, changes: EventChanges): Promise<Event | undefined> {
      try {
        const [row] = await sql<EventRow[]>`
          update events set ${sql(changes, definedColumns(changes))} where id = ${id} returning ${columns}
        `
        return row === undefined ? undefined : toEvent(row)
      } catch (error) {
        rethrowEndsBeforeStarts(error, changes.startsAt !== undefined && changes.endsAt === undefined)
      }
    }
  }
}

export type EventsRepository = ReturnType<typeof createEventsRepository>
