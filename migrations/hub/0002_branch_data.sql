-- What the hub owns for each branch and publishes through its feed: the branch configuration
-- (sede, services, counters, hours, calling rules, booking-token verifying keys) as one
-- document, and the appointments.
CREATE TABLE branch_config (
    branch_id   integer PRIMARY KEY REFERENCES branch,
    payload     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE appointment (
    branch_id   integer NOT NULL REFERENCES branch,
    booking_id  bigint NOT NULL,
    starts_at   timestamp NOT NULL,
    service     text NOT NULL,
    state       text NOT NULL,
    payload     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, booking_id)
);
CREATE INDEX appointment_day ON appointment (branch_id, starts_at);
