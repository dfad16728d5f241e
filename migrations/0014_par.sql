-- Pushed authorization requests (RFC 9126) and request objects (RFC 9101).
--
-- A client may be made to push every authorization request first
-- (`require_pushed_authorization_requests`) and to sign every one as a request object
-- (`require_signed_request_object`); both are 0 by default.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN require_signed_request_object BIGINT NOT NULL DEFAULT 0;

-- A pushed authorization request. `id` is the SHA-256 of the request_uri handed to the client
-- (never the value itself). `params` is the JSON list of [name, value] pairs of the request as
-- it will be validated at the authorization endpoint (a request object already verified and
-- unpacked); `signed` = 1 when it came as a signed request object. It can start logins until
-- `expires_at`; the first login to issue a code sets `consumed_at`, after which it is refused.
-- The row is kept until `kept_until` (the end of the last login it can have started), so that a
-- login still running when the request_uri expired can consume it, and a second one cannot.
CREATE TABLE pushed_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    signed BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    kept_until BIGINT NOT NULL,
    consumed_at BIGINT
);
CREATE INDEX pushed_requests_kept_until ON pushed_requests (kept_until);

-- Which pushed request a login at the scheme was started from, so that the login's code
-- consumes it. One row per login; it goes when the code is issued or by housekeeping.
CREATE TABLE pushed_request_logins (
    login_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_request_logins_expires_at ON pushed_request_logins (expires_at);
