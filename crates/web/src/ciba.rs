//! OpenID CIBA (Client-Initiated Backchannel Authentication Core 1.0) at the broker: the
//! backchannel authentication endpoint (`/connect/ciba`, Signicat's path), the CIBA grant of
//! the token endpoint, the scheme's polls, and the ping to a ping-mode client.
//!
//! A decoupled login is a `core::login` login with the channel `DecoupledPoll` or
//! `DecoupledPing`, kept in `ciba_requests` from the first answer to the last: `AtScheme` while
//! the scheme is asked (itsme's decoupled API, through the connector), `CodeIssued` once the
//! scheme's answer is verified and the tokens can be fetched (the `auth_req_id` plays the
//! code's part), `Redeemed` once they were, or `Failed`. The scheme is polled when a poll-mode
//! client polls (at most once per scheme interval, whichever node gets the poll), and for
//! ping-mode clients by every node's background poller ([`poll_pending`]); any node can serve
//! any step, and a restart loses nothing.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use passerelle_core::ciba::{CibaPolicy, Hint, REQUEST_PARAMETERS, validate_backchannel_request};
use passerelle_core::login::{self, Channel, ClientChange, Failure, LoginEvent, LoginState};
use passerelle_core::oidc::{CibaMode, ErrorCode, Params};
use passerelle_core::scopes::GrantedScopes;
use passerelle_itsme::claims::{filter_for_scopes, map_to_rp_claims};
use passerelle_itsme::{
    BackchannelRequest, ConnectorError, DecoupledResult, LoginHintToken, notify_client,
};
use passerelle_jose::{Audience, ClaimsCheck, ClaimsProblem, PublicKeys, SigAlg};
use passerelle_limits::ClientIp;
use passerelle_store::{AccessTokenRecord, AuditEvent, CibaRequest, ClientRecord, Pace};
use passerelle_store::{random_token, token_hash};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::authorize::parse_params;
use crate::client_auth::authenticate;
use crate::token::{IdTokenFacts, id_token_for};
use crate::{Broker, BrokerError};

/// How often a client may poll, to begin with (CIBA Core §7.3: 5 s when the OP says nothing).
pub const POLL_INTERVAL: i64 = 5;
/// How long an `auth_req_id` lives when the client asks for nothing (itsme's example: 120 s).
pub const DEFAULT_EXPIRY: i64 = 120;
/// How long after its `auth_req_id` expired a request's row is kept, so that a late or replayed
/// poll is told `expired_token` or `invalid_grant` (never "unknown").
const KEPT_AFTER_EXPIRY: i64 = 600;
/// How long the link from a pairwise `sub` to the scheme's subject lives after the person's last
/// login: an `id_token_hint` older than that names nobody (`unknown_user_id`).
pub const SUBJECT_LINK_SECS: i64 = 30 * 24 * 3600;

fn refuse(code: ErrorCode, description: impl Into<String>) -> BrokerError {
    BrokerError::token(code, description)
}

impl Broker {
    /// The `auth_req_id` of the request with this row id: derived (HMAC under the pairwise
    /// secret, with its own label), so only its SHA-256 is stored and the ping can still name it.
    pub(crate) fn auth_req_id_for(&self, id: &str) -> Result<String, BrokerError> {
        use base64::Engine as _;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.pairwise_secret).map_err(BrokerError::internal)?;
        mac.update(b"ciba-auth-req-id");
        mac.update(&[0]);
        mac.update(id.as_bytes());
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

/// `POST /connect/ciba`: the backchannel authentication endpoint (CIBA Core §7).
pub(crate) async fn backchannel(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match start(&b, ip.as_deref(), &headers, &body).await {
        Ok(r) => r,
        Err(e) => {
            // CIBA Core §13: at this endpoint access_denied is a 403 (at the token endpoint,
            // a 400 like every other refusal); an unreachable scheme is a 503 to retry.
            let code = match &e {
                BrokerError::Token { error } => Some(error.code),
                _ => None,
            };
            let mut resp = e.into_response();
            match code {
                Some(ErrorCode::AccessDenied) => {
                    *resp.status_mut() = axum::http::StatusCode::FORBIDDEN;
                }
                Some(ErrorCode::TemporarilyUnavailable) => {
                    *resp.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    passerelle_limits::later::with_retry_after(&mut resp, 5);
                }
                _ => {}
            }
            resp
        }
    }
}

async fn start(
    b: &Arc<Broker>,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    b.limits
        .token_per_ip
        .check_ip(ip)
        .map_err(|t| BrokerError::throttled(t, None))?;
    let form = parse_params(body).map_err(|e| refuse(ErrorCode::InvalidRequest, e.to_string()))?;
    let client = authenticate(b, headers, &form).await?;
    b.limits
        .token_per_client
        .check(&client.id)
        .map_err(|t| BrokerError::throttled(t, None))?;
    let Some(registration) = client.ciba.clone() else {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for CIBA (passerelle client update --ciba-mode poll|ping)",
        ));
    };
    let now = b.clock.now();
    let params = match form.get("request") {
        Some(jwt) => signed_request(b, &client, &form, jwt, now).await?,
        None if registration.signed_requests => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "this client is registered to send signed backchannel requests: put the parameters in a request JWT (CIBA Core §7.1.1)",
            ));
        }
        None => form,
    };
    let request = validate_backchannel_request(
        &params,
        CibaPolicy {
            account: client.account,
            grants: &client.grants,
            mode: registration.mode,
        },
    )
    .map_err(|e| BrokerError::Token { error: e })?;
    let Some(scheme) = b.scheme_for_account(client.account) else {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            "this Passerelle has no itsme environment for production clients",
        ));
    };
    let connector = b
        .connector_for(scheme)
        .ok_or_else(|| BrokerError::internal("no connector for the client's scheme"))?;
    let hint = match &request.hint {
        Hint::Phone(phone) if connector.takes_phone_numbers() => {
            LoginHintToken::PhoneNumber(phone.clone())
        }
        Hint::Phone(_) => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "itsme's backchannel API does not take phone numbers: name the person with id_token_hint",
            ));
        }
        Hint::IdToken(token) => {
            let sub = id_token_subject(b, &client, token, now).await?;
            match b.store.find_subject_link(&client.id, &sub, now).await? {
                Some((linked, scheme_sub)) if linked == scheme => {
                    LoginHintToken::SubjectCode(scheme_sub)
                }
                _ => {
                    return Err(refuse(
                        ErrorCode::UnknownUserId,
                        "the person of this id_token_hint is not known here any more; ask for a login with a phone number or the redirect flow",
                    ));
                }
            }
        }
        Hint::LoginHintToken => {
            return Err(refuse(
                ErrorCode::InvalidRequest,
                "login_hint_token is not supported; use login_hint (a phone number) or id_token_hint",
            ));
        }
    };
    let max_expiry = request
        .requested_expiry
        .unwrap_or(DEFAULT_EXPIRY)
        .min(b.lifetimes.login);
    let started = connector
        .backchannel_authentication(
            &BackchannelRequest {
                scopes: &request.scopes,
                hint: &hint,
                binding_message: request.binding_message.as_deref(),
                requested_expiry: Some(max_expiry),
                client_name: &client.name,
            },
            now,
            &random_token(16),
        )
        .await;
    let started = match started {
        Ok(Ok(s)) => s,
        Ok(Err(refusal)) => {
            tracing::info!(client.id = %client.id, oauth.error = %refusal.error, "the itsme scheme refused a backchannel request");
            let (code, description) = match refusal.error.as_str() {
                "unknown_user_id" | "expired_login_hint_token" => (
                    ErrorCode::UnknownUserId,
                    "itsme knows no user with this login_hint".to_string(),
                ),
                "access_denied" => (
                    ErrorCode::AccessDenied,
                    "the itsme scheme refused the request".to_string(),
                ),
                "invalid_binding_message" => (
                    ErrorCode::InvalidBindingMessage,
                    format!(
                        "the itsme scheme refused the binding_message: {}",
                        refusal.detail
                    ),
                ),
                other => (
                    ErrorCode::ServerError,
                    format!("the itsme scheme answered {other}"),
                ),
            };
            return Err(refuse(code, description));
        }
        Err(ConnectorError::Unavailable(detail)) => {
            tracing::warn!(error = %detail, "the itsme scheme is unavailable");
            return Err(refuse(
                ErrorCode::TemporarilyUnavailable,
                "the itsme scheme cannot be reached right now; try again in a moment",
            ));
        }
        Err(ConnectorError::Protocol(detail)) => {
            tracing::error!(error = %detail, "the itsme scheme's backchannel answer was rejected");
            return Err(refuse(
                ErrorCode::ServerError,
                "the answer of the itsme scheme could not be verified",
            ));
        }
    };
    let channel = match registration.mode {
        CibaMode::Poll => Channel::DecoupledPoll,
        CibaMode::Ping => Channel::DecoupledPing,
    };
    let expires_in = started.expires_in.min(max_expiry).max(1);
    let id = random_token(24);
    let auth_req_id = b.auth_req_id_for(&id)?;
    let (login, _) = login::advance(
        login::Login {
            state: LoginState::Requested,
            channel,
            expires_at: now + expires_in,
        },
        LoginEvent::SentToScheme,
        now,
    )
    .map_err(BrokerError::internal)?;
    b.store
        .insert_ciba_request(&CibaRequest {
            id: id.clone(),
            auth_req_hash: token_hash(&auth_req_id),
            client_id: client.id.clone(),
            scope: request.scopes.to_scope_string(),
            scheme,
            channel,
            status: login.state,
            notification_token: request.client_notification_token.clone(),
            upstream_id: Some(started.auth_req_id),
            upstream_interval: started.interval,
            upstream_next_poll: now,
            poll_interval: POLL_INTERVAL,
            last_poll_at: None,
            sub: None,
            claims: None,
            auth_time: None,
            created_at: now,
            deadline: now + expires_in,
            expires_at: now + expires_in + KEPT_AFTER_EXPIRY,
        })
        .await?;
    b.metrics.login_started(request.scopes.service());
    tracing::info!(client.id = %client.id, flow.id = %&id[..8], flow.service = request.scopes.service().as_str(), ciba.mode = registration.mode.as_str(), "backchannel login started");
    if channel == Channel::DecoupledPing {
        // Scripted personas answer at once: ask the scheme now rather than at the next tick.
        let b = b.clone();
        tokio::spawn(async move {
            if let Err(e) = advance_from_scheme(&b, &id).await {
                tracing::warn!(error = ?e, "first poll of the itsme scheme failed");
            }
        });
    }
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(json!({
            "auth_req_id": auth_req_id,
            "expires_in": expires_in,
            "interval": POLL_INTERVAL,
        })),
    )
        .into_response())
}

/// The parameters of a signed authentication request (CIBA Core §7.1.1): a JWT signed with one
/// of the client's registered keys (RS256 or ES256), `iss` the client, `aud` the issuer, `exp`
/// at most an hour ahead, a single-use `jti`; no request parameter outside it.
async fn signed_request(
    b: &Broker,
    client: &ClientRecord,
    form: &Params,
    jwt: &str,
    now: i64,
) -> Result<Params, BrokerError> {
    let invalid = |d: &str| refuse(ErrorCode::InvalidRequest, d);
    if let Some(p) = REQUEST_PARAMETERS.iter().find(|p| form.get(p).is_some()) {
        return Err(invalid(&format!(
            "{p} must be inside the signed request, not beside it (CIBA Core §7.1.1)"
        )));
    }
    let keys = match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => PublicKeys::from_jwks_json(jwks)
            .map_err(|e| BrokerError::internal(format!("stored JWKS: {e}")))?,
        (None, Some(uri)) => {
            let header = passerelle_jose::peek_header(jwt).unwrap_or_default();
            let kid = header.get("kid").and_then(Value::as_str);
            b.client_jwks.get(uri, kid).await.map_err(|_| {
                invalid("the client's jwks_uri could not be read to verify the request")
            })?
        }
        (None, None) => {
            return Err(invalid(
                "a signed request needs the client's public keys: register --jwks or --jwks-uri",
            ));
        }
    };
    let claims = keys
        .verify(jwt, &[SigAlg::Rs256, SigAlg::Es256])
        .map_err(|e| invalid(&format!("request: {e}")))?;
    let endpoint = format!("{}/connect/ciba", b.issuer);
    let check = ClaimsCheck {
        issuer: Some(&client.id),
        audience: Audience::OneOf(&[&b.issuer, &endpoint]),
        now,
        max_lifetime: Some(3600),
        expiry_skew: 0,
        future_skew: 60,
    };
    let exp = check.check(&claims).map_err(|problem| {
        invalid(&match problem {
            ClaimsProblem::Issuer => "request: iss must be the client_id".to_string(),
            ClaimsProblem::Audience => format!(
                "request: aud must be the issuer identifier {} as a single string",
                b.issuer
            ),
            ClaimsProblem::NoExpiry => "request: exp is missing".into(),
            ClaimsProblem::InTheFuture(m) => format!("request: {m} is in the future"),
            ClaimsProblem::Expired | ClaimsProblem::LivesTooLong => {
                "request: expired, or valid for more than an hour".into()
            }
        })
    })?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255 && !j.contains('\0'))
        .ok_or_else(|| invalid("request: jti is required (1 to 255 characters)"))?;
    if !b
        .store
        .insert_jti(&format!("broker-ciba:{}", client.id), jti, exp)
        .await?
    {
        return Err(invalid("request: this jti was already used"));
    }
    // The object's members become the request's parameters; numbers (requested_expiry) as
    // their decimal text, other non-strings refused.
    let mut pairs = Vec::new();
    for name in REQUEST_PARAMETERS {
        match claims.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => pairs.push((name.to_string(), s.clone())),
            Some(Value::Number(n)) if name == "requested_expiry" => {
                pairs.push((name.to_string(), n.to_string()))
            }
            Some(_) => {
                return Err(invalid(&format!("request: {name} must be a string")));
            }
        }
    }
    Params::from_pairs(pairs).map_err(|e| invalid(&e.to_string()))
}

/// The subject of an `id_token_hint`: an ID token this broker signed for this client (CIBA Core
/// §7.1: an expired one is fine, it only names the person).
async fn id_token_subject(
    b: &Broker,
    client: &ClientRecord,
    token: &str,
    now: i64,
) -> Result<String, BrokerError> {
    b.hinted_subject(&client.id, token, now)
        .await
        .ok_or_else(|| {
            refuse(
                ErrorCode::InvalidRequest,
                "id_token_hint is not an ID token this Passerelle issued to this client",
            )
        })
}

/// Asks the scheme once about a request still waiting there, if its next poll is due and no
/// other request (on any node) claimed it, and records a definitive answer once. Returns the
/// request as it now is. A ping-mode client is notified of the end.
async fn advance_from_scheme(b: &Broker, id: &str) -> Result<Option<CibaRequest>, BrokerError> {
    let Some(req) = b.store.find_ciba_request_by_id(id).await? else {
        return Ok(None);
    };
    let now = b.clock.now();
    if req.status != LoginState::AtScheme || now >= req.deadline {
        return Ok(Some(req));
    }
    if !b.store.claim_upstream_poll(id, now).await? {
        return Ok(Some(req));
    }
    let login = req.login();
    let end = |failure: Failure| login::advance(login, LoginEvent::Failed(failure), now);
    // The operator may have changed the client meanwhile: what is given out follows the client
    // as it is now (as at the redirect callback).
    let client = b.store.find_client(&req.client_id).await?;
    let change = match &client {
        None => Some(ClientChange::Gone),
        Some(c) if c.ciba.is_none() => Some(ClientChange::Gone),
        Some(c) if GrantedScopes::parse(&req.scope, c.account, &c.grants).is_err() => {
            Some(ClientChange::Scopes)
        }
        Some(c) if !b.still_serves(c.account, req.scheme) => Some(ClientChange::Scheme),
        Some(_) => None,
    };
    let (next, sub, claims) = match (change, client, b.connector_for(req.scheme)) {
        (Some(change), _, _) => (end(Failure::ClientChanged(change)), None, None),
        (None, _, None) | (None, None, _) => (
            end(Failure::ClientChanged(ClientChange::Scheme)),
            None,
            None,
        ),
        (None, Some(client), Some(connector)) => {
            let upstream = req.upstream_id.as_deref().unwrap_or_default();
            match connector
                .poll_decoupled(upstream, now, &random_token(16))
                .await
            {
                Ok(DecoupledResult::Pending) => return Ok(Some(req)),
                Ok(DecoupledResult::Lost) => {
                    tracing::warn!(flow.id = %&id[..8], "the itsme scheme no longer knows a backchannel request");
                    return Ok(Some(req));
                }
                Ok(DecoupledResult::SlowDown) => {
                    b.store.slow_upstream_polls(id, now).await?;
                    return Ok(Some(req));
                }
                Err(ConnectorError::Unavailable(detail)) => {
                    tracing::warn!(error = %detail, "the itsme scheme is unavailable; polled again later");
                    return Ok(Some(req));
                }
                Err(ConnectorError::Protocol(detail)) => {
                    tracing::error!(error = %detail, "the itsme scheme's answer was rejected");
                    (end(Failure::SchemeError), None, None)
                }
                Ok(DecoupledResult::Denied(_)) => (end(Failure::Denied), None, None),
                Ok(DecoupledResult::Expired) => (end(Failure::Expired), None, None),
                Ok(DecoupledResult::Identity(identity)) => {
                    let scopes = GrantedScopes::from_stored(&req.scope);
                    let mut claims =
                        filter_for_scopes(&map_to_rp_claims(&identity.claims), &scopes);
                    let sub = b.pairwise_sub(&client.id, &identity.sub)?;
                    if scopes.contains("idp-id") {
                        claims.insert("idp_id".into(), json!(identity.sub));
                    }
                    if let Err(e) = b
                        .store
                        .link_subject(
                            &client.id,
                            &sub,
                            req.scheme,
                            &identity.sub,
                            now + SUBJECT_LINK_SECS,
                        )
                        .await
                    {
                        tracing::warn!(error = %e, "cannot remember the subject for id_token_hint");
                    }
                    let answered = login::advance(login, LoginEvent::SchemeAnswered, now)
                        .and_then(|(l, _)| login::advance(l, LoginEvent::CodeIssued, now));
                    (answered, Some(sub), Some(Value::Object(claims).to_string()))
                }
            }
        }
    };
    let (next, _effects) = next.map_err(BrokerError::internal)?;
    let recorded = b
        .store
        .record_ciba_answer(
            id,
            next.state,
            sub.as_deref(),
            claims.as_deref(),
            sub.as_ref().map(|_| now),
        )
        .await?;
    if recorded {
        let service = GrantedScopes::from_stored(&req.scope).service();
        match next.state.failure() {
            None => {
                b.metrics.login_approved(service);
                b.audit(
                    AuditEvent::new("login.approved", "ok", b.clock.now_micros())
                        .client(&req.client_id)
                        .service(service.as_str())
                        .subject(sub.as_deref().and_then(|s| b.audit_subject(s)))
                        .detail(format!("scheme={} ciba", req.scheme.as_str())),
                )
                .await;
                tracing::info!(client.id = %req.client_id, flow.id = %&id[..8], "backchannel login approved");
            }
            Some(f) => {
                let code = f.error_code().unwrap_or(ErrorCode::ServerError);
                b.metrics.login_ended_with(code);
                b.audit(
                    AuditEvent::new("login.failed", code.as_str(), b.clock.now_micros())
                        .client(&req.client_id)
                        .service(service.as_str())
                        .detail(format!(
                            "scheme={} ciba {}",
                            req.scheme.as_str(),
                            f.as_str()
                        )),
                )
                .await;
                tracing::info!(client.id = %req.client_id, flow.id = %&id[..8], oauth.error = code.as_str(), "backchannel login ended without approval");
            }
        }
        // DeliverCode / DeliverError through the login's channel: a ping for ping mode; a
        // poll-mode client learns it at its next poll.
        if req.channel == Channel::DecoupledPing {
            ping(b, id).await;
        }
    }
    Ok(b.store.find_ciba_request_by_id(id).await?)
}

/// Notifies a ping-mode client that its request ended (CIBA Core §10.2), once: the
/// notification token is taken from the row by one caller only. Best effort; a failure is
/// logged with the client's id and nothing secret.
async fn ping(b: &Broker, id: &str) {
    let sent = async {
        let Some(req) = b.store.find_ciba_request_by_id(id).await? else {
            return Ok::<_, BrokerError>(());
        };
        let endpoint = b
            .store
            .find_client(&req.client_id)
            .await?
            .and_then(|c| c.ciba)
            .and_then(|c| c.notification_endpoint);
        let Some(endpoint) = endpoint else {
            return Ok(());
        };
        let Some(bearer) = b.store.take_ciba_notification(id).await? else {
            return Ok(());
        };
        let auth_req_id = b.auth_req_id_for(id)?;
        match notify_client(&endpoint, &bearer, &auth_req_id).await {
            Ok(()) => {
                tracing::info!(client.id = %req.client_id, flow.id = %&id[..8], "ping-mode client notified")
            }
            Err(why) => {
                tracing::warn!(client.id = %req.client_id, flow.id = %&id[..8], error = %why, "the ping to a client's notification endpoint failed")
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        tracing::warn!(error = ?e, "cannot send a ping");
    }
}

/// One round of the background poller every node runs (every second): ping-mode requests whose
/// scheme poll is due are asked about, and ends whose ping was not sent (a node stopped between
/// the two) are pinged. Poll-mode requests are asked about when their client polls.
pub async fn poll_pending(b: &Arc<Broker>) {
    let now = b.clock.now();
    let due = match b.store.due_ciba_pings(now, 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the backchannel logins to poll");
            return;
        }
    };
    for id in due {
        if let Err(e) = advance_from_scheme(b, &id).await {
            tracing::warn!(error = ?e, "cannot poll the itsme scheme for a backchannel login");
        }
    }
    if let Ok(unsent) = b.store.unsent_ciba_pings(now, 50).await {
        for id in unsent {
            ping(b, &id).await;
        }
    }
}

/// The CIBA grant at the token endpoint (CIBA Core §10.1, errors §11), for an authenticated
/// client.
pub(crate) async fn grant(
    b: &Broker,
    client: ClientRecord,
    form: &Params,
    proof: Option<&passerelle_jose::dpop::Proof>,
) -> Result<Response, BrokerError> {
    let auth_req_id = form
        .get("auth_req_id")
        .ok_or_else(|| refuse(ErrorCode::InvalidRequest, "auth_req_id is missing"))?;
    if client.ciba.is_none() {
        return Err(refuse(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for CIBA",
        ));
    }
    let hash = token_hash(auth_req_id);
    let unknown = || {
        refuse(
            ErrorCode::InvalidGrant,
            "the auth_req_id is unknown, was issued to another client, or was already used",
        )
    };
    let now = b.clock.now();
    let mut req = b
        .store
        .find_ciba_request(&hash, &client.id)
        .await?
        .ok_or_else(unknown)?;
    if req.status == LoginState::AtScheme && now < req.deadline {
        // Polls of a waiting request are paced (slow_down); an answer, once there, is given at
        // the first poll that asks.
        match b.store.pace_ciba_poll(&hash, &client.id, now).await? {
            Pace::InTime => {}
            Pace::TooFast { interval } => {
                return Err(refuse(
                    ErrorCode::SlowDown,
                    format!("polled too often: poll at most every {interval} seconds"),
                ));
            }
            Pace::Unknown => return Err(unknown()),
        }
        if let Some(r) = advance_from_scheme(b, &req.id).await? {
            req = r;
        }
    }
    let (login, _) =
        login::advance(req.login(), LoginEvent::Observed, now).map_err(BrokerError::internal)?;
    match login.state {
        LoginState::Requested | LoginState::AtScheme | LoginState::Answered => Err(refuse(
            ErrorCode::AuthorizationPending,
            "the person has not answered in the itsme app yet",
        )),
        LoginState::Redeemed => Err(refuse(
            ErrorCode::InvalidGrant,
            "the tokens of this auth_req_id were already issued",
        )),
        LoginState::Failed(f) => {
            let code = f.error_code().unwrap_or(ErrorCode::InvalidGrant);
            Err(refuse(
                code,
                match f {
                    Failure::Denied => "the person refused, did not confirm in time, or is blocked",
                    Failure::Expired => "the auth_req_id expired before the person answered",
                    Failure::AnotherPerson => {
                        "another person than the one the request named answered"
                    }
                    Failure::SchemeUnavailable => "the itsme scheme was unavailable",
                    Failure::SchemeError => "the answer of the itsme scheme could not be verified",
                    Failure::ClientChanged(_) => {
                        "the client's registration changed during the login"
                    }
                },
            ))
        }
        LoginState::CodeIssued => issue(b, &client, &req, &hash, now, proof).await,
    }
}

/// Issues the tokens of an answered request, once (`CodeIssued` → `Redeemed`).
async fn issue(
    b: &Broker,
    client: &ClientRecord,
    req: &CibaRequest,
    hash: &str,
    now: i64,
    proof: Option<&passerelle_jose::dpop::Proof>,
) -> Result<Response, BrokerError> {
    let answered_at = req.auth_time.unwrap_or(req.created_at);
    // The answer waits for the client as a code would: until the auth_req_id expires, and at
    // least a code's lifetime after the person answered.
    if now >= req.deadline.max(answered_at + b.lifetimes.code) {
        return Err(refuse(
            ErrorCode::ExpiredToken,
            "the auth_req_id expired before its tokens were fetched",
        ));
    }
    if !b.still_serves(client.account, req.scheme) {
        return Err(refuse(
            ErrorCode::InvalidGrant,
            "this Passerelle no longer serves this client with the scheme that answered the login",
        ));
    }
    let sub = req
        .sub
        .clone()
        .ok_or_else(|| BrokerError::internal("an answered request without a subject"))?;
    let attributes: Map<String, Value> =
        serde_json::from_str(req.claims.as_deref().unwrap_or("{}"))
            .map_err(BrokerError::internal)?;
    // The CIBA grant issues no refresh token: `offline_access` is ignored, and the granted
    // scope says so.
    let scopes =
        GrantedScopes::from_stored(&req.scope).without(passerelle_core::scopes::OFFLINE_ACCESS);
    let scope = scopes.to_scope_string();
    let access_token = random_token(32);
    b.refresh_keys(now).await;
    let id_token = id_token_for(
        b,
        client,
        &IdTokenFacts {
            sub: &sub,
            auth_time: answered_at,
            nonce: None,
            scheme: req.scheme,
            scopes: &scopes,
            attributes: &attributes,
            requested: None,
            access_token: &access_token,
            // A decoupled login demands the itsme code (acr_advanced), and the connector refused
            // any answer that does not say so.
            amr: &["pin".to_string(), "mfa".to_string()],
            sid: &format!("ciba:{hash}"),
        },
    )
    .await?;
    let mut userinfo = Map::new();
    userinfo.insert("sub".into(), json!(sub));
    userinfo.extend(attributes);
    let token = AccessTokenRecord {
        token_hash: token_hash(&access_token),
        // Access tokens name what gave them; a CIBA one names its request's hash.
        code_hash: format!("ciba:{hash}"),
        client_id: client.id.clone(),
        sub: sub.clone(),
        scope: scope.clone(),
        claims: Value::Object(userinfo).to_string(),
        created_at: now,
        expires_at: now + b.lifetimes.access_token,
        scheme: Some(req.scheme),
        account: Some(client.account),
        dpop_jkt: proof.map(|p| p.jkt.clone()),
    };
    let issued = AuditEvent::new("token.issued", "ok", b.clock.now_micros())
        .client(&client.id)
        .service(scopes.service().as_str())
        .subject(b.audit_subject(&sub))
        .detail("ciba");
    if !b.store.redeem_ciba(&token, hash, &issued).await? {
        return Err(refuse(
            ErrorCode::InvalidGrant,
            "the tokens of this auth_req_id were already issued",
        ));
    }
    b.metrics.tokens_issued();
    tracing::info!(client.id = %client.id, "tokens issued for a backchannel login");
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(json!({
            "access_token": access_token,
            "token_type": crate::token::token_type(proof),
            "expires_in": b.lifetimes.access_token,
            "id_token": id_token,
            "scope": scope,
        })),
    )
        .into_response())
}
