//! The broker's decoupled logins (OpenID CIBA): one row per backchannel request, moved through
//! `core::login` with the channel `decoupled_poll` or `decoupled_ping`, and the links from a
//! client's pairwise subjects back to the scheme's, for `id_token_hint`.
//!
//! Every step that only one request may take is one conditional statement: the scheme's answer
//! is recorded once (`status = 'at_scheme'`), the scheme is polled by one request at a time
//! (`upstream_next_poll <= now`), the client's tokens are issued once (`status = 'code_issued'`,
//! in the same transaction as the access token), and the ping is sent once.

use passerelle_core::login::{Channel, Failure, Login, LoginState, Scheme};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{AccessTokenRecord, Result, Store, corrupt, decode};

/// A decoupled login as stored (see `migrations/0009_ciba.sql`).
#[derive(Debug, Clone)]
pub struct CibaRequest {
    pub id: String,
    /// SHA-256 of the `auth_req_id` the client holds.
    pub auth_req_hash: String,
    pub client_id: String,
    pub scope: String,
    pub scheme: Scheme,
    pub channel: Channel,
    pub status: LoginState,
    /// The client's bearer token for its notification endpoint (ping mode), until it is used.
    pub notification_token: Option<String>,
    /// The scheme's `auth_req_id`, while the scheme is polled.
    pub upstream_id: Option<String>,
    pub upstream_interval: i64,
    pub upstream_next_poll: i64,
    /// The client's polling interval (grows by 5 s with every `slow_down`).
    pub poll_interval: i64,
    pub last_poll_at: Option<i64>,
    /// Once answered: the client's pairwise subject and the claims, until the tokens are issued.
    pub sub: Option<String>,
    pub claims: Option<String>,
    pub auth_time: Option<i64>,
    pub created_at: i64,
    /// When the `auth_req_id` expires.
    pub deadline: i64,
    /// When the row goes.
    pub expires_at: i64,
}

impl CibaRequest {
    /// The login as `core::login` moves it.
    pub fn login(&self) -> Login {
        Login {
            state: self.status,
            channel: self.channel,
            expires_at: self.deadline,
        }
    }
}

/// What pacing a client's poll decided (CIBA Core §11 `slow_down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// The poll came at least an interval after the last one.
    InTime,
    /// Too soon: the interval is now this many seconds.
    TooFast { interval: i64 },
    /// No such request for this client.
    Unknown,
}

const COLUMNS: &str = "id, auth_req_hash, client_id, scope, scheme, channel, status, failure, notification_token, upstream_id, \
    upstream_interval, upstream_next_poll, poll_interval, last_poll_at, sub, claims, auth_time, created_at, deadline, expires_at";

fn from_row(r: &AnyRow) -> Result<CibaRequest> {
    let status: String = r.try_get("status")?;
    let failure: Option<String> = r.try_get("failure")?;
    let state = LoginState::decode(&status, failure.as_deref()).ok_or_else(|| {
        corrupt(
            "ciba_requests",
            "status",
            &format!("{status}/{}", failure.as_deref().unwrap_or("")),
        )
    })?;
    Ok(CibaRequest {
        id: r.try_get("id")?,
        auth_req_hash: r.try_get("auth_req_hash")?,
        client_id: r.try_get("client_id")?,
        scope: r.try_get("scope")?,
        scheme: decode(r, "ciba_requests", "scheme", Scheme::parse)?,
        channel: decode(r, "ciba_requests", "channel", |c| {
            Channel::parse(c)
                .filter(|c| matches!(c, Channel::DecoupledPoll | Channel::DecoupledPing))
        })?,
        status: state,
        notification_token: r.try_get("notification_token")?,
        upstream_id: r.try_get("upstream_id")?,
        upstream_interval: r.try_get("upstream_interval")?,
        upstream_next_poll: r.try_get("upstream_next_poll")?,
        poll_interval: r.try_get("poll_interval")?,
        last_poll_at: r.try_get("last_poll_at")?,
        sub: r.try_get("sub")?,
        claims: r.try_get("claims")?,
        auth_time: r.try_get("auth_time")?,
        created_at: r.try_get("created_at")?,
        deadline: r.try_get("deadline")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn insert_ciba_request(&self, c: &CibaRequest) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO ciba_requests ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        )))
        .bind(&c.id)
        .bind(&c.auth_req_hash)
        .bind(&c.client_id)
        .bind(&c.scope)
        .bind(c.scheme.as_str())
        .bind(c.channel.as_str())
        .bind(c.status.status())
        .bind(c.status.failure().map(Failure::as_str))
        .bind(&c.notification_token)
        .bind(&c.upstream_id)
        .bind(c.upstream_interval)
        .bind(c.upstream_next_poll)
        .bind(c.poll_interval)
        .bind(c.last_poll_at)
        .bind(&c.sub)
        .bind(&c.claims)
        .bind(c.auth_time)
        .bind(c.created_at)
        .bind(c.deadline)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The request a client's `auth_req_id` names; another client's is `None`, as is an unknown
    /// one. Changes nothing.
    pub async fn find_ciba_request(
        &self,
        auth_req_hash: &str,
        client_id: &str,
    ) -> Result<Option<CibaRequest>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM ciba_requests WHERE auth_req_hash = $1 AND client_id = $2"
        )))
        .bind(auth_req_hash)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// A request by its own id (the broker's background poller, tests).
    pub async fn find_ciba_request_by_id(&self, id: &str) -> Result<Option<CibaRequest>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM ciba_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Records a client's poll of a waiting request: in time when at least its interval passed
    /// since the last one (or it is the first); otherwise the interval grows by 5 s (CIBA Core
    /// §11: "for this and all subsequent requests"). Each is one conditional statement, so
    /// racing polls are each judged once.
    pub async fn pace_ciba_poll(
        &self,
        auth_req_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Pace> {
        let in_time = sqlx::query(
            "UPDATE ciba_requests SET last_poll_at = $3 WHERE auth_req_hash = $1 AND client_id = $2 \
             AND (last_poll_at IS NULL OR last_poll_at + poll_interval <= $3)",
        )
        .bind(auth_req_hash)
        .bind(client_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if in_time.rows_affected() == 1 {
            return Ok(Pace::InTime);
        }
        let slowed: Option<i64> = sqlx::query_scalar(
            "UPDATE ciba_requests SET poll_interval = poll_interval + 5, last_poll_at = $3 \
             WHERE auth_req_hash = $1 AND client_id = $2 RETURNING poll_interval",
        )
        .bind(auth_req_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match slowed {
            Some(interval) => Pace::TooFast { interval },
            None => Pace::Unknown,
        })
    }

    /// Claims the next poll of the scheme for a request still waiting there: only one request
    /// (on any node) gets `true` per scheme interval.
    pub async fn claim_upstream_poll(&self, id: &str, now: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE ciba_requests SET upstream_next_poll = $2 + upstream_interval \
             WHERE id = $1 AND status = $3 AND upstream_next_poll <= $2",
        )
        .bind(id)
        .bind(now)
        .bind(LoginState::AtScheme.status())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The scheme asked to be polled more slowly: 5 s more between polls, from `now`.
    pub async fn slow_upstream_polls(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE ciba_requests SET upstream_interval = upstream_interval + 5, \
             upstream_next_poll = $2 + upstream_interval + 5 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records the scheme's answer for a request waiting at the scheme: from `AtScheme` to
    /// `to` (`CodeIssued` with the subject and claims, or `Failed`), once. `false` when the
    /// request no longer waited (another node recorded it first).
    pub async fn record_ciba_answer(
        &self,
        id: &str,
        to: LoginState,
        sub: Option<&str>,
        claims: Option<&str>,
        auth_time: Option<i64>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE ciba_requests SET status = $2, failure = $3, sub = $4, claims = $5, auth_time = $6, upstream_id = NULL \
             WHERE id = $1 AND status = $7",
        )
        .bind(id)
        .bind(to.status())
        .bind(to.failure().map(Failure::as_str))
        .bind(sub)
        .bind(claims)
        .bind(auth_time)
        .bind(LoginState::AtScheme.status())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Takes the notification token of a ping-mode request, once: the one caller that gets it
    /// sends the ping, and the token is gone from the database.
    pub async fn take_ciba_notification(&self, id: &str) -> Result<Option<String>> {
        let token: Option<Option<String>> =
            sqlx::query_scalar("SELECT notification_token FROM ciba_requests WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let Some(Some(token)) = token else {
            return Ok(None);
        };
        let r = sqlx::query(
            "UPDATE ciba_requests SET notification_token = NULL WHERE id = $1 AND notification_token = $2",
        )
        .bind(id)
        .bind(&token)
        .execute(&self.pool)
        .await?;
        Ok((r.rows_affected() == 1).then_some(token))
    }

    /// Issues the tokens of an answered request, once: the request moves from `CodeIssued` to
    /// `Redeemed` (its claims dropped) and the access token is stored, in one transaction.
    /// `false`, with nothing stored, when another poll won.
    pub async fn redeem_ciba(
        &self,
        t: &AccessTokenRecord,
        auth_req_hash: &str,
        audit: &crate::AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let consumed = sqlx::query(
            "UPDATE ciba_requests SET status = $3, claims = '{}' WHERE auth_req_hash = $1 AND client_id = $2 AND status = $4",
        )
        .bind(auth_req_hash)
        .bind(&t.client_id)
        .bind(LoginState::Redeemed.status())
        .bind(LoginState::CodeIssued.status())
        .execute(&mut *tx)
        .await?;
        if consumed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        crate::refresh::insert_access_token(&mut tx, t, None).await?;
        crate::audit::insert(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Drops the attributes of answered requests whose tokens can no longer be fetched (the
    /// `auth_req_id` expired and a code's lifetime passed since the answer: see the CIBA grant),
    /// so that an answer nobody collected does not keep personal data until its row goes.
    pub async fn clear_stale_ciba_claims(&self, now: i64, code_lifetime: i64) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE ciba_requests SET claims = '{}' WHERE status = $1 AND claims <> '{}' AND deadline <= $2 AND auth_time <= $3",
        )
        .bind(LoginState::CodeIssued.status())
        .bind(now)
        .bind(now - code_lifetime)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    /// Ping-mode requests waiting at the scheme whose next poll is due (the background poller).
    pub async fn due_ciba_pings(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM ciba_requests WHERE status = $1 AND upstream_next_poll <= $2 AND channel = $3 LIMIT $4",
        )
        .bind(LoginState::AtScheme.status())
        .bind(now)
        .bind(Channel::DecoupledPing.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Ping-mode requests whose result is known but whose ping was not sent (a node stopped
    /// between the two), so that the poller sends it.
    pub async fn unsent_ciba_pings(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM ciba_requests WHERE status <> $1 AND notification_token IS NOT NULL AND expires_at > $2 AND channel = $3 LIMIT $4",
        )
        .bind(LoginState::AtScheme.status())
        .bind(now)
        .bind(Channel::DecoupledPing.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Remembers which scheme subject a client's pairwise `sub` stands for, until `expires_at`
    /// (moved forward by every later login).
    pub async fn link_subject(
        &self,
        client_id: &str,
        sub: &str,
        scheme: Scheme,
        scheme_sub: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO subject_links (client_id, sub, scheme, scheme_sub, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (client_id, sub) DO UPDATE SET scheme = $3, scheme_sub = $4, expires_at = $5",
        )
        .bind(client_id)
        .bind(sub)
        .bind(scheme.as_str())
        .bind(scheme_sub)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The scheme subject behind a client's pairwise `sub`, if it was linked and has not expired.
    pub async fn find_subject_link(
        &self,
        client_id: &str,
        sub: &str,
        now: i64,
    ) -> Result<Option<(Scheme, String)>> {
        if sub.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT scheme, scheme_sub FROM subject_links WHERE client_id = $1 AND sub = $2 AND expires_at > $3",
        )
        .bind(client_id)
        .bind(sub)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some((
                decode(&r, "subject_links", "scheme", Scheme::parse)?,
                r.try_get("scheme_sub")?,
            ))),
        }
    }
}
