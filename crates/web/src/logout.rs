//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at `<issuer>/connect/endsession`.
//!
//! itsme keeps no session and neither does Passerelle: a person approves every login in the app.
//! What a login leaves at Passerelle is what it issued to the client: access tokens and, with
//! `offline_access`, a refresh-token family. Logging out with an `id_token_hint` ends exactly
//! those, for the login the ID token's `sid` names (the hash of the code that gave them), so that
//! nothing issued in that login still works. Then the person is sent to a registered
//! `post_logout_redirect_uri` with the client's `state`, or shown a page that says they are
//! signed out and that there is nothing else to end.
//!
//! Errors never redirect: a `post_logout_redirect_uri` is used only once the client is known and
//! the URI is registered for it, exactly (§3); otherwise the person gets a page saying what is
//! wrong.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_i18n::Translator;
use passerelle_store::AuditEvent;
use serde_json::Value;

use crate::authorize::{parse_params, translator};
use crate::pages::message;
use crate::{Broker, BrokerError};

pub(crate) async fn get(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    end_session(&b, &headers, q.unwrap_or_default().as_bytes())
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn post(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    end_session(&b, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn refused(tr: &Translator, key: &str) -> Response {
    message(
        tr,
        StatusCode::BAD_REQUEST,
        tr.t("logout-error-title"),
        tr.t(key),
        "error",
        None,
    )
}

async fn end_session(b: &Broker, headers: &HeaderMap, raw: &[u8]) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let params = match parse_params(raw) {
        Ok(p) => p,
        Err(e) => return Ok(refused_with(&tr, e)),
    };
    let tr = translator(params.get("ui_locales"), headers);
    let now = b.clock.now();
    // The ID token names the client (aud) and the login (sid); an expired one is fine (§2).
    let hint = match params.get("id_token_hint") {
        None => None,
        Some(token) => match b.hinted_claims(token, now) {
            Some(claims) => Some(claims),
            None => return Ok(refused(&tr, "logout-error-hint")),
        },
    };
    let hinted_client = hint.as_ref().and_then(|c| match c.get("aud") {
        Some(Value::String(a)) => Some(a.clone()),
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_str().map(str::to_string),
        _ => None,
    });
    let client_id = match (params.get("client_id"), hinted_client) {
        (Some(given), Some(hinted)) if given != hinted => {
            return Ok(refused(&tr, "logout-error-client-mismatch"));
        }
        (Some(given), _) => Some(given.to_string()),
        (None, hinted) => hinted,
    };
    let client = match &client_id {
        None => None,
        Some(id) => match b.store.find_client(id).await? {
            Some(c) => Some(c),
            None => return Ok(refused(&tr, "logout-error-unknown-client")),
        },
    };
    let redirect = match (params.get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(_), None) => return Ok(refused(&tr, "logout-error-redirect-needs-client")),
        (Some(uri), Some(c)) => {
            if !c.post_logout_redirect_uris.iter().any(|r| r == uri) {
                return Ok(refused(&tr, "logout-error-redirect-unregistered"));
            }
            Some(uri.to_string())
        }
    };
    // What the login issued ends now, whether the person goes back or stays here.
    if let (Some(claims), Some(c)) = (&hint, &client)
        && let Some(sid) = claims.get("sid").and_then(Value::as_str)
    {
        let ended = b.store.end_grant(&c.id, sid).await?;
        b.audit(
            AuditEvent::new("logout", "ok", b.clock.now_micros())
                .client(&c.id)
                .detail(format!("tokens_ended={ended}")),
        )
        .await;
        tracing::info!(client.id = %c.id, "logged out: the login's tokens ended");
    }
    let Some(uri) = redirect else {
        let text = match &client {
            Some(c) => tr.t_with("logout-done-client", &[("client", c.name.clone())]),
            None => tr.t("logout-done"),
        };
        return Ok(message(
            &tr,
            StatusCode::OK,
            tr.t("logout-title"),
            text,
            "status",
            None,
        ));
    };
    let mut to = url::Url::parse(&uri).map_err(BrokerError::internal)?;
    if let Some(state) = params.get("state") {
        to.query_pairs_mut().append_pair("state", state);
    }
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(to.as_str()).map_err(BrokerError::internal)?,
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn refused_with(tr: &Translator, e: passerelle_core::oidc::ParamError) -> Response {
    message(
        tr,
        StatusCode::BAD_REQUEST,
        tr.t("logout-error-title"),
        tr.t_with(e.key(), &[("name", e.name())]),
        "error",
        None,
    )
}
