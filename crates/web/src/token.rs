//! The token endpoint (RFC 6749 §4.1.3, OIDC Core §3.1.3): the authorization-code grant, the
//! refresh-token grant (`crate::refresh::grant`) and the CIBA grant (`crate::ciba::grant`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::claims::ClaimsRequest;
use passerelle_core::login::Scheme;
use passerelle_core::oidc::{ErrorCode, OAuthError, Params, Profile, verify_pkce};
use passerelle_core::scopes::{GrantedScopes, OFFLINE_ACCESS};
use passerelle_jose::Claims;
use passerelle_jose::dpop::{PROOF_ALGS, Proof};
use passerelle_limits::ClientIp;
use passerelle_store::{
    AccessTokenRecord, AuditEvent, ClientRecord, PresentedCode, random_token, token_hash,
};
use serde_json::{Map, Value, json};

use crate::dpop::Endpoint;
use crate::{Broker, BrokerError};

/// A presentation of a used code that arrives within this time after the code's tokens were
/// issued is taken as part of the race for the code (a client's double submit, or its requests
/// sent at once: every client here is confidential, so nobody else can present its code) and is
/// refused without revoking; a later one is a replay and revokes the tokens (RFC 6749 §4.1.2).
/// A burst of 20 presentations from one client spreads over tens of milliseconds (measured with
/// Python threads against a local server); the OpenID conformance suite re-presents codes after
/// 1 s and 30 s.
const REPLAY_GRACE_US: i64 = 500_000;

pub(crate) async fn token(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&b, ip.as_deref(), &headers, &body).await {
        Ok(r) => r,
        // A CIBA poll told to wait is the grant working as designed, not a refusal: it is
        // neither counted nor audited (a client polls every few seconds while the person
        // decides).
        Err(Refused { error, .. }) if is_wait(&error) => error.into_response(),
        Err(Refused { error, client }) => {
            b.metrics.token_refused();
            // Only a refusal to an authenticated client is audited: anyone can send requests
            // that fail authentication, naming any client, and they must not fill the trail
            // (they are counted in /metrics).
            if let (BrokerError::Token { error }, Some(client)) = (&error, client) {
                b.audit(
                    AuditEvent::new("token.refused", error.code.as_str(), b.clock.now_micros())
                        .client(&client)
                        .detail(&error.description),
                )
                .await;
            }
            error.into_response()
        }
    }
}

/// Whether a token error only tells a CIBA client to wait (`authorization_pending`,
/// `slow_down`).
fn is_wait(error: &BrokerError) -> bool {
    matches!(
        error,
        BrokerError::Token { error } if matches!(
            error.code,
            ErrorCode::AuthorizationPending | ErrorCode::SlowDown
        )
    )
}

/// A refused token request, with the client when it had authenticated.
struct Refused {
    error: BrokerError,
    client: Option<String>,
}

impl From<BrokerError> for Refused {
    fn from(error: BrokerError) -> Refused {
        Refused {
            error,
            client: None,
        }
    }
}

async fn issue(
    b: &Broker,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refused> {
    // When this presentation arrived, to tell a replay of a redeemed code from a request that
    // raced its redemption.
    let arrived_us = b.clock.now_micros();
    let (client, form) = crate::client_auth::authenticated_form(b, ip, headers, body).await?;
    let id = client.id.clone();
    let proof = dpop_for(b, headers, &client)
        .await
        .map_err(|error| Refused {
            error,
            client: Some(id.clone()),
        })?;
    redeem(b, client, &form, arrived_us, proof.as_ref())
        .await
        .map_err(|error| Refused {
            error,
            client: Some(id),
        })
}

/// The DPoP proof of a token request (RFC 9449 §5), checked; `None` when it has none and the
/// client may send Bearer requests. A client registered with `dpop_bound_access_tokens` must
/// send one.
async fn dpop_for(
    b: &Broker,
    headers: &HeaderMap,
    client: &ClientRecord,
) -> Result<Option<Proof>, BrokerError> {
    let at = Endpoint {
        method: "POST",
        path: "/connect/token",
        at_resource: false,
    };
    let algs = client.allowed_algs().unwrap_or(&PROOF_ALGS);
    let proof = b.dpop_proof(headers, at, None, algs).await?;
    if proof.is_none() && client.requires_dpop() {
        return Err(BrokerError::Dpop {
            error: OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this client is registered with dpop_bound_access_tokens: send a DPoP proof with the token request (RFC 9449 §5)",
            ),
            nonce: Some(b.dpop_nonce()),
            at_resource: false,
        });
    }
    Ok(proof)
}

/// How long a code lives for this client: a FAPI 2.0 client's codes at most
/// [`Profile::FAPI2_CODE_SECONDS`].
fn code_lifetime(b: &Broker, client: &ClientRecord) -> i64 {
    match client.profile {
        Some(Profile::Fapi2) => b.lifetimes.code.min(Profile::FAPI2_CODE_SECONDS),
        None => b.lifetimes.code,
    }
}

/// The token type a client is told: `DPoP` when the tokens are bound to a key (RFC 9449 §5.1).
pub(crate) fn token_type(proof: Option<&Proof>) -> &'static str {
    if proof.is_some() { "DPoP" } else { "Bearer" }
}

/// The authorization-code grant for an authenticated client.
async fn redeem(
    b: &Broker,
    client: ClientRecord,
    form: &Params,
    arrived_us: i64,
    proof: Option<&Proof>,
) -> Result<Response, BrokerError> {
    match form.get("grant_type") {
        Some("authorization_code") => {}
        Some("client_credentials") => {
            return crate::rest::client_credentials(b, &client, form).await;
        }
        Some(passerelle_itsme::claims::CIBA_GRANT) => {
            return crate::ciba::grant(b, client, form, proof).await;
        }
        Some("refresh_token") => {
            return crate::refresh::grant(b, client, form, proof).await;
        }
        None => {
            return Err(BrokerError::token(
                ErrorCode::InvalidRequest,
                "grant_type is missing",
            ));
        }
        Some(_) => {
            return Err(BrokerError::token(
                ErrorCode::UnsupportedGrantType,
                "grant_type must be authorization_code, refresh_token, client_credentials or urn:openid:params:grant-type:ciba",
            ));
        }
    }
    let code = form
        .get("code")
        .ok_or_else(|| BrokerError::token(ErrorCode::InvalidRequest, "code is missing"))?;
    let Some(redirect_uri) = form.get("redirect_uri") else {
        return Err(BrokerError::token(
            ErrorCode::InvalidRequest,
            "redirect_uri is required (OIDC Core §3.1.3.1)",
        ));
    };
    let now = b.clock.now();
    let code_hash = token_hash(code);
    let replayed = |revoked: bool| {
        if revoked {
            tracing::warn!(client.id = %client.id, "authorization code replayed; its tokens were revoked");
        }
        BrokerError::token(ErrorCode::InvalidGrant, "the code was already used")
    };
    // A fresh code is a login in `CodeIssued`, a used one a login that moved on (`core::login`):
    // `redeem_code` below is the conditional update of `CodeIssued` → `Redeemed`, which only one
    // of racing presentations wins.
    let record = match b.store.find_code(&code_hash, &client.id).await? {
        PresentedCode::Fresh(r) => r,
        PresentedCode::Used => {
            let revoked = b
                .store
                .revoke_for_replay(&code_hash, &client.id, now, arrived_us - REPLAY_GRACE_US)
                .await?;
            if revoked {
                b.audit(
                    AuditEvent::new("code.replayed", "tokens_revoked", b.clock.now_micros())
                        .client(&client.id),
                )
                .await;
            }
            return Err(replayed(revoked));
        }
        PresentedCode::Unknown => {
            return Err(BrokerError::token(
                ErrorCode::InvalidGrant,
                "the code is unknown or expired",
            ));
        }
    };
    let refuse = |description: &str| BrokerError::token(ErrorCode::InvalidGrant, description);
    // Fail closed at every step: the deployment's rule, as it is now, must still let the scheme
    // that answered serve this client (a test deployment switched off, itsme unconfigured).
    if !b.still_serves(client.account, record.scheme) {
        b.store.burn_code(&code_hash, &client.id, now).await?;
        return Err(refuse(
            "this Passerelle no longer serves this client with the scheme that answered the login",
        ));
    }
    // Every code is issued with a PKCE challenge, so a missing verifier is a failed
    // verification (RFC 7636 §4.6), not a malformed request.
    let problem = if record.created_at + code_lifetime(b, &client) <= now {
        Some(refuse("the code has expired"))
    } else if redirect_uri != record.redirect_uri {
        Some(refuse(
            "redirect_uri must be the one of the authorization request",
        ))
    } else {
        match form.get("code_verifier") {
            None => Some(refuse(
                "code_verifier is missing: this code was issued with a code_challenge (RFC 7636 §4.6)",
            )),
            Some(v) if !verify_pkce(v, &record.code_challenge) => {
                Some(refuse("code_verifier does not match the code_challenge"))
            }
            Some(_) => None,
        }
    };
    // A code bound to a DPoP key goes only with a proof made with that key (RFC 9449 §10).
    let problem = problem.or_else(|| {
        let bound = record.dpop_jkt.as_deref()?;
        match proof {
            None => Some(refuse(
                "this code is bound to a DPoP key (dpop_jkt, RFC 9449 §10): send a DPoP proof made with that key",
            )),
            Some(p) if p.jkt != bound => Some(refuse(
                "the DPoP proof's key is not the one this code is bound to (dpop_jkt, RFC 9449 §10)",
            )),
            Some(_) => None,
        }
    });
    let problem = problem.or_else(|| {
        let requested = record.claims_request.as_deref()?;
        (!ClaimsRequest::from_stored(requested).accepts_subject(&record.sub)).then(|| {
            refuse("the person who logged in is not the sub the claims parameter asked for")
        })
    });
    if let Some(p) = problem {
        b.store.burn_code(&code_hash, &client.id, now).await?;
        return Err(p);
    }
    let attributes: Map<String, Value> =
        serde_json::from_str(&record.claims).map_err(BrokerError::internal)?;
    // `offline_access` gives a refresh token only to a client granted `refresh_token`; for any
    // other it is ignored, and the granted scope says so (OIDC Core §11, RFC 6749 §3.3).
    let asked = GrantedScopes::from_stored(&record.scope);
    let offline = asked.contains(OFFLINE_ACCESS) && crate::refresh::may_refresh(&client);
    let scopes = if offline {
        asked
    } else {
        asked.without(OFFLINE_ACCESS)
    };
    let granted_scope = scopes.to_scope_string();
    let requested = record
        .claims_request
        .as_deref()
        .map(ClaimsRequest::from_stored);
    let access_token = random_token(32);
    b.refresh_keys(now).await;
    // Before the code is consumed: a client whose key cannot be encrypted to can fix its
    // registration and present the code again while it is valid.
    let id_token = id_token_for(
        b,
        &client,
        &IdTokenFacts {
            sub: &record.sub,
            auth_time: record.auth_time,
            nonce: record.nonce.as_deref(),
            scheme: record.scheme,
            scopes: &scopes,
            attributes: &attributes,
            requested: requested.as_ref(),
            access_token: &access_token,
            amr: &record.amr,
            sid: &code_hash,
        },
    )
    .await?;

    let mut userinfo = Map::new();
    userinfo.insert("sub".into(), json!(record.sub));
    userinfo.extend(crate::formats::userinfo_attributes(
        &scopes,
        requested.as_ref(),
        &attributes,
    ));
    let token = AccessTokenRecord {
        token_hash: token_hash(&access_token),
        code_hash: code_hash.clone(),
        client_id: client.id.clone(),
        sub: record.sub.clone(),
        scope: granted_scope.clone(),
        claims: Value::Object(userinfo).to_string(),
        created_at: now,
        expires_at: now + b.lifetimes.access_token,
        scheme: Some(record.scheme),
        account: Some(client.account),
        dpop_jkt: proof.map(|p| p.jkt.clone()),
    };
    // Consuming the code and storing its token are one transaction: exactly one presentation
    // wins, and its tokens exist from that moment on.
    let issued_us = b.clock.now_micros();
    let issued = AuditEvent::new("token.issued", "ok", issued_us)
        .client(&client.id)
        .service(scopes.service().as_str())
        .subject(b.audit_subject(&record.sub));
    let refresh_token = offline.then(|| random_token(32));
    let family = refresh_token.as_deref().map(|rt| {
        // Every attribute of the login: each refresh releases them as this code did.
        let mut kept = attributes.clone();
        kept.insert("sub".into(), json!(record.sub));
        let kept = Value::Object(kept).to_string();
        crate::refresh::new_family(b, &client, &record, &granted_scope, &kept, rt, now)
    });
    if !b
        .store
        .redeem_code(&token, family.as_ref(), now, issued_us, &issued)
        .await?
    {
        return Err(replayed(false));
    }
    b.metrics.tokens_issued();
    tracing::info!(client.id = %client.id, "tokens issued");
    let mut body = json!({
        "access_token": access_token,
        "token_type": token_type(proof),
        "expires_in": b.lifetimes.access_token,
        "id_token": id_token,
        "scope": granted_scope,
    });
    if let Some(rt) = refresh_token {
        body["refresh_token"] = json!(rt);
    }
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response())
}

/// What an ID token says about a login (OIDC Core §2), whichever grant issues it.
pub(crate) struct IdTokenFacts<'a> {
    pub sub: &'a str,
    pub auth_time: i64,
    /// The authorization request's nonce (a CIBA login has none).
    pub nonce: Option<&'a str>,
    pub scheme: Scheme,
    pub scopes: &'a GrantedScopes,
    /// The login's RP-facing attributes; which go in is the client's `id_token_claims` setting
    /// and the `claims` parameter's say (`formats::id_token_attributes`).
    pub attributes: &'a Map<String, Value>,
    /// The login's `claims` parameter (OIDC Core §5.5), if it had one.
    pub requested: Option<&'a ClaimsRequest>,
    pub access_token: &'a str,
    /// How the person approved (RFC 8176); empty for codes issued before it was recorded.
    pub amr: &'a [String],
    /// What names this login's grant, as the ID token's `sid`: the hash of the code (or of the
    /// CIBA request) its tokens came from, which RP-initiated logout ends.
    pub sid: &'a str,
}

/// Builds the ID token of a login for `client`, signed with the key of its registered algorithm
/// and, when it registered for it, encrypted to its key (a nested JWT, OIDC Core §10.2): the
/// authorization-code grant and the CIBA grant issue the same token. A client registered for
/// encryption whose keys cannot be encrypted to gets an error, never a plaintext token.
pub(crate) async fn id_token_for(
    b: &Broker,
    client: &ClientRecord,
    facts: &IdTokenFacts<'_>,
) -> Result<String, BrokerError> {
    let now = b.clock.now();
    let mut id = Claims::new();
    id.insert("iss".into(), json!(b.issuer));
    id.insert("sub".into(), json!(facts.sub));
    id.insert("aud".into(), json!(client.id));
    id.insert("exp".into(), json!(now + b.lifetimes.id_token));
    id.insert("iat".into(), json!(now));
    id.insert("nbf".into(), json!(now));
    id.insert("auth_time".into(), json!(facts.auth_time));
    if let Some(n) = facts.nonce {
        id.insert("nonce".into(), json!(n));
    }
    id.insert("acr".into(), json!("high"));
    // How the person approved in the app (RFC 8176); codes issued before it was recorded say
    // only that another party authenticated them.
    if facts.amr.is_empty() {
        id.insert("amr".into(), json!(["external"]));
    } else {
        id.insert("amr".into(), json!(facts.amr));
    }
    id.insert("idp".into(), json!("itsme"));
    id.insert("sid".into(), json!(facts.sid));
    id.insert(
        "at_hash".into(),
        json!(passerelle_jose::left_half_hash(facts.access_token)),
    );
    // Whoever answered: a production client served by the sandbox (no real itsme configured)
    // gets made-up people too, and must be able to tell.
    if facts.scheme == Scheme::Sandbox {
        id.insert("sandbox".into(), json!(true));
    }
    id.extend(crate::formats::id_token_attributes(
        client.formats.id_token_claims,
        facts.scopes,
        facts.requested,
        facts.attributes,
    ));
    let signed = crate::formats::sign(b, client.id_token_alg, &id)?;
    let Some(e) = client.formats.id_token_encryption else {
        return Ok(signed);
    };
    crate::formats::seal(b, client, signed.as_bytes(), e, Some("JWT"))
        .await
        .map_err(|err| match err {
            crate::formats::SealError::Internal(i) => i,
            other => BrokerError::token(ErrorCode::InvalidRequest, other.describe("ID tokens", e)),
        })
}
