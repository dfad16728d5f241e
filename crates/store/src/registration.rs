//! Dynamic client registration (RFC 7591, RFC 7592): the initial access tokens an operator
//! issues, and the registration access tokens of the clients registered with them. Only hashes
//! of either are stored. A token's use is taken in the transaction that inserts its client, by
//! one conditional statement, so that of two registrations racing for its last use one wins.

use passerelle_core::scopes::Account;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::clients::{change_event, insert_client_in};
use crate::{NewClient, Result, Store, decode, json_list};

/// An initial access token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationToken {
    pub id: String,
    /// The account of the clients it registers.
    pub account: Account,
    /// The grants (protected scopes, `refresh_token`, …) its clients may ask for.
    pub grants: Vec<String>,
    /// How many more clients it may register.
    pub uses_left: i64,
    pub expires_at: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The operator's note on whom it was issued to.
    pub note: Option<String>,
}

impl RegistrationToken {
    /// Whether it may register a client at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.uses_left > 0 && now < self.expires_at
    }
}

/// How a dynamically registered client manages its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// SHA-256 of its registration access token.
    pub access_hash: String,
    /// The initial access token that registered it (`None` if the operator has since deleted
    /// the database row, which no command does).
    pub token: Option<RegistrationToken>,
}

const TOKEN_COLUMNS: &str =
    "id, account, grants, uses_left, expires_at, created_at, revoked_at, note";

fn token_from_row(row: &AnyRow) -> Result<RegistrationToken> {
    Ok(RegistrationToken {
        id: row.try_get("id")?,
        account: decode(row, "registration_tokens", "account", Account::parse)?,
        grants: json_list(&row.try_get::<String, _>("grants")?)?,
        uses_left: row.try_get("uses_left")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
        note: row.try_get("note")?,
    })
}

impl Store {
    /// Stores an initial access token by the hash of its value.
    pub async fn insert_registration_token(
        &self,
        t: &RegistrationToken,
        token_hash: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO registration_tokens (id, token_hash, account, grants, uses_left, expires_at, created_at, revoked_at, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
        )
        .bind(&t.id)
        .bind(token_hash)
        .bind(t.account.as_str())
        .bind(serde_json::to_string(&t.grants).unwrap_or_else(|_| "[]".into()))
        .bind(t.uses_left)
        .bind(t.expires_at)
        .bind(t.created_at)
        .bind(&t.note)
        .execute(&self.pool)
        .await?;
        let event = crate::AuditEvent::new(
            "registration.token_issued",
            "ok",
            t.created_at.saturating_mul(1_000_000),
        )
        .detail(format!(
            "token={} account={} grants=[{}] uses={} expires_at={}",
            t.id,
            t.account.as_str(),
            t.grants.join(" "),
            t.uses_left,
            t.expires_at
        ));
        crate::audit::insert(&self.pool, &event).await?;
        Ok(())
    }

    /// The initial access token with this hash, in whatever state.
    pub async fn find_registration_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RegistrationToken>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM registration_tokens WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub async fn list_registration_tokens(&self) -> Result<Vec<RegistrationToken>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM registration_tokens ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Stops an initial access token from registering more clients. The clients it registered
    /// stay. Returns `false` when there is no such token or it was already revoked.
    pub async fn revoke_registration_token(&self, id: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE registration_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let event = crate::AuditEvent::new(
            "registration.token_revoked",
            "ok",
            now.saturating_mul(1_000_000),
        )
        .detail(format!("token={id}"));
        crate::audit::insert(&self.pool, &event).await?;
        Ok(true)
    }

    /// Registers a client with an initial access token: takes one of the token's uses and
    /// inserts the client in one transaction. Returns `false`, and stores nothing, when the token
    /// is no longer live (used up, expired or revoked, perhaps by a registration that ran at the
    /// same moment).
    pub async fn register_client(
        &self,
        token_hash: &str,
        c: &NewClient,
        access_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let token: Option<String> = sqlx::query_scalar(
            "UPDATE registration_tokens SET uses_left = uses_left - 1 \
             WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(token) = token else {
            tx.rollback().await?;
            return Ok(false);
        };
        insert_client_in(&mut tx, c, now).await?;
        sqlx::query(
            "UPDATE clients SET registration_access_hash = $2, registered_with = $3 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(access_hash)
        .bind(&token)
        .execute(&mut *tx)
        .await?;
        let event = change_event("client.registered", c, now);
        let detail = format!("token={token} {}", event.detail.as_deref().unwrap_or(""));
        let event = event.detail(detail);
        crate::audit::insert(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// How the client with this id manages its registration; `None` for a client the operator
    /// registered (or no client).
    pub async fn registration_of(&self, client_id: &str) -> Result<Option<Registration>> {
        if client_id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT registration_access_hash, registered_with FROM clients WHERE id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(access_hash) = row.try_get::<Option<String>, _>("registration_access_hash")?
        else {
            return Ok(None);
        };
        let token = match row.try_get::<Option<String>, _>("registered_with")? {
            None => None,
            Some(id) => sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TOKEN_COLUMNS} FROM registration_tokens WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(token_from_row)
            .transpose()?,
        };
        Ok(Some(Registration { access_hash, token }))
    }
}
