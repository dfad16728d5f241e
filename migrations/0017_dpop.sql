-- DPoP (RFC 9449): an access token bound to the key of the proof that came with its token
-- request holds that key's RFC 7638 thumbprint (`cnf.jkt`); NULL for a Bearer token. A client
-- registered with `dpop_bound_access_tokens` = 1 (RFC 9449 §5.2) must send a proof with every
-- token request. Proofs' `jti`s are kept in `used_jtis` (namespace `dpop`).
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BIGINT NOT NULL DEFAULT 0;
