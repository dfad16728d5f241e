-- OpenID CIBA (Client-Initiated Backchannel Authentication Core 1.0).
--
-- A client opts in with a token delivery mode (`poll` or `ping`); a ping client names the
-- endpoint the broker notifies; `ciba_signed_requests` = 1 makes it send every backchannel
-- request as a signed `request` object (CIBA §7.1.1). NULL mode: the client may not use CIBA.
ALTER TABLE clients ADD COLUMN ciba_mode TEXT;
ALTER TABLE clients ADD COLUMN ciba_notification_endpoint TEXT;
ALTER TABLE clients ADD COLUMN ciba_signed_requests BIGINT NOT NULL DEFAULT 0;

-- A decoupled login at the broker (core::login with channel decoupled_poll or decoupled_ping),
-- from the backchannel request to the tokens. `auth_req_hash` is the SHA-256 of the auth_req_id
-- the client holds (never the id itself). `deadline` is when the auth_req_id expires;
-- `expires_at` when the row goes (later, so that a late or replayed poll is told
-- expired_token / invalid_grant rather than "unknown"). `interval` and `last_poll_at` pace the
-- client's polls (slow_down adds 5 s to `interval`). The scheme's side: its auth_req_id
-- (`upstream_id`, needed to poll it), when it may be polled next and how often. Once the scheme
-- answered, `sub` and `claims` hold the result until the client takes it (`claims` is emptied
-- then). `notification_token` is the client's bearer for its own notification endpoint (ping),
-- kept only until the ping is sent.
CREATE TABLE ciba_requests (
    id TEXT PRIMARY KEY,
    auth_req_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    scheme TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    failure TEXT,
    notification_token TEXT,
    upstream_id TEXT,
    upstream_interval BIGINT NOT NULL,
    upstream_next_poll BIGINT NOT NULL,
    poll_interval BIGINT NOT NULL,
    last_poll_at BIGINT,
    sub TEXT,
    claims TEXT,
    auth_time BIGINT,
    created_at BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ciba_requests_auth_req ON ciba_requests (auth_req_hash);
CREATE INDEX ciba_requests_expiry ON ciba_requests (expires_at);
CREATE INDEX ciba_requests_due ON ciba_requests (status, upstream_next_poll);

-- Which scheme subject a client's pairwise `sub` stands for, so that an `id_token_hint` (an ID
-- token this broker issued to the client) can name the person again in a backchannel request.
-- Written when tokens are issued; kept `SUBJECT_LINK_DAYS` after the person's last login.
CREATE TABLE subject_links (
    client_id TEXT NOT NULL,
    sub TEXT NOT NULL,
    scheme TEXT NOT NULL,
    scheme_sub TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, sub)
);
CREATE INDEX subject_links_expiry ON subject_links (expires_at);

-- The sandbox's decoupled actions (its /backchannel/authentication): the pace of the client's
-- polls at the sandbox's token endpoint, as itsme paces them (faster than `poll_interval` is a
-- 429 and 5 s more).
ALTER TABLE sandbox_actions ADD COLUMN poll_interval BIGINT;
ALTER TABLE sandbox_actions ADD COLUMN last_poll_at BIGINT;
-- The inbox lists a person's actions waiting in the app. Partial, so that the actions that never
-- wait there (scripted personas' logins: most of them) cost no index write on the login path.
CREATE INDEX sandbox_actions_inbox ON sandbox_actions (phone_number) WHERE status = 'awaiting_app';

-- The sandbox's user discovery sessions (itsme's QR path of the decoupled API): a session waits
-- until a person's emulated app "scans" its dynamic QR, then hands its client a single-use
-- user_identifier_token (only its SHA-256 is kept here) for a backchannel request.
CREATE TABLE sandbox_discovery_sessions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    phone_number TEXT,
    token_hash TEXT,
    poll_interval BIGINT NOT NULL,
    last_poll_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX sandbox_discovery_token ON sandbox_discovery_sessions (token_hash);
CREATE INDEX sandbox_discovery_expiry ON sandbox_discovery_sessions (expires_at);
