//! The userinfo endpoint (OIDC Core §5.3, RFC 6750).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::formats::{Encryption, UserinfoForm};
use passerelle_core::oidc::{ErrorCode, OAuthError};
use passerelle_limits::ClientIp;
use passerelle_store::token_hash;
use serde_json::{Value, json};

use crate::authorize::parse_params;
use crate::formats::{self, SealError};
use crate::{Broker, BrokerError};

pub(crate) async fn userinfo(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(t) = b.limits.userinfo_per_ip.check_ip(ip.as_deref()) {
        return BrokerError::throttled(t, None).into_response();
    }
    answer_userinfo(&b, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Finds the bearer token: the Authorization header (any case of `Bearer`), or the form body of
/// a POST (RFC 6750 §2.1–2.2), never both.
fn bearer(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, BrokerError> {
    let from_header = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => match v.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                Some(t.trim().to_string())
            }
            _ => {
                return Err(BrokerError::Bearer {
                    error: Some(OAuthError::new(
                        ErrorCode::InvalidRequest,
                        "the Authorization header must be Bearer <token>",
                    )),
                });
            }
        },
        None => None,
    };
    let form = parse_params(body).map_err(|e| BrokerError::Bearer {
        error: Some(OAuthError::new(ErrorCode::InvalidRequest, e.to_string())),
    })?;
    match (from_header, form.get("access_token")) {
        (Some(_), Some(_)) => Err(BrokerError::Bearer {
            error: Some(OAuthError::new(
                ErrorCode::InvalidRequest,
                "send the access token once",
            )),
        }),
        (Some(t), None) => Ok(Some(t)),
        (None, Some(t)) => Ok(Some(t.to_string())),
        (None, None) => Ok(None),
    }
}

async fn answer_userinfo(
    b: &Broker,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    let token = bearer(headers, body)?.ok_or(BrokerError::Bearer { error: None })?;
    let record = b
        .store
        .find_access_token(&token_hash(&token), b.clock.now())
        .await?
        .ok_or_else(|| BrokerError::Bearer {
            error: Some(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is unknown, expired or revoked",
            )),
        })?;
    // Fail closed here too: a token whose scheme this deployment no longer lets serve the
    // client (the sandbox for a production client once the test deployment ended) is dead.
    if let (Some(scheme), Some(account)) = (record.scheme, record.account)
        && !b.still_serves(account, scheme)
    {
        return Err(BrokerError::Bearer {
            error: Some(OAuthError::new(
                ErrorCode::InvalidToken,
                "this Passerelle no longer serves this client with the scheme that answered the login",
            )),
        });
    }
    let claims: Value = serde_json::from_str(&record.claims).map_err(BrokerError::internal)?;
    let Value::Object(mut claims) = claims else {
        return Err(BrokerError::internal(
            "stored userinfo claims are not an object",
        ));
    };
    let client = b
        .store
        .find_client(&record.client_id)
        .await?
        .ok_or_else(|| BrokerError::Bearer {
            error: Some(OAuthError::new(
                ErrorCode::InvalidToken,
                "the client this token was issued to is no longer registered",
            )),
        })?;
    // OIDC Core §5.3.2: JSON, or a JWT signed, encrypted, or signed then encrypted as the
    // client registered; a signed answer names its issuer and audience.
    let refused = |e: Encryption, err: SealError| match err {
        SealError::Internal(i) => i,
        other => BrokerError::Bearer {
            error: Some(OAuthError::new(
                ErrorCode::InvalidRequest,
                other.describe("userinfo responses", e),
            )),
        },
    };
    let jwt = match client.formats.userinfo_form() {
        UserinfoForm::Json => {
            return Ok((
                [(header::CACHE_CONTROL, "no-store")],
                axum::Json(Value::Object(claims)),
            )
                .into_response());
        }
        UserinfoForm::Signed(alg) => {
            claims.insert("iss".into(), json!(b.issuer));
            claims.insert("aud".into(), json!(client.id));
            formats::sign(b, alg, &claims)?
        }
        UserinfoForm::Encrypted(e) => {
            let body = serde_json::to_vec(&claims).map_err(BrokerError::internal)?;
            formats::seal(b, &client, &body, e, None)
                .await
                .map_err(|err| refused(e, err))?
        }
        UserinfoForm::SignedThenEncrypted(alg, e) => {
            claims.insert("iss".into(), json!(b.issuer));
            claims.insert("aud".into(), json!(client.id));
            let signed = formats::sign(b, alg, &claims)?;
            formats::seal(b, &client, signed.as_bytes(), e, Some("JWT"))
                .await
                .map_err(|err| refused(e, err))?
        }
    };
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "application/jwt"),
        ],
        jwt,
    )
        .into_response())
}
