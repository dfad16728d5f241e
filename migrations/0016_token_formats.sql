-- Token formats per client (OIDC Registration §2), as Signicat's dashboard offers them, and the
-- `claims` request parameter (OIDC Core §5.5) kept with a login until its tokens are issued.
-- NULL encryption columns mean "not encrypted"; a NULL userinfo_signed_response_alg means JSON.
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_alg TEXT;
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_enc TEXT;
ALTER TABLE clients ADD COLUMN userinfo_signed_response_alg TEXT;
ALTER TABLE clients ADD COLUMN userinfo_encrypted_response_alg TEXT;
ALTER TABLE clients ADD COLUMN userinfo_encrypted_response_enc TEXT;
ALTER TABLE clients ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE login_transactions ADD COLUMN claims_request TEXT;
ALTER TABLE authorization_codes ADD COLUMN claims_request TEXT;
