-- Passerelle's schema, in the SQL subset that SQLite and PostgreSQL share: TEXT ids and JSON,
-- BIGINT Unix timestamps from the injected clock, no database-specific types.

-- Relying parties registered with `passerelle client add`.
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    auth_method TEXT NOT NULL,
    jwks TEXT,
    jwks_uri TEXT,
    account TEXT NOT NULL,
    grants TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The current key (or secret) for each purpose; the first node to start creates it.
CREATE TABLE keys (
    purpose TEXT PRIMARY KEY,
    kid TEXT NOT NULL,
    material TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A login in progress at the broker, from the RP's authorization request to the scheme's answer.
-- `id` is the `state` sent to the scheme.
CREATE TABLE login_transactions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    response_mode TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    ui_locales TEXT,
    browser_hash TEXT NOT NULL,
    upstream_nonce TEXT NOT NULL,
    upstream_verifier TEXT NOT NULL,
    scheme TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_transactions_expiry ON login_transactions (expires_at);

-- The broker's authorization codes (stored as SHA-256) and the attributes they carry until redeemed.
-- `scheme` says who vouched for the person (`sandbox` or `production`); `token_hash` is the access
-- token the code gave, so that a replay (`replayed_at`) can revoke it.
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT,
    scope TEXT NOT NULL,
    sub TEXT NOT NULL,
    claims TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    scheme TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    token_hash TEXT,
    replayed_at BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

-- Access tokens (SHA-256) with the claims userinfo returns until they expire.
CREATE TABLE access_tokens (
    token_hash TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    scope TEXT NOT NULL,
    claims TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);
CREATE INDEX access_tokens_code ON access_tokens (code_hash);

-- `jti` values of client assertions already seen, per audience, until they expire (replay defence).
CREATE TABLE used_jtis (
    namespace TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (namespace, jti)
);

-- The scheme sandbox: one row per authorization at the emulated itsme, through phone page, app and code.
-- `claims` holds the request's details as JSON: the claim names asked for in the ID token and at
-- userinfo, and the name of the relying party to show in the app.
CREATE TABLE sandbox_actions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    service TEXT NOT NULL,
    claims TEXT NOT NULL,
    code_challenge TEXT,
    ui_locales TEXT,
    login_hint TEXT,
    phone_number TEXT,
    status TEXT NOT NULL,
    rejection TEXT,
    attempts BIGINT NOT NULL,
    deadline BIGINT,
    code_hash TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sandbox_actions_code ON sandbox_actions (code_hash);
CREATE INDEX sandbox_actions_expiry ON sandbox_actions (expires_at);

-- Access tokens the sandbox issued, for its userinfo endpoint.
CREATE TABLE sandbox_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    claims TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sandbox_tokens_expiry ON sandbox_tokens (expires_at);
