//! What a client may be registered with, and its RFC 7591 description: the rules that
//! `passerelle client add|update` and dynamic client registration (`registration.rs`) share, so
//! that a client registered either way is held to the same checks.

use passerelle_core::formats::{Encryption, IdTokenContents, TokenFormats, parse_encryption};
use passerelle_core::oidc::{
    CibaMode, ClientAuthMethod, INTROSPECTION_GRANT, IdTokenAlg, Profile, REFRESH_TOKEN_GRANT,
};
use passerelle_core::scopes::{Account, protected_scope_names};
use passerelle_jose::PublicKeys;
use passerelle_store::{
    CibaRegistration, ClientRecord, NewClient, ParRegistration, random_token, token_hash,
};
use serde_json::{Value, json};

/// Why a registration was refused, in the command line's words: the registration endpoint
/// names metadata members instead (`registration::refusal`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    /// A redirect URI was refused: RFC 7591's `invalid_redirect_uri`, where other refusals are
    /// `invalid_client_metadata`.
    pub redirect_uri: bool,
}

impl Refusal {
    fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            redirect_uri: false,
        }
    }
}

/// Refuses the registration with a formatted message.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err(Refusal::new(format!($($arg)*)))
    };
}

/// `context` for what the rules parse: a missing value refused with `message`, a parse error
/// with `message` and what went wrong.
trait OrRefuse<T> {
    fn context(self, message: impl Into<String>) -> Result<T, Refusal>;
}

impl<T> OrRefuse<T> for Option<T> {
    fn context(self, message: impl Into<String>) -> Result<T, Refusal> {
        self.ok_or_else(|| Refusal::new(message))
    }
}

impl<T, E: std::fmt::Display> OrRefuse<T> for Result<T, E> {
    fn context(self, message: impl Into<String>) -> Result<T, Refusal> {
        self.map_err(|e| Refusal::new(format!("{}: {e}", message.into())))
    }
}

/// What a registration asks for (the operator's flags, or a client's metadata); `None` keeps
/// the current value on update.
#[derive(Debug, Default, Clone)]
pub struct ClientInput {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: Option<String>,
    /// The client's public keys as JWKS text.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub account: Option<String>,
    pub grants: Vec<String>,
    pub clear_grants: bool,
    pub id_token_alg: Option<String>,
    pub rotate_secret: bool,
    /// `poll`, `ping` or `none`.
    pub ciba_mode: Option<String>,
    pub ciba_notification_endpoint: Option<String>,
    pub ciba_signed_requests: Option<bool>,
    /// Where signing events go; `none` removes it.
    pub signing_webhook: Option<String>,
    pub dpop_bound_access_tokens: Option<bool>,
    /// Replaces the list when not empty; `none` empties it.
    pub post_logout_redirect_uris: Vec<String>,
    /// RFC 9126 §6 and RFC 9101 §10.5 per-client requirements.
    pub require_pushed_authorization_requests: Option<bool>,
    pub require_signed_request_object: Option<bool>,
    /// `fapi2`, or `none` to remove it.
    pub profile: Option<String>,
    pub formats: FormatsInput,
}

/// The token formats asked for (`core::formats`); `None` keeps the current value on update,
/// `none` removes a signature or an encryption.
#[derive(Debug, Default, Clone)]
pub struct FormatsInput {
    pub id_token_encryption_alg: Option<String>,
    pub id_token_encryption_enc: Option<String>,
    pub userinfo_alg: Option<String>,
    pub userinfo_encryption_alg: Option<String>,
    pub userinfo_encryption_enc: Option<String>,
    pub id_token_claims: Option<String>,
}

/// The RFC 7591-shaped description of a client; `secret` only when one was just made.
pub fn describe(c: &ClientRecord, secret: Option<&str>) -> Value {
    let mut v = json!({
        "client_id": c.id,
        "client_name": c.name,
        "redirect_uris": c.redirect_uris,
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "account": c.account.as_str(),
        "grants": c.grants,
        "id_token_signed_response_alg": c.id_token_alg.as_str(),
        "client_id_issued_at": c.created_at,
    });
    if let Some(s) = secret {
        v["client_secret"] = json!(s);
    }
    v["grant_types"] = json!(grant_types(c));
    if let Some(u) = &c.jwks_uri {
        v["jwks_uri"] = json!(u);
    }
    if let Some(j) = &c.jwks {
        v["jwks"] = serde_json::from_str(j).unwrap_or(Value::Null);
    }
    if let Some(ciba) = &c.ciba {
        v["backchannel_token_delivery_mode"] = json!(ciba.mode.as_str());
        if let Some(e) = &ciba.notification_endpoint {
            v["backchannel_client_notification_endpoint"] = json!(e);
        }
        // Not CIBA's backchannel_authentication_request_signing_alg: any of RS256 and ES256
        // is accepted, so the registration says only that signing is required.
        v["backchannel_signed_requests_required"] = json!(ciba.signed_requests);
    }
    if let Some(w) = &c.signing_webhook {
        v["signing_webhook"] = json!(w);
    }
    v["dpop_bound_access_tokens"] = json!(c.requires_dpop());
    if !c.post_logout_redirect_uris.is_empty() {
        v["post_logout_redirect_uris"] = json!(c.post_logout_redirect_uris);
    }
    // OIDC Registration §2 names; absent means signed only (ID token) or JSON (userinfo).
    let f = &c.formats;
    if let Some(e) = f.id_token_encryption {
        v["id_token_encrypted_response_alg"] = json!(e.alg.as_str());
        v["id_token_encrypted_response_enc"] = json!(e.enc.as_str());
    }
    if let Some(a) = f.userinfo_signing {
        v["userinfo_signed_response_alg"] = json!(a.as_str());
    }
    if let Some(e) = f.userinfo_encryption {
        v["userinfo_encrypted_response_alg"] = json!(e.alg.as_str());
        v["userinfo_encrypted_response_enc"] = json!(e.enc.as_str());
    }
    // Not in RFC 7591: Signicat's "ID-token user data" setting.
    v["id_token_claims"] = json!(f.id_token_claims.as_str());
    v["require_pushed_authorization_requests"] = json!(c.requires_par());
    v["require_signed_request_object"] = json!(c.par.require_signed);
    if let Some(p) = c.profile {
        v["fapi_profile"] = json!(p.as_str());
    }
    v
}

/// The token formats `input` asks for, over the current ones. An encryption needs the client's
/// keys, and registered keys (`jwks`) must hold one to encrypt to; keys at a `jwks_uri` are
/// checked when a token is issued (and a token is refused, never sent in the clear).
fn merge_formats(
    current: Option<&ClientRecord>,
    input: &FormatsInput,
    jwks: Option<&str>,
    jwks_uri: Option<&str>,
) -> Result<TokenFormats, Refusal> {
    let mut f = current.map(|c| c.formats).unwrap_or_default();
    let encryption = |prefix: &'static str,
                      flag: &str,
                      alg: &Option<String>,
                      enc: &Option<String>,
                      now: Option<Encryption>|
     -> Result<Option<Encryption>, Refusal> {
        match (alg.as_deref(), enc.as_deref()) {
            (Some("none"), None) => Ok(None),
            (Some("none"), Some(_)) => refuse!("--{flag}-enc cannot go with --{flag}-alg none"),
            (None, None) => Ok(now),
            // A new content encryption for the algorithm already registered.
            (None, Some(e)) if now.is_some() => {
                let alg = now.map(|n| n.alg.as_str());
                parse_encryption(prefix, alg, Some(e))
                    .map_err(|e| Refusal::new(format!("--{flag}-enc: {e}")))
            }
            (a, e) => parse_encryption(prefix, a, e)
                .map_err(|err| Refusal::new(format!("--{flag}-alg/--{flag}-enc: {err}"))),
        }
    };
    f.id_token_encryption = encryption(
        "id_token",
        "id-token-encryption",
        &input.id_token_encryption_alg,
        &input.id_token_encryption_enc,
        f.id_token_encryption,
    )?;
    f.userinfo_encryption = encryption(
        "userinfo",
        "userinfo-encryption",
        &input.userinfo_encryption_alg,
        &input.userinfo_encryption_enc,
        f.userinfo_encryption,
    )?;
    match input.userinfo_alg.as_deref() {
        None => {}
        Some("none") => f.userinfo_signing = None,
        Some(text) => {
            f.userinfo_signing = Some(
                IdTokenAlg::parse(text)
                    .context("--userinfo-alg must be RS256, PS256, ES256 or none")?,
            );
        }
    }
    if let Some(text) = &input.id_token_claims {
        f.id_token_claims =
            IdTokenContents::parse(text).context("--id-token-claims must be standard or all")?;
    }
    for e in f.encryptions() {
        match (jwks, jwks_uri) {
            (Some(jwks), _) => {
                let keys = PublicKeys::from_jwks_json(jwks).context("the client's --jwks")?;
                if !keys.can_encrypt_with(e.alg.as_str()) {
                    refuse!(
                        "encryption with {} needs a {} key with use \"enc\" (or no use) in the client's --jwks",
                        e.alg.as_str(),
                        e.alg.key_type()
                    );
                }
            }
            (None, Some(_)) => {}
            (None, None) => refuse!(
                "encryption with {} needs the client's public keys: --jwks FILE or --jwks-uri URI",
                e.alg.as_str()
            ),
        }
    }
    Ok(f)
}

/// RFC 7591 `grant_types`: the OAuth grants this client may use at the token endpoint.
pub fn grant_types(c: &ClientRecord) -> Vec<&'static str> {
    let mut types = vec!["authorization_code"];
    if c.grants.iter().any(|g| g == REFRESH_TOKEN_GRANT) {
        types.push("refresh_token");
    }
    // As the token endpoint decides: the REST APIs for sandbox accounts, or when granted.
    if c.account == Account::Sandbox
        || c.grants
            .iter()
            .any(|g| g == passerelle_core::rest::API_SCOPE || g == passerelle_core::signing::GRANT)
    {
        types.push("client_credentials");
    }
    if c.ciba.is_some() {
        types.push(passerelle_itsme::claims::CIBA_GRANT);
    }
    types
}

pub fn check_redirect_uri(uri: &str, account: Account) -> Result<(), Refusal> {
    check_uri(uri, account).map_err(|message| Refusal {
        message,
        redirect_uri: true,
    })
}

fn check_uri(uri: &str, account: Account) -> Result<(), String> {
    let url =
        url::Url::parse(uri).map_err(|_| format!("redirect URI {uri:?} is not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "redirect URI {uri:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if account == Account::Sandbox || loopback => Ok(()),
        "http" => Err(format!(
            "redirect URI {uri:?}: production clients need https (http only for localhost)"
        )),
        other => Err(format!(
            "redirect URI {uri:?}: the scheme {other} is not supported; use https"
        )),
    }
}

/// A client's public keys, checked: a JWKS of at least one usable key and no private one.
/// Returns the JWKS as stored.
pub fn check_jwks(text: &str) -> Result<String, Refusal> {
    let keys = PublicKeys::from_jwks_json(text).context("not a JWKS")?;
    if keys.is_empty() {
        refuse!("the JWKS holds no usable key");
    }
    let value: Value = serde_json::from_str(text).context("not JSON")?;
    if value["keys"]
        .as_array()
        .is_some_and(|ks| ks.iter().any(|k| k.get("d").is_some()))
    {
        refuse!("the JWKS contains a private key; register only the public keys");
    }
    Ok(value.to_string())
}

/// Validates and merges `input` over `current` (or defaults for a new client). Returns the
/// client to store and its new secret, when one was made.
pub fn merge(
    id: String,
    current: Option<&ClientRecord>,
    input: &ClientInput,
) -> Result<(NewClient, Option<String>), Refusal> {
    let name = input
        .name
        .clone()
        .or_else(|| current.map(|c| c.name.clone()))
        .context("--name is required")?;
    if name.trim().is_empty() || name.len() > 100 {
        refuse!("--name must be 1 to 100 characters");
    }
    // People read it in the itsme app and operators in a terminal: no control characters.
    if name.chars().any(char::is_control) {
        refuse!("--name must not contain control characters");
    }
    let account = match &input.account {
        Some(text) => Account::parse(text).context("--account must be sandbox or production")?,
        None => current.map_or(Account::Sandbox, |c| c.account),
    };
    let redirect_uris = if input.redirect_uris.is_empty() {
        current.map(|c| c.redirect_uris.clone()).unwrap_or_default()
    } else {
        input.redirect_uris.clone()
    };
    let ciba = merge_ciba(current, input, account)?;
    // A client that only logs people in through the back channel, or a resource server that
    // only introspects tokens, needs no redirect URI.
    let has_grant = |g: &str| {
        input.grants.iter().any(|x| x == g)
            || (!input.clear_grants && current.is_some_and(|c| c.grants.iter().any(|x| x == g)))
    };
    if redirect_uris.is_empty() && ciba.is_none() && !has_grant(INTROSPECTION_GRANT) {
        refuse!(
            "at least one --redirect-uri is required (or --ciba-mode for a backchannel-only client, or --grant introspection for a resource server)"
        );
    }
    for u in &redirect_uris {
        check_redirect_uri(u, account)?;
    }
    let auth_method = match &input.auth_method {
        Some(text) => ClientAuthMethod::parse(text).context(format!(
            "--auth-method must be one of {}",
            ClientAuthMethod::ALL
                .map(ClientAuthMethod::as_str)
                .join(", ")
        ))?,
        None => current.map_or(ClientAuthMethod::ClientSecretBasic, |c| c.auth_method),
    };
    let mut jwks = current.and_then(|c| c.jwks.clone());
    let mut jwks_uri = current.and_then(|c| c.jwks_uri.clone());
    if let Some(text) = &input.jwks {
        jwks = Some(check_jwks(text).context("--jwks")?);
        jwks_uri = None;
    }
    if let Some(u) = &input.jwks_uri {
        let url = url::Url::parse(u).context(format!("--jwks-uri {u:?} is not a URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            refuse!("--jwks-uri must be an http(s) URL");
        }
        jwks_uri = Some(u.clone());
        jwks = None;
    }
    let mut secret = None;
    let secret_hash = if !auth_method.uses_secret() {
        if jwks.is_none() && jwks_uri.is_none() {
            refuse!("private_key_jwt needs --jwks FILE or --jwks-uri URI");
        }
        None
    } else {
        let keep = current
            .and_then(|c| c.secret_hash.clone())
            .filter(|_| !input.rotate_secret);
        match keep {
            Some(h) => Some(h),
            None => {
                let s = random_token(32);
                let h = token_hash(&s);
                secret = Some(s);
                Some(h)
            }
        }
    };
    let mut grants = if input.clear_grants {
        vec![]
    } else {
        current.map(|c| c.grants.clone()).unwrap_or_default()
    };
    for g in &input.grants {
        // `signicat-api` lets the client use the Authentication REST API (client-credentials);
        // `signing` the signing API, which Signicat too makes available on request.
        // `refresh_token` lets a login with offline_access give a refresh token;
        // `introspection` makes the client a resource server of the introspection endpoint.
        if g != passerelle_core::rest::API_SCOPE
            && g != passerelle_core::signing::GRANT
            && g != REFRESH_TOKEN_GRANT
            && g != INTROSPECTION_GRANT
            && !protected_scope_names().any(|p| p == g)
        {
            refuse!(
                "--grant {g:?} is not a protected scope; choose from {}, or signicat-api (the Authentication REST API), signing (the signing API), refresh_token (refresh tokens) or introspection (a resource server)",
                protected_scope_names().collect::<Vec<_>>().join(", ")
            );
        }
        if !grants.contains(g) {
            grants.push(g.clone());
        }
    }
    let id_token_alg = match &input.id_token_alg {
        Some(text) => {
            IdTokenAlg::parse(text).context("--id-token-alg must be RS256, PS256 or ES256")?
        }
        None => current.map_or(IdTokenAlg::Rs256, |c| c.id_token_alg),
    };
    if ciba.as_ref().is_some_and(|c| c.signed_requests) && auth_method.uses_secret() {
        refuse!(
            "--ciba-signed-requests needs the client's public keys: use --auth-method private_key_jwt with --jwks or --jwks-uri"
        );
    }
    let signing_webhook = match input.signing_webhook.as_deref() {
        None => current.and_then(|c| c.signing_webhook.clone()),
        Some("none") => None,
        Some(u) => {
            check_redirect_uri(u, account)
                .map_err(|e| Refusal::new(format!("--signing-webhook: {e}")))?;
            Some(u.to_string())
        }
    };
    let formats = merge_formats(
        current,
        &input.formats,
        jwks.as_deref(),
        jwks_uri.as_deref(),
    )?;
    let dpop_bound_access_tokens = input
        .dpop_bound_access_tokens
        .unwrap_or_else(|| current.is_some_and(|c| c.dpop_bound_access_tokens));
    let post_logout_redirect_uris = match input.post_logout_redirect_uris.as_slice() {
        [] => current.map_or_else(Vec::new, |c| c.post_logout_redirect_uris.clone()),
        [none] if none == "none" => Vec::new(),
        uris => {
            for u in uris {
                check_redirect_uri(u, account)
                    .map_err(|e| Refusal::new(format!("--post-logout-redirect-uri: {e}")))?;
            }
            uris.to_vec()
        }
    };
    let par = ParRegistration {
        require_pushed: input
            .require_pushed_authorization_requests
            .unwrap_or_else(|| current.is_some_and(|c| c.par.require_pushed)),
        require_signed: input
            .require_signed_request_object
            .unwrap_or_else(|| current.is_some_and(|c| c.par.require_signed)),
    };
    if par.require_signed && jwks.is_none() && jwks_uri.is_none() {
        refuse!(
            "--require-signed-request-object needs the client's public keys: add --jwks FILE or --jwks-uri URI"
        );
    }
    let profile = match input.profile.as_deref() {
        None => current.and_then(|c| c.profile),
        Some("none") => None,
        Some(text) => Some(Profile::parse(text).context("--profile must be fapi2 or none")?),
    };
    if profile == Some(Profile::Fapi2) {
        // FAPI 2.0 SP §5.3.3 and §5.4.1: refused rather than quietly changed, so the operator
        // sees what the profile demands.
        if auth_method != ClientAuthMethod::PrivateKeyJwt {
            refuse!(
                "--profile fapi2 needs --auth-method private_key_jwt (with --jwks or --jwks-uri)"
            );
        }
        if id_token_alg == IdTokenAlg::Rs256 {
            refuse!(
                "--profile fapi2 needs --id-token-alg ES256 or PS256 (FAPI 2.0 does not allow RS256)"
            );
        }
        if input.require_pushed_authorization_requests == Some(false)
            || input.dpop_bound_access_tokens == Some(false)
        {
            refuse!("a FAPI 2.0 client always uses PAR and DPoP: remove --profile first");
        }
    }
    let client = NewClient {
        ciba,
        signing_webhook,
        par,
        profile,
        dpop_bound_access_tokens,
        post_logout_redirect_uris,
        formats,
        id,
        name: name.trim().to_string(),
        secret_hash,
        redirect_uris,
        auth_method,
        jwks,
        jwks_uri,
        account,
        grants,
        id_token_alg,
    };
    Ok((client, secret))
}

/// The CIBA registration `input` asks for, over the current one.
fn merge_ciba(
    current: Option<&ClientRecord>,
    input: &ClientInput,
    account: Account,
) -> Result<Option<CibaRegistration>, Refusal> {
    let current = current.and_then(|c| c.ciba.clone());
    let mode = match input.ciba_mode.as_deref() {
        Some("none") => return Ok(None),
        Some(text) => {
            Some(CibaMode::parse(text).context("--ciba-mode must be poll, ping or none")?)
        }
        None => current.as_ref().map(|c| c.mode),
    };
    let Some(mode) = mode else {
        if input.ciba_notification_endpoint.is_some() || input.ciba_signed_requests.is_some() {
            refuse!("--ciba-notification-endpoint and --ciba-signed-requests need --ciba-mode");
        }
        return Ok(None);
    };
    let notification_endpoint = match (&input.ciba_notification_endpoint, mode) {
        (Some(uri), _) => Some(uri.clone()),
        (None, CibaMode::Ping) => current
            .as_ref()
            .and_then(|c| c.notification_endpoint.clone()),
        (None, CibaMode::Poll) => None,
    };
    match (&notification_endpoint, mode) {
        (None, CibaMode::Ping) => refuse!("ping mode needs --ciba-notification-endpoint URI"),
        (Some(_), CibaMode::Poll) => {
            refuse!(
                "--ciba-notification-endpoint is for ping mode; poll-mode clients are not notified"
            )
        }
        (Some(uri), CibaMode::Ping) => {
            // CIBA §4: an https URL; like redirect URIs, http only for localhost or a sandbox client.
            check_redirect_uri(uri, account)
                .map_err(|e| Refusal::new(format!("--ciba-notification-endpoint: {e}")))?;
        }
        (None, CibaMode::Poll) => {}
    }
    let signed_requests = input
        .ciba_signed_requests
        .unwrap_or_else(|| current.is_some_and(|c| c.signed_requests));
    Ok(Some(CibaRegistration {
        mode,
        notification_endpoint,
        signed_requests,
    }))
}

/// A fresh client id: 22 characters of base64url that start with a letter or digit, so that it
/// can be passed to a command line (`passerelle client update ID`) without looking like a flag.
pub fn new_client_id() -> String {
    loop {
        let id = random_token(16);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

#[cfg(test)]
mod ciba_tests {
    use super::*;

    fn input(mode: Option<&str>, endpoint: Option<&str>, signed: Option<bool>) -> ClientInput {
        ClientInput {
            name: Some("Till".into()),
            ciba_mode: mode.map(str::to_string),
            ciba_notification_endpoint: endpoint.map(str::to_string),
            ciba_signed_requests: signed,
            ..ClientInput::default()
        }
    }

    fn record(ciba: Option<CibaRegistration>) -> ClientRecord {
        let (c, _) = merge("id".into(), None, &input(Some("poll"), None, None)).expect("valid");
        ClientRecord {
            ciba,
            ..c.into_record(0, 0)
        }
    }

    #[test]
    fn a_resource_server_needs_no_redirect_uri() {
        let rs = ClientInput {
            name: Some("API".into()),
            grants: vec![INTROSPECTION_GRANT.into()],
            ..ClientInput::default()
        };
        let (c, _) = merge("id".into(), None, &rs).expect("a resource server");
        assert!(c.redirect_uris.is_empty());
        let plain = ClientInput {
            name: Some("API".into()),
            ..ClientInput::default()
        };
        let err = merge("id".into(), None, &plain).expect_err("no redirect URI");
        assert!(err.to_string().contains("--grant introspection"), "{err}");
    }

    #[test]
    fn a_backchannel_only_client_needs_no_redirect_uri_but_others_do() {
        let (c, secret) = merge("id".into(), None, &input(Some("poll"), None, None)).expect("ok");
        assert!(c.redirect_uris.is_empty() && secret.is_some());
        assert_eq!(c.ciba.expect("ciba").mode, CibaMode::Poll);
        assert!(merge("id".into(), None, &input(None, None, None)).is_err());
    }

    #[test]
    fn ping_needs_an_endpoint_and_poll_takes_none() {
        assert!(merge("id".into(), None, &input(Some("ping"), None, None)).is_err());
        assert!(
            merge(
                "id".into(),
                None,
                &input(Some("poll"), Some("https://rp.example/n"), None)
            )
            .is_err()
        );
        assert!(
            merge(
                "id".into(),
                None,
                &input(Some("ping"), Some("ftp://rp.example/n"), None)
            )
            .is_err()
        );
        assert!(
            merge(
                "id".into(),
                None,
                &input(Some("carrier-pigeon"), None, None)
            )
            .is_err()
        );
        let (c, _) = merge(
            "id".into(),
            None,
            &input(Some("ping"), Some("https://rp.example/n"), None),
        )
        .expect("ok");
        assert_eq!(
            c.ciba.expect("ciba").notification_endpoint.as_deref(),
            Some("https://rp.example/n")
        );
        // Options without a mode mean nothing: refused rather than ignored.
        assert!(merge("id".into(), None, &input(None, None, Some(true))).is_err());
    }

    #[test]
    fn updates_keep_or_withdraw_the_registration() {
        let current = record(Some(CibaRegistration {
            mode: CibaMode::Ping,
            notification_endpoint: Some("https://rp.example/n".into()),
            signed_requests: false,
        }));
        let mut keep = input(None, None, None);
        keep.redirect_uris = vec!["https://rp.example/cb".into()];
        let (c, _) = merge("id".into(), Some(&current), &keep).expect("ok");
        assert_eq!(c.ciba, current.ciba);
        let (c, _) = merge("id".into(), Some(&current), &{
            let mut none = input(Some("none"), None, None);
            none.redirect_uris = vec!["https://rp.example/cb".into()];
            none
        })
        .expect("ok");
        assert_eq!(c.ciba, None);
        // Signed requests need keys, not a secret.
        assert!(merge("id".into(), Some(&current), &input(None, None, Some(true))).is_err());
    }
}

#[cfg(test)]
mod id_tests {
    #[test]
    fn client_ids_never_start_like_a_flag() {
        for _ in 0..2000 {
            let id = super::new_client_id();
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
            assert_eq!(id.len(), 22);
        }
    }
}

#[cfg(test)]
mod par_tests {
    use super::*;

    fn input(pushed: Option<bool>, signed: Option<bool>) -> ClientInput {
        ClientInput {
            name: Some("Bank".into()),
            redirect_uris: vec!["https://bank.example/cb".into()],
            require_pushed_authorization_requests: pushed,
            require_signed_request_object: signed,
            ..ClientInput::default()
        }
    }

    #[test]
    fn signed_request_objects_need_registered_keys_and_updates_keep_the_requirements() {
        let err = merge("id".into(), None, &input(None, Some(true))).expect_err("no keys");
        assert!(err.to_string().contains("--jwks"), "{err}");
        let (c, _) = merge("id".into(), None, &input(Some(true), None)).expect("ok");
        assert!(c.par.require_pushed && !c.par.require_signed);
        let current = c.into_record(0, 0);
        let (kept, _) = merge("id".into(), Some(&current), &ClientInput::default()).expect("ok");
        assert!(kept.par.require_pushed);
        let json = describe(&current, None);
        assert_eq!(json["require_pushed_authorization_requests"], true);
        assert_eq!(json["require_signed_request_object"], false);
    }
}
