-- Up Migration

-- A check-in list is a door's rule: which of the event's tiers it admits (null: every tier) and
-- whether a holder may go out and in again.
CREATE TABLE check_in_lists (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id        uuid NOT NULL REFERENCES events (id),
  name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  ticket_tier_ids uuid[] CHECK (ticket_tier_ids IS NULL OR cardinality(ticket_tier_ids) BETWEEN 1 AND 100),
  allow_reentry   boolean NOT NULL DEFAULT false,
  created_at      timestamptz(3) NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX check_in_lists_event_id_idx ON check_in_lists (event_id, created_at, id);

-- Scanner keys work like integrator keys: 32 random bytes, only their SHA-256 digest kept, found by it.
CREATE TABLE scanner_keys (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id   uuid NOT NULL REFERENCES events (id),
  name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  prefix     text NOT NULL,
  key_hash   bytea NOT NULL UNIQUE,
  created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  revoked_at timestamptz(3)
);

CREATE INDEX scanner_keys_event_id_idx ON scanner_keys (event_id, created_at, id);

-- Down Migration

DROP TABLE scanner_keys;
DROP TABLE check_in_lists;
