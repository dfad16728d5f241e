//! Refresh-token families (OIDC Core §12, RFC 6749 §6, RFC 9700 §4.14.2): what one login's
//! `offline_access` grant gave a client, the person's claims kept for it, and its refresh tokens,
//! each used once.
//!
//! Invariants the statements here keep, on both databases:
//! - a refresh token is consumed by one conditional `UPDATE … WHERE used_at IS NULL`, so of two
//!   presentations at once exactly one rotates it;
//! - a rotation first touches its family's row, and a revocation first deletes it, so the two are
//!   serialised by the database's row (PostgreSQL) or write (SQLite) lock: a revocation never
//!   leaves behind a usable token minted by a rotation that raced it;
//! - revoking a family deletes its claims, its refresh tokens and its access tokens in one
//!   transaction.

use passerelle_core::login::Scheme;
use passerelle_core::scopes::Account;
use sqlx::Row as _;

use crate::logins::AccessTokenRecord;
use crate::{Result, Store, decode};

/// A family to create when a code is redeemed with `offline_access`, with its first refresh
/// token.
#[derive(Debug, Clone)]
pub struct NewFamily {
    pub family: RefreshFamily,
    /// SHA-256 of the first refresh token.
    pub refresh_token_hash: String,
    /// When the first refresh token expires (at most the family's `expires_at`).
    pub refresh_expires_at: i64,
}

/// A family as stored: what every refresh in it needs to issue tokens again.
#[derive(Debug, Clone)]
pub struct RefreshFamily {
    pub id: String,
    /// The code it came from (a replayed code revokes it, RFC 6749 §4.1.2).
    pub code_hash: String,
    pub client_id: String,
    pub sub: String,
    /// The scope granted at the login, `offline_access` included: what each refresh may ask
    /// for at most.
    pub scope: String,
    /// The login's attributes with `sub`, as a JSON object; each refresh releases those its
    /// scope and `claims_request` give.
    pub claims: String,
    /// The login's `claims` parameter, as `ClaimsRequest::to_stored` wrote it.
    pub claims_request: Option<String>,
    pub auth_time: i64,
    pub scheme: Scheme,
    pub account: Account,
    /// RFC 8176 values, space-separated.
    pub amr: String,
    pub created_at: i64,
    /// The absolute end of the family: no refresh token of it lives longer.
    pub expires_at: i64,
}

/// A refresh token as found when presented, with its family.
#[derive(Debug, Clone)]
pub struct PresentedRefreshToken {
    pub token_hash: String,
    pub client_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Whether it was used (rotated) before: presenting it again is reuse.
    pub used: bool,
    pub family: RefreshFamily,
}

/// What became of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was consumed and the new tokens stored.
    Rotated,
    /// The presented token had been used already (another presentation won): the family is
    /// revoked, nothing was issued.
    Reused,
    /// The family is gone (revoked or expired) or the token expired: nothing was issued.
    Gone,
}

const FAMILY_COLUMNS: &str = "f.id, f.code_hash, f.client_id AS family_client_id, f.sub, f.scope, f.claims, f.auth_time, \
    f.scheme, f.account, f.amr, f.created_at AS family_created_at, f.expires_at AS family_expires_at, f.claims_request";

fn family_from_row(r: &sqlx::any::AnyRow) -> Result<RefreshFamily> {
    Ok(RefreshFamily {
        id: r.try_get("id")?,
        code_hash: r.try_get("code_hash")?,
        client_id: r.try_get("family_client_id")?,
        sub: r.try_get("sub")?,
        scope: r.try_get("scope")?,
        claims: r.try_get("claims")?,
        claims_request: r.try_get("claims_request")?,
        auth_time: r.try_get("auth_time")?,
        scheme: decode(r, "refresh_families", "scheme", Scheme::parse)?,
        account: decode(r, "refresh_families", "account", Account::parse)?,
        amr: r.try_get("amr")?,
        created_at: r.try_get("family_created_at")?,
        expires_at: r.try_get("family_expires_at")?,
    })
}

/// Inserts an access token, in the family `family_id` when it has one.
pub(crate) async fn insert_access_token(
    conn: &mut sqlx::AnyConnection,
    t: &AccessTokenRecord,
    family_id: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO access_tokens (token_hash, code_hash, client_id, sub, scope, claims, created_at, expires_at, scheme, account, family_id, dpop_jkt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&t.token_hash)
    .bind(&t.code_hash)
    .bind(&t.client_id)
    .bind(&t.sub)
    .bind(&t.scope)
    .bind(&t.claims)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.scheme.map(Scheme::as_str))
    .bind(t.account.map(Account::as_str))
    .bind(family_id)
    .bind(&t.dpop_jkt)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates a family and its first refresh token (inside the redemption's transaction).
pub(crate) async fn insert_family(conn: &mut sqlx::AnyConnection, f: &NewFamily) -> Result<()> {
    let fam = &f.family;
    sqlx::query(
        "INSERT INTO refresh_families (id, code_hash, client_id, sub, scope, claims, auth_time, scheme, account, amr, created_at, expires_at, claims_request) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&fam.id)
    .bind(&fam.code_hash)
    .bind(&fam.client_id)
    .bind(&fam.sub)
    .bind(&fam.scope)
    .bind(&fam.claims)
    .bind(fam.auth_time)
    .bind(fam.scheme.as_str())
    .bind(fam.account.as_str())
    .bind(&fam.amr)
    .bind(fam.created_at)
    .bind(fam.expires_at)
    .bind(&fam.claims_request)
    .execute(&mut *conn)
    .await?;
    insert_refresh_token(
        conn,
        &f.refresh_token_hash,
        &fam.id,
        &fam.client_id,
        fam.created_at,
        f.refresh_expires_at,
    )
    .await
}

async fn insert_refresh_token(
    conn: &mut sqlx::AnyConnection,
    token_hash: &str,
    family_id: &str,
    client_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(family_id)
    .bind(client_id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a family, its refresh tokens and its access tokens. The family row goes first: it is
/// the lock a rotation holds (see the module's invariants). Returns whether a family was there.
pub(crate) async fn delete_family(conn: &mut sqlx::AnyConnection, family_id: &str) -> Result<bool> {
    let gone = sqlx::query("DELETE FROM refresh_families WHERE id = $1")
        .bind(family_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query("DELETE FROM refresh_tokens WHERE family_id = $1")
        .bind(family_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM access_tokens WHERE family_id = $1")
        .bind(family_id)
        .execute(&mut *conn)
        .await?;
    Ok(gone == 1)
}

impl Store {
    /// A refresh token with its family, used or not, expired or not (the caller says which it
    /// is); `None` when unknown or its family is gone (revoked or past its absolute expiry).
    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<PresentedRefreshToken>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT t.token_hash, t.client_id, t.created_at, t.expires_at, t.used_at, {FAMILY_COLUMNS} \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1 AND f.expires_at > $2"
        )))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(PresentedRefreshToken {
            token_hash: r.try_get("token_hash")?,
            client_id: r.try_get("client_id")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            used: r.try_get::<Option<i64>, _>("used_at")?.is_some(),
            family: family_from_row(&r)?,
        }))
    }

    /// Rotates a refresh token (RFC 9700 §4.14.2): in one transaction, locks its family (still
    /// there and not expired), consumes the presented token if nobody used it first, and stores
    /// the new refresh token (`new_hash`, until `new_expires_at`) and the access token `access`
    /// in the family. When the presented token was already used, the family is revoked in the
    /// same transaction ([`Rotation::Reused`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        family_id: &str,
        new_hash: &str,
        new_expires_at: i64,
        access: &AccessTokenRecord,
        now: i64,
        audit: &crate::AuditEvent,
    ) -> Result<Rotation> {
        let mut tx = self.pool.begin().await?;
        let family = sqlx::query(
            "UPDATE refresh_families SET rotated_at = $3 WHERE id = $1 AND client_id = $2 AND expires_at > $3",
        )
        .bind(family_id)
        .bind(&access.client_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if family.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Rotation::Gone);
        }
        let consumed = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $3 WHERE token_hash = $1 AND family_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(presented_hash)
        .bind(family_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if consumed.rows_affected() != 1 {
            let used: Option<Option<i64>> = sqlx::query_scalar(
                "SELECT used_at FROM refresh_tokens WHERE token_hash = $1 AND family_id = $2",
            )
            .bind(presented_hash)
            .bind(family_id)
            .fetch_optional(&mut *tx)
            .await?;
            if matches!(used, Some(Some(_))) {
                delete_family(&mut tx, family_id).await?;
                tx.commit().await?;
                return Ok(Rotation::Reused);
            }
            tx.rollback().await?;
            return Ok(Rotation::Gone);
        }
        insert_refresh_token(
            &mut tx,
            new_hash,
            family_id,
            &access.client_id,
            now,
            new_expires_at,
        )
        .await?;
        insert_access_token(&mut tx, access, Some(family_id)).await?;
        crate::audit::insert(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    /// Revokes a family: its claims, refresh tokens and access tokens go. Returns whether it was
    /// there.
    pub async fn revoke_family(&self, family_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let gone = delete_family(&mut tx, family_id).await?;
        tx.commit().await?;
        Ok(gone)
    }

    /// Revokes one access token of `client_id` (RFC 7009). Returns whether it was there.
    pub async fn revoke_access_token(&self, token_hash: &str, client_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1 AND client_id = $2")
            .bind(token_hash)
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The family an access token belongs to, if any (for tests and diagnostics).
    pub async fn access_token_family(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar::<_, Option<String>>(
            "SELECT family_id FROM access_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .flatten())
    }
}
