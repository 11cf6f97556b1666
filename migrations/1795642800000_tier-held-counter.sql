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

-- Down Migration

ALTER TABLE ticket_tiers
  DROP CONSTRAINT ticket_tiers_taken_within_capacity,
  DROP CONSTRAINT ticket_tiers_held_not_negative,
  DROP COLUMN held;
