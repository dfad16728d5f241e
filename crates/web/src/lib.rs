//! The broker: the OpenID Provider relying parties talk to, shaped like Signicat's eID Hub
//! (issuer `<base>/auth/open`, endpoints under `/auth/open/connect/`).
//!
//! It validates authorization requests, starts a login at the itsme scheme through the
//! connector, takes the scheme's answer at its callback, and hands out its own codes, ID tokens,
//! access tokens and userinfo. It holds no flow state in memory: every step reads and writes the
//! store, so any node can serve any step and a restart loses nothing.

// Errors are the cold path and carry what the response needs (a translator, a redirect
// target); boxing them would only add allocations.
#![allow(clippy::result_large_err)]
// The discovery document is one `json!` literal with more members than its default limit allows.
#![recursion_limit = "256"]

mod authorize;
mod callback;
pub mod ciba;
mod client_auth;
pub mod clients;
mod discovery;
mod dpop;
mod error;
mod formats;
mod introspection;
pub mod keys;
mod logout;
mod metrics;
mod pages;
mod par;
mod refresh;
pub mod registration;
mod request_object;
mod rest;
mod revocation;
pub mod signing;
mod token;
mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use hmac::{Hmac, Mac};
use passerelle_core::login::Scheme;
use passerelle_core::scopes::Account;
use passerelle_itsme::Connector;
use passerelle_store::{Clock, Store};
use sha2::Sha256;

pub use error::BrokerError;
pub use keys::OpKeys;
pub use metrics::{LatencyLayer, Metrics};
pub use rest::router as rest_router;
pub use signing::router as signing_router;

/// Lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// A login from the RP's request to the scheme's answer (the app waits up to 120 s).
    pub login: i64,
    /// Authorization codes (OIDC conformance expects a code to be dead after 60 s).
    pub code: i64,
    /// Access tokens, and the attributes userinfo returns with them.
    pub access_token: i64,
    pub id_token: i64,
    /// Each refresh token, from its issue (OIDC Core §12; Signicat's default is a day). Every
    /// use rotates it, so this is how long a client may stay idle.
    pub refresh_token: i64,
    /// A refresh-token family from the login that started it: no rotation extends it, and the
    /// person's claims kept for it go at its end.
    pub refresh_family: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            login: 900,
            code: 60,
            access_token: 600,
            id_token: 600,
            refresh_token: 86_400,
            refresh_family: 30 * 86_400,
        }
    }
}

/// Who answers production clients. Sandbox clients are always answered by the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// A real itsme environment is configured: production clients log in with itsme.
    Itsme,
    /// No real itsme is configured: production clients are refused (fail closed).
    SandboxOnly,
    /// No real itsme is configured and the operator allowed, for a test deployment, production
    /// clients to be answered by the sandbox (`serve_production_clients_in_test_deployment`).
    TestDeployment,
}

impl Deployment {
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Itsme => "itsme",
            Deployment::SandboxOnly => "sandbox-only",
            Deployment::TestDeployment => "test-deployment",
        }
    }
}

/// Everything the broker's handlers share.
#[derive(Debug)]
pub struct Broker {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// `<public base>/auth/open`.
    pub issuer: String,
    pub keys: OpKeys,
    /// HMAC key for pairwise subjects.
    pub pairwise_secret: Vec<u8>,
    /// HMAC key for the audit trail's subject hashes.
    pub audit_secret: Vec<u8>,
    /// Where events that belong to no transaction go.
    pub audit: passerelle_store::AuditQueue,
    /// The connector to the scheme sandbox (embedded default).
    pub sandbox_connector: Arc<Connector>,
    /// The connector to a real itsme environment, when one is configured.
    pub production_connector: Option<Arc<Connector>>,
    /// Who answers production clients; consistent with `production_connector`.
    pub deployment: Deployment,
    /// Keys of private_key_jwt clients registered with a `jwks_uri`.
    pub client_jwks: passerelle_itsme::JwksCache,
    /// Mark cookies `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Counters and histograms for `/metrics` (this application's own recorder).
    pub metrics: Arc<Metrics>,
    /// Rate limits per source address and per client (shared with the sandbox).
    pub limits: Arc<passerelle_limits::Limits>,
    pub lifetimes: Lifetimes,
    /// Whether clients may register themselves with an initial access token (RFC 7591): the
    /// endpoint exists and discovery names it only then.
    pub registration: bool,
    /// The signing API's settings (`<base>/sign`).
    pub signing: signing::Signing,
}

impl Broker {
    /// Reloads the keyring from the database if its last load is older than
    /// [`keys::RELOAD_INTERVAL`] by the clock: at most one database read per interval and node,
    /// never one per signature. A failed reload keeps the keys loaded before (logged).
    pub async fn refresh_keys(&self, now: i64) {
        if let Err(e) = self.keys.ring.refresh_if_stale(now).await {
            tracing::warn!(error = %e, "the keys could not be reloaded; the loaded ones stay in use");
        }
    }

    /// The claims of an ID token this broker signed (an `id_token_hint`, OIDC Core §3.1.2.1),
    /// expired or not: a hint only names a person and a login. Any key still published counts;
    /// a `kid` this node has not loaded yet reloads its keys once (another node may have
    /// rotated). `None` when it is anything else. Which client it was for is the caller's to
    /// check (`aud`).
    pub(crate) async fn hinted_claims(
        &self,
        token: &str,
        now: i64,
    ) -> Option<passerelle_jose::Claims> {
        let accepted = [
            passerelle_jose::SigAlg::Rs256,
            passerelle_jose::SigAlg::Ps256,
            passerelle_jose::SigAlg::Es256,
        ];
        let claims = match self.keys.public_keys().verify(token, &accepted) {
            Err(passerelle_jose::JoseError::UnknownKey(_)) => {
                let _ = self.keys.ring.refresh_after_miss(now).await;
                self.keys.public_keys().verify(token, &accepted)
            }
            other => other,
        }
        .ok()?;
        let iat = claims.get("iat").and_then(serde_json::Value::as_i64)?;
        (claims.get("iss").and_then(serde_json::Value::as_str) == Some(self.issuer.as_str())
            && iat <= now + 60)
            .then_some(claims)
    }

    /// The subject of an `id_token_hint` for `client_id` (OIDC Core §3.1.2.1, CIBA Core §7.1).
    pub(crate) async fn hinted_subject(
        &self,
        client_id: &str,
        token: &str,
        now: i64,
    ) -> Option<String> {
        let claims = self.hinted_claims(token, now).await?;
        if !passerelle_jose::audience_is_only(&claims, client_id) {
            return None;
        }
        claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 255)
            .map(str::to_string)
    }

    /// The pairwise subject of a person towards a client (OIDC Core §8.1), derived from the
    /// scheme's subject so it is the same across services and logins, and different per client.
    /// HMAC takes keys of any length, so this cannot fail; if it ever did, no subject is made.
    pub fn pairwise_sub(&self, client_id: &str, scheme_sub: &str) -> Result<String, BrokerError> {
        use base64::Engine as _;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.pairwise_secret).map_err(BrokerError::internal)?;
        mac.update(b"sub");
        mac.update(&[0]);
        mac.update(client_id.as_bytes());
        mac.update(&[0]);
        mac.update(scheme_sub.as_bytes());
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The audit trail's stand-in for a person known to a client by `sub`.
    pub(crate) fn audit_subject(&self, sub: &str) -> Option<String> {
        passerelle_store::audit_subject(&self.audit_secret, "sub", sub)
    }

    /// Records an audit event through the queue (see `AuditQueue`); a failure to record is
    /// logged, never shown to the person.
    pub(crate) async fn audit(&self, event: passerelle_store::AuditEvent) {
        self.audit.push(event).await;
    }

    /// The connector of a scheme a login was started with; `None` for the real itsme when it is
    /// not (or no longer) configured, so that nothing falls back to the sandbox.
    fn connector_for(&self, scheme: Scheme) -> Option<&Arc<Connector>> {
        match scheme {
            Scheme::Sandbox => Some(&self.sandbox_connector),
            Scheme::Production => self.production_connector.as_ref(),
        }
    }

    /// Which scheme answers a client of this account, or `None` when this deployment must refuse
    /// it: a production client while no real itsme is configured, unless the operator allowed the
    /// sandbox to answer it in a test deployment. Fails closed.
    /// The base of the Authentication REST API: `<public URL>/auth/rest`, beside the issuer.
    fn rest_base(&self) -> String {
        match self.issuer.strip_suffix("/auth/open") {
            Some(base) => format!("{base}/auth/rest"),
            None => format!("{}/../rest", self.issuer),
        }
    }

    fn scheme_for_account(&self, account: Account) -> Option<Scheme> {
        match (account, self.deployment) {
            (Account::Sandbox, _) => Some(Scheme::Sandbox),
            (Account::Production, Deployment::Itsme) if self.production_connector.is_some() => {
                Some(Scheme::Production)
            }
            (Account::Production, Deployment::TestDeployment) => Some(Scheme::Sandbox),
            (Account::Production, _) => None,
        }
    }

    /// Whether Passerelle runs on a developer's machine: its issuer is a loopback address.
    pub fn is_local(&self) -> bool {
        url::Url::parse(&self.issuer).is_ok_and(|u| match u.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        })
    }

    /// Whether this deployment, as it is now, still lets `scheme` answer for a client of
    /// `account` (a login, code or token that began under another rule gets nothing).
    fn still_serves(&self, account: Account, scheme: Scheme) -> bool {
        self.scheme_for_account(account) == Some(scheme)
    }
}

/// The broker's routes, relative to the issuer path (mount them under `/auth/open`).
pub fn router(broker: Arc<Broker>) -> Router {
    // The pages a person's browser opens: an unavailable database is a page there, not JSON.
    let pages = Router::new()
        .route(
            "/connect/authorize",
            get(authorize::get).post(authorize::post),
        )
        .route("/connect/itsme/callback", get(callback::callback))
        .route("/connect/endsession", get(logout::get).post(logout::post))
        .route_layer(axum::middleware::from_fn_with_state(
            error::unavailable_page as passerelle_limits::later::UnavailablePage,
            passerelle_limits::later::unavailable_as_page,
        ));
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::configuration),
        )
        .route(
            "/.well-known/openid-configuration/jwks",
            get(discovery::jwks),
        )
        .route("/connect/token", axum::routing::post(token::token))
        .route("/connect/par", axum::routing::post(par::par))
        .route("/connect/ciba", axum::routing::post(ciba::backchannel))
        .route(
            "/connect/revocation",
            axum::routing::post(revocation::revocation),
        )
        .route(
            "/connect/introspect",
            axum::routing::post(introspection::introspect),
        )
        .route(
            "/connect/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/connect/itsme/jwks", get(discovery::connector_jwks))
        .merge(pages);
    let router = if broker.registration {
        router
            .route(
                "/connect/register",
                axum::routing::post(registration::register),
            )
            .route(
                "/connect/register/{client_id}",
                get(registration::read)
                    .put(registration::replace)
                    .delete(registration::delete),
            )
    } else {
        router
    };
    router.with_state(broker)
}
