-- Signicat-shaped Authentication REST API: the bearer tokens API clients get with the
-- client-credentials grant (never valid at userinfo), and the sessions they create. A session's
-- `subject` (the person's attributes, JSON) is set when the login succeeds and cleared when the
-- API client reads it; the row goes at expiry.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_expiry ON api_tokens (expires_at);

CREATE TABLE rest_sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_attributes TEXT NOT NULL,
    requested_loa TEXT NOT NULL,
    scope TEXT NOT NULL,
    callback_urls TEXT NOT NULL,
    ui_locales TEXT,
    subject TEXT,
    subject_read_at BIGINT,
    upstream TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX rest_sessions_expiry ON rest_sessions (expires_at);
