//! The broker's side of a login: transactions waiting for the scheme, authorization codes, and
//! access tokens with the attributes that userinfo returns.

use passerelle_core::login::{Acr, Channel, Login, LoginState, Scheme};
use passerelle_core::oidc::ResponseMode;
use passerelle_core::scopes::Account;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store, corrupt, decode, decode_opt};

/// A login at the broker, from the RP's request to its code (`core::login`): the row keeps the
/// login's state as [`LoginState`] while it waits at the scheme and after it failed; the answered
/// login is held by the request that took it, and the code's own row takes over once it is
/// issued (its `used_at` is the login's [`LoginState::Redeemed`]).
#[derive(Debug, Clone)]
pub struct LoginTransaction {
    /// The `state` sent to the scheme.
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    pub ui_locales: Option<String>,
    /// SHA-256 of the browser-binding cookie: the callback must come from the same browser.
    pub browser_hash: String,
    pub upstream_nonce: String,
    pub upstream_verifier: String,
    /// Which connector serves it.
    pub scheme: Scheme,
    /// Where the login stands.
    pub status: LoginState,
    /// How its result reaches the relying party.
    pub channel: Channel,
    /// The authenticator strength asked of the scheme.
    pub acr: Acr,
    /// The validated `claims` parameter (OIDC Core §5.5), as `ClaimsRequest::to_stored` wrote it.
    pub claims_request: Option<String>,
    /// The pairwise subject an `id_token_hint` named: only that person may complete the login.
    pub hinted_sub: Option<String>,
    /// The thumbprint of the DPoP key the login's code is bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl LoginTransaction {
    /// The login as `core::login` moves it.
    pub fn login(&self) -> Login {
        Login {
            state: self.status,
            channel: self.channel,
            expires_at: self.expires_at,
        }
    }
}

const LOGIN_COLUMNS: &str = "id, client_id, redirect_uri, response_mode, state, nonce, code_challenge, scope, ui_locales, \
     browser_hash, upstream_nonce, upstream_verifier, scheme, status, failure, channel, created_at, expires_at, acr, hinted_sub, claims_request, dpop_jkt";

/// RFC 8176 values as stored (space-separated): short lowercase words, nothing else.
fn amr_values(text: &str) -> Option<Vec<String>> {
    text.split(' ')
        .filter(|v| !v.is_empty())
        .map(|v| {
            (v.len() <= 16 && v.bytes().all(|b| b.is_ascii_lowercase())).then(|| v.to_string())
        })
        .collect()
}

fn login_state(r: &AnyRow) -> Result<LoginState> {
    let status: String = r.try_get("status")?;
    let failure: Option<String> = r.try_get("failure")?;
    LoginState::decode(&status, failure.as_deref()).ok_or_else(|| {
        corrupt(
            "login_transactions",
            "status",
            &format!("{status}/{}", failure.as_deref().unwrap_or("")),
        )
    })
}

fn login_from_row(r: &AnyRow) -> Result<LoginTransaction> {
    Ok(LoginTransaction {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        response_mode: decode(
            r,
            "login_transactions",
            "response_mode",
            ResponseMode::parse,
        )?,
        state: r.try_get("state")?,
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        scope: r.try_get("scope")?,
        ui_locales: r.try_get("ui_locales")?,
        browser_hash: r.try_get("browser_hash")?,
        upstream_nonce: r.try_get("upstream_nonce")?,
        upstream_verifier: r.try_get("upstream_verifier")?,
        scheme: decode(r, "login_transactions", "scheme", Scheme::parse)?,
        status: login_state(r)?,
        channel: decode(r, "login_transactions", "channel", Channel::parse)?,
        acr: decode(r, "login_transactions", "acr", Acr::parse)?,
        claims_request: r.try_get("claims_request")?,
        hinted_sub: r.try_get("hinted_sub")?,
        dpop_jkt: r.try_get("dpop_jkt")?,
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
    /// Which scheme vouched for the person.
    pub scheme: Scheme,
    /// How the person approved, as RFC 8176 `amr` values (empty for codes issued before this
    /// was recorded).
    pub amr: Vec<String>,
    /// The login's validated `claims` parameter (`LoginTransaction::claims_request`).
    pub claims_request: Option<String>,
    /// The thumbprint of the DPoP key the code is bound to (RFC 9449 §10): the token request
    /// that redeems it must carry a proof made with that key.
    pub dpop_jkt: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A code as read back when it is presented.
pub type CodeRecord = NewCode;

/// A code as found when a client presents it.
#[derive(Debug)]
pub enum PresentedCode {
    /// Not used yet: the caller checks it and then tries [`Store::redeem_code`], which only one
    /// presentation can win.
    Fresh(Box<CodeRecord>),
    /// Used before (redeemed, or refused and burnt).
    Used,
    /// No such code for this client (never issued, issued to another client, or expired and
    /// deleted).
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
    /// The scheme that vouched for the person (`None` for tokens issued before this was
    /// recorded).
    pub scheme: Option<Scheme>,
    /// The client's account when the token was issued.
    pub account: Option<Account>,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 §6); `None`: a Bearer
    /// token.
    pub dpop_jkt: Option<String>,
}

impl Store {
    pub async fn insert_login_transaction(&self, t: &LoginTransaction) -> Result<()> {
        sqlx::query(
            "INSERT INTO login_transactions (id, client_id, redirect_uri, response_mode, state, nonce, code_challenge, scope, ui_locales, \
             browser_hash, upstream_nonce, upstream_verifier, scheme, status, failure, channel, created_at, expires_at, acr, hinted_sub, claims_request, dpop_jkt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)",
        )
        .bind(&t.id)
        .bind(&t.client_id)
        .bind(&t.redirect_uri)
        .bind(t.response_mode.as_str())
        .bind(&t.state)
        .bind(&t.nonce)
        .bind(&t.code_challenge)
        .bind(&t.scope)
        .bind(&t.ui_locales)
        .bind(&t.browser_hash)
        .bind(&t.upstream_nonce)
        .bind(&t.upstream_verifier)
        .bind(t.scheme.as_str())
        .bind(t.status.status())
        .bind(t.status.failure().map(|f| f.as_str()))
        .bind(t.channel.as_str())
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.acr.as_str())
        .bind(&t.hinted_sub)
        .bind(&t.claims_request)
        .bind(&t.dpop_jkt)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether a login with this id is still waiting at the scheme (to tell "another browser"
    /// from "gone").
    pub async fn login_waiting_at_scheme(&self, id: &str, now: i64) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM login_transactions WHERE id = $1 AND expires_at > $2 AND status = $3",
        )
        .bind(id)
        .bind(now)
        .bind(LoginState::AtScheme.status())
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Takes the scheme's answer for a login, once, and only for the browser that started it: a
    /// browser's login (redirect or REST session) waiting at the scheme ([`LoginState::AtScheme`]), not expired and bound to
    /// `browser_hash`, leaves the table and is returned as it was, for the one request that took
    /// it to move on with `core::login::advance` (to `Answered`). That request ends it: the
    /// code's row then carries the login (`CodeIssued`, and `used_at` for `Redeemed`), or the
    /// login is stored again as failed. A second request, a stranger, an expired login or a
    /// decoupled one (it has no browser) gets `None` and changes nothing.
    pub async fn take_login_answer(
        &self,
        id: &str,
        browser_hash: &str,
        now: i64,
    ) -> Result<Option<LoginTransaction>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM login_transactions \
             WHERE id = $1 AND expires_at > $2 AND browser_hash = $3 AND status = $4 AND failure IS NULL AND channel IN ($5, $6, $7) \
             RETURNING {LOGIN_COLUMNS}"
        )))
        .bind(id)
        .bind(now)
        .bind(browser_hash)
        .bind(LoginState::AtScheme.status())
        // The channels whose login goes through a browser.
        .bind(Channel::Redirect.as_str())
        .bind(Channel::RestSession.as_str())
        .bind(Channel::Signing.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(login_from_row).transpose()
    }

    /// A login as stored (any state), for tests and diagnostics.
    pub async fn find_login(&self, id: &str) -> Result<Option<LoginTransaction>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOGIN_COLUMNS} FROM login_transactions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(login_from_row).transpose()
    }

    pub async fn insert_code(&self, c: &NewCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, nonce, scope, sub, claims, auth_time, scheme, created_at, expires_at, amr, claims_request, dpop_jkt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
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
        .bind(c.scheme.as_str())
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.amr.join(" "))
        .bind(&c.claims_request)
        .bind(&c.dpop_jkt)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Reads a code for `client_id` (another client's code is `Unknown`). Changes nothing.
    pub async fn find_code(&self, code_hash: &str, client_id: &str) -> Result<PresentedCode> {
        let row = sqlx::query(
            "SELECT code_hash, client_id, redirect_uri, code_challenge, nonce, scope, sub, claims, auth_time, scheme, created_at, expires_at, used_at, amr, claims_request, dpop_jkt \
             FROM authorization_codes WHERE code_hash = $1 AND client_id = $2",
        )
        .bind(code_hash)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(PresentedCode::Unknown);
        };
        if r.try_get::<Option<i64>, _>("used_at")?.is_some() {
            return Ok(PresentedCode::Used);
        }
        Ok(PresentedCode::Fresh(Box::new(NewCode {
            code_hash: r.try_get("code_hash")?,
            client_id: r.try_get("client_id")?,
            redirect_uri: r.try_get("redirect_uri")?,
            code_challenge: r.try_get("code_challenge")?,
            nonce: r.try_get("nonce")?,
            scope: r.try_get("scope")?,
            sub: r.try_get("sub")?,
            claims: r.try_get("claims")?,
            auth_time: r.try_get("auth_time")?,
            scheme: decode(&r, "authorization_codes", "scheme", Scheme::parse)?,
            amr: decode_opt(&r, "authorization_codes", "amr", amr_values)?.unwrap_or_default(),
            claims_request: r.try_get("claims_request")?,
            dpop_jkt: r.try_get("dpop_jkt")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        })))
    }

    /// Consumes a fresh code and stores the access token it gives, in one transaction: the code
    /// is marked used (its attributes dropped, the token and `issued_us` recorded) only if nobody
    /// used it first, and the token exists exactly when the code was consumed by this call.
    /// With `family` (the login granted `offline_access`), the refresh-token family and its first
    /// refresh token are stored in the same transaction, and the access token belongs to it.
    /// Returns `false`, with nothing stored, when another presentation won.
    pub async fn redeem_code(
        &self,
        t: &AccessTokenRecord,
        family: Option<&crate::NewFamily>,
        now: i64,
        issued_us: i64,
        audit: &crate::AuditEvent,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let consumed = sqlx::query(
            "UPDATE authorization_codes SET used_at = $3, claims = '{}', claims_request = NULL, token_hash = $4, issued_us = $5 \
             WHERE code_hash = $1 AND client_id = $2 AND used_at IS NULL",
        )
        .bind(&t.code_hash)
        .bind(&t.client_id)
        .bind(now)
        .bind(&t.token_hash)
        .bind(issued_us)
        .execute(&mut *tx)
        .await?;
        if consumed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        crate::refresh::insert_access_token(&mut tx, t, family.map(|f| f.family.id.as_str()))
            .await?;
        if let Some(f) = family {
            crate::refresh::insert_family(&mut tx, f).await?;
        }
        crate::audit::insert(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Uses up a fresh code whose presentation was refused (expired, wrong `redirect_uri`, wrong
    /// or missing PKCE verifier, no proof of the DPoP key it is bound to) and drops its
    /// attributes, so it cannot be tried again.
    pub async fn burn_code(&self, code_hash: &str, client_id: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE authorization_codes SET used_at = $3, claims = '{}', claims_request = NULL WHERE code_hash = $1 AND client_id = $2 AND used_at IS NULL",
        )
        .bind(code_hash)
        .bind(client_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A used code presented again by its client (RFC 6749 §4.1.2). When the code's tokens were
    /// issued before `issued_before_us`, this is a replay: the code is marked and the access
    /// token it gave is deleted, with the refresh-token family it started; returns `true`. Otherwise (the tokens were issued after, or at
    /// about the time, this presentation arrived: it raced the winner) nothing changes.
    pub async fn revoke_for_replay(
        &self,
        code_hash: &str,
        client_id: &str,
        now: i64,
        issued_before_us: i64,
    ) -> Result<bool> {
        let replayed = sqlx::query(
            "UPDATE authorization_codes SET replayed_at = $3 \
             WHERE code_hash = $1 AND client_id = $2 AND used_at IS NOT NULL AND issued_us IS NOT NULL AND issued_us < $4 \
             RETURNING token_hash",
        )
        .bind(code_hash)
        .bind(client_id)
        .bind(now)
        .bind(issued_before_us)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = replayed else {
            return Ok(false);
        };
        if let Some(token_hash) = row.try_get::<Option<String>, _>("token_hash")? {
            sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
        }
        // The refresh-token family the code gave, if any, goes too.
        let families: Vec<String> =
            sqlx::query_scalar("SELECT id FROM refresh_families WHERE code_hash = $1")
                .bind(code_hash)
                .fetch_all(&self.pool)
                .await?;
        for family in families {
            self.revoke_family(&family).await?;
        }
        Ok(true)
    }

    /// Ends what one login issued to a client (RP-initiated logout): every access token given
    /// for `code_hash` (the ID token's `sid`), and the refresh-token family the login started,
    /// with the access tokens refreshed in it. Returns how many tokens and families went.
    pub async fn end_grant(&self, client_id: &str, code_hash: &str) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let families: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM refresh_families WHERE client_id = $1 AND code_hash = $2",
        )
        .bind(client_id)
        .bind(code_hash)
        .fetch_all(&mut *tx)
        .await?;
        let mut gone = 0;
        // As a revocation does: the family row first, which a rotation locks.
        for family in &families {
            gone += u64::from(crate::refresh::delete_family(&mut tx, family).await?);
        }
        gone += sqlx::query("DELETE FROM access_tokens WHERE client_id = $1 AND code_hash = $2")
            .bind(client_id)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone)
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
            "SELECT token_hash, code_hash, client_id, sub, scope, claims, created_at, expires_at, scheme, account, dpop_jkt FROM access_tokens \
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
                scheme: decode_opt(&r, "access_tokens", "scheme", Scheme::parse)?,
                account: decode_opt(&r, "access_tokens", "account", Account::parse)?,
                dpop_jkt: r.try_get("dpop_jkt")?,
            })),
        }
    }
}
