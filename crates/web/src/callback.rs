//! The scheme's redirect back to Passerelle: redeem, verify, map, and answer the relying party.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_core::oidc::{ErrorCode, OAuthError, RedirectUri, ResponseMode};
use passerelle_core::scopes::{Account, GrantedScopes};
use passerelle_itsme::ConnectorError;
use passerelle_itsme::claims::{filter_for_scopes, map_to_rp_claims};
use passerelle_store::{AuditEvent, NewCode, random_token, token_hash};
use serde_json::{Value, json};

use crate::authorize::{
    binding_cookie, binding_cookie_name, cookie, parse_params, repeated, translator,
};
use crate::error::respond_to_client;
use crate::{Broker, BrokerError};

/// Keeps a description from the scheme printable and short before passing it on.
fn clean(description: &str) -> String {
    description
        .chars()
        .filter(|c| (' '..='~').contains(c))
        .take(200)
        .collect()
}

pub(crate) async fn callback(
    State(b): State<Arc<Broker>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let raw = q.unwrap_or_default();
    let mut resp = handle(&b, &headers, raw.as_bytes())
        .await
        .unwrap_or_else(|e| {
            if let BrokerError::Redirect { error, .. } = &e {
                b.metrics.login_ended_with(error.code);
            }
            e.into_response()
        });
    // The login's binding cookie has done its job, whatever the outcome: remove it.
    let state = url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    if let Some(state) = state {
        let name = binding_cookie_name(b.secure_cookies, &state);
        if let Ok(v) =
            axum::http::HeaderValue::from_str(&binding_cookie(b.secure_cookies, &name, "", 0))
        {
            resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
        }
    }
    resp
}

async fn handle(b: &Broker, headers: &HeaderMap, raw: &[u8]) -> Result<Response, BrokerError> {
    let tr = translator(None, headers);
    let params = parse_params(raw).map_err(|name| repeated(&tr, name))?;
    let gone = || BrokerError::Page {
        status: StatusCode::BAD_REQUEST,
        tr: tr.clone(),
        message: tr.t("broker-error-expired"),
        show_intro: false,
    };
    let state = params.get("state").ok_or_else(gone)?;
    let now = b.clock.now();
    // The browser binding is part of the lookup: a stranger holding the scheme's answer neither
    // uses it nor spends it (RFC 9700 §4.7.1).
    let browser_hash = cookie(headers, &binding_cookie_name(b.secure_cookies, state))
        .map(token_hash)
        .unwrap_or_default();
    let Some(tx) = b
        .store
        .consume_login_transaction(state, &browser_hash, now)
        .await?
    else {
        if b.store.login_transaction_exists(state, now).await? {
            tracing::warn!("scheme answer arrived in another browser");
            return Err(BrokerError::Page {
                status: StatusCode::BAD_REQUEST,
                tr: tr.clone(),
                message: tr.t("broker-error-browser"),
                show_intro: false,
            });
        }
        return Err(gone());
    };
    let tr = translator(tx.ui_locales.as_deref(), headers);
    let redirect_uri = RedirectUri::from_stored(tx.redirect_uri.clone());
    let response_mode = ResponseMode::parse(&tx.response_mode).unwrap_or(ResponseMode::Query);
    let audit_failure = |code: ErrorCode, description: &str| {
        AuditEvent::new("login.failed", code.as_str(), b.clock.now_micros())
            .client(&tx.client_id)
            .service(GrantedScopes::from_stored(&tx.scope).service().as_str())
            .detail(format!("scheme={} {description}", tx.scheme))
    };
    let fail = |code: ErrorCode, description: String| BrokerError::Redirect {
        redirect_uri: redirect_uri.clone(),
        response_mode,
        state: tx.state.clone(),
        error: OAuthError::new(code, description),
        issuer: b.issuer.clone(),
        tr: tr.clone(),
    };
    // The operator may have changed the client while the person was in the app: what is given
    // out — an answer or an error — follows the client as it is now (the server caches nothing the CLI can change).
    let client = b.store.find_client(&tx.client_id).await?;
    let Some(client) = client.filter(|c| c.redirect_uris.contains(&tx.redirect_uri)) else {
        return Err(BrokerError::page(&tr, tr.t("broker-error-client-gone")));
    };
    let account = Account::parse(&client.account).unwrap_or(Account::Production);
    if let Err(e) = GrantedScopes::parse(&tx.scope, account, &client.grants) {
        b.audit(audit_failure(ErrorCode::InvalidScope, &e.to_string()))
            .await;
        return Err(fail(ErrorCode::InvalidScope, e.to_string()));
    }
    // The deployment's rule, as it is now: a production client whose login went to the sandbox
    // while the operator allowed it gets nothing once that is no longer allowed.
    let Some(connector) = b
        .scheme_for_account(account)
        .filter(|s| *s == tx.scheme)
        .and_then(|s| b.connector_for(s))
    else {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "This Passerelle no longer serves this client with the scheme the login started at."
                .into(),
        ));
    };
    if let Some(error) = params.get("error") {
        let description = clean(params.get("error_description").unwrap_or_default());
        let (code, description) = match ErrorCode::parse(error) {
            Some(ErrorCode::AccessDenied) => (
                ErrorCode::AccessDenied,
                if description.is_empty() {
                    "The user refused or failed the itsme confirmation.".into()
                } else {
                    description
                },
            ),
            Some(ErrorCode::TemporarilyUnavailable) => (
                ErrorCode::TemporarilyUnavailable,
                "The itsme scheme is temporarily unavailable.".into(),
            ),
            _ => (
                ErrorCode::ServerError,
                format!("The itsme scheme answered {}: {description}", clean(error)),
            ),
        };
        tracing::info!(client.id = %tx.client_id, oauth.error = code.as_str(), "the itsme scheme ended the login without approval");
        b.audit(audit_failure(code, &description)).await;
        return Err(fail(code, description));
    }
    let Some(code) = params.get("code") else {
        let description = "The itsme scheme answered without a code.";
        b.audit(audit_failure(ErrorCode::ServerError, description))
            .await;
        return Err(fail(ErrorCode::ServerError, description.into()));
    };
    let identity = match connector
        .redeem(
            code,
            &tx.upstream_verifier,
            &tx.upstream_nonce,
            now,
            &random_token(16),
        )
        .await
    {
        Ok(i) => i,
        Err(ConnectorError::Unavailable(detail)) => {
            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
            let description =
                "The itsme scheme cannot be reached right now; try again in a moment.";
            b.audit(audit_failure(
                ErrorCode::TemporarilyUnavailable,
                description,
            ))
            .await;
            return Err(fail(ErrorCode::TemporarilyUnavailable, description.into()));
        }
        Err(ConnectorError::Protocol(detail)) => {
            tracing::error!(error = %detail, "the itsme scheme's answer was rejected");
            let description = "The answer of the itsme scheme could not be verified.";
            b.audit(audit_failure(ErrorCode::ServerError, description))
                .await;
            return Err(fail(ErrorCode::ServerError, description.into()));
        }
    };
    let scopes = GrantedScopes::from_stored(&tx.scope);
    let mut claims = filter_for_scopes(&map_to_rp_claims(&identity.claims), &scopes);
    let sub = b.pairwise_sub(&tx.client_id, &identity.sub)?;
    let sub_for_audit = sub.clone();
    if scopes.contains("idp-id") {
        claims.insert("idp_id".into(), json!(identity.sub));
    }
    let rp_code = random_token(32);
    b.store
        .insert_code(&NewCode {
            code_hash: token_hash(&rp_code),
            client_id: tx.client_id.clone(),
            redirect_uri: tx.redirect_uri.clone(),
            code_challenge: tx.code_challenge.clone(),
            nonce: tx.nonce.clone(),
            scope: tx.scope.clone(),
            sub,
            claims: Value::Object(claims).to_string(),
            auth_time: now,
            scheme: tx.scheme.clone(),
            created_at: now,
            // The row outlives the code (valid for `lifetimes.code`) so that a replay can still
            // revoke the tokens it gave; its attributes go at redemption or by housekeeping.
            expires_at: now + b.lifetimes.code + b.lifetimes.access_token,
        })
        .await
        .map_err(|e| BrokerError::unavailable_to_client(e, |code, d| fail(code, d.into())))?;
    b.metrics.login_approved(scopes.service());
    b.audit(
        AuditEvent::new("login.approved", "ok", b.clock.now_micros())
            .client(&tx.client_id)
            .service(scopes.service().as_str())
            .subject(b.audit_subject(&sub_for_audit))
            .detail(format!("scheme={}", tx.scheme)),
    )
    .await;
    tracing::info!(client.id = %tx.client_id, flow.service = scopes.service().as_str(), "login approved; code issued");
    let mut out = vec![("code".to_string(), rp_code)];
    if let Some(s) = &tx.state {
        out.push(("state".into(), s.clone()));
    }
    out.push(("iss".into(), b.issuer.clone()));
    Ok(respond_to_client(&redirect_uri, response_mode, out, &tr))
}
