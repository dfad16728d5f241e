//! The signing API, shaped like Signicat's Sign API v2 (`<base>/sign`): an API client uploads
//! documents, creates signing sessions, sends each signer to the session's `signatureUrl`, and
//! downloads the signed documents; it hears of every change through events (its webhook, or
//! polling).
//!
//! Two flows, chosen per session (`signingSetup[].signingFlow`):
//! - `PKISIGNING` with itsme: a **qualified** signature. The signer approves twice in the itsme
//!   app through itsme's CSC API (the signing account, then these documents' hashes); each PDF
//!   becomes PAdES-B-T, any other document a detached CAdES-B-T ([`signer`]).
//! - `AUTHENTICATION_BASED`: an **advanced** signature. The signer identifies with itsme
//!   (Identification) through an ordinary login of channel `Signing`, and Passerelle seals each
//!   document with its own sealing key, naming the verified signer in the signature.
//!
//! Everything a session needs between steps is in the database (the prepared signatures, the
//! scheme's tokens between its two approvals), so any node can take any step and a restart loses
//! nothing; a step is claimed by one conditional update of the session's stage.

mod api;
mod seal;
mod signer;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use passerelle_core::login::Scheme;
use passerelle_core::scopes::Account;
use passerelle_store::ClientRecord;
use tokio::sync::OnceCell;

use crate::Broker;

pub(crate) use signer::{deliver, deliver_failure};

/// Whether a client may use the signing API: sandbox accounts may (their signatures come from
/// the sandbox's TEST ONLY authorities), production ones when the operator granted `signing`.
pub(crate) fn may_sign(client: &ClientRecord) -> bool {
    client.account == Account::Sandbox
        || client
            .grants
            .iter()
            .any(|g| g == passerelle_core::signing::GRANT)
}

/// A key and its certificate chain (DER, the key's own certificate first).
#[derive(Clone)]
pub struct KeyAndChain {
    pub key_pkcs8: Vec<u8>,
    pub chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for KeyAndChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAndChain")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// What signing needs for the sessions of one scheme's clients (sandbox, or real itsme).
#[derive(Debug, Default)]
pub struct SchemeSigning {
    /// itsme's CSC API (qualified signatures); `None`: qualified signing is refused.
    pub csc: Option<Arc<passerelle_itsme::csc::CscClient>>,
    /// Where time stamps come from (RFC 3161); `None`: refused (fail closed).
    pub tsa_url: Option<String>,
    /// The sealing key for advanced signatures, when the operator configured one; otherwise
    /// `test_seal` makes one.
    pub seal: Option<KeyAndChain>,
    /// Whether a TEST ONLY seal may be made and kept in the database (sandbox only).
    pub test_seal: bool,
}

/// The signing API's settings and the state it shares.
#[derive(Debug)]
pub struct Signing {
    /// The largest document accepted (bytes); beyond it, 413.
    pub max_document_bytes: usize,
    /// How long an uploaded document, or a result nobody downloaded, is kept (seconds).
    pub document_lifetime: i64,
    /// How long a signed result (and its original) is kept once downloaded (seconds).
    pub retention_after_download: i64,
    pub sandbox: SchemeSigning,
    pub production: SchemeSigning,
    /// For the TSA and webhooks.
    pub outbound: passerelle_itsme::outbound::Outbound,
    /// The TEST ONLY seal, made once per database.
    test_seal: OnceCell<KeyAndChain>,
}

/// How long a signing session stays open when the API client gives no `dueDate` (7 days), and
/// the longest it may ask for (30 days, as Signicat).
pub(crate) const DEFAULT_DUE: i64 = 7 * 86_400;
pub(crate) const MAX_DUE: i64 = 30 * 86_400;
/// itsme signs at most this many hashes in one approval.
pub(crate) const MAX_SIGNED_DOCUMENTS: usize = 70;

impl Signing {
    pub fn new(
        max_document_bytes: usize,
        document_lifetime: i64,
        retention_after_download: i64,
        sandbox: SchemeSigning,
        production: SchemeSigning,
    ) -> Result<Signing, String> {
        let outbound = passerelle_itsme::outbound::Outbound::new().map_err(|e| e.to_string())?;
        Ok(Signing {
            max_document_bytes,
            document_lifetime,
            retention_after_download,
            sandbox,
            production,
            outbound,
            test_seal: OnceCell::new(),
        })
    }

    pub(crate) fn for_scheme(&self, scheme: Scheme) -> &SchemeSigning {
        match scheme {
            Scheme::Sandbox => &self.sandbox,
            Scheme::Production => &self.production,
        }
    }
}

/// The API's and the signer's routes, relative to its base (mount them under `/sign`).
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/documents", post(api::upload))
        .route(
            "/documents/{id}",
            get(api::download).delete(api::delete_document),
        )
        .route(
            "/documents/{id}/metadata",
            get(api::metadata).patch(api::patch_metadata),
        )
        .route("/document-collections", post(api::create_collection))
        .route(
            "/document-collections/{id}",
            get(api::read_collection).delete(api::delete_collection),
        )
        .route(
            "/signing-sessions",
            post(api::create_sessions).get(api::list_sessions),
        )
        .route(
            "/signing-sessions/{id}",
            get(api::read_session).delete(api::delete_session),
        )
        .route("/events", get(api::events))
        .route("/seal/chain.pem", get(api::seal_chain))
        .route("/signer/callback", get(signer::csc_callback))
        .route("/signer/{id}", get(signer::page).post(signer::decide))
        .route("/signer/{id}/documents/{doc}", get(signer::view_document))
        .with_state(broker)
}
