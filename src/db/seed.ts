import type { Sql } from './sql.js'

export const DEMO_EVENT_ID = '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f70'

const demoTiers = [
  { id: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f71', name: 'VIP', price: 25000, capacity: 50, maxPerBooking: 4 },
  { id: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f72', name: 'General admission', price: 8900, capacity: 500, maxPerBooking: 10 },
  { id: '6f1c2a9e-8d4b-4c1e-9a7f-2b3c4d5e6f73', name: 'Balcony', price: 5900, capacity: 200, maxPerBooking: 10 }
]

/** Adds the demo event and its three tiers unless they exist; running it twice changes nothing. */
export async function seedDemo (sql: Sql): Promise<{ created: boolean }> {
  return await sql.begin(async (tx) => {
    const inserted = await tx`
      insert into events (id, name, description, venue, starts_at, ends_at, currency)
      values (${DEMO_EVENT_ID}, 'The Demo Tour: Live', 'A demo concert seeded on first start.',
              'Riverside Arena', '2027-07-17T19:30:00Z', '2027-07-17T23:00:00Z', 'EUR')
      on conflict (id) do nothing
      returning id
    `
    for (const tier of demoTiers) {
      await tx`
        insert into ticket_tiers (id, event_id, name, price, capacity, remaining, max_per_booking)
        values (${tier.id}, ${DEMO_EVENT_ID}, ${tier.name}, ${tier.price}, ${tier.capacity}, ${tier.capacity}, ${tier.maxPerBooking})
        on conflict (id) do nothing
      `
    }
    return { created: inserted.length > 0 }
  })
}
