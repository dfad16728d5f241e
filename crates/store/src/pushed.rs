//! Pushed authorization requests (RFC 9126): stored bound to their client, found by the SHA-256
//! of their `request_uri`, usable until they expire, and consumed — once, by one atomic
//! statement — when the first login started from one issues its code.

use sqlx::Row as _;

use crate::{Result, Store, StoreError};

/// A pushed authorization request as stored.
#[derive(Debug, Clone)]
pub struct PushedRequest {
    /// SHA-256 of the `request_uri`.
    pub id: String,
    pub client_id: String,
    /// The request's parameters as they are validated at the authorization endpoint.
    pub params: Vec<(String, String)>,
    /// Whether they came in a signed request object (RFC 9101).
    pub signed: bool,
    pub created_at: i64,
    /// The end of the time the `request_uri` can be used at the authorization endpoint.
    pub expires_at: i64,
    /// The end of the time the row is kept (the last login it can start must be able to end).
    pub kept_until: i64,
    /// When a login started from it issued its code.
    pub consumed_at: Option<i64>,
}

/// What became of the pushed request of a login that is issuing its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedUse {
    /// The login did not start from a pushed request.
    NotPushed,
    /// This login consumed it.
    Consumed,
    /// Another login consumed it first (or it is gone): this one gets no code.
    AlreadyUsed,
}

impl Store {
    pub async fn insert_pushed_request(&self, p: &PushedRequest) -> Result<()> {
        let params = serde_json::to_string(&p.params)
            .map_err(|e| StoreError::Corrupt(format!("pushed request parameters: {e}")))?;
        sqlx::query(
            "INSERT INTO pushed_requests (id, client_id, params, signed, created_at, expires_at, kept_until, consumed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&p.id)
        .bind(&p.client_id)
        .bind(params)
        .bind(i64::from(p.signed))
        .bind(p.created_at)
        .bind(p.expires_at)
        .bind(p.kept_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pushed request with this id, whatever its client, lifetime or use (the caller tells
    /// which of those refuses it).
    pub async fn find_pushed_request(&self, id: &str) -> Result<Option<PushedRequest>> {
        let row = sqlx::query(
            "SELECT id, client_id, params, signed, created_at, expires_at, kept_until, consumed_at \
             FROM pushed_requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let params: String = r.try_get("params")?;
        let params: Vec<(String, String)> = serde_json::from_str(&params)
            .map_err(|_| crate::corrupt("pushed_requests", "params", "not a list of pairs"))?;
        Ok(Some(PushedRequest {
            id: r.try_get("id")?,
            client_id: r.try_get("client_id")?,
            params,
            signed: r.try_get::<i64, _>("signed")? != 0,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            kept_until: r.try_get("kept_until")?,
            consumed_at: r.try_get("consumed_at")?,
        }))
    }

    /// Records that the login `login_id` was started from the pushed request `request_id`.
    pub async fn link_login_to_pushed_request(
        &self,
        login_id: &str,
        request_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pushed_request_logins (login_id, request_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(login_id)
        .bind(request_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Consumes the pushed request a login was started from, as that login issues its code. The
    /// consumption is one conditional `UPDATE`: of two logins started from the same request, one
    /// wins and the other is told [`PushedUse::AlreadyUsed`].
    pub async fn consume_pushed_request_of_login(
        &self,
        login_id: &str,
        now: i64,
    ) -> Result<PushedUse> {
        let request_id: Option<String> = sqlx::query_scalar(
            "DELETE FROM pushed_request_logins WHERE login_id = $1 RETURNING request_id",
        )
        .bind(login_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(request_id) = request_id else {
            return Ok(PushedUse::NotPushed);
        };
        let done = sqlx::query(
            "UPDATE pushed_requests SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL",
        )
        .bind(&request_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 1 {
            PushedUse::Consumed
        } else {
            PushedUse::AlreadyUsed
        })
    }
}
