//! Configuration, typed and layered: defaults, then a TOML file, then `PASSERELLE_*` environment
//! variables, then command-line flags. Unknown keys in the file are rejected, and every problem is
//! reported at once. `passerelle serve` with no configuration at all is the embedded default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The TOML file's shape. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log: Option<String>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    #[serde(default)]
    pub sandbox: SandboxFile,
    pub itsme: Option<ItsmeFile>,
    /// Requests per minute per source address / client (0: off).
    #[serde(default)]
    pub rate_limits: RateLimitsFile,
    /// The header a trusted proxy puts the client's address in, e.g. `X-Forwarded-For`.
    pub client_ip_header: Option<String>,
    #[serde(default)]
    pub audit: AuditFile,
    // Operations: metrics exposure and lifetimes (see `ops_config`).
    /// A second listener that serves only `/metrics`, without authentication.
    pub metrics_listen: Option<String>,
    /// A bearer token that opens `/metrics` on the main listener.
    pub metrics_token: Option<String>,
    #[serde(default)]
    pub lifetimes: LifetimesFile,
    #[serde(default)]
    pub signing: SigningFile,
    #[serde(default)]
    pub registration: RegistrationFile,
}

/// The `[registration]` table: dynamic client registration (RFC 7591), off unless enabled.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationFile {
    /// Let clients register themselves at `<issuer>/connect/register` with an initial access
    /// token the operator issued (`passerelle registration issue`).
    pub enabled: Option<bool>,
}

/// The `[lifetimes]` table, in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimesFile {
    pub login_seconds: Option<i64>,
    pub code_seconds: Option<i64>,
    pub access_token_seconds: Option<i64>,
    pub id_token_seconds: Option<i64>,
    pub refresh_token_seconds: Option<i64>,
    pub refresh_family_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxFile {
    /// The operator's own personas file, instead of the built-in one.
    pub personas: Option<PathBuf>,
    /// How long the app waits for a manual persona, in seconds (default 120).
    pub app_timeout_seconds: Option<i64>,
    /// Where the connector asks the sandbox for claims: `id_token` (default) or `userinfo`.
    pub claims_delivery: Option<String>,
    /// For a test deployment only: while no real itsme is configured, let the sandbox answer
    /// production clients (their ID tokens say `sandbox: true`). Off by default: production
    /// clients are refused.
    pub serve_production_clients_in_test_deployment: Option<bool>,
    /// How long three wrong itsme codes in a row block a person's account, in seconds (default
    /// 3600); 0 blocks it until `passerelle sandbox unblock PHONE`.
    pub account_block_seconds: Option<i64>,
    /// The clients `passerelle sandbox serve` accepts (`[[sandbox.clients]]`), as itsme's
    /// onboarding registers a partner.
    pub clients: Option<Vec<SandboxClientFile>>,
}

/// One client of the standalone sandbox (`[[sandbox.clients]]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxClientFile {
    pub client_id: String,
    /// The name the app shows ("… wants to log you in").
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Where the client publishes its keys (signature and encryption), as itsme asks partners.
    pub jwks_uri: Option<String>,
    /// Or the keys themselves, as a JWKS JSON text.
    pub jwks: Option<String>,
    /// The service codes of its Authentication and Identification services.
    pub service_authentication: Option<String>,
    pub service_identification: Option<String>,
    /// Its registration with the signing service (itsme's CSC API): the client secret, and
    /// where the two authorizations may send the browser back.
    pub csc_client_secret: Option<String>,
    pub csc_redirect_uris: Option<Vec<String>>,
}

/// `[audit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFile {
    /// How long audit events are kept, in days (default 365).
    pub retention_days: Option<i64>,
}

/// `[rate_limits]`: requests per minute; 0 turns a limit off.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitsFile {
    pub authorize_per_ip: Option<u32>,
    pub token_per_ip: Option<u32>,
    pub token_per_client: Option<u32>,
    pub userinfo_per_ip: Option<u32>,
    pub sandbox_authorization_per_ip: Option<u32>,
    pub sandbox_token_per_ip: Option<u32>,
    pub sandbox_token_per_client: Option<u32>,
    pub phone_per_ip: Option<u32>,
    pub app_code_per_ip: Option<u32>,
    pub registration_per_ip: Option<u32>,
}

/// The signing API (`[signing]`).
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SigningFile {
    /// The largest document accepted, in bytes (default 10 MiB).
    pub max_document_bytes: Option<usize>,
    /// How long an uploaded document or an undownloaded result is kept (default 7 days).
    pub document_lifetime_seconds: Option<i64>,
    /// How long a signed result and its original are kept once downloaded (default 10 min).
    pub retention_after_download_seconds: Option<i64>,
    /// The time-stamping authority for production clients' signatures (RFC 3161). Without
    /// it production clients cannot sign (sandbox clients use the sandbox's TSA).
    pub tsa_url: Option<String>,
    /// Passerelle's sealing key for production clients' advanced signatures (PKCS#8 PEM) and
    /// its certificate chain (PEM, the seal's certificate first). Without them production
    /// clients cannot use AUTHENTICATION_BASED.
    pub seal_key_file: Option<PathBuf>,
    pub seal_chain_file: Option<PathBuf>,
}

/// A real itsme environment for production clients.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItsmeFile {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub service_authentication: Option<String>,
    pub service_identification: Option<String>,
    pub claims_delivery: Option<String>,
    /// itsme's CSC signing API (qualified signatures), e.g.
    /// `https://sign.e2e.itsme.services/csc/v1`, with the client secret itsme gave for it.
    pub csc_base_url: Option<String>,
    pub csc_client_secret: Option<String>,
}

/// Values from flags and their environment variables (clap reads both).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub personas: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Option<url::Url>,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub log: String,
    pub log_json: bool,
    pub personas: Option<PathBuf>,
    pub app_timeout_seconds: i64,
    /// `[sandbox] account_block_seconds`.
    pub account_block_seconds: i64,
    /// `[rate_limits]`.
    pub rate_limits: passerelle_limits::LimitSettings,
    /// `client_ip_header`.
    pub client_ip_header: Option<String>,
    /// `[audit] retention_days`.
    pub audit_retention_days: i64,
    pub sandbox_claims_delivery: passerelle_itsme::ClaimsDelivery,
    pub itsme: Option<ItsmeConfig>,
    /// `[sandbox] serve_production_clients_in_test_deployment`.
    pub serve_production_clients_in_test_deployment: bool,
    // Operations (see `ops_config`).
    /// Where to serve `/metrics` alone, without authentication (an operations network).
    pub metrics_listen: Option<SocketAddr>,
    /// The bearer token that opens `/metrics` on the main listener.
    pub metrics_token: Option<Secret>,
    pub lifetimes: passerelle_web::Lifetimes,
    /// `[[sandbox.clients]]`: the clients of `passerelle sandbox serve`.
    pub sandbox_clients: Vec<SandboxClientFile>,
    pub signing: SigningFile,
    /// `[registration] enabled` (`PASSERELLE_REGISTRATION_ENABLED`).
    pub registration_enabled: bool,
}

/// A secret from the configuration: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone)]
pub struct ItsmeConfig {
    pub issuer: String,
    pub client_id: String,
    pub service_authentication: String,
    pub service_identification: String,
    pub claims_delivery: passerelle_itsme::ClaimsDelivery,
    /// itsme's CSC API and its client secret, when qualified signing is configured.
    pub csc: Option<(String, Secret)>,
}

#[cfg(not(test))]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

// Tests set variables for their own thread only (the process environment is shared by tests
// running in parallel, and changing it is `unsafe`).
#[cfg(test)]
thread_local! {
    static TEST_ENV: std::cell::RefCell<std::collections::HashMap<String, String>> =
        Default::default();
}

#[cfg(test)]
fn env(name: &str) -> Option<String> {
    TEST_ENV.with(|e| e.borrow().get(name).cloned().filter(|v| !v.is_empty()))
}

/// The environment variables that carry secrets. Each may instead name a file that holds the
/// value, in `<NAME>_FILE` (trimmed; as Docker and Kubernetes secrets are mounted).
pub const SECRET_VARIABLES: [&str; 2] = ["PASSERELLE_DATABASE_URL", "PASSERELLE_METRICS_TOKEN"];

/// A secret-capable variable: `NAME`, or the contents of the file named by `NAME_FILE`; both at
/// once is a problem, and so is a file that cannot be read or is empty.
fn env_or_file(name: &str, problems: &mut Vec<String>) -> Option<String> {
    debug_assert!(SECRET_VARIABLES.contains(&name), "{name} is not listed");
    let file_var = format!("{name}_FILE");
    let path = env(&file_var);
    if let Some(v) = env(name) {
        if path.is_some() {
            problems.push(format!("set {name} or {file_var}, not both"));
        }
        return Some(v);
    }
    let path = path?;
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().is_empty() => {
            problems.push(format!("{file_var}: {path} is empty"));
            None
        }
        Ok(s) => Some(s.trim().to_string()),
        Err(e) => {
            problems.push(format!("{file_var}: cannot read {path}: {e}"));
            None
        }
    }
}

/// The platform's data directory for Passerelle; never the current directory.
pub fn default_data_dir() -> Option<PathBuf> {
    if let Some(d) = env("PASSERELLE_DATA_DIR") {
        return Some(PathBuf::from(d));
    }
    if cfg!(target_os = "macos") {
        return env("HOME").map(|h| Path::new(&h).join("Library/Application Support/passerelle"));
    }
    if cfg!(windows) {
        return env("APPDATA").map(|a| Path::new(&a).join("passerelle"));
    }
    if let Some(x) = env("XDG_DATA_HOME") {
        return Some(Path::new(&x).join("passerelle"));
    }
    env("HOME").map(|h| Path::new(&h).join(".local/share/passerelle"))
}

/// `[rate_limits]` from the file, each overridden by `PASSERELLE_RATE_LIMITS_<KEY>`.
fn rate_limits(
    file: &RateLimitsFile,
    problems: &mut Vec<String>,
) -> passerelle_limits::LimitSettings {
    let defaults = passerelle_limits::LimitSettings::default();
    let mut one = |key: &str, from_file: Option<u32>, default: u32| -> u32 {
        let variable = format!("PASSERELLE_RATE_LIMITS_{}", key.to_ascii_uppercase());
        match env(&variable) {
            Some(v) => v.parse().unwrap_or_else(|_| {
                problems.push(format!(
                    "{variable} must be a number of requests per minute (0: off)"
                ));
                default
            }),
            None => from_file.unwrap_or(default),
        }
    };
    passerelle_limits::LimitSettings {
        authorize_per_ip: one(
            "authorize_per_ip",
            file.authorize_per_ip,
            defaults.authorize_per_ip,
        ),
        token_per_ip: one("token_per_ip", file.token_per_ip, defaults.token_per_ip),
        token_per_client: one(
            "token_per_client",
            file.token_per_client,
            defaults.token_per_client,
        ),
        userinfo_per_ip: one(
            "userinfo_per_ip",
            file.userinfo_per_ip,
            defaults.userinfo_per_ip,
        ),
        sandbox_authorization_per_ip: one(
            "sandbox_authorization_per_ip",
            file.sandbox_authorization_per_ip,
            defaults.sandbox_authorization_per_ip,
        ),
        sandbox_token_per_ip: one(
            "sandbox_token_per_ip",
            file.sandbox_token_per_ip,
            defaults.sandbox_token_per_ip,
        ),
        sandbox_token_per_client: one(
            "sandbox_token_per_client",
            file.sandbox_token_per_client,
            defaults.sandbox_token_per_client,
        ),
        phone_per_ip: one("phone_per_ip", file.phone_per_ip, defaults.phone_per_ip),
        app_code_per_ip: one(
            "app_code_per_ip",
            file.app_code_per_ip,
            defaults.app_code_per_ip,
        ),
        registration_per_ip: one(
            "registration_per_ip",
            file.registration_per_ip,
            defaults.registration_per_ip,
        ),
    }
}

/// A boolean setting: `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
fn boolean(value: &str, key: &str, problems: &mut Vec<String>) -> bool {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => true,
        "false" | "0" | "no" | "off" => false,
        _ => {
            problems.push(format!("{key} must be true or false, not {value:?}"));
            false
        }
    }
}

fn delivery(
    value: Option<&str>,
    key: &str,
    problems: &mut Vec<String>,
) -> passerelle_itsme::ClaimsDelivery {
    match value {
        None | Some("id_token") => passerelle_itsme::ClaimsDelivery::IdToken,
        Some("userinfo") => passerelle_itsme::ClaimsDelivery::Userinfo,
        Some(other) => {
            problems.push(format!("{key} must be id_token or userinfo, not {other:?}"));
            passerelle_itsme::ClaimsDelivery::IdToken
        }
    }
}

impl Config {
    /// Resolves the layers; returns every problem found, one per line.
    pub fn load(o: &Overrides) -> Result<Config, String> {
        let mut problems = Vec::new();
        let config_path = o
            .config
            .clone()
            .or_else(|| env("PASSERELLE_CONFIG").map(PathBuf::from));
        let file: FileConfig = match &config_path {
            None => FileConfig::default(),
            Some(p) => match std::fs::read_to_string(p) {
                Ok(text) => match toml::from_str(&text) {
                    Ok(f) => f,
                    Err(e) => return Err(format!("config file {}: {e}", p.display())),
                },
                Err(e) => return Err(format!("config file {}: {e}", p.display())),
            },
        };
        let listen_text = o
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().unwrap_or_else(|_| {
            problems.push(format!(
                "listen: {listen_text:?} is not an address like 127.0.0.1:8080"
            ));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });
        let public_url = match o.public_url.clone().or(file.public_url) {
            None => None,
            Some(u) => match url::Url::parse(u.trim_end_matches('/')) {
                // Passerelle serves at the root of its host: a path prefix would break its
                // cookie path and its routes, so it is refused rather than half-supported.
                Ok(url)
                    if matches!(url.scheme(), "http" | "https")
                        && url.query().is_none()
                        && url.fragment().is_none()
                        && url.path() == "/" =>
                {
                    Some(url)
                }
                _ => {
                    problems.push(format!(
                        "public_url: {u:?} must be an http(s) origin such as https://id.example.com (no path, query or fragment)"
                    ));
                    None
                }
            },
        };
        let data_dir = o
            .data_dir
            .clone()
            .or(file.data_dir)
            .or_else(default_data_dir)
            .unwrap_or_else(|| {
                problems.push(
                    "data_dir: no platform data directory is known (no HOME); pass --data-dir"
                        .into(),
                );
                PathBuf::new()
            });
        let database_url_env = env_or_file("PASSERELLE_DATABASE_URL", &mut problems);
        let database_url = o
            .database_url
            .clone()
            .or(database_url_env)
            .or(file.database_url)
            .unwrap_or_else(|| {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("passerelle.db").display()
                )
            });
        if passerelle_store::Backend::of_url(&database_url).is_none() {
            problems.push("database_url must start with sqlite: or postgres://".into());
        }
        let personas = o
            .personas
            .clone()
            .or_else(|| env("PASSERELLE_SANDBOX_PERSONAS").map(PathBuf::from))
            .or(file.sandbox.personas);
        let app_timeout_seconds = match env("PASSERELLE_SANDBOX_APP_TIMEOUT_SECONDS") {
            Some(v) => v.parse().unwrap_or_else(|_| {
                problems.push(
                    "PASSERELLE_SANDBOX_APP_TIMEOUT_SECONDS must be a number of seconds".into(),
                );
                120
            }),
            None => file.sandbox.app_timeout_seconds.unwrap_or(120),
        };
        if !(1..=3600).contains(&app_timeout_seconds) {
            problems.push("sandbox.app_timeout_seconds must be between 1 and 3600".into());
        }
        let account_block_seconds = match env("PASSERELLE_SANDBOX_ACCOUNT_BLOCK_SECONDS") {
            Some(v) => v.parse().unwrap_or_else(|_| {
                problems.push(
                    "PASSERELLE_SANDBOX_ACCOUNT_BLOCK_SECONDS must be a number of seconds".into(),
                );
                passerelle_sandbox::DEFAULT_ACCOUNT_BLOCK_SECS
            }),
            None => file
                .sandbox
                .account_block_seconds
                .unwrap_or(passerelle_sandbox::DEFAULT_ACCOUNT_BLOCK_SECS),
        };
        if !(0..=366 * 86400).contains(&account_block_seconds) {
            problems.push(
                "sandbox.account_block_seconds must be between 0 (until unblocked) and a year"
                    .into(),
            );
        }
        let rate_limits = rate_limits(&file.rate_limits, &mut problems);
        let audit_retention_days = match env("PASSERELLE_AUDIT_RETENTION_DAYS") {
            Some(v) => v.parse().unwrap_or_else(|_| {
                problems.push("PASSERELLE_AUDIT_RETENTION_DAYS must be a number of days".into());
                365
            }),
            None => file.audit.retention_days.unwrap_or(365),
        };
        if !(1..=3650).contains(&audit_retention_days) {
            problems.push("audit.retention_days must be between 1 and 3650".into());
        }
        let client_ip_header = env("PASSERELLE_CLIENT_IP_HEADER").or(file.client_ip_header);
        if let Some(h) = &client_ip_header
            && axum::http::HeaderName::try_from(h.as_str()).is_err()
        {
            problems.push(format!("client_ip_header: {h:?} is not a header name"));
        }
        let sandbox_delivery =
            env("PASSERELLE_SANDBOX_CLAIMS_DELIVERY").or(file.sandbox.claims_delivery);
        let sandbox_claims_delivery = delivery(
            sandbox_delivery.as_deref(),
            "sandbox.claims_delivery",
            &mut problems,
        );
        let sandbox_clients = file.sandbox.clients.clone().unwrap_or_default();
        for c in &sandbox_clients {
            if c.jwks.is_some() == c.jwks_uri.is_some() {
                problems.push(format!(
                    "sandbox.clients: client {:?} needs exactly one of jwks_uri and jwks",
                    c.client_id
                ));
            }
            if c.redirect_uris.is_empty() {
                problems.push(format!(
                    "sandbox.clients: client {:?} needs at least one redirect URI",
                    c.client_id
                ));
            }
            if c.csc_client_secret.is_some()
                != c.csc_redirect_uris.as_ref().is_some_and(|r| !r.is_empty())
            {
                problems.push(format!(
                    "sandbox.clients: client {:?}: csc_client_secret and csc_redirect_uris go together",
                    c.client_id
                ));
            }
        }
        let it = file.itsme.unwrap_or_default();
        let issuer = env("PASSERELLE_ITSME_ISSUER").or(it.issuer);
        let itsme = match issuer {
            None => None,
            Some(issuer) => {
                let mut need = |key: &str, file_value: Option<String>| {
                    let env_name = format!("PASSERELLE_ITSME_{}", key.to_ascii_uppercase());
                    env(&env_name).or(file_value).unwrap_or_else(|| {
                        problems.push(format!("itsme.{key} is required when itsme.issuer is set"));
                        String::new()
                    })
                };
                let client_id = need("client_id", it.client_id);
                let service_authentication =
                    need("service_authentication", it.service_authentication);
                let service_identification =
                    need("service_identification", it.service_identification);
                let d = env("PASSERELLE_ITSME_CLAIMS_DELIVERY").or(it.claims_delivery);
                let claims_delivery =
                    delivery(d.as_deref(), "itsme.claims_delivery", &mut problems);
                let csc_base = env("PASSERELLE_ITSME_CSC_BASE_URL").or(it.csc_base_url);
                let csc_secret = env("PASSERELLE_ITSME_CSC_CLIENT_SECRET").or(it.csc_client_secret);
                let csc = match (csc_base, csc_secret) {
                    (Some(base), Some(secret)) => {
                        let loopback = url::Url::parse(&base).is_ok_and(|u| {
                            matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
                        });
                        let allowed = base.starts_with("https://")
                            || (loopback && base.starts_with("http://"));
                        if !allowed {
                            problems.push(
                                "itsme.csc_base_url must be an https URL (http only on loopback, for a standalone sandbox)"
                                    .into(),
                            );
                        }
                        Some((base.trim_end_matches('/').to_string(), Secret::new(secret)))
                    }
                    (None, None) => None,
                    _ => {
                        problems.push(
                            "itsme.csc_base_url and itsme.csc_client_secret go together".into(),
                        );
                        None
                    }
                };
                Some(ItsmeConfig {
                    csc,
                    issuer: issuer.trim_end_matches('/').to_string(),
                    client_id,
                    service_authentication,
                    service_identification,
                    claims_delivery,
                })
            }
        };
        let serve_production_clients_in_test_deployment =
            match env("PASSERELLE_SANDBOX_SERVE_PRODUCTION_CLIENTS_IN_TEST_DEPLOYMENT") {
                Some(v) => boolean(
                    &v,
                    "PASSERELLE_SANDBOX_SERVE_PRODUCTION_CLIENTS_IN_TEST_DEPLOYMENT",
                    &mut problems,
                ),
                None => file
                    .sandbox
                    .serve_production_clients_in_test_deployment
                    .unwrap_or(false),
            };
        if serve_production_clients_in_test_deployment && itsme.is_some() {
            problems.push(
                "sandbox.serve_production_clients_in_test_deployment is for deployments without a real itsme: with [itsme] configured, production clients always go to itsme; remove one of the two".into(),
            );
        }
        let log = env("PASSERELLE_LOG")
            .or(file.log)
            .unwrap_or_else(|| "info".into());
        let log_json = match env("PASSERELLE_LOG_FORMAT").or(file.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                problems.push(format!("log_format must be text or json, not {other:?}"));
                false
            }
        };
        // `[signing]`, each key overridable by `PASSERELLE_SIGNING_<KEY>`.
        let mut signing = file.signing.clone();
        for (key, slot) in [
            (
                "DOCUMENT_LIFETIME_SECONDS",
                &mut signing.document_lifetime_seconds,
            ),
            (
                "RETENTION_AFTER_DOWNLOAD_SECONDS",
                &mut signing.retention_after_download_seconds,
            ),
        ] {
            if let Some(v) = env(&format!("PASSERELLE_SIGNING_{key}")) {
                match v.parse() {
                    Ok(n) => *slot = Some(n),
                    Err(_) => problems.push(format!(
                        "PASSERELLE_SIGNING_{key} must be a number of seconds"
                    )),
                }
            }
        }
        if let Some(v) = env("PASSERELLE_SIGNING_MAX_DOCUMENT_BYTES") {
            match v.parse() {
                Ok(n) => signing.max_document_bytes = Some(n),
                Err(_) => problems
                    .push("PASSERELLE_SIGNING_MAX_DOCUMENT_BYTES must be a number of bytes".into()),
            }
        }
        if let Some(v) = env("PASSERELLE_SIGNING_TSA_URL") {
            signing.tsa_url = Some(v);
        }
        if let Some(v) = env("PASSERELLE_SIGNING_SEAL_KEY_FILE") {
            signing.seal_key_file = Some(v.into());
        }
        if let Some(v) = env("PASSERELLE_SIGNING_SEAL_CHAIN_FILE") {
            signing.seal_chain_file = Some(v.into());
        }
        if let Some(n) = signing.max_document_bytes
            && !(1024..=100 * 1024 * 1024).contains(&n)
        {
            problems.push("signing.max_document_bytes must be between 1 KiB and 100 MiB".into());
        }
        for (key, v) in [
            (
                "document_lifetime_seconds",
                signing.document_lifetime_seconds,
            ),
            (
                "retention_after_download_seconds",
                signing.retention_after_download_seconds,
            ),
        ] {
            if v.is_some_and(|v| !(60..=90 * 86_400).contains(&v)) {
                problems.push(format!(
                    "signing.{key} must be between 60 seconds and 90 days"
                ));
            }
        }
        if let Some(u) = &signing.tsa_url
            && !u.starts_with("https://")
            && !u.starts_with("http://")
        {
            problems.push("signing.tsa_url must be an http(s) URL".into());
        }
        if signing.seal_key_file.is_some() != signing.seal_chain_file.is_some() {
            problems.push("signing.seal_key_file and signing.seal_chain_file go together".into());
        }
        let registration_enabled = match env("PASSERELLE_REGISTRATION_ENABLED").as_deref() {
            None => file.registration.enabled.unwrap_or(false),
            Some("true") => true,
            Some("false") => false,
            Some(_) => {
                problems.push("PASSERELLE_REGISTRATION_ENABLED must be true or false".into());
                false
            }
        };
        let ops = ops_config(
            OpsFile {
                metrics_listen: file.metrics_listen,
                metrics_token: file.metrics_token,
                lifetimes: file.lifetimes,
            },
            listen,
            app_timeout_seconds,
            &mut problems,
        );
        if problems.is_empty() {
            Ok(Config {
                listen,
                public_url,
                data_dir,
                database_url,
                log,
                log_json,
                personas,
                app_timeout_seconds,
                account_block_seconds,
                rate_limits,
                client_ip_header,
                audit_retention_days,
                sandbox_claims_delivery,
                itsme,
                serve_production_clients_in_test_deployment,
                metrics_listen: ops.metrics_listen,
                metrics_token: ops.metrics_token,
                lifetimes: ops.lifetimes,
                sandbox_clients,
                signing,
                registration_enabled,
            })
        } else {
            Err(problems.join("\n"))
        }
    }

    /// The database URL with any password hidden, for messages.
    pub fn database_description(&self) -> String {
        match passerelle_store::Backend::of_url(&self.database_url) {
            Some(passerelle_store::Backend::Sqlite) => {
                let path = self
                    .database_url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                format!("SQLite at {}", path.split('?').next().unwrap_or(path))
            }
            _ => match url::Url::parse(&self.database_url) {
                Ok(u) => format!(
                    "PostgreSQL at {}{}",
                    u.host_str().unwrap_or("localhost"),
                    u.path()
                ),
                Err(_) => "PostgreSQL".into(),
            },
        }
    }
}

/// The operations keys as the file gives them.
struct OpsFile {
    metrics_listen: Option<String>,
    metrics_token: Option<String>,
    lifetimes: LifetimesFile,
}

/// The operations keys, resolved.
struct Ops {
    metrics_listen: Option<SocketAddr>,
    metrics_token: Option<Secret>,
    lifetimes: passerelle_web::Lifetimes,
}

/// Bounds of each lifetime, in seconds, with the reason shown when a value is outside them.
const LIFETIME_BOUNDS: [(&str, i64, i64); 6] = [
    ("login_seconds", 60, 3600),
    ("code_seconds", 1, 600),
    ("access_token_seconds", 60, 86_400),
    ("id_token_seconds", 60, 86_400),
    ("refresh_token_seconds", 60, 31_536_000),
    ("refresh_family_seconds", 60, 31_536_000),
];

/// Metrics exposure and lifetimes: environment over file over defaults, every problem reported.
fn ops_config(
    file: OpsFile,
    listen: SocketAddr,
    app_timeout_seconds: i64,
    problems: &mut Vec<String>,
) -> Ops {
    let metrics_listen = match env("PASSERELLE_METRICS_LISTEN").or(file.metrics_listen) {
        None => None,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) if addr.port() != 0 && addr == listen => {
                problems.push(format!(
                    "metrics_listen: {addr} is the main listener's address; use another port"
                ));
                None
            }
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(format!(
                    "metrics_listen: {text:?} is not an address like 127.0.0.1:9090"
                ));
                None
            }
        },
    };
    let metrics_token = env_or_file("PASSERELLE_METRICS_TOKEN", problems).or(file.metrics_token);
    let metrics_token = match metrics_token {
        None => None,
        // The token travels in an `Authorization` header: visible ASCII, and long enough that it
        // cannot be guessed.
        Some(t) if t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()) => {
            problems.push(
                "metrics_token must be at least 16 visible ASCII characters (no spaces)".into(),
            );
            None
        }
        Some(t) => Some(Secret(t)),
    };
    let defaults = passerelle_web::Lifetimes::default();
    let mut lifetime = |key: &str, file_value: Option<i64>, default: i64| -> i64 {
        let env_name = format!("PASSERELLE_LIFETIMES_{}", key.to_ascii_uppercase());
        let value = match env(&env_name) {
            Some(v) => match v.parse::<i64>() {
                Ok(n) => n,
                Err(_) => {
                    problems.push(format!("{env_name} must be a whole number of seconds"));
                    return default;
                }
            },
            None => file_value.unwrap_or(default),
        };
        let (_, min, max) = LIFETIME_BOUNDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .copied()
            .unwrap_or((key, 1, i64::MAX));
        if !(min..=max).contains(&value) {
            problems.push(format!(
                "lifetimes.{key} must be between {min} and {max}, not {value}"
            ));
            return default;
        }
        value
    };
    let lifetimes = passerelle_web::Lifetimes {
        login: lifetime(
            "login_seconds",
            file.lifetimes.login_seconds,
            defaults.login,
        ),
        code: lifetime("code_seconds", file.lifetimes.code_seconds, defaults.code),
        access_token: lifetime(
            "access_token_seconds",
            file.lifetimes.access_token_seconds,
            defaults.access_token,
        ),
        id_token: lifetime(
            "id_token_seconds",
            file.lifetimes.id_token_seconds,
            defaults.id_token,
        ),
        refresh_token: lifetime(
            "refresh_token_seconds",
            file.lifetimes.refresh_token_seconds,
            defaults.refresh_token,
        ),
        refresh_family: lifetime(
            "refresh_family_seconds",
            file.lifetimes.refresh_family_seconds,
            defaults.refresh_family,
        ),
    };
    // A refresh token never outlives its family, so a longer one would only mislead.
    if lifetimes.refresh_token > lifetimes.refresh_family {
        problems.push(format!(
            "lifetimes.refresh_token_seconds ({}) must be at most lifetimes.refresh_family_seconds ({})",
            lifetimes.refresh_token, lifetimes.refresh_family
        ));
    }
    // A login waits for the person in the app: it must not end before the app gives up.
    if lifetimes.login < app_timeout_seconds {
        problems.push(format!(
            "lifetimes.login_seconds ({}) must be at least sandbox.app_timeout_seconds ({app_timeout_seconds})",
            lifetimes.login
        ));
    }
    Ops {
        metrics_listen,
        metrics_token,
        lifetimes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_public_url(u: &str) -> Result<Config, String> {
        let dir = std::env::temp_dir().join("passerelle-config-test");
        Config::load(&Overrides {
            public_url: Some(u.into()),
            data_dir: Some(dir),
            ..Overrides::default()
        })
    }

    #[test]
    fn public_url_must_be_an_origin() {
        assert!(with_public_url("https://id.example.com").is_ok());
        assert!(with_public_url("https://id.example.com/").is_ok());
        for bad in [
            "https://example.com/passerelle",
            "https://id.example.com/?x=1",
            "ftp://id.example.com",
            "not a url",
        ] {
            let err = with_public_url(bad).expect_err(bad);
            assert!(err.contains("public_url"), "{err}");
        }
    }

    #[test]
    fn production_clients_are_refused_unless_a_test_deployment_says_so() {
        let dir = std::env::temp_dir().join("passerelle-config-test-switch");
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("passerelle.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).expect("write");
            Config::load(&Overrides {
                config: Some(file.clone()),
                data_dir: Some(dir.clone()),
                ..Overrides::default()
            })
        };
        let default = load("").expect("valid");
        assert!(!default.serve_production_clients_in_test_deployment);
        let test =
            load("[sandbox]\nserve_production_clients_in_test_deployment = true\n").expect("valid");
        assert!(test.serve_production_clients_in_test_deployment);
        let both = load(
            "[sandbox]\nserve_production_clients_in_test_deployment = true\n[itsme]\nissuer = \"https://idp.e2e.itsme.services/v2\"\nclient_id = \"x\"\nservice_authentication = \"a\"\nservice_identification = \"i\"\n",
        )
        .expect_err("contradictory");
        assert!(
            both.contains("serve_production_clients_in_test_deployment"),
            "{both}"
        );
    }

    #[test]
    fn the_standalone_sandbox_reads_its_clients() {
        let dir = std::env::temp_dir().join("passerelle-config-test-sandbox-clients");
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("passerelle.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).expect("write");
            Config::load(&Overrides {
                config: Some(file.clone()),
                data_dir: Some(dir.clone()),
                ..Overrides::default()
            })
        };
        let ok = load(
            "[[sandbox.clients]]\nclient_id = \"rp\"\nredirect_uris = [\"https://rp.example/cb\"]\njwks_uri = \"https://rp.example/jwks\"\nservice_authentication = \"RP_AUTH\"\n",
        )
        .expect("valid");
        assert_eq!(ok.sandbox_clients.len(), 1);
        assert_eq!(ok.sandbox_clients[0].client_id, "rp");
        let both = load(
            "[[sandbox.clients]]\nclient_id = \"rp\"\nredirect_uris = [\"https://rp.example/cb\"]\njwks_uri = \"https://rp.example/jwks\"\njwks = \"{}\"\n",
        )
        .expect_err("two sources of keys");
        assert!(both.contains("exactly one of jwks_uri and jwks"), "{both}");
        let nowhere = load(
            "[[sandbox.clients]]\nclient_id = \"rp\"\nredirect_uris = []\njwks_uri = \"https://rp.example/jwks\"\n",
        )
        .expect_err("no redirect URI");
        assert!(nowhere.contains("redirect URI"), "{nowhere}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let o = Overrides {
            listen: Some("nowhere".into()),
            database_url: Some("mysql://db".into()),
            public_url: Some("https://x.example/path".into()),
            data_dir: Some(std::env::temp_dir()),
            ..Overrides::default()
        };
        let err = Config::load(&o).expect_err("invalid");
        for needle in ["listen", "database_url", "public_url"] {
            assert!(err.contains(needle), "{needle} in {err}");
        }
    }
}

#[cfg(test)]
mod ops_tests {
    use super::*;

    /// Sets this thread's test environment (see `env`).
    fn set_env(vars: &[(&str, &str)]) {
        TEST_ENV.with(|e| {
            let mut e = e.borrow_mut();
            e.clear();
            for (k, v) in vars {
                e.insert(k.to_string(), v.to_string());
            }
        });
    }

    /// A scratch file with `text`, unique to the calling test.
    fn scratch(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("passerelle-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn load(toml: Option<&str>, vars: &[(&str, &str)]) -> Result<Config, String> {
        set_env(vars);
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let config = toml.map(|t| {
            let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            scratch(&format!("config-{n}.toml"), t)
        });
        Config::load(&Overrides {
            config,
            data_dir: Some(std::env::temp_dir()),
            ..Overrides::default()
        })
    }

    #[test]
    fn metrics_are_off_and_lifetimes_are_the_defaults_without_configuration() {
        let c = load(None, &[]).expect("valid");
        assert_eq!(c.metrics_listen, None);
        assert_eq!(c.metrics_token, None);
        let d = passerelle_web::Lifetimes::default();
        assert_eq!(
            (
                c.lifetimes.login,
                c.lifetimes.code,
                c.lifetimes.access_token,
                c.lifetimes.id_token
            ),
            (d.login, d.code, d.access_token, d.id_token)
        );
    }

    #[test]
    fn metrics_and_lifetimes_come_from_the_file() {
        let c = load(
            Some(
                r#"
metrics_listen = "127.0.0.1:9464"
metrics_token = "0123456789abcdef-file"
[lifetimes]
login_seconds = 600
code_seconds = 30
access_token_seconds = 300
id_token_seconds = 120
"#,
            ),
            &[],
        )
        .expect("valid");
        assert_eq!(c.metrics_listen, Some(([127, 0, 0, 1], 9464).into()));
        assert_eq!(
            c.metrics_token.as_ref().map(Secret::expose),
            Some("0123456789abcdef-file")
        );
        assert_eq!(
            (
                c.lifetimes.login,
                c.lifetimes.code,
                c.lifetimes.access_token,
                c.lifetimes.id_token
            ),
            (600, 30, 300, 120)
        );
    }

    #[test]
    fn refresh_lifetimes_come_from_the_file_and_a_token_never_outlives_its_family() {
        let d = passerelle_web::Lifetimes::default();
        assert_eq!((d.refresh_token, d.refresh_family), (86_400, 30 * 86_400));
        let c = load(
            Some("[lifetimes]\nrefresh_token_seconds = 3600\nrefresh_family_seconds = 7200\n"),
            &[],
        )
        .expect("valid");
        assert_eq!(
            (c.lifetimes.refresh_token, c.lifetimes.refresh_family),
            (3600, 7200)
        );
        let err = load(
            Some("[lifetimes]\nrefresh_token_seconds = 7200\nrefresh_family_seconds = 3600\n"),
            &[],
        )
        .expect_err("a refresh token longer than its family");
        assert!(
            err.contains("refresh_token_seconds (7200) must be at most"),
            "{err}"
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let c = load(
            Some("metrics_listen = \"127.0.0.1:9464\"\n[lifetimes]\ncode_seconds = 30\n"),
            &[
                ("PASSERELLE_METRICS_LISTEN", "0.0.0.0:9465"),
                ("PASSERELLE_METRICS_TOKEN", "0123456789abcdef-env"),
                ("PASSERELLE_LIFETIMES_CODE_SECONDS", "45"),
                ("PASSERELLE_LIFETIMES_ACCESS_TOKEN_SECONDS", "900"),
            ],
        )
        .expect("valid");
        assert_eq!(c.metrics_listen, Some(([0, 0, 0, 0], 9465).into()));
        assert_eq!(
            c.metrics_token.as_ref().map(Secret::expose),
            Some("0123456789abcdef-env")
        );
        assert_eq!((c.lifetimes.code, c.lifetimes.access_token), (45, 900));
    }

    #[test]
    fn every_secret_can_come_from_a_file() {
        let token = scratch("token", "0123456789abcdef-from-a-file\n");
        let url = scratch("url", "postgres://broker:pw@db.example/broker\n");
        let c = load(
            None,
            &[
                (
                    "PASSERELLE_METRICS_TOKEN_FILE",
                    token.to_str().expect("path"),
                ),
                ("PASSERELLE_DATABASE_URL_FILE", url.to_str().expect("path")),
            ],
        )
        .expect("valid");
        assert_eq!(
            c.metrics_token.as_ref().map(Secret::expose),
            Some("0123456789abcdef-from-a-file")
        );
        assert_eq!(c.database_url, "postgres://broker:pw@db.example/broker");
        for name in SECRET_VARIABLES {
            let missing = format!("/nonexistent/{name}");
            let file_var = format!("{name}_FILE");
            let err = load(None, &[(file_var.as_str(), missing.as_str())]).expect_err(name);
            assert!(err.contains(&file_var), "{err}");
        }
    }

    #[test]
    fn a_secret_given_twice_is_refused() {
        let token = scratch("token-twice", "0123456789abcdef-from-a-file");
        let err = load(
            None,
            &[
                ("PASSERELLE_METRICS_TOKEN", "0123456789abcdef-env"),
                (
                    "PASSERELLE_METRICS_TOKEN_FILE",
                    token.to_str().expect("path"),
                ),
            ],
        )
        .expect_err("ambiguous");
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn the_token_is_never_shown() {
        let c = load(
            None,
            &[("PASSERELLE_METRICS_TOKEN", "0123456789abcdef-secret")],
        )
        .expect("valid");
        assert!(!format!("{c:?}").contains("0123456789abcdef-secret"));
    }

    #[test]
    fn every_operations_problem_is_reported_at_once() {
        let err = load(
            Some(
                r#"
listen = "127.0.0.1:8080"
metrics_listen = "127.0.0.1:8080"
metrics_token = "short"
[sandbox]
app_timeout_seconds = 300
[lifetimes]
login_seconds = 200
code_seconds = 0
access_token_seconds = 100000
"#,
            ),
            &[("PASSERELLE_LIFETIMES_ID_TOKEN_SECONDS", "ten")],
        )
        .expect_err("invalid");
        for needle in [
            "metrics_listen",
            "metrics_token",
            "lifetimes.code_seconds must be between 1 and 600",
            "lifetimes.access_token_seconds must be between 60 and 86400",
            "PASSERELLE_LIFETIMES_ID_TOKEN_SECONDS",
            "lifetimes.login_seconds (200) must be at least sandbox.app_timeout_seconds (300)",
        ] {
            assert!(err.contains(needle), "{needle} in {err}");
        }
        let err = load(Some("[lifetimes]\ncode = 30\n"), &[]).expect_err("unknown key");
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn signing_keys_come_from_the_file_or_the_environment_and_are_checked() {
        let c = load(
            Some("[signing]\nmax_document_bytes = 2048\ntsa_url = \"https://tsa.example/\"\n"),
            &[("PASSERELLE_SIGNING_RETENTION_AFTER_DOWNLOAD_SECONDS", "120")],
        )
        .expect("valid");
        assert_eq!(c.signing.max_document_bytes, Some(2048));
        assert_eq!(c.signing.tsa_url.as_deref(), Some("https://tsa.example/"));
        assert_eq!(c.signing.retention_after_download_seconds, Some(120));
        let c = load(
            None,
            &[("PASSERELLE_SIGNING_TSA_URL", "https://other.example/tsa")],
        )
        .expect("valid");
        assert_eq!(
            c.signing.tsa_url.as_deref(),
            Some("https://other.example/tsa")
        );
        let err = load(
            Some("[signing]\nseal_key_file = \"k.pem\"\n"),
            &[("PASSERELLE_SIGNING_MAX_DOCUMENT_BYTES", "lots")],
        )
        .expect_err("invalid");
        assert!(
            err.contains("PASSERELLE_SIGNING_MAX_DOCUMENT_BYTES"),
            "{err}"
        );
        assert!(err.contains("seal_chain_file"), "{err}");
        let err = load(Some("[signing]\ntsa_url = \"ftp://x\"\n"), &[]).expect_err("invalid");
        assert!(err.contains("tsa_url"), "{err}");
    }
}
