//! The sandbox's HTTP endpoints (itsme OIDC v2 shape) and its pages, by audience: `oidc` (the
//! scheme's endpoints for its clients), `browser` (the pages a person's browser opens), `app`
//! (the emulated itsme app), `decoupled` (itsme's decoupled API), `csc` (itsme's signing
//! service) and `trust` (the signing service's router, the CA's certificates and the TSA); here,
//! the OIDC provider's router and the action bookkeeping every room shares (`apply`, `Failure`,
//! the lifetimes).

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
use passerelle_core::csc::Dance;
use passerelle_core::flow::{self, ActionEvent, ActionState, Behaviour, Effect, Method, Rejection};
use passerelle_core::login::Acr;
use passerelle_core::oidc::{ParamError, Params, verify_pkce};
use passerelle_core::scopes::Service;
use passerelle_i18n::Translator;
use passerelle_itsme::claims::uri;
use passerelle_jose::{Claims, SigAlg};
use passerelle_limits::{ClientIp, later};
use passerelle_store::{
    Approval, CodeAttempt, NewAction, SandboxAction, SandboxPace, SandboxToken, StoreError,
    random_token, token_hash,
};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::pages::{
    AppPage, DeviceChoice, DevicePage, DiscoverPage, Icon, InboxPage, InboxRow, MessagePage,
    OpenPage, PersonaRow, PersonasPage, PhonePage, QrBox, SigningView, WaitPage, Watch, html,
};
use crate::{Persona, Sandbox, SandboxClient};

mod app;
mod browser;
mod csc;
mod decoupled;
mod device;
mod oidc;
mod trust;

use app::*;
use browser::*;
use decoupled::*;
use device::*;
use oidc::*;

pub use trust::signing_router;

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
        .route("/app/actions/{id}/open", get(open))
        .route("/app/actions/{id}/scan", get(scan))
        .route("/app/device", get(device_form).post(device_submit))
        .route("/actions/{id}/qr", get(qr_image))
        .route("/app/inbox", get(inbox_page))
        .route("/app/discover/{id}", get(discover_page).post(discover_page))
        .route_layer(axum::middleware::from_fn_with_state(
            unavailable_page as later::UnavailablePage,
            later::unavailable_as_page,
        ));
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwkSet", get(jwks))
        .route("/token", post(token))
        .route(
            "/backchannel/authentication",
            post(backchannel_authentication),
        )
        .route("/user_discovery_sessions", post(create_discovery))
        .route("/user_discovery_sessions/{id}", post(poll_discovery))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/actions/{id}/status", get(status))
        .route("/assets/wait.js", get(wait_script))
        .merge(pages)
        .with_state(sandbox)
}

/// The waiting pages' script (see `pages::WAIT_SCRIPT`).
async fn wait_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        crate::pages::WAIT_SCRIPT,
    )
        .into_response()
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
    /// An error of itsme's decoupled API (backchannel endpoint, CIBA grant): itsme names the
    /// description `detail`, not `error_description` (`_CIBA/ciba.md`).
    Decoupled {
        status: StatusCode,
        error: &'static str,
        detail: String,
    },
    /// An error of the signing service (CSC API v1 §10.1: RFC 6749 §5.2's shape): 400, or 401
    /// with a challenge for `invalid_client` (Basic) and `invalid_token` (Bearer).
    Csc {
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
            Failure::Csc {
                status,
                error,
                description,
            } => {
                let body = json!({ "error": error, "error_description": description });
                let mut resp = (
                    status,
                    [(header::CACHE_CONTROL, "no-store")],
                    axum::Json(body),
                )
                    .into_response();
                let challenge = match error {
                    _ if status != StatusCode::UNAUTHORIZED => None,
                    "invalid_client" => Some("Basic realm=\"itsme-sandbox-csc\"".to_string()),
                    _ => Some(format!("Bearer error=\"{error}\"")),
                };
                if let Some(v) = challenge.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            }
            Failure::Decoupled {
                status,
                error,
                detail,
            } => {
                let body = json!({ "error": error, "detail": detail });
                let mut resp = (
                    status,
                    [(header::CACHE_CONTROL, "no-store")],
                    axum::Json(body),
                )
                    .into_response();
                if status == StatusCode::TOO_MANY_REQUESTS {
                    later::with_retry_after(&mut resp, 5);
                }
                resp
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
            to.approved_with = Some(match event {
                ActionEvent::BiometricsConfirmed { method, .. } => method,
                _ => Method::Code,
            });
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
