-- Up Migration

-- An integrator's own rate limits, per key and minute; both or neither (null: the service's
-- RATE_LIMIT_* defaults).
ALTER TABLE integrators
  ADD COLUMN requests_per_minute integer CHECK (requests_per_minute BETWEEN 1 AND 1000000),
  ADD COLUMN bookings_per_minute integer CHECK (bookings_per_minute BETWEEN 1 AND 1000000),
  ADD CONSTRAINT integrators_rate_limits_both CHECK ((requests_per_minute IS NULL) = (bookings_per_minute IS NULL));

-- Down Migration

ALTER TABLE integrators DROP CONSTRAINT integrators_rate_limits_both, DROP COLUMN bookings_per_minute, DROP COLUMN requests_per_minute;
