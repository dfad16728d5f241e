//! Request objects (RFC 9101, OIDC Core §6.1): a JWS signed by the client with RS256, PS256 or
//! ES256, optionally inside a JWE encrypted to one of Passerelle's keys with RSA-OAEP-256 and
//! A128CBC-HS256 or A256GCM. Only the cryptography lives here; the claims (`iss`, `aud`, `exp`,
//! `nbf`, `client_id`) are the caller's to check.

use josekit::jwk::Jwk;
use josekit::jws::PS256;
use serde_json::Value;

use crate::{Claims, DecryptionKey, JoseError, PublicKeys, SigAlg, peek_header};

/// The JWS algorithms a request object may be signed with (`none` and HMAC never are).
pub const REQUEST_OBJECT_SIGNING_ALGS: [&str; 3] = ["RS256", "PS256", "ES256"];
/// The JWE key management a request object may be encrypted with.
pub const REQUEST_OBJECT_ENCRYPTION_ALGS: [&str; 1] = ["RSA-OAEP-256"];
/// The JWE content encryption a request object may use.
pub const REQUEST_OBJECT_ENCRYPTION_ENCS: [&str; 2] = ["A128CBC-HS256", "A256GCM"];

/// Whether `token` is a compact JWE (five parts) rather than a JWS (three).
pub fn is_encrypted(token: &str) -> bool {
    token.split('.').count() == 5
}

/// Decrypts an encrypted request object with the key its `kid` names and returns the nested
/// JWS. Only RSA-OAEP-256 with A128CBC-HS256 or A256GCM is taken (what discovery advertises).
pub fn decrypt_request_object(token: &str, keys: &[&DecryptionKey]) -> Result<String, JoseError> {
    let header = peek_header(token)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !REQUEST_OBJECT_ENCRYPTION_ALGS.contains(&alg) {
        return Err(JoseError::AlgorithmNotAccepted(alg.to_string()));
    }
    let enc = header
        .get("enc")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !REQUEST_OBJECT_ENCRYPTION_ENCS.contains(&enc) {
        return Err(JoseError::AlgorithmNotAccepted(enc.to_string()));
    }
    let plain = crate::decrypt(token, keys)?;
    String::from_utf8(plain).map_err(|_| JoseError::Malformed("the plaintext is not text".into()))
}

/// Verifies a signed request object against the client's keys and returns its claims. The
/// header's `alg` must be RS256, PS256 or ES256; the key is the one its `kid` names (or the only
/// one that fits).
pub fn verify_request_object(keys: &PublicKeys, token: &str) -> Result<Claims, JoseError> {
    let header = peek_header(token)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match alg {
        "RS256" => keys.verify(token, &[SigAlg::Rs256]),
        "ES256" => keys.verify(token, &[SigAlg::Es256]),
        "PS256" => verify_ps256(keys, token, header.get("kid").and_then(Value::as_str)),
        other => Err(JoseError::AlgorithmNotAccepted(other.to_string())),
    }
}

/// PS256 with the client's RSA signing key. The verifier is built per token: request objects are
/// few, and the key set's prepared verifiers are RS256 ones.
fn verify_ps256(keys: &PublicKeys, token: &str, kid: Option<&str>) -> Result<Claims, JoseError> {
    let candidates: Vec<&Jwk> = keys
        .inner
        .keys
        .iter()
        .filter(|k| k.key_type() == "RSA" && !matches!(k.key_use(), Some("enc")))
        .filter(|k| k.algorithm().is_none_or(|a| a == "PS256"))
        .filter(|k| kid.is_none_or(|kid| k.key_id() == Some(kid)))
        .collect();
    let [key] = candidates.as_slice() else {
        return Err(JoseError::UnknownKey(kid.map(str::to_string)));
    };
    let verifier = PS256
        .verifier_from_jwk(&crate::without_alg(key))
        .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
    let (payload, _) =
        josekit::jws::deserialize_compact(token, &verifier).map_err(|_| JoseError::BadSignature)?;
    match serde_json::from_slice(&payload) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JoseError::Malformed("payload is not a JSON object".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_looked_at() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for alg in ["none", "HS256"] {
            let token = format!(
                "{}.{}.",
                b64(&format!(r#"{{"alg":"{alg}"}}"#)),
                b64(r#"{"iss":"c"}"#)
            );
            assert!(matches!(
                verify_request_object(&PublicKeys::default(), &token),
                Err(JoseError::AlgorithmNotAccepted(a)) if a == alg
            ));
        }
    }
}
