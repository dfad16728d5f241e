-- The scheme sandbox's persons, as itsme counts wrong codes: per account (phone number), across
-- actions, nodes and restarts. Three wrong codes in a row block the account until
-- `blocked_until` (Unix seconds; the largest BIGINT means "until an operator unblocks it" with
-- `passerelle sandbox unblock PHONE`). A right code resets the count.
CREATE TABLE sandbox_accounts (
    phone_number TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    blocked_until BIGINT,
    updated_at BIGINT NOT NULL
);
