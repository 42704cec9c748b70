-- Version 2: the queue engine's event log, the ticket read model it maintains, daily figures,
-- and staff accounts for the branch LAN console.

-- Append-only. Every state change of the branch queue is one row, written in the transaction
-- that updates the read model; `seq` is also the server-sent event id staff consoles resume from.
CREATE TABLE queue_event (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_day  TEXT NOT NULL,
    at            TEXT NOT NULL,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL
) STRICT;
CREATE INDEX queue_event_day_opened ON queue_event(kind, seq);

-- Numbering and the numbering day are replayed from the event log now.
DROP TABLE ticket_sequence;
DROP TABLE business_day;

ALTER TABLE ticket ADD COLUMN queue_service TEXT;
ALTER TABLE ticket ADD COLUMN recalls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ticket ADD COLUMN eligible_at TEXT;
ALTER TABLE ticket ADD COLUMN first_called_at TEXT;
ALTER TABLE ticket ADD COLUMN started_at TEXT;
ALTER TABLE ticket ADD COLUMN finished_at TEXT;
ALTER TABLE ticket ADD COLUMN cancel_reason TEXT;
ALTER TABLE ticket ADD COLUMN ahead_at_issue INTEGER;

CREATE TABLE daily_figures (
    business_day  TEXT PRIMARY KEY,
    closed_at     TEXT NOT NULL,
    figures       TEXT NOT NULL
) STRICT;

-- Break-glass staff accounts made on the command line (hub accounts arrive with the hub).
CREATE TABLE staff_account (
    username       TEXT PRIMARY KEY CHECK (length(username) BETWEEN 2 AND 64),
    role           TEXT NOT NULL CHECK (role IN ('operator', 'supervisor')),
    password_hash  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

-- Login sessions survive a restart of the kiosk process, so consoles reconnect without a
-- new login. Only a hash of the cookie is kept.
CREATE TABLE staff_session (
    token_hash   BLOB PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES staff_account(username) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) STRICT;
