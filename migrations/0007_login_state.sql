-- The broker's login as a typed state (core::login): where it stands (`status`, and `failure`
-- beside `failed`) and how its result reaches the relying party (`channel`). A login row now
-- stays after the scheme's answer (answered, then code issued or failed) until it expires;
-- rows written before this migration were all waiting at the scheme.
ALTER TABLE login_transactions ADD COLUMN status TEXT NOT NULL DEFAULT 'at_scheme';
ALTER TABLE login_transactions ADD COLUMN failure TEXT;
ALTER TABLE login_transactions ADD COLUMN channel TEXT NOT NULL DEFAULT 'redirect';
