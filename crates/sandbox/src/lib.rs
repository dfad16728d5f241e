//! The scheme sandbox: an itsme-compatible identity provider (itsme OIDC v2) with made-up
//! people, so that a relying party can build and test an itsme integration without a phone.
//!
//! It has its own discovery, JWKS, authorization, token and userinfo endpoints; the desktop
//! path's phone page and waiting page; and an in-browser emulation of the itsme app showing who
//! asks for which data, with the 5-digit code, approve and refuse. Scripted personas decide as
//! soon as their phone number is submitted, so automated tests never wait. Every state change of
//! an action goes through [`passerelle_core::flow::advance`] and one conditional update.
//!
//! Beside the OIDC provider (mounted at the issuer, `<base>/v2`), [`signing_router`] serves
//! itsme's signing service (CSC API v1, hash-signing variant) at `<base>/csc/v1`, whose two
//! authorizations are actions in the same emulated app, and the sandbox's qualified trust
//! services, TEST ONLY: its CA's certificates (`<base>/ca/root.pem`, `<base>/ca/chain.pem`) and an
//! RFC 3161 time-stamping authority (`<base>/tsa`).

mod handlers;
mod pages;
pub mod personas;
pub mod signing;
mod waiters;

use std::sync::Arc;

use passerelle_core::scopes::Service;
use passerelle_jose::{DecryptionKey, EncAlg, SigningKey};
use passerelle_store::{Clock, Store};

pub use handlers::{router, signing_router};
pub use personas::{Persona, Personas};

/// itsme's subject for a persona towards a sandbox client: stable, 36 characters, different per
/// client. It depends on nothing secret (the people are made up), so `passerelle sandbox
/// personas` can show it without a database, as the `idp_id` an RP will receive.
pub fn subject(client_id: &str, phone_number: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for part in ["passerelle-sandbox-subject", client_id, phone_number] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize());
    s[..36].to_string()
}

/// The notification channel on which a node announces that an action was decided, so that a
/// waiting page held open by another node moves on at once (PostgreSQL `LISTEN`/`NOTIFY`).
pub const ACTION_CHANNEL: &str = "passerelle_sandbox_actions";

/// How long a person's account stays blocked after three wrong codes, by default (an hour).
pub const DEFAULT_ACCOUNT_BLOCK_SECS: i64 = 3600;

/// A relying party of the sandbox (in the embedded default: Passerelle's own connector).
#[derive(Debug, Clone)]
pub struct SandboxClient {
    pub client_id: String,
    /// Shown in the app when the request does not name the end RP.
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// The client's public keys: request objects and client assertions are verified with its
    /// `sig` keys, tokens are encrypted to its `enc` key. Live when they rotate.
    pub keys: passerelle_jose::keyring::PublishedKeys,
    /// Service codes registered for this client.
    pub services: Vec<(String, Service)>,
    /// The client's registration with the signing service (CSC); `None`: it may not use it
    /// (`unauthorized_client`).
    pub csc: Option<CscRegistration>,
}

/// A client's registration with the sandbox's signing service (itsme's CSC API v1).
#[derive(Clone)]
pub struct CscRegistration {
    /// The OAuth 2.0 client secret: the token endpoint's client authentication, and (its
    /// SHA-256) the key of the client's `account_token`s.
    pub client_secret: String,
    /// Where the two authorizations may send the browser back: exact matches.
    pub redirect_uris: Vec<String>,
    /// The accounts the client may name in its `account_token`s (itsme's "restricted"
    /// servers); `None` accepts any.
    pub account_ids: Option<Vec<String>>,
}

impl std::fmt::Debug for CscRegistration {
    // The secret stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CscRegistration")
            .field("redirect_uris", &self.redirect_uris)
            .field("account_ids", &self.account_ids)
            .finish_non_exhaustive()
    }
}

/// Everything the sandbox needs; shared by its handlers.
#[derive(Debug)]
pub struct Sandbox {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// The public issuer URL, e.g. `http://127.0.0.1:8080/sandbox/v2`; routes hang below it.
    pub issuer: String,
    pub signing: SigningKey,
    pub decryption: DecryptionKey,
    /// HMAC key from which authorization codes are derived.
    pub secret: Vec<u8>,
    pub personas: Personas,
    pub clients: Vec<SandboxClient>,
    /// How long the app waits for a manual persona (seconds).
    pub app_timeout_secs: i64,
    /// Key management for the ID tokens and userinfo responses it encrypts.
    pub token_encryption: EncAlg,
    /// How long three wrong codes in a row block a person's account, in seconds; 0 blocks it
    /// until an operator unblocks it (`passerelle sandbox unblock PHONE`).
    pub account_block_secs: i64,
    /// HMAC key for the audit trail's subject hashes (shared with the broker).
    pub audit_secret: Vec<u8>,
    /// Rate limits per source address and per client (shared with the broker).
    pub limits: Arc<passerelle_limits::Limits>,
    waiters: waiters::Waiters,
    /// The signing service's CA and TSA, loaded on first use.
    authorities: tokio::sync::OnceCell<Arc<signing::Authorities>>,
}

impl Sandbox {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        issuer: String,
        signing: SigningKey,
        decryption: DecryptionKey,
        secret: Vec<u8>,
        personas: Personas,
        clients: Vec<SandboxClient>,
        app_timeout_secs: i64,
    ) -> Sandbox {
        Sandbox {
            store,
            clock,
            issuer,
            signing,
            decryption,
            secret,
            personas,
            clients,
            app_timeout_secs,
            token_encryption: EncAlg::RsaOaep256,
            account_block_secs: DEFAULT_ACCOUNT_BLOCK_SECS,
            limits: Arc::new(passerelle_limits::Limits::default()),
            audit_secret: Vec::new(),
            waiters: waiters::Waiters::default(),
            authorities: tokio::sync::OnceCell::new(),
        }
    }

    /// The sandbox's public keys (its JWKS).
    pub fn public_jwks(&self) -> serde_json::Value {
        passerelle_jose::jwks_json([self.signing.public_jwk(), self.decryption.public_jwk()])
    }

    /// Wakes this node's waiting pages for action `id` (called for the decisions taken here,
    /// and for those other nodes announce on [`ACTION_CHANNEL`]).
    pub fn wake(&self, id: &str) {
        self.waiters.wake(id);
    }

    /// Until when three wrong codes in a row block an account blocked at `now`.
    pub fn blocked_until(&self, now: i64) -> i64 {
        if self.account_block_secs <= 0 {
            i64::MAX
        } else {
            now.saturating_add(self.account_block_secs)
        }
    }

    fn client(&self, id: &str) -> Option<&SandboxClient> {
        self.clients.iter().find(|c| c.client_id == id)
    }
}
