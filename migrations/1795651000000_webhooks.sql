-- Up Migration

-- Endpoints an integrator registers. The secret signs deliveries, so it is kept as is (a hash
-- could not sign); after a rotation the previous secret signs too until previous_secret_expires_at.
CREATE TABLE webhook_endpoints (
  id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  integrator_id              uuid NOT NULL REFERENCES integrators (id),
  url                        text NOT NULL CHECK (char_length(url) <= 2048 AND url ~ '^https?://'),
  events                     text[] NOT NULL CHECK (
    cardinality(events) >= 1
    AND events <@ ARRAY['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired']
  ),
  description                text CHECK (char_length(description) <= 500),
  disabled                   boolean NOT NULL DEFAULT false,
  secret                     text NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz(3),
  created_at                 timestamptz(3) NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX webhook_endpoints_integrator_idx ON webhook_endpoints (integrator_id, created_at, id);

-- The outbox: one row per event, written in the transaction of the change it reports. `body` is
-- the exact JSON every delivery of the event sends (and signs).
CREATE TABLE webhook_events (
  id            uuid PRIMARY KEY,
  integrator_id uuid NOT NULL REFERENCES integrators (id),
  type          text NOT NULL,
  booking_id    uuid REFERENCES bookings (id),
  body          text NOT NULL,
  created_at    timestamptz(3) NOT NULL
);

-- One row per event and endpoint. A dispatcher claims a due row by setting a lease (under
-- FOR UPDATE SKIP LOCKED); the attempt is recorded only while the lease token still matches.
CREATE TABLE webhook_deliveries (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  event_id             uuid NOT NULL REFERENCES webhook_events (id),
  endpoint_id          uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at      timestamptz(3) DEFAULT clock_timestamp(),
  leased_until         timestamptz(3),
  lease_token          uuid,
  last_attempt_at      timestamptz(3),
  last_response_status smallint,
  last_error           text,
  created_at           timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT webhook_deliveries_next_attempt CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- Every attempt, for operators: when, how long, and what came back.
CREATE TABLE webhook_delivery_attempts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  delivery_id     uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempted_at    timestamptz(3) NOT NULL,
  duration_ms     integer NOT NULL,
  response_status smallint,
  error           text
);

CREATE INDEX webhook_delivery_attempts_delivery_idx ON webhook_delivery_attempts (delivery_id, attempted_at);

-- New deliveries wake the dispatchers (LISTEN webhook_deliveries) when their transaction commits.
CREATE FUNCTION notify_webhook_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM inserted) THEN
    PERFORM pg_notify('webhook_deliveries', '');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER webhook_deliveries_notify AFTER INSERT ON webhook_deliveries
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION notify_webhook_deliveries();

-- Down Migration

DROP TRIGGER webhook_deliveries_notify ON webhook_deliveries;
DROP FUNCTION notify_webhook_deliveries();
DROP TABLE webhook_delivery_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
