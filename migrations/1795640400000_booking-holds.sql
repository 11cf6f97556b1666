-- Up Migration

-- Tickets of a lapsed hold go back to inventory tier by tier, whenever a transaction holding
-- that tier's lock meets them (a booking, a capacity change), and all at once in the sweep,
-- which then marks the booking expired. This marks the items already back.
ALTER TABLE booking_items ADD COLUMN released boolean NOT NULL DEFAULT false;

-- Held bookings are few (live holds and lapsed ones the sweep has not reached); reads of a
-- tier's held and lapsed tickets start from them.
CREATE INDEX bookings_held_expires_at_idx ON bookings (expires_at) WHERE status = 'held';

-- The booking state machine, enforced here as well as in the code:
--   held -> confirmed (before expires_at) | expired (from expires_at on) | cancelled
--   confirmed -> cancelled
CREATE FUNCTION bookings_check_status_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status NOT IN ('held', 'confirmed') THEN
      RAISE EXCEPTION 'a booking starts held or confirmed, not %', NEW.status
        USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_status_transition';
    END IF;
  ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NOT ((OLD.status = 'held' AND NEW.status IN ('confirmed', 'expired', 'cancelled'))
            OR (OLD.status = 'confirmed' AND NEW.status = 'cancelled')) THEN
      RAISE EXCEPTION 'a booking cannot go from % to %', OLD.status, NEW.status
        USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_status_transition';
    END IF;
    IF OLD.status = 'held' AND NEW.status = 'confirmed' AND OLD.expires_at <= clock_timestamp() THEN
      RAISE EXCEPTION 'a hold cannot be confirmed after it expired'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_status_transition';
    END IF;
    IF OLD.status = 'held' AND NEW.status = 'expired' AND OLD.expires_at > clock_timestamp() THEN
      RAISE EXCEPTION 'a hold cannot expire before its expires_at'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'bookings_status_transition';
    END IF;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER bookings_status_transition
  BEFORE INSERT OR UPDATE OF status ON bookings
  FOR EACH ROW EXECUTE FUNCTION bookings_check_status_transition();

-- Down Migration

DROP TRIGGER bookings_status_transition ON bookings;
DROP FUNCTION bookings_check_status_transition();
DROP INDEX bookings_held_expires_at_idx;
ALTER TABLE booking_items DROP COLUMN released;
