-- Several kiosks, one queue: a branch's devices are its node (the sequencer: a kiosk with the
-- node inside, the only kind before this migration, or a headless box) and kiosks that use it.
-- The branch's feed lists them, so the node knows which kiosks to serve and the kiosks know
-- where the node is and which certificate key it presents.
ALTER TABLE enrolment_code ADD COLUMN role text NOT NULL DEFAULT 'node'
    CHECK (role IN ('node', 'kiosk'));
ALTER TABLE device ADD COLUMN role text NOT NULL DEFAULT 'node'
    CHECK (role IN ('node', 'kiosk'));
-- Where the node serves the branch's LAN, and the SHA-256 of its certificate's public key, as
-- the node reported them in its last status.
ALTER TABLE device ADD COLUMN lan_url text;
ALTER TABLE device ADD COLUMN lan_key bytea CHECK (lan_key IS NULL OR length(lan_key) = 32);
