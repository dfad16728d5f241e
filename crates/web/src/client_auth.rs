//! Client authentication at the token endpoint: `client_secret_basic`, `client_secret_post` and
//! `private_key_jwt` (RFC 6749 §2.3, RFC 7523, OIDC Core §9).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use passerelle_core::oidc::{ClientAuthMethod, ErrorCode, Params};
use passerelle_jose::{Audience, ClaimsCheck, ClaimsProblem, PublicKeys, SigAlg};
use passerelle_store::{ClientRecord, token_hash};
use serde_json::Value;
use subtle::ConstantTimeEq as _;

use crate::{Broker, BrokerError};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn invalid_client(description: &str) -> BrokerError {
    BrokerError::token(ErrorCode::InvalidClient, description)
}

/// Reads `Authorization: Basic` credentials; both parts are form-urlencoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| ());
    Some(decoded.and_then(|bytes| {
        let text = String::from_utf8(bytes).map_err(|_| ())?;
        let (id, secret) = text.split_once(':').ok_or(())?;
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .ok_or(())
        };
        Ok((decode(id)?, decode(secret)?))
    }))
}

/// Authenticates the client with the method it registered (RFC 6749 §2.3, RFC 7523 §2.2).
/// The opening of every endpoint where a client authenticates as at the token endpoint (token,
/// PAR, revocation, introspection): the per-address limit, the form, the client's credentials,
/// then the per-client limit. Per client only once it is authenticated: client ids are public,
/// and a stranger naming a client must not spend its budget (guessing secrets is bounded by the
/// per-address limit, and secrets are 256 bits).
pub(crate) async fn authenticated_form(
    b: &Broker,
    ip: Option<&passerelle_limits::ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ClientRecord, Params), BrokerError> {
    b.limits
        .token_per_ip
        .check_ip(ip)
        .map_err(|t| BrokerError::throttled(t, None))?;
    let form = crate::authorize::parse_params(body)
        .map_err(|e| BrokerError::token(ErrorCode::InvalidRequest, e.to_string()))?;
    let client = authenticate(b, headers, &form).await?;
    b.limits
        .token_per_client
        .check(&client.id)
        .map_err(|t| BrokerError::throttled(t, None))?;
    Ok((client, form))
}

pub(crate) async fn authenticate(
    b: &Broker,
    headers: &HeaderMap,
    form: &Params,
) -> Result<ClientRecord, BrokerError> {
    let now = b.clock.now();
    if let Some(basic) = basic_credentials(headers) {
        let (id, secret) = basic.map_err(|_| {
            invalid_client("the Authorization header is not valid Basic credentials")
        })?;
        if form.get("client_secret").is_some() || form.get("client_assertion").is_some() {
            return Err(BrokerError::token(
                ErrorCode::InvalidRequest,
                "use exactly one client authentication method",
            ));
        }
        if form.get("client_id").is_some_and(|c| c != id) {
            return Err(invalid_client(
                "client_id differs from the Basic credentials",
            ));
        }
        return check_secret(b, &id, &secret, "client_secret_basic").await;
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(ASSERTION_TYPE) {
            return Err(invalid_client(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        return check_assertion(b, form, assertion, now).await;
    }
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => check_secret(b, id, secret, "client_secret_post").await,
        _ => Err(invalid_client(
            "client authentication is missing: use the method registered for this client",
        )),
    }
}

async fn check_secret(
    b: &Broker,
    id: &str,
    secret: &str,
    method: &str,
) -> Result<ClientRecord, BrokerError> {
    let client = b
        .store
        .find_client(id)
        .await?
        .ok_or_else(|| invalid_client("unknown client or wrong secret"))?;
    let ok = client
        .secret_hash
        .as_deref()
        .is_some_and(|h| bool::from(token_hash(secret).as_bytes().ct_eq(h.as_bytes())));
    if !ok {
        return Err(invalid_client("unknown client or wrong secret"));
    }
    // Basic and post are two ways of sending the same secret; a secret client may use either
    // (RFC 6749 §2.3.1 lets the server support both). Only a key-based client is refused here.
    if !client.auth_method.uses_secret() {
        return Err(invalid_client(&format!(
            "this client is registered for {}, not {method}",
            client.auth_method.as_str()
        )));
    }
    Ok(client)
}

async fn check_assertion(
    b: &Broker,
    form: &Params,
    assertion: &str,
    now: i64,
) -> Result<ClientRecord, BrokerError> {
    let unverified = passerelle_jose::peek_payload(assertion)
        .map_err(|_| invalid_client("client_assertion is not a JWT"))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client = b
        .store
        .find_client(iss)
        .await?
        .ok_or_else(|| invalid_client("client_assertion: unknown client"))?;
    if client.auth_method != ClientAuthMethod::PrivateKeyJwt {
        return Err(invalid_client(&format!(
            "this client is registered for {}",
            client.auth_method.as_str()
        )));
    }
    if form.get("client_id").is_some_and(|c| c != client.id) {
        return Err(invalid_client(
            "client_id differs from the client_assertion's iss",
        ));
    }
    // A client held to a profile signs with the profile's algorithms only (FAPI 2.0 SP §5.4.1:
    // not RS256), whatever keys it registered.
    if let Some(allowed) = client.allowed_algs() {
        let alg = passerelle_jose::peek_header(assertion)
            .ok()
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        if !allowed.contains(&alg.as_str()) {
            return Err(invalid_client(&format!(
                "client_assertion: this client is held to FAPI 2.0 and must sign with {}",
                allowed.join(" or ")
            )));
        }
    }
    let keys = client_keys(b, &client, assertion)
        .await
        .map_err(|e| e.into_error(invalid_client))?;
    let claims = keys
        .verify(assertion, &[SigAlg::Rs256, SigAlg::Es256])
        .map_err(|e| invalid_client(&format!("client_assertion: {e}")))?;
    if claims.get("sub").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(invalid_client(
            "client_assertion: sub must be the client_id",
        ));
    }
    // The issuer identifier as a single string, and nothing else (RFC 7523bis; FAPI 2.0
    // §5.3.2.1): the token endpoint's URL is what an attacker's metadata can make a client put
    // in an assertion meant for another server, so it is not accepted.
    let check = ClaimsCheck {
        issuer: None,
        audience: Audience::OneOf(&[&b.issuer]),
        now,
        max_lifetime: Some(3600),
        expiry_skew: 0,
        future_skew: 60,
    };
    let exp = check.check(&claims).map_err(|problem| {
        invalid_client(&match problem {
            ClaimsProblem::Audience => format!(
                "client_assertion: aud must be the issuer identifier {} as a single string",
                b.issuer
            ),
            ClaimsProblem::NoExpiry => "client_assertion: exp is missing".into(),
            ClaimsProblem::InTheFuture(member) => {
                format!("client_assertion: {member} is in the future")
            }
            ClaimsProblem::Issuer | ClaimsProblem::Expired | ClaimsProblem::LivesTooLong => {
                "client_assertion: expired, or valid for more than an hour".into()
            }
        })
    })?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255 && !j.contains('\0'));
    let jti = jti.ok_or_else(|| {
        invalid_client("client_assertion: jti is missing, or not 1 to 255 printable characters")
    })?;
    if !b
        .store
        .insert_jti(&format!("broker:{}", client.id), jti, exp)
        .await?
    {
        return Err(invalid_client(
            "client_assertion: this jti was already used",
        ));
    }
    Ok(client)
}

/// Why a client's public keys could not be had.
pub(crate) enum NoKeys {
    /// The client's mistake (no keys registered, a `jwks_uri` that cannot be read): said to it.
    Client(String),
    /// The stored JWKS does not parse: ours.
    Internal(BrokerError),
}

impl NoKeys {
    /// The error to answer with, the client's kind made by `client_error`.
    pub(crate) fn into_error(self, client_error: impl FnOnce(&str) -> BrokerError) -> BrokerError {
        match self {
            NoKeys::Client(d) => client_error(&d),
            NoKeys::Internal(e) => e,
        }
    }
}

/// The public keys a client registered (`jwks`, or `jwks_uri` through the cache), to verify
/// `token` — a client assertion or a request object — with: the `kid` of its header picks a
/// key set that is refetched when it names an unknown key.
pub(crate) async fn client_keys(
    b: &Broker,
    client: &ClientRecord,
    token: &str,
) -> Result<PublicKeys, NoKeys> {
    match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => PublicKeys::from_jwks_json(jwks)
            .map_err(|e| NoKeys::Internal(BrokerError::internal(format!("stored JWKS: {e}")))),
        (None, Some(uri)) => {
            let header = passerelle_jose::peek_header(token).unwrap_or_default();
            let kid = header.get("kid").and_then(Value::as_str);
            // What went wrong is for the operator's log only: told to the client, it would let
            // one that registered itself probe what answers at an address of its choosing.
            b.client_jwks.get(uri, kid).await.map_err(|e| {
                tracing::info!(client.id = %client.id, error = %e, "the client's jwks_uri could not be read");
                NoKeys::Client("the client's jwks_uri could not be read (the operator's log says why)".into())
            })
        }
        (None, None) => Err(NoKeys::Client("this client has no keys registered".into())),
    }
}
