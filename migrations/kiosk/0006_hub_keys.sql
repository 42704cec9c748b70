-- The keys the hub announced through the feed (hex, comma-separated): its own and, before a
-- move to a new certificate key, the next. Once the hub has announced, these are what the
-- kiosk accepts; until then, the key pinned at enrolment.
ALTER TABLE hub_link ADD COLUMN announced_keys TEXT;
