-- Comunicazioni on-line: which of the eleven istanze can be sent (some are closed by law or
-- lack of funds; administrators change it), and the istanze sent with their states.
CREATE TABLE istanza_availability (
    code        text PRIMARY KEY,
    available   boolean NOT NULL,
    reason      text,
    updated_by  text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The same four as `istanze::DEFAULT_UNAVAILABLE` (a test checks they agree).
INSERT INTO istanza_availability (code, available, reason) VALUES
    ('assunzione_407', false, 'Agevolazione abrogata dal 1° gennaio 2015 (L. 190/2014).'),
    ('mobilita_223', false, 'Incentivo abrogato dal 1° gennaio 2017 (L. 92/2012).'),
    ('giovani_genitori', false, 'Fondi esauriti.'),
    ('licenziati_gmo', false, 'Fondi esauriti.');

CREATE TABLE istanza (
    branch_id   integer NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    protocol    text NOT NULL UNIQUE,
    matricola   text NOT NULL,
    person_cf   text NOT NULL,
    code        text NOT NULL,
    fields      jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'inviata' CHECK (state IN ('inviata', 'protocollata',
                    'in_istruttoria', 'accolta', 'accolta_parzialmente', 'respinta')),
    esito       text,
    email       text,
    mobile      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, id)
);
CREATE INDEX istanza_matricola ON istanza (matricola, created_at);

CREATE TABLE istanza_history (
    branch_id   integer NOT NULL,
    istanza_id  bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    state       text NOT NULL,
    actor       text NOT NULL,
    note        text,
    FOREIGN KEY (branch_id, istanza_id) REFERENCES istanza (branch_id, id)
);
