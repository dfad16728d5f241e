-- OIDC Core §3.1.2.1 `id_token_hint`: the pairwise subject of the person the relying party
-- expects, from an ID token Passerelle issued to it. A login that itsme answers for another
-- person ends with `login_required` instead of a code. NULL: no hint.
ALTER TABLE login_transactions ADD COLUMN hinted_sub TEXT;
