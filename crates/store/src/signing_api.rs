//! The signing API's rows: documents (uploaded, and signed results), document collections,
//! signing sessions with their signer's stage, the signatures prepared between hashing and
//! signing, and the sessions' events with their webhook delivery.

use passerelle_core::signing::{SigningFlow, Stage, State};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store, decode};

/// Where a document came from.
pub const ORIGIN_UPLOAD: &str = "upload";
pub const ORIGIN_SIGNED: &str = "signed";
/// A PAdES container of a collection's signed documents, sealed.
pub const ORIGIN_PACKAGE: &str = "package";

/// A document's description, without its bytes.
#[derive(Debug, Clone)]
pub struct SignDocument {
    pub id: String,
    pub client_id: String,
    pub mime_type: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: i64,
    pub title: Option<String>,
    pub description: Option<String>,
    pub filename: Option<String>,
    /// [`ORIGIN_UPLOAD`] or [`ORIGIN_SIGNED`].
    pub origin: String,
    /// For a signed result: the document it signs.
    pub source_document_id: Option<String>,
    /// For a signed result: the session that made it.
    pub session_id: Option<String>,
    pub downloaded_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

const DOCUMENT_COLUMNS: &str = "id, client_id, mime_type, sha256, size, title, description, filename, origin, \
    source_document_id, session_id, downloaded_at, created_at, expires_at";

fn document_from_row(r: &AnyRow) -> Result<SignDocument> {
    Ok(SignDocument {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        mime_type: r.try_get("mime_type")?,
        sha256: r.try_get("sha256")?,
        size: r.try_get("size")?,
        title: r.try_get("title")?,
        description: r.try_get("description")?,
        filename: r.try_get("filename")?,
        origin: r.try_get("origin")?,
        source_document_id: r.try_get("source_document_id")?,
        session_id: r.try_get("session_id")?,
        downloaded_at: r.try_get("downloaded_at")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// A signing session as stored.
#[derive(Debug, Clone)]
pub struct SignSession {
    pub id: String,
    pub client_id: String,
    pub flow: SigningFlow,
    pub state: State,
    pub stage: Stage,
    /// The session as the API client created it, normalised (JSON object).
    pub request: String,
    /// `output` once signed (JSON object).
    pub output: Option<String>,
    /// The national identification number the signer must have, when the session names one.
    pub signer_nin: Option<String>,
    /// Hash of the `state` of the signer's current step at itsme (the callback finds the
    /// session by it).
    pub step_hash: Option<String>,
    /// Hash of the signer's browser cookie for the current attempt.
    pub browser_hash: Option<String>,
    /// Qualified flow: what the scheme gave between the two approvals (JSON: the CSC Bearer,
    /// the credential and its chain). Cleared when the session ends.
    pub upstream: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The `dueDate`: after it the session cannot be signed.
    pub expires_at: i64,
}

const SESSION_COLUMNS: &str = "id, client_id, flow, state, stage, request, output, signer_nin, step_hash, browser_hash, \
    upstream, created_at, updated_at, expires_at";

fn session_from_row(r: &AnyRow) -> Result<SignSession> {
    Ok(SignSession {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        flow: decode(r, "sign_sessions", "flow", SigningFlow::parse)?,
        state: decode(r, "sign_sessions", "state", State::parse)?,
        stage: decode(r, "sign_sessions", "stage", Stage::parse)?,
        request: r.try_get("request")?,
        output: r.try_get("output")?,
        signer_nin: r.try_get("signer_nin")?,
        step_hash: r.try_get("step_hash")?,
        browser_hash: r.try_get("browser_hash")?,
        upstream: r.try_get("upstream")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

/// A signature prepared for one document of a session: the PDF with its placeholder (none for
/// a detached signature) and the DER signed attributes whose hash the signer approves.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub document_id: String,
    pub position: i64,
    pub prepared: Option<Vec<u8>>,
    pub signed_attributes: Vec<u8>,
}

/// A signed result to store when a session ends signed.
#[derive(Debug, Clone)]
pub struct SignedResult {
    pub document: SignDocument,
    pub content: Vec<u8>,
}

/// An event of a session, for the client's webhook and for polling.
#[derive(Debug, Clone)]
pub struct SignEvent {
    pub id: String,
    /// Increases with time for a client: the polling cursor.
    pub seq: i64,
    pub client_id: String,
    pub session_id: String,
    pub name: String,
    /// The envelope, as delivered (JSON).
    pub payload: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub expires_at: i64,
}

const EVENT_COLUMNS: &str = "id, seq, client_id, session_id, name, payload, created_at, delivered_at, attempts, \
    next_attempt_at, expires_at";

fn event_from_row(r: &AnyRow) -> Result<SignEvent> {
    Ok(SignEvent {
        id: r.try_get("id")?,
        seq: r.try_get("seq")?,
        client_id: r.try_get("client_id")?,
        session_id: r.try_get("session_id")?,
        name: r.try_get("name")?,
        payload: r.try_get("payload")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

async fn insert_event<'e>(
    conn: impl sqlx::Executor<'e, Database = sqlx::Any>,
    e: &SignEvent,
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sign_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&e.id)
    .bind(e.seq)
    .bind(&e.client_id)
    .bind(&e.session_id)
    .bind(&e.name)
    .bind(&e.payload)
    .bind(e.created_at)
    .bind(e.delivered_at)
    .bind(e.attempts)
    .bind(e.next_attempt_at)
    .bind(e.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_document<'e>(
    conn: impl sqlx::Executor<'e, Database = sqlx::Any>,
    d: &SignDocument,
    content: &[u8],
) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO sign_documents ({DOCUMENT_COLUMNS}, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(&d.id)
    .bind(&d.client_id)
    .bind(&d.mime_type)
    .bind(&d.sha256)
    .bind(d.size)
    .bind(&d.title)
    .bind(&d.description)
    .bind(&d.filename)
    .bind(&d.origin)
    .bind(&d.source_document_id)
    .bind(&d.session_id)
    .bind(d.downloaded_at)
    .bind(d.created_at)
    .bind(d.expires_at)
    .bind(content)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    pub async fn insert_sign_document(&self, d: &SignDocument, content: &[u8]) -> Result<()> {
        insert_document(&self.pool, d, content).await
    }

    /// A live document of `client_id` (another client's is none).
    pub async fn find_sign_document(
        &self,
        id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<SignDocument>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {DOCUMENT_COLUMNS} FROM sign_documents WHERE id = $1 AND client_id = $2 AND expires_at > $3"
        )))
        .bind(id)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(document_from_row).transpose()
    }

    /// The bytes of a live document of `client_id`.
    pub async fn sign_document_content(
        &self,
        id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>> {
        if id.contains('\0') {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(
            "SELECT content FROM sign_documents WHERE id = $1 AND client_id = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records that a signed result was downloaded: it and the document it signs now go at
    /// `now + retention` at the latest.
    pub async fn mark_sign_document_downloaded(
        &self,
        doc: &SignDocument,
        now: i64,
        retention: i64,
    ) -> Result<()> {
        let until = now + retention;
        sqlx::query(
            "UPDATE sign_documents SET downloaded_at = COALESCE(downloaded_at, $2), \
             expires_at = CASE WHEN expires_at > $3 THEN $3 ELSE expires_at END WHERE id = $1",
        )
        .bind(&doc.id)
        .bind(now)
        .bind(until)
        .execute(&self.pool)
        .await?;
        // Its original too, unless another result of it is still to be downloaded or an
        // unfinished session still signs or shows it.
        if let Some(source) = &doc.source_document_id
            && !self
                .sign_document_in_open_session(&doc.client_id, source)
                .await?
        {
            sqlx::query(
                "UPDATE sign_documents SET expires_at = CASE WHEN expires_at > $2 THEN $2 ELSE expires_at END \
                 WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM sign_documents r WHERE r.source_document_id = $1 AND r.downloaded_at IS NULL)",
            )
            .bind(source)
            .bind(until)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// Keeps a document at least until `until` (a session that signs it is due then).
    pub async fn extend_sign_document(&self, id: &str, until: i64) -> Result<()> {
        sqlx::query("UPDATE sign_documents SET expires_at = $2 WHERE id = $1 AND expires_at < $2")
            .bind(id)
            .bind(until)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn update_sign_document_metadata(&self, d: &SignDocument) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sign_documents SET title = $3, description = $4, filename = $5, mime_type = $6 WHERE id = $1 AND client_id = $2",
        )
        .bind(&d.id)
        .bind(&d.client_id)
        .bind(&d.title)
        .bind(&d.description)
        .bind(&d.filename)
        .bind(&d.mime_type)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_sign_document(&self, id: &str, client_id: &str) -> Result<bool> {
        if id.contains('\0') {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM sign_documents WHERE id = $1 AND client_id = $2")
            .bind(id)
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether an unfinished session of the client signs or shows this document.
    pub async fn sign_document_in_open_session(&self, client_id: &str, id: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM sign_sessions WHERE client_id = $1 AND state = 'READY' AND request LIKE $2 LIMIT 1",
        )
        .bind(client_id)
        .bind(format!("%\"{id}\"%"))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    pub async fn insert_sign_collection(
        &self,
        id: &str,
        client_id: &str,
        body: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sign_collections (id, client_id, body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(client_id)
        .bind(body)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A live collection's body (JSON) and creation time.
    pub async fn find_sign_collection(
        &self,
        id: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<(String, i64)>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT body, created_at FROM sign_collections WHERE id = $1 AND client_id = $2 AND expires_at > $3",
        )
        .bind(id)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("body")?, r.try_get("created_at")?)))
            .transpose()
    }

    /// Replaces a collection's body if it is still `from` (compare and swap): how one node
    /// claims the packaging of a collection.
    pub async fn swap_sign_collection(&self, id: &str, from: &str, to: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE sign_collections SET body = $3 WHERE id = $1 AND body = $2")
            .bind(id)
            .bind(from)
            .bind(to)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The sessions of a client that name a collection.
    pub async fn sign_sessions_of_collection(
        &self,
        client_id: &str,
        collection_id: &str,
    ) -> Result<Vec<SignSession>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sign_sessions WHERE client_id = $1 AND request LIKE $2 ORDER BY created_at, id"
        )))
        .bind(client_id)
        .bind(format!("%\"documentCollectionId\":\"{collection_id}\"%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Sets a finished session's `output` (its packages arrive after its signatures).
    pub async fn set_sign_session_output(&self, id: &str, output: &str) -> Result<()> {
        sqlx::query("UPDATE sign_sessions SET output = $2 WHERE id = $1")
            .bind(id)
            .bind(output)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_sign_collection(&self, id: &str, client_id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sign_collections WHERE id = $1 AND client_id = $2")
            .bind(id)
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Inserts sessions created together, with their `created` events, in one transaction.
    pub async fn insert_sign_sessions(
        &self,
        sessions: &[SignSession],
        events: &[SignEvent],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for s in sessions {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO sign_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            )))
            .bind(&s.id)
            .bind(&s.client_id)
            .bind(s.flow.as_str())
            .bind(s.state.as_str())
            .bind(s.stage.as_str())
            .bind(&s.request)
            .bind(&s.output)
            .bind(&s.signer_nin)
            .bind(&s.step_hash)
            .bind(&s.browser_hash)
            .bind(&s.upstream)
            .bind(s.created_at)
            .bind(s.updated_at)
            .bind(s.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        for e in events {
            insert_event(&mut *tx, e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A session, whoever owns it (the caller checks).
    pub async fn find_sign_session(&self, id: &str) -> Result<Option<SignSession>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sign_sessions WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// The session whose current step at itsme was sent with the state hashed `step_hash`.
    pub async fn find_sign_session_by_step(&self, step_hash: &str) -> Result<Option<SignSession>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sign_sessions WHERE step_hash = $1"
        )))
        .bind(step_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// A client's sessions, newest first.
    pub async fn list_sign_sessions(
        &self,
        client_id: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<SignSession>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sign_sessions WHERE client_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        )))
        .bind(client_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Moves a live `READY` session's signer from `from` to `to` (compare and swap), with the
    /// new step, browser and upstream state. `false` when someone moved it first or it ended.
    #[allow(clippy::too_many_arguments)]
    pub async fn move_sign_session(
        &self,
        id: &str,
        from: Stage,
        to: Stage,
        step_hash: Option<&str>,
        browser_hash: Option<&str>,
        upstream: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sign_sessions SET stage = $3, step_hash = $4, browser_hash = $5, upstream = $6, updated_at = $7 \
             WHERE id = $1 AND stage = $2 AND state = 'READY' AND expires_at > $7",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(step_hash)
        .bind(browser_hash)
        .bind(upstream)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends a session that is at `from`: its final state, its output, the signed results and
    /// its event, all or nothing. The prepared signatures and the upstream state go. `false`
    /// when it was not at `from` (someone else ended it).
    #[allow(clippy::too_many_arguments)]
    pub async fn end_sign_session(
        &self,
        id: &str,
        from: Stage,
        state: State,
        output: Option<&str>,
        results: &[SignedResult],
        event: Option<&SignEvent>,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sign_sessions SET state = $3, stage = 'done', output = $4, upstream = NULL, step_hash = NULL, \
             browser_hash = NULL, updated_at = $5 WHERE id = $1 AND stage = $2 AND state = 'READY'",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(state.as_str())
        .bind(output)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for r in results {
            insert_document(&mut *tx, &r.document, &r.content).await?;
        }
        if let Some(e) = event {
            insert_event(&mut *tx, e).await?;
        }
        sqlx::query("DELETE FROM sign_prepared WHERE session_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a client's session that is not being signed right now, with its prepared
    /// signatures; its signed results stay until they expire. `false` when there is none or a
    /// signer is in the middle of signing it.
    pub async fn delete_sign_session(
        &self,
        id: &str,
        client_id: &str,
        event: Option<&SignEvent>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "DELETE FROM sign_sessions WHERE id = $1 AND client_id = $2 AND stage <> 'signing'",
        )
        .bind(id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM sign_prepared WHERE session_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(e) = event {
            insert_event(&mut *tx, e).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces a session's prepared signatures.
    pub async fn put_sign_prepared(&self, session_id: &str, prepared: &[Prepared]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_prepared WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        for p in prepared {
            sqlx::query(
                "INSERT INTO sign_prepared (session_id, document_id, position, prepared, signed_attributes) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(session_id)
            .bind(&p.document_id)
            .bind(p.position)
            .bind(&p.prepared)
            .bind(&p.signed_attributes)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A session's prepared signatures, in order.
    pub async fn sign_prepared(&self, session_id: &str) -> Result<Vec<Prepared>> {
        let rows = sqlx::query(
            "SELECT document_id, position, prepared, signed_attributes FROM sign_prepared WHERE session_id = $1 ORDER BY position",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Prepared {
                    document_id: r.try_get("document_id")?,
                    position: r.try_get("position")?,
                    prepared: r.try_get("prepared")?,
                    signed_attributes: r.try_get("signed_attributes")?,
                })
            })
            .collect()
    }

    /// Marks the expired `READY` sessions `EXPIRED` (with an event each) and returns them.
    pub async fn expire_sign_sessions(
        &self,
        now: i64,
        event: impl Fn(&SignSession) -> SignEvent,
    ) -> Result<Vec<SignSession>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sign_sessions WHERE state = 'READY' AND stage <> 'signing' AND expires_at <= $1 LIMIT 100"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut expired = Vec::new();
        for s in rows.iter().map(session_from_row) {
            let s = s?;
            if self
                .end_sign_session(
                    &s.id,
                    s.stage,
                    State::Expired,
                    None,
                    &[],
                    Some(&event(&s)),
                    now,
                )
                .await?
            {
                expired.push(s);
            }
        }
        Ok(expired)
    }

    /// A client's events after `after` (a `seq`), oldest first.
    pub async fn list_sign_events(
        &self,
        client_id: &str,
        after: i64,
        limit: i64,
        now: i64,
    ) -> Result<Vec<SignEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM sign_events WHERE client_id = $1 AND seq > $2 AND expires_at > $4 ORDER BY seq LIMIT $3"
        )))
        .bind(client_id)
        .bind(after)
        .bind(limit)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Claims up to `limit` events due for delivery: each is pushed `lease` seconds into the
    /// future first (compare and swap on its `next_attempt_at`), so two nodes never deliver the
    /// same event at once.
    pub async fn claim_sign_events(
        &self,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<SignEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM sign_events WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for e in rows.iter().map(event_from_row) {
            let e = e?;
            let won = sqlx::query(
                "UPDATE sign_events SET next_attempt_at = $3, attempts = attempts + 1 WHERE id = $1 AND next_attempt_at = $2",
            )
            .bind(&e.id)
            .bind(e.next_attempt_at)
            .bind(now + lease)
            .execute(&self.pool)
            .await?;
            if won.rows_affected() == 1 {
                claimed.push(SignEvent {
                    attempts: e.attempts + 1,
                    ..e
                });
            }
        }
        Ok(claimed)
    }

    /// Records a delivery's outcome: delivered, or tried again at `retry_at` (`None`: given up).
    pub async fn sign_event_attempted(
        &self,
        id: &str,
        delivered_at: Option<i64>,
        retry_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query("UPDATE sign_events SET delivered_at = $2, next_attempt_at = $3 WHERE id = $1")
            .bind(id)
            .bind(delivered_at)
            .bind(retry_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Housekeeping: documents, collections, events and long-ended sessions past their time.
    pub async fn delete_expired_signing(&self, now: i64, session_retention: i64) -> Result<u64> {
        let mut n = 0;
        for (sql, at) in [
            ("DELETE FROM sign_documents WHERE expires_at <= $1", now),
            ("DELETE FROM sign_collections WHERE expires_at <= $1", now),
            ("DELETE FROM sign_events WHERE expires_at <= $1", now),
            (
                "DELETE FROM sign_prepared WHERE session_id IN (SELECT id FROM sign_sessions WHERE state <> 'READY' AND updated_at <= $1)",
                now - session_retention,
            ),
            (
                "DELETE FROM sign_sessions WHERE state <> 'READY' AND updated_at <= $1",
                now - session_retention,
            ),
        ] {
            n += sqlx::query(sql)
                .bind(at)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Document bytes go in and come out unchanged (BYTEA in PostgreSQL, a BLOB in SQLite),
    /// on the database the suite runs against.
    #[tokio::test]
    async fn document_bytes_round_trip() {
        let url = match std::env::var("PASSERELLE_TEST_DATABASE").as_deref() {
            Ok("postgres") => "postgres://postgres@127.0.0.1:5432/test".to_string(),
            _ => {
                let dir = std::env::temp_dir().join(format!("sign-{}", crate::random_token(6)));
                std::fs::create_dir_all(&dir).expect("dir");
                format!("sqlite://{}?mode=rwc", dir.join("t.db").display())
            }
        };
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let doc = SignDocument {
            id: crate::random_token(12),
            client_id: "c".into(),
            mime_type: "application/pdf".into(),
            sha256: "x".into(),
            size: bytes.len() as i64,
            title: None,
            description: None,
            filename: None,
            origin: ORIGIN_UPLOAD.into(),
            source_document_id: None,
            session_id: None,
            downloaded_at: None,
            created_at: 1,
            expires_at: 100,
        };
        store
            .insert_sign_document(&doc, &bytes)
            .await
            .expect("insert");
        let back = store
            .sign_document_content(&doc.id, "c", 2)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(back, bytes);
        assert!(
            store
                .sign_document_content(&doc.id, "other", 2)
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            store
                .sign_document_content(&doc.id, "c", 100)
                .await
                .expect("read")
                .is_none()
        );
    }
}
