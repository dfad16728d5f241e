-- When a code's tokens were issued, in microseconds (`Clock::now_micros`). A presentation of the
-- code that arrived after this moment is a replay and revokes them; one that arrived before (it
-- raced the winner) only loses.
ALTER TABLE authorization_codes ADD COLUMN issued_us BIGINT;
