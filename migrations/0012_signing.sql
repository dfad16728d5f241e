-- The signing API (Signicat Sign API v2 shape): documents an API client uploads and the signed
-- documents it downloads, document collections, signing sessions, the prepared signatures kept
-- between hashing and signing, and the events of sessions (delivered to the client's webhook and
-- readable by polling). Document bytes are BYTEA (a BLOB in SQLite); a document goes at its
-- `expires_at`, which shrinks to a short retention once its signed result was downloaded.
CREATE TABLE sign_documents (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    content BYTEA NOT NULL,
    title TEXT,
    description TEXT,
    filename TEXT,
    origin TEXT NOT NULL,
    source_document_id TEXT,
    session_id TEXT,
    downloaded_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_documents_client ON sign_documents (client_id, created_at);
CREATE INDEX sign_documents_expiry ON sign_documents (expires_at);

CREATE TABLE sign_collections (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_collections_expiry ON sign_collections (expires_at);

CREATE TABLE sign_sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    request TEXT NOT NULL,
    output TEXT,
    signer_nin TEXT,
    step_hash TEXT,
    browser_hash TEXT,
    upstream TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_sessions_client ON sign_sessions (client_id, created_at);
CREATE INDEX sign_sessions_step ON sign_sessions (step_hash);
CREATE INDEX sign_sessions_expiry ON sign_sessions (expires_at);

CREATE TABLE sign_prepared (
    session_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    prepared BYTEA,
    signed_attributes BYTEA NOT NULL,
    PRIMARY KEY (session_id, document_id)
);

CREATE TABLE sign_events (
    id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_events_client ON sign_events (client_id, seq);
CREATE INDEX sign_events_due ON sign_events (next_attempt_at);
CREATE INDEX sign_events_expiry ON sign_events (expires_at);

-- Where the signing API delivers a client's events (set by the operator: `client update --signing-webhook`).
ALTER TABLE clients ADD COLUMN signing_webhook TEXT;
