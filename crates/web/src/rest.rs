//! The Authentication REST API beside OIDC, shaped like Signicat's (`<base>/auth/rest`): an API
//! client gets a bearer token with the client-credentials grant (scope `signicat-api`), creates
//! a session (`POST /sessions`), sends the person's browser to its `authenticationUrl`, and reads
//! the result (`GET /sessions/{id}`): a status and the person as a camelCase `subject`.
//!
//! A session's login is an ordinary login at the scheme whose channel is
//! `core::login::Channel::RestSession`: the callback writes its result into the session instead
//! of issuing a code, and sends the browser to the session's callback URL. The subject is kept
//! until the API client reads it (once) or the session expires.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_core::login::{Acr, Channel, Failure, Scheme};
use passerelle_core::oidc::{ErrorCode, Params, ResponseMode};
use passerelle_core::rest::{self, API_SCOPE, Flow, SessionStatus};
use passerelle_core::scopes::{Account, GrantedScopes};
use passerelle_store::{
    ApiToken, ClientRecord, LoginTransaction, RestSession, StoreError, random_token, token_hash,
};
use serde_json::{Map, Value, json};

use crate::authorize::{NotSent, ToScheme, send_to_scheme, translator};
use crate::{Broker, BrokerError};

/// How long a session lives when the API client does not say (seconds), and the bounds.
const DEFAULT_LIFETIME: i64 = 600;
const LIFETIMES: std::ops::RangeInclusive<i64> = 60..=3600;

/// The API's routes, relative to its base (mount them under `/auth/rest`).
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/sessions", post(create))
        .route("/sessions/{id}", get(read))
        .route("/sessions/{id}/start", get(start))
        .with_state(broker)
}

/// An RFC 9457 problem, the API's error shape (the signing API's too).
pub(crate) struct Problem {
    pub(crate) status: StatusCode,
    pub(crate) title: &'static str,
    pub(crate) detail: String,
}

impl Problem {
    pub(crate) fn new(
        status: StatusCode,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            title,
            detail: detail.into(),
        }
    }

    pub(crate) fn bad(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }

    fn not_found() -> Problem {
        Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no such session for this API client (unknown, another client's, or expired over an hour ago)",
        )
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "the database is unavailable; answered 503");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service Unavailable",
                "the service is temporarily unavailable; try again in a few seconds",
            )
        } else {
            tracing::error!(error = %e, "REST API internal error");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "an internal error occurred",
            )
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match self.status {
            StatusCode::UNAUTHORIZED => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        resp
    }
}

/// Whether a client may use the API: sandbox accounts may, production ones when the operator
/// granted `signicat-api`.
pub(crate) fn may_use_api(client: &ClientRecord) -> bool {
    client.account == Account::Sandbox || client.grants.iter().any(|g| g == API_SCOPE)
}

/// Whether a client may get an API token: for this API, or for the signing API.
fn may_get_api_token(client: &ClientRecord) -> bool {
    may_use_api(client) || crate::signing::may_sign(client)
}

/// The client-credentials grant (RFC 6749 §4.4) for an authenticated client: an API token.
pub(crate) async fn client_credentials(
    b: &Broker,
    client: &ClientRecord,
    form: &Params,
) -> Result<Response, BrokerError> {
    if !may_get_api_token(client) {
        return Err(BrokerError::token(
            ErrorCode::UnauthorizedClient,
            "this client may not use the Authentication REST API or the signing API; the operator grants them with `passerelle client update CLIENT_ID --grant signicat-api` or `--grant signing`",
        ));
    }
    let scope = form.get("scope").unwrap_or(API_SCOPE);
    if scope.split(' ').any(|s| !s.is_empty() && s != API_SCOPE) {
        return Err(BrokerError::token(
            ErrorCode::InvalidScope,
            "the client-credentials grant gives only the scope signicat-api",
        ));
    }
    let now = b.clock.now();
    let token = random_token(32);
    b.store
        .insert_api_token(&ApiToken {
            token_hash: token_hash(&token),
            client_id: client.id.clone(),
            scope: API_SCOPE.into(),
            created_at: now,
            expires_at: now + b.lifetimes.access_token,
        })
        .await?;
    tracing::info!(client.id = %client.id, "API token issued");
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": b.lifetimes.access_token,
            "scope": API_SCOPE,
        })),
    )
        .into_response())
}

/// The API client behind a request's bearer token, still allowed to use the API.
async fn api_client(b: &Broker, headers: &HeaderMap) -> Result<ClientRecord, Problem> {
    bearer_client(b, headers, may_use_api).await
}

/// The client behind a request's bearer token (from the client-credentials grant), if `allowed`
/// still lets it use the API it calls.
pub(crate) async fn bearer_client(
    b: &Broker,
    headers: &HeaderMap,
    allowed: fn(&ClientRecord) -> bool,
) -> Result<ClientRecord, Problem> {
    let unauthorized =
        |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
        .map(|(_, t)| t.trim().to_string())
        .ok_or_else(|| {
            unauthorized(
                "send a bearer token from the client-credentials grant (scope signicat-api)",
            )
        })?;
    let now = b.clock.now();
    let record = b
        .store
        .find_api_token(&token_hash(&token), now)
        .await?
        .ok_or_else(|| unauthorized("the bearer token is unknown or expired"))?;
    let client = b
        .store
        .find_client(&record.client_id)
        .await?
        .filter(allowed)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this client may not use this API (the operator grants it per client)",
            )
        })?;
    Ok(client)
}

pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `url` with `sessionId` appended, as Signicat's callback URLs are.
pub(crate) fn with_session(url: &str, id: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("sessionId", id);
            u.into()
        }
        Err(_) => url.to_string(),
    }
}

/// The session as the API shows it (without its subject).
fn view(b: &Broker, s: &RestSession, now: i64) -> Map<String, Value> {
    let status = if s.status == SessionStatus::Created && s.expires_at <= now {
        SessionStatus::Expired
    } else {
        s.status
    };
    let callbacks: Value = serde_json::from_str(&s.callback_urls).unwrap_or(json!({}));
    let callbacks: Map<String, Value> = callbacks
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), json!(with_session(v.as_str()?, &s.id)))))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Map::new();
    out.insert("id".into(), json!(s.id));
    out.insert("accountId".into(), json!(s.client_id));
    out.insert("status".into(), json!(status.as_str()));
    out.insert("flow".into(), json!(s.flow.as_str()));
    out.insert("allowedProviders".into(), json!(["itsme"]));
    out.insert(
        "requestedAttributes".into(),
        serde_json::from_str(&s.requested_attributes).unwrap_or(json!([])),
    );
    out.insert("requestedLoa".into(), json!(s.requested_loa));
    out.insert("callbackUrls".into(), Value::Object(callbacks));
    out.insert("sessionLifetime".into(), json!(s.expires_at - s.created_at));
    out.insert("expiresAt".into(), json!(rfc3339(s.expires_at)));
    if s.flow == Flow::Headless && status == SessionStatus::Created {
        let up: Value = s
            .upstream
            .as_deref()
            .and_then(|u| serde_json::from_str(u).ok())
            .unwrap_or_default();
        let mut headless = Map::new();
        if up["stage"] == "discovery" {
            headless.insert("stage".into(), json!("SCAN"));
            if let Some(qr) = up["qr"].as_str() {
                headless.insert("qrCode".into(), json!(data_uri(qr)));
            }
            if let Some(at) = up["qr_expires_at"].as_str() {
                headless.insert("qrExpiresAt".into(), json!(at));
            }
            if let Some(link) = up["link"].as_str() {
                headless.insert("appLink".into(), json!(link));
            }
        } else {
            headless.insert("stage".into(), json!("APPROVE"));
        }
        headless.insert(
            "pollInterval".into(),
            json!(up["interval"].as_i64().unwrap_or(5)),
        );
        out.insert("headless".into(), Value::Object(headless));
    }
    if s.flow == Flow::Redirect && status == SessionStatus::Created {
        out.insert(
            "authenticationUrl".into(),
            json!(format!("{}/sessions/{}/start", b.rest_base(), s.id)),
        );
    }
    out
}

/// `POST /sessions`.
async fn create(State(b): State<Arc<Broker>>, headers: HeaderMap, body: Bytes) -> Response {
    create_session(&b, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn create_session(b: &Broker, headers: &HeaderMap, body: &[u8]) -> Result<Response, Problem> {
    let client = api_client(b, headers).await?;
    let req: Value = serde_json::from_slice(body)
        .map_err(|e| Problem::bad(format!("the body must be a JSON object: {e}")))?;
    let req = req
        .as_object()
        .ok_or_else(|| Problem::bad("the body must be a JSON object"))?;
    const KNOWN: &[&str] = &[
        "allowedProviders",
        "flow",
        "requestedAttributes",
        "callbackUrls",
        "requestedLoa",
        "sessionLifetime",
        "language",
        "externalReference",
        "tags",
        "additionalParameters",
        "prefilledInput",
    ];
    if let Some(k) = req.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Problem::bad(format!(
            "{k} is not supported here (supported: {})",
            KNOWN.join(", ")
        )));
    }
    let strings = |key: &str| -> Result<Option<Vec<String>>, Problem> {
        match req.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .filter(|s| s.len() <= 64)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            Problem::bad(format!("{key} must be an array of short strings"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(Problem::bad(format!("{key} must be an array of strings"))),
        }
    };
    if let Some(providers) = strings("allowedProviders")? {
        if providers.is_empty() {
            return Err(Problem::bad("allowedProviders must name itsme"));
        }
        if let Some(p) = providers.iter().find(|p| p.as_str() != "itsme") {
            return Err(Problem::bad(format!(
                "the provider {p:?} is not available; this broker offers itsme"
            )));
        }
    }
    let flow = match req.get("flow").and_then(Value::as_str) {
        Some("redirect") => Flow::Redirect,
        Some("headless") => Flow::Headless,
        Some("embedded") => {
            return Err(Problem::bad(
                "the embedded flow (an iframe) is not offered: itsme opens an app; use redirect or headless",
            ));
        }
        _ => return Err(Problem::bad("flow must be redirect or headless")),
    };
    let attributes = strings("requestedAttributes")?.unwrap_or_default();
    if attributes.len() > 32 {
        return Err(Problem::bad("requestedAttributes has too many entries"));
    }
    let scope = rest::scope_for(&attributes).map_err(|a| {
        Problem::bad(format!(
            "the attribute {a:?} is not offered; offered: {}",
            rest::ATTRIBUTES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    // The same catalogue and grants as the scopes of OIDC.
    let scopes = GrantedScopes::parse(&scope, client.account, &client.grants)
        .map_err(|e| Problem::new(StatusCode::FORBIDDEN, "Forbidden", e.to_string()))?;
    let loa = match req.get("requestedLoa") {
        None | Some(Value::Null) => "high",
        Some(Value::String(l)) if matches!(l.as_str(), "low" | "substantial" | "high") => {
            l.as_str()
        }
        Some(_) => {
            return Err(Problem::bad(
                "requestedLoa must be low, substantial or high",
            ));
        }
    };
    let lifetime = match req.get("sessionLifetime") {
        None | Some(Value::Null) => DEFAULT_LIFETIME,
        Some(v) => v
            .as_i64()
            .filter(|l| LIFETIMES.contains(l))
            .ok_or_else(|| {
                Problem::bad("sessionLifetime must be a number of seconds from 60 to 3600")
            })?,
    };
    let language = match req.get("language") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if matches!(l.as_str(), "en" | "nl" | "fr" | "de") => {
            Some(l.clone())
        }
        Some(_) => return Err(Problem::bad("language must be en, nl, fr or de")),
    };
    // Where the person comes back: URLs the client registered, exactly (headless: nowhere).
    let no_callbacks = Map::new();
    let callbacks = match (flow, req.get("callbackUrls").and_then(Value::as_object)) {
        (_, Some(c)) => c,
        (Flow::Headless, None) => &no_callbacks,
        (Flow::Redirect, None) => {
            return Err(Problem::bad(
                "callbackUrls {success, abort, error} is required",
            ));
        }
    };
    let mut urls = Map::new();
    for key in ["success", "abort", "error"] {
        if flow == Flow::Headless && !callbacks.contains_key(key) {
            continue;
        }
        let url = callbacks
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::bad(format!("callbackUrls.{key} is required")))?;
        if !client.redirect_uris.iter().any(|r| r == url) {
            return Err(Problem::bad(format!(
                "callbackUrls.{key} must be one of the client's registered redirect URIs, exactly"
            )));
        }
        urls.insert(key.into(), json!(url));
    }
    let now = b.clock.now();
    // Headless: the scheme's user discovery session (a QR code, and the link it holds) starts now.
    let upstream = match flow {
        Flow::Redirect => None,
        Flow::Headless => Some(start_headless(b, &client, now).await?.to_string()),
    };
    let session = RestSession {
        id: random_token(24),
        client_id: client.id.clone(),
        flow,
        status: SessionStatus::Created,
        requested_attributes: json!(attributes).to_string(),
        requested_loa: loa.to_string(),
        scope: scopes.to_scope_string(),
        callback_urls: Value::Object(urls).to_string(),
        ui_locales: language,
        subject: None,
        subject_read_at: None,
        upstream,
        created_at: now,
        expires_at: now + lifetime,
    };
    b.store.insert_rest_session(&session).await?;
    tracing::info!(client.id = %client.id, rest.session = %&session.id[..8], "REST session created");
    let mut resp = (StatusCode::CREATED, axum::Json(view(b, &session, now))).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /sessions/{id}`: the session; once successful, its subject, handed out once.
async fn read(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    read_session(&b, &id, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn read_session(b: &Broker, id: &str, headers: &HeaderMap) -> Result<Response, Problem> {
    let client = api_client(b, headers).await?;
    let session = b
        .store
        .find_rest_session(id)
        .await?
        .filter(|s| s.client_id == client.id)
        .ok_or_else(Problem::not_found)?;
    let mut now = b.clock.now();
    let session = if session.flow == Flow::Headless
        && session.status == SessionStatus::Created
        && session.expires_at > now
    {
        advance_headless(b, &client, &session, now).await?;
        now = b.clock.now();
        b.store
            .find_rest_session(id)
            .await?
            .ok_or_else(Problem::not_found)?
    } else {
        session
    };
    let mut out = view(b, &session, now);
    if session.status == SessionStatus::Success {
        out.insert("provider".into(), json!("itsme"));
        out.insert("loa".into(), json!("high"));
        match b.store.take_rest_subject(id, &client.id, now).await? {
            Some(subject) => {
                let subject: Value = serde_json::from_str(&subject).map_err(|e| {
                    Problem::from(StoreError::Corrupt(format!("rest_sessions.subject: {e}")))
                })?;
                out.insert("subject".into(), subject);
            }
            None => {
                // Read before: the attributes are gone, as promised.
                out.insert(
                    "subjectReadAt".into(),
                    json!(session.subject_read_at.map(rfc3339)),
                );
            }
        }
    }
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(Value::Object(out)),
    )
        .into_response())
}

/// `GET /sessions/{id}/start`: the `authenticationUrl`; the person's browser goes on to the
/// scheme.
async fn start(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    start_login(&b, &id, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn start_login(b: &Broker, id: &str, headers: &HeaderMap) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let now = b.clock.now();
    let gone = || BrokerError::Page {
        status: StatusCode::NOT_FOUND,
        tr: tr.clone(),
        message: tr.t("broker-error-expired"),
        show_intro: false,
    };
    let session = b
        .store
        .find_rest_session(id)
        .await?
        .filter(|s| {
            s.status == SessionStatus::Created && s.flow == Flow::Redirect && s.expires_at > now
        })
        .ok_or_else(gone)?;
    let tr = translator(session.ui_locales.as_deref(), headers);
    let client = b
        .store
        .find_client(&session.client_id)
        .await?
        .filter(may_use_api)
        .ok_or_else(gone)?;
    let scopes = GrantedScopes::parse(&session.scope, client.account, &client.grants)
        .map_err(|e| BrokerError::page(&tr, e.to_string()))?;
    let Some(scheme) = b.scheme_for_account(client.account) else {
        return Err(BrokerError::page(
            &tr,
            tr.t_with("broker-unserved-body", &[("client", client.name.clone())]),
        ));
    };
    let urls: Value =
        serde_json::from_str(&session.callback_urls).map_err(BrokerError::internal)?;
    let success = urls["success"].as_str().unwrap_or_default().to_string();
    let started = send_to_scheme(
        b,
        ToScheme {
            client: &client,
            scheme,
            channel: Channel::RestSession,
            redirect_uri: success,
            response_mode: ResponseMode::Query,
            state: Some(session.id.clone()),
            nonce: None,
            code_challenge: String::new(),
            scopes: &scopes,
            ui_locales: session.ui_locales.clone(),
            login_hint: None,
            acr: Acr::Basic,
            touch: false,
            claims: None,
            hinted_sub: None,
            dpop_jkt: None,
        },
    )
    .await
    .map_err(|e| match e {
        NotSent::Unavailable | NotSent::Failed => {
            BrokerError::page(&tr, tr.t("broker-error-internal"))
        }
        NotSent::Store(e) => BrokerError::from(e),
        NotSent::Internal(e) => e,
    })?;
    b.metrics.login_started(scopes.service());
    tracing::info!(client.id = %client.id, rest.session = %&session.id[..8], "REST session's login sent to the itsme scheme");
    let resp = (StatusCode::FOUND, [(header::LOCATION, started.url.clone())]).into_response();
    started.bind(b, resp)
}

/// The callback's end of a REST session's login: the session holds the person's attributes
/// until they are read, and the browser goes to the success URL.
pub(crate) async fn deliver(
    b: &Broker,
    tx: &LoginTransaction,
    sub: &str,
    claims: &Map<String, Value>,
) -> Result<Response, BrokerError> {
    let id = tx.state.clone().unwrap_or_default();
    let subject = Value::Object(rest::subject(sub, claims)).to_string();
    let now = b.clock.now();
    if !b
        .store
        .end_rest_session(&id, SessionStatus::Success, Some(&subject), now)
        .await?
    {
        // The session ended another way first (expired, or another login of it).
        return finish(b, &id, SessionStatus::Error).await;
    }
    tracing::info!(client.id = %tx.client_id, rest.session = %&id[..8.min(id.len())], "REST session succeeded");
    finish(b, &id, SessionStatus::Success).await
}

/// The callback's end of a REST session's login that failed: the session records why, and the
/// browser goes to the abort or error URL.
pub(crate) async fn deliver_failure(
    b: &Broker,
    tx: &LoginTransaction,
    failure: Failure,
) -> BrokerError {
    let id = tx.state.clone().unwrap_or_default();
    let status = match failure {
        Failure::Denied => SessionStatus::Abort,
        Failure::Expired => SessionStatus::Expired,
        _ => SessionStatus::Error,
    };
    let now = b.clock.now();
    let _ = b.store.end_rest_session(&id, status, None, now).await;
    match callback_location(b, &id, status).await {
        Ok(location) => BrokerError::Found(location),
        Err(e) => e,
    }
}

/// Sends the browser to the session's callback URL for `status`, with `sessionId`.
async fn finish(b: &Broker, id: &str, status: SessionStatus) -> Result<Response, BrokerError> {
    Ok(BrokerError::Found(callback_location(b, id, status).await?).into_response())
}

/// The session's callback URL for `status`, with `sessionId`.
async fn callback_location(
    b: &Broker,
    id: &str,
    status: SessionStatus,
) -> Result<String, BrokerError> {
    let session = b
        .store
        .find_rest_session(id)
        .await?
        .ok_or_else(|| BrokerError::internal("a REST session vanished during its login"))?;
    let urls: Value =
        serde_json::from_str(&session.callback_urls).map_err(BrokerError::internal)?;
    let key = match status {
        SessionStatus::Success => "success",
        SessionStatus::Abort => "abort",
        _ => "error",
    };
    let url = urls[key].as_str().unwrap_or_default();
    Ok(with_session(url, id))
}

/// A QR image the scheme sent as base64, as a `data:` URI of its type.
fn data_uri(b64: &str) -> String {
    let kind = if b64.starts_with("PHN2") || b64.starts_with("PD94") {
        "image/svg+xml"
    } else if b64.starts_with("iVBOR") {
        "image/png"
    } else {
        "image/jpeg"
    };
    format!("data:{kind};base64,{b64}")
}

/// How often the scheme's user discovery and token endpoints may be polled (itsme: 5 s).
const HEADLESS_INTERVAL: i64 = 5;

/// Starts a headless session's user discovery session at the scheme; its upstream state.
async fn start_headless(b: &Broker, client: &ClientRecord, now: i64) -> Result<Value, Problem> {
    let unavailable = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "the itsme scheme cannot be reached right now; try again in a moment",
        )
    };
    let scheme = b.scheme_for_account(client.account).ok_or_else(|| {
        Problem::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this Passerelle has no real itsme environment configured, so it does not serve production clients",
        )
    })?;
    let connector = b
        .connector_for(scheme)
        .ok_or_else(|| Problem::from(StoreError::Corrupt("no connector for the scheme".into())))?;
    let discovery = match connector.start_user_discovery(now, &random_token(16)).await {
        Ok(d) => d,
        Err(passerelle_itsme::ConnectorError::Unavailable(detail)) => {
            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
            return Err(unavailable());
        }
        Err(passerelle_itsme::ConnectorError::Protocol(detail)) => {
            tracing::error!(error = %detail, "the scheme's user discovery answer was rejected");
            return Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "Bad Gateway",
                "the itsme scheme's answer could not be used",
            ));
        }
    };
    Ok(json!({
        "stage": "discovery",
        "scheme": scheme.as_str(),
        "discovery_id": discovery.id,
        "qr": discovery.qr_code,
        "qr_expires_at": discovery.qr_expires_at,
        "link": discovery.link,
        "interval": HEADLESS_INTERVAL,
        "next_poll_at": now + HEADLESS_INTERVAL,
    }))
}

/// Moves a headless session on by at most one call to the scheme, when its interval allows:
/// the user discovery session until a person scanned the code, then the backchannel request for
/// that person until they answered. The call is claimed first (compare and swap on the upstream
/// state), so that racing reads make one call, and its answer is recorded the same way.
async fn advance_headless(
    b: &Broker,
    client: &ClientRecord,
    session: &RestSession,
    now: i64,
) -> Result<(), Problem> {
    use passerelle_itsme::ConnectorError as E;
    use passerelle_itsme::{BackchannelRequest, DecoupledResult, DiscoveryPoll, LoginHintToken};
    let Some(text) = session.upstream.as_deref() else {
        return Ok(());
    };
    let mut up: Value = serde_json::from_str(text)
        .map_err(|e| Problem::from(StoreError::Corrupt(format!("rest_sessions.upstream: {e}"))))?;
    if up["next_poll_at"].as_i64().unwrap_or(0) > now {
        return Ok(());
    }
    let interval = up["interval"].as_i64().unwrap_or(HEADLESS_INTERVAL);
    up["next_poll_at"] = json!(now + interval);
    let claimed = up.to_string();
    if !b
        .store
        .move_rest_upstream(&session.id, text, &claimed, now)
        .await?
    {
        return Ok(());
    }
    let end = |status: SessionStatus| async move {
        b.store
            .end_rest_session(&session.id, status, None, now)
            .await?;
        tracing::info!(rest.session = %&session.id[..8], rest.status = status.as_str(), "headless REST session ended");
        Ok::<(), Problem>(())
    };
    let Some(connector) = up["scheme"]
        .as_str()
        .and_then(Scheme::parse)
        .filter(|s| b.still_serves(client.account, *s))
        .and_then(|s| b.connector_for(s))
    else {
        return end(SessionStatus::Error).await;
    };
    let slower = |mut up: Value| {
        up["interval"] = json!(interval + 5);
        up["next_poll_at"] = json!(now + interval + 5);
        up.to_string()
    };
    let jti = random_token(16);
    let next = match up["stage"].as_str() {
        Some("discovery") => {
            let id = up["discovery_id"].as_str().unwrap_or_default().to_string();
            match connector.poll_user_discovery(&id, now, &jti).await {
                Ok(DiscoveryPoll::Pending(d)) => {
                    up["qr"] = json!(d.qr_code);
                    up["qr_expires_at"] = json!(d.qr_expires_at);
                    up["link"] = json!(d.link);
                    up.to_string()
                }
                Ok(DiscoveryPoll::SlowDown) => slower(up),
                Ok(DiscoveryPoll::Expired) => return end(SessionStatus::Expired).await,
                Ok(DiscoveryPoll::Discovered {
                    user_identifier_token,
                }) => {
                    let scopes =
                        GrantedScopes::parse(&session.scope, client.account, &client.grants)
                            .map_err(|e| {
                                Problem::new(StatusCode::FORBIDDEN, "Forbidden", e.to_string())
                            })?;
                    let hint = LoginHintToken::UserIdentifierToken(user_identifier_token);
                    let request = BackchannelRequest {
                        scopes: &scopes,
                        hint: &hint,
                        binding_message: None,
                        requested_expiry: None,
                        client_name: &client.name,
                    };
                    match connector
                        .backchannel_authentication(&request, now, &random_token(16))
                        .await
                    {
                        Ok(Ok(started)) => {
                            b.metrics.login_started(scopes.service());
                            let interval = started.interval.max(HEADLESS_INTERVAL);
                            json!({
                                "stage": "backchannel",
                                "scheme": up["scheme"],
                                "auth_req_id": started.auth_req_id,
                                "interval": interval,
                                "next_poll_at": now + interval,
                            })
                            .to_string()
                        }
                        Ok(Err(refusal)) => {
                            tracing::info!(scheme.error = %refusal.error, "the scheme refused a headless session's backchannel request");
                            return end(if refusal.error == "access_denied" {
                                SessionStatus::Abort
                            } else {
                                SessionStatus::Error
                            })
                            .await;
                        }
                        Err(E::Unavailable(detail)) => {
                            // The person scanned, and the token is single-use: nothing to retry.
                            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
                            return end(SessionStatus::Error).await;
                        }
                        Err(E::Protocol(detail)) => {
                            tracing::error!(error = %detail, "the scheme's backchannel answer was rejected");
                            return end(SessionStatus::Error).await;
                        }
                    }
                }
                Err(E::Unavailable(detail)) => {
                    tracing::warn!(error = %detail, "the itsme scheme is unavailable; polled again later");
                    return Ok(());
                }
                Err(E::Protocol(detail)) => {
                    tracing::error!(error = %detail, "the scheme's user discovery answer was rejected");
                    return end(SessionStatus::Error).await;
                }
            }
        }
        Some("backchannel") => {
            let auth_req_id = up["auth_req_id"].as_str().unwrap_or_default().to_string();
            match connector.poll_decoupled(&auth_req_id, now, &jti).await {
                Ok(DecoupledResult::Pending) => return Ok(()),
                Ok(DecoupledResult::SlowDown) => slower(up),
                Ok(DecoupledResult::Denied(_)) => return end(SessionStatus::Abort).await,
                Ok(DecoupledResult::Expired) => return end(SessionStatus::Expired).await,
                Ok(DecoupledResult::Lost) => return end(SessionStatus::Error).await,
                Ok(DecoupledResult::Identity(identity)) => {
                    let scopes = GrantedScopes::from_stored(&session.scope);
                    let mut claims = passerelle_itsme::claims::filter_for_scopes(
                        &passerelle_itsme::claims::map_to_rp_claims(&identity.claims),
                        &scopes,
                    );
                    let sub = b.pairwise_sub(&client.id, &identity.sub).map_err(|_| {
                        Problem::from(StoreError::Corrupt("pairwise subject".into()))
                    })?;
                    if scopes.contains("idp-id") {
                        claims.insert("idp_id".into(), json!(identity.sub));
                    }
                    let subject = Value::Object(rest::subject(&sub, &claims)).to_string();
                    if b.store
                        .end_rest_session(&session.id, SessionStatus::Success, Some(&subject), now)
                        .await?
                    {
                        b.metrics.login_approved(scopes.service());
                        b.audit(
                            passerelle_store::AuditEvent::new(
                                "login.approved",
                                "ok",
                                b.clock.now_micros(),
                            )
                            .client(&client.id)
                            .service(scopes.service().as_str())
                            .subject(b.audit_subject(&sub))
                            .detail(format!(
                                "scheme={} channel=rest_session flow=headless",
                                up["scheme"].as_str().unwrap_or("")
                            )),
                        )
                        .await;
                    }
                    return Ok(());
                }
                Err(E::Unavailable(detail)) => {
                    tracing::warn!(error = %detail, "the itsme scheme is unavailable; polled again later");
                    return Ok(());
                }
                Err(E::Protocol(detail)) => {
                    tracing::error!(error = %detail, "the scheme's answer was rejected");
                    return end(SessionStatus::Error).await;
                }
            }
        }
        _ => return end(SessionStatus::Error).await,
    };
    b.store
        .move_rest_upstream(&session.id, &claimed, &next, now)
        .await?;
    Ok(())
}
