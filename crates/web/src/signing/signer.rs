//! The signer's side: the page at `signatureUrl`, the decision (sign or decline), the two
//! approvals at itsme's CSC service for a qualified signature, and the end of an identification
//! for an advanced one.
//!
//! The page's form is bound to the browser that opened it (a cookie that must equal the form's
//! token), and each step at itsme carries a fresh `state` whose hash the session keeps: a callback
//! with an old state, or from another browser, finds nothing to move.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use passerelle_core::login::{Acr, Channel, Failure, Scheme};
use passerelle_core::oidc::ResponseMode;
use passerelle_core::scopes::{Account, GrantedScopes};
use passerelle_core::signing::{Event, SigningFlow, Stage, State as LifeState, same_person};
use passerelle_i18n::Translator;
use passerelle_itsme::csc::{CscClient, CscError, TokenKind};
use passerelle_store::{LoginTransaction, SignSession, random_token, token_hash};
use serde_json::{Map, Value, json};

use super::api::{event, sign_base, signed_document_ids, visible_state};
use super::may_sign;
use super::seal::{self, SignError, Statement};
use crate::authorize::{NotSent, ToScheme, cookie, send_to_scheme, translator};
use crate::pages::{Csp, html, message};
use crate::{Broker, BrokerError};

/// The cookie that binds a signer's form and steps to their browser.
const COOKIE: &str = "passerelle_signer";
/// A session whose signing step has not moved for this long was abandoned (a crash, a closed
/// tab): its signer may start again.
const STALE_SIGNING: i64 = 120;

#[derive(Template)]
#[template(path = "sign_session.html")]
struct SessionPage<'a> {
    tr: &'a Translator,
    intro: String,
    title: String,
    sign_text: Option<String>,
    problem: Option<String>,
    documents: Vec<DocLine>,
    flow_explained: String,
    action: String,
    token: String,
}

struct DocLine {
    href: String,
    name: String,
    detail: String,
}

fn problem_page(tr: &Translator, status: StatusCode, key: &str) -> Response {
    message(tr, status, tr.t("sign-title"), tr.t(key), "error", None)
}

fn signer_cookie(b: &Broker, value: &str, max_age: i64) -> String {
    let secure = if b.secure_cookies { "; Secure" } else { "" };
    format!(
        "{COOKIE}={value}; Path=/sign/signer; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    )
}

fn request_of(s: &SignSession) -> Map<String, Value> {
    serde_json::from_str(&s.request).unwrap_or_default()
}

fn language(s: &SignSession) -> Option<String> {
    request_of(s)
        .get("ui")
        .and_then(|u| u["language"].as_str())
        .map(str::to_string)
}

/// The session's redirect URL for `key` (success, cancel, error) with `sessionId` and the
/// client's `externalReference`, as Signicat echoes them.
fn redirect_url(s: &SignSession, key: &str, error: Option<&str>) -> Option<String> {
    let request = request_of(s);
    let url = request.get("redirectSettings")?.get(key)?.as_str()?;
    let mut u = url::Url::parse(url).ok()?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("sessionId", &s.id);
        if let Some(r) = request.get("externalReference").and_then(Value::as_str) {
            q.append_pair("externalReference", r);
        }
        if let Some(e) = error {
            q.append_pair("error", e);
        }
    }
    Some(u.into())
}

fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The page for a session that cannot be signed (any more), by its state.
fn closed_page(tr: &Translator, state: LifeState) -> Response {
    let (heading, text, class) = match state {
        LifeState::Signed => (tr.t("sign-done-title"), tr.t("sign-done"), "ok"),
        LifeState::Rejected => (tr.t("sign-rejected-title"), tr.t("sign-rejected"), "error"),
        LifeState::Expired => (tr.t("sign-title"), tr.t("sign-expired"), "error"),
        LifeState::Blocked => (tr.t("sign-title"), tr.t("sign-blocked"), "error"),
        LifeState::Ready => (tr.t("sign-title"), tr.t("sign-busy"), "error"),
    };
    message(tr, StatusCode::OK, heading, text, class, None)
}

fn human_size(n: i64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{} KB", n / 1024)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
}

/// `GET /signer/{id}`: what is to be signed, and the decision.
pub(crate) async fn page(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    show(&b, &id, &headers, None)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn show(
    b: &Broker,
    id: &str,
    headers: &HeaderMap,
    problem: Option<String>,
) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let Some(s) = b.store.find_sign_session(id).await? else {
        return Ok(problem_page(&tr, StatusCode::NOT_FOUND, "sign-unknown"));
    };
    let tr = translator(language(&s).as_deref(), headers);
    let now = b.clock.now();
    let state = visible_state(b, &s, now).await?;
    if state != LifeState::Ready {
        return Ok(closed_page(&tr, state));
    }
    if s.stage == Stage::Signing && now - s.updated_at < STALE_SIGNING {
        return Ok(closed_page(&tr, LifeState::Ready));
    }
    let Some(client) = b.store.find_client(&s.client_id).await?.filter(may_sign) else {
        return Ok(problem_page(&tr, StatusCode::NOT_FOUND, "sign-unknown"));
    };
    let request = request_of(&s);
    let mut documents = Vec::new();
    let mut signed_count = 0;
    for (i, d) in request
        .get("documents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(doc_id) = d["documentId"].as_str() else {
            continue;
        };
        let Some(doc) = b
            .store
            .find_sign_document(doc_id, &s.client_id, now)
            .await?
        else {
            return Ok(problem_page(&tr, StatusCode::GONE, "sign-error-documents"));
        };
        let signs = d["action"] == "SIGN";
        signed_count += i64::from(signs);
        let kind = if doc.mime_type == "application/pdf" {
            "PDF".to_string()
        } else {
            doc.mime_type.clone()
        };
        let mut detail = tr.t_with(
            "sign-document-detail",
            &[("kind", kind), ("size", human_size(doc.size))],
        );
        if !signs {
            detail = format!("{detail}; {}", tr.t("sign-document-view-only"));
        }
        documents.push(DocLine {
            href: format!("{}/signer/{}/documents/{}", sign_base(b), s.id, doc.id),
            name: doc
                .title
                .clone()
                .or(doc.filename.clone())
                .unwrap_or_else(|| format!("Document {}", i + 1)),
            detail,
        });
    }
    let sender = request
        .get("senderDisplayName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or(client.name.clone());
    // The browser's token stays what it was (another tab of this signing, or a reload while an
    // approval is pending, must not cut off the first tab's way back); a new browser gets one.
    let token = cookie(headers, COOKIE)
        .filter(|t| {
            t.len() >= 24
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string)
        .unwrap_or_else(|| random_token(24));
    let page = SessionPage {
        tr: &tr,
        intro: tr.t_with_count("sign-intro", &[("sender", sender)], "count", signed_count),
        title: request
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        sign_text: request
            .get("signText")
            .and_then(Value::as_str)
            .map(str::to_string),
        problem,
        documents,
        flow_explained: tr.t(match s.flow {
            SigningFlow::Qualified => "sign-flow-qualified",
            SigningFlow::Advanced => "sign-flow-advanced",
        }),
        action: format!("{}/signer/{}", sign_base(b), s.id),
        token: token.clone(),
    };
    let mut resp = html(StatusCode::OK, &page, Csp::FormToClient);
    if let Ok(v) = HeaderValue::from_str(&signer_cookie(b, &token, 3600)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET /signer/{id}/documents/{doc}`: a document of the session, for the signer to read. A
/// PDF opens in the browser (sandboxed); anything else is downloaded.
pub(crate) async fn view_document(
    State(b): State<Arc<Broker>>,
    Path((id, doc_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let tr = translator(None, &headers);
    let result: Result<Response, BrokerError> = async {
        let now = b.clock.now();
        let Some(s) = b.store.find_sign_session(&id).await? else {
            return Ok(problem_page(&tr, StatusCode::NOT_FOUND, "sign-unknown"));
        };
        let listed = request_of(&s)
            .get("documents")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|d| d["documentId"] == json!(doc_id)));
        let doc = b
            .store
            .find_sign_document(&doc_id, &s.client_id, now)
            .await?;
        let content = b
            .store
            .sign_document_content(&doc_id, &s.client_id, now)
            .await?;
        let (Some(doc), Some(content), true, false) = (doc, content, listed, s.state.is_final())
        else {
            return Ok(problem_page(
                &tr,
                StatusCode::NOT_FOUND,
                "sign-error-documents",
            ));
        };
        let inline = doc.mime_type == "application/pdf";
        let mut resp = (StatusCode::OK, content).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(if inline {
                "application/pdf"
            } else {
                "application/octet-stream"
            })
            .map_err(BrokerError::internal)?,
        );
        let name = super::api::download_name(&doc).replace('"', "");
        let disposition = format!(
            "{}; filename=\"{name}\"",
            if inline { "inline" } else { "attachment" }
        );
        if let Ok(v) = HeaderValue::from_str(&disposition) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'; object-src 'self'"),
        );
        Ok(resp)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /signer/{id}`: the signer signs or declines.
pub(crate) async fn decide(
    State(b): State<Arc<Broker>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    decision(&b, &id, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn decision(
    b: &Broker,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let Some(s) = b.store.find_sign_session(id).await? else {
        return Ok(problem_page(&tr, StatusCode::NOT_FOUND, "sign-unknown"));
    };
    let tr = translator(language(&s).as_deref(), headers);
    // The form must come from the page this browser was shown.
    let token = field("token").unwrap_or_default();
    let bound = cookie(headers, COOKIE).is_some_and(|c| {
        !token.is_empty() && subtle::ConstantTimeEq::ct_eq(c.as_bytes(), token.as_bytes()).into()
    });
    if !bound {
        return Ok(problem_page(&tr, StatusCode::FORBIDDEN, "sign-form-stale"));
    }
    let now = b.clock.now();
    let state = visible_state(b, &s, now).await?;
    if state != LifeState::Ready {
        return Ok(closed_page(&tr, state));
    }
    let stale = s.stage == Stage::Signing && now - s.updated_at >= STALE_SIGNING;
    if !s.stage.may_restart() && !stale {
        return Ok(closed_page(&tr, LifeState::Ready));
    }
    match field("decision") {
        Some("decline") => {
            let e = event(b, &s, Event::Rejected, LifeState::Rejected);
            if !b
                .store
                .end_sign_session(
                    &s.id,
                    s.stage,
                    LifeState::Rejected,
                    None,
                    &[],
                    Some(&e),
                    now,
                )
                .await?
            {
                return Ok(closed_page(&tr, LifeState::Ready));
            }
            tracing::info!(client.id = %s.client_id, sign.session = %&s.id[..8], "signing declined by the signer");
            return Ok(match redirect_url(&s, "cancel", None) {
                Some(u) => see_other(&u),
                None => closed_page(&tr, LifeState::Rejected),
            });
        }
        Some("sign") => {}
        _ => {
            return Ok(problem_page(
                &tr,
                StatusCode::BAD_REQUEST,
                "sign-form-stale",
            ));
        }
    }
    if !matches!(field("agree"), Some("yes" | "on" | "true")) {
        return show(b, id, headers, Some(tr.t("sign-agree-missing"))).await;
    }
    let Some(client) = b.store.find_client(&s.client_id).await?.filter(may_sign) else {
        return Ok(problem_page(&tr, StatusCode::NOT_FOUND, "sign-unknown"));
    };
    let not_offered = || {
        message(
            &tr,
            StatusCode::FORBIDDEN,
            tr.t("sign-title"),
            tr.t_with("sign-not-offered", &[("client", client.name.clone())]),
            "error",
            None,
        )
    };
    let Some(scheme) = b.scheme_for_account(client.account) else {
        return Ok(not_offered());
    };
    let lang = language(&s).unwrap_or_else(|| tr.lang());
    match s.flow {
        SigningFlow::Advanced => {
            if seal::seal_for(b, scheme).await.is_err()
                || b.signing.for_scheme(scheme).tsa_url.is_none()
            {
                return Ok(not_offered());
            }
            // An Identification: the name, and the national number when the session names one
            // (or the client may have it).
            let may_nin =
                client.account == Account::Sandbox || client.grants.iter().any(|g| g == "nin");
            let scope = if may_nin {
                "openid profile nin"
            } else {
                "openid profile"
            };
            let scopes = GrantedScopes::parse(scope, client.account, &client.grants)
                .map_err(|e| BrokerError::page(&tr, e.to_string()))?;
            let registered = request_of(&s)["redirectSettings"]["success"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let started = send_to_scheme(
                b,
                ToScheme {
                    client: &client,
                    scheme,
                    channel: Channel::Signing,
                    redirect_uri: registered,
                    response_mode: ResponseMode::Query,
                    state: Some(s.id.clone()),
                    nonce: None,
                    code_challenge: String::new(),
                    scopes: &scopes,
                    ui_locales: Some(lang),
                    login_hint: None,
                    acr: Acr::Advanced,
                    touch: false,
                    claims: None,
                    hinted_sub: None,
                    dpop_jkt: None,
                },
            )
            .await
            .map_err(|e| match e {
                NotSent::Unavailable | NotSent::Failed => {
                    BrokerError::page(&tr, tr.t("sign-error-scheme"))
                }
                NotSent::Store(e) => BrokerError::from(e),
                NotSent::Internal(e) => e,
            })?;
            let from = if stale { Stage::Signing } else { s.stage };
            if !b
                .store
                .move_sign_session(
                    &s.id,
                    from,
                    Stage::Identifying,
                    Some(&token_hash(&started.transaction_id)),
                    None,
                    None,
                    now,
                )
                .await?
            {
                return Ok(closed_page(&tr, LifeState::Ready));
            }
            tracing::info!(client.id = %s.client_id, sign.session = %&s.id[..8], "signer sent to identify with itsme");
            started.bind(b, see_other(&started.url))
        }
        SigningFlow::Qualified => {
            let Some(csc) = b.signing.for_scheme(scheme).csc.clone() else {
                return Ok(not_offered());
            };
            if b.signing.for_scheme(scheme).tsa_url.is_none() {
                return Ok(not_offered());
            }
            let step = random_token(24);
            let account = random_token(16);
            let from = if stale { Stage::Signing } else { s.stage };
            if !b
                .store
                .move_sign_session(
                    &s.id,
                    from,
                    Stage::Account,
                    Some(&token_hash(&step)),
                    Some(&token_hash(token)),
                    Some(&json!({"account": account}).to_string()),
                    now,
                )
                .await?
            {
                return Ok(closed_page(&tr, LifeState::Ready));
            }
            tracing::info!(client.id = %s.client_id, sign.session = %&s.id[..8], "signer sent to itsme's signing service");
            Ok(see_other(&csc.service_authorization_url(
                &account,
                &step,
                Some(&lang),
            )))
        }
    }
}

/// What the scheme holds for a qualified signature between its two approvals.
struct Upstream {
    account: String,
    bearer: Option<String>,
    credential: Option<String>,
    chain: Vec<Vec<u8>>,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Upstream {
    fn read(s: &SignSession) -> Upstream {
        let v: Value = s
            .upstream
            .as_deref()
            .and_then(|u| serde_json::from_str(u).ok())
            .unwrap_or_default();
        Upstream {
            account: v["account"].as_str().unwrap_or_default().to_string(),
            bearer: v["bearer"].as_str().map(str::to_string),
            credential: v["credential"].as_str().map(str::to_string),
            chain: v["chain"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|x| x.as_str().and_then(|x| B64.decode(x).ok()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn write(&self) -> String {
        json!({
            "account": self.account,
            "bearer": self.bearer,
            "credential": self.credential,
            "chain": self.chain.iter().map(|c| B64.encode(c)).collect::<Vec<_>>(),
        })
        .to_string()
    }
}

/// `GET /signer/callback`: itsme's CSC service sends the signer back after each approval.
pub(crate) async fn csc_callback(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let raw = q.unwrap_or_default();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    callback_step(
        &b,
        &headers,
        get("state"),
        get("code"),
        get("error"),
        get("error_description"),
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn callback_step(
    b: &Broker,
    headers: &HeaderMap,
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    description: Option<String>,
) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 128) else {
        return Ok(problem_page(&tr, StatusCode::BAD_REQUEST, "sign-unknown"));
    };
    let Some(s) = b
        .store
        .find_sign_session_by_step(&token_hash(&state))
        .await?
    else {
        return Ok(problem_page(&tr, StatusCode::BAD_REQUEST, "sign-unknown"));
    };
    let tr = translator(language(&s).as_deref(), headers);
    let browser = cookie(headers, COOKIE).map(token_hash);
    if browser.is_none() || browser != s.browser_hash {
        tracing::warn!(sign.session = %&s.id[..8], "signing callback in another browser");
        return Ok(problem_page(
            &tr,
            StatusCode::FORBIDDEN,
            "sign-error-browser",
        ));
    }
    let Some(client) = b.store.find_client(&s.client_id).await?.filter(may_sign) else {
        return Ok(problem_page(&tr, StatusCode::NOT_FOUND, "sign-unknown"));
    };
    let Some(scheme) = b.scheme_for_account(client.account) else {
        return Ok(problem_page(&tr, StatusCode::FORBIDDEN, "sign-unknown"));
    };
    let Some(csc) = b.signing.for_scheme(scheme).csc.clone() else {
        return Ok(problem_page(&tr, StatusCode::FORBIDDEN, "sign-unknown"));
    };
    let now = b.clock.now();
    let up = Upstream::read(&s);
    if let Some(error) = error {
        // The person refused in the app: the session is rejected. Anything else (a timeout, an
        // error at itsme) leaves it open for another try.
        if let Some(bearer) = &up.bearer {
            revoke(&csc, bearer).await;
        }
        if error == "access_denied" && !timed_out(description.as_deref()) {
            let e = event(b, &s, Event::Rejected, LifeState::Rejected);
            if b.store
                .end_sign_session(
                    &s.id,
                    s.stage,
                    LifeState::Rejected,
                    None,
                    &[],
                    Some(&e),
                    now,
                )
                .await?
            {
                tracing::info!(client.id = %s.client_id, sign.session = %&s.id[..8], "signing refused in the itsme app");
            }
            return Ok(match redirect_url(&s, "cancel", None) {
                Some(u) => see_other(&u),
                None => closed_page(&tr, LifeState::Rejected),
            });
        }
        b.store
            .move_sign_session(&s.id, s.stage, Stage::Waiting, None, None, None, now)
            .await?;
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return Ok(retry_or_error(b, &tr, &s, &code));
    }
    let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 512) else {
        return Ok(problem_page(
            &tr,
            StatusCode::BAD_REQUEST,
            "sign-error-scheme",
        ));
    };
    match s.stage {
        Stage::Account => {
            if !b
                .store
                .move_sign_session(
                    &s.id,
                    Stage::Account,
                    Stage::Signing,
                    s.step_hash.as_deref(),
                    s.browser_hash.as_deref(),
                    s.upstream.as_deref(),
                    now,
                )
                .await?
            {
                return Ok(closed_page(&tr, LifeState::Ready));
            }
            match after_account(b, &csc, &s, up, &code, &tr).await {
                Ok(resp) => Ok(resp),
                Err((e, bearer)) => Ok(failed(b, &csc, &tr, &s, e, bearer).await),
            }
        }
        Stage::Approving => {
            if !b
                .store
                .move_sign_session(
                    &s.id,
                    Stage::Approving,
                    Stage::Signing,
                    s.step_hash.as_deref(),
                    s.browser_hash.as_deref(),
                    s.upstream.as_deref(),
                    now,
                )
                .await?
            {
                return Ok(closed_page(&tr, LifeState::Ready));
            }
            let bearer = up.bearer.clone();
            match after_approval(b, &csc, scheme, &s, up, &code).await {
                Ok(resp) => Ok(resp),
                Err(e) => Ok(failed(b, &csc, &tr, &s, e, bearer).await),
            }
        }
        _ => Ok(closed_page(&tr, LifeState::Ready)),
    }
}

/// Whether the scheme's `access_denied` says the person did not answer in time (itsme, like the
/// sandbox, reports a timeout in the app as `access_denied`): the session stays open for
/// another try, where a refusal rejects it.
fn timed_out(description: Option<&str>) -> bool {
    description.is_some_and(|d| {
        let d = d.to_ascii_lowercase();
        d.contains("timeout") || d.contains("timed out") || d.contains("in time")
    })
}

/// The scheme's errors as a signing failure.
fn csc_failure(e: CscError) -> SignError {
    match e {
        CscError::Unavailable(d) => SignError::Unavailable(d),
        CscError::Refused { error, description } => SignError::Internal(format!(
            "itsme's signing service refused: {error}: {description}"
        )),
        CscError::Protocol(d) | CscError::Invalid(d) => SignError::Internal(d),
    }
}

async fn revoke(csc: &CscClient, bearer: &str) {
    if let Err(e) = csc.revoke(bearer).await {
        tracing::warn!(error = %e, "could not revoke the signing service's token");
    }
}

/// A failed step: the scheme's token is revoked, the session opens again, and the signer is
/// told (and sent to the client's error URL).
async fn failed(
    b: &Broker,
    csc: &CscClient,
    tr: &Translator,
    s: &SignSession,
    e: SignError,
    bearer: Option<String>,
) -> Response {
    if let Some(bearer) = bearer {
        revoke(csc, &bearer).await;
    }
    let now = b.clock.now();
    if let Err(e) = b
        .store
        .move_sign_session(&s.id, Stage::Signing, Stage::Waiting, None, None, None, now)
        .await
    {
        tracing::warn!(error = %e, "could not reopen a signing session");
    }
    failure_page(b, tr, s, e)
}

/// What the signer sees of a failed step (the session is open again): a page for a problem
/// with the documents or the person, otherwise the client's error URL.
fn failure_page(b: &Broker, tr: &Translator, s: &SignSession, e: SignError) -> Response {
    match e {
        SignError::Document(d) => {
            tracing::warn!(sign.session = %&s.id[..8], reason = %d, "a session's documents cannot be signed");
            problem_page(tr, StatusCode::CONFLICT, "sign-error-documents")
        }
        SignError::WrongPerson => {
            tracing::warn!(client.id = %s.client_id, sign.session = %&s.id[..8], "the signer is not the person the session names");
            problem_page(tr, StatusCode::FORBIDDEN, "sign-wrong-person")
        }
        SignError::Unavailable(d) => {
            tracing::warn!(error = %d, "signing failed: unavailable");
            retry_or_error(b, tr, s, "temporarily_unavailable")
        }
        SignError::NotConfigured(d) => {
            tracing::error!(reason = d, "signing refused: not configured");
            retry_or_error(b, tr, s, "server_error")
        }
        SignError::Internal(d) => {
            tracing::error!(error = %d, "signing failed");
            retry_or_error(b, tr, s, "server_error")
        }
    }
}

/// A page saying nothing was signed, with a way to try again and the client's error URL.
fn retry_or_error(b: &Broker, tr: &Translator, s: &SignSession, code: &str) -> Response {
    match redirect_url(s, "error", Some(code)) {
        Some(u) => see_other(&u),
        None => message(
            tr,
            StatusCode::BAD_GATEWAY,
            tr.t("sign-title"),
            tr.t("sign-error-scheme"),
            "error",
            Some((
                format!("{}/signer/{}", sign_base(b), s.id),
                tr.t("sign-try-again"),
            )),
        ),
    }
}

/// After the first approval: the signing account's Bearer, the person's certificate, the check
/// of who they are, the prepared signatures, and the way to the second approval.
async fn after_account(
    b: &Broker,
    csc: &CscClient,
    s: &SignSession,
    mut up: Upstream,
    code: &str,
    tr: &Translator,
) -> Result<Response, (SignError, Option<String>)> {
    let token = csc.redeem(code).await.map_err(|e| (csc_failure(e), None))?;
    if token.kind != TokenKind::Bearer {
        return Err((
            SignError::Internal("the first approval did not give a Bearer token".into()),
            None,
        ));
    }
    let bearer = token.access_token;
    let fail = |e: SignError| (e, Some(bearer.clone()));
    let credential = csc
        .credential(&bearer)
        .await
        .map_err(|e| fail(csc_failure(e)))?;
    let leaf = credential.chain.first().cloned().ok_or_else(|| {
        fail(SignError::Internal(
            "the credential has no certificate".into(),
        ))
    })?;
    if let Some(named) = &s.signer_nin {
        let serial = passerelle_sign::ca::subject_serial_number(&leaf)
            .map_err(|e| fail(SignError::Internal(e.to_string())))?;
        if !serial.is_some_and(|v| same_person(named, &v)) {
            return Err(fail(SignError::WrongPerson));
        }
    }
    let docs = seal::documents(b, s).await.map_err(fail)?;
    let name = passerelle_sign::ca::subject_line(&leaf)
        .ok()
        .and_then(|l| common_name(&l));
    let statement = Statement {
        name,
        reason: "Qualified electronic signature with itsme".into(),
        signing_time: now_time(b),
    };
    let prepared = seal::prepare(&docs, &leaf, &statement).map_err(fail)?;
    let hashes = seal::hashes(&prepared).map_err(fail)?;
    b.store
        .put_sign_prepared(&s.id, &prepared)
        .await
        .map_err(|e| fail(e.into()))?;
    let step = random_token(24);
    up.bearer = Some(bearer.clone());
    up.credential = Some(credential.id.clone());
    up.chain = credential.chain.clone();
    let client = b
        .store
        .find_client(&s.client_id)
        .await
        .map_err(|e| fail(e.into()))?
        .map(|c| c.name)
        .unwrap_or_default();
    let url = csc
        .credential_authorization_url(
            &up.account,
            &step,
            language(s).as_deref(),
            &credential.id,
            &hashes,
            &description(tr, &client, s),
        )
        .map_err(|e| fail(csc_failure(e)))?;
    if !b
        .store
        .move_sign_session(
            &s.id,
            Stage::Signing,
            Stage::Approving,
            Some(&token_hash(&step)),
            s.browser_hash.as_deref(),
            Some(&up.write()),
            b.clock.now(),
        )
        .await
        .map_err(|e| fail(e.into()))?
    {
        return Err(fail(SignError::Internal(
            "the session moved while preparing".into(),
        )));
    }
    Ok(see_other(&url))
}

/// What the app shows for the second approval: who asks and what, in ISO-8859-15, at most 255
/// characters (itsme's limits).
fn description(tr: &Translator, client: &str, s: &SignSession) -> String {
    let request = request_of(s);
    let title = request
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let count = signed_document_ids(s).len() as i64;
    let text = tr.t_with_count(
        "sign-app-description",
        &[("client", client.to_string()), ("title", title.to_string())],
        "count",
        count,
    );
    // Fluent marks its arguments with isolation characters, which ISO-8859-15 lacks.
    let text: String = text
        .chars()
        .filter(|c| !('\u{2066}'..='\u{2069}').contains(c))
        .collect();
    latin9(&text, 255)
}

/// `text` with every character outside ISO-8859-15 replaced (typographic quotes and dashes by
/// their ASCII look-alikes, anything else by `?`), cut to `max` characters.
pub(crate) fn latin9(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => '"',
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            '\u{2026}' => '.',
            '\u{20AC}' | '\u{160}' | '\u{161}' | '\u{17D}' | '\u{17E}' | '\u{152}' | '\u{153}'
            | '\u{178}' => c,
            c if (c as u32) < 0x20 => ' ',
            c if (c as u32) <= 0xFF && !matches!(c as u32, 0xA4 | 0xA6 | 0xA8 | 0xB4 | 0xB8 | 0xBC..=0xBE | 0x7F..=0x9F) => c,
            _ => '?',
        })
        .take(max)
        .collect()
}

fn common_name(line: &str) -> Option<String> {
    line.split(", ")
        .find_map(|p| p.strip_prefix("CN="))
        .map(str::to_string)
}

fn now_time(b: &Broker) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(b.clock.now())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// After the second approval: the SAD, the signatures, the signed documents, the end.
async fn after_approval(
    b: &Broker,
    csc: &CscClient,
    scheme: Scheme,
    s: &SignSession,
    up: Upstream,
    code: &str,
) -> Result<Response, SignError> {
    let (Some(bearer), Some(credential)) = (up.bearer.clone(), up.credential.clone()) else {
        return Err(SignError::Internal(
            "the session lost its signing account".into(),
        ));
    };
    let sad = csc.redeem(code).await.map_err(csc_failure)?;
    if sad.kind != TokenKind::Sad {
        return Err(SignError::Internal(
            "the second approval did not give a SAD".into(),
        ));
    }
    let prepared = b.store.sign_prepared(&s.id).await?;
    let hashes = seal::hashes(&prepared)?;
    let signatures = csc
        .sign_hashes(&bearer, &credential, &sad.access_token, &hashes)
        .await
        .map_err(csc_failure)?;
    let (results, output) = seal::finish(b, scheme, s, &prepared, &signatures, &up.chain).await?;
    let done = end_signed(b, s, results, output).await?;
    revoke(csc, &bearer).await;
    if !done {
        return Err(SignError::Internal(
            "the session ended another way while signing".into(),
        ));
    }
    seal::package_collections(b, scheme, s).await;
    tracing::info!(client.id = %s.client_id, sign.session = %&s.id[..8], documents = prepared.len(), "documents signed (qualified)");
    Ok(match redirect_url(s, "success", None) {
        Some(u) => see_other(&u),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

async fn end_signed(
    b: &Broker,
    s: &SignSession,
    results: Vec<passerelle_store::SignedResult>,
    output: Value,
) -> Result<bool, SignError> {
    let e = event(b, s, Event::Signed, LifeState::Signed);
    Ok(b.store
        .end_sign_session(
            &s.id,
            Stage::Signing,
            LifeState::Signed,
            Some(&output.to_string()),
            &results,
            Some(&e),
            b.clock.now(),
        )
        .await?)
}

/// The session of a signer's identification (a login of channel `Signing`), if that login is
/// still the session's current attempt.
async fn identifying(
    b: &Broker,
    tx: &LoginTransaction,
) -> Result<Option<SignSession>, BrokerError> {
    let Some(id) = &tx.state else {
        return Ok(None);
    };
    Ok(b.store.find_sign_session(id).await?.filter(|s| {
        s.stage == Stage::Identifying && s.step_hash.as_deref() == Some(&token_hash(&tx.id))
    }))
}

/// The callback's end of an advanced signature's identification: check the person, seal the
/// documents in their name, and send them to the success URL.
pub(crate) async fn deliver(
    b: &Broker,
    tx: &LoginTransaction,
    claims: &Map<String, Value>,
    tr: &Translator,
) -> Result<Response, BrokerError> {
    let Some(s) = identifying(b, tx).await? else {
        return Ok(problem_page(tr, StatusCode::BAD_REQUEST, "sign-busy"));
    };
    let tr = &translator(language(&s).as_deref(), &HeaderMap::new());
    let now = b.clock.now();
    if !b
        .store
        .move_sign_session(
            &s.id,
            Stage::Identifying,
            Stage::Signing,
            s.step_hash.as_deref(),
            None,
            None,
            now,
        )
        .await?
    {
        return Ok(closed_page(tr, LifeState::Ready));
    }
    match seal_identified(b, tx.scheme, &s, claims).await {
        Ok(true) => {
            tracing::info!(client.id = %s.client_id, sign.session = %&s.id[..8], "documents sealed for an identified signer (advanced)");
            Ok(match redirect_url(&s, "success", None) {
                Some(u) => see_other(&u),
                None => closed_page(tr, LifeState::Signed),
            })
        }
        Ok(false) => Ok(closed_page(tr, LifeState::Ready)),
        Err(e) => {
            let now = b.clock.now();
            b.store
                .move_sign_session(&s.id, Stage::Signing, Stage::Waiting, None, None, None, now)
                .await?;
            Ok(failure_page(b, tr, &s, e))
        }
    }
}

async fn seal_identified(
    b: &Broker,
    scheme: Scheme,
    s: &SignSession,
    claims: &Map<String, Value>,
) -> Result<bool, SignError> {
    let nin = claims.get("nin").and_then(Value::as_str);
    if let Some(named) = &s.signer_nin
        && !nin.is_some_and(|v| same_person(named, v))
    {
        return Err(SignError::WrongPerson);
    }
    let name = claims
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let given = claims.get("given_name").and_then(Value::as_str)?;
            let family = claims.get("family_name").and_then(Value::as_str)?;
            Some(format!("{given} {family}"))
        });
    let signing_time = now_time(b);
    let when = signing_time
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut reason = format!(
        "Advanced electronic signature sealed by Passerelle for {}, identified with itsme (Identification, eIDAS high) at {when}",
        name.as_deref().unwrap_or("the signer")
    );
    if let (Some(nin), Some(_)) = (nin, &s.signer_nin) {
        reason.push_str(&format!("; national identification number {nin} verified"));
    }
    let seal = seal::seal_for(b, scheme).await?;
    let leaf = seal
        .chain
        .first()
        .ok_or_else(|| SignError::Internal("the seal has no certificate".into()))?;
    let docs = seal::documents(b, s).await?;
    let statement = Statement {
        name,
        reason,
        signing_time,
    };
    let prepared = seal::prepare(&docs, leaf, &statement)?;
    let mut signatures = Vec::new();
    for p in &prepared {
        let attrs = passerelle_sign::cades::SignedAttributes::from_der(&p.signed_attributes)?;
        signatures.push(passerelle_sign::cades::sign_locally(
            &attrs,
            &seal.key_pkcs8,
        )?);
    }
    let (results, output) = seal::finish(b, scheme, s, &prepared, &signatures, &seal.chain).await?;
    let done = end_signed(b, s, results, output).await?;
    if done {
        seal::package_collections(b, scheme, s).await;
    }
    Ok(done)
}

/// The callback's end of a signer's identification that failed: a refusal rejects the session;
/// anything else leaves it open, and the signer is sent to the error URL.
pub(crate) async fn deliver_failure(
    b: &Broker,
    tx: &LoginTransaction,
    failure: Failure,
    description: &str,
    tr: &Translator,
) -> BrokerError {
    let s = match identifying(b, tx).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return BrokerError::Page {
                status: StatusCode::BAD_REQUEST,
                tr: tr.clone(),
                message: tr.t("sign-busy"),
                show_intro: false,
            };
        }
        Err(e) => return e,
    };
    let now = b.clock.now();
    let result = if failure == Failure::Denied && !timed_out(Some(description)) {
        let e = event(b, &s, Event::Rejected, LifeState::Rejected);
        b.store
            .end_sign_session(
                &s.id,
                Stage::Identifying,
                LifeState::Rejected,
                None,
                &[],
                Some(&e),
                now,
            )
            .await
            .map(|_| redirect_url(&s, "cancel", None))
    } else {
        b.store
            .move_sign_session(
                &s.id,
                Stage::Identifying,
                Stage::Waiting,
                None,
                None,
                None,
                now,
            )
            .await
            .map(|_| {
                let code = failure.error_code().map_or("server_error", |c| c.as_str());
                redirect_url(&s, "error", Some(code))
            })
    };
    match result {
        Ok(Some(location)) => BrokerError::Found(location),
        Ok(None) => BrokerError::page(tr, tr.t("sign-error-scheme")),
        Err(e) => e.into(),
    }
}
