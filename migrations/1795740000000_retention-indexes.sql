-- Up Migration

-- The retention sweep finds settled deliveries oldest first by the time they settled (their last
-- attempt; a delivery settled without any, its creation), and events oldest first by creation.
-- Pending deliveries stay out of the first index: they are never deleted, whatever their age.
-- Built here in the migrations' transaction, an index holds up writes to its table (bookings write
-- events and deliveries) while it is built; IF NOT EXISTS lets an operator of a large deployment
-- build them first with CREATE INDEX CONCURRENTLY under these names.
CREATE INDEX IF NOT EXISTS webhook_deliveries_settled_idx ON webhook_deliveries ((coalesce(last_attempt_at, created_at)), id) WHERE status <> 'pending';
CREATE INDEX IF NOT EXISTS webhook_events_created_at_idx ON webhook_events (created_at, id);

-- Down Migration

DROP INDEX webhook_events_created_at_idx;
DROP INDEX webhook_deliveries_settled_idx;
