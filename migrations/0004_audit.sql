-- The audit trail: one row per login outcome, token issue or refusal, client change, key
-- creation and sandbox account block, without personal data. `subject` is a keyed hash (HMAC with
-- the `audit-secret` key) of the person's identifier, so the events of one person can be found
-- together by whoever holds the key, and nobody can read who it was. `at` is Unix seconds (for
-- `--since` and retention), `at_us` orders events within a second.
-- One index only, on time: events are written on the login's path, and every index is paid there.
CREATE TABLE audit_events (
    id TEXT NOT NULL,
    at BIGINT NOT NULL,
    at_us BIGINT NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT,
    service TEXT,
    outcome TEXT NOT NULL,
    detail TEXT,
    subject TEXT
);
CREATE INDEX audit_events_at ON audit_events (at_us);
