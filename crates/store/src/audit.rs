//! The audit trail: what happened, to which client, with which outcome, and when — never who
//! (only a keyed hash of the subject), never a code, token, secret or attribute.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store, random_token};

/// One audited event. Build with [`AuditEvent::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEvent {
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// Unix microseconds, to order events within a second.
    pub at_us: i64,
    /// What happened: `login.approved`, `login.failed`, `token.issued`,
    /// `token.refused`, `code.replayed`, `client.added`, `client.registered`, `client.updated`,
    /// `client.registration_replaced`, `client.removed`, `client.deregistered`,
    /// `registration.token_issued`, `registration.token_revoked`,
    /// `key.created`, `sandbox.account_blocked`, `sandbox.account_unblocked`.
    pub kind: String,
    pub client_id: Option<String>,
    /// `authentication` or `identification`, for logins and tokens.
    pub service: Option<String>,
    /// `ok`, or the OAuth error code (`access_denied`, `invalid_grant`, …).
    pub outcome: String,
    /// A short description with no personal data.
    pub detail: Option<String>,
    /// A keyed hash of the person's identifier, when there is a person.
    pub subject: Option<String>,
}

/// The keyed hash that stands for a person in the audit trail: HMAC-SHA256 under the
/// `audit-secret` key of `label` and the identifier, base64url, 22 characters (128 bits). Without
/// the key it tells nothing; with it, an operator can find the events of a person they know.
/// `None` only if the key were refused, which HMAC never does: then no subject is recorded
/// rather than a hash of nothing.
pub fn audit_subject(key: &[u8], label: &str, identifier: &str) -> Option<String> {
    use base64::Engine as _;
    use hmac::{Hmac, Mac as _};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).ok()?;
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(identifier.as_bytes());
    let digest = mac.finalize().into_bytes();
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// Keeps what the network or a client chose short and printable: control characters and the
/// invisible ones that reorder or hide text in a terminal (bidi overrides and isolates, zero-width
/// characters) become `?`.
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            let invisible = matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
            );
            if c.is_control() || invisible { '?' } else { c }
        })
        .take(max)
        .collect()
}

impl AuditEvent {
    pub fn new(kind: &str, outcome: &str, at_us: i64) -> AuditEvent {
        AuditEvent {
            id: random_token(12),
            at: at_us.div_euclid(1_000_000),
            at_us,
            kind: clean(kind, 64),
            client_id: None,
            service: None,
            outcome: clean(outcome, 64),
            detail: None,
            subject: None,
        }
    }

    pub fn client(mut self, id: &str) -> AuditEvent {
        self.client_id = Some(clean(id, 128));
        self
    }

    pub fn service(mut self, service: &str) -> AuditEvent {
        self.service = Some(clean(service, 32));
        self
    }

    pub fn detail(mut self, detail: impl AsRef<str>) -> AuditEvent {
        self.detail = Some(clean(detail.as_ref(), 300));
        self
    }

    /// The person, as [`audit_subject`] hashed them.
    pub fn subject(mut self, keyed_hash: Option<String>) -> AuditEvent {
        self.subject = keyed_hash.map(|h| clean(&h, 64));
        self
    }
}

const COLUMNS: &str = "id, at, at_us, kind, client_id, service, outcome, detail, subject";

fn from_row(r: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        at_us: r.try_get("at_us")?,
        kind: r.try_get("kind")?,
        client_id: r.try_get("client_id")?,
        service: r.try_get("service")?,
        outcome: r.try_get("outcome")?,
        detail: r.try_get("detail")?,
        subject: r.try_get("subject")?,
    })
}

/// Inserts `e` with `executor` (the pool, or a transaction the event belongs to).
pub(crate) async fn insert<'c, E>(executor: E, e: &AuditEvent) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(&e.id)
    .bind(e.at)
    .bind(e.at_us)
    .bind(&e.kind)
    .bind(&e.client_id)
    .bind(&e.service)
    .bind(&e.outcome)
    .bind(&e.detail)
    .bind(&e.subject)
    .execute(executor)
    .await?;
    Ok(())
}

/// Events that are not part of a transaction (a login's outcome, a refused token request, a
/// replay) are queued and written by one task, in batches: a login pays a channel send instead
/// of a database write. The price: on a crash, the last [`AuditQueue::BATCH_WAIT`] of queued
/// events can be lost; events that record a change (tokens issued, clients, keys, account
/// blocks) are written in that change's own transaction and are never lost.
#[derive(Debug, Clone)]
pub struct AuditQueue {
    tx: tokio::sync::mpsc::Sender<AuditEvent>,
    store: Store,
}

impl AuditQueue {
    /// How long the writer gathers events before it writes them.
    pub const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
    /// Events waiting to be written at most; beyond, an event is written at once by its caller.
    const CAPACITY: usize = 10_000;
    /// Rows per INSERT (9 values each, well under SQLite's 32 766 variables).
    const ROWS_PER_STATEMENT: usize = 200;

    /// Starts the writer; it ends, after writing what is queued, when every queue is dropped.
    pub fn spawn(store: Store) -> (AuditQueue, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<AuditEvent>(Self::CAPACITY);
        let writer = store.clone();
        let task = tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                tokio::time::sleep(Self::BATCH_WAIT).await;
                let mut batch = vec![first];
                while let Ok(e) = rx.try_recv() {
                    batch.push(e);
                }
                for chunk in batch.chunks(Self::ROWS_PER_STATEMENT) {
                    if let Err(e) = writer.record_many(chunk).await {
                        tracing::error!(error = %e, events = chunk.len(), "cannot record audit events");
                    }
                }
            }
        });
        (AuditQueue { tx, store }, task)
    }

    /// Queues an event; when the queue is full, writes it at once.
    pub async fn push(&self, event: AuditEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(e))
            | Err(tokio::sync::mpsc::error::TrySendError::Closed(e)) => {
                if let Err(err) = self.store.record(&e).await {
                    tracing::error!(error = %err, audit.kind = %e.kind, "cannot record an audit event");
                }
            }
        }
    }
}

impl Store {
    /// Records several events with one statement.
    pub async fn record_many(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
        for i in 0..events.len() {
            let b = i * 9;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                b + 9
            ));
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in events {
            q = q
                .bind(&e.id)
                .bind(e.at)
                .bind(e.at_us)
                .bind(&e.kind)
                .bind(&e.client_id)
                .bind(&e.service)
                .bind(&e.outcome)
                .bind(&e.detail)
                .bind(&e.subject);
        }
        q.execute(&self.pool).await?;
        Ok(())
    }

    /// Records an event on its own.
    pub async fn record(&self, e: &AuditEvent) -> Result<()> {
        insert(&self.pool, e).await
    }

    /// Events at or after `since` (Unix seconds), oldest first, for one client or all, at most
    /// `limit`.
    pub async fn audit_events(
        &self,
        since: i64,
        client_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>> {
        let since = since.saturating_mul(1_000_000);
        let rows = match client_id {
            Some(c) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM audit_events WHERE at_us >= $1 AND client_id = $2 ORDER BY at_us, id LIMIT $3"
                )))
                .bind(since)
                .bind(c)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM audit_events WHERE at_us >= $1 ORDER BY at_us, id LIMIT $2"
                )))
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    /// Deletes events older than `before` (Unix seconds): the retention. Returns how many. In
    /// batches of about 500 along the time index, so that housekeeping never holds SQLite's one
    /// write lock for long.
    pub async fn delete_audit_before(&self, before: i64) -> Result<u64> {
        let before = before.saturating_mul(1_000_000);
        let mut total = 0;
        loop {
            let deleted = sqlx::query(
                "DELETE FROM audit_events WHERE at_us < $1 AND at_us <= \
                 (SELECT MAX(at_us) FROM (SELECT at_us FROM audit_events WHERE at_us < $1 ORDER BY at_us LIMIT 500) AS oldest)",
            )
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += deleted;
            if deleted == 0 {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_could_spoof_a_terminal_is_replaced() {
        assert_eq!(super::clean("a\u{202E}b\nc\u{200B}", 100), "a?b?c?");
        assert_eq!(super::clean("abcdef", 3), "abc");
    }
}
