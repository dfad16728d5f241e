-- The `claims` parameter (OIDC Core §5.5) of the login a refresh-token family came from, as
-- `ClaimsRequest::to_stored` wrote it, so that every refresh honours it as the code did: the
-- claims asked for the ID token go in each refreshed ID token, those asked for userinfo stay at
-- userinfo. NULL: the login had none. `claims` now holds the login's attributes (with `sub`),
-- of which each refresh releases what its scope and this request give.
ALTER TABLE refresh_families ADD COLUMN claims_request TEXT;
