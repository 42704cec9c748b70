-- Console sessions: the cookie's SHA-256, never the cookie.
CREATE TABLE hub_session (
    token_hash  bytea PRIMARY KEY,
    username    text NOT NULL REFERENCES hub_user ON DELETE CASCADE,
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
