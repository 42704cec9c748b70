-- Several kiosks, one queue (docs/design/decisions.md, "Several kiosks in one sede").

-- At the branch node: which kiosk issued a ticket, and whether it did so from its lease while
-- cut off from the node.
ALTER TABLE ticket ADD COLUMN kiosk TEXT;
ALTER TABLE ticket ADD COLUMN issued_offline INTEGER NOT NULL DEFAULT 0
    CHECK (issued_offline IN (0, 1));

-- What this device is in its branch, as the hub said at enrolment: its node (every device
-- enrolled before), or a kiosk that numbers its tickets at the node.
ALTER TABLE hub_link ADD COLUMN role TEXT NOT NULL DEFAULT 'node' CHECK (role IN ('node', 'kiosk'));

-- The branch's devices as the hub's feed lists them, kept through a WAN outage: the node
-- accepts requests only from the kiosks here, and a kiosk reaches the node here names, at
-- the address and with the certificate key the node reported to the hub.
CREATE TABLE branch_device (
    device_id   TEXT PRIMARY KEY,
    public_key  BLOB NOT NULL CHECK (length(public_key) = 32),
    role        TEXT NOT NULL CHECK (role IN ('node', 'kiosk')),
    lan_url     TEXT,
    lan_key     BLOB CHECK (lan_key IS NULL OR length(lan_key) = 32)
) STRICT;

-- At a kiosk of a branch with a node: the numbers the node set aside for it, to issue while
-- the node cannot be reached. `next` is the next number to give.
CREATE TABLE lease (
    business_day    TEXT NOT NULL,
    service_letter  TEXT NOT NULL,
    first           INTEGER NOT NULL CHECK (first BETWEEN 1 AND 999),
    last            INTEGER NOT NULL CHECK (last BETWEEN first AND 999),
    next            INTEGER NOT NULL CHECK (next BETWEEN first AND last + 1),
    PRIMARY KEY (business_day, service_letter, first)
) STRICT;

-- Tickets this kiosk printed from its leases, kept until the node has taken them in (and for
-- the history's days after, as the kiosk's own record of what it printed).
CREATE TABLE offline_ticket (
    business_day    TEXT NOT NULL,
    ticket          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    issued_at       TEXT NOT NULL,
    handed_at       TEXT,
    PRIMARY KEY (business_day, ticket)
) STRICT;
