-- npm run bench: the database's own best at one booking per transaction on one hot tier. The same
-- statements as the bench's direct-SQL reference (reference() in scripts/bench.ts): take one ticket
-- off the tier, insert the booking, its item and its ticket (no code: signing is the API's work).
-- The bench runs it as
--   pgbench -n -M prepared -T SECONDS -c N -j min(N,2) -f scripts/bench-pgbench.sql -D tier=<tier id> -D event=<event id>
-- on a fresh tier of capacity 1,000,000 per run (pgbench has no uuid values for \set, so the ids
-- come in as -D variables; the booking's id comes back through \gset).
BEGIN;
UPDATE ticket_tiers SET remaining = remaining - 1 WHERE id = :tier AND remaining >= 1;
INSERT INTO bookings (event_id, status, total, currency) VALUES (:event, 'confirmed', 5000, 'EUR') RETURNING id AS booking_id \gset
INSERT INTO booking_items (booking_id, position, ticket_tier_id, tier_name, quantity, unit_price) VALUES (:booking_id, 0, :tier, 'Tier', 1, 5000);
INSERT INTO tickets (id, booking_id, event_id, ticket_tier_id, tier_name, item_position, position, status) VALUES (gen_random_uuid(), :booking_id, :event, :tier, 'Tier', 0, 1, 'valid');
END;
