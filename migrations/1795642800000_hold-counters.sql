-- Up Migration

-- Tickets in holds (status 'held', not yet released) per tier, kept by the same transactions that
-- move `remaining`, so reading a tier costs one row however many holds it has. Tickets of a hold
-- that lapsed but is not yet released still count here; reads subtract them (few: the sweep
-- releases them within seconds).
ALTER TABLE ticket_tiers ADD COLUMN held integer NOT NULL DEFAULT 0;

UPDATE ticket_tiers t SET held = coalesce((
  SELECT sum(i.quantity)
  FROM booking_items i JOIN bookings b ON b.id = i.booking_id
  WHERE b.status = 'held' AND NOT i.released AND i.ticket_tier_id = t.id
), 0);

ALTER TABLE ticket_tiers
  ADD CONSTRAINT ticket_tiers_held_not_negative CHECK (held >= 0),
  ADD CONSTRAINT ticket_tiers_taken_within_capacity CHECK (remaining + held <= capacity);

-- Each unreleased item of a hold carries the hold's expiry (cleared when the hold is confirmed),
-- so "lapsed tickets of this tier" is a look-up in a small partial index, whatever the planner
-- knows about the size of bookings.
ALTER TABLE booking_items ADD COLUMN hold_expires_at timestamptz(3);

UPDATE booking_items i SET hold_expires_at = b.expires_at
FROM bookings b
WHERE b.id = i.booking_id AND b.status = 'held' AND NOT i.released;

CREATE INDEX booking_items_unreleased_holds_idx ON booking_items (ticket_tier_id, hold_expires_at)
  WHERE hold_expires_at IS NOT NULL AND NOT released;

-- Down Migration

DROP INDEX booking_items_unreleased_holds_idx;
ALTER TABLE booking_items DROP COLUMN hold_expires_at;

ALTER TABLE ticket_tiers
  DROP CONSTRAINT ticket_tiers_taken_within_capacity,
  DROP CONSTRAINT ticket_tiers_held_not_negative,
  DROP COLUMN held;
