//! The pushed authorization request endpoint (RFC 9126), at Signicat's path
//! `<issuer>/connect/par`: the client authenticates as at the token endpoint, its request is
//! validated as at the authorization endpoint, and it gets a short-lived `request_uri` bound to
//! it. Errors are JSON (RFC 9126 §2.3).
//!
//! A DPoP proof sent with the push is checked as at the token endpoint and binds the login's
//! code to its key, as a `dpop_jkt` parameter does (RFC 9449 §10.1): the key's thumbprint is
//! stored with the request as its `dpop_jkt`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::oidc::{
    AuthorizeError, ClientPolicy, ErrorCode, ParamError, validate_authorization_request,
};
use passerelle_i18n::Translator;
use passerelle_jose::dpop::PROOF_ALGS;
use passerelle_limits::ClientIp;
use passerelle_store::{PushedRequest, random_token, token_hash};
use serde_json::json;

use crate::dpop::Endpoint;
use crate::request_object::{PUSHED_REQUEST_SECS, REQUEST_URI_PREFIX, unpack};
use crate::{Broker, BrokerError};

/// The parameters of client authentication, which are not part of the pushed request.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

pub(crate) async fn par(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    push(&b, ip.as_deref(), &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn push(
    b: &Broker,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    let (client, form) = crate::client_auth::authenticated_form(b, ip, headers, body).await?;
    let at = Endpoint {
        method: "POST",
        path: "/connect/par",
        at_resource: false,
    };
    let algs = client.allowed_algs().unwrap_or(&PROOF_ALGS);
    let proof = b.dpop_proof(headers, at, None, algs).await?;
    if form.get("request_uri").is_some() {
        return Err(BrokerError::token(
            ErrorCode::InvalidRequest,
            "request_uri cannot be pushed (RFC 9126 §2.1): send the parameters, or a request object in request",
        ));
    }
    let (params, signed) = match form.get("request") {
        Some(request) => (
            unpack(b, &client, &form, request)
                .await
                .map_err(|p| BrokerError::token(p.code, p.description))?,
            true,
        ),
        None if client.par.require_signed => {
            return Err(BrokerError::token(
                ErrorCode::InvalidRequest,
                "this client must send its requests as signed request objects (require_signed_request_object)",
            ));
        }
        None => (form.without(&CLIENT_AUTH_PARAMS), false),
    };
    let unreadable = |e: ParamError| BrokerError::token(ErrorCode::InvalidRequest, e.to_string());
    // With Basic credentials the form may not name the client: the request does.
    let params = if params.get("client_id").is_none() {
        params.with("client_id", &client.id).map_err(unreadable)?
    } else {
        params
    };
    let policy = ClientPolicy {
        redirect_uris: &client.redirect_uris,
        account: client.account,
        grants: &client.grants,
    };
    let request = match validate_authorization_request(&params, &policy) {
        Ok(r) => r,
        Err(AuthorizeError::Page(reason)) => {
            let english = Translator::negotiate(Some("en"), None);
            return Err(BrokerError::token(
                ErrorCode::InvalidRequest,
                english.t(reason.key()),
            ));
        }
        Err(AuthorizeError::Redirect(r)) => {
            return Err(BrokerError::token(r.error.code, r.error.description));
        }
    };
    // The proof's key binds the code as `dpop_jkt` does; when both came, they must name the same
    // key (RFC 9449 §10.1).
    let params = match (&proof, request.dpop_jkt.as_deref()) {
        (Some(p), Some(jkt)) if p.jkt != jkt => {
            return Err(BrokerError::token(
                ErrorCode::InvalidRequest,
                "dpop_jkt is not the thumbprint of the DPoP proof's key (RFC 9449 §10.1)",
            ));
        }
        (Some(p), None) => params.with("dpop_jkt", &p.jkt).map_err(unreadable)?,
        _ => params,
    };
    let now = b.clock.now();
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token(32));
    b.store
        .insert_pushed_request(&PushedRequest {
            id: token_hash(&request_uri),
            client_id: client.id.clone(),
            params: params.pairs().to_vec(),
            signed,
            created_at: now,
            expires_at: now + PUSHED_REQUEST_SECS,
            kept_until: now + PUSHED_REQUEST_SECS + b.lifetimes.login,
            consumed_at: None,
        })
        .await?;
    tracing::info!(client.id = %client.id, request.signed = signed, request.dpop_bound = params.get("dpop_jkt").is_some(), "authorization request pushed");
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({ "request_uri": request_uri, "expires_in": PUSHED_REQUEST_SECS })),
    )
        .into_response())
}
