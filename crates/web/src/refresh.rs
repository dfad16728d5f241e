//! The refresh-token grant (RFC 6749 §6, OIDC Core §12) with rotation and reuse detection
//! (RFC 9700 §4.14.2).
//!
//! A login whose scope holds `offline_access`, by a client the operator granted `refresh_token`,
//! starts a family (`passerelle_store::RefreshFamily`) that keeps the person's claims until its
//! absolute end (`Lifetimes::refresh_family`). Each refresh token is used once: using it gives a
//! new access token, a new refresh token of the same family (alive `Lifetimes::refresh_token`,
//! never past the family's end) and a new ID token. A used one presented again is reuse, a sign
//! that it leaked: the whole family is revoked, the tokens of the presentation that won included.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use passerelle_core::claims::ClaimsRequest;
use passerelle_core::oidc::{ErrorCode, Params, REFRESH_TOKEN_GRANT};
use passerelle_core::scopes::GrantedScopes;
use passerelle_store::{
    AccessTokenRecord, AuditEvent, ClientRecord, CodeRecord, NewFamily, RefreshFamily, Rotation,
    random_token, token_hash,
};
use serde_json::{Map, Value, json};

use crate::token::{IdTokenFacts, id_token_for};
use crate::{Broker, BrokerError};

/// Whether the operator lets `client` have refresh tokens (`--grant refresh_token`).
pub(crate) fn may_refresh(client: &ClientRecord) -> bool {
    client.grants.iter().any(|g| g == REFRESH_TOKEN_GRANT)
}

/// The family a redeemed code starts, with its first refresh token `refresh_token`; `claims` is
/// the login's attributes with `sub`, as a JSON object.
pub(crate) fn new_family(
    b: &Broker,
    client: &ClientRecord,
    code: &CodeRecord,
    scope: &str,
    claims: &str,
    refresh_token: &str,
    now: i64,
) -> NewFamily {
    let expires_at = now + b.lifetimes.refresh_family;
    NewFamily {
        family: RefreshFamily {
            id: random_token(18),
            code_hash: code.code_hash.clone(),
            client_id: client.id.clone(),
            sub: code.sub.clone(),
            scope: scope.to_string(),
            claims: claims.to_string(),
            claims_request: code.claims_request.clone(),
            auth_time: code.auth_time,
            scheme: code.scheme,
            account: client.account,
            amr: code.amr.join(" "),
            created_at: now,
            expires_at,
        },
        refresh_token_hash: token_hash(refresh_token),
        refresh_expires_at: (now + b.lifetimes.refresh_token).min(expires_at),
    }
}

fn invalid_grant(description: &str) -> BrokerError {
    BrokerError::token(ErrorCode::InvalidGrant, description)
}

const REUSED: &str =
    "the refresh token was already used: every token issued with it is revoked (RFC 9700 §4.14.2)";
const GONE: &str = "the refresh token is unknown, expired or revoked";

/// The scope of a refresh: the family's, or the narrower one asked for (RFC 6749 §6: it may not
/// include any scope the refresh token was not granted), checked again against the client's
/// grants as they are now (a protected scope the operator withdrew is refused).
fn refreshed_scope(
    client: &ClientRecord,
    family_scope: &str,
    asked: Option<&str>,
) -> Result<GrantedScopes, BrokerError> {
    let family = GrantedScopes::from_stored(family_scope);
    let asked = asked.unwrap_or(family_scope);
    let names: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
    if let Some(extra) = names.iter().find(|n| !family.contains(n)) {
        let shown: String = extra.chars().filter(|c| !c.is_control()).take(40).collect();
        return Err(BrokerError::token(
            ErrorCode::InvalidScope,
            format!(
                "scope {shown:?} was not granted with this refresh token: a refresh may narrow the scope, never widen it (RFC 6749 §6)"
            ),
        ));
    }
    if !names.contains(&"openid") {
        return Err(BrokerError::token(
            ErrorCode::InvalidScope,
            "the scope must contain openid",
        ));
    }
    GrantedScopes::parse(asked, client.account, &client.grants)
        .map_err(|e| BrokerError::token(ErrorCode::InvalidScope, e.to_string()))
}

/// The refresh-token grant for an authenticated client.
pub(crate) async fn grant(
    b: &Broker,
    client: ClientRecord,
    form: &Params,
    proof: Option<&passerelle_jose::dpop::Proof>,
) -> Result<Response, BrokerError> {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| BrokerError::token(ErrorCode::InvalidRequest, "refresh_token is missing"))?;
    let now = b.clock.now();
    let presented_hash = token_hash(presented);
    let Some(found) = b.store.find_refresh_token(&presented_hash, now).await? else {
        return Err(invalid_grant(GONE));
    };
    // Bound to its client: another client learns nothing and gets nothing, and the family is
    // left alone (revoking it would let any client end another's grant).
    if found.client_id != client.id {
        tracing::warn!(client.id = %client.id, "a refresh token of another client was presented");
        return Err(invalid_grant(
            "the refresh token was not issued to this client",
        ));
    }
    let family = found.family;
    if found.used {
        b.store.revoke_family(&family.id).await?;
        reused(b, &client).await;
        return Err(invalid_grant(REUSED));
    }
    if found.expires_at <= now {
        return Err(invalid_grant("the refresh token has expired"));
    }
    if !may_refresh(&client) {
        return Err(BrokerError::token(
            ErrorCode::UnauthorizedClient,
            "this client is no longer granted refresh_token; the operator grants it with `passerelle client update CLIENT_ID --grant refresh_token`",
        ));
    }
    // Fail closed, as for codes: the scheme that vouched for the person must still serve the
    // client under this deployment's rule.
    if !b.still_serves(family.account, family.scheme) {
        b.store.revoke_family(&family.id).await?;
        return Err(invalid_grant(
            "this Passerelle no longer serves this client with the scheme that answered the login",
        ));
    }
    let scopes = refreshed_scope(&client, &family.scope, form.get("scope"))?;
    let scope = scopes.to_scope_string();

    // The login's attributes, released as the code released them: by this refresh's scope and
    // the login's `claims` parameter.
    let mut attributes: Map<String, Value> =
        serde_json::from_str(&family.claims).map_err(BrokerError::internal)?;
    attributes.remove("sub");
    let requested = family
        .claims_request
        .as_deref()
        .map(ClaimsRequest::from_stored);
    let mut userinfo = Map::new();
    userinfo.insert("sub".into(), json!(family.sub));
    userinfo.extend(crate::formats::userinfo_attributes(
        &scopes,
        requested.as_ref(),
        &attributes,
    ));
    let amr: Vec<String> = family
        .amr
        .split(' ')
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();

    let access_token = random_token(32);
    b.refresh_keys(now).await;
    // OIDC Core §12.2: the same sub and auth_time, no nonce, signed as the client's ID tokens.
    let id_token = id_token_for(
        b,
        &client,
        &IdTokenFacts {
            sub: &family.sub,
            auth_time: family.auth_time,
            nonce: None,
            scheme: family.scheme,
            scopes: &scopes,
            attributes: &attributes,
            requested: requested.as_ref(),
            access_token: &access_token,
            amr: &amr,
            // The login the family came from, as its first ID token said.
            sid: &family.code_hash,
        },
    )
    .await?;
    let access = AccessTokenRecord {
        token_hash: token_hash(&access_token),
        // Access tokens name what gave them; a refreshed one names its family.
        code_hash: format!("refresh:{}", family.id),
        client_id: client.id.clone(),
        sub: family.sub.clone(),
        scope: scope.clone(),
        claims: Value::Object(userinfo).to_string(),
        created_at: now,
        expires_at: now + b.lifetimes.access_token,
        scheme: Some(family.scheme),
        account: Some(family.account),
        // A confidential client's refresh token is bound to its credentials (RFC 9449 §5);
        // the new access token to the key of this request's proof, if it has one.
        dpop_jkt: proof.map(|p| p.jkt.clone()),
    };
    let refresh_token = random_token(32);
    let issued = AuditEvent::new("token.issued", "ok", b.clock.now_micros())
        .client(&client.id)
        .service(scopes.service().as_str())
        .subject(b.audit_subject(&family.sub))
        .detail("refresh_token");
    match b
        .store
        .rotate_refresh_token(
            &presented_hash,
            &family.id,
            &token_hash(&refresh_token),
            (now + b.lifetimes.refresh_token).min(family.expires_at),
            &access,
            now,
            &issued,
        )
        .await?
    {
        Rotation::Rotated => {}
        Rotation::Reused => {
            reused(b, &client).await;
            return Err(invalid_grant(REUSED));
        }
        Rotation::Gone => return Err(invalid_grant(GONE)),
    }
    b.metrics.tokens_issued();
    tracing::info!(client.id = %client.id, "tokens issued for a refresh token");
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(json!({
            "access_token": access_token,
            "token_type": crate::token::token_type(proof),
            "expires_in": b.lifetimes.access_token,
            "refresh_token": refresh_token,
            "id_token": id_token,
            "scope": scope,
        })),
    )
        .into_response())
}

/// Records that a used refresh token came back and its family was revoked.
async fn reused(b: &Broker, client: &ClientRecord) {
    tracing::warn!(client.id = %client.id, "refresh token reused; its family was revoked");
    b.audit(
        AuditEvent::new(
            "refresh_token.reused",
            "family_revoked",
            b.clock.now_micros(),
        )
        .client(&client.id),
    )
    .await;
}
