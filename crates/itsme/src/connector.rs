//! The HTTP side of the connector.

use std::sync::Arc;
use std::time::{Duration, Instant};

use passerelle_core::login::Acr;
use passerelle_core::scopes::{GrantedScopes, Service};
use passerelle_jose::keyring::{KeyMaterial, KeyTimes, KeyVersion, Keyring};
use passerelle_jose::{Claims, DecryptionKey, EncAlg, PublicKeys, SigAlg, SigningKey};
use serde_json::{Value, json};

use crate::claims;
use crate::metrics::{OutcomeCounters, UpstreamCounters, UpstreamEndpoint};

mod decoupled;

pub use decoupled::{
    BackchannelRequest, BackchannelStarted, DecoupledResult, DiscoveryPoll, LoginHintToken,
    SchemeRefusal, UserDiscovery, notify_client,
};

/// Where the scheme wants the claims delivered. itsme recommends the ID token, which saves the
/// userinfo call and two RSA operations per login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsDelivery {
    IdToken,
    Userinfo,
}

/// The scheme's endpoints. `token_audience` is the `aud` of the client assertion: the token
/// endpoint's URL as the scheme knows it, which may differ from the URL this node calls.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    pub token_audience: String,
    /// The backchannel authentication endpoint (itsme's decoupled API, CIBA), when the scheme
    /// has one.
    pub backchannel: Option<String>,
    /// Where user discovery sessions are opened (itsme's QR path of the decoupled API).
    pub user_discovery: Option<String>,
}

/// Everything that makes the connector talk to one itsme environment.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// The scheme's issuer, e.g. `https://idp.e2e.itsme.services/v2`.
    pub issuer: String,
    /// The partner code itsme gave Passerelle.
    pub client_id: String,
    /// Passerelle's callback, registered with the scheme.
    pub redirect_uri: String,
    /// One itsme service code per service.
    pub service_authentication: String,
    pub service_identification: String,
    /// Explicit endpoints; when `None` they come from the scheme's discovery document.
    pub endpoints: Option<Endpoints>,
    pub claims_delivery: ClaimsDelivery,
    /// How the request object is encrypted to the scheme (itsme asks for RSA-OAEP-256).
    pub request_encryption: EncAlg,
    /// Send the RP's display name in the request object (the sandbox shows it in the app).
    pub send_client_name: bool,
    /// Name a person by phone number in a backchannel request (`login_hint_token` of type
    /// `phone_number`): an extension of the sandbox; itsme's decoupled API does not take phone
    /// numbers.
    pub phone_login_hints: bool,
    /// Where the connector counts its calls to the scheme, by endpoint and outcome
    /// (`UpstreamCounters::default()` counts nothing).
    pub counters: UpstreamCounters,
}

/// A failure talking to the scheme. `Unavailable` is the scheme's or the network's fault and
/// becomes `temporarily_unavailable`; `Protocol` means the scheme's answer was not acceptable.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("the itsme scheme is unavailable: {0}")]
    Unavailable(String),
    #[error("the itsme scheme's answer was rejected: {0}")]
    Protocol(String),
}

/// What the broker needs to start a login at the scheme.
#[derive(Debug, Clone)]
pub struct UpstreamRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub scopes: &'a GrantedScopes,
    pub ui_locales: Option<&'a str>,
    pub login_hint: Option<&'a str>,
    pub client_name: &'a str,
    /// itsme's `acr_values`: basic lets the person use biometrics, advanced demands the code.
    pub acr: Acr,
    /// The person is on a phone (`display=touch`): the scheme opens its app directly.
    pub touch: bool,
}

/// A verified answer from the scheme.
#[derive(Debug, Clone)]
pub struct SchemeIdentity {
    /// itsme's subject for this person towards Passerelle.
    pub sub: String,
    /// The itsme claims from the ID token and userinfo, merged.
    pub claims: Claims,
    /// How the person approved, as RFC 8176 `amr` values (see [`amr_of`]).
    pub amr: Vec<&'static str>,
}

/// What the scheme's ID token says of how the person approved, as RFC 8176 `amr` values, checked
/// against the strength the login asked for. itsme's ID token names only the strength (`acr`):
/// `acr_advanced` means the itsme code (`pin`); `acr_basic` a code or biometrics, unknown which,
/// so only `mfa` (the enrolled phone and one more factor). The sandbox also says which (an `amr`
/// of `pin`, `fpt` or `face`, a sandbox extension), and then that is told. An answer weaker than
/// what was asked — `acr_basic`, no `acr`, or biometrics, when the code was demanded — is refused.
pub fn amr_of(claims: &Claims, asked: Acr) -> Result<Vec<&'static str>, ConnectorError> {
    let acr = claims
        .get("acr")
        .and_then(Value::as_str)
        .and_then(Acr::from_uri);
    let method = claims
        .get("amr")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|m| match m {
            "pin" => Some("pin"),
            "fpt" => Some("fpt"),
            "face" => Some("face"),
            _ => None,
        });
    if asked == Acr::Advanced
        && (acr != Some(Acr::Advanced) || matches!(method, Some("fpt" | "face")))
    {
        return Err(protocol(
            "the itsme code was demanded (acr_advanced), and the scheme's answer does not say it was used",
        ));
    }
    Ok(match (method, acr) {
        (Some(m), _) => vec![m, "mfa"],
        (None, Some(Acr::Advanced)) => vec!["pin", "mfa"],
        (None, _) => vec!["mfa"],
    })
}

/// Passerelle as a relying party of one itsme environment.
#[derive(Debug)]
pub struct Connector {
    config: ConnectorConfig,
    keys: ConnectorKeys,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<Endpoints>,
    /// The scheme's JWKS, in the same cache (and under the same rules) as relying parties' keys.
    scheme_keys: JwksCache,
}

/// How long the scheme's JWKS is trusted before it is fetched again (itsme caches partner keys
/// for 30 min to 24 h; we refresh sooner, and at once on an unknown `kid`).
const JWKS_TTL: Duration = Duration::from_secs(15 * 60);
/// Never refetch a JWKS more often than this, whatever `kid`s arrive.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);
/// Clock skew tolerated on the scheme's token times.
const SKEW: i64 = 60;

/// An answer that says "not now" rather than "no": a server error, or a rate limit (429).
fn unavailable_status(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

fn unavailable(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Unavailable(e.to_string())
}

fn protocol(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::Protocol(e.to_string())
}

/// The connector's keys towards the scheme, in a [`Keyring`] that rotates them: the current key
/// of `signing` signs request objects and client assertions; every published key of `decryption`
/// decrypts the scheme's answers (itsme picks any of them, so decryption picks by `kid`); both
/// are published in the JWKS named `jwks` (the `jwks_uri` registered with itsme).
#[derive(Debug, Clone)]
pub struct ConnectorKeys {
    pub ring: Arc<Keyring>,
    pub signing: String,
    pub decryption: String,
    pub jwks: &'static str,
}

impl ConnectorKeys {
    /// Fixed keys that never rotate (tests, tools).
    pub fn fixed(signing: SigningKey, decryption: Vec<DecryptionKey>) -> ConnectorKeys {
        let times = KeyTimes {
            generation: 1,
            created_at: 0,
            activates_at: 0,
            retired_at: None,
        };
        let mut versions = vec![KeyVersion {
            purpose: "sig".into(),
            jwks: "connector",
            times,
            key: KeyMaterial::Signing(Arc::new(signing)),
        }];
        for (i, d) in decryption.into_iter().enumerate() {
            versions.push(KeyVersion {
                purpose: "enc".into(),
                jwks: "connector",
                times: KeyTimes {
                    generation: i as i64 + 1,
                    ..times
                },
                key: KeyMaterial::Decryption(Arc::new(d)),
            });
        }
        ConnectorKeys {
            ring: Arc::new(Keyring::fixed(versions)),
            signing: "sig".into(),
            decryption: "enc".into(),
            jwks: "connector",
        }
    }
}

impl Connector {
    /// `signing` signs the request object and the client assertion; `decryption` are the keys the
    /// scheme may encrypt to (all are published, decryption picks by `kid`). Keys that rotate:
    /// [`Connector::with_keys`].
    pub fn new(
        config: ConnectorConfig,
        signing: SigningKey,
        decryption: Vec<DecryptionKey>,
    ) -> Result<Connector, ConnectorError> {
        Connector::with_keys(config, ConnectorKeys::fixed(signing, decryption))
    }

    /// A connector whose keys come from a keyring that reloads and rotates them.
    pub fn with_keys(
        config: ConnectorConfig,
        keys: ConnectorKeys,
    ) -> Result<Connector, ConnectorError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(unavailable)?;
        let endpoints = tokio::sync::OnceCell::new();
        if let Some(e) = &config.endpoints {
            let _ = endpoints.set(e.clone());
        }
        let scheme_keys =
            JwksCache::with_counters(config.counters.of(UpstreamEndpoint::Jwks).clone());
        Ok(Connector {
            config,
            keys,
            http,
            endpoints,
            scheme_keys,
        })
    }

    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// The public keys the scheme verifies our signatures with and encrypts to (the JWKS at the
    /// `jwks_uri` registered with itsme): every published key, the current ones first.
    pub fn public_jwks(&self, now: i64) -> Value {
        self.keys.ring.public_jwks(self.keys.jwks, now)
    }

    /// The connector's keys (their keyring is shared with the broker, which reloads it).
    pub fn keys(&self) -> &ConnectorKeys {
        &self.keys
    }

    /// The key that signs at `now`, after a reload if the keyring is stale (one atomic read
    /// otherwise). A failed reload keeps the keys loaded before.
    async fn signer(&self, now: i64) -> Result<Arc<SigningKey>, ConnectorError> {
        let _ = self.keys.ring.refresh_if_stale(now).await;
        self.keys
            .ring
            .signing(&self.keys.signing, now)
            .ok_or_else(|| protocol("the connector has no signing key"))
    }

    async fn endpoints(&self) -> Result<&Endpoints, ConnectorError> {
        self.endpoints
            .get_or_try_init(|| async {
                let discovered = self.discover().await;
                self.config
                    .counters
                    .of(UpstreamEndpoint::Discovery)
                    .count(&discovered);
                discovered
            })
            .await
    }

    /// Reads the scheme's discovery document (OIDC Discovery §4).
    async fn discover(&self) -> Result<Endpoints, ConnectorError> {
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let doc: Value = self.get_json(&url).await?;
        let field = |k: &str| {
            doc.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| protocol(format!("discovery has no {k}")))
        };
        if field("issuer")? != self.config.issuer {
            return Err(protocol(
                "discovery issuer does not match the configured issuer",
            ));
        }
        let token = field("token_endpoint")?;
        Ok(Endpoints {
            backchannel: doc
                .get("backchannel_authentication_endpoint")
                .and_then(Value::as_str)
                .map(str::to_string),
            // itsme documents it beside its other endpoints, not in its discovery document.
            user_discovery: Some(format!("{}/user_discovery_sessions", self.config.issuer)),
            authorization: field("authorization_endpoint")?,
            userinfo: field("userinfo_endpoint")?,
            jwks: field("jwks_uri")?,
            token_audience: token.clone(),
            token,
        })
    }

    async fn get_json(&self, url: &str) -> Result<Value, ConnectorError> {
        let resp = self.http.get(url).send().await.map_err(unavailable)?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("GET {url} answered {}", resp.status())));
        }
        resp.json().await.map_err(protocol)
    }

    /// The scheme's keys, fetched lazily and cached ([`JwksCache`]: fetched again after
    /// [`JWKS_TTL`], or when a token names a `kid` it does not hold, at most once per
    /// [`JWKS_MIN_REFRESH`]).
    async fn scheme_keys(&self, kid: Option<&str>) -> Result<PublicKeys, ConnectorError> {
        let url = &self.endpoints().await?.jwks;
        self.scheme_keys.get(url, kid).await
    }

    fn service_code(&self, service: Service) -> &str {
        match service {
            Service::Authentication => &self.config.service_authentication,
            Service::Identification => &self.config.service_identification,
        }
    }

    /// The URL to send the browser to: the scheme's authorization endpoint with a signed, then
    /// encrypted, request object (itsme `authorization_request.md`; RFC 9101).
    pub async fn authorization_url(
        &self,
        req: &UpstreamRequest<'_>,
        now: i64,
        jti: &str,
    ) -> Result<String, ConnectorError> {
        let endpoints = self.endpoints().await?;
        let scheme_keys = self.scheme_keys(None).await?;
        if !scheme_keys.can_encrypt() {
            return Err(protocol("the scheme publishes no encryption key"));
        }
        let service = req.scopes.service();
        let scope = format!("openid service:{}", self.service_code(service));
        let wanted = claims::itsme_claims_for(req.scopes);
        let claims_param = claims::claims_request(
            &wanted,
            self.config.claims_delivery == ClaimsDelivery::IdToken,
        );
        let mut object = Claims::new();
        let mut put = |k: &str, v: Value| {
            object.insert(k.to_string(), v);
        };
        put("iss", json!(self.config.client_id));
        put("aud", json!(self.config.issuer));
        put("iat", json!(now));
        put("exp", json!(now + 300));
        put("jti", json!(jti));
        put("client_id", json!(self.config.client_id));
        put("response_type", json!("code"));
        put("redirect_uri", json!(self.config.redirect_uri));
        put("scope", json!(scope));
        put("state", json!(req.state));
        put("nonce", json!(req.nonce));
        put("code_challenge", json!(req.code_challenge));
        put("code_challenge_method", json!("S256"));
        put("claims", claims_param);
        put("acr_values", json!(req.acr.uri()));
        if req.touch {
            put("display", json!("touch"));
        }
        if let Some(l) = req.ui_locales {
            put("ui_locales", json!(l));
        }
        if let Some(h) = req.login_hint {
            put("login_hint", json!(h));
        }
        if self.config.send_client_name {
            put("passerelle_client_name", json!(req.client_name));
        }
        let jws = self
            .signer(now)
            .await?
            .sign(&object, Some("JWT"))
            .map_err(protocol)?;
        let jwe = scheme_keys
            .encrypt(jws.as_bytes(), self.config.request_encryption)
            .map_err(protocol)?;
        let mut url = url::Url::parse(&endpoints.authorization).map_err(protocol)?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("response_type", "code")
            .append_pair("scope", &scope)
            .append_pair("request", &jwe);
        Ok(url.into())
    }

    /// Redeems the scheme's code with private_key_jwt and returns the verified identity.
    pub async fn redeem(
        &self,
        code: &str,
        code_verifier: &str,
        nonce: &str,
        acr: Acr,
        now: i64,
        jti: &str,
    ) -> Result<SchemeIdentity, ConnectorError> {
        let endpoints = self.endpoints().await?;
        let assertion = self.assertion(&endpoints.token_audience, now, jti).await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.config.redirect_uri),
            ("code_verifier", code_verifier),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ];
        let exchanged = self
            .exchange_code(&endpoints.token, &form, Some(nonce), now)
            .await;
        self.config
            .counters
            .of(UpstreamEndpoint::Token)
            .count(&exchanged);
        self.identity_from(&endpoints.userinfo, exchanged?, acr, now)
            .await
    }

    /// The identity of a verified token answer: the ID token's claims, merged with userinfo's
    /// when the claims are delivered there (its `sub` must be the ID token's), and how the person
    /// approved, checked against the strength `acr` asked for.
    async fn identity_from(
        &self,
        userinfo_url: &str,
        (mut claims, sub, access_token): (Claims, String, Option<String>),
        acr: Acr,
        now: i64,
    ) -> Result<SchemeIdentity, ConnectorError> {
        let amr = amr_of(&claims, acr)?;
        if let Some(access_token) = access_token {
            let answered = async {
                let userinfo = self.userinfo(userinfo_url, &access_token, now).await?;
                if userinfo.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
                    return Err(protocol("userinfo sub differs from the ID token's"));
                }
                Ok(userinfo)
            }
            .await;
            self.config
                .counters
                .of(UpstreamEndpoint::Userinfo)
                .count(&answered);
            for (k, v) in answered? {
                claims.entry(k).or_insert(v);
            }
        }
        Ok(SchemeIdentity { sub, claims, amr })
    }

    /// The token request and the checks of its answer: the verified ID token's claims, its `sub`,
    /// and the access token when claims come from userinfo.
    async fn exchange_code(
        &self,
        token_endpoint: &str,
        form: &[(&str, &str)],
        nonce: Option<&str>,
        now: i64,
    ) -> Result<(Claims, String, Option<String>), ConnectorError> {
        let resp = self
            .http
            .post(token_endpoint)
            .form(form)
            .send()
            .await
            .map_err(unavailable)?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            if unavailable_status(status) {
                unavailable(e)
            } else {
                protocol(e)
            }
        })?;
        if !status.is_success() {
            let error = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            let msg = format!("token endpoint answered {status} {error}");
            return Err(if unavailable_status(status) {
                unavailable(msg)
            } else {
                protocol(msg)
            });
        }
        self.tokens_from(&body, nonce, now).await
    }

    /// The checks of a successful token answer: the verified ID token's claims, its `sub`, and
    /// the access token when claims come from userinfo.
    async fn tokens_from(
        &self,
        body: &Value,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<(Claims, String, Option<String>), ConnectorError> {
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| protocol("the token response has no id_token"))?;
        let claims = self.open_nested(id_token, now).await?;
        self.check_id_token(&claims, nonce, now)?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| protocol("the ID token has no sub"))?
            .to_string();
        let access_token = if self.config.claims_delivery == ClaimsDelivery::Userinfo {
            let at = body
                .get("access_token")
                .and_then(Value::as_str)
                .ok_or_else(|| protocol("the token response has no access_token"))?;
            Some(at.to_string())
        } else {
            None
        };
        Ok((claims, sub, access_token))
    }

    async fn userinfo(
        &self,
        url: &str,
        access_token: &str,
        now: i64,
    ) -> Result<Claims, ConnectorError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(unavailable)?;
        let status = resp.status();
        if !status.is_success() {
            let msg = format!("userinfo answered {status}");
            return Err(if unavailable_status(status) {
                unavailable(msg)
            } else {
                protocol(msg)
            });
        }
        let body = resp.text().await.map_err(unavailable)?;
        self.open_nested(body.trim(), now).await
    }

    /// Decrypts a nested JWT with the published key its `kid` names (reloading the keyring once
    /// when none has it: another node may have rotated) and verifies its inner RS256 signature
    /// with the scheme's keys, refetching them once when the `kid` is new (key rotation).
    async fn open_nested(&self, jwe: &str, now: i64) -> Result<Claims, ConnectorError> {
        let decrypt = || {
            let keys = self.keys.ring.decryption(&self.keys.decryption);
            let keys: Vec<&DecryptionKey> = keys.iter().map(|k| k.as_ref()).collect();
            passerelle_jose::decrypt(jwe, &keys)
        };
        let plain = match decrypt() {
            Err(passerelle_jose::JoseError::UnknownKey(_)) => {
                let _ = self.keys.ring.refresh_after_miss(now).await;
                decrypt()
            }
            other => other,
        }
        .map_err(protocol)?;
        let jws = String::from_utf8(plain).map_err(protocol)?;
        let header = passerelle_jose::peek_header(&jws).map_err(protocol)?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let scheme_keys = self
            .scheme_keys(Some(kid.as_str()).filter(|k| !k.is_empty()))
            .await?;
        scheme_keys.verify(&jws, &[SigAlg::Rs256]).map_err(protocol)
    }

    /// Checks the scheme's ID token; `nonce` is the login's, or `None` for a decoupled login
    /// (CIBA has no nonce, so the token must carry none).
    fn check_id_token(
        &self,
        claims: &Claims,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<(), ConnectorError> {
        let check = passerelle_jose::ClaimsCheck {
            issuer: Some(&self.config.issuer),
            audience: passerelle_jose::Audience::Only(&self.config.client_id),
            now,
            max_lifetime: None,
            expiry_skew: SKEW,
            future_skew: SKEW,
        };
        check.check(claims).map_err(|problem| {
            use passerelle_jose::ClaimsProblem as P;
            protocol(match problem {
                P::Issuer => "the ID token's iss is not the scheme's issuer".to_string(),
                P::Audience => "the ID token is not addressed to Passerelle alone".into(),
                P::NoExpiry | P::Expired | P::LivesTooLong => "the ID token has expired".into(),
                P::InTheFuture(member) => format!("the ID token's {member} is in the future"),
            })
        })?;
        if claims.get("nonce").and_then(Value::as_str) != nonce {
            return Err(protocol("the ID token's nonce does not match the request"));
        }
        Ok(())
    }
}

/// Fetches a relying party's JWKS from its registered `jwks_uri` (for private_key_jwt), for
/// [`JwksCache`]. Kept here so that all outbound HTTP lives in this crate. Answers larger than
/// 64 KiB are refused.
async fn fetch_jwks(url: &str) -> Result<PublicKeys, ConnectorError> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let http = match CLIENT.get() {
        Some(c) => c,
        None => {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(unavailable)?;
            CLIENT.get_or_init(|| c)
        }
    };
    const LIMIT: usize = 64 * 1024;
    let mut resp = http.get(url).send().await.map_err(unavailable)?;
    if !resp.status().is_success() {
        return Err(unavailable(format!("jwks_uri answered {}", resp.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > LIMIT {
            return Err(protocol("the JWKS is larger than 64 KiB"));
        }
        body.extend_from_slice(&chunk);
    }
    let text = std::str::from_utf8(&body).map_err(protocol)?;
    PublicKeys::from_jwks_json(text).map_err(protocol)
}

/// Relying parties' JWKS fetched from their `jwks_uri`, cached per URI so that token requests
/// (which anyone can send, before any signature is checked) cannot make Passerelle fetch a
/// client's keys more than once per [`JWKS_MIN_REFRESH`], and so that a known key costs no
/// request at all. Each URI has its own lock, so a slow or dead `jwks_uri` holds up only its own
/// client; a failed fetch is remembered for [`JWKS_MIN_REFRESH`] too. Keyed by URI, so a
/// `client update --jwks-uri` takes effect at once.
#[derive(Debug, Default)]
pub struct JwksCache {
    entries: std::sync::Mutex<
        std::collections::HashMap<String, Arc<tokio::sync::Mutex<Option<CacheEntry>>>>,
    >,
    /// Fetches (not cache hits), by outcome.
    fetches: OutcomeCounters,
}

#[derive(Debug)]
struct CacheEntry {
    keys: Result<PublicKeys, String>,
    fetched: Instant,
}

impl JwksCache {
    /// A cache that counts its fetches in `fetches` (`Default` counts nothing).
    pub fn with_counters(fetches: OutcomeCounters) -> JwksCache {
        JwksCache {
            fetches,
            ..JwksCache::default()
        }
    }

    /// The keys at `url`, fetching them when not cached, stale, or when `kid` is new (rotation).
    pub async fn get(&self, url: &str, kid: Option<&str>) -> Result<PublicKeys, ConnectorError> {
        let slot = {
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| unavailable("JWKS cache poisoned"))?;
            if entries.len() > 1000 {
                entries.clear();
            }
            entries.entry(url.to_string()).or_default().clone()
        };
        // Requests for a cold URI wait for the first fetch instead of starting their own.
        let mut entry = slot.lock().await;
        if let Some(c) = entry.as_ref() {
            let age = c.fetched.elapsed();
            let fresh = match &c.keys {
                Ok(keys) => {
                    age < JWKS_TTL
                        && (kid.is_none_or(|k| keys.has_kid(k)) || age < JWKS_MIN_REFRESH)
                }
                Err(_) => age < JWKS_MIN_REFRESH,
            };
            if fresh {
                return c.keys.clone().map_err(ConnectorError::Unavailable);
            }
        }
        let fetched = fetch_jwks(url).await;
        self.fetches.count(&fetched);
        let keys = fetched.map_err(|e| e.to_string());
        *entry = Some(CacheEntry {
            keys: keys.clone(),
            fetched: Instant::now(),
        });
        keys.map_err(ConnectorError::Unavailable)
    }
}
