//! The API client's side: documents, document collections, signing sessions and events, with
//! RFC 9457 problems for every refusal.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::signing::{Event, SigningFlow, Stage, State as LifeState};
use passerelle_store::{
    ClientRecord, ORIGIN_UPLOAD, SignDocument, SignEvent, SignSession, StoreError, random_token,
};
use serde_json::{Map, Value, json};

use super::{DEFAULT_DUE, MAX_DUE, MAX_SIGNED_DOCUMENTS, may_sign};
use crate::Broker;
use crate::rest::{Problem, bearer_client, rfc3339};

type Answer = Result<Response, Problem>;

fn answer(r: Answer) -> Response {
    r.unwrap_or_else(IntoResponse::into_response)
}

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut resp = (status, axum::Json(v)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn not_found(what: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "Not Found",
        format!("no such {what} for this API client (unknown, another client's, or expired)"),
    )
}

async fn client(b: &Broker, headers: &HeaderMap) -> Result<ClientRecord, Problem> {
    bearer_client(b, headers, may_sign).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` looks like a MIME type we can keep and serve back (`type/subtype`, no
/// parameters, no multipart).
fn mime_type(headers: &HeaderMap) -> Result<String, Problem> {
    let raw = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                "send the document's bytes as the body with its Content-Type (application/pdf for a PDF)",
            )
        })?;
    let essence = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let ok = essence.len() <= 100
        && essence.split_once('/').is_some_and(|(t, s)| {
            !t.is_empty()
                && !s.is_empty()
                && t != "multipart"
                && essence
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/.+-_".contains(c))
        });
    if !ok || essence == "application/x-www-form-urlencoded" {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            "the Content-Type must be the document's own media type (e.g. application/pdf); forms and multipart bodies are not accepted",
        ));
    }
    Ok(essence)
}

/// A short text field of a JSON object: absent, null, or a string of at most `max` characters
/// with no control characters.
fn text(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, Problem> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(Problem::bad(format!(
            "{key} must be a string of at most {max} characters without control characters"
        ))),
    }
}

/// `filename` from a `Content-Disposition` header, if it has a plain one.
fn disposition_filename(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    let name = v.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.eq_ignore_ascii_case("filename")).then(|| v.trim().trim_matches('"').to_string())
    })?;
    (!name.is_empty()
        && name.len() <= 200
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\'))
    .then_some(name)
}

/// `POST /documents`: the raw bytes, typed by `Content-Type`.
pub(crate) async fn upload(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    match body {
        Ok(body) => answer(upload_document(&b, &headers, &body).await),
        // The body limit (the layer around this API) stopped it: a problem, like every refusal.
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            too_large(b.signing.max_document_bytes).into_response()
        }
        Err(e) => Problem::bad(format!("the body could not be read: {e}")).into_response(),
    }
}

async fn upload_document(b: &Broker, headers: &HeaderMap, body: &[u8]) -> Answer {
    let client = client(b, headers).await?;
    let settings = &b.signing;
    let mime = mime_type(headers)?;
    if body.is_empty() {
        return Err(Problem::bad("the document is empty"));
    }
    if body.len() > settings.max_document_bytes {
        return Err(too_large(settings.max_document_bytes));
    }
    let mut pages = None;
    if mime == "application/pdf" {
        let info = passerelle_sign::pdf::inspect(body)
            .map_err(|e| Problem::bad(format!("this PDF cannot be signed: {e}")))?;
        pages = Some(info.pages);
    }
    let now = b.clock.now();
    let doc = SignDocument {
        id: random_token(18),
        client_id: client.id.clone(),
        mime_type: mime,
        sha256: hex(&passerelle_sign::sha256(body)),
        size: body.len() as i64,
        title: None,
        description: None,
        filename: disposition_filename(headers),
        origin: ORIGIN_UPLOAD.into(),
        source_document_id: None,
        session_id: None,
        downloaded_at: None,
        created_at: now,
        expires_at: now + settings.document_lifetime,
    };
    b.store.insert_sign_document(&doc, body).await?;
    tracing::info!(client.id = %client.id, sign.document = %&doc.id[..8], size = doc.size, "document uploaded");
    let mut v = document_view(&doc);
    if let Some(p) = pages {
        v["pages"] = json!(p);
    }
    Ok(json_response(StatusCode::CREATED, v))
}

pub(crate) fn too_large(max: usize) -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload Too Large",
        format!("a document may have at most {max} bytes"),
    )
}

fn document_view(d: &SignDocument) -> Value {
    let mut v = json!({
        "documentId": d.id,
        "createdAt": rfc3339(d.created_at),
        "expiresAt": rfc3339(d.expires_at),
        "mimeType": d.mime_type,
        "size": d.size,
        "documentHash": {"algorithm": "SHA-256", "value": d.sha256},
        "origin": d.origin,
    });
    if let Some(s) = &d.source_document_id {
        v["originalDocumentId"] = json!(s);
    }
    if let Some(s) = &d.session_id {
        v["signingSessionId"] = json!(s);
    }
    if let Some(t) = d.downloaded_at {
        v["downloadedAt"] = json!(rfc3339(t));
    }
    v
}

fn metadata_view(d: &SignDocument) -> Value {
    let mut v = document_view(d);
    v["title"] = json!(d.title);
    v["description"] = json!(d.description);
    v["filename"] = json!(d.filename);
    v
}

/// `GET /documents/{id}`: the bytes. A signed result's first download starts its retention.
pub(crate) async fn download(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(download_document(&b, &id, &headers).await)
}

async fn download_document(b: &Broker, id: &str, headers: &HeaderMap) -> Answer {
    let client = client(b, headers).await?;
    let now = b.clock.now();
    let doc = b
        .store
        .find_sign_document(id, &client.id, now)
        .await?
        .ok_or_else(|| not_found("document"))?;
    let content = b
        .store
        .sign_document_content(id, &client.id, now)
        .await?
        .ok_or_else(|| not_found("document"))?;
    if doc.origin != ORIGIN_UPLOAD {
        b.store
            .mark_sign_document_downloaded(&doc, now, b.signing.retention_after_download)
            .await?;
    }
    let disposition = format!(
        "attachment; filename=\"{}\"",
        download_name(&doc).replace('"', "")
    );
    let mut resp = (StatusCode::OK, content).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&doc.mime_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(resp)
}

/// The file name a document is downloaded under.
pub(crate) fn download_name(d: &SignDocument) -> String {
    let base = d
        .filename
        .clone()
        .filter(|f| f.is_ascii())
        .unwrap_or_else(|| format!("document-{}", &d.id[..8.min(d.id.len())]));
    match (d.origin.as_str(), d.mime_type.as_str()) {
        ("signed", "application/pdf") => match base.strip_suffix(".pdf") {
            Some(stem) => format!("{stem}-signed.pdf"),
            None => format!("{base}-signed.pdf"),
        },
        ("signed", _) => format!("{base}.p7s"),
        _ => base,
    }
}

pub(crate) async fn delete_document(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(delete_doc(&b, &id, &headers).await)
}

async fn delete_doc(b: &Broker, id: &str, headers: &HeaderMap) -> Answer {
    let client = client(b, headers).await?;
    let now = b.clock.now();
    b.store
        .find_sign_document(id, &client.id, now)
        .await?
        .ok_or_else(|| not_found("document"))?;
    if b.store
        .sign_document_in_open_session(&client.id, id)
        .await?
    {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "Conflict",
            "an unfinished signing session uses this document; delete the session first",
        ));
    }
    if !b.store.delete_sign_document(id, &client.id).await? {
        return Err(not_found("document"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn metadata(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let doc = b
                .store
                .find_sign_document(&id, &client.id, b.clock.now())
                .await?
                .ok_or_else(|| not_found("document"))?;
            Ok(json_response(StatusCode::OK, metadata_view(&doc)))
        }
        .await,
    )
}

pub(crate) async fn patch_metadata(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let mut doc = b
                .store
                .find_sign_document(&id, &client.id, b.clock.now())
                .await?
                .ok_or_else(|| not_found("document"))?;
            let obj = json_object(&body)?;
            only_keys(&obj, &["title", "description", "filename", "mimeType"])?;
            if obj.contains_key("title") {
                doc.title = text(&obj, "title", 200)?;
            }
            if obj.contains_key("description") {
                doc.description = text(&obj, "description", 1000)?;
            }
            if obj.contains_key("filename") {
                doc.filename =
                    text(&obj, "filename", 200)?.filter(|f| !f.contains('/') && !f.contains('\\'));
            }
            if let Some(m) = text(&obj, "mimeType", 100)?
                && m != doc.mime_type
            {
                return Err(Problem::bad(
                    "mimeType cannot change: upload the document again with its type",
                ));
            }
            b.store.update_sign_document_metadata(&doc).await?;
            Ok(json_response(StatusCode::OK, metadata_view(&doc)))
        }
        .await,
    )
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(Problem::bad("the body must be a JSON object")),
        Err(e) => Err(Problem::bad(format!("the body must be JSON: {e}"))),
    }
}

fn only_keys(obj: &Map<String, Value>, known: &[&str]) -> Result<(), Problem> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Problem::bad(format!(
            "{k} is not supported here (supported: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// `POST /document-collections`: documents signed together.
pub(crate) async fn create_collection(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let obj = json_object(&body)?;
            only_keys(&obj, &["id", "documents", "packageTo"])?;
            let package_to = match obj.get("packageTo") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(p)) if p.iter().all(|x| x == super::seal::PADES_CONTAINER) => {
                    p.iter().take(1).cloned().collect()
                }
                Some(_) => {
                    return Err(Problem::bad(
                        "packageTo may only be [\"PADES_CONTAINER\"] (the collection's signed documents in one sealed PDF)",
                    ));
                }
            };
            let docs = obj
                .get("documents")
                .and_then(Value::as_array)
                .filter(|d| !d.is_empty() && d.len() <= MAX_SIGNED_DOCUMENTS)
                .ok_or_else(|| {
                    Problem::bad(format!(
                        "documents must list 1 to {MAX_SIGNED_DOCUMENTS} documents"
                    ))
                })?;
            let now = b.clock.now();
            let mut listed = Vec::new();
            let mut seen = HashSet::new();
            for (i, d) in docs.iter().enumerate() {
                let d = d
                    .as_object()
                    .ok_or_else(|| Problem::bad(format!("documents[{i}] must be an object")))?;
                only_keys(d, &["documentId", "description"])?;
                let id = d
                    .get("documentId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Problem::bad(format!("documents[{i}].documentId is required")))?;
                let doc = b
                    .store
                    .find_sign_document(id, &client.id, now)
                    .await?
                    .filter(|d| d.origin == ORIGIN_UPLOAD)
                    .ok_or_else(|| {
                        Problem::bad(format!(
                            "documents[{i}].documentId names no uploaded document of this client"
                        ))
                    })?;
                if !seen.insert(doc.id.clone()) {
                    return Err(Problem::bad(format!("documents[{i}] repeats a document")));
                }
                let mut entry = json!({"documentId": doc.id});
                if let Some(desc) = text(d, "description", 1000)? {
                    entry["description"] = json!(desc);
                }
                listed.push(entry);
            }
            let id = random_token(18);
            let body = json!({"documents": listed, "packageTo": package_to}).to_string();
            b.store
                .insert_sign_collection(&id, &client.id, &body, now, now + b.signing.document_lifetime)
                .await?;
            Ok(json_response(
                StatusCode::CREATED,
                json!({"id": id, "documents": listed, "packageTo": package_to, "createdAt": rfc3339(now)}),
            ))
        }
        .await,
    )
}

pub(crate) async fn read_collection(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let (body, created) = b
                .store
                .find_sign_collection(&id, &client.id, b.clock.now())
                .await?
                .ok_or_else(|| not_found("document collection"))?;
            let body: Value = serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("sign_collections.body: {e}")))?;
            let mut out = json!({
                "id": id,
                "documents": body["documents"],
                "packageTo": body.get("packageTo").cloned().unwrap_or(json!([])),
                "createdAt": rfc3339(created),
            });
            if let Some(p) = body["package"].as_str().filter(|p| *p != "pending") {
                out["output"] = json!({"packages": [{"packageId": id, "packageType": super::seal::PADES_CONTAINER, "resultDocumentId": p}]});
            }
            Ok(json_response(StatusCode::OK, out))
        }
        .await,
    )
}

pub(crate) async fn delete_collection(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            if !b.store.delete_sign_collection(&id, &client.id).await? {
                return Err(not_found("document collection"));
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

/// The public base of the signing API (`<public URL>/sign`).
pub(crate) fn sign_base(b: &Broker) -> String {
    match b.issuer.strip_suffix("/auth/open") {
        Some(base) => format!("{base}/sign"),
        None => format!("{}/../../sign", b.issuer),
    }
}

/// Signicat's event envelope for a session's change.
pub(crate) fn event(b: &Broker, s: &SignSession, what: Event, state: LifeState) -> SignEvent {
    let now_micros = b.clock.now_micros();
    let now = now_micros / 1_000_000;
    let id = random_token(16);
    let request: Value = serde_json::from_str(&s.request).unwrap_or_default();
    let expires_at = now + 7 * 86_400;
    let payload = json!({
        "id": id,
        "timestamp": rfc3339(now),
        "sender": "signature-api",
        "eventName": what.as_str(),
        "eventData": {
            "signingSessionId": s.id,
            "externalReference": request.get("externalReference"),
            "state": state.as_str(),
        },
        "accountId": s.client_id,
        "expiresAt": rfc3339(expires_at),
        "tags": [],
    });
    SignEvent {
        id,
        seq: now_micros,
        client_id: s.client_id.clone(),
        session_id: s.id.clone(),
        name: what.as_str().into(),
        payload: payload.to_string(),
        created_at: now,
        delivered_at: None,
        attempts: 0,
        next_attempt_at: Some(now),
        expires_at,
    }
}

/// `POST /signing-sessions`: an array of sessions, created together or not at all.
pub(crate) async fn create_sessions(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(create(&b, &headers, &body).await)
}

async fn create(b: &Broker, headers: &HeaderMap, body: &[u8]) -> Answer {
    let client = client(b, headers).await?;
    let items = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(a)) if !a.is_empty() && a.len() <= 20 => a,
        Ok(_) => {
            return Err(Problem::bad(
                "the body must be an array of 1 to 20 signing sessions",
            ));
        }
        Err(e) => return Err(Problem::bad(format!("the body must be JSON: {e}"))),
    };
    let now = b.clock.now();
    let mut sessions = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let obj = item
            .as_object()
            .ok_or_else(|| Problem::bad(format!("[{i}] must be an object")))?;
        let s = new_session(b, &client, obj, now)
            .await
            .map_err(|p| Problem::new(p.status, p.title, format!("[{i}]: {}", p.detail)))?;
        sessions.push(s);
    }
    let events: Vec<SignEvent> = sessions
        .iter()
        .map(|s| event(b, s, Event::Created, LifeState::Ready))
        .collect();
    for s in &sessions {
        for doc in signed_document_ids(s) {
            b.store
                .extend_sign_document(&doc, s.expires_at + 86_400)
                .await?;
        }
    }
    b.store.insert_sign_sessions(&sessions, &events).await?;
    tracing::info!(client.id = %client.id, sessions = sessions.len(), "signing sessions created");
    let mut out = Vec::new();
    for s in &sessions {
        out.push(session_view(b, s, now).await?);
    }
    Ok(json_response(StatusCode::CREATED, Value::Array(out)))
}

/// The ids of the documents a session signs, in order.
pub(crate) fn signed_document_ids(s: &SignSession) -> Vec<String> {
    let request: Value = serde_json::from_str(&s.request).unwrap_or_default();
    request["documents"]
        .as_array()
        .map(|docs| {
            docs.iter()
                .filter(|d| d["action"] == "SIGN")
                .filter_map(|d| d["documentId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const SESSION_KEYS: &[&str] = &[
    "title",
    "documents",
    "signingSetup",
    "signer",
    "redirectSettings",
    "externalReference",
    "dueDate",
    "subsequentTo",
    "senderDisplayName",
    "signText",
    "ui",
    "packageTo",
    "preAuthentication",
];

async fn new_session(
    b: &Broker,
    client: &ClientRecord,
    obj: &Map<String, Value>,
    now: i64,
) -> Result<SignSession, Problem> {
    only_keys(obj, SESSION_KEYS)?;
    let title = text(obj, "title", 200)?.unwrap_or_else(|| "Documents".into());
    if obj
        .get("packageTo")
        .is_some_and(|p| p != &json!([]) && !p.is_null())
    {
        return Err(Problem::bad("packageTo is not offered yet"));
    }
    if obj
        .get("preAuthentication")
        .is_some_and(|p| p["enabled"] == true)
    {
        return Err(Problem::bad(
            "preAuthentication is not offered: the signer identifies with itsme while signing",
        ));
    }
    // Documents: each SIGN or VIEW, by id or through a collection.
    let entries = obj
        .get("documents")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Problem::bad("documents must list at least one document"))?;
    let mut documents = Vec::new();
    let mut seen = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let e = e
            .as_object()
            .ok_or_else(|| Problem::bad(format!("documents[{i}] must be an object")))?;
        only_keys(e, &["action", "documentId", "documentCollectionId"])?;
        let action = match e.get("action") {
            None | Some(Value::Null) => "SIGN",
            Some(Value::String(a)) if a == "SIGN" => "SIGN",
            Some(Value::String(a)) if a == "VIEW" => "VIEW",
            Some(_) => {
                return Err(Problem::bad(format!(
                    "documents[{i}].action must be SIGN or VIEW"
                )));
            }
        };
        let mut ids = Vec::new();
        match (
            e.get("documentId").and_then(Value::as_str),
            e.get("documentCollectionId").and_then(Value::as_str),
        ) {
            (Some(id), None) => ids.push((id.to_string(), None)),
            (None, Some(c)) => {
                let (body, _) = b
                    .store
                    .find_sign_collection(c, &client.id, now)
                    .await?
                    .ok_or_else(|| {
                        Problem::bad(format!(
                            "documents[{i}].documentCollectionId names no collection of this client"
                        ))
                    })?;
                let body: Value = serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("sign_collections.body: {e}")))?;
                for d in body["documents"].as_array().into_iter().flatten() {
                    if let Some(id) = d["documentId"].as_str() {
                        ids.push((id.to_string(), Some(c.to_string())));
                    }
                }
            }
            _ => {
                return Err(Problem::bad(format!(
                    "documents[{i}] needs either documentId or documentCollectionId"
                )));
            }
        }
        for (id, collection) in ids {
            let doc = b
                .store
                .find_sign_document(&id, &client.id, now)
                .await?
                .filter(|d| d.origin == ORIGIN_UPLOAD)
                .ok_or_else(|| {
                    Problem::bad(format!(
                        "documents[{i}] names a document that is not an uploaded document of this client"
                    ))
                })?;
            if !seen.insert(doc.id.clone()) {
                return Err(Problem::bad(format!("documents[{i}] repeats a document")));
            }
            let mut entry = json!({"action": action, "documentId": doc.id});
            if let Some(c) = collection {
                entry["documentCollectionId"] = json!(c);
            }
            documents.push(entry);
        }
    }
    let signed = documents.iter().filter(|d| d["action"] == "SIGN").count();
    if signed == 0 {
        return Err(Problem::bad(
            "at least one document must have the action SIGN",
        ));
    }
    if signed > MAX_SIGNED_DOCUMENTS {
        return Err(Problem::bad(format!(
            "a session signs at most {MAX_SIGNED_DOCUMENTS} documents (itsme signs that many in one approval)"
        )));
    }
    // The flow, with itsme as the identity provider.
    let setup = obj
        .get("signingSetup")
        .and_then(Value::as_array)
        .filter(|s| s.len() == 1)
        .and_then(|s| s[0].as_object())
        .ok_or_else(|| {
            Problem::bad(
                "signingSetup must hold exactly one entry {signingFlow, identityProviders}",
            )
        })?;
    only_keys(
        setup,
        &[
            "signingFlow",
            "identityProviders",
            "additionalParameters",
            "vendor",
        ],
    )?;
    let flow = setup
        .get("signingFlow")
        .and_then(Value::as_str)
        .and_then(SigningFlow::from_api_name)
        .ok_or_else(|| {
            Problem::bad(
                "signingSetup[0].signingFlow must be PKISIGNING (a qualified signature with itsme) or AUTHENTICATION_BASED (an advanced signature after an itsme identification)",
            )
        })?;
    if let Some(v) = setup.get("vendor").filter(|v| !v.is_null()) {
        return Err(Problem::bad(format!(
            "signingSetup[0].vendor {v} is not offered; the qualified signature is itsme's"
        )));
    }
    if let Some(idps) = setup.get("identityProviders") {
        let names: Vec<&str> = idps
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["idpName"].as_str()).collect())
            .unwrap_or_default();
        if names.is_empty() || names.iter().any(|n| *n != "itsme") {
            return Err(Problem::bad(
                "signingSetup[0].identityProviders must be [{\"idpName\": \"itsme\"}]",
            ));
        }
    }
    // Fail closed, and say so now rather than to the signer: this deployment must be able to
    // make the signature for this client's scheme.
    let offered = b.scheme_for_account(client.account).is_some_and(|scheme| {
        let conf = b.signing.for_scheme(scheme);
        conf.tsa_url.is_some()
            && match flow {
                SigningFlow::Qualified => conf.csc.is_some(),
                SigningFlow::Advanced => conf.seal.is_some() || conf.test_seal,
            }
    });
    if !offered {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{} signatures are not configured on this Passerelle for this client's account (the operator sets [itsme] csc_base_url for PKISIGNING, [signing] seal_key_file for AUTHENTICATION_BASED, and [signing] tsa_url)",
                flow.api_name()
            ),
        ));
    }
    // Where the signer's browser goes at the end: registered redirect URIs, exactly.
    let redirect = obj
        .get("redirectSettings")
        .and_then(Value::as_object)
        .ok_or_else(|| Problem::bad("redirectSettings {success, cancel, error} is required"))?;
    only_keys(redirect, &["success", "cancel", "error"])?;
    let mut redirects = Map::new();
    for key in ["success", "cancel", "error"] {
        let url = redirect
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::bad(format!("redirectSettings.{key} is required")))?;
        if !client.redirect_uris.iter().any(|r| r == url) {
            return Err(Problem::bad(format!(
                "redirectSettings.{key} must be one of the client's registered redirect URIs, exactly"
            )));
        }
        redirects.insert(key.into(), json!(url));
    }
    // Who must sign.
    let mut signer_nin = None;
    let mut signer_out = Map::new();
    if let Some(signer) = obj.get("signer").filter(|s| !s.is_null()) {
        let signer = signer
            .as_object()
            .ok_or_else(|| Problem::bad("signer must be an object"))?;
        only_keys(
            signer,
            &[
                "email",
                "mobile",
                "nationalIdentificationNumber",
                "validations",
            ],
        )?;
        signer_nin = text(signer, "nationalIdentificationNumber", 64)?;
        if let Some(n) = &signer_nin {
            if !n.chars().any(|c| c.is_ascii_alphanumeric()) {
                return Err(Problem::bad("signer.nationalIdentificationNumber is empty"));
            }
            signer_out.insert("nationalIdentificationNumber".into(), json!(n));
        }
        for key in ["email", "mobile"] {
            if let Some(v) = text(signer, key, 200)? {
                signer_out.insert(key.into(), json!(v));
            }
        }
        if let Some(v) = signer.get("validations").filter(|v| !v.is_null()) {
            let ok = v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x == "NATIONAL_IDENTIFICATION_NUMBER"));
            if !ok {
                return Err(Problem::bad(
                    "signer.validations may only hold NATIONAL_IDENTIFICATION_NUMBER",
                ));
            }
            if signer_nin.is_none() && !v.as_array().is_some_and(Vec::is_empty) {
                return Err(Problem::bad(
                    "signer.validations NATIONAL_IDENTIFICATION_NUMBER needs signer.nationalIdentificationNumber",
                ));
            }
            signer_out.insert("validations".into(), v.clone());
        }
    }
    // An advanced signature learns the national number from the identification: the client
    // must be allowed that attribute.
    if flow == SigningFlow::Advanced
        && signer_nin.is_some()
        && client.account != passerelle_core::scopes::Account::Sandbox
        && !client.grants.iter().any(|g| g == "nin")
    {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "checking the signer's national number in an AUTHENTICATION_BASED session needs the nin grant (`passerelle client update CLIENT_ID --grant nin`)",
        ));
    }
    let due = match obj.get("dueDate") {
        None | Some(Value::Null) => now + DEFAULT_DUE,
        Some(Value::String(d)) => {
            let t = time::OffsetDateTime::parse(d, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Problem::bad("dueDate must be an RFC 3339 date-time"))?
                .unix_timestamp();
            if t <= now || t > now + MAX_DUE {
                return Err(Problem::bad(
                    "dueDate must be in the future and at most 30 days away",
                ));
            }
            t
        }
        Some(_) => return Err(Problem::bad("dueDate must be an RFC 3339 date-time")),
    };
    let mut subsequent = Vec::new();
    if let Some(v) = obj.get("subsequentTo").filter(|v| !v.is_null()) {
        let ids = v
            .as_array()
            .filter(|a| a.len() <= 20)
            .ok_or_else(|| Problem::bad("subsequentTo must be an array of session ids"))?;
        for id in ids {
            let id = id
                .as_str()
                .ok_or_else(|| Problem::bad("subsequentTo must be an array of session ids"))?;
            b.store
                .find_sign_session(id)
                .await?
                .filter(|s| s.client_id == client.id)
                .ok_or_else(|| Problem::bad("subsequentTo names no session of this client"))?;
            subsequent.push(json!(id));
        }
    }
    if let Some(ui) = obj.get("ui").filter(|u| !u.is_null()) {
        let ui = ui
            .as_object()
            .ok_or_else(|| Problem::bad("ui must be an object {language}"))?;
        only_keys(ui, &["language"])?;
    }
    if obj
        .get("preAuthentication")
        .is_some_and(|p| !p.is_null() && !p.is_object())
    {
        return Err(Problem::bad(
            "preAuthentication must be an object {enabled}",
        ));
    }
    let language = match obj.get("ui").and_then(|u| u.get("language")) {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if matches!(l.as_str(), "en" | "nl" | "fr" | "de") => {
            Some(l.clone())
        }
        Some(_) => return Err(Problem::bad("ui.language must be en, nl, fr or de")),
    };
    let mut request = Map::new();
    request.insert("title".into(), json!(title));
    request.insert("documents".into(), Value::Array(documents));
    request.insert(
        "signingSetup".into(),
        json!([{"signingFlow": flow.api_name(), "identityProviders": [{"idpName": "itsme"}]}]),
    );
    if !signer_out.is_empty() {
        request.insert("signer".into(), Value::Object(signer_out));
    }
    request.insert("redirectSettings".into(), Value::Object(redirects));
    for key in ["externalReference", "senderDisplayName", "signText"] {
        if let Some(v) = text(obj, key, if key == "signText" { 1000 } else { 200 })? {
            request.insert(key.into(), json!(v));
        }
    }
    if !subsequent.is_empty() {
        request.insert("subsequentTo".into(), Value::Array(subsequent));
    }
    if let Some(l) = language {
        request.insert("ui".into(), json!({"language": l}));
    }
    Ok(SignSession {
        id: random_token(18),
        client_id: client.id.clone(),
        flow,
        state: LifeState::Ready,
        stage: Stage::Waiting,
        request: Value::Object(request).to_string(),
        output: None,
        signer_nin,
        step_hash: None,
        browser_hash: None,
        upstream: None,
        created_at: now,
        updated_at: now,
        expires_at: due,
    })
}

/// The lifecycle state a reader sees: `BLOCKED` while a session it follows is unsigned,
/// `EXPIRED` once its due date passed unsigned.
pub(crate) async fn visible_state(
    b: &Broker,
    s: &SignSession,
    now: i64,
) -> Result<LifeState, StoreError> {
    if s.state != LifeState::Ready {
        return Ok(s.state);
    }
    if s.expires_at <= now && s.stage != Stage::Signing {
        return Ok(LifeState::Expired);
    }
    let request: Value = serde_json::from_str(&s.request).unwrap_or_default();
    for id in request["subsequentTo"].as_array().into_iter().flatten() {
        if let Some(id) = id.as_str() {
            let before = b.store.find_sign_session(id).await?;
            if before.is_none_or(|p| p.state != LifeState::Signed) {
                return Ok(LifeState::Blocked);
            }
        }
    }
    Ok(LifeState::Ready)
}

pub(crate) async fn session_view(b: &Broker, s: &SignSession, now: i64) -> Result<Value, Problem> {
    let state = visible_state(b, s, now).await?;
    let mut v: Map<String, Value> = serde_json::from_str(&s.request)
        .map_err(|e| StoreError::Corrupt(format!("sign_sessions.request: {e}")))?;
    v.insert("id".into(), json!(s.id));
    v.insert("accountId".into(), json!(s.client_id));
    v.insert(
        "signatureUrl".into(),
        json!(format!("{}/signer/{}", sign_base(b), s.id)),
    );
    v.insert(
        "lifecycle".into(),
        json!({"state": state.as_str(), "stateIsFinal": state.is_final()}),
    );
    v.insert("dueDate".into(), json!(rfc3339(s.expires_at)));
    v.insert("createdAt".into(), json!(rfc3339(s.created_at)));
    v.insert("updatedAt".into(), json!(rfc3339(s.updated_at)));
    let output = match &s.output {
        Some(o) => serde_json::from_str(o)
            .map_err(|e| StoreError::Corrupt(format!("sign_sessions.output: {e}")))?,
        None => json!({"signatures": [], "packages": []}),
    };
    v.insert("output".into(), output);
    Ok(Value::Object(v))
}

#[derive(serde::Deserialize)]
pub(crate) struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
    sort: Option<String>,
}

pub(crate) async fn list_sessions(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let limit = page.limit.unwrap_or(50);
            let offset = page.offset.unwrap_or(0);
            if !(1..=200).contains(&limit) || !(0..=100_000).contains(&offset) {
                return Err(Problem::bad("limit must be 1 to 200 and offset 0 or more"));
            }
            if page.sort.as_deref().is_some_and(|s| s != "-createdAt") {
                return Err(Problem::bad("sort may only be -createdAt"));
            }
            let now = b.clock.now();
            let mut out = Vec::new();
            for s in b
                .store
                .list_sign_sessions(&client.id, limit, offset)
                .await?
            {
                out.push(session_view(&b, &s, now).await?);
            }
            Ok(json_response(
                StatusCode::OK,
                json!({"data": out, "limit": limit, "offset": offset}),
            ))
        }
        .await,
    )
}

async fn own_session(b: &Broker, client: &ClientRecord, id: &str) -> Result<SignSession, Problem> {
    b.store
        .find_sign_session(id)
        .await?
        .filter(|s| s.client_id == client.id)
        .ok_or_else(|| not_found("signing session"))
}

pub(crate) async fn read_session(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let s = own_session(&b, &client, &id).await?;
            Ok(json_response(
                StatusCode::OK,
                session_view(&b, &s, b.clock.now()).await?,
            ))
        }
        .await,
    )
}

pub(crate) async fn delete_session(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let s = own_session(&b, &client, &id).await?;
            let e = event(&b, &s, Event::Deleted, s.state);
            if !b
                .store
                .delete_sign_session(&id, &client.id, Some(&e))
                .await?
            {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "Conflict",
                    "the signer is signing this session right now; try again in a moment",
                ));
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

#[derive(serde::Deserialize)]
pub(crate) struct EventsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

/// `GET /events?after=SEQ`: the client's events after a cursor, oldest first (what its webhook
/// receives, for polling).
pub(crate) async fn events(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    answer(
        async {
            let client = client(&b, &headers).await?;
            let limit = q.limit.unwrap_or(100);
            if !(1..=500).contains(&limit) {
                return Err(Problem::bad("limit must be 1 to 500"));
            }
            let after = q.after.unwrap_or(0);
            let events = b
                .store
                .list_sign_events(&client.id, after, limit, b.clock.now())
                .await?;
            let next = events.last().map_or(after, |e| e.seq);
            let data: Vec<Value> = events
                .iter()
                .map(|e| {
                    let mut v: Value = serde_json::from_str(&e.payload).unwrap_or_default();
                    v["seq"] = json!(e.seq);
                    v
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                json!({"data": data, "next": next}),
            ))
        }
        .await,
    )
}

/// `GET /seal/chain.pem`: the certificate chain of the seal on sandbox clients' advanced
/// signatures (TEST ONLY), for validators to trust. Public, like any CA certificate.
pub(crate) async fn seal_chain(State(b): State<Arc<Broker>>) -> Response {
    match super::seal::seal_for(&b, passerelle_core::login::Scheme::Sandbox).await {
        Ok(seal) => {
            let pem: String = seal
                .chain
                .iter()
                .map(|c| passerelle_sign::ca::to_pem(c))
                .collect();
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/x-pem-file"),
                    (header::CACHE_CONTROL, "public, max-age=300"),
                ],
                pem,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot make the sandbox seal");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "the seal's certificates are not available right now",
            )
            .into_response()
        }
    }
}
