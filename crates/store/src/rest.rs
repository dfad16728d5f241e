//! The Authentication REST API's rows: API clients' bearer tokens, and their sessions.

use passerelle_core::rest::{Flow, SessionStatus};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store, decode};

/// A client-credentials token of an API client.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub token_hash: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One session of the REST API.
#[derive(Debug, Clone)]
pub struct RestSession {
    pub id: String,
    pub client_id: String,
    pub flow: Flow,
    pub status: SessionStatus,
    /// The attribute names requested (JSON array, as given).
    pub requested_attributes: String,
    pub requested_loa: String,
    /// The OIDC scopes those attributes stand for.
    pub scope: String,
    /// `{success, abort, error}` (JSON).
    pub callback_urls: String,
    pub ui_locales: Option<String>,
    /// The person's attributes (JSON) from success until read.
    pub subject: Option<String>,
    /// When the subject was read (and dropped).
    pub subject_read_at: Option<i64>,
    /// Where a headless session stands at the scheme (JSON).
    pub upstream: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, client_id, flow, status, requested_attributes, requested_loa, scope, callback_urls, ui_locales, \
    subject, subject_read_at, created_at, expires_at, upstream";

fn from_row(r: &AnyRow) -> Result<RestSession> {
    Ok(RestSession {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        flow: decode(r, "rest_sessions", "flow", Flow::parse)?,
        status: decode(r, "rest_sessions", "status", SessionStatus::parse)?,
        requested_attributes: r.try_get("requested_attributes")?,
        requested_loa: r.try_get("requested_loa")?,
        scope: r.try_get("scope")?,
        callback_urls: r.try_get("callback_urls")?,
        ui_locales: r.try_get("ui_locales")?,
        subject: r.try_get("subject")?,
        subject_read_at: r.try_get("subject_read_at")?,
        upstream: r.try_get("upstream")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl Store {
    pub async fn insert_api_token(&self, t: &ApiToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, client_id, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.token_hash)
        .bind(&t.client_id)
        .bind(&t.scope)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live API token.
    pub async fn find_api_token(&self, token_hash: &str, now: i64) -> Result<Option<ApiToken>> {
        let row = sqlx::query(
            "SELECT token_hash, client_id, scope, created_at, expires_at FROM api_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ApiToken {
                token_hash: r.try_get("token_hash")?,
                client_id: r.try_get("client_id")?,
                scope: r.try_get("scope")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub async fn insert_rest_session(&self, s: &RestSession) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO rest_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        )))
        .bind(&s.id)
        .bind(&s.client_id)
        .bind(s.flow.as_str())
        .bind(s.status.as_str())
        .bind(&s.requested_attributes)
        .bind(&s.requested_loa)
        .bind(&s.scope)
        .bind(&s.callback_urls)
        .bind(&s.ui_locales)
        .bind(&s.subject)
        .bind(s.subject_read_at)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(&s.upstream)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A session, whoever owns it (the caller checks), until housekeeping deletes it.
    pub async fn find_rest_session(&self, id: &str) -> Result<Option<RestSession>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM rest_sessions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Ends a session that is still `CREATED` and live: `SUCCESS` with its subject, or a
    /// failure. Returns `false` when it had ended already (another login of it won) or expired.
    pub async fn end_rest_session(
        &self,
        id: &str,
        status: SessionStatus,
        subject: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE rest_sessions SET status = $2, subject = $3 WHERE id = $1 AND status = 'CREATED' AND expires_at > $4",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(subject)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes a successful session's subject for its owner, once: it is dropped from the row in
    /// the same statement. `None` when there is none to take (read already, or not successful).
    pub async fn take_rest_subject(
        &self,
        id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<String>> {
        // The read is claimed first (only one reader's update finds `subject_read_at` empty,
        // and RETURNING gives it the untouched subject), then the subject is dropped.
        let subject: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE rest_sessions SET subject_read_at = $3 \
             WHERE id = $1 AND client_id = $2 AND subject IS NOT NULL AND subject_read_at IS NULL AND expires_at > $3 \
             RETURNING subject",
        )
        .bind(id)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if subject.is_some() {
            sqlx::query("UPDATE rest_sessions SET subject = NULL WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok(subject.flatten())
    }

    /// Moves a live, unfinished headless session's upstream state from `from` to `to`, only if
    /// nobody moved it since it was read (compare and swap): `false` when somebody did.
    pub async fn move_rest_upstream(
        &self,
        id: &str,
        from: &str,
        to: &str,
        now: i64,
    ) -> Result<bool> {
        let moved = sqlx::query(
            "UPDATE rest_sessions SET upstream = $3 WHERE id = $1 AND upstream = $2 AND status = 'CREATED' AND expires_at > $4",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Housekeeping: expired sessions lose their subject at once, and their row an hour later
    /// (so that their owner can still read `EXPIRED`); expired API tokens go.
    pub async fn expire_rest_sessions(&self, now: i64) -> Result<u64> {
        let mut n = sqlx::query("UPDATE rest_sessions SET subject = NULL WHERE expires_at <= $1 AND subject IS NOT NULL")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM rest_sessions WHERE expires_at <= $1")
            .bind(now - 3600)
            .execute(&self.pool)
            .await?
            .rows_affected();
        n += sqlx::query("DELETE FROM api_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }
}
