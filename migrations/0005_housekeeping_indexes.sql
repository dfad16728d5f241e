-- Housekeeping without reading whole tables. It runs every 30 s, and under SQLite each of its
-- statements holds the one write lock for as long as it takes: a soak on a busy disk saw
-- `clear_stale_code_claims` and the deletion of expired `jti`s hold it for 1 to 4 s, and every
-- login's writes fail behind them once `LOCK_TIMEOUT` (2 s) passed.

-- Expired `jti`s are found by their expiry, as every other table's rows are.
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);

-- Codes that still hold attributes, by age: only those not yet redeemed or cleared are in it, a
-- minute's worth, instead of every code row kept for replay detection (660 s).
CREATE INDEX authorization_codes_with_claims ON authorization_codes (created_at) WHERE claims <> '{}';
