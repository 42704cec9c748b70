-- Background jobs (reminders, purges, retries), claimed with FOR UPDATE SKIP LOCKED so each
-- runs once however many hub instances poll the table.
CREATE TABLE job (
    id          bigserial PRIMARY KEY,
    branch_id   integer REFERENCES branch,
    kind        text NOT NULL,
    run_at      timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL DEFAULT '{}',
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    locked_by   text,
    locked_at   timestamptz,
    done_at     timestamptz,
    -- A recurring job exists once per kind and due time.
    dedup_key   text UNIQUE
);
CREATE INDEX job_due ON job (run_at) WHERE state = 'pending';
