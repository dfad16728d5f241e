//! The authorization endpoint (OIDC Core §3.1.2): validate, then send the browser to the scheme.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use passerelle_core::claims::ClaimsRequest;
use passerelle_core::login::{self, Acr, Channel, Login, LoginEvent, LoginState, Scheme};
use passerelle_core::oidc::{
    AuthorizeError, ClientPolicy, ErrorCode, OAuthError, ParamError, Params, RedirectUri,
    ResponseMode, ValidatedAuthorizationRequest, validate_authorization_request,
};
use passerelle_core::scopes::GrantedScopes;
use passerelle_i18n::Translator;
use passerelle_itsme::{ConnectorError, UpstreamRequest};
use passerelle_limits::ClientIp;
use passerelle_store::{ClientRecord, LoginTransaction, random_token, token_hash};
use sha2::Digest as _;

use crate::{Broker, BrokerError};

/// The name of the cookie that ties one login to the browser that started it (RFC 9700 §4.7.1).
/// Each login has its own: the name carries the first characters of the login's transaction id
/// (the `state` the scheme sends back), so two logins in two tabs do not overwrite each other.
/// Its value is a fresh random string that Passerelle made for this login and whose SHA-256 the
/// transaction keeps: a value planted by someone else (a sibling subdomain, plain http) never
/// matches, and no value a browser brings is ever adopted. Behind https the name has the
/// `__Host-` prefix, which browsers accept only from this very origin, `Secure`, with `Path=/`.
pub(crate) fn binding_cookie_name(secure: bool, transaction_id: &str) -> String {
    let tag: String = transaction_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(12)
        .collect();
    if secure {
        format!("__Host-passerelle_login_{tag}")
    } else {
        format!("passerelle_login_{tag}")
    }
}

/// The `Set-Cookie` value for a login's binding cookie; `max_age` 0 removes it.
pub(crate) fn binding_cookie(secure: bool, name: &str, value: &str, max_age: i64) -> String {
    // `__Host-` requires `Path=/`; over plain http the cookie goes only to the callback.
    let (path, flags) = if secure {
        ("/", "; Secure")
    } else {
        ("/auth/open/connect/itsme/callback", "")
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{flags}")
}

pub(crate) fn translator(ui_locales: Option<&str>, headers: &HeaderMap) -> Translator {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Translator::negotiate(ui_locales, accept)
}

/// The page for a request that repeats a parameter (RFC 6749 §3.1).
/// The page for parameters that cannot be taken (RFC 6749 §3.1: repeated; or holding a NUL).
pub(crate) fn repeated(tr: &Translator, e: ParamError) -> BrokerError {
    BrokerError::page(tr, tr.t_with(e.key(), &[("name", e.name())]))
}

pub(crate) fn parse_params(bytes: &[u8]) -> Result<Params, ParamError> {
    Params::from_pairs(
        url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())),
    )
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

pub(crate) async fn get(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(e) = limited(&b, ip.as_deref(), &headers) {
        return e.into_response();
    }
    authorize(&b, &headers, q.unwrap_or_default().as_bytes(), false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn post(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = limited(&b, ip.as_deref(), &headers) {
        return e.into_response();
    }
    authorize(&b, &headers, &body, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The authorization endpoint's rate limit per source address (each request signs a request
/// object and stores a login): a page in the person's language when over it.
fn limited(b: &Broker, ip: Option<&ClientIp>, headers: &HeaderMap) -> Result<(), BrokerError> {
    b.limits
        .authorize_per_ip
        .check_ip(ip)
        .map_err(|t| BrokerError::throttled(t, Some(&translator(None, headers))))
}

async fn authorize(
    b: &Broker,
    headers: &HeaderMap,
    raw: &[u8],
    is_post: bool,
) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let params = parse_params(raw).map_err(|name| repeated(&tr, name))?;
    let tr = translator(params.get("ui_locales"), headers);
    let client_id = params
        .get("client_id")
        .ok_or_else(|| BrokerError::page(&tr, tr.t("error-missing-client-id")))?;
    let client = b
        .store
        .find_client(client_id)
        .await?
        .ok_or_else(|| BrokerError::page(&tr, tr.t("error-unknown-client")))?;
    let resolved =
        match crate::request_object::resolve_at_authorization_endpoint(b, &client, &params).await {
            Ok(r) => r,
            Err(refusal) => return Err(refused(b, &client, refusal, tr)),
        };
    let params = resolved.params;
    let account = client.account;
    let policy = ClientPolicy {
        redirect_uris: &client.redirect_uris,
        account,
        grants: &client.grants,
    };
    let request = match validate_authorization_request(&params, &policy) {
        Ok(r) => r,
        Err(AuthorizeError::Page(reason)) => {
            return Err(BrokerError::page(&tr, tr.t(reason.key())));
        }
        Err(AuthorizeError::Redirect(r)) => {
            return Err(BrokerError::Redirect {
                redirect_uri: r.redirect_uri,
                response_mode: r.response_mode,
                state: r.state,
                error: r.error,
                issuer: b.issuer.clone(),
                tr,
            });
        }
    };
    let fail = |code: ErrorCode, description: &str, request: &ValidatedAuthorizationRequest| {
        BrokerError::Redirect {
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            error: OAuthError::new(code, description),
            issuer: b.issuer.clone(),
            tr: tr.clone(),
        }
    };
    // An id_token_hint names the person the client expects (OIDC Core §3.1.2.1): it must be an
    // ID token of ours for this client; only that person may then complete the login.
    let hinted_sub = match &request.id_token_hint {
        None => None,
        Some(hint) => Some(
            b.hinted_subject(&client.id, hint, b.clock.now())
                .await
                .ok_or_else(|| {
                    fail(
                        ErrorCode::InvalidRequest,
                        "id_token_hint is not an ID token this Passerelle issued to this client",
                        &request,
                    )
                })?,
        ),
    };
    let Some(scheme) = b.scheme_for_account(account) else {
        tracing::warn!(client.id = %client.id, "production client refused: no real itsme environment is configured");
        b.metrics.login_ended_with(ErrorCode::UnauthorizedClient);
        return Err(BrokerError::Unserved {
            client_name: client.name.clone(),
            redirect_uri: request.redirect_uri.clone(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            error: OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "This Passerelle has no real itsme environment configured, so it does not log people in for production clients. Use a sandbox client, or ask the operator to configure [itsme].",
            ),
            issuer: b.issuer.clone(),
            tr,
        });
    };
    let upstream_scopes = request.upstream_scopes();
    let started = send_to_scheme(
        b,
        ToScheme {
            client: &client,
            scheme,
            channel: Channel::Redirect,
            redirect_uri: request.redirect_uri.as_str().to_string(),
            response_mode: request.response_mode,
            state: request.state.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            scopes: &request.scopes,
            ui_locales: request.ui_locales.clone(),
            login_hint: request.login_hint.clone(),
            acr: request.acr,
            touch: request.touch,
            claims: request.claims.as_ref().map(|c| (c, &upstream_scopes)),
            hinted_sub,
            dpop_jkt: request.dpop_jkt.clone(),
        },
    )
    .await
    .map_err(|e| match e {
        NotSent::Unavailable => fail(
            ErrorCode::TemporarilyUnavailable,
            "The itsme scheme cannot be reached right now; try again in a moment.",
            &request,
        ),
        NotSent::Failed => fail(
            ErrorCode::ServerError,
            "Passerelle could not start the login at the itsme scheme.",
            &request,
        ),
        NotSent::Store(e) => {
            BrokerError::unavailable_to_client(e, |code, d| fail(code, d, &request))
        }
        NotSent::Internal(e) => e,
    })?;
    if let Some(pushed) = &resolved.pushed {
        // The code this login issues consumes the pushed request (`callback`).
        b.store
            .link_login_to_pushed_request(
                &started.transaction_id,
                pushed,
                b.clock.now() + b.lifetimes.login,
            )
            .await?;
    }
    b.metrics.login_started(request.scopes.service());
    tracing::info!(client.id = %client.id, flow.id = %&started.transaction_id[..8], flow.service = request.scopes.service().as_str(), "login sent to the itsme scheme");
    let resp = if is_post {
        Redirect::to(&started.url).into_response()
    } else {
        (StatusCode::FOUND, [(header::LOCATION, started.url.clone())]).into_response()
    };
    started.bind(b, resp)
}

/// The answer to a request refused before its parameters were validated (a bad request object,
/// an unusable `request_uri`, a client's PAR or signing requirement): redirected to the client
/// when the parameters that can be trusted name one of its redirect URIs, shown to the person
/// otherwise (RFC 6749 §4.1.2.1).
fn refused(
    b: &Broker,
    client: &ClientRecord,
    r: crate::request_object::Refusal,
    tr: Translator,
) -> BrokerError {
    let redirect_uri = r
        .trusted
        .get("redirect_uri")
        .and_then(|u| RedirectUri::match_registered(u, &client.redirect_uris));
    tracing::info!(client.id = %client.id, oauth.error = r.code.as_str(), "authorization request refused");
    match redirect_uri {
        Some(redirect_uri) => BrokerError::Redirect {
            redirect_uri,
            response_mode: r
                .trusted
                .get("response_mode")
                .and_then(ResponseMode::parse)
                .unwrap_or(ResponseMode::Query),
            state: r
                .trusted
                .get("state")
                .filter(|s| s.len() <= 2048)
                .map(str::to_string),
            error: OAuthError::new(r.code, r.description),
            issuer: b.issuer.clone(),
            tr,
        },
        None => {
            let message = tr.t_with(
                "error-request-refused",
                &[
                    ("code", r.code.as_str().to_string()),
                    ("description", r.description),
                ],
            );
            BrokerError::page(&tr, message)
        }
    }
}

/// What a login needs to start at the scheme, whichever way it came in.
pub(crate) struct ToScheme<'a> {
    pub client: &'a ClientRecord,
    pub scheme: Scheme,
    pub channel: Channel,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scopes: &'a GrantedScopes,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
    pub acr: Acr,
    pub touch: bool,
    /// The `claims` parameter (OIDC Core §5.5) with the scopes it widens `scopes` to: the scheme
    /// is asked for the latter, the login keeps the former and the request.
    pub claims: Option<(&'a ClaimsRequest, &'a GrantedScopes)>,
    /// The pairwise subject of the person an `id_token_hint` named.
    pub hinted_sub: Option<String>,
    /// The thumbprint of the DPoP key the login's code is to be bound to (RFC 9449 §10).
    pub dpop_jkt: Option<String>,
}

/// Why a login could not be sent to the scheme.
pub(crate) enum NotSent {
    /// The scheme cannot be reached.
    Unavailable,
    /// The request to it could not be built.
    Failed,
    /// The login could not be stored.
    Store(passerelle_store::StoreError),
    Internal(BrokerError),
}

/// A login stored and ready to go: where to send the browser, and the browser binding to set.
pub(crate) struct Started {
    pub url: String,
    pub transaction_id: String,
    browser: String,
}

impl Started {
    /// `resp` (the way to the scheme) with the login's binding cookie and `no-store`.
    pub(crate) fn bind(&self, b: &Broker, mut resp: Response) -> Result<Response, BrokerError> {
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let name = binding_cookie_name(b.secure_cookies, &self.transaction_id);
        let value = binding_cookie(b.secure_cookies, &name, &self.browser, b.lifetimes.login);
        let value = HeaderValue::from_str(&value).map_err(BrokerError::internal)?;
        resp.headers_mut().insert(header::SET_COOKIE, value);
        Ok(resp)
    }
}

/// Starts a login (`core::login`: `Requested` → `AtScheme`): builds the scheme's request,
/// stores the login with a fresh browser binding, and says where the browser goes.
pub(crate) async fn send_to_scheme(b: &Broker, req: ToScheme<'_>) -> Result<Started, NotSent> {
    let now = b.clock.now();
    // A fresh binding for this login only, whatever cookies the browser brought.
    let browser = random_token(24);
    let verifier = random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let (started, _) = login::advance(
        Login {
            state: LoginState::Requested,
            channel: req.channel,
            expires_at: now + b.lifetimes.login,
        },
        LoginEvent::SentToScheme,
        now,
    )
    .map_err(|e| NotSent::Internal(BrokerError::internal(e)))?;
    let transaction = LoginTransaction {
        id: random_token(24),
        client_id: req.client.id.clone(),
        redirect_uri: req.redirect_uri,
        response_mode: req.response_mode,
        state: req.state,
        nonce: req.nonce,
        code_challenge: req.code_challenge,
        scope: req.scopes.to_scope_string(),
        ui_locales: req.ui_locales.clone(),
        browser_hash: token_hash(&browser),
        upstream_nonce: random_token(24),
        upstream_verifier: verifier,
        scheme: req.scheme,
        status: started.state,
        channel: started.channel,
        acr: req.acr,
        claims_request: req.claims.map(|(c, _)| c.to_stored()),
        hinted_sub: req.hinted_sub,
        dpop_jkt: req.dpop_jkt,
        created_at: now,
        expires_at: started.expires_at,
    };
    let upstream = UpstreamRequest {
        state: &transaction.id,
        nonce: &transaction.upstream_nonce,
        code_challenge: &challenge,
        scopes: req.claims.map_or(req.scopes, |(_, widened)| widened),
        ui_locales: req.ui_locales.as_deref(),
        login_hint: req.login_hint.as_deref(),
        client_name: &req.client.name,
        acr: req.acr,
        touch: req.touch,
    };
    let connector = b.connector_for(req.scheme).ok_or_else(|| {
        NotSent::Internal(BrokerError::internal("no connector for the chosen scheme"))
    })?;
    let url = match connector
        .authorization_url(&upstream, now, &random_token(16))
        .await
    {
        Ok(u) => u,
        Err(ConnectorError::Unavailable(detail)) => {
            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
            return Err(NotSent::Unavailable);
        }
        Err(ConnectorError::Protocol(detail)) => {
            tracing::error!(error = %detail, "cannot build the request to the itsme scheme");
            return Err(NotSent::Failed);
        }
    };
    b.store
        .insert_login_transaction(&transaction)
        .await
        .map_err(NotSent::Store)?;
    Ok(Started {
        url,
        transaction_id: transaction.id,
        browser,
    })
}
