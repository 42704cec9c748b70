-- Area Contatti: requests an identified delegate sends to the sede di competenza of a
-- matricola, and the messages both ways. States: aperta, presa in carico, chiusa.
CREATE TABLE contact_request (
    branch_id    integer NOT NULL,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    protocol     text NOT NULL UNIQUE,
    matricola    text NOT NULL,
    person_cf    text NOT NULL,
    topic        text NOT NULL CHECK (topic IN ('generica', 'regolarita_contributiva',
                     'dm_trasmessi', 'f24', 'agevolazioni_contributive')),
    subject      text NOT NULL,
    state        text NOT NULL DEFAULT 'aperta'
                     CHECK (state IN ('aperta', 'presa_in_carico', 'chiusa')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, id)
);
CREATE INDEX contact_request_matricola ON contact_request (matricola, created_at);

CREATE TABLE contact_message (
    branch_id   integer NOT NULL,
    request_id  bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    author      text NOT NULL,
    body        text NOT NULL,
    FOREIGN KEY (branch_id, request_id) REFERENCES contact_request (branch_id, id)
);
CREATE INDEX contact_message_request ON contact_message (branch_id, request_id, at);
