-- RFC 9449 §10: an authorization code bound to a DPoP key. A login started with `dpop_jkt` (or
-- pushed with a DPoP proof, §10.1) keeps that key's RFC 7638 thumbprint, and the code it issues
-- carries it on; the token request that redeems the code must come with a proof made with that
-- key. NULL: the code is not bound.
ALTER TABLE login_transactions ADD COLUMN dpop_jkt TEXT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
