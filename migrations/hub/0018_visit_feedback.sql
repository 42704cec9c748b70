-- How the visit went, asked on the follow page once the ticket is served: a score of 1 to 5
-- and an optional sentence, kept per sede, service and day — never per ticket, counter or
-- operator (no remote monitoring of individual workers: Statuto dei lavoratori, art. 4). The
-- answers have no key, no time and no ticket, so they cannot be joined back to the call.
CREATE TABLE visit_feedback (
    branch_id     integer NOT NULL,
    business_day  date NOT NULL,
    service       text NOT NULL,
    score         smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment       text CHECK (comment IS NULL OR length(comment) <= 500)
);
CREATE INDEX visit_feedback_day ON visit_feedback (branch_id, business_day);
-- Which tickets answered, so each answers once; kept apart from the answers, for the day only.
CREATE TABLE feedback_given (
    branch_id     integer NOT NULL,
    business_day  date NOT NULL,
    ticket        text NOT NULL,
    PRIMARY KEY (branch_id, business_day, ticket)
);
