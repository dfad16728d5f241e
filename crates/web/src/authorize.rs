//! The authorization endpoint (OIDC Core §3.1.2): validate, then send the browser to the scheme.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use passerelle_core::oidc::{
    AuthorizeError, ClientPolicy, ErrorCode, OAuthError, Params, ValidatedAuthorizationRequest,
    validate_authorization_request,
};
use passerelle_core::scopes::Account;
use passerelle_i18n::Translator;
use passerelle_itsme::{ConnectorError, UpstreamRequest};
use passerelle_store::{LoginTransaction, random_token, token_hash};
use sha2::Digest as _;

use crate::{Broker, BrokerError};

/// The cookie that ties a login to the browser that started it (RFC 9700 §4.7.1).
pub(crate) const BROWSER_COOKIE: &str = "passerelle_browser";

pub(crate) fn translator(ui_locales: Option<&str>, headers: &HeaderMap) -> Translator {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Translator::negotiate(ui_locales, accept)
}

/// The page for a request that repeats a parameter (RFC 6749 §3.1).
pub(crate) fn repeated(tr: &Translator, name: String) -> BrokerError {
    let name: String = name.chars().take(40).collect();
    BrokerError::page(tr, tr.t_with("error-repeated-parameter", &[("name", name)]))
}

pub(crate) fn parse_params(bytes: &[u8]) -> Result<Params, String> {
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
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    authorize(&b, &headers, q.unwrap_or_default().as_bytes(), false)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn post(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(&b, &headers, &body, true)
        .await
        .unwrap_or_else(IntoResponse::into_response)
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
    let account = Account::parse(&client.account).unwrap_or(Account::Production);
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
    let now = b.clock.now();
    let (browser, new_cookie) = match cookie(headers, BROWSER_COOKIE) {
        Some(v) => (v.to_string(), false),
        None => (random_token(24), true),
    };
    let verifier = random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let transaction = LoginTransaction {
        id: random_token(24),
        client_id: client.id.clone(),
        redirect_uri: request.redirect_uri.as_str().to_string(),
        response_mode: request.response_mode.as_str().to_string(),
        state: request.state.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        scope: request.scopes.to_scope_string(),
        ui_locales: request.ui_locales.clone(),
        browser_hash: token_hash(&browser),
        upstream_nonce: random_token(24),
        upstream_verifier: verifier,
        scheme: scheme.to_string(),
        created_at: now,
        expires_at: now + b.lifetimes.login,
    };
    let upstream = UpstreamRequest {
        state: &transaction.id,
        nonce: &transaction.upstream_nonce,
        code_challenge: &challenge,
        scopes: &request.scopes,
        ui_locales: request.ui_locales.as_deref(),
        login_hint: request.login_hint.as_deref(),
        client_name: &client.name,
    };
    let connector = b
        .connector_for(scheme)
        .ok_or_else(|| BrokerError::internal("no connector for the chosen scheme"))?;
    let url = match connector
        .authorization_url(&upstream, now, &random_token(16))
        .await
    {
        Ok(u) => u,
        Err(ConnectorError::Unavailable(detail)) => {
            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
            return Err(fail(
                ErrorCode::TemporarilyUnavailable,
                "The itsme scheme cannot be reached right now; try again in a moment.",
                &request,
            ));
        }
        Err(ConnectorError::Protocol(detail)) => {
            tracing::error!(error = %detail, "cannot build the request to the itsme scheme");
            return Err(fail(
                ErrorCode::ServerError,
                "Passerelle could not start the login at the itsme scheme.",
                &request,
            ));
        }
    };
    b.store.insert_login_transaction(&transaction).await?;
    b.metrics.login_started(request.scopes.service());
    tracing::info!(client.id = %client.id, flow.id = %&transaction.id[..8], flow.service = request.scopes.service().as_str(), "login sent to the itsme scheme");
    let mut resp = if is_post {
        Redirect::to(&url).into_response()
    } else {
        (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if new_cookie {
        let secure = if b.secure_cookies { "; Secure" } else { "" };
        let value =
            format!("{BROWSER_COOKIE}={browser}; Path=/auth/open; HttpOnly; SameSite=Lax{secure}");
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}
