//! The sandbox's HTTP endpoints (itsme OIDC v2 shape) and its pages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use passerelle_core::flow::{self, ActionEvent, ActionState, Behaviour, Effect, Rejection};
use passerelle_core::oidc::{ParamError, Params, verify_pkce};
use passerelle_core::scopes::Service;
use passerelle_i18n::Translator;
use passerelle_itsme::claims::uri;
use passerelle_jose::{Claims, SigAlg};
use passerelle_limits::{ClientIp, later};
use passerelle_store::{
    Approval, CodeAttempt, NewAction, SandboxAction, SandboxToken, StoreError, random_token,
    token_hash,
};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::pages::{AppPage, MessagePage, PersonaRow, PersonasPage, PhonePage, WaitPage, html};
use crate::{Persona, Sandbox, SandboxClient};

type Shared = State<Arc<Sandbox>>;

/// How long an authorization at the sandbox lives, phone page included.
const ACTION_LIFETIME: i64 = 600;
/// How long an approved action's code can be redeemed (itsme: 3 minutes).
const CODE_LIFETIME: i64 = 180;
/// Lifetime of the sandbox's ID tokens and access tokens.
const TOKEN_LIFETIME: i64 = 600;
/// How long one long-poll request of the waiting page may hang.
const LONG_POLL: Duration = Duration::from_secs(20);

/// The sandbox's routes, relative to its issuer path (mount them under it).
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    // The pages a person's browser opens: an unavailable database is a page there, not JSON.
    let pages = Router::new()
        .route("/authorization", get(authorization))
        .route("/personas", get(personas_page))
        .route("/actions/{id}/phone", post(phone))
        .route("/actions/{id}/cancel", get(cancel))
        .route("/actions/{id}/wait", get(wait))
        .route("/app/actions/{id}", get(app_page).post(app_submit))
        .route_layer(axum::middleware::from_fn_with_state(
            unavailable_page as later::UnavailablePage,
            later::unavailable_as_page,
        ));
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwkSet", get(jwks))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo).post(userinfo))
        .merge(pages)
        .with_state(sandbox)
}

/// Why a request failed, and in which form the answer goes back.
enum Failure {
    /// A page for the person (bad client or redirect URI, expired action…).
    Page {
        status: StatusCode,
        tr: Translator,
        message: String,
    },
    /// An OAuth error (RFC 6749 §5.2 shape) for the token endpoint.
    Token {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// A bearer-token error at userinfo (RFC 6750 §3).
    Bearer {
        error: Option<&'static str>,
        description: String,
    },
    /// The database cannot be reached right now: 503 with `Retry-After` and
    /// `temporarily_unavailable`, the detail logged. JSON as rendered; a page on the routes
    /// behind [`unavailable_as_page`].
    Unavailable(String),
    /// Over a rate limit: 429 with `Retry-After`, a page for a person or JSON for a machine.
    Throttled {
        retry_after_secs: u64,
        page: Option<Translator>,
    },
    /// Our own fault: logged, and a generic answer.
    Internal(String),
}

/// The 503 page for the sandbox's pages, for `later::unavailable_as_page`.
fn unavailable_page(ui_locales: Option<&str>, accept_language: Option<&str>) -> Response {
    let tr = Translator::negotiate(ui_locales, accept_language);
    Failure::Page {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: tr.t("error-unavailable"),
        tr,
    }
    .into_response()
}

impl Failure {
    fn page(tr: &Translator, message: impl Into<String>) -> Failure {
        Failure::Page {
            status: StatusCode::BAD_REQUEST,
            tr: tr.clone(),
            message: message.into(),
        }
    }

    /// itsme answers every token error with 400 and a JSON body (`_OIDC/authentication.md`).
    fn token(error: &'static str, description: impl Into<String>) -> Failure {
        let status = StatusCode::BAD_REQUEST;
        Failure::Token {
            status,
            error,
            description: description.into(),
        }
    }
}

impl Failure {
    fn throttled(t: passerelle_limits::Throttled, page: Option<&Translator>) -> Failure {
        Failure::Throttled {
            retry_after_secs: t.retry_after_secs,
            page: page.cloned(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        if e.is_unavailable() {
            Failure::Unavailable(e.to_string())
        } else {
            Failure::Internal(e.to_string())
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Page {
                status,
                tr,
                message,
            } => html(
                status,
                &MessagePage {
                    title: tr.t("page-error-title"),
                    tr: &tr,
                    message,
                },
            ),
            Failure::Token {
                status,
                error,
                description,
            } => {
                let body = json!({ "error": error, "error_description": description });
                (
                    status,
                    [(header::CACHE_CONTROL, "no-store")],
                    axum::Json(body),
                )
                    .into_response()
            }
            Failure::Bearer { error, description } => {
                let challenge = match error {
                    Some(e) => format!("Bearer error=\"{e}\", error_description=\"{description}\""),
                    None => "Bearer".to_string(),
                };
                let body = json!({ "error": error.unwrap_or("invalid_request"), "error_description": description });
                let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
                if let Ok(v) = header::HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            }
            Failure::Unavailable(detail) => {
                tracing::warn!(error = %detail, "the sandbox's database is unavailable; answered 503");
                later::unavailable_json(
                    "The service is temporarily unavailable; try again in a few seconds.",
                )
            }
            Failure::Throttled {
                retry_after_secs,
                page,
            } => {
                tracing::debug!(http.status = 429, "sandbox request over a rate limit");
                let Some(tr) = page else {
                    return later::throttled_json(retry_after_secs);
                };
                let mut resp = html(
                    StatusCode::TOO_MANY_REQUESTS,
                    &MessagePage {
                        title: tr.t("page-error-title"),
                        tr: &tr,
                        message: tr.t_count(
                            "error-rate-limited",
                            "seconds",
                            i64::try_from(retry_after_secs).unwrap_or(i64::MAX),
                        ),
                    },
                );
                later::with_retry_after(&mut resp, retry_after_secs);
                resp
            }
            Failure::Internal(detail) => {
                tracing::error!(error = %detail, "sandbox internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({ "error": "server_error" })),
                )
                    .into_response()
            }
        }
    }
}

type Reply = Result<Response, Failure>;

fn parse_pairs(bytes: &[u8]) -> Result<Params, ParamError> {
    Params::from_pairs(
        url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())),
    )
}

fn translator(ui_locales: Option<&str>, headers: &HeaderMap) -> Translator {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Translator::negotiate(ui_locales, accept)
}

impl Sandbox {
    fn path(&self, rest: &str) -> String {
        let base = url::Url::parse(&self.issuer)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        format!("{base}{rest}")
    }

    fn hmac(&self, label: &str, parts: &[&str]) -> Result<String, Failure> {
        // HMAC takes keys of any length, so this cannot fail; if it ever did, no code is made.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret)
            .map_err(|e| Failure::Internal(format!("HMAC key: {e}")))?;
        mac.update(label.as_bytes());
        for p in parts {
            mac.update(&[0]);
            mac.update(p.as_bytes());
        }
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The authorization code of an approved action: derived, so the waiting page can hand it
    /// out again after a reload without it ever being stored in the clear. 36 characters, as
    /// itsme's are.
    fn code_for(&self, action_id: &str) -> Result<String, Failure> {
        let mac = self.hmac("code", &[action_id])?;
        Ok(mac.chars().take(36).collect())
    }

    fn sub_for(&self, client_id: &str, phone: &str) -> String {
        crate::subject(client_id, phone)
    }

    fn persona_of(&self, action: &SandboxAction) -> Option<&Persona> {
        action
            .phone_number
            .as_deref()
            .and_then(|p| self.personas.find(p))
    }
}

/// Applies `event` to the stored action; returns the action as it now is. A lost race is not an
/// error: the winner's state is re-read and returned.
async fn apply(
    sb: &Sandbox,
    action: SandboxAction,
    event: ActionEvent,
    phone: Option<String>,
) -> Result<(SandboxAction, Result<(), flow::FlowError>), Failure> {
    let now = sb.clock.now();
    let current = action.status;
    let (next, effects) = match flow::advance(current, event, now) {
        Ok(r) => r,
        Err(e) => return Ok((action, Err(e))),
    };
    if next == current {
        return Ok((action, Ok(())));
    }
    let mut to = action.clone();
    if let Some(p) = phone {
        to.phone_number = Some(p);
    }
    to.status = next;
    match next {
        ActionState::AwaitingApp { deadline, .. } => to.deadline = Some(deadline),
        ActionState::Approved => {
            to.code_hash = Some(token_hash(&sb.code_for(&action.id)?));
            // itsme's codes are valid for 3 minutes.
            to.deadline = Some(now + CODE_LIFETIME);
        }
        ActionState::AwaitingPhone | ActionState::Rejected(_) | ActionState::Redeemed => {}
    }
    // The row must outlive whatever deadline the new state has (app timeout, code life).
    if let Some(d) = to.deadline {
        to.expires_at = to.expires_at.max(d + 60);
    }
    if sb.store.update_sandbox_action(&action, &to).await? {
        if effects.contains(&Effect::WakeWaiters) {
            sb.wake(&action.id);
            if let Err(e) = sb.store.notify(crate::ACTION_CHANNEL, &action.id).await {
                tracing::warn!(error = %e, "cannot announce a decided action to other nodes");
            }
        }
        tracing::info!(sandbox.action = %&action.id[..8], sandbox.status = to.status.status(), "sandbox action moved");
        Ok((to, Ok(())))
    } else {
        let now_row = sb
            .store
            .find_sandbox_action(&action.id, now)
            .await?
            .ok_or_else(|| Failure::Internal("action vanished".into()))?;
        Ok((now_row, Ok(())))
    }
}

async fn discovery(State(sb): Shared) -> Response {
    let i = &sb.issuer;
    let claims: Vec<&str> = [
        "sub",
        "name",
        "given_name",
        "family_name",
        "gender",
        "birthdate",
        "locale",
        "email",
        "email_verified",
        "phone_number",
        "phone_number_verified",
        "address",
        uri::BE_NATIONAL_NUMBER,
        uri::BE_EID_SN,
        uri::ID_DOCUMENT_SN,
        uri::ID_DOCUMENT_TYPE,
        uri::ID_ISSUING_COUNTRY,
        uri::VALIDITY_FROM,
        uri::VALIDITY_TO,
        uri::ISSUANCE_LOCALITY,
        uri::VERIFICATION_DATE,
        uri::PLACE_OF_BIRTH,
        uri::CITIZENSHIP,
        uri::CITIZENSHIP_ISO,
        uri::BIRTHDATE_AS_STRING,
        uri::OFFICIAL_GENDER,
    ]
    .to_vec();
    axum::Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorization"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwkSet"),
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "idDocument", "eid"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "acr_values_supported": [uri::ACR_BASIC, uri::ACR_ADVANCED],
        "id_token_signing_alg_values_supported": ["RS256"],
        "id_token_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "id_token_encryption_enc_values_supported": ["A128CBC-HS256"],
        "userinfo_signing_alg_values_supported": ["RS256"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "userinfo_encryption_enc_values_supported": ["A128CBC-HS256"],
        "request_object_signing_alg_values_supported": ["RS256"],
        "request_object_encryption_alg_values_supported": ["RSA-OAEP", "RSA-OAEP-256"],
        "request_object_encryption_enc_values_supported": ["A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "ui_locales_supported": passerelle_i18n::Translator::languages(),
        "claims_supported": claims,
    }))
    .into_response()
}

/// The test people, for a person at the phone page (what `passerelle sandbox personas` prints).
async fn personas_page(State(sb): Shared, headers: HeaderMap) -> Response {
    let tr = translator(None, &headers);
    let rows = sb
        .personas
        .all()
        .iter()
        .map(|p| PersonaRow {
            phone: p.phone_number.clone(),
            country: p.country(),
            behaviour: p.behaviour().as_str(),
            code: p.code.clone(),
            name: match &p.given_name {
                Some(g) => format!("{g} {}", p.family_name),
                None => p.family_name.clone(),
            },
            label: p.label.clone(),
        })
        .collect();
    html(StatusCode::OK, &PersonasPage { tr: &tr, rows })
}

async fn jwks(State(sb): Shared) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=1800")],
        axum::Json(sb.public_jwks()),
    )
        .into_response()
}

/// Decrypts and verifies a request object (signed then encrypted, itsme `authorization_request.md`).
fn open_request_object(
    sb: &Sandbox,
    client: &SandboxClient,
    jwe: &str,
    now: i64,
) -> Result<Claims, String> {
    let plain = passerelle_jose::decrypt(jwe, &[&sb.decryption])
        .map_err(|e| format!("the request object cannot be decrypted: {e}"))?;
    let jws = String::from_utf8(plain).map_err(|_| "the request object is not text".to_string())?;
    let claims = client
        .keys
        .verify(&jws, &[SigAlg::Rs256])
        .map_err(|e| format!("the request object's signature: {e}"))?;
    if claims.get("iss").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err("the request object's iss must be the client_id".into());
    }
    // itsme's current docs say the issuer; its 2022 docs said the authorization endpoint.
    let authorization_endpoint = format!("{}/authorization", sb.issuer);
    if !passerelle_jose::audience_is(&claims, &[&sb.issuer, &authorization_endpoint]) {
        return Err(
            "the request object's aud must be the sandbox's issuer, as a single string".into(),
        );
    }
    match claims.get("exp").and_then(Value::as_i64) {
        None => return Err("the request object has no exp".into()),
        Some(exp) if exp <= now => return Err("the request object has expired".into()),
        Some(exp) if exp > now + 3600 => {
            return Err("the request object lives for more than an hour".into());
        }
        Some(_) => {}
    }
    if claims.get("client_id").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err("the request object's client_id must be the client's".into());
    }
    Ok(claims)
}

fn error_redirect(
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(url.as_str())
}

/// A 302 to the client, as itsme answers.
fn found(url: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// The claim names listed under `member` of a `claims` request.
fn claim_names(claims: &Value, member: &str) -> Vec<String> {
    claims
        .get(member)
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

async fn authorization(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let default_tr = translator(None, &headers);
    // Before anything else: each request costs an RSA decryption.
    sb.limits
        .sandbox_authorization_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&default_tr)))?;
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).map_err(|e| {
        Failure::page(
            &default_tr,
            default_tr.t_with(e.key(), &[("name", e.name())]),
        )
    })?;
    let tr = translator(params.get("ui_locales"), &headers);
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Failure::page(&tr, tr.t("error-missing-client-id")))?;
    let client = sb
        .client(client_id)
        .ok_or_else(|| Failure::page(&tr, tr.t("sandbox-error-unknown-client")))?;
    let now = sb.clock.now();
    // Like itsme, the sandbox takes its parameters only from a request object that the client
    // signed and then encrypted to the sandbox (RFC 9101 §6.3: nothing outside it is used), so
    // that everything it shows the person — the requester's name above all — is what that
    // client vouched for, never words from the URL.
    if params.get("request_uri").is_some() {
        return Err(Failure::page(
            &tr,
            tr.t_with(
                "sandbox-error-request-object",
                &[("detail", "request_uri is not supported".to_string())],
            ),
        ));
    }
    let Some(jwe) = params.get("request") else {
        return Err(Failure::page(
            &tr,
            tr.t("sandbox-error-request-object-required"),
        ));
    };
    let object = open_request_object(&sb, client, jwe, now).map_err(|detail| {
        Failure::page(
            &tr,
            tr.t_with("sandbox-error-request-object", &[("detail", detail)]),
        )
    })?;
    // What the URL repeats beside the object must agree with it.
    for k in ["client_id", "response_type", "scope"] {
        if let Some(outer) = params.get(k)
            && object.get(k).and_then(Value::as_str) != Some(outer)
        {
            return Err(Failure::page(
                &tr,
                tr.t_with(
                    "sandbox-error-request-object-mismatch",
                    &[("name", k.to_string())],
                ),
            ));
        }
    }
    let p: Map<String, Value> = object;
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let redirect_uri = text("redirect_uri")
        .ok_or_else(|| Failure::page(&tr, tr.t("error-missing-redirect-uri")))?;
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(Failure::page(&tr, tr.t("error-unregistered-redirect-uri")));
    }
    let state = text("state");
    let fail = |error: &str, description: &str| {
        Ok(error_redirect(
            &redirect_uri,
            state.as_deref(),
            error,
            description,
        ))
    };
    if text("response_type").as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    let scope = text("scope").unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if !scopes.contains(&"openid") {
        return fail("invalid_scope", "scope must contain openid");
    }
    let Some(service) = scopes
        .iter()
        .filter_map(|s| s.strip_prefix("service:"))
        .find_map(|code| {
            client
                .services
                .iter()
                .find(|(c, _)| c == code)
                .map(|(_, s)| *s)
        })
    else {
        return fail(
            "invalid_scope",
            "scope must contain service:<SERVICE_CODE> with a service code registered for this client",
        );
    };
    let code_challenge = text("code_challenge");
    if code_challenge.is_some() && text("code_challenge_method").as_deref() != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    let claims_request = match p.get("claims") {
        None => json!({}),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return fail("invalid_request", "claims must be a JSON object"),
        },
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => return fail("invalid_request", "claims must be a JSON object"),
    };
    let id_token_claims = claim_names(&claims_request, "id_token");
    let mut userinfo_claims = claim_names(&claims_request, "userinfo");
    for s in &scopes {
        let extra: &[&str] = match *s {
            "profile" => &[
                "family_name",
                "given_name",
                "name",
                "gender",
                "locale",
                "birthdate",
            ],
            "email" => &["email", "email_verified"],
            "address" => &["address"],
            "phone" => &["phone_number", "phone_number_verified"],
            "idDocument" => &[
                uri::ID_DOCUMENT_SN,
                uri::ID_DOCUMENT_TYPE,
                uri::ID_ISSUING_COUNTRY,
                uri::VALIDITY_FROM,
                uri::VALIDITY_TO,
            ],
            "eid" => &[uri::BE_NATIONAL_NUMBER, uri::BE_EID_SN],
            _ => &[],
        };
        for c in extra {
            if !userinfo_claims.iter().any(|x| x == c) {
                userinfo_claims.push(c.to_string());
            }
        }
    }
    if service == Service::Identification
        && id_token_claims.is_empty()
        && userinfo_claims.is_empty()
    {
        return fail(
            "invalid_request",
            "an Identification must ask for at least one claim",
        );
    }
    let requester = text("passerelle_client_name")
        .filter(|n| !n.is_empty() && n.len() <= 100)
        .unwrap_or_else(|| client.name.clone());
    let details =
        json!({ "id_token": id_token_claims, "userinfo": userinfo_claims, "requester": requester });
    let login_hint = text("login_hint").filter(|h| h.len() <= 32);
    let action = SandboxAction {
        id: random_token(18),
        client_id: client.client_id.clone(),
        redirect_uri,
        state,
        nonce: text("nonce"),
        service: service.as_str().into(),
        claims: details.to_string(),
        code_challenge,
        ui_locales: text("ui_locales").filter(|s| s.len() <= 64),
        login_hint,
        phone_number: None,
        status: ActionState::AwaitingPhone,
        deadline: None,
        code_hash: None,
        created_at: now,
        expires_at: now + ACTION_LIFETIME,
    };
    let tr = translator(action.ui_locales.as_deref(), &headers);
    // A request object makes one action, whatever the number of times it is presented: a reload
    // of the phone page shows the same action; anything later (a replay) gets nothing.
    match sb.store.insert_sandbox_action(&action, now).await? {
        NewAction::Inserted => {}
        NewAction::Exists(existing) if existing.status == ActionState::AwaitingPhone => {
            return Ok(phone_page(
                &sb,
                &tr,
                &existing,
                String::new(),
                None,
                StatusCode::OK,
            ));
        }
        NewAction::Exists(_) | NewAction::Expired => {
            tracing::info!("a sandbox authorization request was presented again");
            return Err(Failure::page(&tr, tr.t("sandbox-error-request-used")));
        }
    }
    tracing::info!(sandbox.action = %&action.id[..8], sandbox.client = %action.client_id, sandbox.service = %action.service, "sandbox authorization started");
    // itsme's old login_hint format was `32+470000001`.
    let prefill = action
        .login_hint
        .as_deref()
        .map(|h| h.replace('+', ""))
        .map(|h| format!("+{h}"))
        .and_then(|h| crate::personas::normalize_phone(&h))
        .unwrap_or_default();
    Ok(phone_page(&sb, &tr, &action, prefill, None, StatusCode::OK))
}

fn requester(action: &SandboxAction) -> String {
    serde_json::from_str::<Value>(&action.claims)
        .ok()
        .and_then(|v| {
            v.get("requester")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default()
}

fn phone_page(
    sb: &Sandbox,
    tr: &Translator,
    action: &SandboxAction,
    phone: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    html(
        status,
        &PhonePage {
            tr,
            intro: tr.t_with("phone-intro", &[("client", requester(action))]),
            action: sb.path(&format!("/actions/{}/phone", action.id)),
            cancel: sb.path(&format!("/actions/{}/cancel", action.id)),
            personas: sb.path("/personas"),
            phone,
            error,
        },
    )
}

async fn live_action(sb: &Sandbox, tr: &Translator, id: &str) -> Result<SandboxAction, Failure> {
    sb.store
        .find_sandbox_action(id, sb.clock.now())
        .await?
        .ok_or_else(|| Failure::Page {
            status: StatusCode::NOT_FOUND,
            tr: tr.clone(),
            message: tr.t("broker-error-expired"),
        })
}

async fn phone(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let tr = translator(None, &headers);
    sb.limits
        .phone_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&tr)))?;
    let action = live_action(&sb, &tr, &id).await?;
    let tr = translator(action.ui_locales.as_deref(), &headers);
    if action.status != ActionState::AwaitingPhone {
        return Ok(Redirect::to(&sb.path(&format!("/actions/{id}/wait"))).into_response());
    }
    let form = parse_pairs(&body).unwrap_or_default();
    let typed = form
        .get("phone")
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect::<String>();
    let Some(number) = crate::personas::normalize_phone(&typed) else {
        return Ok(phone_page(
            &sb,
            &tr,
            &action,
            typed,
            Some(tr.t("phone-invalid")),
            StatusCode::BAD_REQUEST,
        ));
    };
    let Some(persona) = sb.personas.find(&number) else {
        return Ok(phone_page(
            &sb,
            &tr,
            &action,
            typed,
            Some(tr.t("phone-unknown")),
            StatusCode::BAD_REQUEST,
        ));
    };
    // A blocked account receives no action, as in itsme: the login ends as after three wrong
    // codes, whatever the persona would have done.
    // (Only a person who types codes in the app can be blocked: scripted personas that decide
    // at once never do, and cost no query.)
    let scripted = persona.behaviour();
    let behaviour = if matches!(scripted, Behaviour::Manual | Behaviour::Timeout)
        && sb
            .store
            .sandbox_account_blocked(&persona.phone_number, sb.clock.now())
            .await?
    {
        Behaviour::Blocked
    } else {
        scripted
    };
    let event = ActionEvent::PhoneSubmitted {
        behaviour,
        app_timeout_secs: persona.app_timeout_seconds.unwrap_or(sb.app_timeout_secs),
    };
    let _ = apply(&sb, action, event, Some(number)).await?;
    Ok(Redirect::to(&sb.path(&format!("/actions/{id}/wait"))).into_response())
}

async fn cancel(State(sb): Shared, Path(id): Path<String>, headers: HeaderMap) -> Reply {
    let tr = translator(None, &headers);
    let action = live_action(&sb, &tr, &id).await?;
    let (action, _) = apply(&sb, action, ActionEvent::CancelPressed, None).await?;
    let state = action.status;
    finish(&sb, &tr, &action, state)
}

/// Sends the browser back to the client once the action is decided.
fn finish(sb: &Sandbox, tr: &Translator, action: &SandboxAction, state: ActionState) -> Reply {
    match state {
        ActionState::Approved => {
            let mut url = url::Url::parse(&action.redirect_uri)
                .map_err(|e| Failure::Internal(e.to_string()))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("code", &sb.code_for(&action.id)?);
                if let Some(s) = &action.state {
                    q.append_pair("state", s);
                }
            }
            Ok(found(url.as_str()))
        }
        ActionState::Rejected(r) => Ok(error_redirect(
            &action.redirect_uri,
            action.state.as_deref(),
            "access_denied",
            r.description(),
        )),
        _ => Err(Failure::Page {
            status: StatusCode::GONE,
            tr: tr.clone(),
            message: tr.t("app-finished"),
        }),
    }
}

async fn wait(
    State(sb): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let poll = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "poll=1"));
    let started = Instant::now();
    let tr = translator(None, &headers);
    loop {
        let action = live_action(&sb, &tr, &id).await?;
        let tr = translator(action.ui_locales.as_deref(), &headers);
        let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
        let state = action.status;
        if state.is_decided() {
            return finish(&sb, &tr, &action, state);
        }
        if state == ActionState::AwaitingPhone {
            return Ok(phone_page(
                &sb,
                &tr,
                &action,
                String::new(),
                None,
                StatusCode::OK,
            ));
        }
        let elapsed = started.elapsed();
        if !poll || elapsed >= LONG_POLL {
            let phone = action.phone_number.clone().unwrap_or_default();
            return Ok(html(
                StatusCode::OK,
                &WaitPage {
                    tr: &tr,
                    intro: tr.t_with("wait-intro", &[("phone", phone)]),
                    poll_url: sb.path(&format!("/actions/{id}/wait?poll=1")),
                    app_url: sb.path(&format!("/app/actions/{id}")),
                    refresh_seconds: if poll { 0 } else { 1 },
                },
            ));
        }
        // Wake up when the app acts on this node, or re-read within a second (other nodes, and
        // the deadline, which is checked against the clock when the action is read).
        sb.waiters
            .wait(&id, Duration::from_secs(1).min(LONG_POLL - elapsed))
            .await;
    }
}

/// The label and value of each piece of data the action asks for, as the app shows them.
fn requested_items(
    tr: &Translator,
    persona: &Persona,
    action: &SandboxAction,
) -> Vec<(String, String)> {
    let details: Value = serde_json::from_str(&action.claims).unwrap_or_default();
    let mut names = claim_names_list(&details, "id_token");
    names.extend(claim_names_list(&details, "userinfo"));
    let values = persona.claims_for(&names);
    let mut items: Vec<(String, String)> = Vec::new();
    for name in &names {
        let key = match name.trim_start_matches(passerelle_itsme::claims::PREFIX) {
            "email_verified" | "phone_number_verified" => continue,
            "IDDocumentSN" | "IDDocumentType" => "attr-document",
            "BENationalNumber" => "attr-national_number",
            "BEeidSn" => "attr-eid_card_number",
            "IDIssuingCountry" => "attr-issuing_country",
            "validityFrom" | "validityTo" => "attr-validity",
            "issuance_locality" => "attr-issuance_locality",
            "verificationDate" => "attr-read_date",
            "claim_citizenship" | "claim_citizenship_as_iso" => "attr-nationality",
            "physical_person_photo" | "picture" => "attr-photo",
            other => match other {
                "name"
                | "given_name"
                | "family_name"
                | "gender"
                | "birthdate"
                | "locale"
                | "email"
                | "phone_number"
                | "address"
                | "place_of_birth"
                | "birthdate_as_string"
                | "official_gender" => "",
                _ => continue,
            },
        };
        let key = if key.is_empty() {
            format!(
                "attr-{}",
                name.trim_start_matches(passerelle_itsme::claims::PREFIX)
            )
        } else {
            key.to_string()
        };
        let label = tr.t(&key);
        let value = match values.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("formatted")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    o.values()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
            Some(other) => other.to_string(),
            None => "—".to_string(),
        };
        match items.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => {
                if value != "—" && !v.contains(&value) {
                    if v == "—" {
                        *v = value
                    } else {
                        v.push_str(", ");
                        v.push_str(&value)
                    }
                }
            }
            None => items.push((label, value)),
        }
    }
    items
}

fn claim_names_list(details: &Value, member: &str) -> Vec<String> {
    details
        .get(member)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

async fn app_page(State(sb): Shared, Path(id): Path<String>, headers: HeaderMap) -> Reply {
    let tr = translator(None, &headers);
    let action = live_action(&sb, &tr, &id).await?;
    let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
    render_app(&sb, &headers, &action, None)
}

fn render_app(
    sb: &Sandbox,
    headers: &HeaderMap,
    action: &SandboxAction,
    error: Option<String>,
) -> Reply {
    let tr = translator(action.ui_locales.as_deref(), headers);
    let state = action.status;
    let persona = sb.persona_of(action);
    let account = action
        .phone_number
        .as_deref()
        .map(|p| tr.t_with("app-for", &[("phone", p.to_string())]))
        .unwrap_or_default();
    let (done, approved) = match state {
        ActionState::AwaitingPhone => (Some(tr.t("app-pending-none")), false),
        ActionState::AwaitingApp { .. } => (None, false),
        ActionState::Approved | ActionState::Redeemed => (Some(tr.t("app-approved")), true),
        ActionState::Rejected(Rejection::Refused | Rejection::Cancelled) => {
            (Some(tr.t("app-refused")), false)
        }
        ActionState::Rejected(Rejection::TimedOut) => (Some(tr.t("app-timed-out")), false),
        ActionState::Rejected(Rejection::WrongCode) => (Some(tr.t("app-blocked")), false),
    };
    let who = requester(action);
    let asks = if action.service == Service::Authentication.as_str() {
        tr.t_with("app-asks-authentication", &[("client", who)])
    } else {
        tr.t_with("app-asks-identification", &[("client", who)])
    };
    let items = persona
        .map(|p| requested_items(&tr, p, action))
        .unwrap_or_default();
    Ok(html(
        StatusCode::OK,
        &AppPage {
            tr: &tr,
            account,
            asks,
            items,
            action: sb.path(&format!("/app/actions/{}", action.id)),
            error,
            done,
            approved,
        },
    ))
}

async fn app_submit(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let tr = translator(None, &headers);
    sb.limits
        .app_code_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&tr)))?;
    let action = live_action(&sb, &tr, &id).await?;
    let form = parse_pairs(&body).unwrap_or_default();
    let decision = form.get("decision");
    if !matches!(decision, Some("refuse" | "approve")) {
        return render_app(&sb, &headers, &action, None);
    }
    // A deadline that passed takes effect first, so a late code meets a timed-out action.
    let (action, _) = apply(&sb, action, ActionEvent::Observed, None).await?;
    if decision == Some("refuse") {
        let (action, _) = apply(&sb, action, ActionEvent::RefusePressed, None).await?;
        return render_app(&sb, &headers, &action, None);
    }
    // A code is checked only for an action the app still shows, against the person's account:
    // three wrong codes in a row block the account (not just this action), counted in the
    // database across actions, nodes and restarts, each attempt exactly once.
    let (ActionState::AwaitingApp { .. }, Some(persona)) = (action.status, sb.persona_of(&action))
    else {
        return render_app(&sb, &headers, &action, None);
    };
    let typed = form.get("code").unwrap_or_default().as_bytes();
    let correct = !persona.code.is_empty() && bool::from(typed.ct_eq(persona.code.as_bytes()));
    let now = sb.clock.now();
    // The transitions `flow::advance` gives for `CodeEntered` and `AccountBlocked`, made by the
    // store in one transaction with the account's count (see `Store::sandbox_code_attempt`).
    let code_hash = token_hash(&sb.code_for(&action.id)?);
    let deadline = now + CODE_LIFETIME;
    let attempt = sb
        .store
        .sandbox_code_attempt(
            &action.id,
            &persona.phone_number,
            correct,
            now,
            i64::from(flow::MAX_CODE_ATTEMPTS),
            sb.blocked_until(now),
            Approval {
                code_hash: &code_hash,
                deadline,
                expires_at: action.expires_at.max(deadline + 60),
            },
            passerelle_store::audit_subject(&sb.audit_secret, "phone", &persona.phone_number),
        )
        .await?;
    if matches!(attempt, CodeAttempt::Accepted | CodeAttempt::Blocked) {
        tracing::info!(sandbox.action = %&action.id[..8], sandbox.approved = attempt == CodeAttempt::Accepted, "sandbox action decided in the app");
        sb.wake(&action.id);
        if let Err(e) = sb.store.notify(crate::ACTION_CHANNEL, &action.id).await {
            tracing::warn!(error = %e, "cannot announce a decided action to other nodes");
        }
    }
    let action = live_action(&sb, &tr, &id).await?;
    // A blocked account answers the same, whether the code typed was right or wrong.
    let error = match (attempt, action.status) {
        (CodeAttempt::Wrong { failures }, ActionState::AwaitingApp { .. }) => {
            let left = i64::from(flow::MAX_CODE_ATTEMPTS).saturating_sub(failures);
            Some(translator(action.ui_locales.as_deref(), &headers).t_count(
                "app-wrong-code",
                "left",
                left,
            ))
        }
        _ => None,
    };
    render_app(&sb, &headers, &action, error)
}

/// Authenticates a client by its private_key_jwt assertion (RFC 7523 §3, itsme's token request).
async fn authenticate_client<'a>(
    sb: &'a Sandbox,
    form: &Params,
    now: i64,
) -> Result<&'a SandboxClient, Failure> {
    if form.get("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(Failure::token(
            "invalid_client",
            "client authentication must be private_key_jwt",
        ));
    }
    let assertion = form
        .get("client_assertion")
        .ok_or_else(|| Failure::token("invalid_client", "client_assertion is missing"))?;
    let unverified = passerelle_jose::peek_payload(assertion)
        .map_err(|e| Failure::token("invalid_client", e.to_string()))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client = sb
        .client(iss)
        .ok_or_else(|| Failure::token("invalid_client", "unknown client"))?;
    if form.get("client_id").is_some_and(|c| c != client.client_id) {
        return Err(Failure::token(
            "invalid_client",
            "client_id does not match the assertion",
        ));
    }
    let claims = client
        .keys
        .verify(assertion, &[SigAlg::Rs256])
        .map_err(|e| Failure::token("invalid_client", format!("client_assertion: {e}")))?;
    if claims.get("sub").and_then(Value::as_str) != Some(client.client_id.as_str()) {
        return Err(Failure::token(
            "invalid_client",
            "client_assertion sub must be the client_id",
        ));
    }
    // itsme documents its token endpoint's URL as the assertion's audience; the issuer (RFC
    // 7523bis) is accepted too. Either as a single string: never an array.
    let token_endpoint = format!("{}/token", sb.issuer);
    if !passerelle_jose::audience_is(&claims, &[&token_endpoint, &sb.issuer]) {
        return Err(Failure::token(
            "invalid_client",
            "client_assertion aud must be the token endpoint, as a single string",
        ));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| Failure::token("invalid_client", "client_assertion has no exp"))?;
    if exp <= now || exp > now + 3600 {
        return Err(Failure::token(
            "invalid_client",
            "client_assertion is expired or lives too long",
        ));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255 && !j.contains('\0'));
    let jti = jti.ok_or_else(|| {
        Failure::token(
            "invalid_client",
            "client_assertion needs a jti of at most 255 characters",
        )
    })?;
    if !sb
        .store
        .insert_jti(&format!("sandbox:{}", client.client_id), jti, exp)
        .await?
    {
        return Err(Failure::token(
            "invalid_client",
            "client_assertion was already used",
        ));
    }
    Ok(client)
}

fn seal(sb: &Sandbox, client: &SandboxClient, claims: &Claims) -> Result<String, Failure> {
    let jws = sb
        .signing
        .sign(claims, Some("JWT"))
        .map_err(|e| Failure::Internal(e.to_string()))?;
    client
        .keys
        .encrypt(jws.as_bytes(), sb.token_encryption)
        .map_err(|e| Failure::Internal(e.to_string()))
}

async fn token(State(sb): Shared, ip: Option<Extension<ClientIp>>, body: Bytes) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let form = parse_pairs(&body).map_err(|e| Failure::token("invalid_request", e.to_string()))?;
    let client = authenticate_client(&sb, &form, now).await?;
    // Per client once its assertion verified: anyone can name a client, and must not spend the
    // embedded connector's budget (that would stop every login).
    sb.limits
        .sandbox_token_per_client
        .check(&client.client_id)
        .map_err(|t| Failure::throttled(t, None))?;
    if form.get("grant_type") != Some("authorization_code") {
        return Err(Failure::token(
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        ));
    }
    let code = form
        .get("code")
        .ok_or_else(|| Failure::token("invalid_request", "code is missing"))?;
    let action = sb
        .store
        .redeem_sandbox_code(&token_hash(code), now)
        .await?
        .ok_or_else(|| {
            Failure::token(
                "invalid_grant",
                "the code is unknown, expired or already used",
            )
        })?;
    if action.client_id != client.client_id {
        return Err(Failure::token(
            "invalid_grant",
            "the code was issued to another client",
        ));
    }
    if form.get("redirect_uri") != Some(action.redirect_uri.as_str()) {
        return Err(Failure::token(
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        ));
    }
    if let Some(challenge) = &action.code_challenge
        && !verify_pkce(form.get("code_verifier").unwrap_or_default(), challenge)
    {
        return Err(Failure::token(
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        ));
    }
    let persona = sb
        .persona_of(&action)
        .ok_or_else(|| Failure::Internal("the persona of an approved action is gone".into()))?;
    let details: Value = serde_json::from_str(&action.claims).unwrap_or_default();
    let mut claims = persona.claims_for(&claim_names_list(&details, "id_token"));
    let sub = sb.sub_for(&client.client_id, &persona.phone_number);
    claims.insert("iss".into(), json!(sb.issuer));
    claims.insert("sub".into(), json!(sub));
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + TOKEN_LIFETIME));
    claims.insert("auth_time".into(), json!(now));
    claims.insert("acr".into(), json!(uri::ACR_ADVANCED));
    if let Some(n) = &action.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    let id_token = seal(&sb, client, &claims)?;
    let access_token = random_token(32);
    sb.store
        .insert_sandbox_token(&SandboxToken {
            token_hash: token_hash(&access_token),
            client_id: client.client_id.clone(),
            phone_number: persona.phone_number.clone(),
            claims: json!(claim_names_list(&details, "userinfo")).to_string(),
            created_at: now,
            expires_at: now + TOKEN_LIFETIME,
        })
        .await?;
    let body = json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "id_token": id_token });
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response())
}

async fn userinfo(State(sb): Shared, ip: Option<Extension<ClientIp>>, headers: HeaderMap) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = match auth.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => {
            return Err(Failure::Bearer {
                error: None,
                description: "send the access token as Authorization: Bearer".into(),
            });
        }
    };
    let record = sb
        .store
        .find_sandbox_token(&token_hash(token), now)
        .await?
        .ok_or_else(|| Failure::Bearer {
            error: Some("invalid_token"),
            description: "the access token is unknown or expired".into(),
        })?;
    let client = sb
        .client(&record.client_id)
        .ok_or_else(|| Failure::Internal("token of an unknown client".into()))?;
    let persona = sb
        .personas
        .find(&record.phone_number)
        .ok_or_else(|| Failure::Internal("persona gone".into()))?;
    let names: Vec<String> = serde_json::from_str(&record.claims).unwrap_or_default();
    let mut claims = persona.claims_for(&names);
    claims.insert(
        "sub".into(),
        json!(sb.sub_for(&client.client_id, &persona.phone_number)),
    );
    claims.insert("iss".into(), json!(sb.issuer));
    claims.insert("aud".into(), json!(client.client_id));
    let jwt = seal(&sb, client, &claims)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwt"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jwt,
    )
        .into_response())
}
