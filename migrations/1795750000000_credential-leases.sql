-- Up Migration

-- Processes may keep the keys they have looked up in memory while they hold a lease here, and
-- only then (src/plugins/credential-cache.ts). Every change that can make a cached key wrong (a key
-- revoked or deleted, an integrator's rate limits changed) moves `credential_version` on, in its
-- own transaction, and wakes the processes; each one drops what it holds and acknowledges the
-- version (`seen`) as it renews its lease. Whoever revokes waits until every lease still running
-- has seen the change, or has run out: after that no process accepts the old key.
CREATE TABLE credential_version (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  version  bigint NOT NULL
);
INSERT INTO credential_version (version) VALUES (0);

CREATE TABLE credential_leases (
  holder      uuid PRIMARY KEY,
  lease_until timestamptz NOT NULL,
  seen        bigint NOT NULL
);

CREATE FUNCTION credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  next bigint;
BEGIN
  UPDATE credential_version SET version = version + 1 RETURNING version INTO next;
  PERFORM pg_notify('credentials_changed', next::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at, scopes, key_hash, integrator_id OR DELETE ON api_keys
  FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed();
CREATE TRIGGER scanner_keys_changed AFTER UPDATE OF revoked_at, key_hash, event_id OR DELETE ON scanner_keys
  FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed();
CREATE TRIGGER integrators_changed AFTER UPDATE OF requests_per_minute, bookings_per_minute OR DELETE ON integrators
  FOR EACH STATEMENT EXECUTE FUNCTION credentials_changed();

-- Down Migration

DROP TRIGGER integrators_changed ON integrators;
DROP TRIGGER scanner_keys_changed ON scanner_keys;
DROP TRIGGER api_keys_changed ON api_keys;
DROP FUNCTION credentials_changed();
DROP TABLE credential_leases;
DROP TABLE credential_version;
