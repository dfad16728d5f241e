//! The forms tokens leave in, per client (`core::formats`): signed with the client's algorithm,
//! then encrypted to the client's own key when it registered for it (OIDC Core §10.2: a nested
//! JWT, signed then encrypted), and which claims go where (the ID token's contents and the
//! `claims` parameter, OIDC Core §5.5).
//!
//! Fails closed: a client registered for encryption gets an error, never a plaintext token, when
//! no key of its can be encrypted to.

use passerelle_core::claims::ClaimsRequest;
use passerelle_core::formats::{Encryption, IdTokenContents};
use passerelle_core::oidc::IdTokenAlg;
use passerelle_core::scopes::GrantedScopes;
use passerelle_jose::{Claims, PublicKeys, SigAlg};
use passerelle_store::ClientRecord;
use serde_json::{Map, Value};

use crate::{Broker, BrokerError};

/// The broker's signing algorithm for a client's choice.
pub(crate) fn sig_alg(alg: IdTokenAlg) -> SigAlg {
    match alg {
        IdTokenAlg::Rs256 => SigAlg::Rs256,
        IdTokenAlg::Ps256 => SigAlg::Ps256,
        IdTokenAlg::Es256 => SigAlg::Es256,
    }
}

/// Signs `claims` with the broker's key for `alg`.
pub(crate) fn sign(b: &Broker, alg: IdTokenAlg, claims: &Claims) -> Result<String, BrokerError> {
    let alg = sig_alg(alg);
    b.keys
        .for_alg(alg, b.clock.now())
        .ok_or_else(|| BrokerError::internal(format!("no {} signing key", alg.name())))?
        .sign(claims, Some("JWT"))
        .map_err(BrokerError::internal)
}

/// Why a token could not be encrypted to the client: the caller words it for its endpoint.
#[derive(Debug)]
pub(crate) enum SealError {
    /// The client's `jwks_uri` could not be read.
    KeysUnreadable,
    /// The client's keys hold none to encrypt to with its registered algorithm.
    NoKey,
    Internal(BrokerError),
}

impl SealError {
    /// The description for the client: what it registered, and what is missing.
    pub(crate) fn describe(&self, what: &str, e: Encryption) -> String {
        match self {
            SealError::KeysUnreadable => format!(
                "the client is registered for encrypted {what} ({}) but its jwks_uri could not be read",
                e.alg.as_str()
            ),
            SealError::NoKey | SealError::Internal(_) => format!(
                "the client is registered for encrypted {what} ({}) but its keys hold no {} key for encryption (use \"enc\" or no use)",
                e.alg.as_str(),
                e.alg.key_type()
            ),
        }
    }
}

/// The client's registered public keys: its `jwks`, or those at its `jwks_uri` (cached).
async fn client_keys(b: &Broker, client: &ClientRecord) -> Result<PublicKeys, SealError> {
    match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => PublicKeys::from_jwks_json(jwks).map_err(|e| {
            SealError::Internal(BrokerError::internal(format!("stored JWKS: {e}")))
        }),
        (None, Some(uri)) => b.client_jwks.get(uri, None).await.map_err(|e| {
            tracing::warn!(client.id = %client.id, error = %e, "the client's jwks_uri could not be read to encrypt to it");
            SealError::KeysUnreadable
        }),
        (None, None) => Err(SealError::NoKey),
    }
}

/// Encrypts `payload` to the client's key as `e` says; `cty` is `JWT` for a nested JWT.
pub(crate) async fn seal(
    b: &Broker,
    client: &ClientRecord,
    payload: &[u8],
    e: Encryption,
    cty: Option<&str>,
) -> Result<String, SealError> {
    let keys = client_keys(b, client).await?;
    if !keys.can_encrypt_with(e.alg.as_str()) {
        return Err(SealError::NoKey);
    }
    keys.encrypt_to_recipient(payload, e.alg.as_str(), e.enc.as_str(), cty)
        .map_err(|err| SealError::Internal(BrokerError::internal(err)))
}

/// The login's attributes that go into the ID token: those of the scopes the client's contents
/// setting releases there, and those asked for the ID token with the `claims` parameter (when
/// their value is one asked for).
pub(crate) fn id_token_attributes(
    contents: IdTokenContents,
    scopes: &GrantedScopes,
    requested: Option<&ClaimsRequest>,
    attributes: &Map<String, Value>,
) -> Map<String, Value> {
    let by_scope = match contents {
        IdTokenContents::Standard => scopes.id_token_claims(),
        IdTokenContents::All => scopes.claims(),
    };
    attributes
        .iter()
        .filter(|(k, v)| {
            by_scope.contains(k.as_str())
                || requested.is_some_and(|r| {
                    r.id_token.get(k.as_str()).is_some_and(|a| a.accepts(v))
                        || (contents == IdTokenContents::All
                            && r.userinfo.get(k.as_str()).is_some_and(|a| a.accepts(v)))
                })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The login's attributes that userinfo returns: those of the granted scopes, and those asked
/// for userinfo with the `claims` parameter (when their value is one asked for).
pub(crate) fn userinfo_attributes(
    scopes: &GrantedScopes,
    requested: Option<&ClaimsRequest>,
    attributes: &Map<String, Value>,
) -> Map<String, Value> {
    let by_scope = scopes.claims();
    attributes
        .iter()
        .filter(|(k, v)| {
            by_scope.contains(k.as_str())
                || requested
                    .is_some_and(|r| r.userinfo.get(k.as_str()).is_some_and(|a| a.accepts(v)))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
