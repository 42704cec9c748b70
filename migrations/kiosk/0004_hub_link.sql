-- The kiosk's enrolment with its hub: the device key generated here (it never leaves the
-- kiosk) and the hub certificate pinned at enrolment.
CREATE TABLE hub_link (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    hub_url      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    branch       INTEGER NOT NULL,
    secret_key   BLOB NOT NULL CHECK (length(secret_key) = 32),
    cert_sha256  BLOB NOT NULL CHECK (length(cert_sha256) = 32),
    enrolled_at  TEXT NOT NULL
) STRICT;
