//! DPoP at the broker (RFC 9449): the proof a request carries, checked against that request, the
//! server's nonce (§8) and the proofs already seen (§11.1).
//!
//! Nonces are made without state: the HMAC of the current minute under a secret every node
//! shares, so any node accepts a nonce another gave, for one to two minutes. A proof must carry
//! one wherever Passerelle accepts proofs (PAR, token, userinfo); a client without it is answered
//! `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`, as RFC 9449 §8 and §9 describe, which the
//! DPoP client libraries handle by themselves. Each proof's `jti` is recorded (per key) until the
//! proof could no longer be fresh, so a captured proof cannot be replayed.

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use passerelle_core::oidc::{ErrorCode, OAuthError};
use passerelle_jose::dpop::{IAT_FUTURE_SECONDS, IAT_PAST_SECONDS, Proof, ProofCheck, check_proof};
use sha2::{Digest as _, Sha256};

use crate::{Broker, BrokerError};

/// How long one nonce window lasts; a nonce is accepted in its window and the next.
const NONCE_WINDOW_SECONDS: i64 = 60;

/// Where a proof is checked: the request it must describe, and how a refusal is shown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint<'a> {
    pub method: &'a str,
    /// The endpoint's path under the issuer (`/connect/token`).
    pub path: &'a str,
    /// A protected resource (userinfo): refusals are 401 with a `DPoP` challenge.
    pub at_resource: bool,
}

impl Broker {
    /// The nonce a DPoP client must put in its next proof.
    pub(crate) fn dpop_nonce(&self) -> String {
        self.dpop_nonce_for(self.clock.now().div_euclid(NONCE_WINDOW_SECONDS))
    }

    fn dpop_nonce_for(&self, window: i64) -> String {
        // HMAC takes keys of any length; the label keeps these MACs apart from the pairwise
        // subjects made with the same secret.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.pairwise_secret) else {
            return String::new();
        };
        mac.update(b"dpop-nonce");
        mac.update(&[0]);
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    fn is_fresh_dpop_nonce(&self, nonce: &str) -> bool {
        let window = self.clock.now().div_euclid(NONCE_WINDOW_SECONDS);
        [window, window - 1]
            .iter()
            .any(|w| self.dpop_nonce_for(*w).as_bytes() == nonce.as_bytes())
    }

    /// Checks the request's DPoP proof, if it has one: `Ok(None)` when it has none (whether
    /// that is allowed is the caller's to decide). `access_token` is the token the proof must
    /// hash (at a protected resource); `algs` the algorithms this client may use.
    pub(crate) async fn dpop_proof(
        &self,
        headers: &HeaderMap,
        at: Endpoint<'_>,
        access_token: Option<&str>,
        algs: &[&str],
    ) -> Result<Option<Proof>, BrokerError> {
        let refuse =
            |code: ErrorCode, description: &str, nonce: Option<String>| BrokerError::Dpop {
                error: OAuthError::new(code, description),
                nonce,
                at_resource: at.at_resource,
            };
        let mut values = headers.get_all("dpop").iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(refuse(
                ErrorCode::InvalidDpopProof,
                "send exactly one DPoP header",
                None,
            ));
        }
        let proof = value.to_str().map_err(|_| {
            refuse(
                ErrorCode::InvalidDpopProof,
                "the DPoP header is not a JWT",
                None,
            )
        })?;
        let uri = format!("{}{}", self.issuer, at.path);
        let proof = check_proof(
            proof.trim(),
            &ProofCheck {
                method: at.method,
                uri: &uri,
                now: self.clock.now(),
                access_token,
                algs,
            },
        )
        .map_err(|p| refuse(ErrorCode::InvalidDpopProof, &p.to_string(), None))?;
        if !proof
            .nonce
            .as_deref()
            .is_some_and(|n| self.is_fresh_dpop_nonce(n))
        {
            return Err(refuse(
                ErrorCode::UseDpopNonce,
                "the DPoP proof must carry the nonce of the DPoP-Nonce header",
                Some(self.dpop_nonce()),
            ));
        }
        // The jti is unique per key; its record lasts as long as the proof could be fresh.
        let seen = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{}\0{}", proof.jkt, proof.jti)));
        let until = proof.iat.max(self.clock.now()) + IAT_PAST_SECONDS + IAT_FUTURE_SECONDS;
        if !self.store.insert_jti("dpop", &seen, until).await? {
            return Err(refuse(
                ErrorCode::InvalidDpopProof,
                "this DPoP proof was already used (jti)",
                None,
            ));
        }
        Ok(Some(proof))
    }
}
