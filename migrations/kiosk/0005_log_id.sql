-- The event log's own identity, fixed when the database file is created. The outbox stream
-- (`incarnation`) can move on — after the hub turned out to hold other operations under our
-- sequence numbers — while the events it carries keep their log identity, so the hub counts a
-- re-sent event once.
ALTER TABLE device_identity ADD COLUMN log_id TEXT;
UPDATE device_identity SET log_id = incarnation;
