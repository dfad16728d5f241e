//! The itsme connector: Passerelle as a relying party of the itsme scheme (itsme OIDC v2,
//! `shared/reference/itsme-signicat.md` §2) — the only crate that makes outbound HTTP requests.
//!
//! It builds the signed-then-encrypted request object with `service:<code>` and the itsme claim
//! URIs, redeems the code with private_key_jwt, decrypts and verifies the nested ID token (and
//! userinfo), and maps itsme's claims to the Signicat-style claims Passerelle returns. Pointing it
//! at itsme's e2e or production environment, or at the built-in sandbox, is configuration only.
//!
//! [`csc`] is the client of itsme's signing service (the CSC API v1), for qualified signatures.

pub mod claims;
mod connector;
pub mod csc;
pub mod metrics;
pub mod outbound;

pub use connector::{
    BackchannelRequest, BackchannelStarted, ClaimsDelivery, Connector, ConnectorConfig,
    ConnectorError, ConnectorKeys, DecoupledResult, DiscoveryPoll, Endpoints, JwksCache,
    LoginHintToken, SchemeIdentity, SchemeRefusal, UpstreamRequest, UserDiscovery, notify_client,
};
