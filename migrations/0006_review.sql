-- Which scheme vouched for the person behind an access token, and the client's account when it
-- was issued, so that userinfo applies the deployment's rule as it is now (fail closed: a token
-- the sandbox answered for a production client stops working when the test deployment ends).
ALTER TABLE access_tokens ADD COLUMN scheme TEXT;
ALTER TABLE access_tokens ADD COLUMN account TEXT;

-- One sandbox action per authorization request (a client's `state` is unique per login): a
-- replayed request object shows the same action, never a new one. Duplicates that an earlier
-- replay left are transient rows and go first.
DELETE FROM sandbox_actions WHERE state IS NOT NULL AND id NOT IN (
    SELECT MIN(id) FROM sandbox_actions WHERE state IS NOT NULL GROUP BY client_id, state
);
CREATE UNIQUE INDEX sandbox_actions_request ON sandbox_actions (client_id, state);
