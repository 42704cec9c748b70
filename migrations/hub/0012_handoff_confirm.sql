-- The phone confirms where it binds before anything is spent: the page of the QR code names
-- the sede and asks for the short code the kiosk shows beside it (a link relayed to someone
-- not standing at that kiosk goes no further), a few wrong codes end the hand-off, and the
-- provider's answer is accepted only in the browser that confirmed (the hash of its cookie).
ALTER TABLE handoff
    ADD COLUMN confirm_code text,
    ADD COLUMN confirm_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN flow_hash bytea;
