//! Assembles Passerelle: store, keys, the scheme sandbox, the connectors and the broker, behind
//! one router; and serves it on a listener the caller has bound, until a shutdown future fires.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use passerelle_core::scopes::Service;
use passerelle_itsme::{ClaimsDelivery, Connector, ConnectorConfig, Endpoints};
use passerelle_jose::keyring::{KeyMaterial, KeySource, KeyTimes, KeyVersion, Keyring};
use passerelle_jose::{DecryptionKey, EncAlg, SigAlg, SigningKey};
use passerelle_limits::{ClientIp, LimitSettings, Limits};
use passerelle_sandbox::{Personas, Sandbox, SandboxClient};
use passerelle_store::{Clock, Store};
use passerelle_web::keys::{KeyUse, PURPOSES, Purpose};
use passerelle_web::{Broker, Deployment, Lifetimes, Metrics, OpKeys};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Config, ItsmeConfig, Secret};

/// The OpenAPI 3.1 description of every JSON endpoint, written by hand; `tests/openapi.rs` keeps
/// it true. Served at `/openapi.json` by [`openapi_document`].
pub const OPENAPI: &str = include_str!("../openapi.json");

/// The sandbox's client id for the embedded connector, and its service codes.
pub const EMBEDDED_CLIENT_ID: &str = "passerelle";
pub const SERVICE_AUTHENTICATION: &str = "PASSERELLE_AUTH";
pub const SERVICE_IDENTIFICATION: &str = "PASSERELLE_IDENT";

/// What [`build`] needs; [`Settings::from_config`] makes it from the layered configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub public_url: Option<url::Url>,
    /// The personas file's text; `None` for the built-in personas.
    pub personas: Option<String>,
    pub app_timeout_seconds: i64,
    /// How long three wrong codes block a sandbox account (0: until unblocked).
    pub account_block_seconds: i64,
    /// Requests per minute per source address and per client (0: off).
    pub rate_limits: LimitSettings,
    /// The header a trusted proxy puts the client's address in (`X-Forwarded-For`); `None`:
    /// the TCP peer.
    pub client_ip_header: Option<String>,
    /// How long audit events are kept.
    pub audit_retention_days: i64,
    pub sandbox_claims_delivery: ClaimsDelivery,
    pub itsme: Option<ItsmeConfig>,
    /// Let the sandbox answer production clients while no real itsme is configured (a test
    /// deployment only; refused by the configuration when `itsme` is set).
    pub serve_production_clients_in_test_deployment: bool,
    pub lifetimes: Lifetimes,
    /// The bearer token that opens `/metrics` on the main listener; `None`: 404 there.
    pub metrics_token: Option<Secret>,
    pub signing: SigningSettings,
    /// Dynamic client registration (RFC 7591) with operator-issued initial access tokens.
    pub registration: bool,
}

/// The signing API's settings, files read.
#[derive(Debug, Clone)]
pub struct SigningSettings {
    pub max_document_bytes: usize,
    pub document_lifetime: i64,
    pub retention_after_download: i64,
    /// The TSA for production clients.
    pub tsa_url: Option<String>,
    /// The operator's sealing key for production clients.
    pub seal: Option<passerelle_web::signing::KeyAndChain>,
}

impl Default for SigningSettings {
    fn default() -> Self {
        SigningSettings {
            max_document_bytes: 10 * 1024 * 1024,
            document_lifetime: 7 * 86_400,
            retention_after_download: 600,
            tsa_url: None,
            seal: None,
        }
    }
}

/// The DER blocks of a PEM file with the given label (`CERTIFICATE`, `PRIVATE KEY`).
fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let (begin, end) = (
        format!("-----BEGIN {label}-----"),
        format!("-----END {label}-----"),
    );
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&begin) {
        let after = &rest[i + begin.len()..];
        let Some(j) = after.find(&end) else { break };
        let b64: String = after[..j].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[j + end.len()..];
    }
    out
}

impl SigningSettings {
    fn from_file(f: &crate::config::SigningFile) -> anyhow::Result<SigningSettings> {
        let d = SigningSettings::default();
        let seal = match (&f.seal_key_file, &f.seal_chain_file) {
            (Some(k), Some(c)) => {
                let key = std::fs::read_to_string(k)
                    .with_context(|| format!("cannot read {}", k.display()))?;
                let chain = std::fs::read_to_string(c)
                    .with_context(|| format!("cannot read {}", c.display()))?;
                let key_pkcs8 = pem_blocks(&key, "PRIVATE KEY")
                    .into_iter()
                    .next()
                    .with_context(|| format!("{} holds no PKCS#8 PRIVATE KEY", k.display()))?;
                let chain = pem_blocks(&chain, "CERTIFICATE");
                if chain.is_empty() {
                    anyhow::bail!("{} holds no CERTIFICATE", c.display());
                }
                Some(passerelle_web::signing::KeyAndChain { key_pkcs8, chain })
            }
            _ => None,
        };
        Ok(SigningSettings {
            max_document_bytes: f.max_document_bytes.unwrap_or(d.max_document_bytes),
            document_lifetime: f.document_lifetime_seconds.unwrap_or(d.document_lifetime),
            retention_after_download: f
                .retention_after_download_seconds
                .unwrap_or(d.retention_after_download),
            tsa_url: f.tsa_url.clone(),
            seal,
        })
    }
}

impl Settings {
    pub fn from_config(c: &Config) -> anyhow::Result<Settings> {
        let personas = match &c.personas {
            None => None,
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the personas file {}", p.display()))?,
            ),
        };
        Ok(Settings {
            database_url: c.database_url.clone(),
            public_url: c.public_url.clone(),
            personas,
            app_timeout_seconds: c.app_timeout_seconds,
            account_block_seconds: c.account_block_seconds,
            rate_limits: c.rate_limits,
            client_ip_header: c.client_ip_header.clone(),
            audit_retention_days: c.audit_retention_days,
            sandbox_claims_delivery: c.sandbox_claims_delivery,
            itsme: c.itsme.clone(),
            serve_production_clients_in_test_deployment: c
                .serve_production_clients_in_test_deployment,
            lifetimes: c.lifetimes,
            metrics_token: c.metrics_token.clone(),
            signing: SigningSettings::from_file(&c.signing)?,
            registration: c.registration_enabled,
        })
    }
}

/// Connects to the database and applies the migrations.
pub async fn open_store(database_url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(database_url)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// Today's date as `YYYY-MM-DD` (for the personas' age check).
pub fn today(clock: &dyn Clock) -> String {
    time::OffsetDateTime::from_unix_timestamp(clock.now())
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "2026-01-01".into())
}

/// Loads the personas: the operator's file or the built-in one.
pub fn load_personas(text: Option<&str>, clock: &dyn Clock) -> anyhow::Result<Personas> {
    Personas::parse(
        text.unwrap_or(passerelle_sandbox::personas::BUILTIN),
        &today(clock),
    )
    .map_err(|e| anyhow::anyhow!("the sandbox personas are not valid:\n{e}"))
}

pub(crate) async fn signing_key(
    store: &Store,
    purpose: &str,
    alg: SigAlg,
    now: i64,
) -> anyhow::Result<SigningKey> {
    let (_, material) = store
        .find_or_insert_key(purpose, now, || {
            SigningKey::generate(alg)
                .map(|(k, private)| (k.kid().to_string(), private))
                .map_err(|e| e.to_string())
        })
        .await?;
    SigningKey::from_private_jwk(&material).with_context(|| format!("stored key {purpose}"))
}

pub(crate) async fn decryption_key(
    store: &Store,
    purpose: &str,
    now: i64,
) -> anyhow::Result<DecryptionKey> {
    let (_, material) = store
        .find_or_insert_key(purpose, now, || {
            DecryptionKey::generate()
                .map(|(k, private)| (k.kid().to_string(), private))
                .map_err(|e| e.to_string())
        })
        .await?;
    DecryptionKey::from_private_jwk(&material).with_context(|| format!("stored key {purpose}"))
}

/// Reads the rotating keys ([`passerelle_web::keys::PURPOSES`]) from the database, parsing each
/// generation once and keeping it parsed across reloads.
#[derive(Debug)]
struct StoredKeys {
    store: Store,
    parsed: std::sync::Mutex<std::collections::HashMap<(String, i64), KeyMaterial>>,
}

impl StoredKeys {
    async fn load_versions(&self) -> Result<Vec<KeyVersion>, String> {
        let names: Vec<&str> = PURPOSES.iter().map(|p| p.name).collect();
        let rows = self
            .store
            .list_keys(&names)
            .await
            .map_err(|e| e.to_string())?;
        let mut parsed = self
            .parsed
            .lock()
            .map_err(|_| "the parsed keys' lock is poisoned".to_string())?;
        let mut versions = Vec::with_capacity(rows.len());
        // In the order of PURPOSES, which is the order of the JWKS.
        let mut rows = rows;
        rows.sort_by_key(|r| {
            PURPOSES
                .iter()
                .position(|p| p.name == r.purpose)
                .unwrap_or(usize::MAX)
        });
        for row in rows {
            let Some(p) = passerelle_web::keys::purpose(&row.purpose) else {
                continue;
            };
            let id = (row.purpose.clone(), row.generation);
            let key = match parsed.get(&id) {
                Some(k) => k.clone(),
                None => {
                    let k = parse_key(p, &row.material).map_err(|e| {
                        format!(
                            "stored key {} generation {}: {e}",
                            row.purpose, row.generation
                        )
                    })?;
                    parsed.insert(id, k.clone());
                    k
                }
            };
            versions.push(KeyVersion {
                purpose: row.purpose,
                jwks: p.jwks,
                times: KeyTimes {
                    generation: row.generation,
                    created_at: row.created_at,
                    activates_at: row.activates_at,
                    retired_at: row.retired_at,
                },
                key,
            });
        }
        Ok(versions)
    }
}

impl KeySource for StoredKeys {
    fn load(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<KeyVersion>, String>> + Send + '_>> {
        Box::pin(self.load_versions())
    }
}

fn parse_key(p: &Purpose, material: &str) -> Result<KeyMaterial, passerelle_jose::JoseError> {
    Ok(match p.key_use {
        KeyUse::Sign(_) => KeyMaterial::Signing(Arc::new(SigningKey::from_private_jwk(material)?)),
        KeyUse::Decrypt => {
            KeyMaterial::Decryption(Arc::new(DecryptionKey::from_private_jwk(material)?))
        }
    })
}

/// A new private key for `p`: its kid and private JWK.
pub(crate) fn generate_key(p: &Purpose) -> Result<(String, String), String> {
    match p.key_use {
        KeyUse::Sign(alg) => {
            SigningKey::generate(alg).map(|(k, private)| (k.kid().to_string(), private))
        }
        KeyUse::Decrypt => {
            DecryptionKey::generate().map(|(k, private)| (k.kid().to_string(), private))
        }
    }
    .map_err(|e| e.to_string())
}

/// The node's keyring: the first generation of each purpose is made if missing (the first node
/// wins a race), then everything is loaded; it is reloaded every
/// [`passerelle_web::keys::RELOAD_INTERVAL`] seconds of use and when a `kid` is missing.
pub(crate) async fn keyring(store: &Store, now: i64) -> anyhow::Result<Arc<Keyring>> {
    for p in PURPOSES {
        store
            .find_or_insert_key(p.name, now, || generate_key(p))
            .await?;
    }
    let source = Arc::new(StoredKeys {
        store: store.clone(),
        parsed: Default::default(),
    });
    let ring = Arc::new(Keyring::new(
        Some(source),
        passerelle_web::keys::RELOAD_INTERVAL,
    ));
    ring.reload(now)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the keys: {e}"))?;
    Ok(ring)
}

pub(crate) async fn secret(store: &Store, purpose: &str, now: i64) -> anyhow::Result<Vec<u8>> {
    let (_, material) = store
        .find_or_insert_key(purpose, now, || {
            Ok((purpose.to_string(), passerelle_store::random_token(32)))
        })
        .await?;
    Ok(material.into_bytes())
}

/// A built application, ready to serve.
pub struct App {
    pub router: Router,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The public base URL, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    pub issuer: String,
    pub sandbox_issuer: String,
    pub persona_count: usize,
    /// Who answers production clients.
    pub deployment: Deployment,
    pub lifetimes: Lifetimes,
    /// The PostgreSQL `LISTEN` task, if any; stopped with the server.
    pub listener: Option<tokio::task::JoinHandle<()>>,
    /// This application's metrics (its own recorder), also served by the metrics listener.
    pub metrics: Arc<Metrics>,
    /// The rate limits (housekeeping forgets their idle keys).
    pub limits: Arc<Limits>,
    /// How long audit events are kept, in days.
    pub audit_retention_days: i64,
    /// The task that writes queued audit events; it ends when the broker is dropped.
    pub audit_writer: tokio::task::JoinHandle<()>,
    /// The broker, for the background poller of ping-mode backchannel logins.
    pub broker: Arc<passerelle_web::Broker>,
}

/// The URL at which this process can reach itself (for the connector's back channel to the
/// in-process sandbox): the bound address, with an unspecified IP replaced by loopback.
fn self_url(bound: SocketAddr) -> String {
    let ip = match bound.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, bound.port()))
}

/// Builds everything for a listener bound at `bound`.
pub async fn build(
    settings: &Settings,
    bound: SocketAddr,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<App> {
    let store = open_store(&settings.database_url).await?;
    let now = clock.now();
    let internal = self_url(bound);
    let public_url = settings
        .public_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_string())
        .unwrap_or_else(|| internal.clone());
    let issuer = format!("{public_url}/auth/open");
    let sandbox_issuer = format!("{public_url}/sandbox/v2");
    let callback = format!("{issuer}/connect/itsme/callback");

    let personas = load_personas(settings.personas.as_deref(), clock.as_ref())?;
    // The keys that rotate (`passerelle keys`): the broker's ID-token keys and the connector's
    // keys towards the scheme, in one keyring this node reloads from the database.
    let ring = keyring(&store, now).await?;
    let keys = OpKeys { ring: ring.clone() };
    let connector_keys = passerelle_itsme::ConnectorKeys {
        ring: ring.clone(),
        signing: "connector-sig".into(),
        decryption: "connector-enc".into(),
        jwks: passerelle_web::keys::CONNECTOR_JWKS,
    };
    // The embedded sandbox knows the connector by its published keys, whichever generation.
    let connector_public = passerelle_jose::keyring::PublishedKeys::Live(
        ring.clone(),
        passerelle_web::keys::CONNECTOR_JWKS,
    );

    // The broker signs through the in-process sandbox's CSC service with this secret.
    let csc_secret = String::from_utf8(secret(&store, "sandbox-csc-secret", now).await?)
        .context("the stored CSC secret is not text")?;
    let sign_callback = format!("{public_url}/sign/signer/callback");
    let mut sandbox = Sandbox::new(
        store.clone(),
        clock.clone(),
        sandbox_issuer.clone(),
        signing_key(&store, "sandbox-sig", SigAlg::Rs256, now).await?,
        decryption_key(&store, "sandbox-enc", now).await?,
        secret(&store, "sandbox-secret", now).await?,
        personas,
        vec![SandboxClient {
            client_id: EMBEDDED_CLIENT_ID.into(),
            name: "Passerelle".into(),
            redirect_uris: vec![callback.clone()],
            keys: connector_public,
            services: vec![
                (SERVICE_AUTHENTICATION.into(), Service::Authentication),
                (SERVICE_IDENTIFICATION.into(), Service::Identification),
            ],
            csc: Some(passerelle_sandbox::CscRegistration {
                client_secret: csc_secret.clone(),
                redirect_uris: vec![sign_callback.clone()],
                account_ids: None,
            }),
        }],
        settings.app_timeout_seconds,
    );
    sandbox.account_block_secs = settings.account_block_seconds;
    // This application's own recorder: nothing global, so many applications can share a process.
    let metrics = Arc::new(Metrics::new().context("cannot set up the metrics")?);
    let limits = Arc::new(
        Limits::new(settings.rate_limits).with_counters(|limit| metrics.rate_limited(limit)),
    );
    let audit_secret = secret(&store, "audit-secret", now).await?;
    let (audit_queue, audit_writer) = passerelle_store::AuditQueue::spawn(store.clone());
    sandbox.audit_secret = audit_secret.clone();
    sandbox.limits = limits.clone();
    let sandbox = Arc::new(sandbox);
    let persona_count = sandbox.personas.all().len();
    // With PostgreSQL, decisions taken on other nodes wake this node's waiting pages at once.
    let listener = {
        let sandbox = sandbox.clone();
        store.spawn_listener(passerelle_sandbox::ACTION_CHANNEL, move |id| {
            sandbox.wake(id)
        })
    };

    // The sandbox is reached through the public URL by browsers, and directly by this process.
    let sandbox_connector = Connector::with_keys(
        ConnectorConfig {
            issuer: sandbox_issuer.clone(),
            client_id: EMBEDDED_CLIENT_ID.into(),
            redirect_uri: callback.clone(),
            service_authentication: SERVICE_AUTHENTICATION.into(),
            service_identification: SERVICE_IDENTIFICATION.into(),
            endpoints: Some(Endpoints {
                authorization: format!("{sandbox_issuer}/authorization"),
                token: format!("{internal}/sandbox/v2/token"),
                userinfo: format!("{internal}/sandbox/v2/userinfo"),
                jwks: format!("{internal}/sandbox/v2/jwkSet"),
                token_audience: format!("{sandbox_issuer}/token"),
                backchannel: Some(format!("{internal}/sandbox/v2/backchannel/authentication")),
                user_discovery: Some(format!("{internal}/sandbox/v2/user_discovery_sessions")),
            }),
            claims_delivery: settings.sandbox_claims_delivery,
            request_encryption: EncAlg::RsaOaep256,
            send_client_name: true,
            phone_login_hints: true,
            counters: metrics.upstream("sandbox"),
        },
        // Both connectors use the same stored connector keys.
        connector_keys.clone(),
    )?;
    let production_connector = match &settings.itsme {
        None => None,
        Some(it) => Some(Arc::new(Connector::with_keys(
            ConnectorConfig {
                issuer: it.issuer.clone(),
                client_id: it.client_id.clone(),
                redirect_uri: callback.clone(),
                service_authentication: it.service_authentication.clone(),
                service_identification: it.service_identification.clone(),
                endpoints: None,
                claims_delivery: it.claims_delivery,
                request_encryption: EncAlg::RsaOaep256,
                send_client_name: false,
                phone_login_hints: false,
                counters: metrics.upstream("production"),
            },
            connector_keys,
        )?)),
    };
    let deployment = match (
        &production_connector,
        settings.serve_production_clients_in_test_deployment,
    ) {
        (Some(_), _) => Deployment::Itsme,
        (None, true) => Deployment::TestDeployment,
        (None, false) => Deployment::SandboxOnly,
    };
    // Signing: sandbox clients sign with the sandbox's CSC service, TSA and a TEST ONLY seal;
    // production clients only with what the operator configured (nothing falls back).
    let csc_clock = {
        let clock = clock.clone();
        Arc::new(move || clock.now()) as Arc<dyn Fn() -> i64 + Send + Sync>
    };
    let sandbox_csc = Arc::new(
        passerelle_itsme::csc::CscClient::new(passerelle_itsme::csc::CscConfig {
            base_url: format!("{public_url}/sandbox/csc/v1"),
            client_id: EMBEDDED_CLIENT_ID.into(),
            client_secret: csc_secret,
            redirect_uri: sign_callback.clone(),
            sca_name: Some("Passerelle".into()),
        })
        .map_err(|e| anyhow::anyhow!("cannot set up the sandbox's signing client: {e}"))?
        .with_clock(csc_clock.clone())
        // The browser goes to the public URL; this node calls the sandbox over loopback, as
        // the OIDC connector does.
        .with_api_base(&format!("{internal}/sandbox/csc/v1")),
    );
    let production_csc = match settings
        .itsme
        .as_ref()
        .and_then(|it| it.csc.as_ref().map(|(base, secret)| (it, base, secret)))
    {
        None => None,
        Some((it, base, secret)) => Some(Arc::new(
            passerelle_itsme::csc::CscClient::new(passerelle_itsme::csc::CscConfig {
                base_url: base.clone(),
                client_id: it.client_id.clone(),
                client_secret: secret.expose().to_string(),
                redirect_uri: sign_callback.clone(),
                sca_name: None,
            })
            .map_err(|e| anyhow::anyhow!("cannot set up itsme's signing client: {e}"))?
            .with_clock(csc_clock.clone()),
        )),
    };
    let signing = passerelle_web::signing::Signing::new(
        settings.signing.max_document_bytes,
        settings.signing.document_lifetime,
        settings.signing.retention_after_download,
        passerelle_web::signing::SchemeSigning {
            csc: Some(sandbox_csc.clone()),
            tsa_url: Some(format!("{internal}/sandbox/tsa")),
            seal: None,
            test_seal: true,
        },
        match deployment {
            // A test deployment's production clients are answered by the sandbox.
            Deployment::TestDeployment => passerelle_web::signing::SchemeSigning {
                csc: Some(sandbox_csc),
                tsa_url: Some(format!("{internal}/sandbox/tsa")),
                seal: None,
                test_seal: true,
            },
            _ => passerelle_web::signing::SchemeSigning {
                csc: production_csc,
                tsa_url: settings.signing.tsa_url.clone(),
                seal: settings.signing.seal.clone(),
                test_seal: false,
            },
        },
    )
    .map_err(|e| anyhow::anyhow!("cannot set up signing: {e}"))?;
    let broker = Arc::new(Broker {
        store: store.clone(),
        clock: clock.clone(),
        issuer: issuer.clone(),
        keys,
        pairwise_secret: secret(&store, "pairwise-secret", now).await?,
        audit_secret,
        audit: audit_queue,
        sandbox_connector: Arc::new(sandbox_connector),
        production_connector,
        deployment,
        client_jwks: passerelle_itsme::JwksCache::with_counters(metrics.client_jwks()),
        metrics: metrics.clone(),
        limits: limits.clone(),
        secure_cookies: public_url.starts_with("https://"),
        lifetimes: settings.lifetimes,
        registration: settings.registration,
        signing,
    });
    let ciba_broker = broker.clone();
    let router = Router::new()
        .route("/", get(landing))
        .route("/openapi.json", get(openapi))
        .with_state(Arc::new(Landing {
            issuer: issuer.clone(),
            sandbox: sandbox_issuer.clone(),
            openapi: openapi_document(&public_url)?.into(),
        }))
        .merge(crate::ops::router(crate::ops::OpsState::new(
            store.clone(),
            broker.clone(),
            settings.metrics_token.as_ref().map(Secret::expose),
        )))
        .nest("/auth/rest", passerelle_web::rest_router(broker.clone()))
        .nest("/auth/open", passerelle_web::router(broker.clone()))
        .nest("/sandbox/v2", passerelle_sandbox::router(sandbox.clone()))
        .nest("/sandbox", passerelle_sandbox::signing_router(sandbox))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Documents are larger: the signing API has its own limit.
        .nest(
            "/sign",
            // Enforced by the body extractors, so that a document too large is a problem
            // (RFC 9457) like every other refusal of the API.
            passerelle_web::signing_router(broker).layer(axum::extract::DefaultBodyLimit::max(
                settings.signing.max_document_bytes,
            )),
        );
    let router = protective_layers(router, settings.client_ip_header.as_deref())
        // Outermost, so the latency includes every layer above; still per route, after routing.
        .layer(metrics.layer());
    Ok(App {
        router,
        store,
        clock,
        public_url,
        issuer,
        sandbox_issuer,
        persona_count,
        deployment,
        lifetimes: settings.lifetimes,
        listener,
        metrics,
        limits,
        audit_retention_days: settings.audit_retention_days,
        audit_writer,
        broker: ciba_broker,
    })
}

/// The largest request body any route but the signing API's takes.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// The layers every server of this binary puts around its routes (the broker's `serve` and the
/// standalone sandbox): a trace span by route pattern, a panic catcher,
/// `nosniff`, a 30 s limit on every request, and the client address for the rate limits.
pub(crate) fn protective_layers(router: Router, client_ip_header: Option<&str>) -> Router {
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                // The route pattern, never the concrete path or query: those carry codes and ids.
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_else(|| "unmatched".into());
                tracing::info_span!("http", http.method = %req.method(), http.route = %route)
            }),
        )
        .layer(CatchPanicLayer::custom(|_| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({"error": "server_error"})),
            )
                .into_response()
        }))
        // No response of ours is meant to be sniffed into another type.
        .layer(SetResponseHeaderLayer::if_not_present(
            axum::http::header::X_CONTENT_TYPE_OPTIONS,
            axum::http::HeaderValue::from_static("nosniff"),
        ))
        // No request lives longer than this, not even the waiting page's 20 s long poll.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        // The address each request comes from, for the rate limits: the TCP peer, or the
        // configured proxy header.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(ClientIpSource {
                // Checked by the configuration; a name that does not parse is refused there.
                header: client_ip_header.and_then(|h| axum::http::HeaderName::try_from(h).ok()),
                warned: std::sync::atomic::AtomicBool::new(false),
            }),
            client_ip,
        ))
}

struct Landing {
    issuer: String,
    sandbox: String,
    /// [`OPENAPI`] for this instance, serialized once.
    openapi: axum::body::Bytes,
}

/// [`OPENAPI`] with `servers[0].url` set to this instance's public URL and `info.version` to
/// the running version.
pub fn openapi_document(public_url: &str) -> anyhow::Result<String> {
    let mut doc: serde_json::Value =
        serde_json::from_str(OPENAPI).context("openapi.json is not JSON")?;
    let root = doc
        .as_object_mut()
        .context("openapi.json is not a JSON object")?;
    root.insert(
        "servers".into(),
        serde_json::json!([{ "url": public_url, "description": "This instance." }]),
    );
    if let Some(info) = root.get_mut("info").and_then(|i| i.as_object_mut()) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    }
    Ok(doc.to_string())
}

/// The OpenAPI document of the JSON endpoints (see [`OPENAPI`]).
async fn openapi(State(l): State<Arc<Landing>>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        l.openapi.clone(),
    )
        .into_response()
}

/// The front page, for a person who opens the base URL: where things are and how to start.
async fn landing(State(l): State<Arc<Landing>>) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let (issuer, sandbox) = (esc(&l.issuer), esc(&l.sandbox));
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Passerelle</title>
<style>body{{font:17px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1b1f}}code{{background:#f1f1f4;padding:.1rem .3rem;border-radius:4px}}dt{{font-weight:600;margin-top:.8rem}}</style>
</head><body>
<h1>Passerelle {version}</h1>
<p>An OpenID Connect broker for itsme&reg;, with a built-in sandbox of the scheme.</p>
<dl>
<dt>Issuer</dt><dd><code>{issuer}</code></dd>
<dt>Discovery</dt><dd><a href="{issuer}/.well-known/openid-configuration">{issuer}/.well-known/openid-configuration</a></dd>
<dt>Sandbox test people</dt><dd><a href="{sandbox}/personas">{sandbox}/personas</a></dd>
</dl>
<h2>Start</h2>
<p>Register your application with <code>passerelle client add --name "My app" --redirect-uri URL --account sandbox</code>,
point any OpenID Connect client at the issuer with PKCE (S256), and log in as one of the sandbox test people.</p>
</body></html>"#,
        version = env!("CARGO_PKG_VERSION"),
    );
    use axum::http::header;
    // The same defences as the flow pages: not framed, no referrer, nothing loaded or posted.
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// The listeners [`serve`] serves on, bound by the caller (tests bind port 0): the main one, and
/// optionally one that serves only `/metrics` (`metrics_listen`). A bare `TcpListener` converts
/// into `Listeners` without a metrics listener.
pub struct Listeners {
    pub main: tokio::net::TcpListener,
    pub metrics: Option<tokio::net::TcpListener>,
}

impl From<tokio::net::TcpListener> for Listeners {
    fn from(main: tokio::net::TcpListener) -> Listeners {
        Listeners {
            main,
            metrics: None,
        }
    }
}

/// Serves until `shutdown` completes; requests still running get five more seconds. The metrics
/// listener, if any, stops with the main one.
pub async fn serve(
    listeners: impl Into<Listeners>,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Listeners {
        main: listener,
        metrics: metrics_listener,
    } = listeners.into();
    let upkeep = tokio::spawn(crate::ops::upkeep(app.metrics.clone()));
    let notifications = app.listener;
    // Ping-mode backchannel logins: the scheme is asked about them, and their clients
    // notified, by every node, once a second (each poll claimed by one node in the database).
    let ciba_poller = {
        let broker = app.broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                passerelle_web::ciba::poll_pending(&broker).await;
            }
        })
    };
    // Signing sessions past their due date expire, and their events go to clients' webhooks,
    // from every node (each event claimed by one node in the database).
    let signing_events =
        passerelle_web::signing::webhook::spawn(app.broker.clone(), Duration::from_secs(2));
    // Keys rotated on another node are loaded here within a few seconds, even while nobody
    // signs (the signing paths also reload a keyring older than that by the clock).
    let key_reloader = {
        let broker = app.broker.clone();
        tokio::spawn(async move {
            let every = passerelle_web::keys::RELOAD_INTERVAL as u64;
            let mut tick = tokio::time::interval(Duration::from_secs(every));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                broker.refresh_keys(broker.clock.now()).await;
            }
        })
    };
    let housekeeping = tokio::spawn(housekeeping(
        app.store.clone(),
        app.clock.clone(),
        app.lifetimes.code,
        app.limits.clone(),
        app.audit_retention_days,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let service = app
        .router
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, service).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let metrics_server = metrics_listener.map(|l| {
        let mut stop = stop_rx.clone();
        let router = crate::ops::metrics_router(app.metrics.clone());
        tokio::spawn(async move {
            let served = axum::serve(l, router).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
            if let Err(e) = served.await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        })
    });
    let mut stop = stop_rx.clone();
    let grace = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    tokio::select! {
        r = server => r.context("the server failed")?,
        _ = grace => tracing::warn!("requests still running after 5 s were dropped at shutdown"),
    }
    housekeeping.abort();
    key_reloader.abort();
    ciba_poller.abort();
    signing_events.abort();
    if let Some(n) = notifications {
        n.abort();
    }
    upkeep.abort();
    if let Some(m) = metrics_server {
        // Its port is free once this returns (a restart may bind it again at once).
        m.abort();
        let _ = m.await;
    }
    // The broker, and with it the audit queue, went with the server: the writer ends once it
    // has written what was queued, before the database closes.
    if tokio::time::timeout(Duration::from_secs(5), app.audit_writer)
        .await
        .is_err()
    {
        tracing::warn!("queued audit events were not all written at shutdown");
    }
    app.store.close().await;
    Ok(())
}

/// Puts the request's source address in its extensions (`ClientIp`), for the rate limits: the
/// TCP peer, or, behind a trusted proxy, the last address of the configured header (the one the
/// proxy itself added; those before it are the client's word). A request without either is
/// limited as "unknown".
/// Where `client_ip` reads a request's address: the configured proxy header (its name parsed
/// once), and whether its "not an address" warning was given already (once per application).
struct ClientIpSource {
    header: Option<axum::http::HeaderName>,
    warned: std::sync::atomic::AtomicBool,
}

async fn client_ip(
    State(source): State<Arc<ClientIpSource>>,
    mut req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let from_header = source.header.as_ref().and_then(|name| {
        let last = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|a| !a.is_empty())?;
        let parsed = last.parse::<std::net::IpAddr>().ok();
        if parsed.is_none() && !source.warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(header = %name, "client_ip_header holds something that is not a bare IP address; the TCP peer is used instead");
        }
        parsed
    });
    let ip = from_header
        .or(peer)
        .map(rate_limit_key)
        .unwrap_or_else(|| "unknown".into());
    req.extensions_mut().insert(ClientIp(ip));
    next.run(req).await
}

/// The key an address is rate-limited by: an IPv4 address itself, an IPv6 address by its /64
/// (one host is usually given a whole /64, so single addresses would give it endless budgets).
fn rate_limit_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Deletes expired transactions, codes, tokens and the attributes they carry, every 30 seconds,
/// and drops the attributes of codes that expired unredeemed.
async fn housekeeping(
    store: Store,
    clock: Arc<dyn Clock>,
    code_lifetime: i64,
    limits: Arc<Limits>,
    audit_retention_days: i64,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        // Rate-limit keys whose budget is full again take no memory.
        limits.forget_idle();
        let now = clock.now();
        if let Err(e) = store.clear_stale_code_claims(now - code_lifetime).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        if let Err(e) = store.clear_stale_ciba_claims(now, code_lifetime).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        if let Err(e) = store
            .delete_audit_before(now - audit_retention_days.saturating_mul(86_400))
            .await
        {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        // REST sessions lose their attributes at expiry, and their row an hour later.
        if let Err(e) = store.expire_rest_sessions(now).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        // Documents and results past their retention, and sessions ended a week ago.
        if let Err(e) = store.delete_expired_signing(now, 7 * 86_400).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        // Blocks that ran out, and counts of wrong codes a day old, are forgotten.
        if let Err(e) = store.forget_sandbox_accounts(now, now - 86_400).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        match store.delete_expired(now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "expired rows deleted"),
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_addresses_share_their_64_and_mapped_ipv4_is_ipv4() {
        let key = |s: &str| super::rate_limit_key(s.parse().expect("ip"));
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
