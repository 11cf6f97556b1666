-- Up Migration

CREATE TABLE events (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  description text CHECK (char_length(description) <= 2000),
  venue       text NOT NULL CHECK (char_length(venue) BETWEEN 1 AND 200),
  starts_at   timestamptz(3) NOT NULL,
  ends_at     timestamptz(3),
  currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at  timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT events_ends_at_not_before_starts_at CHECK (ends_at IS NULL OR ends_at >= starts_at)
);

-- Keyset pagination walks (starts_at, id).
CREATE INDEX events_starts_at_id_idx ON events (starts_at, id);

CREATE TABLE ticket_tiers (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id        uuid NOT NULL REFERENCES events (id),
  name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  price           integer NOT NULL CHECK (price BETWEEN 0 AND 100000000),
  capacity        integer NOT NULL CHECK (capacity BETWEEN 0 AND 1000000),
  remaining       integer NOT NULL,
  max_per_booking integer NOT NULL DEFAULT 10 CHECK (max_per_booking BETWEEN 1 AND 100),
  created_at      timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT ticket_tiers_remaining_not_negative CHECK (remaining >= 0),
  CONSTRAINT ticket_tiers_remaining_within_capacity CHECK (remaining <= capacity)
);

CREATE INDEX ticket_tiers_event_id_idx ON ticket_tiers (event_id, created_at, id);

CREATE TABLE bookings (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id            uuid NOT NULL REFERENCES events (id),
  client_reference    text CHECK (char_length(client_reference) BETWEEN 1 AND 200),
  request_fingerprint text,
  status              text NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired')),
  total               bigint NOT NULL CHECK (total >= 0),
  currency            char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  expires_at          timestamptz(3),
  created_at          timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  cancelled_at        timestamptz(3),
  CONSTRAINT bookings_fingerprint_with_reference CHECK ((client_reference IS NULL) = (request_fingerprint IS NULL)),
  CONSTRAINT bookings_cancelled_at_iff_cancelled CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
  CONSTRAINT bookings_held_has_expiry CHECK (status <> 'held' OR expires_at IS NOT NULL)
);

CREATE UNIQUE INDEX bookings_client_reference_key ON bookings (client_reference) WHERE client_reference IS NOT NULL;
CREATE INDEX bookings_event_id_idx ON bookings (event_id);

CREATE TABLE booking_items (
  booking_id     uuid NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
  position       smallint NOT NULL CHECK (position >= 0),
  ticket_tier_id uuid NOT NULL REFERENCES ticket_tiers (id),
  tier_name      text NOT NULL,
  quantity       integer NOT NULL CHECK (quantity > 0),
  unit_price     integer NOT NULL CHECK (unit_price >= 0),
  line_total     bigint GENERATED ALWAYS AS (quantity::bigint * unit_price) STORED,
  PRIMARY KEY (booking_id, ticket_tier_id),
  CONSTRAINT booking_items_position_key UNIQUE (booking_id, position)
);

CREATE INDEX booking_items_ticket_tier_id_idx ON booking_items (ticket_tier_id);

-- Down Migration

DROP TABLE booking_items;
DROP TABLE bookings;
DROP TABLE ticket_tiers;
DROP TABLE events;
