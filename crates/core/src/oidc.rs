//! OAuth 2.0 / OpenID Connect wire rules: error codes and the validation of an authorization
//! request. Parse, then trust: a [`ValidatedAuthorizationRequest`] and its [`RedirectUri`] can only
//! come out of [`validate_authorization_request`].

use crate::scopes::{Account, GrantedScopes, ScopeError};

/// Error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1, OIDC Core §3.1.2.6 and the RFCs
/// named at each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    InvalidClient,
    InvalidGrant,
    UnsupportedGrantType,
    InvalidToken,
    LoginRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    /// RFC 9101 §6.3, OIDC Core §3.1.2.6: the request object is invalid.
    InvalidRequestObject,
    /// RFC 9101 §6.3, OIDC Core §3.1.2.6: the `request_uri` is unknown, expired, used or foreign.
    InvalidRequestUri,
    /// CIBA Core §11: the decoupled login ran out of time.
    ExpiredToken,
    /// CIBA Core §11: the person has not answered yet; poll again after the interval.
    AuthorizationPending,
    /// CIBA Core §11: polled faster than the interval; the interval grows by 5 s.
    SlowDown,
    /// CIBA Core §13: the hint names nobody the scheme knows.
    UnknownUserId,
    /// CIBA Core §13: the binding message is too long or holds characters the app cannot show.
    InvalidBindingMessage,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing a part, does not verify, or does not fit the
    /// request.
    InvalidDpopProof,
    /// RFC 9449 §8: send the proof again with the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// RFC 7591 §3.2.2: a redirect URI that cannot be registered.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: another metadata value that cannot be registered.
    InvalidClientMetadata,
    /// RFC 7591 §3.2.2: a software statement, which Passerelle does not take.
    UnapprovedSoftwareStatement,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::UnknownUserId => "unknown_user_id",
            ErrorCode::InvalidBindingMessage => "invalid_binding_message",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::UnapprovedSoftwareStatement => "unapproved_software_statement",
        }
    }

    /// Parses an error code received from the scheme. itsme spells RFC 6749's
    /// `temporarily_unavailable` as `temporary_unavailable`; both are accepted.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        Some(match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "unauthorized_client" => ErrorCode::UnauthorizedClient,
            "access_denied" => ErrorCode::AccessDenied,
            "unsupported_response_type" => ErrorCode::UnsupportedResponseType,
            "invalid_scope" => ErrorCode::InvalidScope,
            "server_error" => ErrorCode::ServerError,
            "temporarily_unavailable" | "temporary_unavailable" => {
                ErrorCode::TemporarilyUnavailable
            }
            "login_required" => ErrorCode::LoginRequired,
            _ => return None,
        })
    }
}

/// An OAuth error with a description a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }
}

/// Why request parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// A parameter appears more than once (RFC 6749 §3.1).
    Repeated(String),
    /// A name or value holds a NUL character, which no parameter of ours carries and the
    /// database cannot store.
    Nul(String),
}

impl ParamError {
    /// The parameter's name, cut to 40 characters and without NULs, for a message.
    pub fn name(&self) -> String {
        let (ParamError::Repeated(n) | ParamError::Nul(n)) = self;
        n.chars().filter(|c| *c != '\0').take(40).collect()
    }

    /// The translation key of the page that explains it (`error-repeated-parameter`,
    /// `error-nul-parameter`).
    pub fn key(&self) -> &'static str {
        match self {
            ParamError::Repeated(_) => "error-repeated-parameter",
            ParamError::Nul(_) => "error-nul-parameter",
        }
    }
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::Repeated(_) => {
                write!(f, "the parameter {} appears more than once", self.name())
            }
            ParamError::Nul(_) => {
                write!(f, "the parameter {} contains a NUL character", self.name())
            }
        }
    }
}

/// Request parameters as received, each name at most once (RFC 6749 §3.1: "Request and
/// response parameters MUST NOT be included more than once").
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Builds from decoded pairs; empty values count as absent (RFC 6749 §3.1). Fails on the
    /// first repeated parameter, or the first one holding a NUL character.
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Params, ParamError> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in pairs {
            if k.contains('\0') || v.contains('\0') {
                return Err(ParamError::Nul(k));
            }
            if v.is_empty() {
                continue;
            }
            if !seen.insert(k.clone()) {
                return Err(ParamError::Repeated(k));
            }
            out.push((k, v));
        }
        Ok(Params { pairs: out })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The same parameters with `name` set to `value`, in place of any value it had.
    pub fn with(&self, name: &str, value: &str) -> Result<Params, ParamError> {
        let mut pairs = self.without(&[name]).pairs;
        pairs.push((name.to_string(), value.to_string()));
        Params::from_pairs(pairs)
    }

    /// The same parameters but those named.
    pub fn without(&self, names: &[&str]) -> Params {
        Params {
            pairs: self
                .pairs
                .iter()
                .filter(|(k, _)| !names.contains(&k.as_str()))
                .cloned()
                .collect(),
        }
    }
}

/// A redirect URI that exactly matches one the client registered (OIDC Core §3.1.2.1; RFC 9700
/// §4.1.3: exact string comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// The only way to get one: exact, case-sensitive match against the registered list.
    pub fn match_registered(requested: &str, registered: &[String]) -> Option<RedirectUri> {
        registered
            .iter()
            .find(|r| r.as_str() == requested)
            .map(|r| RedirectUri(r.clone()))
    }

    /// Restores a redirect URI that was matched before it was stored.
    pub fn from_stored(uri: String) -> RedirectUri {
        RedirectUri(uri)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the authorization response reaches the client (OAuth 2.0 Multiple Response Types §2.1,
/// Form Post Response Mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }

    pub fn parse(s: &str) -> Option<ResponseMode> {
        match s {
            "query" => Some(ResponseMode::Query),
            "form_post" => Some(ResponseMode::FormPost),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub const ALL: [ClientAuthMethod; 3] = [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    pub fn parse(s: &str) -> Option<ClientAuthMethod> {
        ClientAuthMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the client proves itself with a shared secret (as opposed to a signed assertion).
    pub fn uses_secret(self) -> bool {
        !matches!(self, ClientAuthMethod::PrivateKeyJwt)
    }
}

/// The algorithm a client's ID tokens are signed with (`id_token_signed_response_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdTokenAlg {
    Rs256,
    Ps256,
    Es256,
}

impl IdTokenAlg {
    pub const ALL: [IdTokenAlg; 3] = [IdTokenAlg::Rs256, IdTokenAlg::Ps256, IdTokenAlg::Es256];

    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::Rs256 => "RS256",
            IdTokenAlg::Ps256 => "PS256",
            IdTokenAlg::Es256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<IdTokenAlg> {
        IdTokenAlg::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// How a client registered for CIBA receives the result (CIBA Core §5; push mode is not offered:
/// FAPI-CIBA forbids it, and it delivers tokens outside the token endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CibaMode {
    /// The client polls the token endpoint.
    Poll,
    /// The broker notifies the client's endpoint, then the client calls the token endpoint.
    Ping,
}

impl CibaMode {
    pub const ALL: [CibaMode; 2] = [CibaMode::Poll, CibaMode::Ping];

    pub fn as_str(self) -> &'static str {
        match self {
            CibaMode::Poll => "poll",
            CibaMode::Ping => "ping",
        }
    }

    pub fn parse(s: &str) -> Option<CibaMode> {
        CibaMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A security profile a client is registered under: Passerelle then refuses it anything weaker
/// than the profile allows, whatever the client's other settings say.
///
/// FAPI 2.0 Security Profile (§5.3.2, §5.3.3, §5.4): authorization requests only through PAR,
/// PKCE S256 (always required here), `private_key_jwt` client authentication with PS256 or
/// ES256 (mTLS is not offered: Passerelle does not terminate TLS), sender-constrained tokens
/// with DPoP (proofs PS256 or ES256), ID tokens PS256 or ES256, and codes that live at most
/// [`Profile::FAPI2_CODE_SECONDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Fapi2,
}

impl Profile {
    /// FAPI 2.0 SP §5.3.2.1 asks for at most 60 s; Signicat's default is 15 s.
    pub const FAPI2_CODE_SECONDS: i64 = 30;

    /// The signature algorithms the profile allows (FAPI 2.0 SP §5.4.1: PS256, ES256, EdDSA;
    /// Passerelle offers no EdDSA).
    pub const FAPI2_ALGS: [&'static str; 2] = ["ES256", "PS256"];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fapi2 => "fapi2",
        }
    }

    pub fn parse(s: &str) -> Option<Profile> {
        (s == "fapi2").then_some(Profile::Fapi2)
    }
}

/// The registered facts about a client that authorization-request validation needs.
#[derive(Debug, Clone)]
pub struct ClientPolicy<'a> {
    pub redirect_uris: &'a [String],
    pub account: Account,
    pub grants: &'a [String],
}

/// An authorization request that passed every check.
#[derive(Debug, Clone)]
pub struct ValidatedAuthorizationRequest {
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub scopes: GrantedScopes,
    pub ui_locales: Option<String>,
    pub login_hint: Option<String>,
    /// The authenticator strength to ask the scheme for (`acr_values`).
    pub acr: crate::login::Acr,
    /// `display=touch`: the person is on a phone (the scheme opens the app directly).
    pub touch: bool,
    /// `id_token_hint` as sent (OIDC Core §3.1.2.1); whether Passerelle issued it to this
    /// client is checked where the keys are.
    pub id_token_hint: Option<String>,
    /// The `claims` parameter (OIDC Core §5.5), when it asked for anything this client may
    /// receive.
    pub claims: Option<crate::claims::ClaimsRequest>,
    /// `dpop_jkt` (RFC 9449 §10): the JWK thumbprint of the DPoP key the code is bound to; the
    /// token request that redeems it must carry a proof made with that key.
    pub dpop_jkt: Option<String>,
}

impl ValidatedAuthorizationRequest {
    /// The scopes the scheme is asked for: those of `scope`, and those that release the claims
    /// asked for individually.
    pub fn upstream_scopes(&self) -> GrantedScopes {
        match &self.claims {
            Some(c) => self.scopes.widened(c.implied_scopes()),
            None => self.scopes.clone(),
        }
    }
}

/// The `prompt` values Passerelle takes (OIDC Core §3.1.2.1). itsme asks the person to approve
/// every login in the app, so `login`, `consent` and `select_account` are what always happens,
/// and `none` can never be honoured (`login_required`).
pub const PROMPT_VALUES: [&str; 4] = ["none", "login", "consent", "select_account"];

/// The `display` values Passerelle takes: `touch` says the person is on a phone (the app opens
/// directly); `page` is the default.
pub const DISPLAY_VALUES: [&str; 2] = ["page", "touch"];

/// Where an error can be sent once the redirect URI is trusted.
#[derive(Debug, Clone)]
pub struct ErrorRedirect {
    pub redirect_uri: RedirectUri,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
    pub error: OAuthError,
}

/// Why the redirect URI cannot be trusted; the caller shows the message of [`PageError::key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    MissingRedirectUri,
    UnregisteredRedirectUri,
}

impl PageError {
    /// The translation key of the message for the person (and the developer behind them).
    pub fn key(self) -> &'static str {
        match self {
            PageError::MissingRedirectUri => "error-missing-redirect-uri",
            PageError::UnregisteredRedirectUri => "error-unregistered-redirect-uri",
        }
    }
}

/// Why an authorization request fails: shown to the person when the client or redirect URI cannot
/// be trusted (RFC 6749 §4.1.2.1), otherwise redirected to the client.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    Page(PageError),
    Redirect(Box<ErrorRedirect>),
}

const MAX_STATE: usize = 2048;
const MAX_NONCE: usize = 1024;

/// Validates an authorization request for a known client (OIDC Core §3.1.2.2). The caller has
/// already resolved `client_id` to `client`.
pub fn validate_authorization_request(
    params: &Params,
    client: &ClientPolicy<'_>,
) -> Result<ValidatedAuthorizationRequest, AuthorizeError> {
    let Some(requested) = params.get("redirect_uri") else {
        return Err(AuthorizeError::Page(PageError::MissingRedirectUri));
    };
    let Some(redirect_uri) = RedirectUri::match_registered(requested, client.redirect_uris) else {
        return Err(AuthorizeError::Page(PageError::UnregisteredRedirectUri));
    };
    let state = params.get("state").map(str::to_string);
    let mut response_mode = ResponseMode::Query;
    let fail = |response_mode, code, description: &str| {
        Err(AuthorizeError::Redirect(Box::new(ErrorRedirect {
            redirect_uri: redirect_uri.clone(),
            response_mode,
            state: state.clone().filter(|s| s.len() <= MAX_STATE),
            error: OAuthError::new(code, description),
        })))
    };
    if let Some(mode) = params.get("response_mode") {
        match ResponseMode::parse(mode) {
            Some(m) => response_mode = m,
            None => {
                return fail(
                    response_mode,
                    ErrorCode::InvalidRequest,
                    "response_mode must be query or form_post",
                );
            }
        }
    }
    if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "state is longer than 2048 characters",
        );
    }
    if params.get("request").is_some() {
        return fail(
            response_mode,
            ErrorCode::RequestNotSupported,
            "a request object cannot be taken here",
        );
    }
    if params.get("request_uri").is_some() {
        return fail(
            response_mode,
            ErrorCode::RequestUriNotSupported,
            "Passerelle fetches no URL a client names: push the request to the PAR endpoint and use the request_uri it returns, or send a request object by value",
        );
    }
    match params.get("response_type") {
        None => {
            return fail(
                response_mode,
                ErrorCode::InvalidRequest,
                "response_type is missing; use response_type=code",
            );
        }
        Some("code") => {}
        Some(_) => {
            return fail(
                response_mode,
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            );
        }
    }
    let scopes = match GrantedScopes::parse(
        params.get("scope").unwrap_or_default(),
        client.account,
        client.grants,
    ) {
        Ok(s) => s,
        Err(e @ ScopeError::MissingOpenid) | Err(e @ ScopeError::NotGranted(_)) => {
            return fail(response_mode, ErrorCode::InvalidScope, &e.to_string());
        }
    };
    let claims = match params.get("claims") {
        None => None,
        Some(json) => {
            match crate::claims::ClaimsRequest::parse(json, client.account, client.grants) {
                Ok(c) if c.is_empty() => None,
                Ok(c) => Some(c),
                Err(e) => {
                    return fail(response_mode, ErrorCode::InvalidRequest, &e.to_string());
                }
            }
        }
    };
    let Some(code_challenge) = params.get("code_challenge") else {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "PKCE is required: send code_challenge and code_challenge_method=S256 (RFC 7636)",
        );
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "code_challenge_method must be S256",
        );
    }
    if !is_sha256_base64url(code_challenge) {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "code_challenge must be the 43-character base64url SHA-256 of the code_verifier",
        );
    }
    let dpop_jkt = params.get("dpop_jkt");
    if dpop_jkt.is_some_and(|j| !is_sha256_base64url(j)) {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "dpop_jkt must be the 43-character base64url SHA-256 JWK thumbprint of the DPoP key (RFC 9449 §10)",
        );
    }
    let nonce = params.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE) {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "nonce is longer than 1024 characters",
        );
    }
    if let Some(prompt) = params.get("prompt") {
        let values: Vec<&str> = prompt.split(' ').filter(|s| !s.is_empty()).collect();
        if values.iter().any(|v| !PROMPT_VALUES.contains(v)) {
            return fail(
                response_mode,
                ErrorCode::InvalidRequest,
                "unsupported prompt value; Passerelle takes none, login, consent and select_account",
            );
        }
        if values.contains(&"none") {
            if values.len() > 1 {
                return fail(
                    response_mode,
                    ErrorCode::InvalidRequest,
                    "prompt=none cannot be combined with other values",
                );
            }
            return fail(
                response_mode,
                ErrorCode::LoginRequired,
                "itsme needs the person to approve every login in the app; prompt=none cannot be honoured",
            );
        }
    }
    if let Some(acr_values) = params.get("acr_values") {
        for value in acr_values.split(' ').filter(|s| !s.is_empty()) {
            if let Some(idp) = value.strip_prefix("idp:") {
                if idp != "itsme" {
                    return fail(
                        response_mode,
                        ErrorCode::InvalidRequest,
                        "unknown identity provider in acr_values; Passerelle offers idp:itsme",
                    );
                }
            } else if let Some(loa) = value.strip_prefix("loa:")
                && !matches!(loa, "low" | "substantial" | "high")
            {
                return fail(
                    response_mode,
                    ErrorCode::InvalidRequest,
                    "unknown level of assurance in acr_values; use loa:low, loa:substantial or loa:high",
                );
            }
        }
    }
    if let Some(max_age) = params.get("max_age")
        && max_age.parse::<u64>().is_err()
    {
        return fail(
            response_mode,
            ErrorCode::InvalidRequest,
            "max_age must be a non-negative integer",
        );
    }
    let ui_locales = params
        .get("ui_locales")
        .filter(|s| s.len() <= 256)
        .map(str::to_string);
    let login_hint = params
        .get("login_hint")
        .filter(|s| s.len() <= 64)
        .map(str::to_string);
    Ok(ValidatedAuthorizationRequest {
        redirect_uri,
        response_mode,
        state,
        nonce,
        code_challenge: code_challenge.to_string(),
        scopes,
        ui_locales,
        login_hint,
        acr: crate::login::Acr::requested_in(params.get("acr_values")),
        touch: params.get("display") == Some("touch"),
        claims,
        id_token_hint: params
            .get("id_token_hint")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        dpop_jkt: dpop_jkt.map(str::to_string),
    })
}

/// Whether `s` has the shape of a SHA-256 digest in unpadded base64url (43 characters), as a
/// PKCE S256 `code_challenge` and a JWK thumbprint do.
fn is_sha256_base64url(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(is_base64url)
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The client grant (`client add|update --grant refresh_token`, RFC 7591 `grant_types`) that
/// lets a login with `offline_access` give the client a refresh token (OIDC Core §11).
pub const REFRESH_TOKEN_GRANT: &str = "refresh_token";

/// The client grant (`client add|update --grant introspection`) of a resource server: it may
/// call the introspection endpoint (RFC 7662 §2.1) with its own credentials.
pub const INTROSPECTION_GRANT: &str = "introspection";

/// Checks a PKCE `code_verifier` against the stored S256 `code_challenge` (RFC 7636 §4.6).
pub fn verify_pkce(code_verifier: &str, code_challenge: &str) -> bool {
    use base64::Engine as _;
    use sha2::Digest as _;
    if !(43..=128).contains(&code_verifier.len())
        || !code_verifier
            .bytes()
            .all(|b| is_base64url(b) || b == b'.' || b == b'~')
    {
        return false;
    }
    let digest = sha2::Sha256::digest(code_verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    // Both values are public once the code is redeemed; equality timing leaks nothing useful.
    computed == code_challenge
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Params {
        Params::from_pairs(q.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .expect("no duplicates")
    }

    fn client() -> (Vec<String>, Vec<String>) {
        (vec!["https://rp.example/cb".to_string()], vec![])
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "c"),
            ("redirect_uri", "https://rp.example/cb"),
            ("scope", "openid profile"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    }

    #[test]
    fn a_good_request_validates() {
        let (uris, grants) = client();
        let policy = ClientPolicy {
            redirect_uris: &uris,
            account: Account::Sandbox,
            grants: &grants,
        };
        let v = validate_authorization_request(&params(&good()), &policy).expect("valid");
        assert_eq!(v.redirect_uri.as_str(), "https://rp.example/cb");
        assert_eq!(v.state.as_deref(), Some("s1"));
    }

    #[test]
    fn a_foreign_redirect_uri_is_never_redirected_to() {
        let (uris, grants) = client();
        let policy = ClientPolicy {
            redirect_uris: &uris,
            account: Account::Sandbox,
            grants: &grants,
        };
        let mut q = good();
        q[2] = ("redirect_uri", "https://rp.example/cb/");
        assert!(matches!(
            validate_authorization_request(&params(&q), &policy),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn pkce_is_required_and_errors_carry_state() {
        let (uris, grants) = client();
        let policy = ClientPolicy {
            redirect_uris: &uris,
            account: Account::Sandbox,
            grants: &grants,
        };
        let q: Vec<_> = good()
            .into_iter()
            .filter(|(k, _)| *k != "code_challenge")
            .collect();
        match validate_authorization_request(&params(&q), &policy) {
            Err(AuthorizeError::Redirect(r)) => {
                assert_eq!(r.error.code, ErrorCode::InvalidRequest);
                assert_eq!(r.state.as_deref(), Some("s1"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn dpop_jkt_is_kept_when_it_has_the_shape_of_a_thumbprint() {
        let (uris, grants) = client();
        let policy = ClientPolicy {
            redirect_uris: &uris,
            account: Account::Sandbox,
            grants: &grants,
        };
        // RFC 9449 §10, Figure 25.
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        let mut q = good();
        q.push(("dpop_jkt", jkt));
        let v = validate_authorization_request(&params(&q), &policy).expect("valid");
        assert_eq!(v.dpop_jkt.as_deref(), Some(jkt));
        for bad in [
            &jkt[1..],
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X=",
            "a b",
        ] {
            let mut q = good();
            q.push(("dpop_jkt", bad));
            match validate_authorization_request(&params(&q), &policy) {
                Err(AuthorizeError::Redirect(r)) => {
                    assert_eq!(r.error.code, ErrorCode::InvalidRequest);
                    assert!(r.error.description.contains("dpop_jkt"));
                }
                other => panic!("{bad}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn ungranted_protected_scope_is_invalid_scope_naming_it() {
        let (uris, grants) = client();
        let policy = ClientPolicy {
            redirect_uris: &uris,
            account: Account::Production,
            grants: &grants,
        };
        let mut q = good();
        q[3] = ("scope", "openid nin");
        match validate_authorization_request(&params(&q), &policy) {
            Err(AuthorizeError::Redirect(r)) => {
                assert_eq!(r.error.code, ErrorCode::InvalidScope);
                assert!(r.error.description.contains("'nin'"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let pairs = vec![
            ("a".to_string(), "1".to_string()),
            ("a".to_string(), "2".to_string()),
        ];
        assert_eq!(
            Params::from_pairs(pairs).err(),
            Some(ParamError::Repeated("a".into()))
        );
        let nul = vec![("state".to_string(), "a\0b".to_string())];
        assert_eq!(
            Params::from_pairs(nul).err(),
            Some(ParamError::Nul("state".into()))
        );
    }

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        assert!(verify_pkce(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            CHALLENGE
        ));
        assert!(!verify_pkce(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            CHALLENGE
        ));
        assert!(!verify_pkce("short", CHALLENGE));
    }
}
