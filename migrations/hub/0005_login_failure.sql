-- Failed console logins, by address and by account: every hub instance counts the same
-- failures, so a second instance behind the load balancer is no way around the limit.
CREATE TABLE login_failure (
    key  text NOT NULL,
    at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failure_key ON login_failure (key, at);
