//! The scheme sandbox's rows: authorizations moving through phone page, app and code, and the
//! access tokens its userinfo endpoint accepts. State changes are conditional on the state they
//! start from, so two tabs (or two nodes) acting at once cannot both move an action.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use passerelle_core::flow::{ActionState, Method};

use crate::{Result, Store, corrupt, decode_opt};

/// One authorization at the emulated itsme.
#[derive(Debug, Clone)]
pub struct SandboxAction {
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// `authentication` or `identification`, from the service code; for the signing service,
    /// `csc_service` or `csc_credential` (`core::csc::Dance`).
    pub service: String,
    /// The OIDC `claims` request (JSON).
    pub claims: String,
    pub code_challenge: Option<String>,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
    pub phone_number: Option<String>,
    /// Where the action stands (`core::flow`), stored as `status`, `rejection` and `attempts`.
    pub status: ActionState,
    /// The app's deadline while the action waits there, the code's once approved.
    pub deadline: Option<i64>,
    pub code_hash: Option<String>,
    /// How the person approved it (set with the approval).
    pub approved_with: Option<Method>,
    pub created_at: i64,
    pub expires_at: i64,
    /// A decoupled action (itsme's backchannel API) only: how often its client may poll, in
    /// seconds (`None` for an action of the redirect flow).
    pub poll_interval: Option<i64>,
}

impl SandboxAction {
    /// Whether the action came from the backchannel endpoint (no browser, no redirect URI).
    pub fn is_decoupled(&self) -> bool {
        self.poll_interval.is_some()
    }
}

/// What pacing decided of a client's poll of a decoupled action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxPace {
    InTime,
    /// Too soon: the interval is now this many seconds.
    TooFast {
        interval: i64,
    },
}

const COLUMNS: &str = "id, client_id, redirect_uri, state, nonce, service, claims, code_challenge, ui_locales, login_hint, \
    phone_number, status, rejection, attempts, deadline, code_hash, created_at, expires_at, approved_with, poll_interval";

fn action_state(r: &AnyRow) -> Result<ActionState> {
    let status: String = r.try_get("status")?;
    let rejection: Option<String> = r.try_get("rejection")?;
    let attempts: i64 = r.try_get("attempts")?;
    let deadline: Option<i64> = r.try_get("deadline")?;
    ActionState::decode(&status, rejection.as_deref(), attempts, deadline).ok_or_else(|| {
        corrupt(
            "sandbox_actions",
            "status",
            &format!("{status}/{}/{attempts}", rejection.as_deref().unwrap_or("")),
        )
    })
}

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
        status: action_state(r)?,
        deadline: r.try_get("deadline")?,
        code_hash: r.try_get("code_hash")?,
        approved_with: decode_opt(r, "sandbox_actions", "approved_with", Method::parse)?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        poll_interval: r.try_get("poll_interval")?,
    })
}

/// What a person's account made of one itsme code typed in the app for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeAttempt {
    /// The right code, and the account is not blocked: its count of wrong codes is back to 0 and
    /// the action is approved.
    Accepted,
    /// A wrong code, counted: `failures` wrong codes in a row now, fewer than the limit; the
    /// action still waits.
    Wrong { failures: i64 },
    /// The account is blocked, by this attempt or before it, and the action ended as after three
    /// wrong codes. Said of a right code and a wrong one alike.
    Blocked,
    /// The action no longer waits in the app (decided, or past its deadline): the code was not
    /// checked and nothing was counted.
    NotWaiting,
}

/// What inserting an action did.
#[derive(Debug)]
pub enum NewAction {
    Inserted,
    /// The same request made an action before; here it is, as it is now.
    Exists(Box<SandboxAction>),
    /// The same request made an action before, which has expired.
    Expired,
}

/// How an action that a right code approves changes.
#[derive(Debug, Clone, Copy)]
pub struct Approval<'a> {
    pub code_hash: &'a str,
    /// Until when its code can be redeemed.
    pub deadline: i64,
    pub expires_at: i64,
}

/// Where a user discovery session stands (itsme's `PENDING_USER_DISCOVERY`, `USER_DISCOVERED`,
/// and, once its token went into a backchannel request, used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryStatus {
    Pending,
    Discovered,
    Used,
}

impl DiscoveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryStatus::Pending => "pending",
            DiscoveryStatus::Discovered => "discovered",
            DiscoveryStatus::Used => "used",
        }
    }

    pub fn parse(s: &str) -> Option<DiscoveryStatus> {
        [
            DiscoveryStatus::Pending,
            DiscoveryStatus::Discovered,
            DiscoveryStatus::Used,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// A user discovery session of the sandbox (itsme's QR path).
#[derive(Debug, Clone)]
pub struct DiscoverySession {
    pub id: String,
    pub client_id: String,
    pub status: DiscoveryStatus,
    /// Who scanned the QR, once someone did.
    pub phone_number: Option<String>,
    pub poll_interval: i64,
    pub created_at: i64,
    pub expires_at: i64,
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
    /// Inserts an action, unless one for the same client and `state` exists already (the same
    /// authorization request, replayed or reloaded): then nothing is inserted.
    pub async fn insert_sandbox_action(&self, a: &SandboxAction, now: i64) -> Result<NewAction> {
        let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sandbox_actions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) \
             ON CONFLICT (client_id, state) DO NOTHING"
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
        .bind(a.status.status())
        .bind(a.status.rejection().map(|r| r.as_str()))
        .bind(i64::from(a.status.attempts()))
        .bind(a.deadline)
        .bind(&a.code_hash)
        .bind(a.created_at)
        .bind(a.expires_at)
        .bind(a.approved_with.map(Method::as_str))
        .bind(a.poll_interval)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(NewAction::Inserted);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sandbox_actions WHERE client_id = $1 AND state = $2 AND expires_at > $3"
        )))
        .bind(&a.client_id)
        .bind(&a.state)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(NewAction::Exists(Box::new(from_row(&r)?))),
            // Replayed after the first one expired: still never a second action.
            None => Ok(NewAction::Expired),
        }
    }

    /// A live (not expired) action.
    pub async fn find_sandbox_action(&self, id: &str, now: i64) -> Result<Option<SandboxAction>> {
        // Ids come from URLs; one with a NUL names nothing (PostgreSQL cannot even compare it).
        if id.contains('\0') {
            return Ok(None);
        }
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
             expires_at = $10, approved_with = $11 WHERE id = $1 AND status = $2 AND attempts = $9",
        )
        .bind(&from.id)
        .bind(from.status.status())
        .bind(&to.phone_number)
        .bind(to.status.status())
        .bind(to.status.rejection().map(|r| r.as_str()))
        .bind(i64::from(to.status.attempts()))
        .bind(to.deadline)
        .bind(&to.code_hash)
        .bind(i64::from(from.status.attempts()))
        .bind(to.expires_at)
        .bind(to.approved_with.map(Method::as_str))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// A live action by the hash of its code (for a decoupled action: of its `auth_req_id`, which
    /// is its code). Changes nothing.
    pub async fn find_sandbox_action_by_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<Option<SandboxAction>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sandbox_actions WHERE code_hash = $1 AND expires_at > $2"
        )))
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Records a client's poll of a decoupled action: in time when at least its interval passed
    /// since the last poll (or it is the first); otherwise its interval grows by 5 s. One
    /// conditional statement each, so racing polls are each judged once.
    pub async fn pace_sandbox_poll(&self, id: &str, now: i64) -> Result<SandboxPace> {
        let in_time = sqlx::query(
            "UPDATE sandbox_actions SET last_poll_at = $2 WHERE id = $1 AND poll_interval IS NOT NULL \
             AND (last_poll_at IS NULL OR last_poll_at + poll_interval <= $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if in_time.rows_affected() == 1 {
            return Ok(SandboxPace::InTime);
        }
        let interval: Option<i64> = sqlx::query_scalar(
            "UPDATE sandbox_actions SET poll_interval = poll_interval + 5, last_poll_at = $2 \
             WHERE id = $1 AND poll_interval IS NOT NULL RETURNING poll_interval",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(SandboxPace::TooFast {
            interval: interval.unwrap_or(5),
        })
    }

    /// The actions waiting in the app of the person with this phone number: the emulated
    /// phone's inbox, oldest first.
    pub async fn list_sandbox_inbox(&self, phone: &str, now: i64) -> Result<Vec<SandboxAction>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sandbox_actions WHERE phone_number = $1 AND status = 'awaiting_app' \
             AND deadline > $2 AND expires_at > $2 ORDER BY created_at, id LIMIT 50"
        )))
        .bind(phone)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Redeems an approved action's code, once, before its deadline: an action of the redirect
    /// flow, or with `decoupled` one of the backchannel API (whose `auth_req_id` is its code), so
    /// that neither kind can be redeemed by the other's grant.
    pub async fn redeem_sandbox_code(
        &self,
        code_hash: &str,
        now: i64,
        decoupled: bool,
    ) -> Result<Option<SandboxAction>> {
        let kind = if decoupled {
            "poll_interval IS NOT NULL"
        } else {
            "poll_interval IS NULL"
        };
        // The signing service's actions are redeemed at its own token endpoint only.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sandbox_actions SET status = 'redeemed' WHERE code_hash = $1 AND status = 'approved' AND deadline > $2 AND {kind} \
             AND service IN ('authentication', 'identification') RETURNING {COLUMNS}"
        )))
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Redeems an approved action of the sandbox's signing service (a service or a credential
    /// authorization, `core::csc::Dance`), once, before its code's deadline: the OIDC token
    /// endpoint cannot redeem these, nor this one an OIDC action.
    pub async fn redeem_signing_code(
        &self,
        code_hash: &str,
        now: i64,
    ) -> Result<Option<SandboxAction>> {
        use passerelle_core::csc::Dance;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sandbox_actions SET status = 'redeemed' WHERE code_hash = $1 AND status = 'approved' AND deadline > $2 \
             AND poll_interval IS NULL AND service IN ($3, $4) RETURNING {COLUMNS}"
        )))
        .bind(code_hash)
        .bind(now)
        .bind(Dance::Service.as_str())
        .bind(Dance::Credential.as_str())
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

    /// Checks one code typed in the app for action `action_id` against `phone`'s account, in
    /// one transaction over the account and the action, so that each attempt is counted exactly
    /// once however many arrive at once and on whichever node, and the account's count and the
    /// action move together: while the account is not blocked, a right code resets its count and
    /// approves the action, and a wrong one adds to it; the `max_failures`-th wrong one in a row
    /// blocks the account until `blocked_until` and ends the action. While the account is
    /// blocked (`blocked_until > now`), nothing is counted and every code, right or wrong, ends
    /// the action the same way. An action no longer waiting in the app changes nothing. The
    /// account's row is always written first, so concurrent attempts queue on it.
    #[allow(clippy::too_many_arguments)]
    pub async fn sandbox_code_attempt(
        &self,
        action_id: &str,
        phone: &str,
        correct: bool,
        now: i64,
        max_failures: i64,
        blocked_until: i64,
        approval: Approval<'_>,
        audit_subject: Option<String>,
    ) -> Result<CodeAttempt> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sandbox_accounts (phone_number, failures, blocked_until, updated_at) VALUES ($1, 0, NULL, $2) \
             ON CONFLICT (phone_number) DO NOTHING",
        )
        .bind(phone)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let verdict = if correct {
            let accepted = sqlx::query(
                "UPDATE sandbox_accounts SET failures = 0, blocked_until = NULL, updated_at = $2 \
                 WHERE phone_number = $1 AND (blocked_until IS NULL OR blocked_until <= $2)",
            )
            .bind(phone)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if accepted.rows_affected() == 1 {
                CodeAttempt::Accepted
            } else {
                CodeAttempt::Blocked
            }
        } else {
            // A block that has run out starts a new count.
            let counted: Option<i64> = sqlx::query_scalar(
                "UPDATE sandbox_accounts SET \
                   failures = CASE WHEN blocked_until IS NULL THEN failures + 1 ELSE 1 END, \
                   blocked_until = CASE WHEN (CASE WHEN blocked_until IS NULL THEN failures + 1 ELSE 1 END) >= $3 THEN $4 ELSE NULL END, \
                   updated_at = $2 \
                 WHERE phone_number = $1 AND (blocked_until IS NULL OR blocked_until <= $2) \
                 RETURNING failures",
            )
            .bind(phone)
            .bind(now)
            .bind(max_failures)
            .bind(blocked_until)
            .fetch_optional(&mut *tx)
            .await?;
            match counted {
                Some(failures) if failures < max_failures => CodeAttempt::Wrong { failures },
                Some(_) => {
                    // This attempt blocked the account: that is worth an audit event.
                    let event = crate::AuditEvent::new(
                        "sandbox.account_blocked",
                        "wrong_code",
                        now.saturating_mul(1_000_000),
                    )
                    .subject(audit_subject)
                    .detail(format!("{max_failures} wrong itsme codes in a row"));
                    crate::audit::insert(&mut *tx, &event).await?;
                    CodeAttempt::Blocked
                }
                None => CodeAttempt::Blocked,
            }
        };
        let moved = match verdict {
            CodeAttempt::Accepted => sqlx::query(
                "UPDATE sandbox_actions SET status = 'approved', rejection = NULL, approved_with = 'code', code_hash = $3, deadline = $4, expires_at = $5 \
                 WHERE id = $1 AND status = 'awaiting_app' AND deadline > $2",
            )
            .bind(action_id)
            .bind(now)
            .bind(approval.code_hash)
            .bind(approval.deadline)
            .bind(approval.expires_at)
            .execute(&mut *tx)
            .await?,
            CodeAttempt::Wrong { .. } => sqlx::query(
                "UPDATE sandbox_actions SET attempts = attempts + 1 \
                 WHERE id = $1 AND status = 'awaiting_app' AND deadline > $2",
            )
            .bind(action_id)
            .bind(now)
            .execute(&mut *tx)
            .await?,
            CodeAttempt::Blocked | CodeAttempt::NotWaiting => sqlx::query(
                "UPDATE sandbox_actions SET status = 'rejected', rejection = 'wrong_code' \
                 WHERE id = $1 AND status = 'awaiting_app' AND deadline > $2",
            )
            .bind(action_id)
            .bind(now)
            .execute(&mut *tx)
            .await?,
        };
        if moved.rows_affected() != 1 {
            // Not waiting in the app any more: this attempt was never checked.
            tx.rollback().await?;
            return Ok(CodeAttempt::NotWaiting);
        }
        tx.commit().await?;
        Ok(verdict)
    }

    /// Whether `phone`'s account is blocked now.
    pub async fn sandbox_account_blocked(&self, phone: &str, now: i64) -> Result<bool> {
        let blocked: Option<i64> = sqlx::query_scalar(
            "SELECT failures FROM sandbox_accounts WHERE phone_number = $1 AND blocked_until > $2",
        )
        .bind(phone)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(blocked.is_some())
    }

    /// An operator's unblock: forgets the account's wrong codes and its block. Returns whether
    /// the account had any.
    pub async fn sandbox_unblock(&self, phone: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sandbox_accounts WHERE phone_number = $1")
            .bind(phone)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Forgets accounts whose block has run out, and counts of wrong codes older than
    /// `forget_before` (for housekeeping).
    pub async fn forget_sandbox_accounts(&self, now: i64, forget_before: i64) -> Result<u64> {
        let r = sqlx::query(
            "DELETE FROM sandbox_accounts WHERE blocked_until <= $1 OR (blocked_until IS NULL AND updated_at <= $2)",
        )
        .bind(now)
        .bind(forget_before)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }
}

impl Store {
    pub async fn insert_discovery_session(&self, d: &DiscoverySession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sandbox_discovery_sessions (id, client_id, status, phone_number, token_hash, poll_interval, last_poll_at, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, NULL, $6, $7)",
        )
        .bind(&d.id)
        .bind(&d.client_id)
        .bind(d.status.as_str())
        .bind(&d.phone_number)
        .bind(d.poll_interval)
        .bind(d.created_at)
        .bind(d.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live user discovery session.
    pub async fn find_discovery_session(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<DiscoverySession>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, client_id, status, phone_number, poll_interval, created_at, expires_at \
             FROM sandbox_discovery_sessions WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(DiscoverySession {
            id: r.try_get("id")?,
            client_id: r.try_get("client_id")?,
            status: crate::decode(
                &r,
                "sandbox_discovery_sessions",
                "status",
                DiscoveryStatus::parse,
            )?,
            phone_number: r.try_get("phone_number")?,
            poll_interval: r.try_get("poll_interval")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        }))
    }

    /// Records a client's poll of a discovery session: in time when at least its interval passed
    /// since the last poll (or it is the first); otherwise its interval grows by 5 s.
    pub async fn pace_discovery_poll(&self, id: &str, now: i64) -> Result<SandboxPace> {
        let in_time = sqlx::query(
            "UPDATE sandbox_discovery_sessions SET last_poll_at = $2 WHERE id = $1 \
             AND (last_poll_at IS NULL OR last_poll_at + poll_interval <= $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if in_time.rows_affected() == 1 {
            return Ok(SandboxPace::InTime);
        }
        let interval: Option<i64> = sqlx::query_scalar(
            "UPDATE sandbox_discovery_sessions SET poll_interval = poll_interval + 5, last_poll_at = $2 \
             WHERE id = $1 RETURNING poll_interval",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(SandboxPace::TooFast {
            interval: interval.unwrap_or(5),
        })
    }

    /// A person's app scanned the session's QR: pending → discovered, once, with the hash of
    /// the user_identifier_token it will hand out. `false` when the session no longer waits.
    pub async fn discover_user(
        &self,
        id: &str,
        phone: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE sandbox_discovery_sessions SET status = 'discovered', phone_number = $2, token_hash = $3 \
             WHERE id = $1 AND status = 'pending' AND expires_at > $4",
        )
        .bind(id)
        .bind(phone)
        .bind(token_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Spends a user_identifier_token of `client_id`, once: the phone number of the person it
    /// names, or `None` when it is unknown, another client's, used or expired.
    pub async fn take_user_identifier(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "UPDATE sandbox_discovery_sessions SET status = 'used' \
             WHERE token_hash = $1 AND client_id = $2 AND status = 'discovered' AND expires_at > $3 RETURNING phone_number",
        )
        .bind(token_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }
}
