//! The scheme sandbox's rows: authorizations moving through phone page, app and code, and the
//! access tokens its userinfo endpoint accepts. State changes are conditional on the state they
//! start from, so two tabs (or two nodes) acting at once cannot both move an action.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// One authorization at the emulated itsme.
#[derive(Debug, Clone)]
pub struct SandboxAction {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// `authentication` or `identification`, from the service code.
    pub service: String,
    /// The OIDC `claims` request (JSON).
    pub claims: String,
    pub code_challenge: Option<String>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
    pub phone_number: Option<String>,
    /// `awaiting_phone`, `awaiting_app`, `approved`, `rejected` or `redeemed`.
    pub status: String,
    pub rejection: Option<String>,
    pub attempts: i64,
    pub deadline: Option<i64>,
    pub code_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, client_id, redirect_uri, state, nonce, service, claims, code_challenge, ui_locales, login_hint, \
    phone_number, status, rejection, attempts, deadline, code_hash, created_at, expires_at";

fn from_row(r: &AnyRow) -> Result<SandboxAction> {
    Ok(SandboxAction {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        state: r.try_get("state")?,
        nonce: r.try_get("nonce")?,
        service: r.try_get("service")?,
        claims: r.try_get("claims")?,
        code_challenge: r.try_get("code_challenge")?,
        ui_locales: r.try_get("ui_locales")?,
        login_hint: r.try_get("login_hint")?,
        phone_number: r.try_get("phone_number")?,
        status: r.try_get("status")?,
        rejection: r.try_get("rejection")?,
        attempts: r.try_get("attempts")?,
        deadline: r.try_get("deadline")?,
        code_hash: r.try_get("code_hash")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// An access token issued by the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxToken {
    pub token_hash: String,
    pub client_id: String,
    pub phone_number: String,
    /// The `userinfo` part of the claims request (JSON).
    pub claims: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn insert_sandbox_action(&self, a: &SandboxAction) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sandbox_actions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        )))
        .bind(&a.id)
        .bind(&a.client_id)
        .bind(&a.redirect_uri)
        .bind(&a.state)
        .bind(&a.nonce)
        .bind(&a.service)
        .bind(&a.claims)
        .bind(&a.code_challenge)
        .bind(&a.ui_locales)
        .bind(&a.login_hint)
        .bind(&a.phone_number)
        .bind(&a.status)
        .bind(&a.rejection)
        .bind(a.attempts)
        .bind(a.deadline)
        .bind(&a.code_hash)
        .bind(a.created_at)
        .bind(a.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live (not expired) action.
    pub async fn find_sandbox_action(&self, id: &str, now: i64) -> Result<Option<SandboxAction>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sandbox_actions WHERE id = $1 AND expires_at > $2"
        )))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Moves an action from the state in `from` (status and attempts as read) to the one in `to`.
    /// Returns `false` when someone else moved it first.
    pub async fn update_sandbox_action(
        &self,
        from: &SandboxAction,
        to: &SandboxAction,
    ) -> Result<bool> {
        let result = sqlx::query(
            "UPDATE sandbox_actions SET phone_number = $3, status = $4, rejection = $5, attempts = $6, deadline = $7, code_hash = $8, \
             expires_at = $10 WHERE id = $1 AND status = $2 AND attempts = $9",
        )
        .bind(&from.id)
        .bind(&from.status)
        .bind(&to.phone_number)
        .bind(&to.status)
        .bind(&to.rejection)
        .bind(to.attempts)
        .bind(to.deadline)
        .bind(&to.code_hash)
        .bind(from.attempts)
        .bind(to.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Redeems an approved action's code, once, before its deadline.
    pub async fn redeem_sandbox_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<Option<SandboxAction>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sandbox_actions SET status = 'redeemed' WHERE code_hash = $1 AND status = 'approved' AND deadline > $2 RETURNING {COLUMNS}"
        )))
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn insert_sandbox_token(&self, t: &SandboxToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO sandbox_tokens (token_hash, client_id, phone_number, claims, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.token_hash)
        .bind(&t.client_id)
        .bind(&t.phone_number)
        .bind(&t.claims)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_sandbox_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<SandboxToken>> {
        let row = sqlx::query(
            "SELECT token_hash, client_id, phone_number, claims, created_at, expires_at FROM sandbox_tokens WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(SandboxToken {
                token_hash: r.try_get("token_hash")?,
                client_id: r.try_get("client_id")?,
                phone_number: r.try_get("phone_number")?,
                claims: r.try_get("claims")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
            })),
        }
    }
}
