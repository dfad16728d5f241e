//! `passerelle sandbox serve`: the scheme sandbox alone, on its own port and database, as an
//! itsme-like provider for another broker or a relying party that speaks itsme's API. Its issuer
//! is `<public URL>/v2`, as itsme's is `https://idp.<env>.itsme.services/v2`; the clients it
//! accepts come from `[[sandbox.clients]]` or the command line, each with its redirect URIs, its
//! keys (a `jwks_uri`, read at start and again every five minutes, as itsme reads a partner's; or
//! the JWKS itself) and its service codes, and optionally
//! its registration with the signing service (`<public URL>/csc/v1`; the CA at `/ca/root.pem`,
//! the TSA at `/tsa`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use passerelle_core::scopes::Service;
use passerelle_jose::{PublicKeys, SigAlg};
use passerelle_limits::{LimitSettings, Limits};
use passerelle_sandbox::{Sandbox, SandboxClient};
use passerelle_store::{Clock, Store};

use crate::app::{decryption_key, load_personas, open_store, secret, signing_key};
use crate::config::SandboxClientFile;

/// Where the sandbox's routes hang below the public URL (itsme: `/v2`).
pub const PATH: &str = "/v2";

/// What [`build`] needs.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub database_url: String,
    pub public_url: Option<url::Url>,
    /// The personas file's text; `None` for the built-in personas.
    pub personas: Option<String>,
    pub app_timeout_seconds: i64,
    pub account_block_seconds: i64,
    pub rate_limits: LimitSettings,
    pub client_ip_header: Option<String>,
    pub clients: Vec<SandboxClientFile>,
    /// How often a client's `jwks_uri` is read again ([`JWKS_REFRESH`]).
    pub jwks_refresh: Duration,
}

/// How often the standalone sandbox reads a client's `jwks_uri` again: well within the
/// broker's activation delay (a new connector key is published an hour before it signs, and an
/// old encryption key is retired half an hour after its successor is published at the
/// earliest), so that a rotation never meets a stale copy.
pub const JWKS_REFRESH: Duration = Duration::from_secs(300);

/// The standalone sandbox, built and ready to serve.
pub struct SandboxApp {
    pub router: Router,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub issuer: String,
    pub persona_count: usize,
    /// The clients it accepts: id and service codes, for the startup message.
    pub clients: Vec<(String, Vec<String>)>,
    listener: Option<tokio::task::JoinHandle<()>>,
    /// The tasks that read the clients' `jwks_uri` again.
    followers: Vec<tokio::task::JoinHandle<()>>,
}

/// Reads `uri` again every `every`, replacing `keys` with what it holds; a failed read keeps
/// the keys the client had (and says so in the log).
async fn follow_jwks(
    client_id: String,
    uri: String,
    keys: Arc<std::sync::RwLock<PublicKeys>>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        // A fresh cache: each read goes to the client, whatever a cache would still hold.
        match passerelle_itsme::JwksCache::default().get(&uri, None).await {
            Ok(fresh) => match keys.write() {
                Ok(mut k) => *k = fresh,
                Err(e) => *e.into_inner() = fresh,
            },
            Err(e) => tracing::warn!(
                client.id = %client_id,
                error = %e,
                "cannot read the client's jwks_uri again; it keeps the keys it had"
            ),
        }
    }
}

/// Reads a client's keys: its JWKS, or the one at its `jwks_uri` (retried for a while, so that
/// a broker started at the same time has the time to come up).
async fn client_keys(c: &SandboxClientFile) -> anyhow::Result<PublicKeys> {
    if let Some(jwks) = &c.jwks {
        return PublicKeys::from_jwks_json(jwks)
            .map_err(|e| anyhow::anyhow!("client {}: its jwks: {e}", c.client_id));
    }
    let uri = c
        .jwks_uri
        .as_deref()
        .with_context(|| format!("client {}: no jwks_uri and no jwks", c.client_id))?;
    let cache = passerelle_itsme::JwksCache::with_counters(Default::default());
    let mut last = None;
    for _ in 0..30 {
        match cache.get(uri, None).await {
            Ok(keys) => return Ok(keys),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(anyhow::anyhow!(
        "client {}: cannot read its keys at {uri}: {}",
        c.client_id,
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// Builds the standalone sandbox for a listener bound at `bound`.
pub async fn build(
    settings: &SandboxSettings,
    bound: SocketAddr,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<SandboxApp> {
    if settings.clients.is_empty() {
        // Fail closed: a provider that accepts nobody is a configuration mistake.
        anyhow::bail!(
            "the sandbox accepts no client: add one with --client-id … or [[sandbox.clients]] in the configuration"
        );
    }
    let store = open_store(&settings.database_url).await?;
    let now = clock.now();
    let public_url = settings
        .public_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{bound}"));
    let issuer = format!("{public_url}{PATH}");
    let mut clients = Vec::new();
    let mut summary = Vec::new();
    let mut followers = Vec::new();
    for c in &settings.clients {
        let mut services = Vec::new();
        if let Some(code) = &c.service_authentication {
            services.push((code.clone(), Service::Authentication));
        }
        if let Some(code) = &c.service_identification {
            services.push((code.clone(), Service::Identification));
        }
        if services.is_empty() {
            anyhow::bail!("client {}: it has no service code", c.client_id);
        }
        summary.push((
            c.client_id.clone(),
            services.iter().map(|(code, _)| code.clone()).collect(),
        ));
        clients.push(SandboxClient {
            client_id: c.client_id.clone(),
            name: c.name.clone().unwrap_or_else(|| c.client_id.clone()),
            redirect_uris: c.redirect_uris.clone(),
            keys: match (&c.jwks, &c.jwks_uri) {
                (None, Some(uri)) => {
                    let keys = Arc::new(std::sync::RwLock::new(client_keys(c).await?));
                    followers.push(tokio::spawn(follow_jwks(
                        c.client_id.clone(),
                        uri.clone(),
                        keys.clone(),
                        settings.jwks_refresh,
                    )));
                    passerelle_jose::keyring::PublishedKeys::Followed(keys)
                }
                _ => client_keys(c).await?.into(),
            },
            services,
            csc: c
                .csc_client_secret
                .as_ref()
                .map(|secret| passerelle_sandbox::CscRegistration {
                    client_secret: secret.clone(),
                    redirect_uris: c.csc_redirect_uris.clone().unwrap_or_default(),
                    account_ids: None,
                }),
        });
    }
    let personas = load_personas(settings.personas.as_deref(), clock.as_ref())?;
    let mut sandbox = Sandbox::new(
        store.clone(),
        clock.clone(),
        issuer.clone(),
        signing_key(&store, "sandbox-sig", SigAlg::Rs256, now).await?,
        decryption_key(&store, "sandbox-enc", now).await?,
        secret(&store, "sandbox-secret", now).await?,
        personas,
        clients,
        settings.app_timeout_seconds,
    );
    sandbox.account_block_secs = settings.account_block_seconds;
    sandbox.audit_secret = secret(&store, "audit-secret", now).await?;
    sandbox.limits = Arc::new(Limits::new(settings.rate_limits));
    let sandbox = Arc::new(sandbox);
    let persona_count = sandbox.personas.all().len();
    let listener = {
        let sandbox = sandbox.clone();
        store.spawn_listener(passerelle_sandbox::ACTION_CHANNEL, move |id| {
            sandbox.wake(id)
        })
    };
    let router = Router::new()
        .route(
            "/healthz",
            get(|| async {
                axum::Json(serde_json::json!({ "status": "ok", "mode": "sandbox-standalone" }))
            }),
        )
        .nest(PATH, passerelle_sandbox::router(sandbox.clone()))
        // itsme's signing service beside its OIDC provider (itsme: sign.<env>.itsme.services
        // /csc/v1), the TEST ONLY CA's certificates and the TSA.
        .merge(passerelle_sandbox::signing_router(sandbox));
    let router = crate::app::protective_layers(
        router.layer(tower_http::limit::RequestBodyLimitLayer::new(
            crate::app::BODY_LIMIT,
        )),
        settings.client_ip_header.as_deref(),
    );
    Ok(SandboxApp {
        router,
        store,
        clock,
        issuer,
        persona_count,
        clients: summary,
        listener,
        followers,
    })
}

/// Serves until `shutdown` completes, deleting what expired every 30 seconds.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: SandboxApp,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let housekeeping = {
        let (store, clock) = (app.store.clone(), app.clock.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                let now = clock.now();
                if let Err(e) = store.forget_sandbox_accounts(now, now - 86_400).await {
                    tracing::warn!(error = %e, "housekeeping failed");
                }
                if let Err(e) = store.delete_expired(now).await {
                    tracing::warn!(error = %e, "housekeeping failed");
                }
            }
        })
    };
    let service = app
        .router
        .into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the sandbox server failed");
    housekeeping.abort();
    if let Some(l) = app.listener {
        l.abort();
    }
    for f in app.followers {
        f.abort();
    }
    app.store.close().await;
    served
}
