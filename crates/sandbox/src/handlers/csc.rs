//! itsme's signing service (CSC API v1, hash-signing variant; reference
//! `signing-and-channels.md` §1) as the sandbox emulates it, at `<base>/csc/v1`.
//!
//! Two authorizations ("dances") are itsme actions the person approves in the emulated app with
//! their code, through the same machinery as a login (`core::flow`, `apply`, the phone page, the
//! waiting page, the app):
//! - `scope=service` names the client's account with an `account_token` (an HS256 JWT keyed with
//!   the SHA-256 of the client secret); the browser gets the phone page (or "Open itsme" on a
//!   phone); its code buys a Bearer (an hour) and, the first time, the person's credential is made
//!   (itsme's CREATE_CERT: an RSA-2048 key and a certificate from the sandbox's qualified CA);
//! - `scope=credential` names the account again, its credential and the hashes to sign (at most
//!   70, with a description the app shows): it goes straight to the account's person, and its
//!   code buys a SAD bound to that credential and to exactly those hashes, spent by one
//!   `signatures/signHash`.
//!
//! `credentials/list` (exactly one credential), `credentials/info` (the chain) and
//! `signatures/signHash` (raw PKCS#1 v1.5 signatures, in the order of the hashes) take the Bearer;
//! `auth/revoke` ends it (204) with the SADs of its account. Errors have CSC's shape (RFC 6749
//! §5.2): 400 `invalid_request` with itsme's descriptions, 401 `invalid_client` and
//! `invalid_token`.
//!
//! An action of the signing service keeps the client's `state` in its details; its `state`
//! column holds `csc:<jti of the account_token>`, so that the unique index on `(client_id,
//! state)` makes each account_token one action (a reload of the phone page shows the same one,
//! anything later is refused).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use passerelle_core::csc::{self as rules, TokenKind};
use passerelle_store::{SigningCredential, SigningToken};

use super::*;
use crate::CscRegistration;
use crate::signing::SigningError;

/// How long a Bearer lives (itsme: `expires_in` 3600).
const BEARER_LIFETIME: i64 = 3600;
/// How long a SAD may wait for its `signHash`.
const SAD_LIFETIME: i64 = 300;
/// How far an account_token's `iat` may be from now.
const ACCOUNT_TOKEN_SKEW: i64 = 300;
/// The itsme app's languages, as `lang` names them.
const LANGUAGES: [&str; 4] = ["en", "fr", "nl", "de"];

fn csc(status: StatusCode, error: &'static str, description: impl Into<String>) -> Failure {
    Failure::Csc {
        status,
        error,
        description: description.into(),
    }
}

fn invalid(description: impl Into<String>) -> Failure {
    csc(StatusCode::BAD_REQUEST, "invalid_request", description)
}

impl From<SigningError> for Failure {
    fn from(e: SigningError) -> Failure {
        match e {
            SigningError::Store(s) => s.into(),
            other => Failure::Internal(other.to_string()),
        }
    }
}

/// The UI language of a `lang` (`EN`, `fr`, `nl-BE`…), if the app has it.
fn language(lang: &str) -> Option<&'static str> {
    let primary = lang.split(['-', '_']).next()?.to_ascii_lowercase();
    LANGUAGES.into_iter().find(|l| *l == primary)
}

/// A JSON answer nobody may cache.
fn answer(body: Value) -> Response {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        axum::Json(body),
    )
        .into_response()
}

/// A request's parameters: a JSON object (CSC's encoding), or a form (which the token
/// endpoint also takes). An empty body is an empty object.
fn fields(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Failure> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if is_form {
        let params = parse_pairs(body).map_err(|e| invalid(e.to_string()))?;
        return Ok(params
            .pairs()
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("the body must be a JSON object")),
    }
}

/// A string member, or the CSC error for a missing or mistyped one.
fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    match fields.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(invalid(format!(
            "Missing (or invalid type) string parameter {name}"
        ))),
    }
}

fn optional_string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("Invalid type of parameter {name}"))),
    }
}

/// CSC refuses `clientData` everywhere (§1.1), and a `lang` the app does not speak.
fn check_common(fields: &Map<String, Value>) -> Result<(), Failure> {
    if fields.contains_key("clientData") {
        return Err(invalid("clientData is not supported"));
    }
    if let Some(lang) = optional_string(fields, "lang")?
        && language(lang).is_none()
    {
        return Err(invalid("INVALID_LANG: lang must be EN, FR, NL or DE"));
    }
    Ok(())
}

impl Sandbox {
    /// The base the signing service and the trust services hang below: the issuer without its
    /// `/v2` (itsme's signing service is a sibling of its OIDC provider).
    fn signing_base(&self) -> &str {
        self.issuer.strip_suffix("/v2").unwrap_or(&self.issuer)
    }

    /// A client registered with the signing service.
    fn csc_client(&self, id: &str) -> Option<(&SandboxClient, &CscRegistration)> {
        let client = self.client(id)?;
        Some((client, client.csc.as_ref()?))
    }
}

// ------------------------------------------------------------------------------------------------
// info
// ------------------------------------------------------------------------------------------------

/// `POST /csc/v1/info`: the service's description (itsme's, with the sandbox's name).
pub(super) async fn info(State(sb): Shared, headers: HeaderMap, body: Bytes) -> Reply {
    let fields = fields(&headers, &body)?;
    check_common(&fields)?;
    let lang = optional_string(&fields, "lang")?
        .and_then(language)
        .unwrap_or("en");
    let base = sb.signing_base();
    Ok(answer(json!({
        "specs": "1.0.3.0",
        "name": "itsme® sandbox (Passerelle, TEST ONLY)",
        "logo": LOGO,
        "region": "BE",
        "lang": lang.to_ascii_uppercase(),
        "description": "The Passerelle sandbox of itsme's signing service: qualified electronic signatures over the CSC API, with made-up people and certificates for testing only.",
        "authType": ["oauth2code"],
        "oauth2": format!("{base}/csc/v1/oauth2/authorize"),
        "methods": [
            "info",
            "oauth2/authorize",
            "oauth2/token",
            "credentials/list",
            "credentials/info",
            "signatures/signHash",
            "auth/revoke",
        ],
    })))
}

/// The service's logo: a small SVG, inline (the sandbox serves no images).
const LOGO: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCA2NCA2NCI+PHJlY3Qgd2lkdGg9IjY0IiBoZWlnaHQ9IjY0IiByeD0iMTIiIGZpbGw9IiNmZjQ2MTIiLz48dGV4dCB4PSIzMiIgeT0iNDAiIGZvbnQtc2l6ZT0iMjAiIHRleHQtYW5jaG9yPSJtaWRkbGUiIGZpbGw9IiNmZmYiPlRFU1Q8L3RleHQ+PC9zdmc+";

// ------------------------------------------------------------------------------------------------
// oauth2/authorize
// ------------------------------------------------------------------------------------------------

/// What a verified account_token says.
#[derive(Debug)]
struct AccountToken {
    /// The client's account (`sub`, chosen by the client).
    account_id: String,
    jti: String,
    /// The signature creation application's name (`iss`), shown in the app when given.
    sca_name: Option<String>,
}

/// A JWT's part as JSON.
fn jwt_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Text a person or a log may see: printable, bounded.
fn is_plain(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// Verifies an account_token (HS256: header `{"typ":"JWT","alg":"HS256"}`, claims `sub`, `iat`,
/// `jti`, `iss?`, `azp`). itsme's note says its key is "the SHA256 hash of the OAuth 2.0
/// client_secret", without saying whether raw bytes or hex (§1.2, open point 1): both are
/// accepted, and so is the plain secret of its formula.
fn verify_account_token(
    client: &SandboxClient,
    registration: &CscRegistration,
    token: &str,
    now: i64,
) -> Result<AccountToken, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [head, payload, signature] = parts.as_slice() else {
        return Err("account_token must be a JWT (three parts)".into());
    };
    let header = jwt_part(head).ok_or("account_token's header is not base64url JSON")?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err("account_token must be signed with HS256".into());
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature.trim_end_matches('='))
        .map_err(|_| "account_token's signature is not base64url".to_string())?;
    let digest = {
        use sha2::Digest as _;
        Sha256::digest(registration.client_secret.as_bytes())
    };
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let signed = format!("{head}.{payload}");
    let verifies = [
        digest.as_slice(),
        hex.as_bytes(),
        registration.client_secret.as_bytes(),
    ]
    .into_iter()
    .any(|key| {
        Hmac::<Sha256>::new_from_slice(key).is_ok_and(|mut mac| {
            mac.update(signed.as_bytes());
            // Constant time.
            mac.verify_slice(&signature).is_ok()
        })
    });
    if !verifies {
        return Err(
            "account_token's signature does not verify with the SHA-256 of the client secret"
                .into(),
        );
    }
    let claims = jwt_part(payload).ok_or("account_token's payload is not base64url JSON")?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("azp") != Some(client.client_id.as_str()) {
        return Err("account_token's azp must be the client_id".into());
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or("account_token needs iat (seconds)")?;
    if now.abs_diff(iat) >= ACCOUNT_TOKEN_SKEW.unsigned_abs() {
        return Err("account_token's iat must be within 5 minutes of now".into());
    }
    let jti = text("jti")
        .filter(|j| is_plain(j, 255))
        .ok_or("account_token needs a jti of at most 255 characters")?;
    let account_id = text("sub")
        .filter(|s| is_plain(s, 255))
        .ok_or("account_token needs a sub (the account) of at most 255 characters")?;
    let sca_name = match claims.get("iss") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if is_plain(s, 100) => Some(s.clone()),
        Some(_) => {
            return Err("account_token's iss must be a name of at most 100 characters".into());
        }
    };
    if let Some(allowed) = &registration.account_ids
        && !allowed.iter().any(|a| a == account_id)
    {
        return Err(
            "INVALID_REQUESTOR: this account is not registered for the client (restricted server)"
                .into(),
        );
    }
    Ok(AccountToken {
        account_id: account_id.to_string(),
        jti: jti.to_string(),
        sca_name,
    })
}

fn hex_of(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hashes a credential authorization approved (kept as hex in its details).
fn approved_hashes(action: &SandboxAction) -> Option<Vec<[u8; 32]>> {
    let details: Value = serde_json::from_str(&action.claims).ok()?;
    details
        .get("hashes")?
        .as_array()?
        .iter()
        .map(|h| {
            let h = h.as_str()?;
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
            }
            (h.len() == 64).then_some(out)
        })
        .collect()
}

/// `GET /csc/v1/oauth2/authorize`: one of the two authorizations. Until the client and its
/// redirect URI are trusted, a problem is a page; after, an error redirect (RFC 6749 §4.1.2.1).
pub(super) async fn authorize(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let default_tr = translator(None, &headers);
    sb.limits
        .sandbox_authorization_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, Some(&default_tr)))?;
    let params = parse_pairs(query.unwrap_or_default().as_bytes()).map_err(|e| {
        Failure::page(
            &default_tr,
            default_tr.t_with(e.key(), &[("name", e.name())]),
        )
    })?;
    let ui_locales = params.get("lang").and_then(language);
    let tr = translator(ui_locales, &headers);
    let client_id = params
        .get("client_id")
        .ok_or_else(|| Failure::page(&tr, tr.t("error-missing-client-id")))?;
    if sb.client(client_id).is_none() {
        return Err(Failure::page(&tr, tr.t("sandbox-error-unknown-client")));
    }
    let (client, registration) = sb
        .csc_client(client_id)
        .ok_or_else(|| Failure::page(&tr, tr.t("csc-error-not-registered")))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| Failure::page(&tr, tr.t("error-missing-redirect-uri")))?;
    if !registration.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(Failure::page(&tr, tr.t("error-unregistered-redirect-uri")));
    }
    let state = params.get("state").map(str::to_string);
    let fail = |error: &str, description: &str| {
        Ok(error_redirect(
            redirect_uri,
            state.as_deref(),
            error,
            description,
        ))
    };
    if params.get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if params.get("clientData").is_some() {
        return fail("invalid_request", "clientData is not supported");
    }
    if params.get("lang").is_some() && ui_locales.is_none() {
        return fail(
            "invalid_request",
            "INVALID_LANG: lang must be EN, FR, NL or DE",
        );
    }
    if state.as_ref().is_some_and(|s| s.len() > 1024) {
        return fail("invalid_request", "state is longer than 1024 characters");
    }
    let dance = match params.get("scope") {
        Some("service") => Dance::Service,
        Some("credential") => Dance::Credential,
        _ => return fail("invalid_scope", "scope must be service or credential"),
    };
    let now = sb.clock.now();
    let Some(token) = params.get("account_token") else {
        return fail("invalid_request", "Missing parameter account_token");
    };
    let account = match verify_account_token(client, registration, token, now) {
        Ok(a) => a,
        Err(description) => {
            tracing::info!(sandbox.client = %client.client_id, "sandbox signing authorization with a bad account_token");
            return fail("invalid_request", &description);
        }
    };
    let mode = Mode::for_request(&headers, None);
    let mut details = json!({
        "requester": account.sca_name.clone().unwrap_or_else(|| client.name.clone()),
        // Signing demands the itsme code.
        "acr": Acr::Advanced.as_str(),
        "mode": mode.as_str(),
        "state": state,
        "account_id": account.account_id,
    });
    // A credential authorization goes to the account's person, with their credential.
    let mut person = None;
    if dance == Dance::Credential {
        let Some(credential_id) = params.get("credentialID") else {
            return fail("invalid_request", "Missing parameter credentialID");
        };
        let texts: Vec<&str> = params
            .get("hash")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        if let Err(problem) = rules::check_batch(texts.len()) {
            return fail("invalid_request", &problem.to_string());
        }
        let Some(hashes) = texts
            .iter()
            .map(|h| rules::decode_hash(h))
            .collect::<Option<Vec<_>>>()
        else {
            return fail("invalid_request", "Invalid Base64 hash string parameter");
        };
        if params
            .get("numSignatures")
            .and_then(|n| n.parse::<usize>().ok())
            != Some(hashes.len())
        {
            return fail(
                "invalid_request",
                "numSignatures must be the number of hashes",
            );
        }
        let description = params.get("description").unwrap_or_default();
        if let Err(problem) = rules::check_description(description) {
            return fail("invalid_request", &problem.to_string());
        }
        let Some(phone) = sb
            .store
            .find_signing_account(&client.client_id, &account.account_id)
            .await?
        else {
            return fail(
                "invalid_request",
                "this account has no itsme signing account yet: authorize the service first (scope=service)",
            );
        };
        let owned = sb
            .store
            .find_signing_credential_by_id(credential_id)
            .await?
            .is_some_and(|c| c.phone_number == phone && c.not_after > now);
        if !owned {
            return fail("invalid_request", "Invalid parameter credentialID");
        }
        let Some(persona) = sb.personas.find(&phone) else {
            return fail(
                "invalid_request",
                "this account's person is no longer in the sandbox",
            );
        };
        details["credential_id"] = json!(credential_id);
        details["hashes"] = json!(hashes.iter().map(hex_of).collect::<Vec<_>>());
        details["description"] = json!(description);
        person = Some(persona);
    }
    let action = SandboxAction {
        id: random_token(18),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        state: Some(format!("csc:{}", account.jti)),
        nonce: None,
        service: dance.as_str().into(),
        claims: details.to_string(),
        code_challenge: None,
        ui_locales: ui_locales.map(str::to_string),
        login_hint: None,
        phone_number: None,
        status: ActionState::AwaitingPhone,
        deadline: None,
        code_hash: None,
        approved_with: None,
        created_at: now,
        expires_at: now + ACTION_LIFETIME,
        poll_interval: None,
    };
    match sb.store.insert_sandbox_action(&action, now).await? {
        NewAction::Inserted => {}
        NewAction::Exists(existing)
            if existing.status == ActionState::AwaitingPhone && person.is_none() =>
        {
            return landing(&sb, &tr, &existing, String::new());
        }
        NewAction::Exists(_) | NewAction::Expired => {
            tracing::info!("a sandbox signing authorization was presented again");
            return Err(Failure::page(&tr, tr.t("sandbox-error-request-used")));
        }
    }
    tracing::info!(sandbox.action = %&action.id[..8], sandbox.client = %action.client_id, sandbox.service = %action.service, "sandbox signing authorization started");
    let Some(persona) = person else {
        return landing(&sb, &tr, &action, String::new());
    };
    // As a decoupled request: the person is known, scripted personas decide at once and the
    // others find the request in their app; the browser waits.
    let event = persona_event(&sb, persona).await?;
    let id = action.id.clone();
    let _ = apply(&sb, action, event, Some(persona.phone_number.clone())).await?;
    Ok(Redirect::to(&sb.path(&format!("/actions/{id}/wait"))).into_response())
}

// ------------------------------------------------------------------------------------------------
// oauth2/token
// ------------------------------------------------------------------------------------------------

/// Authenticates a client of the signing service: `client_secret` in the body, or HTTP Basic
/// (RFC 6749 §2.3.1, both parts form-encoded).
fn authenticate<'a>(
    sb: &'a Sandbox,
    headers: &HeaderMap,
    fields: &Map<String, Value>,
) -> Result<&'a SandboxClient, Failure> {
    let unauthorized = |d: &str| csc(StatusCode::UNAUTHORIZED, "invalid_client", d);
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        });
    // Each presented (client id, secret) reading: RFC 6749 §2.3.1 form-encodes both parts
    // before base64, many clients do not; a Basic header is read both ways.
    let candidates: Vec<(String, String)> = match basic {
        Some(encoded) => {
            let decoded = STANDARD
                .decode(encoded)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| unauthorized("the Basic credentials are not base64"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| unauthorized("the Basic credentials lack a colon"))?;
            let form = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            vec![
                (id.to_string(), secret.to_string()),
                (form(id), form(secret)),
            ]
        }
        None => vec![(
            string(fields, "client_id")
                .map_err(|_| unauthorized("client_id is missing"))?
                .to_string(),
            string(fields, "client_secret")
                .map_err(|_| unauthorized("client_secret is missing"))?
                .to_string(),
        )],
    };
    let body_id = optional_string(fields, "client_id")?;
    let mut known = None;
    for (id, secret) in &candidates {
        if body_id.is_some_and(|c| c != id) {
            continue;
        }
        let Some(client) = sb.client(id) else {
            continue;
        };
        let Some(registration) = &client.csc else {
            return Err(invalid_for_client());
        };
        known = Some(client);
        use sha2::Digest as _;
        let expected = Sha256::digest(registration.client_secret.as_bytes());
        let presented = Sha256::digest(secret.as_bytes());
        if bool::from(expected.ct_eq(&presented)) {
            return Ok(client);
        }
    }
    Err(unauthorized(if known.is_some() {
        "the client secret is wrong"
    } else {
        "unknown client, or client_id differs from the Basic credentials"
    }))
}

fn invalid_for_client() -> Failure {
    csc(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "this client is not registered for the signing service",
    )
}

/// `POST /csc/v1/oauth2/token`: a code of either authorization for its token, a Bearer or a
/// SAD (JSON or form; `redirect_uri`, or `redirect_url` as itsme's table spells it).
pub(super) async fn token(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let fields = fields(&headers, &body)?;
    let client = authenticate(&sb, &headers, &fields)?;
    sb.limits
        .sandbox_token_per_client
        .check(&client.client_id)
        .map_err(|t| Failure::throttled(t, None))?;
    check_common(&fields)?;
    if optional_string(&fields, "grant_type")? != Some("authorization_code") {
        return Err(csc(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code",
        ));
    }
    let code = string(&fields, "code")?;
    let redirect_uri = match optional_string(&fields, "redirect_uri")? {
        Some(r) => r,
        None => string(&fields, "redirect_url")
            .map_err(|_| invalid("Missing (or invalid type) string parameter redirect_uri"))?,
    };
    let grant = |d: &str| csc(StatusCode::BAD_REQUEST, "invalid_grant", d);
    let action = sb
        .store
        .redeem_signing_code(&token_hash(code), now)
        .await?
        .ok_or_else(|| grant("the code is unknown, expired or already used"))?;
    if action.client_id != client.client_id {
        return Err(grant("the code was issued to another client"));
    }
    if action.redirect_uri != redirect_uri {
        return Err(grant("redirect_uri differs from the authorization request"));
    }
    let (Some(phone), Some(account_id), Some(dance)) = (
        action.phone_number.clone(),
        detail(&action, "account_id"),
        Dance::parse(&action.service),
    ) else {
        return Err(Failure::Internal(
            "a redeemed signing action lacks its person or account".into(),
        ));
    };
    let persona = sb
        .personas
        .find(&phone)
        .ok_or_else(|| grant("the person who approved is no longer in the sandbox"))?;
    let token = random_token(32);
    let mut record = SigningToken {
        token_hash: token_hash(&token),
        kind: TokenKind::Bearer,
        client_id: client.client_id.clone(),
        account_id,
        phone_number: phone,
        credential_id: None,
        hashes: Vec::new(),
        created_at: now,
        expires_at: now + BEARER_LIFETIME,
    };
    match dance {
        Dance::Service => {
            sb.store
                .link_signing_account(
                    &client.client_id,
                    &record.account_id,
                    &record.phone_number,
                    now,
                )
                .await?;
            // The person approved CREATE_CERT if they had no certificate: it is made now.
            sb.signing_credential(persona).await?;
        }
        Dance::Credential => {
            record.kind = TokenKind::Sad;
            record.credential_id = detail(&action, "credential_id");
            record.hashes = approved_hashes(&action).ok_or_else(|| {
                Failure::Internal("a credential authorization lost its hashes".into())
            })?;
            record.expires_at = now + SAD_LIFETIME;
        }
    }
    sb.store.insert_signing_token(&record).await?;
    tracing::info!(sandbox.client = %client.client_id, sandbox.token = record.kind.as_str(), "sandbox signing token issued");
    Ok(answer(json!({
        "access_token": token,
        "refresh_token": null,
        "token_type": record.kind.token_type(),
        "expires_in": record.expires_at - now,
    })))
}

// ------------------------------------------------------------------------------------------------
// The Bearer's endpoints
// ------------------------------------------------------------------------------------------------

/// The live Bearer of the request's `Authorization` header, of a client still registered.
async fn bearer(sb: &Sandbox, headers: &HeaderMap, now: i64) -> Result<SigningToken, Failure> {
    let bad = |d: &str| csc(StatusCode::UNAUTHORIZED, "invalid_token", d);
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
                .filter(|t| !t.is_empty())
        })
        .ok_or_else(|| bad("send the service authorization's token as Authorization: Bearer"))?;
    let record = sb
        .store
        .find_signing_token(&token_hash(value), TokenKind::Bearer, now)
        .await?
        .ok_or_else(|| bad("the access token is unknown, expired or revoked"))?;
    if sb.csc_client(&record.client_id).is_none() {
        return Err(bad("the access token's client is no longer registered"));
    }
    Ok(record)
}

/// The Bearer's person's credential named by `credentialID`.
async fn own_credential(
    sb: &Sandbox,
    bearer: &SigningToken,
    fields: &Map<String, Value>,
) -> Result<SigningCredential, Failure> {
    let id = string(fields, "credentialID")?;
    sb.store
        .find_signing_credential_by_id(id)
        .await?
        .filter(|c| c.phone_number == bearer.phone_number)
        .ok_or_else(|| invalid("Invalid parameter credentialID"))
}

/// `POST /csc/v1/credentials/list`: the person's one credential.
pub(super) async fn credentials_list(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let bearer = bearer(&sb, &headers, now).await?;
    let fields = fields(&headers, &body)?;
    check_common(&fields)?;
    match fields.get("maxResults") {
        None | Some(Value::Null) => {}
        Some(v) if v.as_u64().is_some_and(|n| (1..=300).contains(&n)) => {}
        Some(_) => return Err(invalid("Invalid parameter maxResults")),
    }
    let persona = sb
        .personas
        .find(&bearer.phone_number)
        .ok_or_else(|| invalid("the person is no longer in the sandbox"))?;
    // Made at the service authorization; made again here if it has expired since.
    let credential = sb.signing_credential(persona).await?;
    Ok(answer(json!({ "credentialIDs": [credential.id] })))
}

/// CSC's time format (`YYYYMMDDHHMMSSZ`, GeneralizedTime).
fn csc_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year][month][day][hour][minute][second]Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// `POST /csc/v1/credentials/info`: the credential's key and certificate (`certificates`:
/// `none`, `single` — the default — or `chain`, signer first, then the issuing CA and the
/// root), and with `certInfo` its names, serial number and validity.
pub(super) async fn credentials_info(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let bearer = bearer(&sb, &headers, now).await?;
    let fields = fields(&headers, &body)?;
    check_common(&fields)?;
    let credential = own_credential(&sb, &bearer, &fields).await?;
    let wanted = optional_string(&fields, "certificates")?.unwrap_or("single");
    let cert_info = match fields.get("certInfo") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("Invalid type of parameter certInfo")),
    };
    let authorities = sb.authorities().await?;
    let certificates: Vec<&[u8]> = match wanted {
        "none" => vec![],
        "single" => vec![&credential.cert_der],
        "chain" => vec![
            &credential.cert_der,
            &authorities.issuing_der,
            &authorities.root_der,
        ],
        _ => return Err(invalid("Invalid parameter certificates")),
    };
    let status = if credential.not_after > now {
        "valid"
    } else {
        "expired"
    };
    let mut cert = json!({
        "status": status,
        "certificates": certificates.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>(),
    });
    if cert_info {
        use der::Decode as _;
        let parsed = x509_cert::Certificate::from_der(&credential.cert_der)
            .map_err(|e| Failure::Internal(format!("a stored certificate: {e}")))?;
        let tbs = parsed.tbs_certificate();
        let serial: String = tbs
            .serial_number()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let unix = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        cert["issuerDN"] = json!(tbs.issuer().to_string());
        cert["subjectDN"] = json!(tbs.subject().to_string());
        cert["serialNumber"] = json!(serial);
        cert["validFrom"] = json!(csc_time(unix(tbs.validity().not_before)));
        cert["validTo"] = json!(csc_time(unix(tbs.validity().not_after)));
    }
    Ok(answer(json!({
        "description": null,
        "key": {
            "status": "enabled",
            "algo": [rules::SIGN_ALGO_SHA256_WITH_RSA],
            "len": 2048,
        },
        "cert": cert,
        "authMode": "oauth2code",
        "SCAL": "2",
        "PIN": { "presence": "false" },
        "OTP": { "presence": "false" },
        "multiSign": true,
    })))
}

/// `POST /csc/v1/signatures/signHash` (also `signhash`, as itsme's example spells it): raw
/// PKCS#1 v1.5 signatures of exactly the hashes the SAD authorizes, with the credential it
/// names, in the order asked; the SAD is spent.
pub(super) async fn sign_hash(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let bearer = bearer(&sb, &headers, now).await?;
    let fields = fields(&headers, &body)?;
    check_common(&fields)?;
    let credential = own_credential(&sb, &bearer, &fields).await?;
    let sad = string(&fields, "SAD")?;
    let Some(Value::Array(texts)) = fields.get("hash") else {
        return Err(invalid("Missing (or invalid type) array parameter hash"));
    };
    if texts.len() > rules::MAX_HASHES {
        return Err(invalid(rules::RequestProblem::BatchTooLarge.to_string()));
    }
    let hashes = texts
        .iter()
        .map(|t| t.as_str().and_then(rules::decode_hash))
        .collect::<Option<Vec<_>>>()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("Invalid Base64 hash string parameter"))?;
    match (
        optional_string(&fields, "signAlgo")?,
        optional_string(&fields, "hashAlgo")?,
    ) {
        (Some(rules::SIGN_ALGO_SHA256_WITH_RSA), None | Some(rules::HASH_ALGO_SHA256)) => {}
        (Some(rules::SIGN_ALGO_RSA), Some(rules::HASH_ALGO_SHA256)) => {}
        (None, _) => {
            return Err(invalid(
                "Missing (or invalid type) string parameter signAlgo",
            ));
        }
        _ => return Err(invalid("Invalid parameter signAlgo")),
    }
    let sad_hash = token_hash(sad);
    let authorization = sb
        .store
        .find_signing_token(&sad_hash, TokenKind::Sad, now)
        .await?
        .filter(|t| {
            t.client_id == bearer.client_id
                && t.account_id == bearer.account_id
                && t.phone_number == bearer.phone_number
        })
        .ok_or_else(|| invalid("Invalid parameter SAD"))?;
    if authorization.credential_id.as_deref() != Some(credential.id.as_str()) {
        return Err(invalid("Invalid parameter SAD"));
    }
    if !rules::same_hashes(&authorization.hashes, &hashes) {
        return Err(invalid("Hash is not authorized by the SAD"));
    }
    if !sb.store.spend_signing_sad(&sad_hash, now).await? {
        return Err(invalid("Invalid parameter SAD"));
    }
    let key = credential.key_pkcs8.clone();
    let signatures = tokio::task::spawn_blocking(move || {
        hashes
            .iter()
            .map(|h| passerelle_sign::keys::sign_sha256_prehash(&key, h))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| Failure::Internal(format!("signing stopped: {e}")))?
    .map_err(|e| Failure::Internal(format!("signing: {e}")))?;
    tracing::info!(sandbox.client = %bearer.client_id, sandbox.signatures = signatures.len(), "sandbox signHash answered");
    Ok(answer(json!({
        "signatures": signatures.iter().map(|s| STANDARD.encode(s)).collect::<Vec<_>>(),
    })))
}

/// `POST /csc/v1/auth/revoke`: ends the Bearer (or the token the body names: the Bearer, another
/// of the client's Bearers, or one of its SADs) and the SADs of its account; 204.
pub(super) async fn revoke(
    State(sb): Shared,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let now = sb.clock.now();
    sb.limits
        .sandbox_token_per_ip
        .check_ip(ip.as_deref())
        .map_err(|t| Failure::throttled(t, None))?;
    let bearer = bearer(&sb, &headers, now).await?;
    let fields = fields(&headers, &body)?;
    check_common(&fields)?;
    match optional_string(&fields, "token_type_hint")? {
        None | Some("access_token" | "refresh_token" | "SAD") => {}
        Some(_) => return Err(invalid("Invalid parameter token_type_hint")),
    }
    let named = optional_string(&fields, "token")?.map(token_hash);
    match named {
        None => {
            sb.store.revoke_signing_bearer(&bearer).await?;
        }
        Some(h) if h == bearer.token_hash => {
            sb.store.revoke_signing_bearer(&bearer).await?;
        }
        Some(h) => {
            // Another token of this client: a Bearer (with its SADs), or a SAD. Anything else is
            // not this client's, and nothing happens (RFC 7009 §2.2).
            match sb
                .store
                .find_signing_token(&h, TokenKind::Bearer, now)
                .await?
            {
                Some(other) if other.client_id == bearer.client_id => {
                    sb.store.revoke_signing_bearer(&other).await?;
                }
                _ => {
                    sb.store.revoke_signing_sad(&h, &bearer.client_id).await?;
                }
            }
        }
    }
    tracing::info!(sandbox.client = %bearer.client_id, "sandbox signing token revoked");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "no-store")],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_read_from_lang_tags() {
        assert_eq!(language("EN"), Some("en"));
        assert_eq!(language("nl-BE"), Some("nl"));
        assert_eq!(language("fr_BE"), Some("fr"));
        assert_eq!(language("es"), None);
        assert_eq!(language(""), None);
    }

    #[test]
    fn csc_times_are_generalized_time() {
        assert_eq!(csc_time(1_795_000_000), "20261118110640Z");
    }
}
