//! Token revocation (RFC 7009) at `/connect/revocation`.
//!
//! The client authenticates as at the token endpoint. A refresh token revokes its whole family
//! (its refresh tokens, its access tokens and the claims kept for it, RFC 7009 §2.1); an access
//! token is revoked alone. An unknown, expired or already revoked token is answered 200, as the
//! RFC says (§2.2). A token issued to another client is not revoked and the request is refused
//! with `unauthorized_client` (§2.1: "the request is refused and the client is informed").

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::oidc::ErrorCode;
use passerelle_limits::ClientIp;
use passerelle_store::{AuditEvent, token_hash};

use crate::{Broker, BrokerError};

pub(crate) async fn revocation(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    revoke(&b, ip.as_deref(), &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Which kind of token a presented value turned out to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Access,
    Refresh,
}

fn not_yours() -> BrokerError {
    BrokerError::token(
        ErrorCode::UnauthorizedClient,
        "the token was not issued to this client; it is not revoked (RFC 7009 §2.1)",
    )
}

async fn revoke(
    b: &Broker,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    let (client, form) = crate::client_auth::authenticated_form(b, ip, headers, body).await?;
    let token = form
        .get("token")
        .ok_or_else(|| BrokerError::token(ErrorCode::InvalidRequest, "token is missing"))?;
    // The hint only orders the search (§2.1: an unknown or wrong hint still finds the token).
    let order = match form.get("token_type_hint") {
        Some("access_token") => [Kind::Access, Kind::Refresh],
        _ => [Kind::Refresh, Kind::Access],
    };
    let hash = token_hash(token);
    let now = b.clock.now();
    for kind in order {
        let revoked = match kind {
            Kind::Refresh => match b.store.find_refresh_token(&hash, now).await? {
                None => continue,
                Some(rt) if rt.client_id != client.id => return Err(not_yours()),
                Some(rt) => b.store.revoke_family(&rt.family.id).await?,
            },
            Kind::Access => match b.store.find_access_token(&hash, now).await? {
                None => continue,
                Some(at) if at.client_id != client.id => return Err(not_yours()),
                Some(_) => b.store.revoke_access_token(&hash, &client.id).await?,
            },
        };
        if revoked {
            let what = match kind {
                Kind::Access => "access_token",
                Kind::Refresh => "refresh_token",
            };
            tracing::info!(client.id = %client.id, token.kind = what, "token revoked");
            b.audit(
                AuditEvent::new("token.revoked", what, b.clock.now_micros()).client(&client.id),
            )
            .await;
        }
        break;
    }
    Ok((
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
    )
        .into_response())
}
