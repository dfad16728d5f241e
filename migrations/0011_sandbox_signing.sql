-- itsme's signing service as the sandbox emulates it (CSC API v1, issue 7). The sandbox's CA and
-- TSA keys are in `keys` (purposes `sandbox-ca-root`, `sandbox-ca-issuing`, `sandbox-tsa`).
--
-- A person's signing credential: one per person (phone number), an RSA-2048 key (PKCS#8) and its
-- certificate from the sandbox's qualified CA, both DER in standard base64, made when the person
-- first approves a service authorization (itsme's CREATE_CERT); replaced once it has expired.
CREATE TABLE sandbox_signing_credentials (
    id TEXT PRIMARY KEY,
    phone_number TEXT NOT NULL,
    key_pkcs8 TEXT NOT NULL,
    cert_der TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sandbox_signing_credentials_person ON sandbox_signing_credentials (phone_number);

-- Which person a signing client's account is (the `sub` of its account_token, chosen by the
-- client): set when the person approves a service authorization for it, so that a credential
-- authorization for the account goes to that person without asking for a phone number again.
CREATE TABLE sandbox_signing_accounts (
    client_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, account_id)
);

-- The signing service's tokens, by the SHA-256 of their value: a service authorization's Bearer
-- (`kind` = bearer, an hour) and a credential authorization's SAD (`kind` = sad: single use,
-- `used_at` set when spent; bound to `credential_id` and to `hashes`, the JSON array of the hex
-- SHA-256 hashes the person approved). Both are bound to the client, the account and the person;
-- revoking a Bearer deletes it and the SADs of its account.
CREATE TABLE sandbox_signing_tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    client_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    phone_number TEXT NOT NULL,
    credential_id TEXT,
    hashes TEXT,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sandbox_signing_tokens_account ON sandbox_signing_tokens (client_id, account_id);
CREATE INDEX sandbox_signing_tokens_expiry ON sandbox_signing_tokens (expires_at);
