//! Relying-party clients. The server reads them on every request (no cache), so a change made
//! with the CLI while the server runs takes effect at once.

use passerelle_core::formats::{
    ContentEncryption, Encryption, IdTokenContents, KeyManagement, TokenFormats,
};
use passerelle_core::oidc::{CibaMode, ClientAuthMethod, IdTokenAlg, Profile};
use passerelle_core::scopes::Account;
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, decode, json_list};

/// A registered client as stored. `secret_hash` is the SHA-256 of the secret, never the secret.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: ClientAuthMethod,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub account: Account,
    pub grants: Vec<String>,
    pub id_token_alg: IdTokenAlg,
    /// Whether and how the client may use CIBA (`None`: it may not).
    pub ciba: Option<CibaRegistration>,
    /// Where the signing API delivers this client's events (`None`: polling only).
    pub signing_webhook: Option<String>,
    /// How its ID tokens and userinfo answers are encrypted and signed, and what the ID token
    /// carries.
    pub formats: TokenFormats,
    /// Every token request must carry a DPoP proof, and its tokens are bound to the proof's key
    /// (RFC 9449 §5.2 `dpop_bound_access_tokens`).
    pub dpop_bound_access_tokens: bool,
    /// Where people may be sent after an RP-initiated logout (matched exactly).
    pub post_logout_redirect_uris: Vec<String>,
    /// Pushed authorization requests and request objects (RFC 9126 §6, RFC 9101 §10.5).
    pub par: ParRegistration,
    /// The security profile the client is held to (`None`: none).
    pub profile: Option<Profile>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ClientRecord {
    /// Whether its authorization requests must come through PAR: registered so, or held to
    /// FAPI 2.0.
    pub fn requires_par(&self) -> bool {
        self.par.require_pushed || self.profile == Some(Profile::Fapi2)
    }

    /// Whether every token request must carry a DPoP proof: registered so, or held to FAPI 2.0.
    pub fn requires_dpop(&self) -> bool {
        self.dpop_bound_access_tokens || self.profile == Some(Profile::Fapi2)
    }

    /// The signature algorithms its client assertions and DPoP proofs may use (`None`: any that
    /// Passerelle accepts).
    pub fn allowed_algs(&self) -> Option<&'static [&'static str]> {
        match self.profile {
            Some(Profile::Fapi2) => Some(&Profile::FAPI2_ALGS),
            None => None,
        }
    }
}

/// A client's CIBA registration (CIBA Core §4: `backchannel_token_delivery_mode`,
/// `backchannel_client_notification_endpoint`, and whether its requests must be signed,
/// `backchannel_authentication_request_signing_alg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CibaRegistration {
    pub mode: CibaMode,
    /// Where a ping-mode client is notified (required for ping).
    pub notification_endpoint: Option<String>,
    /// Every backchannel request must come as a signed `request` object (§7.1.1).
    pub signed_requests: bool,
}

/// What a client must do with its authorization requests (RFC 7591 names
/// `require_pushed_authorization_requests`, RFC 9126 §6, and `require_signed_request_object`,
/// RFC 9101 §10.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParRegistration {
    /// Only pushed authorization requests are taken at the authorization endpoint.
    pub require_pushed: bool,
    /// Every authorization request must come as a signed request object.
    pub require_signed: bool,
}

/// The fields of a client to insert or replace.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: ClientAuthMethod,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub account: Account,
    pub grants: Vec<String>,
    pub id_token_alg: IdTokenAlg,
    pub ciba: Option<CibaRegistration>,
    pub signing_webhook: Option<String>,
    pub formats: TokenFormats,
    pub dpop_bound_access_tokens: bool,
    pub post_logout_redirect_uris: Vec<String>,
    pub par: ParRegistration,
    pub profile: Option<Profile>,
}

impl NewClient {
    /// The record this registration becomes when stored at `created_at` (for tests, and for
    /// showing a registration before it is stored).
    pub fn into_record(self, created_at: i64, updated_at: i64) -> ClientRecord {
        ClientRecord {
            id: self.id,
            name: self.name,
            secret_hash: self.secret_hash,
            redirect_uris: self.redirect_uris,
            auth_method: self.auth_method,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            account: self.account,
            grants: self.grants,
            id_token_alg: self.id_token_alg,
            ciba: self.ciba,
            signing_webhook: self.signing_webhook,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            par: self.par,
            profile: self.profile,
            formats: self.formats,
            created_at,
            updated_at,
        }
    }
}

impl From<ClientRecord> for NewClient {
    /// A stored client as a registration to change and store again (`client update`).
    fn from(r: ClientRecord) -> NewClient {
        NewClient {
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            redirect_uris: r.redirect_uris,
            auth_method: r.auth_method,
            jwks: r.jwks,
            jwks_uri: r.jwks_uri,
            account: r.account,
            grants: r.grants,
            id_token_alg: r.id_token_alg,
            ciba: r.ciba,
            signing_webhook: r.signing_webhook,
            dpop_bound_access_tokens: r.dpop_bound_access_tokens,
            post_logout_redirect_uris: r.post_logout_redirect_uris,
            par: r.par,
            profile: r.profile,
            formats: r.formats,
        }
    }
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn from_row(row: &AnyRow) -> Result<ClientRecord> {
    Ok(ClientRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        redirect_uris: json_list(&row.try_get::<String, _>("redirect_uris")?)?,
        auth_method: decode(row, "clients", "auth_method", ClientAuthMethod::parse)?,
        jwks: row.try_get("jwks")?,
        jwks_uri: row.try_get("jwks_uri")?,
        account: decode(row, "clients", "account", Account::parse)?,
        grants: json_list(&row.try_get::<String, _>("grants")?)?,
        id_token_alg: decode(row, "clients", "id_token_alg", IdTokenAlg::parse)?,
        ciba: match crate::decode_opt(row, "clients", "ciba_mode", CibaMode::parse)? {
            None => None,
            Some(mode) => Some(CibaRegistration {
                mode,
                notification_endpoint: row.try_get("ciba_notification_endpoint")?,
                signed_requests: row.try_get::<i64, _>("ciba_signed_requests")? != 0,
            }),
        },
        signing_webhook: row.try_get("signing_webhook")?,
        formats: formats_from_row(row)?,
        dpop_bound_access_tokens: row.try_get::<i64, _>("dpop_bound_access_tokens")? != 0,
        post_logout_redirect_uris: json_list(
            &row.try_get::<String, _>("post_logout_redirect_uris")?,
        )?,
        par: ParRegistration {
            require_pushed: row.try_get::<i64, _>("require_pushed_authorization_requests")? != 0,
            require_signed: row.try_get::<i64, _>("require_signed_request_object")? != 0,
        },
        profile: crate::decode_opt(row, "clients", "profile", Profile::parse)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Reads an `*_encrypted_response_alg/enc` pair: both or neither.
fn encryption_from_row(row: &AnyRow, alg: &str, enc: &str) -> Result<Option<Encryption>> {
    let a = crate::decode_opt(row, "clients", alg, KeyManagement::parse)?;
    let e = crate::decode_opt(row, "clients", enc, ContentEncryption::parse)?;
    match (a, e) {
        (Some(alg), Some(enc)) => Ok(Some(Encryption { alg, enc })),
        (None, None) => Ok(None),
        _ => Err(crate::corrupt("clients", alg, "half an encryption setting")),
    }
}

fn formats_from_row(row: &AnyRow) -> Result<TokenFormats> {
    Ok(TokenFormats {
        id_token_encryption: encryption_from_row(
            row,
            "id_token_encrypted_response_alg",
            "id_token_encrypted_response_enc",
        )?,
        userinfo_signing: crate::decode_opt(
            row,
            "clients",
            "userinfo_signed_response_alg",
            IdTokenAlg::parse,
        )?,
        userinfo_encryption: encryption_from_row(
            row,
            "userinfo_encrypted_response_alg",
            "userinfo_encrypted_response_enc",
        )?,
        id_token_claims: decode(row, "clients", "id_token_claims", IdTokenContents::parse)?,
    })
}

/// The formats as audit text, e.g. ` id_token_enc=ECDH-ES/A256GCM userinfo=PS256`.
fn formats_detail(f: &TokenFormats) -> String {
    let mut out = String::new();
    if let Some(e) = f.id_token_encryption {
        out += &format!(" id_token_enc={}/{}", e.alg.as_str(), e.enc.as_str());
    }
    if let Some(a) = f.userinfo_signing {
        out += &format!(" userinfo_alg={}", a.as_str());
    }
    if let Some(e) = f.userinfo_encryption {
        out += &format!(" userinfo_enc={}/{}", e.alg.as_str(), e.enc.as_str());
    }
    if f.id_token_claims != IdTokenContents::Standard {
        out += &format!(" id_token_claims={}", f.id_token_claims.as_str());
    }
    out
}

/// The values of [`FORMAT_COLUMNS`], in that order.
fn format_values(f: &TokenFormats) -> [Option<&'static str>; 6] {
    [
        f.id_token_encryption.map(|e| e.alg.as_str()),
        f.id_token_encryption.map(|e| e.enc.as_str()),
        f.userinfo_signing.map(|a| a.as_str()),
        f.userinfo_encryption.map(|e| e.alg.as_str()),
        f.userinfo_encryption.map(|e| e.enc.as_str()),
        Some(f.id_token_claims.as_str()),
    ]
}

const FORMAT_COLUMNS: [&str; 6] = [
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "id_token_claims",
];

/// The audit event of a client's registration or change: what it may do, never its secret.
pub(crate) fn change_event(kind: &str, c: &NewClient, now: i64) -> crate::AuditEvent {
    crate::AuditEvent::new(kind, "ok", now.saturating_mul(1_000_000))
        .client(&c.id)
        .detail(
            format!(
                "account={} auth={} id_token_alg={} grants=[{}] redirect_uris={}{}",
                c.account.as_str(),
                c.auth_method.as_str(),
                c.id_token_alg.as_str(),
                c.grants.join(" "),
                c.redirect_uris.len(),
                if c.secret_hash.is_some() {
                    " secret"
                } else {
                    ""
                }
            ) + &match &c.ciba {
                Some(ciba) => format!(
                    " ciba={}{}",
                    ciba.mode.as_str(),
                    if ciba.signed_requests { " signed" } else { "" }
                ),
                None => String::new(),
            } + if c.signing_webhook.is_some() {
                " signing_webhook"
            } else {
                ""
            } + if c.dpop_bound_access_tokens {
                " dpop"
            } else {
                ""
            } + if c.par.require_pushed {
                " require_par"
            } else {
                ""
            } + if c.par.require_signed {
                " require_signed_request_object"
            } else {
                ""
            } + c.profile.map_or("", |_| " profile=fapi2")
                + &formats_detail(&c.formats),
        )
}

const COLUMNS: &str = "id, name, secret_hash, redirect_uris, auth_method, jwks, jwks_uri, account, grants, id_token_alg, \
    ciba_mode, ciba_notification_endpoint, ciba_signed_requests, signing_webhook, dpop_bound_access_tokens, post_logout_redirect_uris, created_at, updated_at, \
    require_pushed_authorization_requests, require_signed_request_object, profile, \
    id_token_encrypted_response_alg, id_token_encrypted_response_enc, userinfo_signed_response_alg, \
    userinfo_encrypted_response_alg, userinfo_encrypted_response_enc, id_token_claims";

/// Writes a client's token formats (part of its insert or update transaction).
async fn update_formats(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    formats: &TokenFormats,
) -> Result<()> {
    let sets: Vec<String> = FORMAT_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    let sql = format!("UPDATE clients SET {} WHERE id = $1", sets.join(", "));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
    for v in format_values(formats) {
        q = q.bind(v);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// A query on either backend, as `sqlx::query` makes it.
type Query<'q> = sqlx::query::Query<'q, sqlx::Any, <sqlx::Any as sqlx::Database>::Arguments>;

/// Binds a client's fields as `$1` to `$20`, in the order the insert and the update name them
/// (`$11` is `now`).
fn bind_fields<'q>(q: Query<'q>, c: &'q NewClient, now: i64) -> Query<'q> {
    q.bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(to_json(&c.redirect_uris))
        .bind(c.auth_method.as_str())
        .bind(&c.jwks)
        .bind(&c.jwks_uri)
        .bind(c.account.as_str())
        .bind(to_json(&c.grants))
        .bind(c.id_token_alg.as_str())
        .bind(now)
        .bind(c.ciba.as_ref().map(|r| r.mode.as_str()))
        .bind(
            c.ciba
                .as_ref()
                .and_then(|r| r.notification_endpoint.clone()),
        )
        .bind(i64::from(
            c.ciba.as_ref().is_some_and(|r| r.signed_requests),
        ))
        .bind(&c.signing_webhook)
        .bind(i64::from(c.dpop_bound_access_tokens))
        .bind(to_json(&c.post_logout_redirect_uris))
        .bind(i64::from(c.par.require_pushed))
        .bind(i64::from(c.par.require_signed))
        .bind(c.profile.map(Profile::as_str))
}

/// Inserts a client, its formats included (part of a transaction that also records why).
pub(crate) async fn insert_client_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    c: &NewClient,
    now: i64,
) -> Result<()> {
    let query = sqlx::query(
        "INSERT INTO clients (id, name, secret_hash, redirect_uris, auth_method, jwks, jwks_uri, account, grants, id_token_alg, \
         ciba_mode, ciba_notification_endpoint, ciba_signed_requests, signing_webhook, dpop_bound_access_tokens, post_logout_redirect_uris, created_at, updated_at, \
         require_pushed_authorization_requests, require_signed_request_object, profile) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14, $15, $16, $17, $11, $11, $18, $19, $20)",
    );
    bind_fields(query, c, now).execute(&mut **tx).await?;
    update_formats(tx, &c.id, &c.formats).await?;
    Ok(())
}

impl Store {
    pub async fn insert_client(&self, c: &NewClient, now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_client_in(&mut tx, c, now).await?;
        crate::audit::insert(&mut *tx, &change_event("client.added", c, now)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces every field of an existing client in one statement. Returns `false` when there is
    /// no such client.
    pub async fn update_client(&self, c: &NewClient, now: i64) -> Result<bool> {
        self.update_client_as(c, now, "client.updated").await
    }

    /// [`Store::update_client`], recorded in the audit trail as `kind` (a client replacing its
    /// own registration is not the operator's change).
    pub async fn update_client_as(&self, c: &NewClient, now: i64, kind: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let query = sqlx::query(
            "UPDATE clients SET name = $2, secret_hash = $3, redirect_uris = $4, auth_method = $5, jwks = $6, jwks_uri = $7, \
             account = $8, grants = $9, id_token_alg = $10, updated_at = $11, ciba_mode = $12, ciba_notification_endpoint = $13, \
             ciba_signed_requests = $14, signing_webhook = $15, dpop_bound_access_tokens = $16, post_logout_redirect_uris = $17, \
             require_pushed_authorization_requests = $18, require_signed_request_object = $19, profile = $20 WHERE id = $1",
        );
        let result = bind_fields(query, c, now).execute(&mut *tx).await?;
        if result.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        update_formats(&mut tx, &c.id, &c.formats).await?;
        crate::audit::insert(&mut *tx, &change_event(kind, c, now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The client with this id. An id with a NUL character names no client, on either backend:
    /// ids never contain one, and PostgreSQL, whose text cannot hold one, would refuse the query.
    pub async fn find_client(&self, id: &str) -> Result<Option<ClientRecord>> {
        if id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM clients WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM clients ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Removes a client and everything issued to it. Returns `false` when there was none.
    pub async fn delete_client(&self, id: &str, now: i64) -> Result<bool> {
        self.delete_client_as(id, now, "client.removed").await
    }

    /// [`Store::delete_client`], recorded in the audit trail as `kind`.
    pub async fn delete_client_as(&self, id: &str, now: i64, kind: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM access_tokens WHERE client_id = $1",
            "DELETE FROM refresh_tokens WHERE client_id = $1",
            "DELETE FROM refresh_families WHERE client_id = $1",
            "DELETE FROM authorization_codes WHERE client_id = $1",
            "DELETE FROM login_transactions WHERE client_id = $1",
            "DELETE FROM ciba_requests WHERE client_id = $1",
            "DELETE FROM pushed_requests WHERE client_id = $1",
            "DELETE FROM subject_links WHERE client_id = $1",
            "DELETE FROM sign_prepared WHERE session_id IN (SELECT id FROM sign_sessions WHERE client_id = $1)",
            "DELETE FROM sign_sessions WHERE client_id = $1",
            "DELETE FROM sign_documents WHERE client_id = $1",
            "DELETE FROM sign_collections WHERE client_id = $1",
            "DELETE FROM sign_events WHERE client_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let gone = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let event = crate::AuditEvent::new(kind, "ok", now.saturating_mul(1_000_000)).client(id);
        crate::audit::insert(&mut *tx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl From<StoreError> for std::io::Error {
    fn from(e: StoreError) -> Self {
        std::io::Error::other(e.to_string())
    }
}
