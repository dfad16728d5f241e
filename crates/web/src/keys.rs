//! The keys that rotate, and the rules of their rotation (`passerelle keys`).
//!
//! Each purpose is one line of [`PURPOSES`]: what the key does and which JWKS publishes it. The
//! timings follow from the JWKS's `Cache-Control: max-age`:
//!
//! - a new key is published at once and signs only [`activation_delay`] later (twice the max-age),
//!   so a verifier that cached the JWKS just before the rotation has fetched it again, with the
//!   new key, before it meets a token signed by it;
//! - a key that stopped signing stays published until nothing it signed can still be valid
//!   ([`retire_hold`]); an encryption key until what was encrypted to it has been received.

use std::sync::Arc;

use passerelle_jose::SigAlg;
use passerelle_jose::SigningKey;
use passerelle_jose::keyring::Keyring;

use crate::Lifetimes;

/// What a key of a purpose does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// Signs (JWS) with this algorithm.
    Sign(SigAlg),
    /// Decrypts what others encrypt to it (RSA-OAEP-256 / RSA-OAEP), published with `use=enc`.
    Decrypt,
}

/// The broker's JWKS (`<issuer>/.well-known/openid-configuration/jwks`), for relying parties.
pub const OP_JWKS: &str = "op";
/// The connector's JWKS (`<issuer>/connect/itsme/jwks`), the `jwks_uri` registered with itsme.
pub const CONNECTOR_JWKS: &str = "connector";

/// A purpose of keys that rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    /// The purpose's name in the `keys` table and in `passerelle keys --purpose`.
    pub name: &'static str,
    pub key_use: KeyUse,
    /// Which JWKS publishes it: [`OP_JWKS`] or [`CONNECTOR_JWKS`].
    pub jwks: &'static str,
}

/// Every purpose whose keys rotate. Adding one is one line here (and, for a new ID-token
/// algorithm, nothing more: [`OpKeys::for_alg`] finds its key by algorithm).
pub const PURPOSES: &[Purpose] = &[
    Purpose {
        name: "op-rs256",
        key_use: KeyUse::Sign(SigAlg::Rs256),
        jwks: OP_JWKS,
    },
    Purpose {
        name: "op-ps256",
        key_use: KeyUse::Sign(SigAlg::Ps256),
        jwks: OP_JWKS,
    },
    Purpose {
        name: "op-es256",
        key_use: KeyUse::Sign(SigAlg::Es256),
        jwks: OP_JWKS,
    },
    Purpose {
        name: "op-enc",
        key_use: KeyUse::Decrypt,
        jwks: OP_JWKS,
    },
    Purpose {
        name: "connector-sig",
        key_use: KeyUse::Sign(SigAlg::Rs256),
        jwks: CONNECTOR_JWKS,
    },
    Purpose {
        name: "connector-enc",
        key_use: KeyUse::Decrypt,
        jwks: CONNECTOR_JWKS,
    },
];

pub fn purpose(name: &str) -> Option<&'static Purpose> {
    PURPOSES.iter().find(|p| p.name == name)
}

/// The `Cache-Control: max-age` of a JWKS, in seconds. The connector's is itsme's minimum
/// (itsme caches partner keys for 30 min to 24 h and honours `max-age`, at least 30 min).
pub fn jwks_max_age(jwks: &str) -> i64 {
    if jwks == CONNECTOR_JWKS { 1800 } else { 300 }
}

/// How long after its publication a new key starts signing: twice the JWKS's max-age, so that a
/// copy cached just before the rotation (even through a shared cache that served it aged) has
/// expired first.
pub fn activation_delay(jwks: &str) -> i64 {
    2 * jwks_max_age(jwks)
}

/// Clock skew allowed to verifiers, added to every hold.
pub const SKEW: i64 = 60;

/// How long a key stays published after it stopped being used, before `keys retire` accepts it
/// without `--force`:
///
/// - the broker's signing keys: the longest lifetime of what they sign (ID tokens, and access
///   tokens, whose validity may be checked against signed documents), plus [`SKEW`];
/// - the connector's signing key: its request objects live 300 s, its client assertions 60 s,
///   plus [`SKEW`];
/// - the broker's decryption keys: request objects live up to an hour (RFC 9101 objects with
///   `exp` at most 60 minutes after `nbf`), so an hour plus [`SKEW`];
/// - the connector's decryption key: the scheme encrypts its answers when it sends them, so the
///   JWKS's max-age (the time its cached copy may still pick the key) plus [`SKEW`].
///
/// Retiring a decryption key also stops decryption with it: what arrives encrypted to it later fails.
pub fn retire_hold(p: &Purpose, lifetimes: &Lifetimes) -> i64 {
    match (p.key_use, p.jwks) {
        (KeyUse::Sign(_), OP_JWKS) => lifetimes.id_token.max(lifetimes.access_token) + SKEW,
        (KeyUse::Sign(_), _) => 300 + SKEW,
        (KeyUse::Decrypt, OP_JWKS) => 3600 + SKEW,
        (KeyUse::Decrypt, jwks) => jwks_max_age(jwks) + SKEW,
    }
}

/// Seconds between two reloads of a node's keyring from the database.
pub const RELOAD_INTERVAL: i64 = 5;

/// The broker's signing keys, one current key per ID-token algorithm, read from the keyring the
/// node reloads from the database.
#[derive(Debug, Clone)]
pub struct OpKeys {
    pub ring: Arc<Keyring>,
}

impl OpKeys {
    /// The key that signs `alg` at `now`: no IO, a lock read and a scan of a few keys.
    pub fn for_alg(&self, alg: SigAlg, now: i64) -> Option<Arc<SigningKey>> {
        let p = PURPOSES
            .iter()
            .find(|p| p.jwks == OP_JWKS && p.key_use == KeyUse::Sign(alg))?;
        self.ring.signing(p.name, now)
    }

    /// Every published decryption key of the broker's JWKS (`use=enc`), whichever generation:
    /// a sender picks one, and decryption selects by the JWE's `kid` among all.
    pub fn decryption_keys(&self) -> Vec<Arc<passerelle_jose::DecryptionKey>> {
        PURPOSES
            .iter()
            .filter(|p| p.jwks == OP_JWKS && p.key_use == KeyUse::Decrypt)
            .flat_map(|p| self.ring.decryption(p.name))
            .collect()
    }

    /// The published keys of the broker's JWKS, to verify our own signatures.
    pub fn public_keys(&self) -> passerelle_jose::PublicKeys {
        self.ring.public_keys(OP_JWKS)
    }
}
