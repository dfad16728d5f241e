//! `TestApp`: the whole of Passerelle on 127.0.0.1:0 with a fresh database (SQLite, or
//! PostgreSQL when `PASSERELLE_TEST_DATABASE=postgres`), a manual clock, and keys generated once
//! per test binary. Plus a browser-like HTTP client and helpers that walk a login hop by hop.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use passerelle::app::{self, Settings};
use passerelle_jose::{DecryptionKey, SigAlg, SigningKey};
use passerelle_store::{ManualClock, Store, random_token};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest as _;

pub const RP_CALLBACK: &str = "https://rp.example/callback";
pub const T0: i64 = 1_795_000_000;

static KEYS: OnceLock<Vec<(&'static str, String, String)>> = OnceLock::new();

/// Keys for every purpose, generated once per test binary (RSA generation is slow).
fn keys() -> &'static [(&'static str, String, String)] {
    KEYS.get_or_init(|| {
        let sig = |purpose, alg| {
            let (k, private) = SigningKey::generate(alg).expect("key");
            (purpose, k.kid().to_string(), private)
        };
        let enc = |purpose| {
            let (k, private) = DecryptionKey::generate().expect("key");
            (purpose, k.kid().to_string(), private)
        };
        vec![
            sig("op-rs256", SigAlg::Rs256),
            sig("op-es256", SigAlg::Es256),
            enc("op-enc"),
            sig("connector-sig", SigAlg::Rs256),
            enc("connector-enc"),
            sig("sandbox-sig", SigAlg::Rs256),
            enc("sandbox-enc"),
        ]
    })
}

/// The private JWK this test binary seeds for `purpose` (e.g. `connector-sig`), to act as one of
/// Passerelle's own components in a test.
pub fn key_material(purpose: &str) -> String {
    keys()
        .iter()
        .find(|(p, _, _)| *p == purpose)
        .map(|(_, _, m)| m.clone())
        .unwrap_or_else(|| panic!("no key {purpose}"))
}

pub fn uses_postgres() -> bool {
    std::env::var("PASSERELLE_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

fn postgres_server() -> String {
    std::env::var("PASSERELLE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

static PG_CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

/// A fresh, empty database; returns its URL.
pub async fn fresh_database() -> String {
    let name = format!(
        "passerelle_test_{}",
        random_token(9)
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    if uses_postgres() {
        sqlx::any::install_default_drivers();
        let admin_url = format!("{}/postgres", postgres_server());
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("PostgreSQL at PASSERELLE_TEST_POSTGRES_URL");
        // Databases left by an earlier run of the suite.
        PG_CLEANED
            .get_or_init(|| async {
                let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .expect("pg");
                let old: Vec<String> = sqlx::query_scalar(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'passerelle_test_%'",
                )
                .fetch_all(&mut c)
                .await
                .unwrap_or_default();
                for db in old {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            })
            .await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        format!("{}/{name}", postgres_server())
    } else {
        let dir = std::env::temp_dir().join(format!("passerelle-test-{name}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        format!("sqlite://{}?mode=rwc", dir.join("passerelle.db").display())
    }
}

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub addr: SocketAddr,
    pub database_url: String,
    pub store: Store,
    pub clock: Arc<ManualClock>,
    pub options: Options,
    /// `http://<addr>` of the metrics listener, when `Options::metrics_listener` asked for one.
    pub metrics_base: Option<String>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
pub struct Options {
    /// `[sandbox] serve_production_clients_in_test_deployment`: off, as in a real deployment.
    pub test_deployment: bool,
    pub public_url: Option<String>,
    pub app_timeout_seconds: i64,
    pub account_block_seconds: i64,
    /// Off in tests, but for those that test them: many tests make many requests at once.
    pub rate_limits: passerelle_limits::LimitSettings,
    pub client_ip_header: Option<String>,
    pub claims_delivery: passerelle_itsme::ClaimsDelivery,
    pub personas: Option<String>,
    /// Opens `/metrics` on the main listener with this bearer token.
    pub metrics_token: Option<String>,
    /// The signing API's settings.
    pub signing: passerelle::app::SigningSettings,
    /// Serves `/metrics` on a second listener, bound to 127.0.0.1:0.
    pub metrics_listener: bool,
    pub lifetimes: passerelle_web::Lifetimes,
    /// A real itsme environment (`[itsme]`), e.g. a standalone sandbox.
    pub itsme: Option<passerelle::config::ItsmeConfig>,
    /// `[registration] enabled`: dynamic client registration.
    pub registration: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            test_deployment: false,
            public_url: None,
            app_timeout_seconds: 120,
            account_block_seconds: passerelle_sandbox::DEFAULT_ACCOUNT_BLOCK_SECS,
            rate_limits: passerelle_limits::LimitSettings::off(),
            client_ip_header: None,
            claims_delivery: passerelle_itsme::ClaimsDelivery::IdToken,
            personas: None,
            metrics_token: None,
            signing: Default::default(),
            metrics_listener: false,
            lifetimes: Default::default(),
            itsme: None,
            registration: false,
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        let database_url = fresh_database().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        TestApp::start(database_url, listener, ManualClock::new(T0), options).await
    }

    /// A node on a database the test made with [`fresh_database`], perhaps reached another way
    /// (through a proxy that can cut it off).
    /// A test deployment: production clients are served by the sandbox.
    pub async fn spawn_test_deployment() -> TestApp {
        TestApp::spawn_with(Options {
            test_deployment: true,
            ..Options::default()
        })
        .await
    }

    /// Runs one statement on the app's database behind its back (to plant what no API writes);
    /// returns the rows it changed.
    pub async fn sql(&self, statement: &'static str, binds: &[&str]) -> u64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url)
            .await
            .expect("db");
        let mut query = sqlx::query(statement);
        for b in binds {
            query = query.bind(*b);
        }
        let changed = query
            .execute(&pool)
            .await
            .expect("statement")
            .rows_affected();
        pool.close().await;
        changed
    }

    pub async fn spawn_on(database_url: String, options: Options) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        TestApp::start(database_url, listener, ManualClock::new(T0), options).await
    }

    async fn start(
        database_url: String,
        listener: tokio::net::TcpListener,
        clock: Arc<ManualClock>,
        options: Options,
    ) -> TestApp {
        let seed = app::open_store(&database_url).await.expect("store");
        for (purpose, kid, material) in keys() {
            seed.find_or_insert_key(purpose, T0, || Ok((kid.clone(), material.clone())))
                .await
                .expect("seed key");
        }
        seed.close().await;
        let addr = listener.local_addr().expect("addr");
        let settings = Settings {
            database_url: database_url.clone(),
            public_url: options
                .public_url
                .as_deref()
                .map(|u| url::Url::parse(u).expect("public url")),
            personas: options.personas.clone(),
            app_timeout_seconds: options.app_timeout_seconds,
            account_block_seconds: options.account_block_seconds,
            rate_limits: options.rate_limits,
            client_ip_header: options.client_ip_header.clone(),
            audit_retention_days: 365,
            sandbox_claims_delivery: options.claims_delivery,
            itsme: options.itsme.clone(),
            serve_production_clients_in_test_deployment: options.test_deployment,
            lifetimes: options.lifetimes,
            metrics_token: options
                .metrics_token
                .clone()
                .map(passerelle::config::Secret::new),
            signing: options.signing.clone(),
            registration: options.registration,
        };
        let built = app::build(&settings, addr, clock.clone())
            .await
            .expect("build");
        let store = built.store.clone();
        let issuer = built.issuer.clone();
        let metrics_listener = if options.metrics_listener {
            Some(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind metrics"),
            )
        } else {
            None
        };
        let metrics_base = metrics_listener
            .as_ref()
            .map(|l| format!("http://{}", l.local_addr().expect("metrics addr")));
        let listeners = app::Listeners {
            main: listener,
            metrics: metrics_listener,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app::serve(listeners, built, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestApp {
            base: format!("http://{addr}"),
            issuer,
            addr,
            database_url,
            store,
            clock,
            options,
            metrics_base,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// A second node on the same database, with this one's public URL (as behind one load
    /// balancer): it serves any step of a login this node started.
    pub async fn second_node(&self) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let options = Options {
            public_url: Some(self.base.clone()),
            ..self.options.clone()
        };
        TestApp::start(
            self.database_url.clone(),
            listener,
            self.clock.clone(),
            options,
        )
        .await
    }

    /// Stops the server and starts a new one on the same address and database, as a restart does.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("rebind");
        TestApp::start(
            self.database_url.clone(),
            listener,
            self.clock.clone(),
            self.options.clone(),
        )
        .await
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }

    /// A browser: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn add_client(
        &self,
        account: &str,
        auth_method: &str,
        grants: &[&str],
    ) -> TestClient {
        self.add_client_with(account, auth_method, grants, "RS256", None)
            .await
    }

    pub async fn add_client_with(
        &self,
        account: &str,
        auth_method: &str,
        grants: &[&str],
        alg: &str,
        jwks: Option<String>,
    ) -> TestClient {
        let id = random_token(12);
        let secret = random_token(32);
        let client = passerelle_store::NewClient {
            id: id.clone(),
            name: format!("Test RP {account}"),
            secret_hash: (auth_method != "private_key_jwt")
                .then(|| passerelle_store::token_hash(&secret)),
            redirect_uris: vec![
                RP_CALLBACK.to_string(),
                "https://rp.example/other".to_string(),
            ],
            auth_method: passerelle_core::oidc::ClientAuthMethod::parse(auth_method)
                .expect("an auth method"),
            jwks,
            jwks_uri: None,
            account: passerelle_core::scopes::Account::parse(account).expect("an account"),
            grants: grants.iter().map(|s| s.to_string()).collect(),
            id_token_alg: passerelle_core::oidc::IdTokenAlg::parse(alg).expect("an algorithm"),
            ciba: None,
            signing_webhook: None,
            formats: Default::default(),
            dpop_bound_access_tokens: false,
            post_logout_redirect_uris: vec!["https://rp.example/bye".to_string()],
            par: Default::default(),
            profile: None,
        };
        self.store
            .insert_client(&client, self.clock_now())
            .await
            .expect("insert client");
        TestClient { id, secret }
    }

    pub fn clock_now(&self) -> i64 {
        passerelle_store::Clock::now(self.clock.as_ref())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

/// PKCE pair (RFC 7636).
pub fn pkce() -> (String, String) {
    let verifier = random_token(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The value of `attr` on the first tag containing `marker` in an HTML page.
pub fn html_attr(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page:\n{html}"));
    let start = html[..at].rfind('<').expect("tag start");
    let end = at + html[at..].find('>').expect("tag end");
    let rest = &html[start..end];
    let key = format!("{attr}=\"");
    let i = rest.find(&key).expect("attribute") + key.len();
    let j = rest[i..].find('"').expect("quote");
    rest[i..i + j].replace("&#38;", "&").replace("&amp;", "&")
}

/// A login in progress, as the RP and the browser know it.
pub struct Login {
    pub browser: reqwest::Client,
    pub verifier: String,
    pub state: String,
    pub nonce: String,
    /// The sandbox's phone page URL (after the broker's redirect).
    pub scheme_url: String,
    pub phone_page: String,
}

impl TestApp {
    /// RP → authorize → scheme phone page. Asserts each hop.
    pub async fn begin(&self, client: &TestClient, scope: &str) -> Login {
        self.begin_with(client, scope, &[]).await
    }

    /// [`TestApp::begin`] with more authorization parameters (`prompt`, `id_token_hint`…).
    pub async fn begin_with(
        &self,
        client: &TestClient,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> Login {
        let browser = self.browser();
        let (verifier, challenge) = pkce();
        let state = random_token(8);
        let nonce = random_token(8);
        let resp = browser
            .get(self.url("/auth/open/connect/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", RP_CALLBACK),
                ("scope", scope),
                ("state", state.as_str()),
                ("nonce", nonce.as_str()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .query(extra)
            .send()
            .await
            .expect("authorize");
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "authorize should redirect to the scheme"
        );
        let scheme_url = location(&resp);
        assert!(
            scheme_url.starts_with(&format!("{}/sandbox/v2/authorization?", self.base)),
            "{scheme_url}"
        );
        let page = browser.get(&scheme_url).send().await.expect("phone page");
        assert_eq!(page.status(), StatusCode::OK);
        let phone_page = page.text().await.expect("body");
        assert!(
            phone_page.contains("type=\"tel\""),
            "phone page has a tel input"
        );
        Login {
            browser,
            verifier,
            state,
            nonce,
            scheme_url,
            phone_page,
        }
    }

    /// Submits a phone number on the phone page; returns the redirect (to the waiting page).
    pub async fn submit_phone(&self, login: &Login, phone: &str) -> reqwest::Response {
        let action = html_attr(&login.phone_page, "<form method=\"post\"", "action");
        login
            .browser
            .post(self.url(&action))
            .form(&[("phone", phone)])
            .send()
            .await
            .expect("phone")
    }

    /// Submits a manual persona's number and opens the waiting page; returns the waiting page's
    /// URL and the link it gives to the sandbox app.
    pub async fn wait_for_app(&self, login: &Login, phone: &str) -> (String, String) {
        let wait = location(&self.submit_phone(login, phone).await);
        let html = login
            .browser
            .get(self.url(&wait))
            .send()
            .await
            .expect("wait")
            .text()
            .await
            .expect("body");
        let app_url = html_attr(&html, "target=\"_blank\"", "href");
        (wait, app_url)
    }

    /// Submits a scripted approving persona's number; returns the scheme's redirect to
    /// Passerelle's callback (not followed).
    pub async fn scheme_callback(&self, login: &Login, phone: &str) -> String {
        let wait = location(&self.submit_phone(login, phone).await);
        location(
            &login
                .browser
                .get(self.url(&wait))
                .send()
                .await
                .expect("wait"),
        )
    }

    /// Follows redirects inside Passerelle until one leaves for the RP; returns that URL.
    pub async fn follow_to_rp(&self, browser: &reqwest::Client, mut url: String) -> String {
        for _ in 0..10 {
            if url.starts_with("https://rp.example/") {
                return url;
            }
            let resp = browser.get(self.url(&url)).send().await.expect("hop");
            assert!(
                resp.status().is_redirection(),
                "expected a redirect at {url}, got {}",
                resp.status()
            );
            url = location(&resp);
        }
        panic!("too many redirects");
    }

    /// A complete login with a scripted persona; returns the RP callback's query parameters.
    pub async fn login(
        &self,
        client: &TestClient,
        scope: &str,
        phone: &str,
    ) -> (Login, std::collections::HashMap<String, String>) {
        let login = self.begin(client, scope).await;
        let resp = self.submit_phone(&login, phone).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        let rp = self.follow_to_rp(&login.browser, location(&resp)).await;
        assert!(rp.starts_with(RP_CALLBACK), "{rp}");
        let q = query_of(&rp);
        (login, q)
    }

    /// Redeems a code with client_secret_basic.
    pub async fn redeem(
        &self,
        client: &TestClient,
        code: &str,
        verifier: &str,
    ) -> reqwest::Response {
        reqwest::Client::new()
            .post(self.url("/auth/open/connect/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", RP_CALLBACK),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("token")
    }

    /// Login, token, verified ID token and userinfo, for a scripted approving persona.
    pub async fn full_login(
        &self,
        client: &TestClient,
        scope: &str,
        phone: &str,
    ) -> (serde_json::Map<String, Value>, Value) {
        let (login, q) = self.login(client, scope, phone).await;
        assert_eq!(q.get("state"), Some(&login.state));
        assert_eq!(q.get("iss"), Some(&self.issuer));
        let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}"));
        let resp = self.redeem(client, code, &login.verifier).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let tokens: Value = resp.json().await.expect("json");
        let id_token = self
            .verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
            .await;
        assert_eq!(id_token["nonce"], login.nonce.as_str());
        let userinfo = self.userinfo(&tokens).await;
        (id_token, userinfo)
    }

    /// Userinfo for the access token of a token response; asserts it answers 200.
    pub async fn userinfo(&self, tokens: &Value) -> Value {
        let resp = reqwest::Client::new()
            .get(self.url("/auth/open/connect/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().expect("at"))
            .send()
            .await
            .expect("userinfo");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.expect("json")
    }

    /// Replaces a client's grants, as `passerelle client update` does while the server runs.
    pub async fn set_grants(&self, client: &TestClient, grants: &[&str]) {
        self.update_client(client, |c| {
            c.grants = grants.iter().map(|g| g.to_string()).collect()
        })
        .await;
    }

    /// Sets a client's signing webhook (as `passerelle client update --signing-webhook` does).
    pub async fn set_signing_webhook(&self, client: &TestClient, url: Option<&str>) {
        self.update_client(client, |c| c.signing_webhook = url.map(str::to_string))
            .await;
    }

    /// Changes a stored client as `passerelle client update` does: `change` edits its fields.
    pub async fn update_client(
        &self,
        client: &TestClient,
        change: impl FnOnce(&mut passerelle_store::NewClient),
    ) {
        let r = self
            .store
            .find_client(&client.id)
            .await
            .expect("db")
            .expect("client");
        let mut update = passerelle_store::NewClient::from(r);
        change(&mut update);
        assert!(self.store.update_client(&update, T0).await.expect("update"));
    }

    /// Registers a client for CIBA (as `passerelle client update --ciba-mode …` does).
    pub async fn set_ciba(
        &self,
        client: &TestClient,
        ciba: Option<passerelle_store::CibaRegistration>,
    ) {
        self.update_client(client, |c| c.ciba = ciba).await;
    }

    /// Verifies an ID token against the published JWKS and checks iss, aud, exp.
    pub async fn verify_id_token(
        &self,
        token: &str,
        client_id: &str,
    ) -> serde_json::Map<String, Value> {
        let jwks = reqwest::get(self.url("/auth/open/.well-known/openid-configuration/jwks"))
            .await
            .expect("jwks")
            .text()
            .await
            .expect("body");
        let keys = passerelle_jose::PublicKeys::from_jwks_json(&jwks).expect("jwks");
        let claims = keys
            .verify(token, &[SigAlg::Rs256, SigAlg::Ps256, SigAlg::Es256])
            .expect("ID token verifies");
        assert_eq!(claims["iss"], self.issuer.as_str());
        assert_eq!(claims["aud"], client_id);
        assert!(claims["exp"].as_i64().expect("exp") > self.clock_now());
        claims
    }
}

/// A refused JSON answer (token endpoint, PAR): its status, error code and description, and the
/// `DPoP-Nonce` it carries. It carries no token.
pub async fn refusal_of(resp: reqwest::Response) -> (StatusCode, String, String, Option<String>) {
    let status = resp.status();
    let nonce = resp
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().expect("ascii").to_string());
    let body: Value = resp.json().await.expect("json");
    assert!(body.get("access_token").is_none(), "{body}");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        nonce,
    )
}

/// A DPoP client's key (RFC 9449) and the last nonce the server gave it.
pub struct DpopKey {
    pub key: SigningKey,
    pub nonce: Option<String>,
}

impl DpopKey {
    pub fn new(alg: SigAlg) -> DpopKey {
        DpopKey {
            key: SigningKey::generate(alg).expect("key").0,
            nonce: None,
        }
    }

    /// The key's RFC 7638 thumbprint: what `dpop_jkt` and `cnf.jkt` name.
    pub fn jkt(&self) -> String {
        passerelle_jose::thumbprint(self.key.public_jwk())
    }

    /// A fresh proof for `method` `path`, with the last nonce and, for a protected resource,
    /// the hash of the access token.
    pub fn proof(&self, app: &TestApp, method: &str, path: &str, token: Option<&str>) -> String {
        let mut c = passerelle_jose::Claims::new();
        c.insert("jti".into(), serde_json::json!(random_token(16)));
        c.insert("htm".into(), serde_json::json!(method));
        c.insert("htu".into(), serde_json::json!(app.url(path)));
        c.insert("iat".into(), serde_json::json!(app.clock_now()));
        if let Some(n) = &self.nonce {
            c.insert("nonce".into(), serde_json::json!(n));
        }
        if let Some(t) = token {
            c.insert(
                "ath".into(),
                serde_json::json!(passerelle_jose::dpop::access_token_hash(t)),
            );
        }
        passerelle_jose::dpop::sign_proof(&self.key, &c).expect("proof")
    }
}

/// The status userinfo answers for the access token of a token response.
pub async fn userinfo_status(app: &TestApp, tokens: &Value) -> StatusCode {
    reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo")
        .status()
}

/// A one-page PDF with a classic cross-reference table, its text in the page.
#[allow(dead_code)]
pub fn sample_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}
