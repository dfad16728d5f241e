//! `passerelle`: the identity broker for itsme®, with its built-in scheme sandbox.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use passerelle::app::{self, Settings};
use passerelle::cli::clients::{self, ClientInput, FormatsInput};
use passerelle::config::{Config, Overrides};
use passerelle_store::{Clock, SystemClock};

#[derive(Parser)]
#[command(
    name = "passerelle",
    version,
    about = "An OpenID Connect broker for itsme®, with a built-in sandbox of the scheme"
)]
struct Cli {
    /// A TOML configuration file.
    #[arg(long, global = true, env = "PASSERELLE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the SQLite database lives (default: the platform's data directory).
    #[arg(long, global = true, env = "PASSERELLE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// `sqlite://FILE?mode=rwc` or `postgres://…` (default: SQLite in the data directory).
    #[arg(
        long,
        global = true,
        env = "PASSERELLE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start Passerelle (the embedded default needs no configuration).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PASSERELLE_LISTEN", value_name = "ADDR")]
        listen: Option<String>,
        /// The URL browsers and relying parties use, when behind a proxy or listening on 0.0.0.0.
        #[arg(long, env = "PASSERELLE_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
        /// A personas file for the sandbox, instead of the built-in personas.
        #[arg(long, value_name = "FILE")]
        personas: Option<PathBuf>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage relying-party clients.
    #[command(subcommand)]
    Client(Box<ClientCommand>),
    /// The keys that rotate: the broker's ID-token keys and the connector's keys towards itsme.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591), which clients use at
    /// `<issuer>/connect/register` when `[registration] enabled = true`.
    #[command(subcommand)]
    Registration(RegistrationCommand),
    /// The built-in itsme sandbox.
    #[command(subcommand)]
    Sandbox(SandboxCommand),
    /// Electronic signatures.
    #[command(subcommand)]
    Sign(SignCommand),
    /// Read the audit trail: logins, tokens, refusals, client and key changes (no personal
    /// data; people appear as keyed hashes).
    Audit {
        /// From when: a duration back from now (`30m`, `24h`, `7d`) or a date or time
        /// (`2026-11-27`, `2026-11-27T08:00:00Z`). Default: the last 24 hours.
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only this client's events.
        #[arg(long, value_name = "CLIENT_ID")]
        client: Option<String>,
        /// At most this many events (oldest first).
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

/// A new key is published in its JWKS at once and signs only after twice the JWKS's
/// `Cache-Control: max-age` (600 s for the broker's keys, 3600 s for the connector's keys
/// towards itsme); the previous key stays published and stops signing then. Nodes sharing the
/// database follow within seconds, without a restart.
#[derive(Subcommand)]
enum KeysCommand {
    /// Every key of every purpose: generation, state (pending, current, previous, retired), kid,
    /// activation time, and from when it may be retired.
    List {
        /// One JSON object per key (purpose, kid, generation, state, use, alg, jwks, times).
        #[arg(long)]
        json: bool,
    },
    /// Add a new key for a purpose (op-rs256, op-es256, connector-sig, connector-enc): published
    /// now, signing after the activation delay.
    Rotate {
        /// op-rs256, op-es256, connector-sig or connector-enc.
        #[arg(long, value_name = "PURPOSE")]
        purpose: String,
        /// The new key as `keys list --json` shows it.
        #[arg(long)]
        json: bool,
    },
    /// Unpublish a key. Never the current one; a key that never signed at once; otherwise only
    /// once nothing it signed can still be valid: after it stopped signing, the longest of the
    /// ID-token and access-token lifetimes plus 60 s (broker signing keys), 360 s (the
    /// connector's signing key), 1860 s (the connector's encryption key: the JWKS's max-age plus
    /// 60 s). An encryption key is in use from its publication: a pending one needs --force.
    Retire {
        /// The key's kid, as `keys list` shows it.
        #[arg(long, value_name = "KID")]
        kid: String,
        /// Retire before that: tokens it signed stop verifying, answers encrypted to it fail.
        #[arg(long)]
        force: bool,
        /// The retired key's purpose, kid and retirement time as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum RegistrationCommand {
    /// Issue an initial access token: shown once, only its hash is kept.
    Issue {
        /// The account of the clients it registers: sandbox (default) or production.
        #[arg(long, default_value = "sandbox")]
        account: String,
        /// A grant its clients may ask for: a protected scope (in `scope`), signicat-api,
        /// signing, introspection, refresh_token (in `grant_types`), or ciba (backchannel
        /// logins, `backchannel_token_delivery_mode`); repeat for several.
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// How many clients it may register.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// How long it may be used: 30m, 24h, 7d or seconds (at most 90 days).
        #[arg(long, default_value = "24h", value_name = "LIFETIME")]
        expires_in: String,
        /// Whom it is for (shown by `list`).
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every initial access token: live, used up, expired or revoked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a token from registering more clients (the clients it registered stay).
    Revoke {
        /// The token's id, as `list` shows it.
        id: String,
    },
}

#[derive(Subcommand)]
enum SignCommand {
    /// Check the signatures of a signed PDF, or a detached CAdES signature (`.p7s`) with
    /// `--content`: the digest, the signature, the certificate path to a trusted root, the time
    /// stamp, and that nothing was appended. Exits 1 unless every signature is valid.
    Verify {
        /// The signed PDF, or the detached signature.
        file: PathBuf,
        /// The signed document of a detached signature.
        #[arg(long, value_name = "FILE")]
        content: Option<PathBuf>,
        /// A root certificate (PEM or DER) to trust; repeat for several. Without it: the
        /// sandbox's TEST ONLY roots in this Passerelle's database (its qualified CA and seal).
        #[arg(long = "trust", value_name = "FILE")]
        trust: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register a client and print its id and secret.
    Add {
        #[command(flatten)]
        fields: ClientFields,
        #[arg(long)]
        json: bool,
    },
    /// List the clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a client; options not given keep their value.
    Update {
        client_id: String,
        #[command(flatten)]
        fields: ClientFields,
        /// Remove every grant (before adding those given with --grant).
        #[arg(long)]
        clear_grants: bool,
        /// Make a new client secret and print it.
        #[arg(long)]
        rotate_secret: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove a client and everything issued to it.
    Remove { client_id: String },
}

#[derive(Args)]
struct ClientFields {
    /// The name shown to people in the itsme app.
    #[arg(long)]
    name: Option<String>,
    /// A redirect URI; repeat for several (they replace the current list on update).
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// client_secret_basic (default), client_secret_post or private_key_jwt.
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
    /// The client's public keys (JWKS file), for private_key_jwt.
    #[arg(long = "jwks", value_name = "FILE")]
    jwks_file: Option<PathBuf>,
    /// Where to fetch the client's public keys, for private_key_jwt.
    #[arg(long, value_name = "URI")]
    jwks_uri: Option<String>,
    /// sandbox (default: every attribute, sandbox scheme only) or production.
    #[arg(long)]
    account: Option<String>,
    /// A protected scope this client may request, or signicat-api (the REST APIs), signing
    /// (the signing API), refresh_token (refresh tokens for offline_access) or introspection
    /// (a resource server that may introspect tokens); repeat for several.
    #[arg(long = "grant", value_name = "SCOPE")]
    grants: Vec<String>,
    /// The ID token's signing algorithm: RS256 (default), PS256 or ES256.
    #[arg(long, value_name = "ALG")]
    id_token_alg: Option<String>,
    /// Let the client use CIBA (backchannel logins): poll or ping; none withdraws it.
    #[arg(long, value_name = "MODE")]
    ciba_mode: Option<String>,
    /// Where a ping-mode client is notified that a backchannel login ended (https; http only
    /// for localhost or a sandbox client).
    #[arg(long, value_name = "URI")]
    ciba_notification_endpoint: Option<String>,
    /// Whether the client's backchannel requests must be signed request objects (true/false).
    #[arg(long, value_name = "BOOL")]
    ciba_signed_requests: Option<bool>,
    /// Where the signing API POSTs this client's events (https; http only for localhost or a
    /// sandbox client); none withdraws it.
    #[arg(long, value_name = "URI")]
    signing_webhook: Option<String>,
    /// Encrypt ID tokens to the client's key (id_token_encrypted_response_alg): RSA-OAEP-256,
    /// RSA-OAEP or ECDH-ES; none stops encrypting. Needs --jwks or --jwks-uri.
    #[arg(long, value_name = "ALG")]
    id_token_encryption_alg: Option<String>,
    /// The ID token's content encryption (id_token_encrypted_response_enc): A128CBC-HS256
    /// (default) or A256GCM.
    #[arg(long, value_name = "ENC")]
    id_token_encryption_enc: Option<String>,
    /// Answer userinfo as a signed JWT (userinfo_signed_response_alg): RS256, PS256 or ES256;
    /// none answers JSON.
    #[arg(long, value_name = "ALG")]
    userinfo_alg: Option<String>,
    /// Encrypt userinfo answers to the client's key (userinfo_encrypted_response_alg):
    /// RSA-OAEP-256, RSA-OAEP or ECDH-ES; none stops encrypting.
    #[arg(long, value_name = "ALG")]
    userinfo_encryption_alg: Option<String>,
    /// Userinfo's content encryption (userinfo_encrypted_response_enc): A128CBC-HS256
    /// (default) or A256GCM.
    #[arg(long, value_name = "ENC")]
    userinfo_encryption_enc: Option<String>,
    /// What the ID token carries: standard (the claims of the standard scopes; protected ones
    /// at userinfo only; default) or all (every granted claim).
    #[arg(long, value_name = "CONTENTS")]
    id_token_claims: Option<String>,
    /// Whether every token request must carry a DPoP proof, the tokens then bound to its key
    /// (RFC 9449 dpop_bound_access_tokens; true/false).
    #[arg(long, value_name = "BOOL")]
    dpop_bound_access_tokens: Option<bool>,
    /// Where people may be sent after logging out (RP-initiated logout); repeat for several
    /// (they replace the current list on update); none removes them.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    post_logout_redirect_uris: Vec<String>,
    /// Whether the client must push its authorization requests to the PAR endpoint first
    /// (RFC 9126 `require_pushed_authorization_requests`; true/false).
    #[arg(long, value_name = "BOOL")]
    require_pushed_authorization_requests: Option<bool>,
    /// Whether every authorization request must be a signed request object (RFC 9101
    /// `require_signed_request_object`; true/false; needs the client's public keys).
    #[arg(long, value_name = "BOOL")]
    require_signed_request_object: Option<bool>,
    /// Hold the client to a security profile: fapi2 (FAPI 2.0: PAR, private_key_jwt and DPoP
    /// with PS256 or ES256, ID tokens PS256 or ES256, codes of at most 30 s); none removes it.
    #[arg(long, value_name = "PROFILE")]
    profile: Option<String>,
}

impl ClientFields {
    fn input(self, clear_grants: bool, rotate_secret: bool) -> anyhow::Result<ClientInput> {
        Ok(ClientInput {
            name: self.name,
            redirect_uris: self.redirect_uris,
            auth_method: self.auth_method,
            jwks: self
                .jwks_file
                .as_deref()
                .map(clients::read_jwks)
                .transpose()?,
            jwks_uri: self.jwks_uri,
            account: self.account,
            grants: self.grants,
            clear_grants,
            id_token_alg: self.id_token_alg,
            rotate_secret,
            ciba_mode: self.ciba_mode,
            ciba_notification_endpoint: self.ciba_notification_endpoint,
            ciba_signed_requests: self.ciba_signed_requests,
            signing_webhook: self.signing_webhook,
            formats: FormatsInput {
                id_token_encryption_alg: self.id_token_encryption_alg,
                id_token_encryption_enc: self.id_token_encryption_enc,
                userinfo_alg: self.userinfo_alg,
                userinfo_encryption_alg: self.userinfo_encryption_alg,
                userinfo_encryption_enc: self.userinfo_encryption_enc,
                id_token_claims: self.id_token_claims,
            },
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            require_signed_request_object: self.require_signed_request_object,
            profile: self.profile,
        })
    }
}

// Parsed once per run: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum SandboxCommand {
    /// List the sandbox's personas and what an Identification returns for each.
    Personas {
        /// A personas file instead of the configured or built-in one.
        #[arg(long, value_name = "FILE")]
        personas: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Run the sandbox alone, as an itsme-like provider on its own port (issuer `<URL>/v2`),
    /// for another broker or a relying party that speaks itsme's API.
    Serve {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8090")]
        listen: String,
        /// The URL browsers and clients use, when behind a proxy or listening on 0.0.0.0.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// A personas file, instead of the built-in personas.
        #[arg(long, value_name = "FILE")]
        personas: Option<PathBuf>,
        /// One client on the command line (more in `[[sandbox.clients]]`): its id.
        #[arg(long, value_name = "ID", requires = "redirect_uri")]
        client_id: Option<String>,
        /// Its name, as the app shows it.
        #[arg(long, value_name = "NAME", requires = "client_id")]
        client_name: Option<String>,
        /// Its redirect URI (repeatable).
        #[arg(long, value_name = "URI", requires = "client_id")]
        redirect_uri: Vec<String>,
        /// Where it publishes its keys (read at start).
        #[arg(
            long,
            value_name = "URI",
            requires = "client_id",
            conflicts_with = "jwks_file"
        )]
        jwks_uri: Option<String>,
        /// Or a file with its JWKS.
        #[arg(long, value_name = "FILE", requires = "client_id")]
        jwks_file: Option<PathBuf>,
        /// Its Authentication service code.
        #[arg(long, value_name = "CODE", requires = "client_id")]
        service_authentication: Option<String>,
        /// Its Identification service code.
        #[arg(long, value_name = "CODE", requires = "client_id")]
        service_identification: Option<String>,
    },
    /// Unblock a persona's account after three wrong itsme codes (as itsme's support would).
    Unblock {
        /// The persona's phone number, as on the phone page (+32 470 00 00 07, 0470…).
        phone: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn overrides(cli: &Cli) -> Overrides {
    let mut o = Overrides {
        config: cli.config.clone(),
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        ..Overrides::default()
    };
    if let Command::Serve {
        listen,
        public_url,
        personas,
    } = &cli.command
    {
        o.listen = listen.clone();
        o.public_url = public_url.clone();
        o.personas = personas.clone();
    }
    if let Command::Sandbox(
        SandboxCommand::Personas { personas, .. } | SandboxCommand::Serve { personas, .. },
    ) = &cli.command
    {
        o.personas = personas.clone();
    }
    o
}

/// Creates the data directory when the database is a SQLite file in it.
fn ensure_data_dir(config: &Config) -> anyhow::Result<()> {
    if passerelle_store::Backend::of_url(&config.database_url)
        == Some(passerelle_store::Backend::Sqlite)
    {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    Ok(())
}

async fn open(config: &Config) -> anyhow::Result<passerelle_store::Store> {
    ensure_data_dir(config)?;
    app::open_store(&config.database_url).await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(&overrides(&cli))
        .map_err(|e| anyhow::anyhow!("the configuration is not valid:\n{e}"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { .. } => serve(&config, &cli.data_dir, clock).await,
        Command::Sandbox(SandboxCommand::Serve {
            listen,
            public_url,
            client_id,
            client_name,
            redirect_uri,
            jwks_uri,
            jwks_file,
            service_authentication,
            service_identification,
            ..
        }) => {
            let mut clients = config.sandbox_clients.clone();
            if let Some(client_id) = client_id {
                let jwks =
                    match jwks_file {
                        Some(f) => Some(std::fs::read_to_string(&f).with_context(|| {
                            format!("cannot read the JWKS file {}", f.display())
                        })?),
                        None => None,
                    };
                if jwks.is_none() && jwks_uri.is_none() {
                    anyhow::bail!("--client-id needs --jwks-uri or --jwks-file");
                }
                clients.push(passerelle::config::SandboxClientFile {
                    client_id,
                    name: client_name,
                    redirect_uris: redirect_uri,
                    jwks_uri,
                    jwks,
                    service_authentication,
                    service_identification,
                    csc_client_secret: None,
                    csc_redirect_uris: None,
                });
            }
            let public_url = match public_url {
                Some(u) => {
                    Some(url::Url::parse(&u).map_err(|e| anyhow::anyhow!("--public-url: {e}"))?)
                }
                None => None,
            };
            serve_sandbox(&config, &listen, public_url, clients, clock).await
        }
        Command::Migrate => {
            open(&config).await?;
            passerelle::out!(
                "The database is up to date ({}).",
                config.database_description()
            );
            Ok(())
        }
        Command::Client(cmd) => {
            let store = open(&config).await?;
            let now = clock.now();
            match *cmd {
                ClientCommand::Add { fields, json } => {
                    let (c, secret) =
                        clients::add(&store, &fields.input(false, false)?, now).await?;
                    clients::print(&c, secret.as_deref(), json);
                }
                ClientCommand::List { json } => {
                    let list = store.list_clients().await?;
                    if json {
                        let v: Vec<_> = list.iter().map(|c| clients::describe(c, None)).collect();
                        passerelle::out!("{}", serde_json::to_string_pretty(&v)?);
                    } else if list.is_empty() {
                        passerelle::out!(
                            "No clients yet. Add one with `passerelle client add --name NAME --redirect-uri URI`."
                        );
                    } else {
                        for c in &list {
                            passerelle::out!(
                                "{}  {:<10} {:<20} {}",
                                c.id,
                                c.account.as_str(),
                                c.auth_method.as_str(),
                                c.name
                            );
                        }
                    }
                }
                ClientCommand::Show { client_id, json } => {
                    let c = store
                        .find_client(&client_id)
                        .await?
                        .with_context(|| format!("no client {client_id}"))?;
                    clients::print(&c, None, json);
                }
                ClientCommand::Update {
                    client_id,
                    fields,
                    clear_grants,
                    rotate_secret,
                    json,
                } => {
                    let (c, secret) = clients::update(
                        &store,
                        &client_id,
                        &fields.input(clear_grants, rotate_secret)?,
                        now,
                    )
                    .await?;
                    clients::print(&c, secret.as_deref(), json);
                }
                ClientCommand::Remove { client_id } => {
                    if !store.delete_client(&client_id, now).await? {
                        anyhow::bail!("no client {client_id}");
                    }
                    passerelle::out!("Client {client_id} removed.");
                }
            }
            store.close().await;
            Ok(())
        }
        Command::Sign(SignCommand::Verify {
            file,
            content,
            trust,
            json,
        }) => {
            let roots = if trust.is_empty() {
                let store = open(&config).await?;
                let roots = passerelle::cli::sign::sandbox_roots(&store).await?;
                store.close().await;
                roots
            } else {
                passerelle::cli::sign::read_roots(&trust)?
            };
            let valid = passerelle::cli::sign::verify(&file, content.as_deref(), &roots, json)?;
            if !valid {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Keys(cmd) => {
            use passerelle::cli::keys;
            let store = open(&config).await?;
            let now = clock.now();
            let lifetimes = config.lifetimes;
            match cmd {
                KeysCommand::List { json } => {
                    let list = keys::list(&store, now, &lifetimes).await?;
                    if json {
                        let v: Vec<_> = list.iter().map(keys::KeyListing::to_json).collect();
                        passerelle::out!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        for k in &list {
                            passerelle::out!("{}", k.to_line());
                        }
                    }
                }
                KeysCommand::Rotate { purpose, json } => {
                    let k = keys::rotate(&store, &purpose, now).await?;
                    if json {
                        let list = keys::list(&store, now, &lifetimes).await?;
                        let v = list
                            .iter()
                            .find(|l| l.key.kid == k.kid)
                            .map(keys::KeyListing::to_json);
                        passerelle::out!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        passerelle::out!(
                            "New {} key {} (generation {}): published now, signs from {}.",
                            k.purpose,
                            k.kid,
                            k.generation,
                            passerelle::cli::audit::when(k.activates_at)
                        );
                    }
                }
                KeysCommand::Retire { kid, force, json } => {
                    let k = keys::retire(&store, &kid, now, &lifetimes, force).await?;
                    if json {
                        passerelle::out!(
                            "{}",
                            serde_json::to_string_pretty(
                                &serde_json::json!({"purpose": k.purpose, "kid": k.kid, "retired_at": k.retired_at})
                            )?
                        );
                    } else {
                        passerelle::out!(
                            "Retired {} key {}: no longer published.",
                            k.purpose,
                            k.kid
                        );
                    }
                }
            }
            store.close().await;
            Ok(())
        }
        Command::Registration(cmd) => {
            use passerelle::cli::registration;
            let store = open(&config).await?;
            let now = clock.now();
            match cmd {
                RegistrationCommand::Issue {
                    account,
                    grants,
                    uses,
                    expires_in,
                    note,
                    json,
                } => {
                    let input = registration::TokenInput {
                        account,
                        grants,
                        uses,
                        expires_in,
                        note,
                    };
                    let (t, value) = registration::issue(&store, &input, now).await?;
                    if json {
                        let mut v = registration::to_json(&t, now);
                        v["token"] = serde_json::json!(value);
                        passerelle::out!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        passerelle::out!("initial access token: {value}");
                        passerelle::out!(
                            "                      (shown once: give it to the client's developer; only its hash is kept)"
                        );
                        passerelle::out!("{}", registration::to_line(&t, now));
                        if !config.registration_enabled {
                            passerelle::out!(
                                "note: registration is off; set [registration] enabled = true (or PASSERELLE_REGISTRATION_ENABLED=true) for the endpoint to take it"
                            );
                        }
                    }
                }
                RegistrationCommand::List { json } => {
                    let list = store.list_registration_tokens().await?;
                    if json {
                        let v: Vec<_> =
                            list.iter().map(|t| registration::to_json(t, now)).collect();
                        passerelle::out!("{}", serde_json::to_string_pretty(&v)?);
                    } else if list.is_empty() {
                        passerelle::out!("(no initial access tokens)");
                    } else {
                        for t in &list {
                            passerelle::out!("{}", registration::to_line(t, now));
                        }
                    }
                }
                RegistrationCommand::Revoke { id } => {
                    if !store.revoke_registration_token(&id, now).await? {
                        anyhow::bail!("no live or used-up initial access token {id}");
                    }
                    passerelle::out!(
                        "Revoked initial access token {id}: it registers no more clients."
                    );
                }
            }
            store.close().await;
            Ok(())
        }
        Command::Audit {
            since,
            client,
            limit,
            json,
        } => {
            let now = clock.now();
            let from = match &since {
                None => now - 86_400,
                Some(w) => passerelle::cli::audit::parse_since(w, now)?,
            };
            let store = open(&config).await?;
            let events = store
                .audit_events(from, client.as_deref(), limit.clamp(1, 1_000_000))
                .await?;
            store.close().await;
            if json {
                passerelle::out!("{}", serde_json::to_string_pretty(&events)?);
            } else {
                passerelle::out!("{}", passerelle::cli::audit::to_table(&events).trim_end());
            }
            Ok(())
        }
        Command::Sandbox(SandboxCommand::Unblock { phone }) => {
            let number = passerelle_sandbox::personas::normalize_phone(&phone)
                .with_context(|| format!("{phone:?} is not a phone number"))?;
            let store = open(&config).await?;
            let had = store.sandbox_unblock(&number).await?;
            if had {
                let subject = store.find_key("audit-secret").await?.and_then(|(_, key)| {
                    passerelle_store::audit_subject(key.as_bytes(), "phone", &number)
                });
                let event = passerelle_store::AuditEvent::new(
                    "sandbox.account_unblocked",
                    "ok",
                    clock.now_micros(),
                )
                .subject(subject)
                .detail("by an operator (passerelle sandbox unblock)");
                store.record(&event).await?;
            }
            store.close().await;
            if had {
                passerelle::out!("{number} is unblocked; its count of wrong codes is back to 0.");
            } else {
                passerelle::out!("{number} was not blocked and had no wrong codes.");
            }
            Ok(())
        }
        Command::Sandbox(SandboxCommand::Personas { json, .. }) => {
            let text = match &config.personas {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?,
                ),
                None => None,
            };
            let personas = app::load_personas(text.as_deref(), clock.as_ref())?;
            if json {
                passerelle::out!(
                    "{}",
                    serde_json::to_string_pretty(&passerelle::cli::personas::to_json(&personas))?
                );
            } else {
                passerelle::out!(
                    "{}",
                    passerelle::cli::personas::to_table(&personas).trim_end()
                );
            }
            Ok(())
        }
    }
}

/// Logs go to stderr: readable text (coloured only on a terminal), or one JSON object per line
/// with `log_format = "json"`.
fn init_logging(filter: &str, json: bool) {
    use std::io::IsTerminal as _;
    // lopdf logs what it finds wrong in a client's PDF (a 400 the client is told about) at ERROR.
    let filter = tracing_subscriber::EnvFilter::try_new(format!("lopdf=off,{filter}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

async fn serve_sandbox(
    config: &Config,
    listen: &str,
    public_url: Option<url::Url>,
    clients: Vec<passerelle::config::SandboxClientFile>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    use passerelle::sandbox_server;
    init_logging(&config.log, config.log_json);
    ensure_data_dir(config)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let settings = sandbox_server::SandboxSettings {
        database_url: config.database_url.clone(),
        public_url,
        personas: match &config.personas {
            None => None,
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read the personas file {}", p.display()))?,
            ),
        },
        app_timeout_seconds: config.app_timeout_seconds,
        account_block_seconds: config.account_block_seconds,
        rate_limits: config.rate_limits,
        client_ip_header: config.client_ip_header.clone(),
        clients,
        jwks_refresh: sandbox_server::JWKS_REFRESH,
    };
    let app = sandbox_server::build(&settings, bound, clock).await?;
    passerelle::out!(
        "The Passerelle itsme sandbox {} is listening on {}",
        env!("CARGO_PKG_VERSION"),
        bound
    );
    passerelle::out!("  Issuer:    {}", app.issuer);
    passerelle::out!(
        "  Discovery: {}/.well-known/openid-configuration",
        app.issuer
    );
    passerelle::out!("  Database:  {}", config.database_description());
    passerelle::out!(
        "  Personas:  {} ({}/personas)",
        app.persona_count,
        app.issuer
    );
    for (id, services) in &app.clients {
        passerelle::out!("  Client:    {id} (services {})", services.join(", "));
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!(listen = %bound, "the standalone sandbox started");
    sandbox_server::serve(listener, app, shutdown_signal()).await?;
    tracing::info!("the standalone sandbox stopped");
    Ok(())
}

async fn serve(
    config: &Config,
    data_dir_flag: &Option<PathBuf>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    init_logging(&config.log, config.log_json);
    ensure_data_dir(config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let bound = listener.local_addr()?;
    let metrics_listener = bind_metrics(config).await?;
    let settings = Settings::from_config(config)?;
    let app = app::build(&settings, bound, clock).await?;
    let dir_arg = match data_dir_flag {
        Some(d) => format!(" --data-dir {}", d.display()),
        None => String::new(),
    };
    passerelle::out!(
        "Passerelle {} is listening on {}",
        env!("CARGO_PKG_VERSION"),
        bound
    );
    passerelle::out!("  Issuer:        {}", app.issuer);
    passerelle::out!(
        "  Discovery:     {}/.well-known/openid-configuration",
        app.issuer
    );
    passerelle::out!("  Data:          {}", config.data_dir.display());
    passerelle::out!("  Database:      {}", config.database_description());
    passerelle::out!(
        "  itsme sandbox: {} ({} personas: run `passerelle{dir_arg} sandbox personas`)",
        app.sandbox_issuer,
        app.persona_count
    );
    passerelle::out!(
        "  Add a client:  passerelle{dir_arg} client add --name \"My app\" --redirect-uri http://localhost:3000/callback --account sandbox"
    );
    passerelle::out!(
        "  Mode:          {} — {}",
        app.deployment.as_str(),
        passerelle::ops::deployment_description(app.deployment)
    );
    if config.public_url.is_none() && bound.ip().is_unspecified() {
        passerelle::out!(
            "  Warning: listening on all interfaces without --public-url; URLs above use 127.0.0.1."
        );
    }
    print_metrics_access(config, &app, metrics_listener.as_ref());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tracing::info!(listen = %bound, "Passerelle started");
    let listeners = app::Listeners {
        main: listener,
        metrics: metrics_listener,
    };
    app::serve(listeners, app, shutdown_signal()).await?;
    tracing::info!("Passerelle stopped");
    Ok(())
}

/// The listener for `/metrics` alone, when `metrics_listen` is set.
async fn bind_metrics(config: &Config) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = config.metrics_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (metrics_listen)"))?;
    Ok(Some(listener))
}

/// The start-up message's line on `/metrics`: where it is, or how to turn it on.
fn print_metrics_access(
    config: &Config,
    app: &app::App,
    metrics_listener: Option<&tokio::net::TcpListener>,
) {
    let separate = metrics_listener.and_then(|l| l.local_addr().ok()).map(|a| {
        format!("http://{a}/metrics (no authentication: keep it on an operations network)")
    });
    let guarded = config.metrics_token.as_ref().map(|_| {
        format!(
            "{}/metrics (Authorization: Bearer <metrics_token>)",
            app.public_url
        )
    });
    match (separate, guarded) {
        (None, None) => passerelle::out!(
            "  Metrics:       off (set metrics_listen or metrics_token to serve /metrics)"
        ),
        (separate, guarded) => {
            for line in separate.iter().chain(guarded.iter()) {
                passerelle::out!("  Metrics:       {line}");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
