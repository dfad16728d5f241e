//! Request objects by value (RFC 9101, OIDC Core §6.1) and pushed authorization requests
//! (RFC 9126): how the authorization endpoint and the PAR endpoint turn what a client sent into
//! the parameters that `validate_authorization_request` then checks like any others.
//!
//! Decisions where the specifications leave a choice:
//! - A request object's parameters are the request: those outside it are not used (RFC 9101
//!   §5), except that `client_id` and `response_type`, when present outside, must equal the
//!   ones inside (OIDC Core §6.1).
//! - At the authorization endpoint, a `request_uri` from PAR carries the request: any other
//!   parameter sent beside it must equal the pushed one (RFC 9126 §4 lets the server refuse
//!   what differs), so nothing outside can change a pushed request.
//! - `request_uri` values are only those this server made at its PAR endpoint; Passerelle
//!   fetches no URL a client names (`request_uri_not_supported`).
//! - `jti` is optional and not remembered: a request object by value is in the URL the browser
//!   reloads, and a pushed one is used up by the login it starts.

use passerelle_core::oidc::{ErrorCode, Params};
use passerelle_jose::{Audience, ClaimsCheck, ClaimsProblem};
use passerelle_store::{ClientRecord, PushedRequest, token_hash};
use serde_json::Value;

use crate::Broker;

/// The prefix of every `request_uri` the PAR endpoint hands out (RFC 9126 §2.2).
pub(crate) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a `request_uri` can be used at the authorization endpoint (RFC 9126 §2.2: short).
pub(crate) const PUSHED_REQUEST_SECS: i64 = 90;
/// The longest a request object may be valid, from `nbf` to `exp` (FAPI 2.0 Message Signing
/// §5.3.1: at most 60 minutes).
const MAX_REQUEST_OBJECT_LIFETIME: i64 = 3600;
/// A request object larger than this is refused before any cryptography.
const MAX_REQUEST_OBJECT_LEN: usize = 64 * 1024;
/// The claims of a request object that are about the JWT, not the authorization request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Why a request was refused before its parameters were validated: the error code, its
/// description, and the parameters whose `redirect_uri` (if registered) the error may go to.
pub(crate) struct Refusal {
    pub code: ErrorCode,
    pub description: String,
    pub trusted: Params,
}

impl Refusal {
    fn new(code: ErrorCode, description: impl Into<String>, trusted: &Params) -> Refusal {
        Refusal {
            code,
            description: description.into(),
            trusted: trusted.clone(),
        }
    }
}

/// The parameters of an authorization request to validate, and the pushed request it came
/// from (its id), if any.
pub(crate) struct Resolved {
    pub params: Params,
    pub pushed: Option<String>,
}

/// A parameter's name as it may appear in a message: printable, at most 40 characters.
fn shown(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// What the authorization endpoint validates for `client`: the pushed request `request_uri`
/// names, the request object `request` carries, or the parameters as sent; with the client's
/// `require_pushed_authorization_requests` and `require_signed_request_object` enforced.
pub(crate) async fn resolve_at_authorization_endpoint(
    b: &Broker,
    client: &ClientRecord,
    outer: &Params,
) -> Result<Resolved, Refusal> {
    let now = b.clock.now();
    if let Some(uri) = outer.get("request_uri")
        && uri.starts_with(REQUEST_URI_PREFIX)
    {
        if outer.get("request").is_some() {
            return Err(Refusal::new(
                ErrorCode::InvalidRequest,
                "send either request or request_uri, not both",
                outer,
            ));
        }
        let pushed = b
            .store
            .find_pushed_request(&token_hash(uri))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read a pushed authorization request");
                Refusal::new(
                    ErrorCode::TemporarilyUnavailable,
                    crate::error::UNAVAILABLE,
                    outer,
                )
            })?;
        let pushed = check_pushed(pushed, client, now, outer)?;
        let stored = Params::from_pairs(pushed.params.clone()).map_err(|_| {
            Refusal::new(
                ErrorCode::InvalidRequestUri,
                "the pushed request cannot be read",
                outer,
            )
        })?;
        for (name, value) in outer.pairs() {
            if name == "client_id" || name == "request_uri" {
                continue;
            }
            if stored.get(name) != Some(value.as_str()) {
                return Err(Refusal::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "{} differs from the pushed authorization request; send only client_id and request_uri",
                        shown(name)
                    ),
                    &stored,
                ));
            }
        }
        if client.par.require_signed && !pushed.signed {
            return Err(Refusal::new(
                ErrorCode::InvalidRequest,
                "this client must send its requests as signed request objects (require_signed_request_object)",
                &stored,
            ));
        }
        return Ok(Resolved {
            params: stored,
            pushed: Some(pushed.id),
        });
    }
    if client.par.require_pushed {
        return Err(Refusal::new(
            ErrorCode::InvalidRequest,
            "this client must push its authorization requests to the PAR endpoint first and send the request_uri it returns (require_pushed_authorization_requests)",
            outer,
        ));
    }
    if let Some(request) = outer.get("request") {
        if outer.get("request_uri").is_some() {
            return Err(Refusal::new(
                ErrorCode::InvalidRequest,
                "send either request or request_uri, not both",
                outer,
            ));
        }
        let params = unpack(b, client, outer, request)
            .await
            .map_err(|r| Refusal::new(r.code, r.description, outer))?;
        return Ok(Resolved {
            params,
            pushed: None,
        });
    }
    if client.par.require_signed && outer.get("request_uri").is_none() {
        return Err(Refusal::new(
            ErrorCode::InvalidRequest,
            "this client must send its requests as signed request objects (require_signed_request_object)",
            outer,
        ));
    }
    Ok(Resolved {
        params: outer.clone(),
        pushed: None,
    })
}

/// The pushed request, if it may start a login for `client` now.
fn check_pushed(
    pushed: Option<PushedRequest>,
    client: &ClientRecord,
    now: i64,
    outer: &Params,
) -> Result<PushedRequest, Refusal> {
    let refuse = |d: &str| Refusal::new(ErrorCode::InvalidRequestUri, d, outer);
    // One answer for "unknown" and "another client's": a client learns nothing about others.
    let pushed = pushed
        .filter(|p| p.client_id == client.id)
        .ok_or_else(|| refuse("the request_uri is unknown, or was not pushed by this client"))?;
    if pushed.consumed_at.is_some() {
        return Err(refuse(
            "the request_uri was already used for a login; push the request again",
        ));
    }
    if now >= pushed.expires_at {
        return Err(refuse("the request_uri expired; push the request again"));
    }
    Ok(pushed)
}

/// A refusal before anything of the request can be trusted: its code and description.
pub(crate) struct Problem {
    pub code: ErrorCode,
    pub description: String,
}

fn invalid(description: impl Into<String>) -> Problem {
    Problem {
        code: ErrorCode::InvalidRequestObject,
        description: description.into(),
    }
}

/// Decrypts (when it is a JWE), verifies and checks a request object sent by `client`, and
/// returns its parameters: the request (RFC 9101 §5). `outer` are the parameters sent beside it.
pub(crate) async fn unpack(
    b: &Broker,
    client: &ClientRecord,
    outer: &Params,
    request: &str,
) -> Result<Params, Problem> {
    if request.len() > MAX_REQUEST_OBJECT_LEN {
        return Err(invalid("the request object is larger than 64 KiB"));
    }
    let signed = if passerelle_jose::is_encrypted(request) {
        let keys: Vec<&passerelle_jose::DecryptionKey> = b.keys.enc.iter().collect();
        let inner = passerelle_jose::decrypt_request_object(request, &keys).map_err(|e| {
            invalid(format!(
                "the request object cannot be decrypted ({e}); encrypt it with RSA-OAEP-256 and A128CBC-HS256 or A256GCM to a key of {}/.well-known/openid-configuration/jwks",
                b.issuer
            ))
        })?;
        if passerelle_jose::is_encrypted(&inner) {
            return Err(invalid(
                "the encrypted request object must hold a signed JWT, not another JWE",
            ));
        }
        inner
    } else {
        request.to_string()
    };
    let header = passerelle_jose::peek_header(&signed)
        .map_err(|_| invalid("the request object is not a JWT"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !passerelle_jose::REQUEST_OBJECT_SIGNING_ALGS.contains(&alg) {
        return Err(invalid(format!(
            "the request object must be signed with RS256, PS256 or ES256, not {:?}",
            shown(alg)
        )));
    }
    let keys = crate::client_auth::client_keys(b, client, &signed)
        .await
        .map_err(|e| match e {
            crate::client_auth::NoKeys::Client(d) => invalid(d),
            crate::client_auth::NoKeys::Internal(e) => {
                tracing::error!(error = ?e, "a client's stored JWKS does not parse");
                Problem {
                    code: ErrorCode::ServerError,
                    description: "the client's registered keys cannot be used".into(),
                }
            }
        })?;
    let claims = passerelle_jose::verify_request_object(&keys, &signed)
        .map_err(|e| invalid(format!("the request object's signature: {e}")))?;
    let now = b.clock.now();
    let check = ClaimsCheck {
        issuer: Some(&client.id),
        audience: Audience::OneOf(&[&b.issuer]),
        now,
        max_lifetime: None,
        expiry_skew: 0,
        future_skew: 60,
    };
    let exp = check.check(&claims).map_err(|p| {
        invalid(match p {
            ClaimsProblem::Issuer => "the request object's iss must be the client_id".to_string(),
            ClaimsProblem::Audience => format!(
                "the request object's aud must be the issuer identifier {} as a single string",
                b.issuer
            ),
            ClaimsProblem::NoExpiry => "the request object has no exp".into(),
            ClaimsProblem::Expired => "the request object expired (exp)".into(),
            ClaimsProblem::LivesTooLong => "the request object lives too long".into(),
            ClaimsProblem::InTheFuture(m) => format!("the request object's {m} is in the future"),
        })
    })?;
    let nbf = claims
        .get("nbf")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("the request object has no nbf"))?;
    if exp.saturating_sub(nbf) > MAX_REQUEST_OBJECT_LIFETIME {
        return Err(invalid(
            "the request object's exp is more than 60 minutes after its nbf",
        ));
    }
    if claims.get("client_id").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(invalid(
            "the request object's client_id must be present and equal the client_id of the request",
        ));
    }
    if let Some(outside) = outer.get("response_type")
        && claims.get("response_type").and_then(Value::as_str) != Some(outside)
    {
        return Err(invalid(
            "response_type outside the request object differs from the one inside",
        ));
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(invalid(
            "a request object must not contain request or request_uri (RFC 9101 §4)",
        ));
    }
    let mut pairs = Vec::new();
    for (name, value) in &claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            // `max_age` as a number, `claims` as an object: the text they have as parameters.
            Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                value.to_string()
            }
        };
        pairs.push((name.clone(), text));
    }
    Params::from_pairs(pairs).map_err(|e| invalid(format!("the request object: {e}")))
}
