//! The userinfo endpoint (OIDC Core §5.3, RFC 6750).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::formats::{Encryption, UserinfoForm};
use passerelle_core::oidc::{ErrorCode, OAuthError};
use passerelle_limits::ClientIp;
use passerelle_store::token_hash;
use serde_json::{Value, json};

use crate::authorize::parse_params;
use crate::dpop::Endpoint;
use crate::formats::{self, SealError};
use crate::{Broker, BrokerError};
use passerelle_jose::dpop::PROOF_ALGS;

pub(crate) async fn userinfo(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(t) = b.limits.userinfo_per_ip.check_ip(ip.as_deref()) {
        return BrokerError::throttled(t, None).into_response();
    }
    answer_userinfo(&b, &method, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// An access token as presented, and whether under the `DPoP` scheme (RFC 9449 §7.1).
struct Presented {
    token: String,
    dpop: bool,
}

/// Finds the access token: the Authorization header (`Bearer` or `DPoP`, in any case), or the
/// form body of a POST (RFC 6750 §2.1–2.2, a Bearer token only), never both.
fn presented(headers: &HeaderMap, body: &[u8]) -> Result<Option<Presented>, BrokerError> {
    let from_header = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => match v.split_once(' ') {
            Some((scheme, t))
                if (scheme.eq_ignore_ascii_case("bearer")
                    || scheme.eq_ignore_ascii_case("dpop"))
                    && !t.trim().is_empty() =>
            {
                Some(Presented {
                    token: t.trim().to_string(),
                    dpop: scheme.eq_ignore_ascii_case("dpop"),
                })
            }
            _ => {
                return Err(BrokerError::Bearer {
                    error: Some(OAuthError::new(
                        ErrorCode::InvalidRequest,
                        "the Authorization header must be Bearer <token> or DPoP <token>",
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
        (None, Some(t)) => Ok(Some(Presented {
            token: t.to_string(),
            dpop: false,
        })),
        (None, None) => Ok(None),
    }
}

async fn answer_userinfo(
    b: &Broker,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    let Presented { token, dpop } =
        presented(headers, body)?.ok_or(BrokerError::Bearer { error: None })?;
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
    check_binding(b, method, headers, &token, dpop, record.dpop_jkt.as_deref()).await?;
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

/// A DPoP-bound token is accepted only under the `DPoP` scheme with a proof by its key that
/// hashes it (RFC 9449 §7.1); a Bearer token only as Bearer, so that neither kind is taken for
/// the other.
async fn check_binding(
    b: &Broker,
    method: &Method,
    headers: &HeaderMap,
    token: &str,
    dpop: bool,
    bound_to: Option<&str>,
) -> Result<(), BrokerError> {
    let at = Endpoint {
        method: method.as_str(),
        path: "/connect/userinfo",
        at_resource: true,
    };
    let refuse = |description: &str| BrokerError::Dpop {
        error: OAuthError::new(ErrorCode::InvalidToken, description),
        nonce: None,
        at_resource: true,
    };
    match (bound_to, dpop) {
        (None, false) => Ok(()),
        (None, true) => Err(BrokerError::Bearer {
            error: Some(OAuthError::new(
                ErrorCode::InvalidToken,
                "this access token is not bound to a DPoP key: send it as Bearer",
            )),
        }),
        (Some(_), false) => Err(refuse(
            "this access token is bound to a DPoP key: send it with the DPoP scheme and a DPoP proof",
        )),
        (Some(jkt), true) => {
            let proof = b
                .dpop_proof(headers, at, Some(token), &PROOF_ALGS)
                .await?
                .ok_or_else(|| BrokerError::Dpop {
                    error: OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "a DPoP-bound access token needs a DPoP proof in the DPoP header",
                    ),
                    nonce: Some(b.dpop_nonce()),
                    at_resource: true,
                })?;
            if proof.jkt != jkt {
                return Err(refuse(
                    "the DPoP proof is signed by another key than the one the token is bound to",
                ));
            }
            Ok(())
        }
    }
}
