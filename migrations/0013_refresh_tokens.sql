-- Refresh tokens (OIDC Core §11–12, RFC 6749 §6, RFC 9700 §4.14). A family is what one login's
-- `offline_access` grant gave a client: the person's claims that userinfo returns for it, kept
-- until the family's absolute expiry or its revocation, whichever comes first. Each refresh
-- token (stored as its SHA-256) belongs to one family and is used once: using it rotates it
-- (`used_at`), and a used one presented again revokes the whole family. The family row is also
-- what a rotation locks (`rotated_at`), so that a rotation and a revocation of the same family
-- are serialised on both databases.
CREATE TABLE refresh_families (
    id TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    scope TEXT NOT NULL,
    claims TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    scheme TEXT NOT NULL,
    account TEXT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX refresh_families_expiry ON refresh_families (expires_at);
CREATE INDEX refresh_families_code ON refresh_families (code_hash);
CREATE INDEX refresh_families_client ON refresh_families (client_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- The family an access token was issued in (NULL: a token from a grant without refresh), so
-- that revoking the family revokes its access tokens too.
ALTER TABLE access_tokens ADD COLUMN family_id TEXT;
CREATE INDEX access_tokens_family ON access_tokens (family_id);
