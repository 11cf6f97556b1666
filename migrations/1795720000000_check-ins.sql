-- Up Migration

-- Every scan a door recorded, in the transaction that decided it: entries let in and exits let out
-- (`admitted`), refusals (`rejected`: a door's log includes them) and offline double admissions
-- (`conflict`). `check_in` and `problem` are the answer as it was given (the CheckIn body, the
-- problem document), so a retried scan replays it exactly; a conflict carries both.
--
-- The nonce is the device's name for one scan, unique within the scanner key's event: it makes a
-- retried scan or upload record nothing twice. `code_digest` (SHA-256 of the scanned code) tells a
-- retry from a reused nonce. Lists, keys and tickets are never deleted, so these columns have no
-- foreign keys: each would lock its parent row (the door's list, the device's key) in every scan's
-- transaction, and the scans of one door are many at once.
CREATE TABLE check_ins (
  id                   uuid PRIMARY KEY,
  event_id             uuid NOT NULL,
  check_in_list_id     uuid NOT NULL,
  scanner_key_id       uuid NOT NULL,
  nonce                text NOT NULL CHECK (char_length(nonce) BETWEEN 1 AND 100),
  code_digest          bytea NOT NULL CHECK (octet_length(code_digest) = 32),
  ticket_id            uuid,
  type                 text NOT NULL CHECK (type IN ('entry', 'exit')),
  result               text NOT NULL CHECK (result IN ('admitted', 'rejected', 'conflict')),
  scanned_at           timestamptz(3) NOT NULL,
  recorded_at          timestamptz(3) NOT NULL,
  gate                 text CHECK (char_length(gate) BETWEEN 1 AND 100),
  -- A conflict names the admission that stands (the entry that let the holder in first).
  standing_check_in_id uuid,
  check_in             jsonb,
  problem              jsonb,
  CONSTRAINT check_ins_nonce_once UNIQUE (event_id, nonce),
  CONSTRAINT check_ins_answer CHECK (
    CASE result
      WHEN 'admitted' THEN check_in IS NOT NULL AND problem IS NULL
      WHEN 'rejected' THEN check_in IS NULL AND problem IS NOT NULL
      ELSE check_in IS NOT NULL AND problem IS NOT NULL
    END
  ),
  CONSTRAINT check_ins_admitted_have_ticket CHECK (result = 'rejected' OR ticket_id IS NOT NULL),
  CONSTRAINT check_ins_conflicts_name_standing CHECK ((result = 'conflict') = (standing_check_in_id IS NOT NULL))
);

CREATE INDEX check_ins_conflicts_idx ON check_ins (check_in_list_id, recorded_at, id) WHERE result = 'conflict';

-- Where each ticket stands on each list: the arbiter of "exactly once at the door". Every scan
-- that may change it locks its row first (created on the ticket's first scan, in (list, ticket)
-- order within a transaction, so two transactions never wait on each other in a circle), and only
-- then decides: a second entry finds the first one's outcome. `entry_*` is the entry that let the
-- holder in last (the first one, on a list without re-entry): what `already-checked-in` names.
CREATE TABLE check_in_states (
  check_in_list_id  uuid NOT NULL,
  ticket_id         uuid NOT NULL,
  ticket_tier_id    uuid NOT NULL,
  inside            boolean NOT NULL DEFAULT false,
  first_check_in_id uuid,
  entry_check_in_id uuid,
  entry_scanned_at  timestamptz(3),
  entry_gate        text,
  PRIMARY KEY (check_in_list_id, ticket_id),
  CONSTRAINT check_in_states_entry CHECK ((first_check_in_id IS NULL) = (entry_check_in_id IS NULL) AND (entry_check_in_id IS NULL) = (entry_scanned_at IS NULL)),
  CONSTRAINT check_in_states_inside_after_entry CHECK (NOT inside OR entry_check_in_id IS NOT NULL)
);

-- Ticket-holders learn of admissions: a new webhook event type.
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_events_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_events_check CHECK (
  cardinality(events) >= 1
  AND events <@ ARRAY['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired', 'ticket.checked_in']
);

-- Down Migration

UPDATE webhook_endpoints SET events = array_remove(events, 'ticket.checked_in') WHERE 'ticket.checked_in' = ANY(events) AND cardinality(events) > 1;
UPDATE webhook_endpoints SET events = ARRAY['booking.created'], disabled = true WHERE events = ARRAY['ticket.checked_in'];
ALTER TABLE webhook_endpoints DROP CONSTRAINT webhook_endpoints_events_check;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_events_check CHECK (
  cardinality(events) >= 1
  AND events <@ ARRAY['booking.created', 'booking.confirmed', 'booking.cancelled', 'booking.expired']
);
DROP TABLE check_in_states;
DROP TABLE check_ins;
