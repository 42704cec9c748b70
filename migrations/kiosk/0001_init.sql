-- Kiosk / branch node store, version 1.
-- Replica tables (written only by the pull from the hub, or by demo-data) come first, then the
-- tables the branch node owns, then sync bookkeeping.

CREATE TABLE device_identity (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    device_id    TEXT NOT NULL,
    -- New random value whenever this database file is created: a re-flashed card starts a new
    -- outbox stream instead of replaying old sequence numbers.
    incarnation  TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;

-- Configuration pulled from the hub (or set by demo-data): branch, names, parameters.
CREATE TABLE config (
    key          TEXT PRIMARY KEY,
    value        TEXT NOT NULL
) STRICT;

CREATE TABLE verifying_key (
    key_id       INTEGER PRIMARY KEY CHECK (key_id BETWEEN 0 AND 65535),
    public_key   BLOB NOT NULL CHECK (length(public_key) = 32),
    added_at     TEXT NOT NULL
) STRICT;

CREATE TABLE service (
    letter            TEXT PRIMARY KEY CHECK (length(letter) = 1 AND letter BETWEEN 'A' AND 'Z'),
    name              TEXT NOT NULL,
    level             TEXT NOT NULL CHECK (level IN ('first', 'second')),
    appointment_only  INTEGER NOT NULL CHECK (appointment_only IN (0, 1)),
    slot_minutes      INTEGER NOT NULL CHECK (slot_minutes > 0),
    position          INTEGER NOT NULL
) STRICT;

CREATE TABLE counter (
    number       INTEGER PRIMARY KEY CHECK (number BETWEEN 1 AND 99),
    label        TEXT NOT NULL
) STRICT;

CREATE TABLE counter_service (
    counter_number  INTEGER NOT NULL REFERENCES counter(number) ON DELETE CASCADE,
    service_letter  TEXT NOT NULL REFERENCES service(letter) ON DELETE CASCADE,
    weight          INTEGER NOT NULL CHECK (weight >= 1),
    PRIMARY KEY (counter_number, service_letter)
) STRICT;

-- Weekly opening hours per service; weekday 1 = Monday. Local times 'HH:MM'.
CREATE TABLE opening_hours (
    service_letter    TEXT NOT NULL REFERENCES service(letter) ON DELETE CASCADE,
    weekday           INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens             TEXT NOT NULL,
    closes            TEXT NOT NULL CHECK (closes > opens),
    appointment_only  INTEGER NOT NULL CHECK (appointment_only IN (0, 1)),
    PRIMARY KEY (service_letter, weekday, opens)
) STRICT;

CREATE TABLE appointment (
    booking_id      INTEGER PRIMARY KEY,
    sede_code       TEXT NOT NULL,
    service_letter  TEXT NOT NULL REFERENCES service(letter),
    starts_at       TEXT NOT NULL,            -- local 'YYYY-MM-DDTHH:MM:SS'
    duration_min    INTEGER NOT NULL CHECK (duration_min > 0),
    person_key      BLOB CHECK (person_key IS NULL OR length(person_key) = 8),
    state           TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX appointment_by_start ON appointment(starts_at);

-- The numbering day: while the clock is untrusted, numbering stays on the last day used.
CREATE TABLE business_day (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    day          TEXT NOT NULL
) STRICT;

-- Last number issued per service and day. Updated in the transaction that writes the ticket,
-- so a number is never reused and never skipped.
CREATE TABLE ticket_sequence (
    business_day    TEXT NOT NULL,
    service_letter  TEXT NOT NULL,
    last_number     INTEGER NOT NULL CHECK (last_number BETWEEN 1 AND 999),
    PRIMARY KEY (business_day, service_letter)
) STRICT;

CREATE TABLE ticket (
    id                 INTEGER PRIMARY KEY,
    business_day       TEXT NOT NULL,
    service_letter     TEXT NOT NULL,
    number             INTEGER NOT NULL CHECK (number BETWEEN 1 AND 999),
    booking_id         INTEGER UNIQUE REFERENCES appointment(booking_id),
    priority           TEXT NOT NULL CHECK (priority IN ('priority', 'appointment', 'walk_in')),
    priority_category  TEXT,
    state              TEXT NOT NULL,
    counter_number     INTEGER,
    issued_at          TEXT NOT NULL,
    clock_trusted      INTEGER NOT NULL CHECK (clock_trusted IN (0, 1)),
    -- A check-in is the ticket of a booking: who checked in (pseudonymous person key, kept for
    -- 90 days for audit, then purged) lives on the ticket row, so a check-in writes one row.
    person_key         BLOB CHECK (person_key IS NULL OR length(person_key) = 8),
    UNIQUE (business_day, service_letter, number)
) STRICT;

-- Operations to push to the hub. AUTOINCREMENT: a sequence number is never reused, even after
-- acknowledged rows are pruned; rows are only written inside the business transaction, so a
-- rolled-back transaction leaves no gap.
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id           TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    payload         TEXT NOT NULL,
    schema_version  INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'rejected')),
    result          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX outbox_pending ON outbox(state, seq);

CREATE TABLE sync_cursor (
    feed            TEXT PRIMARY KEY,
    after_seq       INTEGER NOT NULL,
    feed_epoch      TEXT NOT NULL
) STRICT;

-- Last local day each scheduled job ran.
CREATE TABLE job_run (
    job             TEXT PRIMARY KEY,
    last_run_day    TEXT NOT NULL
) STRICT;
