//! The broker's side of a login: transactions waiting for the scheme, authorization codes, and
//! access tokens with the attributes that userinfo returns.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// A login between the RP's authorization request and the scheme's answer.
#[derive(Debug, Clone)]
pub struct LoginTransaction {
    /// The `state` sent to the scheme.
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    pub ui_locales: Option<String>,
    /// SHA-256 of the browser-binding cookie: the callback must come from the same browser.
    pub browser_hash: String,
    pub upstream_nonce: String,
    pub upstream_verifier: String,
    /// Which connector serves it: `sandbox` or `production`.
    pub scheme: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn login_from_row(r: &AnyRow) -> Result<LoginTransaction> {
    Ok(LoginTransaction {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        response_mode: r.try_get("response_mode")?,
        state: r.try_get("state")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        scope: r.try_get("scope")?,
        ui_locales: r.try_get("ui_locales")?,
        browser_hash: r.try_get("browser_hash")?,
        upstream_nonce: r.try_get("upstream_nonce")?,
        upstream_verifier: r.try_get("upstream_verifier")?,
        scheme: r.try_get("scheme")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// A code to insert. `claims` is the JSON object of RP-facing claims the code carries.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub sub: String,
    pub claims: String,
    pub auth_time: i64,
    /// `sandbox` or `production`: which scheme vouched for the person.
    pub scheme: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A code as read back when it is redeemed.
pub type CodeRecord = NewCode;

/// What happened when a code was presented.
#[derive(Debug)]
pub enum RedeemedCode {
    /// First use: the caller may issue tokens (after checking expiry, client, PKCE).
    Fresh(Box<CodeRecord>),
    /// The code was used before; tokens issued from it have been revoked (RFC 6749 §4.1.2).
    Replayed,
    /// No such code for this client (never issued, issued to another client, or expired and
    /// deleted). Nothing was changed.
    Unknown,
}

/// An access token as stored, with the claims userinfo returns.
#[derive(Debug, Clone)]
pub struct AccessTokenRecord {
    pub token_hash: String,
    pub code_hash: String,
    pub client_id: String,
    pub sub: String,
    pub scope: String,
    pub claims: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_login_transaction(&self, t: &LoginTransaction) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_transactions (id, client_id, redirect_uri, response_mode, state, nonce, code_challenge, scope, ui_locales, \
             browser_hash, upstream_nonce, upstream_verifier, scheme, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&t.id)
        .bind(&t.client_id)
        .bind(&t.redirect_uri)
        .bind(&t.response_mode)
        .bind(&t.state)
        .bind(&t.nonce)
        .bind(&t.code_challenge)
        .bind(&t.scope)
        .bind(&t.ui_locales)
        .bind(&t.browser_hash)
        .bind(&t.upstream_nonce)
        .bind(&t.upstream_verifier)
        .bind(&t.scheme)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a live login transaction has this id (to tell "another browser" from "gone").
    pub async fn login_transaction_exists(&self, id: &str, now: i64) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM login_transactions WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Takes a login transaction out of the store, once, and only for the browser that started
    /// it: the scheme's answer can be used a single time, and a stranger holding it changes
    /// nothing. Expired transactions are not returned.
    pub async fn consume_login_transaction(
        &self,
        id: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<LoginTransaction>> {
        let row = sqlx::query(
            "DELETE FROM login_transactions WHERE id = $1 AND expires_at > $2 AND browser_hash = $3 \
             RETURNING id, client_id, redirect_uri, response_mode, state, nonce, code_challenge, scope, ui_locales, \
             browser_hash, upstream_nonce, upstream_verifier, scheme, created_at, expires_at",
        )
        .bind(id)
        .bind(now)
        .bind(browser_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(login_from_row).transpose()
    }

    pub async fn insert_code(&self, c: &NewCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, nonce, scope, sub, claims, auth_time, scheme, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.nonce)
        .bind(&c.scope)
        .bind(&c.sub)
        .bind(&c.claims)
        .bind(c.auth_time)
        .bind(&c.scheme)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a code used, for `client_id` only, in one atomic statement. A second presentation
    /// by the same client marks the code replayed and revokes the access token the first one
    /// produced (RFC 6749 §4.1.2); a presentation by another client changes nothing.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<RedeemedCode> {
        let row = sqlx::query(
            "UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND client_id = $3 AND used_at IS NULL \
             RETURNING code_hash, client_id, redirect_uri, code_challenge, nonce, scope, sub, claims, auth_time, scheme, created_at, expires_at",
        )
        .bind(code_hash)
        .bind(now)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = row {
            return Ok(RedeemedCode::Fresh(Box::new(NewCode {
                code_hash: r.try_get("code_hash")?,
                client_id: r.try_get("client_id")?,
                redirect_uri: r.try_get("redirect_uri")?,
                code_challenge: r.try_get("code_challenge")?,
                nonce: r.try_get("nonce")?,
                scope: r.try_get("scope")?,
                sub: r.try_get("sub")?,
                claims: r.try_get("claims")?,
                auth_time: r.try_get("auth_time")?,
                scheme: r.try_get("scheme")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })));
        }
        // Marking the replay first means a winner that has not stored its token yet will find
        // the mark and give up (see `insert_access_token`); one that has is revoked here.
        let replayed = sqlx::query(
            "UPDATE authorization_codes SET replayed_at = $2 WHERE code_hash = $1 AND client_id = $3 AND used_at IS NOT NULL RETURNING token_hash",
        )
        .bind(code_hash)
        .bind(now)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = replayed else {
            return Ok(RedeemedCode::Unknown);
        };
        if let Some(token_hash) = row.try_get::<Option<String>, _>("token_hash")? {
            sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(RedeemedCode::Replayed)
    }

    /// Stores the access token a code gave, drops the attributes from the code row and records
    /// the token on it — unless the code was replayed meanwhile: then nothing is stored and the
    /// answer is `false`.
    pub async fn insert_access_token(&self, t: &AccessTokenRecord) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, code_hash, client_id, sub, scope, claims, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&t.token_hash)
        .bind(&t.code_hash)
        .bind(&t.client_id)
        .bind(&t.sub)
        .bind(&t.scope)
        .bind(&t.claims)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&mut *tx)
        .await?;
        let linked = sqlx::query(
            "UPDATE authorization_codes SET claims = '{}', token_hash = $2 WHERE code_hash = $1 AND replayed_at IS NULL",
        )
        .bind(&t.code_hash)
        .bind(&t.token_hash)
        .execute(&mut *tx)
        .await?;
        if linked.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Drops the attributes of a code whose redemption was refused (PKCE, redirect URI, expiry,
    /// a replay) or failed.
    pub async fn clear_code_claims(&self, code_hash: &str) -> Result<()> {
        sqlx::query("UPDATE authorization_codes SET claims = '{}' WHERE code_hash = $1")
            .bind(code_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drops the attributes of codes created before `before` (codes that can no longer be
    /// redeemed): whether never presented, or presented and then refused or beaten by a replay,
    /// a dead code has no reason to hold personal data.
    pub async fn clear_stale_code_claims(&self, before: i64) -> Result<u64> {
        let r = sqlx::query("UPDATE authorization_codes SET claims = '{}' WHERE created_at <= $1 AND claims <> '{}'")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    /// The attributes a code row still holds (`{}` once dropped), for tests and diagnostics.
    pub async fn find_code_claims(&self, code_hash: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT claims FROM authorization_codes WHERE code_hash = $1")
                .bind(code_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// A live access token, or `None` when unknown, revoked or expired.
    pub async fn find_access_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRecord>> {
        let row = sqlx::query(
            "SELECT token_hash, code_hash, client_id, sub, scope, claims, created_at, expires_at FROM access_tokens \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(AccessTokenRecord {
                token_hash: r.try_get("token_hash")?,
                code_hash: r.try_get("code_hash")?,
                client_id: r.try_get("client_id")?,
                sub: r.try_get("sub")?,
                scope: r.try_get("scope")?,
                claims: r.try_get("claims")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })),
        }
    }
}
