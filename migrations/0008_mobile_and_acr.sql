-- How a person approved in the sandbox's app (`core::flow::Method`: code, fingerprint or face),
-- set when an action is approved, for the `amr` of its ID token.
ALTER TABLE sandbox_actions ADD COLUMN approved_with TEXT;
-- The authenticator strength a login asked the scheme for (`core::login::Acr`: basic lets the
-- person use biometrics or the code, advanced demands the code).
ALTER TABLE login_transactions ADD COLUMN acr TEXT NOT NULL DEFAULT 'advanced';
-- What the person used, as RFC 8176 `amr` values (JSON array), for the relying party's ID token.
ALTER TABLE authorization_codes ADD COLUMN amr TEXT;
