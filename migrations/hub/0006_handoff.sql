-- Identification by phone hand-off: the kiosk shows a one-time QR code; the visitor's phone
-- opens it, logs in at the identity provider, and the identity is bound to that kiosk session
-- for a few minutes. Only the QR secret's SHA-256 is kept.
CREATE TABLE handoff (
    branch_id           integer NOT NULL REFERENCES branch,
    id                  uuid NOT NULL UNIQUE,
    device_id           text NOT NULL,
    token_hash          bytea NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    opened_at           timestamptz,
    oidc_state          text UNIQUE,
    pkce_verifier       text,
    nonce               text,
    person_cf           text,
    person_name         text,
    bound_at            timestamptz,
    session_expires_at  timestamptz,
    ended_at            timestamptz,
    PRIMARY KEY (branch_id, id)
);

-- Who may act for which company: its legal representative or a delegate (labour consultant,
-- accountant, association...), as the INPS registry holds it. Keyed by the company's sede di
-- competenza like every other branch table.
CREATE TABLE delegation (
    branch_id      integer NOT NULL,
    matricola      text NOT NULL,
    person_cf      text NOT NULL,
    company_cf     text NOT NULL,
    denominazione  text NOT NULL,
    role           text NOT NULL,
    PRIMARY KEY (branch_id, matricola, person_cf)
);
CREATE INDEX delegation_person ON delegation (person_cf);

-- The built-in test identity provider (demo and tests only): its identities, its signing key
-- (one for every hub instance) and its one-time authorisation codes.
CREATE TABLE idp_identity (
    cf    text PRIMARY KEY,
    name  text NOT NULL
);
CREATE TABLE idp_key (
    kid   text PRIMARY KEY,
    seed  bytea NOT NULL CHECK (length(seed) = 32)
);
CREATE TABLE idp_code (
    code_hash       bytea PRIMARY KEY,
    client_id       text NOT NULL,
    redirect_uri    text NOT NULL,
    nonce           text,
    code_challenge  text NOT NULL,
    cf              text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
