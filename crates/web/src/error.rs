//! The one place where failures become responses. Three shapes (STYLE.md): an OAuth error
//! redirect once the client and its redirect URI are trusted, a JSON error for the token and
//! userinfo endpoints (RFC 6749 §5.2, RFC 6750 §3), and an HTML page in the person's language.
//!
//! An unavailable database is the one failure whose shape follows the route rather than the
//! handler: [`BrokerError::Unavailable`] renders as JSON, and on the routes a person's browser
//! opens, [`unavailable_as_page`] turns it into a page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::oidc::{ErrorCode, OAuthError, RedirectUri, ResponseMode};
use passerelle_i18n::Translator;
use passerelle_limits::later;
use passerelle_store::StoreError;
use serde_json::json;

use crate::pages::{Csp, ErrorPage, FormPostPage, UnservedPage, html};

/// A request that failed.
#[derive(Debug)]
pub enum BrokerError {
    /// A page for the person: the client or redirect URI cannot be trusted, or the login is gone.
    Page {
        status: StatusCode,
        tr: Translator,
        message: String,
        show_intro: bool,
    },
    /// An OAuth error sent to the client's trusted redirect URI.
    Redirect {
        redirect_uri: RedirectUri,
        response_mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
        issuer: String,
        tr: Translator,
    },
    /// A login this deployment refuses to serve (a production client while no real itsme is
    /// configured): a page for the person that says why, whose button carries the OAuth error to
    /// the client's trusted redirect URI.
    Unserved {
        client_name: String,
        redirect_uri: RedirectUri,
        response_mode: ResponseMode,
        state: Option<String>,
        error: OAuthError,
        issuer: String,
        tr: Translator,
    },
    /// A token-endpoint error; `invalid_client` is a 401 with a `WWW-Authenticate` challenge.
    Token { error: OAuthError },
    /// A userinfo error; without a code when no token was sent (RFC 6750 §3.1).
    Bearer { error: Option<OAuthError> },
    /// A DPoP refusal (RFC 9449): at the token endpoint and PAR a 400 JSON error (§5), at a
    /// protected resource a 401 with a `DPoP` challenge (§7.1). `nonce`, when set, goes out as
    /// the `DPoP-Nonce` header the client must use next (§8, §9).
    Dpop {
        error: OAuthError,
        nonce: Option<String>,
        at_resource: bool,
    },
    /// The database cannot be reached right now ([`StoreError::Unavailable`]): 503 with
    /// `Retry-After` and `temporarily_unavailable`, the detail logged here. JSON as rendered;
    /// a page on the routes behind [`unavailable_as_page`].
    Unavailable(String),
    /// Over a rate limit, at a JSON endpoint: 429 with `Retry-After`.
    Throttled { retry_after_secs: u64 },
    /// Over a rate limit, at a page: 429 with `Retry-After`, in the person's language.
    ThrottledPage {
        tr: Translator,
        retry_after_secs: u64,
    },
    /// Our own fault: logged here, a generic answer outside.
    Internal(String),
    /// A finished answer that is not an error to render: the browser goes on to a REST session's
    /// abort or error URL.
    Found(String),
}

/// What a client is told while the database is unavailable (the detail goes to the log only).
pub(crate) const UNAVAILABLE: &str =
    "Passerelle is temporarily unavailable; try again in a few seconds.";
impl BrokerError {
    pub(crate) fn page(tr: &Translator, message: impl Into<String>) -> BrokerError {
        BrokerError::Page {
            status: StatusCode::BAD_REQUEST,
            tr: tr.clone(),
            message: message.into(),
            show_intro: true,
        }
    }

    pub(crate) fn token(code: ErrorCode, description: impl Into<String>) -> BrokerError {
        BrokerError::Token {
            error: OAuthError::new(code, description),
        }
    }

    /// A rate-limit refusal: JSON for machines, a page for a person.
    pub(crate) fn throttled(
        t: passerelle_limits::Throttled,
        page: Option<&Translator>,
    ) -> BrokerError {
        match page {
            Some(tr) => BrokerError::ThrottledPage {
                tr: tr.clone(),
                retry_after_secs: t.retry_after_secs,
            },
            None => BrokerError::Throttled {
                retry_after_secs: t.retry_after_secs,
            },
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> BrokerError {
        BrokerError::Internal(e.to_string())
    }
}

impl From<StoreError> for BrokerError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            BrokerError::Unavailable(e.to_string())
        } else {
            BrokerError::Internal(e.to_string())
        }
    }
}

impl BrokerError {
    /// A storage failure once the client and its redirect URI are trusted: an unavailable
    /// database goes to the client as `temporarily_unavailable` (RFC 6749 §4.1.2.1), built by
    /// `to_client`; any other failure stays internal.
    pub(crate) fn unavailable_to_client(
        e: StoreError,
        to_client: impl FnOnce(ErrorCode, &'static str) -> BrokerError,
    ) -> BrokerError {
        match BrokerError::from(e) {
            BrokerError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "the database is unavailable; the client is told to try again");
                to_client(ErrorCode::TemporarilyUnavailable, UNAVAILABLE)
            }
            other => other,
        }
    }
}

/// The 503 page for the routes a person's browser opens (authorize, the scheme's callback), for
/// `passerelle_limits::later::unavailable_as_page`.
pub(crate) fn unavailable_page(
    ui_locales: Option<&str>,
    accept_language: Option<&str>,
) -> Response {
    let tr = Translator::negotiate(ui_locales, accept_language);
    BrokerError::Page {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: tr.t("error-unavailable"),
        tr,
        show_intro: false,
    }
    .into_response()
}

/// Sends authorization-response parameters to the client, by query or by auto-submitting form.
pub(crate) fn respond_to_client(
    redirect_uri: &RedirectUri,
    mode: ResponseMode,
    params: Vec<(String, String)>,
    tr: &Translator,
) -> Response {
    match mode {
        ResponseMode::Query => {
            let Ok(mut url) = url::Url::parse(redirect_uri.as_str()) else {
                return BrokerError::Internal("a registered redirect URI does not parse".into())
                    .into_response();
            };
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            // RFC 6749 §4.1.2 shows 302 Found; it works for every client.
            (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
        }
        ResponseMode::FormPost => {
            let nonce = passerelle_store::random_token(16);
            html(
                StatusCode::OK,
                &FormPostPage {
                    tr,
                    action: redirect_uri.as_str().to_string(),
                    fields: params,
                    nonce: nonce.clone(),
                },
                Csp::ScriptNonce(&nonce),
            )
        }
    }
}

/// The parameters of an error response (RFC 6749 §4.1.2.1, RFC 9207 `iss`).
fn error_params(error: OAuthError, state: Option<String>, issuer: String) -> Vec<(String, String)> {
    let mut params = vec![
        ("error".to_string(), error.code.as_str().to_string()),
        ("error_description".to_string(), error.description),
    ];
    if let Some(s) = state {
        params.push(("state".into(), s));
    }
    params.push(("iss".into(), issuer));
    params
}

/// A description as a header value takes it: visible ASCII only, no double quote (the body has
/// it all).
fn header_safe(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

fn token_body(e: &OAuthError) -> axum::Json<serde_json::Value> {
    axum::Json(json!({ "error": e.code.as_str(), "error_description": e.description }))
}

impl IntoResponse for BrokerError {
    fn into_response(self) -> Response {
        match self {
            BrokerError::Page {
                status,
                tr,
                message,
                show_intro,
            } => {
                tracing::info!(
                    http.status = status.as_u16(),
                    "request refused with an error page"
                );
                html(
                    status,
                    &ErrorPage {
                        tr: &tr,
                        message,
                        show_intro,
                    },
                    Csp::Static,
                )
            }
            BrokerError::Redirect {
                redirect_uri,
                response_mode,
                state,
                error,
                issuer,
                tr,
            } => {
                tracing::info!(
                    oauth.error = error.code.as_str(),
                    "authorization error sent to the client"
                );
                let params = error_params(error, state, issuer);
                respond_to_client(&redirect_uri, response_mode, params, &tr)
            }
            BrokerError::Unserved {
                client_name,
                redirect_uri,
                response_mode,
                state,
                error,
                issuer,
                tr,
            } => {
                tracing::info!(
                    oauth.error = error.code.as_str(),
                    "login refused by this deployment; the person is shown why"
                );
                let params = error_params(error, state, issuer);
                let (action, fields) = match response_mode {
                    ResponseMode::Query => match url::Url::parse(redirect_uri.as_str()) {
                        Ok(mut url) => {
                            url.query_pairs_mut()
                                .extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                            (url.to_string(), Vec::new())
                        }
                        Err(_) => {
                            return BrokerError::Internal(
                                "a registered redirect URI does not parse".into(),
                            )
                            .into_response();
                        }
                    },
                    ResponseMode::FormPost => (redirect_uri.as_str().to_string(), params),
                };
                let client = [("client", client_name.chars().take(100).collect::<String>())];
                html(
                    StatusCode::FORBIDDEN,
                    &UnservedPage {
                        tr: &tr,
                        message: tr.t_with("broker-unserved-body", &client),
                        back: tr.t_with("broker-unserved-back", &client),
                        form_post: response_mode == ResponseMode::FormPost,
                        action,
                        fields,
                    },
                    Csp::FormToClient,
                )
            }
            BrokerError::Token { error } => {
                let status = if error.code == ErrorCode::InvalidClient {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                tracing::info!(oauth.error = error.code.as_str(), "token request refused");
                let mut resp = (
                    status,
                    [
                        (header::CACHE_CONTROL, "no-store"),
                        (header::PRAGMA, "no-cache"),
                    ],
                    token_body(&error),
                )
                    .into_response();
                if status == StatusCode::UNAUTHORIZED {
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"passerelle\""),
                    );
                }
                resp
            }
            BrokerError::Bearer { error } => {
                let (challenge, body) = match &error {
                    Some(e) => (
                        format!(
                            "Bearer realm=\"passerelle\", error=\"{}\", error_description=\"{}\"",
                            e.code.as_str(),
                            header_safe(&e.description)
                        ),
                        token_body(e),
                    ),
                    None => (
                        "Bearer realm=\"passerelle\"".to_string(),
                        axum::Json(
                            json!({ "error": "invalid_request", "error_description": "no access token was sent" }),
                        ),
                    ),
                };
                let status = match &error {
                    Some(e) if e.code == ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    _ => StatusCode::UNAUTHORIZED,
                };
                let mut resp = (status, body).into_response();
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            }
            BrokerError::Dpop {
                error,
                nonce,
                at_resource,
            } => {
                tracing::info!(oauth.error = error.code.as_str(), "DPoP proof refused");
                let mut resp = if at_resource {
                    let mut resp = (StatusCode::UNAUTHORIZED, token_body(&error)).into_response();
                    let challenge = format!(
                        "DPoP algs=\"{}\", error=\"{}\", error_description=\"{}\"",
                        passerelle_jose::dpop::PROOF_ALGS.join(" "),
                        error.code.as_str(),
                        header_safe(&error.description)
                    );
                    if let Ok(v) = HeaderValue::from_str(&challenge) {
                        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                    }
                    resp
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        [
                            (header::CACHE_CONTROL, "no-store"),
                            (header::PRAGMA, "no-cache"),
                        ],
                        token_body(&error),
                    )
                        .into_response()
                };
                if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
                    resp.headers_mut().insert("dpop-nonce", v);
                }
                resp
            }
            BrokerError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "the database is unavailable; answered 503");
                later::unavailable_json(UNAVAILABLE)
            }
            BrokerError::Throttled { retry_after_secs } => {
                tracing::debug!(http.status = 429, "request over a rate limit");
                later::throttled_json(retry_after_secs)
            }
            BrokerError::ThrottledPage {
                tr,
                retry_after_secs,
            } => {
                tracing::debug!(http.status = 429, "page request over a rate limit");
                let seconds = i64::try_from(retry_after_secs).unwrap_or(i64::MAX);
                let mut resp = html(
                    StatusCode::TOO_MANY_REQUESTS,
                    &ErrorPage {
                        tr: &tr,
                        message: tr.t_count("error-rate-limited", "seconds", seconds),
                        show_intro: false,
                    },
                    Csp::Static,
                );
                later::with_retry_after(&mut resp, retry_after_secs);
                resp
            }
            BrokerError::Found(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
            )
                .into_response(),
            BrokerError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "error": "server_error", "error_description": "an internal error occurred" })))
                    .into_response()
            }
        }
    }
}
