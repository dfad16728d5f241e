-- Dynamic client registration (RFC 7591 and RFC 7592), off unless `[registration] enabled`.
--
-- The operator issues initial access tokens (`passerelle registration issue`). `token_hash` is
-- the SHA-256 of the token, never the token. Each token registers at most `uses_left` more
-- clients until `expires_at` and until `revoked_at`. The clients are in its `account`
-- (sandbox or production), and their protected grants stay within its `grants`, a JSON list.
-- Rows stay after the token is used up, expired or revoked. A client registered with a token
-- may later change its registration only within that token's grants.
CREATE TABLE registration_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    grants TEXT NOT NULL,
    uses_left BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    note TEXT
);

-- A client registered through the endpoint. `registration_access_hash` is the SHA-256 of its
-- registration access token (RFC 7592), with which it reads, replaces or deletes its
-- registration. `registered_with` is the id of the initial access token that registered it.
-- Both are NULL for a client the operator registered, which the endpoint does not manage.
ALTER TABLE clients ADD COLUMN registration_access_hash TEXT;
ALTER TABLE clients ADD COLUMN registered_with TEXT;
