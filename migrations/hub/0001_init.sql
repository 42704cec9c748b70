-- The hub's store. Every table that holds branch data leads with the branch (the sede code), so
-- the schema can be distributed by branch later; nothing in the sync path needs a single node
-- (no xid horizons, no LISTEN/NOTIFY, no sequence shared across branches).

CREATE TABLE branch (
    branch_id   integer PRIMARY KEY CHECK (branch_id BETWEEN 1 AND 9999),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Administrators (no branch), supervisors, back-office operators and counter staff (a branch).
CREATE TABLE hub_user (
    username       text PRIMARY KEY,
    role           text NOT NULL CHECK (role IN ('admin', 'supervisor', 'backoffice', 'counter')),
    branch_id      integer REFERENCES branch,
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'admin') = (branch_id IS NULL))
);

-- Every administrative action; kept at least 6 months (the purge job keeps 13).
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    action     text NOT NULL,
    branch_id  integer,
    detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

-- One-time enrolment codes, stored as SHA-256 of the code.
CREATE TABLE enrolment_code (
    code_hash   bytea PRIMARY KEY,
    branch_id   integer NOT NULL REFERENCES branch,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    device_id   text
);

-- Enrolled kiosks: their Ed25519 public key signs every sync request.
CREATE TABLE device (
    branch_id       integer NOT NULL REFERENCES branch,
    device_id       text NOT NULL UNIQUE,
    public_key      bytea NOT NULL CHECK (length(public_key) = 32),
    enrolled_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_seen       timestamptz,
    client_version  text,
    status          jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (branch_id, device_id)
);

-- How far each outbox stream (device × incarnation) has been applied.
CREATE TABLE device_cursor (
    branch_id    integer NOT NULL,
    device_id    text NOT NULL,
    incarnation  text NOT NULL,
    last_seq     bigint NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, device_id, incarnation),
    FOREIGN KEY (branch_id, device_id) REFERENCES device (branch_id, device_id)
);

-- The stored answer to every applied operation: a retry gets the same answer.
CREATE TABLE applied_op (
    branch_id    integer NOT NULL,
    device_id    text NOT NULL,
    incarnation  text NOT NULL,
    seq          bigint NOT NULL,
    op_id        text NOT NULL,
    op_hash      bytea NOT NULL,
    kind         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('applied', 'duplicate', 'rejected')),
    detail       text,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, device_id, incarnation, seq)
);

-- The branch node's queue events, as its event log (one per kiosk database file) numbered
-- them.
CREATE TABLE queue_event (
    branch_id     integer NOT NULL,
    log_id        text NOT NULL,
    event_seq     bigint NOT NULL,
    business_day  date NOT NULL,
    kind          text NOT NULL,
    payload       jsonb NOT NULL,
    device_id     text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, log_id, event_seq)
);

-- The per-branch change feed kiosks pull. `seq` is taken by updating the branch's head row
-- inside the writing transaction: the row lock is held to commit, so rows become visible in
-- seq order and a reader's cursor never skips one that commits late.
CREATE TABLE branch_feed_head (
    branch_id  integer PRIMARY KEY REFERENCES branch,
    last_seq   bigint NOT NULL DEFAULT 0,
    epoch      uuid NOT NULL DEFAULT gen_random_uuid()
);

CREATE TABLE branch_feed (
    branch_id       integer NOT NULL,
    seq             bigint NOT NULL,
    entity          text NOT NULL,
    entity_id       text NOT NULL,
    op              text NOT NULL CHECK (op IN ('put', 'remove')),
    schema_version  integer NOT NULL,
    payload         jsonb,
    committed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, seq)
);
