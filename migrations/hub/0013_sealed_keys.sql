-- Signing keys leave the database in clear: a backup, a replica or a stolen dump must not
-- forge booking QR codes for every sede. Each seed is sealed (AES-256-GCM) under the
-- key-encryption key from the hub's configuration, which the database never sees; the
-- database records which key-encryption key sealed its keys, so a hub started with another is
-- refused at once rather than at the first booking. SQL cannot seal: a seed left in clear by
-- an older build is sealed, and retired, by the next hub that starts (`keys::prepare`).
CREATE TABLE key_seal (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    kek_id    text NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now()
);

-- Booking keys rotate: the current one signs; a retired one has lost its private half and
-- keeps its verifying half in the branches' configurations until the last appointment it
-- signed is past, then goes.
ALTER TABLE booking_key
    ALTER COLUMN seed DROP NOT NULL,
    ADD COLUMN sealed bytea,
    ADD COLUMN public bytea CHECK (length(public) = 32),
    ADD COLUMN retired_at timestamptz;
CREATE UNIQUE INDEX booking_key_one_current ON booking_key ((true)) WHERE retired_at IS NULL;
CREATE SEQUENCE booking_key_id START 101 MAXVALUE 65535;
SELECT setval('booking_key_id', greatest(101, (SELECT max(key_id) + 1 FROM booking_key)), false);

-- Which key signed each booking's token, so a retired key goes once its bookings are past.
ALTER TABLE agenda_booking ADD COLUMN key_id integer;
UPDATE agenda_booking SET key_id = 100;
ALTER TABLE agenda_booking ALTER COLUMN key_id SET NOT NULL;

ALTER TABLE idp_key
    ALTER COLUMN seed DROP NOT NULL,
    ADD COLUMN sealed bytea;
