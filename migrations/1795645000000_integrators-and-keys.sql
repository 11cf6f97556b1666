-- Up Migration

CREATE TABLE integrators (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  created_at timestamptz(3) NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX integrators_created_at_id_idx ON integrators (created_at, id);

-- Only a SHA-256 digest of each key is kept: keys are 32 random bytes, so a fast hash is right,
-- and a key is found by its digest, never by comparing secrets in a loop.
CREATE TABLE api_keys (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  integrator_id uuid NOT NULL REFERENCES integrators (id),
  name          text CHECK (char_length(name) BETWEEN 1 AND 200),
  prefix        text NOT NULL,
  key_hash      bytea NOT NULL UNIQUE,
  scopes        text[] NOT NULL CHECK (
    cardinality(scopes) >= 1 AND scopes <@ ARRAY['bookings:read', 'bookings:write', 'webhooks:manage']
  ),
  created_at    timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  last_used_at  timestamptz(3),
  revoked_at    timestamptz(3)
);

CREATE INDEX api_keys_integrator_id_idx ON api_keys (integrator_id, created_at, id);

-- A booking belongs to the integrator whose key made it; references are unique per integrator.
ALTER TABLE bookings ADD COLUMN integrator_id uuid REFERENCES integrators (id);
DROP INDEX bookings_client_reference_key;
CREATE UNIQUE INDEX bookings_integrator_client_reference_key ON bookings (integrator_id, client_reference) NULLS NOT DISTINCT
  WHERE client_reference IS NOT NULL;
CREATE INDEX bookings_integrator_created_at_idx ON bookings (integrator_id, created_at DESC, id DESC);

-- Down Migration

DROP INDEX bookings_integrator_created_at_idx;
DROP INDEX bookings_integrator_client_reference_key;
CREATE UNIQUE INDEX bookings_client_reference_key ON bookings (client_reference) WHERE client_reference IS NOT NULL;
ALTER TABLE bookings DROP COLUMN integrator_id;
DROP TABLE api_keys;
DROP TABLE integrators;
