-- RP-initiated logout: where a client may send people after they logged out
-- (`post_logout_redirect_uris`, a JSON list matched exactly, like redirect_uris).
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
