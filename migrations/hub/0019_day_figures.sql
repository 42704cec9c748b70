-- A sede's day in figures, written from the day's queue events once the day is over (a
-- nightly job): what the national figures add up by week. Counts and a histogram of waits,
-- nothing about a ticket, a counter or a person.
CREATE TABLE day_figures (
    branch_id     integer NOT NULL,
    business_day  date NOT NULL,
    issued        integer NOT NULL,
    served        integer NOT NULL,
    no_show       integer NOT NULL,
    recalls       integer NOT NULL,
    -- waits[m + 1]: tickets first called after m whole minutes (0 to 179); waits[181]: after
    -- 180 minutes or more.
    waits         integer[] NOT NULL CHECK (cardinality(waits) = 181),
    computed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (branch_id, business_day)
);
