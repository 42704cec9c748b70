-- The visitor's phone as a desk: after identification the phone keeps a session cookie (only
-- its SHA-256 here) and shows the form the kiosk asked for (`task`); the contact details the
-- identity provider gave are offered for notifications.
ALTER TABLE handoff
    ADD COLUMN phone_hash   bytea UNIQUE,
    ADD COLUMN email        text,
    ADD COLUMN mobile       text,
    ADD COLUMN task         jsonb,
    ADD COLUMN task_result  text;

ALTER TABLE idp_identity
    ADD COLUMN email  text,
    ADD COLUMN phone  text;

-- Where the visitor wants to be told of replies and changes of state (optional).
ALTER TABLE contact_request
    ADD COLUMN email   text,
    ADD COLUMN mobile  text;

-- Uploaded files, stored once by the SHA-256 of their content.
CREATE TABLE blob (
    sha256      bytea PRIMARY KEY CHECK (length(sha256) = 32),
    mime        text NOT NULL CHECK (mime IN ('application/pdf', 'image/jpeg', 'image/png')),
    size        integer NOT NULL CHECK (size > 0 AND size <= 3145728),
    content     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contact_attachment (
    branch_id   integer NOT NULL,
    request_id  bigint NOT NULL,
    position    smallint NOT NULL CHECK (position BETWEEN 1 AND 3),
    name        text NOT NULL,
    sha256      bytea NOT NULL REFERENCES blob,
    PRIMARY KEY (branch_id, request_id, position),
    FOREIGN KEY (branch_id, request_id) REFERENCES contact_request (branch_id, id)
);
