//! itsme's decoupled API (CIBA), as a client of the scheme (`shared/reference/
//! signing-and-channels.md` §4.2): the backchannel authentication request — a signed JWT in
//! `request`, naming the person with a `login_hint_token`, with a private_key_jwt assertion —
//! and the polls of the token endpoint with the CIBA grant, whose errors carry `detail`.
//! Also the one outbound call of the broker's own CIBA: the ping to a client's notification
//! endpoint.

use passerelle_core::login::Acr;
use std::time::Duration;

use passerelle_core::scopes::GrantedScopes;
use passerelle_jose::Claims;
use serde_json::{Value, json};

use super::{Connector, ConnectorError, SchemeIdentity, protocol, unavailable, unavailable_status};
use crate::claims;
use crate::metrics::UpstreamEndpoint;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
use crate::claims::CIBA_GRANT;

/// Who the scheme should ask: the `login_hint_token` of itsme's backchannel request, a JWT
/// `{"type": …, "value": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginHintToken {
    /// A person the scheme already gave Passerelle a subject for (`subject_code`).
    SubjectCode(String),
    /// The single-use token of a user discovery session (`user_identifier_token`).
    UserIdentifierToken(String),
    /// A phone number (`phone_number`): the sandbox's extension, for
    /// [`super::ConnectorConfig::phone_login_hints`].
    PhoneNumber(String),
}

impl LoginHintToken {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            LoginHintToken::SubjectCode(v) => ("subject_code", v),
            LoginHintToken::UserIdentifierToken(v) => ("user_identifier_token", v),
            LoginHintToken::PhoneNumber(v) => ("phone_number", v),
        }
    }
}

/// What the broker asks of the scheme in a backchannel request.
#[derive(Debug, Clone)]
pub struct BackchannelRequest<'a> {
    pub scopes: &'a GrantedScopes,
    pub hint: &'a LoginHintToken,
    pub binding_message: Option<&'a str>,
    pub requested_expiry: Option<i64>,
    pub client_name: &'a str,
}

/// The scheme accepted a backchannel request.
#[derive(Debug, Clone)]
pub struct BackchannelStarted {
    /// The scheme's `auth_req_id`, to poll with.
    pub auth_req_id: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// The scheme refused a backchannel request with a CIBA error (`unknown_user_id`,
/// `access_denied`, `invalid_request`, …); `detail` is its description, cleaned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeRefusal {
    pub error: String,
    pub detail: String,
}

/// What one poll of the scheme's token endpoint said.
#[derive(Debug)]
pub enum DecoupledResult {
    /// `authorization_pending`: the person has not answered yet.
    Pending,
    /// `slow_down`, or a 429: poll 5 s less often.
    SlowDown,
    /// `access_denied`: the person refused, timed out or is blocked.
    Denied(String),
    /// `expired_token`: the scheme's request ran out of time.
    Expired,
    /// `invalid_grant`: the scheme no longer knows the request (already redeemed by a racing
    /// poll, or gone); nothing can be concluded from it.
    Lost,
    /// The person approved: the verified identity.
    Identity(SchemeIdentity),
}

/// A user discovery session waiting for a person to scan its QR code with the app.
#[derive(Debug, Clone)]
pub struct UserDiscovery {
    pub id: String,
    /// The QR code to show, as the scheme sent it (a base64 image; it changes at every poll).
    pub qr_code: String,
    /// Until when this QR code can be scanned (RFC 3339, as the scheme wrote it).
    pub qr_expires_at: String,
    /// The link the QR code holds, when the scheme says it (the sandbox does, as
    /// `sandbox_scan_url`; itsme does not): what a phone opens instead of scanning.
    pub link: Option<String>,
}

/// What one poll of a user discovery session said.
#[derive(Debug, Clone)]
pub enum DiscoveryPoll {
    /// Nobody scanned yet: show this (new) QR code.
    Pending(UserDiscovery),
    /// A person scanned it: their single-use token, for a backchannel request's
    /// [`LoginHintToken::UserIdentifierToken`].
    Discovered { user_identifier_token: String },
    /// Polled too fast (429): 5 s more between polls.
    SlowDown,
    /// The session is over (the scheme answers 400 after 15 minutes).
    Expired,
}

/// Reads a pending session's answer.
fn pending_of(body: &Value) -> Result<UserDiscovery, ConnectorError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let token = body.get("user_discovery_token");
    Ok(UserDiscovery {
        id: text(body.get("user_discovery_session_id"))
            .filter(|i| !i.is_empty() && i.len() <= 256)
            .ok_or_else(|| protocol("the user discovery answer has no session id"))?,
        qr_code: text(token.and_then(|t| t.get("qr_code")))
            .ok_or_else(|| protocol("the user discovery answer has no qr_code"))?,
        qr_expires_at: text(token.and_then(|t| t.get("expires_at"))).unwrap_or_default(),
        link: text(body.get("sandbox_scan_url"))
            .filter(|l| l.len() <= 2048 && (l.starts_with("https://") || l.starts_with("http://"))),
    })
}

/// Keeps a description from the scheme printable and short.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| (' '..='~').contains(c))
        .take(200)
        .collect()
}

/// The error and description of a scheme's error body (itsme says `detail`, OAuth says
/// `error_description`; either is read).
fn error_of(body: &Value) -> (String, String) {
    let error = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let detail = body
        .get("detail")
        .or_else(|| body.get("error_description"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    (clean(error), clean(detail))
}

impl Connector {
    /// A private_key_jwt client assertion for `aud` (RFC 7523 §3).
    pub(super) async fn assertion(
        &self,
        aud: &str,
        now: i64,
        jti: &str,
    ) -> Result<String, ConnectorError> {
        let mut a = Claims::new();
        a.insert("iss".into(), json!(self.config.client_id));
        a.insert("sub".into(), json!(self.config.client_id));
        a.insert("aud".into(), json!(aud));
        a.insert("jti".into(), json!(jti));
        a.insert("iat".into(), json!(now));
        a.insert("exp".into(), json!(now + 60));
        self.signer(now)
            .await?
            .sign(&a, Some("JWT"))
            .map_err(protocol)
    }

    /// Whether this connector may name a person by phone number (the sandbox only).
    pub fn takes_phone_numbers(&self) -> bool {
        self.config.phone_login_hints
    }

    /// Sends a backchannel authentication request to the scheme (itsme `POST
    /// /v2/backchannel/authentication`): a signed `request` JWT and a client assertion; no
    /// plain parameters. `Ok(Err(refusal))` is the scheme's CIBA error, for the client.
    pub async fn backchannel_authentication(
        &self,
        req: &BackchannelRequest<'_>,
        now: i64,
        jti: &str,
    ) -> Result<Result<BackchannelStarted, SchemeRefusal>, ConnectorError> {
        let endpoints = self.endpoints().await?;
        let url = endpoints
            .backchannel
            .as_deref()
            .ok_or_else(|| protocol("the scheme has no backchannel authentication endpoint"))?;
        let (kind, value) = req.hint.parts();
        let mut hint = Claims::new();
        hint.insert("type".into(), json!(kind));
        hint.insert("value".into(), json!(value));
        let signer = self.signer(now).await?;
        let hint = signer.sign(&hint, Some("JWT")).map_err(protocol)?;
        let service = req.scopes.service();
        let wanted = claims::itsme_claims_for(req.scopes);
        let mut object = Claims::new();
        let mut put = |k: &str, v: Value| {
            object.insert(k.to_string(), v);
        };
        put("iss", json!(self.config.client_id));
        put("aud", json!(self.config.issuer));
        put("iat", json!(now));
        put("nbf", json!(now));
        put("exp", json!(now + 300));
        put("jti", json!(format!("{jti}.r")));
        put("client_id", json!(self.config.client_id));
        put(
            "scope",
            json!(format!("openid service:{}", self.service_code(service))),
        );
        put(
            "claims",
            claims::claims_request(
                &wanted,
                self.config.claims_delivery == super::ClaimsDelivery::IdToken,
            ),
        );
        put("acr_values", json!(claims::uri::ACR_ADVANCED));
        put("login_hint_token", json!(hint));
        if let Some(m) = req.binding_message {
            put("binding_message", json!(m));
        }
        if let Some(e) = req.requested_expiry {
            put("requested_expiry", json!(e));
        }
        if self.config.send_client_name {
            put("passerelle_client_name", json!(req.client_name));
        }
        let request = signer.sign(&object, Some("JWT")).map_err(protocol)?;
        let assertion = self.assertion(&endpoints.token_audience, now, jti).await?;
        let resp = self
            .http
            .post(url)
            .form(&[
                ("request", request.as_str()),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ])
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
        if unavailable_status(status) {
            return Err(unavailable(format!(
                "the backchannel endpoint answered {status}"
            )));
        }
        if !status.is_success() {
            let (error, detail) = error_of(&body);
            return Ok(Err(SchemeRefusal { error, detail }));
        }
        let auth_req_id = body
            .get("auth_req_id")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty() && a.len() <= 512)
            .ok_or_else(|| protocol("the backchannel answer has no auth_req_id"))?;
        let expires_in = body
            .get("expires_in")
            .and_then(Value::as_i64)
            .filter(|e| *e > 0)
            .ok_or_else(|| protocol("the backchannel answer has no positive expires_in"))?;
        // CIBA §7.3: 5 s when the scheme does not say.
        let interval = body
            .get("interval")
            .and_then(Value::as_i64)
            .unwrap_or(5)
            .clamp(1, 60);
        Ok(Ok(BackchannelStarted {
            auth_req_id: auth_req_id.to_string(),
            expires_in,
            interval,
        }))
    }

    /// The user discovery endpoint, or a protocol error when the scheme has none.
    async fn discovery_url(&self) -> Result<(String, String), ConnectorError> {
        let endpoints = self.endpoints().await?;
        let url = endpoints
            .user_discovery
            .clone()
            .ok_or_else(|| protocol("the scheme has no user discovery endpoint"))?;
        Ok((url, endpoints.token_audience.clone()))
    }

    /// A private_key_jwt POST to the user discovery API; the status and the JSON body.
    async fn discovery_post(
        &self,
        url: &str,
        aud: &str,
        now: i64,
        jti: &str,
    ) -> Result<(reqwest::StatusCode, Value), ConnectorError> {
        let assertion = self.assertion(aud, now, jti).await?;
        let resp = self
            .http
            .post(url)
            .form(&[
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(unavailable)?;
        let status = resp.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok((status, Value::Null));
        }
        let body: Value = resp.json().await.map_err(|e| {
            if unavailable_status(status) {
                unavailable(e)
            } else {
                protocol(e)
            }
        })?;
        if unavailable_status(status) {
            return Err(unavailable(format!(
                "the user discovery endpoint answered {status}"
            )));
        }
        Ok((status, body))
    }

    /// Opens a user discovery session at the scheme (itsme `POST /v2/user_discovery_sessions`):
    /// its QR code is shown to the person, who scans it with the app.
    pub async fn start_user_discovery(
        &self,
        now: i64,
        jti: &str,
    ) -> Result<UserDiscovery, ConnectorError> {
        let (url, aud) = self.discovery_url().await?;
        let (status, body) = self.discovery_post(&url, &aud, now, jti).await?;
        if !status.is_success() {
            let (error, _) = error_of(&body);
            return Err(protocol(format!(
                "the user discovery endpoint answered {status} {error}"
            )));
        }
        pending_of(&body)
    }

    /// Polls a user discovery session once (itsme `POST /v2/user_discovery_sessions/{id}`).
    pub async fn poll_user_discovery(
        &self,
        id: &str,
        now: i64,
        jti: &str,
    ) -> Result<DiscoveryPoll, ConnectorError> {
        let (url, aud) = self.discovery_url().await?;
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(protocol("a user discovery session id must be URL-safe"));
        }
        let (status, body) = self
            .discovery_post(&format!("{url}/{id}"), &aud, now, jti)
            .await?;
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(DiscoveryPoll::SlowDown);
        }
        if !status.is_success() {
            return Ok(DiscoveryPoll::Expired);
        }
        match body.get("status").and_then(Value::as_str) {
            Some("PENDING_USER_DISCOVERY") => Ok(DiscoveryPoll::Pending(pending_of(&body)?)),
            Some("USER_DISCOVERED") => Ok(DiscoveryPoll::Discovered {
                user_identifier_token: body
                    .get("user_identifier_token")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| protocol("USER_DISCOVERED without a user_identifier_token"))?
                    .to_string(),
            }),
            _ => Err(protocol("the user discovery answer has an unknown status")),
        }
    }

    /// Polls the scheme's token endpoint once with the CIBA grant for `auth_req_id`.
    pub async fn poll_decoupled(
        &self,
        auth_req_id: &str,
        now: i64,
        jti: &str,
    ) -> Result<DecoupledResult, ConnectorError> {
        let endpoints = self.endpoints().await?;
        let assertion = self.assertion(&endpoints.token_audience, now, jti).await?;
        let polled = async {
            let resp = self
                .http
                .post(&endpoints.token)
                .form(&[
                    ("grant_type", CIBA_GRANT),
                    ("auth_req_id", auth_req_id),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .map_err(unavailable)?;
            let status = resp.status();
            // itsme answers a poll that came too soon with 429.
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Ok(Err(DecoupledResult::SlowDown));
            }
            let body: Value = resp.json().await.map_err(|e| {
                if unavailable_status(status) {
                    unavailable(e)
                } else {
                    protocol(e)
                }
            })?;
            if unavailable_status(status) {
                return Err(unavailable(format!("token endpoint answered {status}")));
            }
            if !status.is_success() {
                let (error, detail) = error_of(&body);
                return Ok(Err(match error.as_str() {
                    "authorization_pending" => DecoupledResult::Pending,
                    "slow_down" => DecoupledResult::SlowDown,
                    "access_denied" => DecoupledResult::Denied(detail),
                    "expired_token" => DecoupledResult::Expired,
                    "invalid_grant" => DecoupledResult::Lost,
                    other => {
                        return Err(protocol(format!(
                            "token endpoint answered {status} {other}"
                        )));
                    }
                }));
            }
            self.tokens_from(&body, None, now).await.map(Ok)
        }
        .await;
        self.config
            .counters
            .of(UpstreamEndpoint::Token)
            .count(&polled);
        match polled? {
            Err(not_yet) => Ok(not_yet),
            Ok(tokens) => Ok(DecoupledResult::Identity(
                // A decoupled request always demands the itsme code (acr_advanced, above).
                self.identity_from(&endpoints.userinfo, tokens, Acr::Advanced, now)
                    .await?,
            )),
        }
    }
}

/// Tells a ping-mode client that its backchannel login ended (CIBA Core §10.2): `POST` of
/// `{"auth_req_id": …}` with its `client_notification_token` as bearer. Best effort: 5 s at
/// most, no redirects followed; the error says what went wrong, never the token.
pub async fn notify_client(endpoint: &str, bearer: &str, auth_req_id: &str) -> Result<(), String> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let http = match CLIENT.get() {
        Some(c) => c,
        None => {
            let c = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(3))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            CLIENT.get_or_init(|| c)
        }
    };
    let resp = http
        .post(endpoint)
        .bearer_auth(bearer)
        .json(&json!({ "auth_req_id": auth_req_id }))
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "the notification endpoint did not answer within 5 s".to_string()
            } else {
                "the notification endpoint could not be reached".to_string()
            }
        })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the notification endpoint answered {}",
            resp.status()
        ))
    }
}
