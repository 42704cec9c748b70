-- *Segui la coda*: a visitor's mobile number for the SMS when their turn is near and when they
-- are called. Kept only until the ticket ends (the row is deleted then), never shown to staff
-- or on a kiosk; one number per ticket.
CREATE TABLE follow_alert (
    branch_id       integer NOT NULL,
    business_day    date NOT NULL,
    ticket          text NOT NULL,
    mobile          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    near_sent_at    timestamptz,
    called_sent_at  timestamptz,
    PRIMARY KEY (branch_id, business_day, ticket)
);
-- How many tickets one number follows at a time (bounded, so the page cannot be used to send
-- SMS to someone else's phone in bulk).
CREATE INDEX follow_alert_mobile ON follow_alert (business_day, mobile);
