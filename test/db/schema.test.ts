import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate } from '../../src/db/migrate.js'
import { DEMO_EVENT_ID, seedDemo } from '../../src/db/seed.js'
import { createTestDatabase, type TestDatabase } from '../support/database.js'

let db: TestDatabase
let eventId: string
beforeAll(async () => {
  db = await createTestDatabase()
  const [event] = await db.sql<{ id: string }[]>`
    insert into events (name, venue, starts_at, currency) values ('Schema', 'Hall', now(), 'EUR') returning id
  `
  eventId = event!.id
})
afterAll(async () => { await db.drop() })

async function insertTier (capacity: number, remaining: number) {
  await db.sql`
    insert into ticket_tiers (event_id, name, price, capacity, remaining) values (${eventId}, 'T', 100, ${capacity}, ${remaining})
  `
}

describe('migrations', () => {
  it('are applied once; running them again applies nothing', async () => {
    const [row] = await db.sql<{ count: number }[]>`select count(*)::int as count from pgmigrations`
    expect(row?.count).toBeGreaterThan(0)
    expect(await migrate(db.url)).toEqual([])
  })

  it('apply each migration once when several processes migrate at once', async () => {
    const fresh = await createTestDatabase()
    try {
      await fresh.sql`drop schema public cascade`
      await fresh.sql`create schema public`
      const runs = await Promise.all([migrate(fresh.url), migrate(fresh.url), migrate(fresh.url)])
      const recorded = await fresh.sql<{ name: string }[]>`select name from pgmigrations order by name`
      expect(recorded.length).toBeGreaterThan(0)
      expect(runs.flat().sort()).toEqual(recorded.map((row) => row.name))
    } finally {
      await fresh.drop()
    }
  })
})

describe('inventory constraints in the database', () => {
  it('refuses negative remaining', async () => {
    await expect(insertTier(10, -1)).rejects.toMatchObject({ code: '23514', constraint_name: 'ticket_tiers_remaining_not_negative' })
  })

  it('refuses remaining above capacity', async () => {
    await expect(insertTier(10, 11)).rejects.toMatchObject({ code: '23514', constraint_name: 'ticket_tiers_remaining_within_capacity' })
  })

  it('refuses an update that would take more tickets than remain', async () => {
    await insertTier(5, 5)
    await expect(db.sql`update ticket_tiers set remaining = remaining - 6 where capacity = 5`)
      .rejects.toMatchObject({ code: '23514' })
  })

  it('refuses an event that ends before it starts', async () => {
    await expect(db.sql`
      insert into events (name, venue, starts_at, ends_at, currency) values ('x', 'y', now(), now() - interval '1 minute', 'EUR')
    `).rejects.toMatchObject({ code: '23514', constraint_name: 'events_ends_at_not_before_starts_at' })
  })
})

describe('demo seed', () => {
  it('adds the demo event with three tiers, and running it twice changes nothing', async () => {
    expect(await seedDemo(db.sql)).toEqual({ created: true })
    expect(await seedDemo(db.sql)).toEqual({ created: false })
    const tiers = await db.sql`select name from ticket_tiers where event_id = ${DEMO_EVENT_ID}`
    expect(tiers).toHaveLength(3)
  })
})
