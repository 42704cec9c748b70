-- Agenda appuntamenti: the hub books slots at the sede di competenza of a matricola and signs
-- the booking token itself. Its signing keys (the verifying halves go to each branch's
-- configuration), the booking numbers it gives (from 100000 up; lower ones are imports and
-- the demo), and who booked what and why (hub only: kiosks see the pseudonymous person key).
CREATE TABLE booking_key (
    key_id      integer PRIMARY KEY CHECK (key_id BETWEEN 100 AND 65535),
    seed        bytea NOT NULL CHECK (length(seed) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE booking_progressive START 100000 MAXVALUE 999999;

CREATE TABLE agenda_booking (
    branch_id     integer NOT NULL,
    booking_id    bigint NOT NULL,
    matricola     text NOT NULL,
    person_cf     text NOT NULL,
    starts_at     timestamp NOT NULL,
    service       text NOT NULL,
    token         text NOT NULL,
    email         text,
    mobile        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    reminded_at   timestamptz,
    PRIMARY KEY (branch_id, booking_id),
    FOREIGN KEY (branch_id, booking_id) REFERENCES appointment (branch_id, booking_id)
);
CREATE INDEX agenda_booking_matricola ON agenda_booking (matricola, starts_at);
