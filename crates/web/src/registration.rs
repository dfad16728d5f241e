//! Dynamic client registration (RFC 7591) at `/connect/register` and its management (RFC 7592)
//! at `/connect/register/{client_id}`, mounted only when the operator enables it
//! (`[registration] enabled = true`).
//!
//! A registration needs an initial access token the operator issued
//! (`passerelle registration issue`). The token decides the client's account and the grants it
//! may ask for, and each token registers at most as many clients as it has uses. The metadata go
//! through the same rules as `passerelle client add` ([`crate::clients::merge`]). The answer
//! carries a registration access token with which the client reads, replaces or deletes its
//! registration. Unknown metadata are ignored (RFC 7591 §2); known ones with values Passerelle
//! cannot honour are refused with `invalid_client_metadata` or `invalid_redirect_uri`.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use passerelle_core::oidc::{ErrorCode, INTROSPECTION_GRANT, OAuthError, REFRESH_TOKEN_GRANT};
use passerelle_core::scopes::{Account, SCOPES, protected_scope_names};
use passerelle_limits::ClientIp;
use passerelle_store::{ClientRecord, NewClient, random_token, token_hash};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;

use crate::clients::{ClientInput, FormatsInput, Refusal, merge, new_client_id};
use crate::{Broker, BrokerError};

/// The grant an initial access token gives for CIBA (`passerelle registration issue --grant
/// ciba`).
pub const CIBA: &str = "ciba";

/// The largest registration request taken (a JWKS of a few keys fits many times over).
const MAX_BODY: usize = 64 * 1024;

fn metadata_error(description: impl Into<String>) -> BrokerError {
    BrokerError::token(ErrorCode::InvalidClientMetadata, description)
}

fn invalid_token(description: &str) -> BrokerError {
    BrokerError::Bearer {
        error: Some(OAuthError::new(ErrorCode::InvalidToken, description)),
    }
}

/// The bearer token of the request (RFC 6750 §2.1); none is a 401 without an error code.
fn bearer(headers: &HeaderMap) -> Result<&str, BrokerError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or(BrokerError::Bearer { error: None })
}

/// The request's JSON object (RFC 7591 §3.1: `application/json`).
fn metadata(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, BrokerError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json {
        return Err(metadata_error(
            "send the client metadata as a JSON object with Content-Type: application/json",
        ));
    }
    if body.len() > MAX_BODY {
        return Err(metadata_error("the client metadata are larger than 64 KiB"));
    }
    match serde_json::from_slice(body) {
        Ok(v) if holds_nul(&v) => Err(metadata_error(
            "the client metadata contain a NUL character, which no value may hold",
        )),
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(metadata_error(
            "the request body is not a JSON object of client metadata",
        )),
    }
}

/// Whether a value holds a NUL character anywhere: no metadata value has one, and PostgreSQL's
/// text cannot store one.
fn holds_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn string(m: &Map<String, Value>, name: &str) -> Result<Option<String>, BrokerError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(metadata_error(format!("{name} must be a string"))),
    }
}

/// A setting's value. The command line's `none` (remove a setting) is no value here: a
/// registration leaves a setting out instead.
fn setting(m: &Map<String, Value>, name: &str) -> Result<Option<String>, BrokerError> {
    match string(m, name)? {
        Some(v) if v == "none" => Err(metadata_error(format!(
            "{name}: leave the member out rather than sending \"none\""
        ))),
        v => Ok(v),
    }
}

fn strings(m: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, BrokerError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| metadata_error(format!("{name} must be an array of strings"))),
        Some(_) => Err(metadata_error(format!(
            "{name} must be an array of strings"
        ))),
    }
}

fn boolean(m: &Map<String, Value>, name: &str) -> Result<Option<bool>, BrokerError> {
    match m.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(metadata_error(format!("{name} must be true or false"))),
    }
}

/// The grants a `scope` member asks for: the protected scopes and the operator-granted
/// capabilities (the REST and signing APIs, introspection). The standard scopes are open to
/// every client and need no registration.
fn scope_grants(scope: &str) -> Result<Vec<String>, BrokerError> {
    let mut grants = Vec::new();
    for s in scope.split_ascii_whitespace() {
        let grantable = protected_scope_names().any(|p| p == s)
            || [
                passerelle_core::rest::API_SCOPE,
                passerelle_core::signing::GRANT,
                INTROSPECTION_GRANT,
            ]
            .contains(&s);
        if grantable {
            if !grants.iter().any(|g| g == s) {
                grants.push(s.to_string());
            }
        } else if !SCOPES.iter().any(|known| known.name == s) {
            return Err(metadata_error(format!(
                "scope: {s:?} is not a scope of Passerelle"
            )));
        }
    }
    Ok(grants)
}

/// Whether Passerelle may call `uri` for a client that registered itself (its keys, its
/// notifications, its webhook): https to a host that is not an internal address. On a
/// developer's machine (`local`), also http or https to a loopback address. Host names are taken
/// as they are: one that resolves to an internal address is not caught here.
fn callable(uri: &str, local: bool) -> Result<(), &'static str> {
    let url = url::Url::parse(uri).map_err(|_| "not an absolute URL")?;
    let loopback = match url.host() {
        None => return Err("no host"),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => {
            if ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                // 100.64.0.0/10, shared address space (RFC 6598).
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
            {
                return Err("Passerelle calls no internal address");
            }
            ip.is_loopback()
        }
        Some(url::Host::Ipv6(ip)) => {
            let mapped = ip.to_ipv4_mapped();
            if ip.is_unspecified()
                // fc00::/7 (unique local) and fe80::/10 (link-local).
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || mapped.is_some_and(|v4| !v4.is_loopback())
            {
                return Err("Passerelle calls no internal address");
            }
            ip.is_loopback() || mapped.is_some()
        }
    };
    match (url.scheme(), loopback) {
        (_, true) if !local => Err("Passerelle calls no loopback address (it would be itself)"),
        ("https", _) | ("http", true) => Ok(()),
        _ => Err("Passerelle calls it, so it must be an https URL"),
    }
}

/// The registration the metadata describe, for a client of `account`. Every setting not given
/// takes its default: a replacement (RFC 7592 §2.2) drops what it omits. `local` says whether
/// Passerelle runs on a developer's machine (its issuer is a loopback address), where the URIs
/// it calls may be loopback ones too.
fn input_of(
    m: &Map<String, Value>,
    account: Account,
    local: bool,
) -> Result<ClientInput, BrokerError> {
    if m.contains_key("software_statement") {
        return Err(BrokerError::token(
            ErrorCode::UnapprovedSoftwareStatement,
            "Passerelle takes no software statements; send the metadata themselves",
        ));
    }
    for t in strings(m, "response_types")?.unwrap_or_default() {
        if t != "code" {
            return Err(metadata_error(format!(
                "response_types: only code is supported, not {t:?}"
            )));
        }
    }
    let grant_types =
        strings(m, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let ciba_grant = passerelle_itsme::claims::CIBA_GRANT;
    let mut grants = scope_grants(&string(m, "scope")?.unwrap_or_default())?;
    for g in &grant_types {
        match g.as_str() {
            "authorization_code" | "client_credentials" => {}
            "refresh_token" => grants.push(REFRESH_TOKEN_GRANT.into()),
            g if g == ciba_grant => {}
            other => {
                return Err(metadata_error(format!(
                    "grant_types: {other:?} is not supported (authorization_code, refresh_token, client_credentials, {ciba_grant})"
                )));
            }
        }
    }
    let ciba_mode = setting(m, "backchannel_token_delivery_mode")?;
    if ciba_mode.is_some() != grant_types.iter().any(|g| g == ciba_grant) {
        return Err(metadata_error(format!(
            "backchannel_token_delivery_mode and the grant type {ciba_grant} go together"
        )));
    }
    // The standard member, or the one `describe` answers with (so that a registration read and
    // sent back is unchanged).
    let ciba_signed_requests = match string(m, "backchannel_authentication_request_signing_alg")? {
        None => boolean(m, "backchannel_signed_requests_required")?,
        Some(alg) if alg == "RS256" || alg == "ES256" => Some(true),
        Some(alg) => {
            return Err(metadata_error(format!(
                "backchannel_authentication_request_signing_alg: {alg:?} is not supported (RS256, ES256)"
            )));
        }
    };
    let jwks = match m.get("jwks") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(metadata_error("jwks must be a JWK Set object")),
    };
    let jwks_uri = string(m, "jwks_uri")?;
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(metadata_error(
            "give jwks or jwks_uri, not both (RFC 7591 §2)",
        ));
    }
    let signing_webhook = setting(m, "signing_webhook")?;
    let ciba_notification_endpoint = string(m, "backchannel_client_notification_endpoint")?;
    for (member, uri) in [
        ("jwks_uri", &jwks_uri),
        ("signing_webhook", &signing_webhook),
        (
            "backchannel_client_notification_endpoint",
            &ciba_notification_endpoint,
        ),
    ] {
        if let Some(u) = uri {
            callable(u, local).map_err(|why| metadata_error(format!("{member} {u:?}: {why}")))?;
        }
    }
    let redirect_uris = strings(m, "redirect_uris")?.unwrap_or_default();
    let post_logout_redirect_uris = strings(m, "post_logout_redirect_uris")?.unwrap_or_default();
    // The command line's `none` (remove them all) is no URI here.
    for (member, list) in [
        ("redirect_uris", &redirect_uris),
        ("post_logout_redirect_uris", &post_logout_redirect_uris),
    ] {
        if list.iter().any(|u| u == "none") {
            return Err(metadata_error(format!(
                "{member}: \"none\" is not a URI; send an empty list or leave the member out"
            )));
        }
    }
    Ok(ClientInput {
        name: string(m, "client_name")?,
        redirect_uris,
        auth_method: setting(m, "token_endpoint_auth_method")?,
        jwks,
        jwks_uri,
        account: Some(account.as_str().into()),
        grants,
        clear_grants: true,
        id_token_alg: setting(m, "id_token_signed_response_alg")?,
        rotate_secret: false,
        ciba_mode,
        ciba_notification_endpoint,
        ciba_signed_requests,
        signing_webhook,
        dpop_bound_access_tokens: boolean(m, "dpop_bound_access_tokens")?,
        post_logout_redirect_uris,
        require_pushed_authorization_requests: boolean(m, "require_pushed_authorization_requests")?,
        require_signed_request_object: boolean(m, "require_signed_request_object")?,
        profile: setting(m, "fapi_profile")?,
        formats: FormatsInput {
            id_token_encryption_alg: setting(m, "id_token_encrypted_response_alg")?,
            id_token_encryption_enc: setting(m, "id_token_encrypted_response_enc")?,
            userinfo_alg: setting(m, "userinfo_signed_response_alg")?,
            userinfo_encryption_alg: setting(m, "userinfo_encrypted_response_alg")?,
            userinfo_encryption_enc: setting(m, "userinfo_encrypted_response_enc")?,
            id_token_claims: setting(m, "id_token_claims")?,
        },
    })
}

/// The command-line flags of `client add` that the shared rules name, and the metadata members
/// they stand for here; longer flags first, so that none is replaced inside another.
const MEMBER_NAMES: [(&str, &str); 27] = [
    (
        "at least one --redirect-uri",
        "at least one redirect URI in redirect_uris",
    ),
    (
        "--require-pushed-authorization-requests",
        "require_pushed_authorization_requests",
    ),
    (
        "--require-signed-request-object",
        "require_signed_request_object",
    ),
    (
        "--ciba-notification-endpoint",
        "backchannel_client_notification_endpoint",
    ),
    ("--post-logout-redirect-uri", "post_logout_redirect_uris"),
    ("--dpop-bound-access-tokens", "dpop_bound_access_tokens"),
    (
        "--userinfo-encryption-alg",
        "userinfo_encrypted_response_alg",
    ),
    (
        "--userinfo-encryption-enc",
        "userinfo_encrypted_response_enc",
    ),
    (
        "--id-token-encryption-alg",
        "id_token_encrypted_response_alg",
    ),
    (
        "--id-token-encryption-enc",
        "id_token_encrypted_response_enc",
    ),
    (
        "--ciba-signed-requests",
        "backchannel_authentication_request_signing_alg",
    ),
    ("--userinfo-encryption", "userinfo_encrypted_response"),
    ("--id-token-encryption", "id_token_encrypted_response"),
    ("--grant introspection", "scope introspection"),
    ("--ciba-mode", "backchannel_token_delivery_mode"),
    ("--signing-webhook", "signing_webhook"),
    ("--id-token-claims", "id_token_claims"),
    ("--id-token-alg", "id_token_signed_response_alg"),
    ("--redirect-uri", "redirect_uris"),
    ("--userinfo-alg", "userinfo_signed_response_alg"),
    ("--auth-method", "token_endpoint_auth_method"),
    ("--jwks-uri URI", "jwks_uri"),
    ("--jwks FILE", "jwks"),
    ("--jwks-uri", "jwks_uri"),
    ("--profile", "fapi_profile"),
    ("--grant", "scope"),
    ("--name", "client_name"),
];

/// A refusal of the shared rules, as the registration endpoint says it: `invalid_redirect_uri`
/// or `invalid_client_metadata`, naming metadata members rather than command-line flags. Only
/// the text outside double quotes is the rules' own; quoted text is the client's values, kept
/// as sent.
fn refusal(e: &Refusal) -> BrokerError {
    let code = if e.redirect_uri {
        ErrorCode::InvalidRedirectUri
    } else {
        ErrorCode::InvalidClientMetadata
    };
    let text: Vec<String> = e
        .message
        .split('"')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                return part.to_string();
            }
            let mut part = part.to_string();
            for (flag, member) in MEMBER_NAMES {
                part = part.replace(flag, member);
            }
            // What is left of the command line's vocabulary: `none` removes a setting there,
            // and leaving the member out does it here.
            part.replace("--jwks", "jwks")
                .replace(" or none", "")
                .replace("remove fapi_profile first", "leave out fapi_profile")
        })
        .collect();
    BrokerError::token(code, text.join("\""))
}

/// The registration as the endpoint answers it (RFC 7591 §3.2.1, RFC 7592 §3).
fn answer(
    b: &Broker,
    c: &ClientRecord,
    secret: Option<&str>,
    access_token: &str,
    status: StatusCode,
) -> Response {
    let mut v = crate::clients::describe(c, secret);
    if c.auth_method.uses_secret() {
        v["client_secret_expires_at"] = json!(0);
    }
    let scope: Vec<&str> = c
        .grants
        .iter()
        .map(String::as_str)
        .filter(|g| *g != REFRESH_TOKEN_GRANT)
        .collect();
    if !scope.is_empty() {
        v["scope"] = json!(scope.join(" "));
    }
    v["registration_access_token"] = json!(access_token);
    v["registration_client_uri"] = json!(format!("{}/connect/register/{}", b.issuer, c.id));
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(v),
    )
        .into_response()
}

/// What a registration asks of the operator's trust: its grants, and CIBA (which sends itsme
/// requests to people's phones), as the initial access token names them.
fn asks(grants: &[String], ciba: bool) -> Vec<String> {
    let mut asked = grants.to_vec();
    if ciba {
        asked.push(CIBA.into());
    }
    asked
}

/// Refuses what the initial access token does not allow.
fn within(client: &NewClient, allowed: &[String]) -> Result<(), BrokerError> {
    match asks(&client.grants, client.ciba.is_some())
        .into_iter()
        .find(|g| !allowed.contains(g))
    {
        None => Ok(()),
        Some(g) if g == REFRESH_TOKEN_GRANT => Err(metadata_error(
            "grant_types: refresh_token is not allowed by the initial access token; ask the operator",
        )),
        Some(g) if g == CIBA => Err(metadata_error(
            "backchannel_token_delivery_mode: CIBA is not allowed by the initial access token; ask the operator",
        )),
        Some(g) => Err(metadata_error(format!(
            "scope: {g} is not allowed by the initial access token; ask the operator"
        ))),
    }
}

fn limit(b: &Broker, ip: Option<&ClientIp>) -> Result<(), BrokerError> {
    b.limits
        .registration_per_ip
        .check_ip(ip)
        .map_err(|t| BrokerError::throttled(t, None))
}

pub(crate) async fn register(
    State(b): State<Arc<Broker>>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    register_client(&b, ip.as_deref(), &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn register_client(
    b: &Broker,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, BrokerError> {
    // No token is refused before the limit counts the request: it costs nothing.
    let initial = token_hash(bearer(headers)?);
    limit(b, ip)?;
    let now = b.clock.now();
    let token = b
        .store
        .find_registration_token(&initial)
        .await?
        .filter(|t| t.is_live(now))
        .ok_or_else(|| {
            invalid_token("the initial access token is unknown, used up, expired or revoked")
        })?;
    let input = input_of(&metadata(headers, body)?, token.account, b.is_local())?;
    let (client, secret) = merge(new_client_id(), None, &input).map_err(|e| refusal(&e))?;
    within(&client, &token.grants)?;
    let access_token = random_token(32);
    // The token's use is taken with the insert: a registration that loses a race for its last
    // use stores nothing.
    if !b
        .store
        .register_client(&initial, &client, &token_hash(&access_token), now)
        .await?
    {
        return Err(invalid_token(
            "the initial access token is unknown, used up, expired or revoked",
        ));
    }
    let record = b
        .store
        .find_client(&client.id)
        .await?
        .ok_or_else(|| BrokerError::internal("a registered client was not found"))?;
    tracing::info!(client.id = %record.id, "client registered");
    Ok(answer(
        b,
        &record,
        secret.as_deref(),
        &access_token,
        StatusCode::CREATED,
    ))
}

/// A client that registered itself, as its registration access token opens it.
struct Managed {
    client: ClientRecord,
    /// What a replacement may ask for ([`within`]): what the initial access token that
    /// registered it allows, and what the client holds now (the operator may have granted more).
    allowed: Vec<String>,
    /// The registration access token presented, which the answers repeat (RFC 7592 §3).
    access_token: String,
}

/// The client a registration access token manages; the same refusal for an unknown client, one
/// the operator registered and a wrong token (RFC 7592 §3).
async fn managed(b: &Broker, headers: &HeaderMap, client_id: &str) -> Result<Managed, BrokerError> {
    let presented = bearer(headers)?.to_string();
    let refused = || invalid_token("the registration access token is not valid for this client");
    let registration = b
        .store
        .registration_of(client_id)
        .await?
        .ok_or_else(refused)?;
    let matches: bool = token_hash(&presented)
        .as_bytes()
        .ct_eq(registration.access_hash.as_bytes())
        .into();
    if !matches {
        return Err(refused());
    }
    let client = b.store.find_client(client_id).await?.ok_or_else(refused)?;
    let mut allowed = registration.token.map(|t| t.grants).unwrap_or_default();
    allowed.extend(asks(&client.grants, client.ciba.is_some()));
    Ok(Managed {
        client,
        allowed,
        access_token: presented,
    })
}

pub(crate) async fn read(
    State(b): State<Arc<Broker>>,
    Path(client_id): Path<String>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Response {
    let read = async {
        bearer(&headers)?;
        limit(&b, ip.as_deref())?;
        let m = managed(&b, &headers, &client_id).await?;
        Ok::<_, BrokerError>(answer(&b, &m.client, None, &m.access_token, StatusCode::OK))
    };
    read.await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn replace(
    State(b): State<Arc<Broker>>,
    Path(client_id): Path<String>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    replace_client(&b, ip.as_deref(), &headers, &client_id, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// RFC 7592 §2.2: the metadata replace the registration; what they omit goes back to its
/// default. The client id, the account and the secret stay (a secret is made only when the
/// client moves to a secret-based method).
async fn replace_client(
    b: &Broker,
    ip: Option<&ClientIp>,
    headers: &HeaderMap,
    client_id: &str,
    body: &[u8],
) -> Result<Response, BrokerError> {
    bearer(headers)?;
    limit(b, ip)?;
    let Managed {
        client: current,
        allowed,
        access_token,
    } = managed(b, headers, client_id).await?;
    let m = metadata(headers, body)?;
    if string(&m, "client_id")?.as_deref() != Some(client_id) {
        return Err(BrokerError::token(
            ErrorCode::InvalidRequest,
            "client_id must be given and be this client's (RFC 7592 §2.2)",
        ));
    }
    if let Some(presented) = string(&m, "client_secret")? {
        let same = current
            .secret_hash
            .as_deref()
            .is_some_and(|h| bool::from(token_hash(&presented).as_bytes().ct_eq(h.as_bytes())));
        if !same {
            return Err(BrokerError::token(
                ErrorCode::InvalidRequest,
                "client_secret does not match the one issued; a client cannot choose its secret",
            ));
        }
    }
    let input = input_of(&m, current.account, b.is_local())?;
    let (mut client, mut secret) =
        merge(current.id.clone(), None, &input).map_err(|e| refusal(&e))?;
    within(&client, &allowed)?;
    if client.secret_hash.is_some() && current.secret_hash.is_some() {
        client.secret_hash = current.secret_hash.clone();
        secret = None;
    }
    if !b
        .store
        .update_client_as(&client, b.clock.now(), "client.registration_replaced")
        .await?
    {
        return Err(invalid_token(
            "the registration access token is not valid for this client",
        ));
    }
    let record = b.store.find_client(client_id).await?.ok_or_else(|| {
        invalid_token("the registration access token is not valid for this client")
    })?;
    tracing::info!(client.id = %record.id, "client registration replaced");
    Ok(answer(
        b,
        &record,
        secret.as_deref(),
        &access_token,
        StatusCode::OK,
    ))
}

pub(crate) async fn delete(
    State(b): State<Arc<Broker>>,
    Path(client_id): Path<String>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Response {
    let delete = async {
        bearer(&headers)?;
        limit(&b, ip.as_deref())?;
        let client = managed(&b, &headers, &client_id).await?.client;
        // Everything issued to it goes with it, as with `passerelle client remove`.
        if !b
            .store
            .delete_client_as(&client.id, b.clock.now(), "client.deregistered")
            .await?
        {
            return Err(invalid_token(
                "the registration access token is not valid for this client",
            ));
        }
        tracing::info!(client.id = %client.id, "client deregistered");
        Ok::<_, BrokerError>(
            (
                StatusCode::NO_CONTENT,
                [(header::CACHE_CONTROL, "no-store")],
            )
                .into_response(),
        )
    };
    delete.await.unwrap_or_else(IntoResponse::into_response)
}
