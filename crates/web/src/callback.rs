//! The scheme's redirect back to Passerelle: redeem, verify, map, and answer the relying party.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_core::claims::ClaimsRequest;
use passerelle_core::login::{self, Channel, ClientChange, Effect, Failure, Login, LoginEvent};
use passerelle_core::oidc::{ErrorCode, OAuthError, RedirectUri};
use passerelle_core::scopes::GrantedScopes;
use passerelle_i18n::Translator;
use passerelle_itsme::ConnectorError;
use passerelle_itsme::claims::{filter_for_scopes, map_to_rp_claims};
use passerelle_store::{
    AuditEvent, LoginTransaction, NewCode, PushedUse, random_token, token_hash,
};
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

/// Records that a login ended as `failure` (`core::login`), and gives the error its channel
/// delivers: a redirect to the client, or a page when there is nobody to tell.
async fn end_failed(
    b: &Broker,
    tx: &LoginTransaction,
    login: Login,
    failure: Failure,
    description: String,
    tr: &Translator,
) -> BrokerError {
    let now = b.clock.now();
    let effects = match login::advance(login, LoginEvent::Failed(failure), now) {
        Ok((next, effects)) => {
            // Kept, with its reason, until it expires; without the secrets it no longer needs
            // (the scheme's PKCE verifier and nonce, the browser binding).
            let ended = LoginTransaction {
                status: next.state,
                upstream_verifier: String::new(),
                upstream_nonce: String::new(),
                browser_hash: String::new(),
                claims_request: None,
                ..tx.clone()
            };
            if let Err(e) = b.store.insert_login_transaction(&ended).await {
                tracing::warn!(error = %e, "cannot record a failed login");
            }
            effects
        }
        Err(e) => return BrokerError::internal(e),
    };
    if let Some(f) = effects.iter().find_map(|e| match e {
        Effect::DeliverError(Channel::RestSession, f) => Some(*f),
        _ => None,
    }) {
        return crate::rest::deliver_failure(b, tx, f).await;
    }
    if let Some(f) = effects.iter().find_map(|e| match e {
        Effect::DeliverError(Channel::Signing, f) => Some(*f),
        _ => None,
    }) {
        return crate::signing::deliver_failure(b, tx, f, &description, tr).await;
    }
    let delivered = effects.iter().find_map(|e| match e {
        Effect::DeliverError(Channel::Redirect, f) => f.error_code(),
        _ => None,
    });
    match delivered {
        Some(code) => BrokerError::Redirect {
            redirect_uri: RedirectUri::from_stored(tx.redirect_uri.clone()),
            response_mode: tx.response_mode,
            state: tx.state.clone(),
            error: OAuthError::new(code, description),
            issuer: b.issuer.clone(),
            tr: tr.clone(),
        },
        None => BrokerError::page(tr, tr.t("broker-error-client-gone")),
    }
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
    // uses it nor spends it (RFC 9700 §4.7.1). Only a login waiting at the scheme takes an
    // answer, once (`core::login`); the store checks its lifetime and browser in the same
    // statement.
    let browser_hash = cookie(headers, &binding_cookie_name(b.secure_cookies, state))
        .map(token_hash)
        .unwrap_or_default();
    let Some(tx) = b.store.take_login_answer(state, &browser_hash, now).await? else {
        if b.store.login_waiting_at_scheme(state, now).await? {
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
    let (login, _) = login::advance(tx.login(), LoginEvent::SchemeAnswered, now)
        .map_err(BrokerError::internal)?;
    let tr = translator(tx.ui_locales.as_deref(), headers);
    let redirect_uri = RedirectUri::from_stored(tx.redirect_uri.clone());
    let response_mode = tx.response_mode;
    let audit_failure = |code: ErrorCode, description: &str| {
        AuditEvent::new("login.failed", code.as_str(), b.clock.now_micros())
            .client(&tx.client_id)
            .service(GrantedScopes::from_stored(&tx.scope).service().as_str())
            .detail(format!("scheme={} {description}", tx.scheme.as_str()))
    };
    // Ends the login as `failure`, audited, with `description` for the relying party.
    let (txr, trr, audit_failure) = (&tx, &tr, &audit_failure);
    let fail = move |failure: Failure, description: String| async move {
        let code = failure.error_code().unwrap_or(ErrorCode::ServerError);
        b.audit(audit_failure(code, &description)).await;
        end_failed(b, txr, login, failure, description, trr).await
    };
    // The operator may have changed the client while the person was in the app: what is given
    // out — an answer or an error — follows the client as it is now (the server caches nothing the CLI can change).
    let client = b.store.find_client(&tx.client_id).await?;
    let Some(client) = client.filter(|c| c.redirect_uris.contains(&tx.redirect_uri)) else {
        return Err(fail(
            Failure::ClientChanged(ClientChange::Gone),
            "The client or its redirect URI was removed during the login.".into(),
        )
        .await);
    };
    if let Err(e) = GrantedScopes::parse(&tx.scope, client.account, &client.grants) {
        return Err(fail(Failure::ClientChanged(ClientChange::Scopes), e.to_string()).await);
    }
    // The deployment's rule, as it is now: a production client whose login went to the sandbox
    // while the operator allowed it gets nothing once that is no longer allowed.
    let Some(connector) = b
        .still_serves(client.account, tx.scheme)
        .then(|| b.connector_for(tx.scheme))
        .flatten()
    else {
        return Err(fail(
            Failure::ClientChanged(ClientChange::Scheme),
            "This Passerelle no longer serves this client with the scheme the login started at."
                .into(),
        )
        .await);
    };
    if let Some(error) = params.get("error") {
        let description = clean(params.get("error_description").unwrap_or_default());
        let failure = Failure::from_scheme_error(ErrorCode::parse(error));
        let description = match failure {
            Failure::Denied if description.is_empty() => {
                "The user refused or failed the itsme confirmation.".into()
            }
            Failure::Denied => description,
            Failure::SchemeUnavailable => "The itsme scheme is temporarily unavailable.".into(),
            _ => format!("The itsme scheme answered {}: {description}", clean(error)),
        };
        tracing::info!(client.id = %tx.client_id, oauth.error = failure.error_code().map_or("", ErrorCode::as_str), "the itsme scheme ended the login without approval");
        return Err(fail(failure, description).await);
    }
    let Some(code) = params.get("code") else {
        return Err(fail(
            Failure::SchemeError,
            "The itsme scheme answered without a code.".into(),
        )
        .await);
    };
    let identity = match connector
        .redeem(
            code,
            &tx.upstream_verifier,
            &tx.upstream_nonce,
            tx.acr,
            now,
            &random_token(16),
        )
        .await
    {
        Ok(i) => i,
        Err(ConnectorError::Unavailable(detail)) => {
            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
            return Err(fail(
                Failure::SchemeUnavailable,
                "The itsme scheme cannot be reached right now; try again in a moment.".into(),
            )
            .await);
        }
        Err(ConnectorError::Protocol(detail)) => {
            tracing::error!(error = %detail, "the itsme scheme's answer was rejected");
            return Err(fail(
                Failure::SchemeError,
                "The answer of the itsme scheme could not be verified.".into(),
            )
            .await);
        }
    };
    // The client named the person it expects (id_token_hint): someone else's approval gives
    // it nothing (OIDC Core §3.1.2.1).
    if let Some(hinted) = &tx.hinted_sub
        && *hinted != b.pairwise_sub(&tx.client_id, &identity.sub)?
    {
        tracing::info!(client.id = %tx.client_id, "another person than the id_token_hint's approved; no code issued");
        return Err(fail(
            Failure::AnotherPerson,
            "Another person than the one id_token_hint names approved the login.".into(),
        )
        .await);
    }
    // A redirect login's code is delivered by answering this request (`DeliverCode(Redirect)`).
    login::advance(login, LoginEvent::CodeIssued, b.clock.now()).map_err(BrokerError::internal)?;
    let scopes = GrantedScopes::from_stored(&tx.scope);
    // What the login releases: the claims of its scopes, and those asked for individually with
    // the `claims` parameter (already limited to what this client may receive). Which of them
    // go into the ID token and which to userinfo is decided when the tokens are issued.
    let requested = tx.claims_request.as_deref().map(ClaimsRequest::from_stored);
    let mapped = map_to_rp_claims(&identity.claims);
    let mut claims = filter_for_scopes(&mapped, &scopes);
    if let Some(r) = &requested {
        for name in r.names() {
            if let Some(v) = mapped.get(name) {
                claims.insert(name.to_string(), v.clone());
            }
        }
    }
    let sub = b.pairwise_sub(&tx.client_id, &identity.sub)?;
    let sub_for_audit = sub.clone();
    // So that a client registered for CIBA can name this person again in a backchannel request
    // (id_token_hint). Other clients cannot, and their logins pay no extra write.
    if client.ciba.is_some()
        && let Err(e) = b
            .store
            .link_subject(
                &tx.client_id,
                &sub,
                tx.scheme,
                &identity.sub,
                now + crate::ciba::SUBJECT_LINK_SECS,
            )
            .await
    {
        tracing::warn!(error = %e, "cannot remember the subject for id_token_hint");
    }
    if scopes.contains("idp-id")
        || requested
            .as_ref()
            .is_some_and(|r| r.names().any(|n| n == "idp_id"))
    {
        claims.insert("idp_id".into(), json!(identity.sub));
    }
    if tx.channel == Channel::Signing {
        b.metrics.login_approved(scopes.service());
        b.audit(
            AuditEvent::new("login.approved", "ok", b.clock.now_micros())
                .client(&tx.client_id)
                .service(scopes.service().as_str())
                .subject(b.audit_subject(&sub_for_audit))
                .detail(format!("scheme={} channel=signing", tx.scheme.as_str())),
        )
        .await;
        return crate::signing::deliver(b, &tx, &claims, &tr).await;
    }
    if tx.channel == Channel::RestSession {
        b.metrics.login_approved(scopes.service());
        b.audit(
            AuditEvent::new("login.approved", "ok", b.clock.now_micros())
                .client(&tx.client_id)
                .service(scopes.service().as_str())
                .subject(b.audit_subject(&sub_for_audit))
                .detail(format!(
                    "scheme={} channel=rest_session",
                    tx.scheme.as_str()
                )),
        )
        .await;
        return crate::rest::deliver(b, &tx, &sub, &claims).await;
    }
    let rp_code = random_token(32);
    let unavailable = |code: ErrorCode, d: &str| BrokerError::Redirect {
        redirect_uri: redirect_uri.clone(),
        response_mode,
        state: tx.state.clone(),
        error: OAuthError::new(code, d),
        issuer: b.issuer.clone(),
        tr: tr.clone(),
    };
    // A login started from a pushed request uses it up with its code; of two logins started
    // from the same one, the second gets no code (RFC 9126 §4: single use).
    let pushed = b
        .store
        .consume_pushed_request_of_login(&tx.id, now)
        .await
        .map_err(|e| BrokerError::unavailable_to_client(e, unavailable))?;
    if pushed == PushedUse::AlreadyUsed {
        tracing::info!(client.id = %tx.client_id, "a second login from one pushed request was refused its code");
        return Err(unavailable(
            ErrorCode::InvalidRequestUri,
            "the request_uri this login started from was already used by another login; push the request again",
        ));
    }
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
            scheme: tx.scheme,
            amr: identity.amr.iter().map(|s| s.to_string()).collect(),
            claims_request: tx.claims_request.clone(),
            dpop_jkt: tx.dpop_jkt.clone(),
            created_at: now,
            // The row outlives the code (valid for `lifetimes.code`) so that a replay can still
            // revoke the tokens it gave; its attributes go at redemption or by housekeeping.
            expires_at: now + b.lifetimes.code + b.lifetimes.access_token,
        })
        .await
        .map_err(|e| BrokerError::unavailable_to_client(e, unavailable))?;
    // From here the code's row is the login (`CodeIssued`, then `Redeemed`); a crash before
    // the code was written leaves nothing: the answer was taken, the login is over.
    b.metrics.login_approved(scopes.service());
    b.audit(
        AuditEvent::new("login.approved", "ok", b.clock.now_micros())
            .client(&tx.client_id)
            .service(scopes.service().as_str())
            .subject(b.audit_subject(&sub_for_audit))
            .detail(format!("scheme={}", tx.scheme.as_str())),
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
