//! The only crate that knows SQL.
//!
//! One code path for SQLite and PostgreSQL through sqlx's `any` driver: the same statements, with
//! `$n` placeholders, TEXT ids and JSON, BIGINT Unix timestamps that the caller passes in from the
//! injected [`Clock`]. Single-use things are consumed with one conditional `UPDATE … RETURNING` or
//! `DELETE … RETURNING`, so two racing requests cannot both win. Migrations are embedded and run in
//! order, each in its own transaction together with its version row.

mod audit;
mod ciba;
mod clients;
mod keys;
mod logins;
mod pushed;
mod refresh;
mod registration;
mod rest;
mod sandbox;
mod signing;
mod signing_api;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use rand::RngCore as _;
use sha2::Digest as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::error::DatabaseError as _;
use sqlx::{AnyPool, Executor as _};

pub use audit::{AuditEvent, AuditQueue, audit_subject};
pub use ciba::{CibaRequest, Pace};
pub use clients::{CibaRegistration, ClientRecord, NewClient, ParRegistration};
pub use keys::StoredKey;
pub use logins::{AccessTokenRecord, CodeRecord, LoginTransaction, NewCode, PresentedCode};
pub use pushed::{PushedRequest, PushedUse};
pub use refresh::{NewFamily, PresentedRefreshToken, RefreshFamily, Rotation};
pub use registration::{Registration, RegistrationToken};
pub use rest::{ApiToken, RestSession};
pub use sandbox::{
    Approval, CodeAttempt, DiscoverySession, DiscoveryStatus, NewAction, SandboxAction,
    SandboxPace, SandboxToken,
};
pub use signing::{SigningCredential, SigningToken};
pub use signing_api::{
    ORIGIN_PACKAGE, ORIGIN_SIGNED, ORIGIN_UPLOAD, Prepared, SignDocument, SignEvent, SignSession,
    SignedResult,
};

/// A storage failure. Callers log it and answer without its details; it never reaches a client as
/// is. [`StoreError::Unavailable`] is the one a caller answers differently (503, "try again"): the
/// database cannot be reached or did not answer in time, and nothing is wrong with the request.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time: refused, reset or closed
    /// connections, no connection free within [`ACQUIRE_TIMEOUT`], a server shutting down or
    /// starting, a lock not granted within [`LOCK_TIMEOUT`]. Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// Any other database error: a bug, a schema mismatch, a constraint the code did not expect.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    /// The one place where a database error is judged: is the database out of reach (try again
    /// later), or is something wrong with what was asked?
    fn from(e: sqlx::Error) -> StoreError {
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

impl StoreError {
    /// Whether retrying later may succeed (the database is out of reach), as opposed to a fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// How long a request waits for a database connection before giving up with
/// [`StoreError::Unavailable`]. While the database is down, sqlx keeps retrying the connection
/// until this deadline, so it is also how long a request takes to fail during an outage.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a statement waits for a lock (PostgreSQL `lock_timeout`, SQLite `busy_timeout`)
/// before giving up with [`StoreError::Unavailable`].
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// How many expired rows [`Store::delete_expired`] deletes in one statement.
const EXPIRY_BATCH: i64 = 500;

/// Whether a database error means "out of reach, try again later". PostgreSQL SQLSTATEs: class 08
/// (connection exception), class 28 and 3D000 (the server refuses this login or database), class
/// 53 (insufficient resources, too many connections included), 55P03 (lock not available),
/// 57014 (statement cancelled by a timeout), 57P01–57P05 (the server is shutting down, crashed,
/// is starting, or dropped the session for idleness). SQLite primary codes: BUSY and LOCKED
/// (another writer holds the lock past the busy timeout), IOERR, FULL, CANTOPEN.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                code.starts_with("08")
                    || code.starts_with("28")
                    || code.starts_with("53")
                    || matches!(
                        code,
                        "3D000"
                            | "55P03"
                            | "57014"
                            | "57P01"
                            | "57P02"
                            | "57P03"
                            | "57P04"
                            | "57P05"
                    )
            } else if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                // SQLite reports extended codes; the primary code is the low byte.
                let primary = sqlite
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .unwrap_or(0)
                    & 0xff;
                matches!(primary, 5 | 6 | 10 | 13 | 14)
            } else {
                false
            }
        }
        _ => false,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The clock everything that stores a timestamp reads. Tests use [`ManualClock`] and move time
/// forward instead of sleeping.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix time in seconds.
    fn now(&self) -> i64;

    /// Unix time in microseconds, for ordering events that happen within one second (a code's
    /// redemption and a presentation of it that arrived before or after). Never goes backwards
    /// within a process as long as the system clock does not.
    fn now_micros(&self) -> i64 {
        self.now().saturating_mul(1_000_000)
    }
}

/// The real clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    fn now_micros(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to. Within a second, [`Clock::now_micros`] still moves
/// forward by one microsecond per reading, so that what happens later reads a later time.
#[derive(Debug)]
pub struct ManualClock {
    seconds: AtomicI64,
    ticks: AtomicI64,
}

impl ManualClock {
    pub fn new(start: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            seconds: AtomicI64::new(start),
            ticks: AtomicI64::new(0),
        })
    }

    pub fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.seconds.load(Ordering::SeqCst)
    }

    fn now_micros(&self) -> i64 {
        let tick = self.ticks.fetch_add(1, Ordering::SeqCst) % 1_000_000;
        self.now().saturating_mul(1_000_000) + tick
    }
}

/// A fresh unguessable token: `bytes` bytes from `rand`'s thread-local CSPRNG (seeded from the
/// operating system), base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// How codes, tokens and client secrets are stored: the hex SHA-256 of the value. They are
/// high-entropy random strings, so a fast hash is enough (DESIGN.md "Keys").
pub fn token_hash(value: &str) -> String {
    let digest = sha2::Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The embedded migrations, in order. Append only.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/0001_initial.sql")),
    (2, include_str!("../../../migrations/0002_hardening.sql")),
    (
        3,
        include_str!("../../../migrations/0003_sandbox_accounts.sql"),
    ),
    (4, include_str!("../../../migrations/0004_audit.sql")),
    (
        5,
        include_str!("../../../migrations/0005_housekeeping_indexes.sql"),
    ),
    (6, include_str!("../../../migrations/0006_review.sql")),
    (7, include_str!("../../../migrations/0007_login_state.sql")),
    (
        8,
        include_str!("../../../migrations/0008_mobile_and_acr.sql"),
    ),
    (9, include_str!("../../../migrations/0009_ciba.sql")),
    (
        10,
        include_str!("../../../migrations/0010_rest_sessions.sql"),
    ),
    (
        11,
        include_str!("../../../migrations/0011_sandbox_signing.sql"),
    ),
    (12, include_str!("../../../migrations/0012_signing.sql")),
    (
        13,
        include_str!("../../../migrations/0013_refresh_tokens.sql"),
    ),
    (14, include_str!("../../../migrations/0014_par.sql")),
    (
        15,
        include_str!("../../../migrations/0015_key_rotation.sql"),
    ),
    (
        16,
        include_str!("../../../migrations/0016_token_formats.sql"),
    ),
    (17, include_str!("../../../migrations/0017_dpop.sql")),
    (
        18,
        include_str!("../../../migrations/0018_id_token_hint.sql"),
    ),
    (19, include_str!("../../../migrations/0019_logout.sql")),
    (20, include_str!("../../../migrations/0020_profile.sql")),
    (
        21,
        include_str!("../../../migrations/0021_registration.sql"),
    ),
    (
        22,
        include_str!("../../../migrations/0022_dpop_code_binding.sql"),
    ),
    (
        23,
        include_str!("../../../migrations/0023_refresh_claims_request.sql"),
    ),
];

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// Reads a column that holds one of a closed set of names: text that no version of Passerelle
/// writes there is a corrupt row, said with its table and column, never a silent default.
pub(crate) fn decode<T>(
    row: &sqlx::any::AnyRow,
    table: &str,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T> {
    use sqlx::Row as _;
    let text: String = row.try_get(column)?;
    parse(&text).ok_or_else(|| corrupt(table, column, &text))
}

/// Like [`decode`], for a column that may be NULL.
pub(crate) fn decode_opt<T>(
    row: &sqlx::any::AnyRow,
    table: &str,
    column: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    use sqlx::Row as _;
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| parse(&t).ok_or_else(|| corrupt(table, column, &t)))
        .transpose()
}

/// The error for a value no version of Passerelle writes (at most 40 characters of it shown).
pub(crate) fn corrupt(table: &str, column: &str, text: &str) -> StoreError {
    let shown: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
    StoreError::Corrupt(format!("corrupt row: {table}.{column} holds {shown:?}"))
}

/// The database handle. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: Arc<str>,
}

impl Store {
    /// Connects to `url` (`sqlite://FILE?mode=rwc` or `postgres://…`). SQLite connections run in
    /// WAL mode with a busy timeout, so the CLI can write while the server runs.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| {
            StoreError::Config("the database URL must start with sqlite: or postgres://".into())
        })?;
        let options: AnyConnectOptions = url.parse().map_err(StoreError::Database)?;
        let max = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // A local SQLite file does not go stale; pinging it before every use would double the
            // round trips to its worker thread. A PostgreSQL connection can (a restarted or
            // unreachable server), so it is checked, and a dead one is replaced by a new one.
            .test_before_acquire(backend == Backend::Postgres)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    let lock = LOCK_TIMEOUT.as_millis();
                    match backend {
                        Backend::Sqlite => {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "PRAGMA busy_timeout = {lock}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                            )))
                            .execute(&mut *conn)
                            .await?;
                        }
                        // No lock wait outlives LOCK_TIMEOUT; a session that a frozen node left
                        // inside a transaction loses its locks after 10 s; and no statement runs
                        // longer than the 30 s limit on the request that sent it.
                        Backend::Postgres => {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "SET lock_timeout = {lock}; SET idle_in_transaction_session_timeout = 10000; SET statement_timeout = 30000;"
                            )))
                            .execute(&mut *conn)
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            backend,
            url: url.into(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations this build knows and the database does not have yet.
    pub async fn migrate(&self) -> Result<()> {
        self.pool
            .execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await?;
        for (version, sql) in MIGRATIONS {
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
            if applied.is_some() {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            if self.backend == Backend::Postgres {
                // A migration may take long, and a second node waits for the first one's version
                // row as long as that takes: the request-sized limits do not apply here.
                sqlx::raw_sql("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0")
                    .execute(&mut *tx)
                    .await?;
            }
            // The version row goes first: a second node migrating at the same moment blocks on it
            // and then fails on the primary key instead of applying the schema twice.
            let inserted =
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(SystemClock.now())
                    .execute(&mut *tx)
                    .await;
            if inserted.is_err() {
                tx.rollback().await.ok();
                continue;
            }
            sqlx::raw_sql(*sql).execute(&mut *tx).await?;
            tx.commit().await?;
            tracing::info!(migration.version = version, "applied database migration");
        }
        Ok(())
    }

    /// Deletes everything that has expired: login transactions, codes, tokens with the attributes
    /// they carry, seen `jti`s and sandbox actions. Returns how many rows went. Rows go
    /// [`EXPIRY_BATCH`] at a time, each batch its own statement, so that under SQLite no deletion
    /// holds the write lock long enough to make a login's write wait out [`LOCK_TIMEOUT`].
    pub async fn delete_expired(&self, now: i64) -> Result<u64> {
        let mut total = 0;
        for sql in [
            "DELETE FROM login_transactions WHERE id IN (SELECT id FROM login_transactions WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM authorization_codes WHERE code_hash IN (SELECT code_hash FROM authorization_codes WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM used_jtis WHERE (namespace, jti) IN (SELECT namespace, jti FROM used_jtis WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM sandbox_actions WHERE id IN (SELECT id FROM sandbox_actions WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM sandbox_tokens WHERE token_hash IN (SELECT token_hash FROM sandbox_tokens WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM sandbox_discovery_sessions WHERE id IN (SELECT id FROM sandbox_discovery_sessions WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM ciba_requests WHERE id IN (SELECT id FROM ciba_requests WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM subject_links WHERE (client_id, sub) IN (SELECT client_id, sub FROM subject_links WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM pushed_requests WHERE id IN (SELECT id FROM pushed_requests WHERE kept_until <= $1 LIMIT $2)",
            "DELETE FROM pushed_request_logins WHERE login_id IN (SELECT login_id FROM pushed_request_logins WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM sandbox_signing_tokens WHERE token_hash IN (SELECT token_hash FROM sandbox_signing_tokens WHERE expires_at <= $1 LIMIT $2)",
            // A family's claims go with it at its absolute expiry; its tokens never outlive it.
            "DELETE FROM refresh_families WHERE id IN (SELECT id FROM refresh_families WHERE expires_at <= $1 LIMIT $2)",
            "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)",
        ] {
            loop {
                let deleted = sqlx::query(sql)
                    .bind(now)
                    .bind(EXPIRY_BATCH)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                total += deleted;
                if deleted < EXPIRY_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Records a `jti` as used until `expires_at`. Returns `false` when it was already used.
    pub async fn insert_jti(&self, namespace: &str, jti: &str, expires_at: i64) -> Result<bool> {
        let result = sqlx::query(
            "INSERT INTO used_jtis (namespace, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (namespace, jti) DO NOTHING",
        )
        .bind(namespace)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Tells every node listening on `channel` that something happened to `payload` (an id).
    /// PostgreSQL `NOTIFY`. With SQLite this does nothing: a node wakes its own waiters, and
    /// another process sharing the file is seen by the waiting page's one-second re-read. A hint
    /// only: listeners must still re-read the database.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Calls `on_notification` with the payload of every `notify` on `channel`, from any node,
    /// until the task is dropped. PostgreSQL `LISTEN` on one connection of its own, outside the
    /// pool. When the connection drops (the database restarts or is unreachable), the task tries
    /// again every second, each try giving up after [`ACQUIRE_TIMEOUT`], so it is listening again
    /// within about a second of the database's return; notifications sent meanwhile are lost
    /// (they are hints). With SQLite it returns `None`.
    pub fn spawn_listener(
        &self,
        channel: &'static str,
        on_notification: impl Fn(&str) + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if self.backend != Backend::Postgres {
            return None;
        }
        // sqlx's own `PgListener::connect` would wait 30 s for each connection attempt; a pool of
        // one, opened lazily, gives it the same deadline as every other database wait.
        let pool = match sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy(&self.url)
        {
            Ok(pool) => pool,
            Err(e) => {
                tracing::error!(error = %e, "cannot LISTEN: the database URL is not usable");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            loop {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen(channel).await {
                            tracing::warn!(error = %e, "cannot LISTEN; retrying");
                        } else {
                            tracing::info!(
                                db.channel = channel,
                                "listening for other nodes' notifications"
                            );
                            loop {
                                match listener.recv().await {
                                    Ok(n) => on_notification(n.payload()),
                                    Err(e) => {
                                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot connect to LISTEN; retrying"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }))
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Counts rows of a table, for tests and diagnostics. `table` must be one of the schema's.
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        const TABLES: &[&str] = &[
            "clients",
            "keys",
            "login_transactions",
            "authorization_codes",
            "access_tokens",
            "used_jtis",
            "sandbox_actions",
            "sandbox_tokens",
            "sandbox_accounts",
            "audit_events",
            "sandbox_signing_credentials",
            "sandbox_signing_accounts",
            "sandbox_signing_tokens",
            "refresh_families",
            "refresh_tokens",
        ];
        if !TABLES.contains(&table) {
            return Err(StoreError::Config(format!("unknown table {table}")));
        }
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }
}

fn json_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}
