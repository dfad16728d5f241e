//! itsme's signing service as its client: the CSC API v1, hash-signing variant (reference
//! `signing-and-channels.md` §1), against `https://sign.[e2e|prd].itsme.services/csc/v1` or the
//! sandbox's `<sandbox>/csc/v1`.
//!
//! The sequence (§1.1): [`CscClient::service_authorization_url`] sends the person's browser to
//! the first authorization (`scope=service`), whose code [`CscClient::redeem`] turns into a
//! Bearer; [`CscClient::credential`] reads the person's one credential and its chain;
//! [`CscClient::credential_authorization_url`] sends the browser to the second (`scope=credential`,
//! the hashes bound to it, at most 70), whose code buys a SAD; [`CscClient::sign_hashes`] gets one
//! raw PKCS#1 v1.5 signature per hash; [`CscClient::revoke`] ends the Bearer.
//!
//! Both authorizations name the caller's account with an `account_token`: an HS256 JWT
//! `{sub, iat, jti, iss?, azp}` keyed with the SHA-256 of the client secret (its 32 raw bytes).
//! The limits of `passerelle_core::csc` are checked before anything is sent, so a request itsme
//! would abort in the person's app (71 hashes, a curly quote in the description) is the
//! caller's [`CscError::Invalid`], never a person's bad experience.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use passerelle_core::csc as rules;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub use passerelle_core::csc::TokenKind;

/// The largest answer read from the service (a chain of three certificates is a few KiB).
const ANSWER_LIMIT: usize = 256 * 1024;

/// Where the signing service is and who we are to it.
#[derive(Clone)]
pub struct CscConfig {
    /// The service's base, e.g. `https://sign.e2e.itsme.services/csc/v1` or `<sandbox>/csc/v1`.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where both authorizations send the browser back (registered with itsme).
    pub redirect_uri: String,
    /// The signature creation application's name, the account_token's `iss`.
    pub sca_name: Option<String>,
}

impl std::fmt::Debug for CscConfig {
    // The secret stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CscConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("sca_name", &self.sca_name)
            .finish_non_exhaustive()
    }
}

/// Why a call to the signing service failed.
#[derive(Debug, thiserror::Error)]
pub enum CscError {
    /// The network, or the service's fault (5xx, 429): trying later may work.
    #[error("the itsme signing service is unavailable: {0}")]
    Unavailable(String),
    /// The service refused (a 4xx with a CSC error): an expired code, a spent SAD, a bad secret…
    #[error("the itsme signing service refused: {error}: {description}")]
    Refused { error: String, description: String },
    /// The service's answer is not acceptable.
    #[error("the itsme signing service's answer was rejected: {0}")]
    Protocol(String),
    /// The caller's request breaks the service's limits (more than 70 hashes, a description too
    /// long or not ISO-8859-15, a bad configuration); nothing was sent.
    #[error("invalid signing request: {0}")]
    Invalid(String),
}

/// A token from the token endpoint: the Bearer of a service authorization, or the SAD of a
/// credential authorization.
#[derive(Clone)]
pub struct CscToken {
    pub access_token: String,
    pub kind: TokenKind,
    pub expires_in: i64,
}

impl std::fmt::Debug for CscToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CscToken")
            .field("kind", &self.kind)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The person's signing credential.
#[derive(Debug, Clone)]
pub struct Credential {
    pub id: String,
    /// The certificates, DER, the signer's first.
    pub chain: Vec<Vec<u8>>,
}

/// The client of one signing service.
pub struct CscClient {
    config: CscConfig,
    /// The service's base, without a trailing slash: where the browser is sent.
    base: String,
    /// Where this node calls the service (the same base, unless [`CscClient::with_api_base`]
    /// says otherwise: the embedded sandbox is called over loopback).
    api_base: String,
    http: reqwest::Client,
    /// Unix seconds, for the account_token's `iat`.
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl std::fmt::Debug for CscClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CscClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn unavailable(e: impl std::fmt::Display) -> CscError {
    CscError::Unavailable(e.to_string())
}

fn protocol(e: impl std::fmt::Display) -> CscError {
    CscError::Protocol(e.to_string())
}

/// Checks the hashes of one approval or one `signHash` against the service's limits.
fn check_hashes(hashes: &[[u8; 32]]) -> Result<(), CscError> {
    rules::check_batch(hashes.len()).map_err(|p| CscError::Invalid(p.to_string()))
}

impl CscClient {
    pub fn new(config: CscConfig) -> Result<CscClient, CscError> {
        let base = config.base_url.trim_end_matches('/').to_string();
        for (name, value) in [
            ("base_url", base.as_str()),
            ("redirect_uri", &config.redirect_uri),
        ] {
            let url = url::Url::parse(value)
                .map_err(|e| CscError::Invalid(format!("{name} is not a URL: {e}")))?;
            if !matches!(url.scheme(), "https" | "http") {
                return Err(CscError::Invalid(format!("{name} must be http(s)")));
            }
        }
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            return Err(CscError::Invalid(
                "client_id and client_secret are required".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(unavailable)?;
        Ok(CscClient {
            config,
            api_base: base.clone(),
            base,
            http,
            clock: Arc::new(system_now),
        })
    }

    /// Reads the time from `clock` (Unix seconds) instead of the system's: for tests, whose
    /// service runs on a manual clock.
    pub fn with_clock(mut self, clock: Arc<dyn Fn() -> i64 + Send + Sync>) -> CscClient {
        self.clock = clock;
        self
    }

    /// Calls the service at `url` (e.g. a loopback address of this node), while browsers are
    /// still sent to the configured base.
    pub fn with_api_base(mut self, url: &str) -> CscClient {
        self.api_base = url.trim_end_matches('/').to_string();
        self
    }

    pub fn config(&self) -> &CscConfig {
        &self.config
    }

    /// The `account_token` (§1.2): HS256, keyed with the 32 bytes of SHA-256(client_secret).
    fn account_token(&self, account_id: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let mut claims = json!({
            "sub": account_id,
            "iat": (self.clock)(),
            "jti": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
            "azp": self.config.client_id,
        });
        if let Some(name) = &self.config.sca_name {
            claims["iss"] = json!(name);
        }
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let key = Sha256::digest(self.config.client_secret.as_bytes());
        let signature = match Hmac::<Sha256>::new_from_slice(&key) {
            Ok(mut mac) => {
                mac.update(signed.as_bytes());
                URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            }
            // HMAC takes keys of any length: this cannot happen, and an unsigned token would
            // only be refused.
            Err(_) => String::new(),
        };
        format!("{signed}.{signature}")
    }

    fn authorization_url(&self, pairs: &[(&str, &str)]) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}/oauth2/authorize?{query}", self.base)
    }

    /// The first authorization ("dance 1", `scope=service`): where to send the person's
    /// browser so that they let us use their itsme signing account for `account_id`.
    pub fn service_authorization_url(
        &self,
        account_id: &str,
        state: &str,
        lang: Option<&str>,
    ) -> String {
        let token = self.account_token(account_id);
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("scope", "service"),
            ("account_token", token.as_str()),
            ("state", state),
        ];
        if let Some(l) = lang {
            pairs.push(("lang", l));
        }
        self.authorization_url(&pairs)
    }

    /// The second authorization ("dance 2", `scope=credential`): the person approves signing
    /// these hashes (1 to 70, SHA-256) with `credential_id`; the app shows `description` (at most
    /// 255 printable ISO-8859-15 characters).
    pub fn credential_authorization_url(
        &self,
        account_id: &str,
        state: &str,
        lang: Option<&str>,
        credential_id: &str,
        hashes: &[[u8; 32]],
        description: &str,
    ) -> Result<String, CscError> {
        check_hashes(hashes)?;
        rules::check_description(description).map_err(|p| CscError::Invalid(p.to_string()))?;
        if credential_id.is_empty() {
            return Err(CscError::Invalid("credential_id is empty".into()));
        }
        let token = self.account_token(account_id);
        let count = hashes.len().to_string();
        let list = hashes
            .iter()
            .map(|h| URL_SAFE_NO_PAD.encode(h))
            .collect::<Vec<_>>()
            .join(",");
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("scope", "credential"),
            ("account_token", token.as_str()),
            ("state", state),
            ("credentialID", credential_id),
            ("numSignatures", count.as_str()),
            ("hash", list.as_str()),
            ("description", description),
        ];
        if let Some(l) = lang {
            pairs.push(("lang", l));
        }
        Ok(self.authorization_url(&pairs))
    }

    /// POSTs `body` as JSON to `method` (relative to the base), with a Bearer when given; the
    /// answer's status and body (JSON when there is one).
    async fn call(
        &self,
        method: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<(reqwest::StatusCode, Option<Value>), CscError> {
        let mut request = self
            .http
            .post(format!("{}/{method}", self.api_base))
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let mut resp = request.send().await.map_err(unavailable)?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unavailable)? {
            if bytes.len() + chunk.len() > ANSWER_LIMIT {
                return Err(protocol(format!("{method}: the answer is too large")));
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(unavailable(format!("{method} answered {status}")));
        }
        let json: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if status.is_client_error() {
            let error = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str);
            return match error {
                Some(e) => Err(CscError::Refused {
                    error: e.to_string(),
                    description: json
                        .as_ref()
                        .and_then(|j| j.get("error_description"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                }),
                None => Err(protocol(format!(
                    "{method} answered {status} without a CSC error"
                ))),
            };
        }
        if !status.is_success() {
            return Err(protocol(format!("{method} answered {status}")));
        }
        Ok((status, json))
    }

    /// `call` for a method that answers a JSON object.
    async fn call_json(
        &self,
        method: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<Value, CscError> {
        match self.call(method, bearer, body).await? {
            (_, Some(v @ Value::Object(_))) => Ok(v),
            _ => Err(protocol(format!("{method} did not answer a JSON object"))),
        }
    }

    /// Redeems the code of either authorization at `oauth2/token`: a Bearer (dance 1) or a SAD
    /// (dance 2), as the answer's `token_type` says.
    pub async fn redeem(&self, code: &str) -> Result<CscToken, CscError> {
        let body = json!({
            "grant_type": "authorization_code",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
            "code": code,
            "redirect_uri": self.config.redirect_uri,
        });
        let answer = self.call_json("oauth2/token", None, &body).await?;
        let access_token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol("the token answer has no access_token"))?
            .to_string();
        let kind = match answer.get("token_type").and_then(Value::as_str) {
            Some(t) if t.eq_ignore_ascii_case("Bearer") => TokenKind::Bearer,
            Some(t) if t.eq_ignore_ascii_case("SAD") => TokenKind::Sad,
            _ => {
                return Err(protocol(
                    "the token answer's token_type is neither Bearer nor SAD",
                ));
            }
        };
        let expires_in = answer
            .get("expires_in")
            .and_then(Value::as_i64)
            .filter(|e| *e > 0)
            .ok_or_else(|| protocol("the token answer has no positive expires_in"))?;
        Ok(CscToken {
            access_token,
            kind,
            expires_in,
        })
    }

    /// The person's credential: `credentials/list` (an itsme user has exactly one), then
    /// `credentials/info` with its chain.
    pub async fn credential(&self, bearer: &str) -> Result<Credential, CscError> {
        let list = self
            .call_json(
                "credentials/list",
                Some(bearer),
                &json!({ "maxResults": 10 }),
            )
            .await?;
        let ids: Vec<&str> = list
            .get("credentialIDs")
            .and_then(Value::as_array)
            .ok_or_else(|| protocol("credentials/list has no credentialIDs"))?
            .iter()
            .map(|v| v.as_str().filter(|s| !s.is_empty()))
            .collect::<Option<_>>()
            .ok_or_else(|| protocol("credentials/list has an id that is not a string"))?;
        let [id] = ids.as_slice() else {
            return Err(protocol(format!(
                "credentials/list names {} credentials; an itsme user has exactly one",
                ids.len()
            )));
        };
        let info = self
            .call_json(
                "credentials/info",
                Some(bearer),
                &json!({ "credentialID": id, "certificates": "chain", "certInfo": false }),
            )
            .await?;
        let chain = info
            .get("cert")
            .and_then(|c| c.get("certificates"))
            .and_then(Value::as_array)
            .ok_or_else(|| protocol("credentials/info has no cert.certificates"))?
            .iter()
            .map(|c| c.as_str().and_then(|s| STANDARD.decode(s).ok()))
            .collect::<Option<Vec<_>>>()
            .filter(|c| !c.is_empty() && c.iter().all(|d| !d.is_empty()))
            .ok_or_else(|| protocol("credentials/info's certificates are not base64 DER"))?;
        Ok(Credential {
            id: (*id).to_string(),
            chain,
        })
    }

    /// `signatures/signHash`: one raw PKCS#1 v1.5 signature (sha256WithRSAEncryption) per
    /// hash, in the same order. The hashes must be those the SAD was approved for.
    pub async fn sign_hashes(
        &self,
        bearer: &str,
        credential_id: &str,
        sad: &str,
        hashes: &[[u8; 32]],
    ) -> Result<Vec<Vec<u8>>, CscError> {
        check_hashes(hashes)?;
        let body = json!({
            "credentialID": credential_id,
            "SAD": sad,
            "hash": hashes.iter().map(|h| STANDARD.encode(h)).collect::<Vec<_>>(),
            "signAlgo": rules::SIGN_ALGO_SHA256_WITH_RSA,
        });
        let answer = self
            .call_json("signatures/signHash", Some(bearer), &body)
            .await?;
        let signatures = answer
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| protocol("signHash has no signatures"))?
            .iter()
            .map(|s| s.as_str().and_then(|s| STANDARD.decode(s).ok()))
            .collect::<Option<Vec<_>>>()
            .filter(|s| s.iter().all(|x| !x.is_empty()))
            .ok_or_else(|| protocol("signHash's signatures are not base64"))?;
        if signatures.len() != hashes.len() {
            return Err(protocol(format!(
                "signHash answered {} signatures for {} hashes",
                signatures.len(),
                hashes.len()
            )));
        }
        Ok(signatures)
    }

    /// `auth/revoke`: ends the Bearer (and with it the session; itsme answers 204).
    pub async fn revoke(&self, bearer: &str) -> Result<(), CscError> {
        let body = json!({ "token": bearer, "token_type_hint": "access_token" });
        self.call("auth/revoke", Some(bearer), &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> CscClient {
        CscClient::new(CscConfig {
            base_url: "https://sign.test/csc/v1/".into(),
            client_id: "partner".into(),
            client_secret: "s3cret".into(),
            redirect_uri: "https://broker.test/csc/callback".into(),
            sca_name: Some("Passerelle".into()),
        })
        .expect("client")
        .with_clock(Arc::new(|| 1_795_000_000))
    }

    fn query(url: &str) -> std::collections::HashMap<String, String> {
        url::Url::parse(url)
            .expect("url")
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[test]
    fn the_account_token_is_keyed_with_the_sha256_of_the_secret() {
        let c = client();
        let url = c.service_authorization_url("account-1", "st", Some("FR"));
        assert!(url.starts_with("https://sign.test/csc/v1/oauth2/authorize?"));
        let q = query(&url);
        assert_eq!(q["scope"], "service");
        assert_eq!(q["lang"], "FR");
        let token = &q["account_token"];
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(claims["sub"], "account-1");
        assert_eq!(claims["azp"], "partner");
        assert_eq!(claims["iss"], "Passerelle");
        assert_eq!(claims["iat"], 1_795_000_000);
        let mut mac = Hmac::<Sha256>::new_from_slice(&Sha256::digest(b"s3cret")).expect("hmac key");
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("b64"))
            .expect("signature");
        let other = query(&c.service_authorization_url("account-1", "st", None));
        assert_ne!(other["account_token"], *token, "a fresh jti each time");
    }

    #[test]
    fn a_credential_authorization_carries_its_hashes_and_checks_the_limits() {
        let c = client();
        let hashes = [[1u8; 32], [2u8; 32]];
        let url = c
            .credential_authorization_url("a", "s", None, "cred", &hashes, "Contrat - 2 pages")
            .expect("url");
        let q = query(&url);
        assert_eq!(q["numSignatures"], "2");
        assert_eq!(q["credentialID"], "cred");
        let listed: Vec<[u8; 32]> = q["hash"]
            .split(',')
            .map(|h| rules::decode_hash(h).expect("hash"))
            .collect();
        assert_eq!(listed, hashes);
        for (hashes, description) in [
            (vec![[0u8; 32]; 71], "ok"),
            (vec![], "ok"),
            (vec![[0u8; 32]], "l’acte"),
        ] {
            assert!(matches!(
                c.credential_authorization_url("a", "s", None, "cred", &hashes, description),
                Err(CscError::Invalid(_))
            ));
        }
        assert!(matches!(
            c.credential_authorization_url("a", "s", None, "cred", &[[0u8; 32]], &"x".repeat(256)),
            Err(CscError::Invalid(_))
        ));
    }

    #[test]
    fn a_secret_stays_out_of_debug() {
        let c = client();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
