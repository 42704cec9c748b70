-- The Cassetto summary of each matricola, as the kiosk shows it to an identified delegate:
-- one document per matricola, read only through a bound hand-off whose person is delegated
-- for it. In production this is read from INPS's systems; the demo seeds it.
CREATE TABLE cassetto_summary (
    branch_id   integer NOT NULL,
    matricola   text NOT NULL,
    payload     jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, matricola)
);
