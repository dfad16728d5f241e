//! Token introspection (RFC 7662) at `/connect/introspect`, as JSON or as the signed JWT of
//! RFC 9701.
//!
//! Only a caller with its own credentials may ask: a client the operator granted
//! `introspection` (a resource server), authenticated as at the token endpoint. Anything that is
//! not a live token of this issuer (unknown, expired, revoked, a used refresh token, a token of a
//! scheme this deployment no longer lets serve its client) is `{"active": false}` and nothing
//! more (RFC 7662 §2.2).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::oidc::{ErrorCode, INTROSPECTION_GRANT};
use passerelle_jose::Claims;
use passerelle_limits::ClientIp;
use passerelle_store::token_hash;
use serde_json::{Map, Value, json};

use crate::{Broker, BrokerError};

/// The media type of a signed introspection response (RFC 9701 §4, §5), also its JWT's `typ`.
pub(crate) const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

pub(crate) async fn introspect(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer(&b, ip.as_deref(), &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Whether the caller asked for the JWT response (RFC 9701 §4): its `Accept` names the media
/// type (any case, parameters ignored).
fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(JWT_MEDIA_TYPE))
        })
}

async fn answer(
    b: &Broker,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    let (caller, form) = crate::client_auth::authenticated_form(b, ip, headers, body).await?;
    if !caller.grants.iter().any(|g| g == INTROSPECTION_GRANT) {
        return Err(BrokerError::token(
            ErrorCode::UnauthorizedClient,
            "this client is not a resource server: the operator lets a client introspect tokens with `passerelle client update CLIENT_ID --grant introspection`",
        ));
    }
    let token = form
        .get("token")
        .ok_or_else(|| BrokerError::token(ErrorCode::InvalidRequest, "token is missing"))?;
    let info = describe(b, token, form.get("token_type_hint")).await?;
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    if wants_jwt(headers) {
        // RFC 9701 §5: iss, aud (the caller), iat and the answer in `token_introspection`; no
        // `sub` or `exp` at the top, so that it cannot pass for an access token.
        let mut claims = Claims::new();
        claims.insert("iss".into(), json!(b.issuer));
        claims.insert("aud".into(), json!(caller.id));
        claims.insert("iat".into(), json!(b.clock.now()));
        claims.insert("token_introspection".into(), Value::Object(info));
        let now = b.clock.now();
        b.refresh_keys(now).await;
        let jwt = b
            .keys
            .for_alg(passerelle_jose::SigAlg::Rs256, now)
            .ok_or_else(|| BrokerError::internal("no RS256 signing key"))?
            .sign(&claims, Some("token-introspection+jwt"))
            .map_err(BrokerError::internal)?;
        return Ok((no_store, [(header::CONTENT_TYPE, JWT_MEDIA_TYPE)], jwt).into_response());
    }
    Ok((no_store, axum::Json(Value::Object(info))).into_response())
}

/// What RFC 7662 §2.2 says of a token: `active` and, for a live one, its scope, client, type,
/// times, subject, audience and issuer.
async fn describe(
    b: &Broker,
    token: &str,
    hint: Option<&str>,
) -> Result<Map<String, Value>, BrokerError> {
    let hash = token_hash(token);
    let now = b.clock.now();
    let refresh_first = hint == Some("refresh_token");
    for refresh in [refresh_first, !refresh_first] {
        if refresh {
            let Some(rt) = b.store.find_refresh_token(&hash, now).await? else {
                continue;
            };
            let f = &rt.family;
            if rt.used || rt.expires_at <= now || !b.still_serves(f.account, f.scheme) {
                break;
            }
            return Ok(active(
                b,
                &f.scope,
                &rt.client_id,
                "refresh_token",
                rt.expires_at,
                rt.created_at,
                &f.sub,
            ));
        }
        let Some(at) = b.store.find_access_token(&hash, now).await? else {
            continue;
        };
        if let (Some(scheme), Some(account)) = (at.scheme, at.account)
            && !b.still_serves(account, scheme)
        {
            break;
        }
        return Ok(active(
            b,
            &at.scope,
            &at.client_id,
            "Bearer",
            at.expires_at,
            at.created_at,
            &at.sub,
        ));
    }
    let mut inactive = Map::new();
    inactive.insert("active".into(), json!(false));
    Ok(inactive)
}

fn active(
    b: &Broker,
    scope: &str,
    client_id: &str,
    token_type: &str,
    exp: i64,
    iat: i64,
    sub: &str,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("active".into(), json!(true));
    m.insert("scope".into(), json!(scope));
    m.insert("client_id".into(), json!(client_id));
    m.insert("token_type".into(), json!(token_type));
    m.insert("exp".into(), json!(exp));
    m.insert("iat".into(), json!(iat));
    m.insert("sub".into(), json!(sub));
    m.insert("aud".into(), json!(client_id));
    m.insert("iss".into(), json!(b.issuer));
    m
}
