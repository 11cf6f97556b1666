-- Up Migration

-- Tiers are listed in creation order; created_at has millisecond precision, so tiers created in
-- the same millisecond would tie. A sequence number breaks no ties.
ALTER TABLE ticket_tiers ADD COLUMN creation_seq bigint GENERATED ALWAYS AS IDENTITY;
DROP INDEX ticket_tiers_event_id_idx;
CREATE INDEX ticket_tiers_event_id_idx ON ticket_tiers (event_id, creation_seq);

-- Down Migration

DROP INDEX ticket_tiers_event_id_idx;
CREATE INDEX ticket_tiers_event_id_idx ON ticket_tiers (event_id, created_at, id);
ALTER TABLE ticket_tiers DROP COLUMN creation_seq;
