-- The broker's login as a typed state (core::login): where it stands (`status`, and `failure`
-- beside `failed`) and how its result reaches the relying party (`channel`). A login's row leaves
-- the table when the scheme's answer is taken; a login that failed is stored again, with its
-- reason, until it expires. Rows written before this migration were all waiting at the scheme.
ALTER TABLE login_transactions ADD COLUMN status TEXT NOT NULL DEFAULT 'at_scheme';
ALTER TABLE login_transactions ADD COLUMN failure TEXT;
ALTER TABLE login_transactions ADD COLUMN channel TEXT NOT NULL DEFAULT 'redirect';
