//! DPoP proofs (RFC 9449 §4): the checks of §4.3 that need no state. Whether the proof's `jti`
//! was seen before and whether its `nonce` is one the server gave are the caller's to decide
//! (they need the database and the server's secret); everything else is decided here.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// The proof's header type (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";

/// The algorithms a proof may be signed with: asymmetric only (RFC 9449 §4.3 item 5), and the
/// ones Passerelle's discovery lists in `dpop_signing_alg_values_supported`.
pub const PROOF_ALGS: [&str; 3] = ["ES256", "PS256", "RS256"];

/// How far a proof's `iat` may lie behind or ahead of the server's clock (RFC 9449 §11.1):
/// five minutes back, one minute ahead, so a client's clock that drifts a little still works
/// while a proof kept for later does not.
pub const IAT_PAST_SECONDS: i64 = 300;
pub const IAT_FUTURE_SECONDS: i64 = 60;

/// What a proof is checked against: the request it came with.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The request's method (`POST`, `GET`).
    pub method: &'a str,
    /// The request's URI as the client addressed it, without query or fragment.
    pub uri: &'a str,
    pub now: i64,
    /// The access token presented with the proof, whose hash the proof must carry as `ath`
    /// (RFC 9449 §4.3 item 11); `None` at the token endpoint and PAR.
    pub access_token: Option<&'a str>,
    /// The algorithms this client may use (a FAPI 2.0 client may not use RS256).
    pub algs: &'a [&'a str],
}

/// A proof that passed every stateless check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`).
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, for the caller to check.
    pub nonce: Option<String>,
}

/// Why a proof is refused, in words a client developer can act on. Every case is
/// `invalid_dpop_proof` at the token endpoint and PAR, and `invalid_dpop_proof` in the
/// `WWW-Authenticate` challenge of a protected resource (RFC 9449 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofProblem {
    #[error("the DPoP proof is not a compact JWS")]
    Malformed,
    #[error("the DPoP proof's typ must be dpop+jwt")]
    WrongType,
    #[error("the DPoP proof's alg must be one of {0}")]
    Algorithm(String),
    #[error("the DPoP proof's header must carry the public key as jwk")]
    MissingKey,
    #[error("the DPoP proof's jwk must be a public key of the alg's type")]
    BadKey,
    #[error("the DPoP proof's signature does not verify with its jwk")]
    BadSignature,
    #[error("the DPoP proof lacks {0}")]
    MissingClaim(&'static str),
    #[error("the DPoP proof's htm is not this request's method")]
    WrongMethod,
    #[error("the DPoP proof's htu is not this request's URI")]
    WrongUri,
    #[error("the DPoP proof's iat is too far from the server's time")]
    Stale,
    #[error("the DPoP proof's ath is not the hash of the access token presented")]
    WrongAth,
}

/// The `ath` of an access token: base64url of its SHA-256 (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// Checks a DPoP proof against the request it came with (RFC 9449 §4.3 items 2–11, except the
/// nonce and the `jti` replay, which need state).
pub fn check_proof(proof: &str, check: &ProofCheck<'_>) -> Result<Proof, ProofProblem> {
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofProblem::Malformed);
    };
    let header = decode_object(h)?;
    let claims = decode_object(p)?;
    if header.get("typ").and_then(Value::as_str) != Some(PROOF_TYP) {
        return Err(ProofProblem::WrongType);
    }
    let algs = || check.algs.join(", ");
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .filter(|a| check.algs.contains(a) && PROOF_ALGS.contains(a))
        .ok_or_else(|| ProofProblem::Algorithm(algs()))?;
    let jwk = match header.get("jwk") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(ProofProblem::MissingKey),
    };
    // A private key in the header (RFC 9449 §4.3 item 7) is refused, not silently trimmed.
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk.contains_key(*m))
    {
        return Err(ProofProblem::BadKey);
    }
    let key = Jwk::from_map(jwk).map_err(|_| ProofProblem::BadKey)?;
    let verifier: Box<dyn JwsVerifier> = match (alg, key.key_type()) {
        ("ES256", "EC") if key.curve() == Some("P-256") => Box::new(
            ES256
                .verifier_from_jwk(&key)
                .map_err(|_| ProofProblem::BadKey)?,
        ),
        ("RS256", "RSA") if rsa_bits(&key) >= 2048 => Box::new(
            RS256
                .verifier_from_jwk(&key)
                .map_err(|_| ProofProblem::BadKey)?,
        ),
        ("PS256", "RSA") if rsa_bits(&key) >= 2048 => Box::new(
            PS256
                .verifier_from_jwk(&key)
                .map_err(|_| ProofProblem::BadKey)?,
        ),
        _ => return Err(ProofProblem::BadKey),
    };
    josekit::jws::deserialize_compact(proof, verifier.as_ref())
        .map_err(|_| ProofProblem::BadSignature)?;
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(ProofProblem::MissingClaim(name))
    };
    let jti = text("jti")?;
    if jti.len() > 256 {
        return Err(ProofProblem::Malformed);
    }
    if text("htm")? != check.method {
        return Err(ProofProblem::WrongMethod);
    }
    if !same_uri(text("htu")?, check.uri) {
        return Err(ProofProblem::WrongUri);
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(ProofProblem::MissingClaim("iat"))?;
    if iat < check.now - IAT_PAST_SECONDS || iat > check.now + IAT_FUTURE_SECONDS {
        return Err(ProofProblem::Stale);
    }
    if let Some(token) = check.access_token
        && text("ath")? != access_token_hash(token)
    {
        return Err(ProofProblem::WrongAth);
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(ProofProblem::Malformed),
    };
    Ok(Proof {
        jkt: crate::thumbprint(&key),
        jti: jti.to_string(),
        iat,
        nonce,
    })
}

/// Makes a proof as a DPoP client does (RFC 9449 §4.2): `typ` dpop+jwt, the key's `alg` and
/// its public `jwk` in the header. Passerelle checks proofs and makes none; this is for the test
/// suites and the benchmark, which play the client.
pub fn sign_proof(
    key: &crate::SigningKey,
    claims: &crate::Claims,
) -> Result<String, crate::JoseError> {
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type(PROOF_TYP);
    header.set_jwk(key.public_jwk().clone());
    let payload =
        serde_json::to_vec(claims).map_err(|e| crate::JoseError::Operation(e.to_string()))?;
    josekit::jws::serialize_compact(&payload, &header, key.signer.as_ref())
        .map_err(|e| crate::JoseError::Operation(e.to_string()))
}

fn decode_object(part: &str) -> Result<Map<String, Value>, ProofProblem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofProblem::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ProofProblem::Malformed),
    }
}

/// The size in bits of an RSA JWK's modulus (0 when it has none).
fn rsa_bits(key: &Jwk) -> usize {
    key.parameter("n")
        .and_then(Value::as_str)
        .and_then(|n| URL_SAFE_NO_PAD.decode(n).ok())
        .map(|n| {
            let leading = n.iter().take_while(|b| **b == 0).count();
            (n.len() - leading) * 8
        })
        .unwrap_or(0)
}

/// `htu` against the request's URI, ignoring query and fragment (RFC 9449 §4.3 item 9), with
/// the case-insensitive parts of RFC 3986 §6.2.2.1 (scheme and host) compared as such.
fn same_uri(htu: &str, uri: &str) -> bool {
    fn split(u: &str) -> Option<(String, &str)> {
        let u = u.split(['?', '#']).next().unwrap_or(u);
        let (scheme, rest) = u.split_once("://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        Some((
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            ),
            path,
        ))
    }
    match (split(htu), split(uri)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Claims, SigAlg, SigningKey};
    use serde_json::json;

    const URI: &str = "https://op.example/auth/open/connect/token";

    fn proof_with(key: &SigningKey, header: Value, claims: Value) -> String {
        let Value::Object(claims) = claims else {
            unreachable!()
        };
        let Value::Object(extra) = header else {
            unreachable!()
        };
        sign_with_header(key, &claims, &extra)
    }

    /// Signs with exactly the given header members (plus `alg`), as a DPoP client does.
    fn sign_with_header(key: &SigningKey, claims: &Claims, extra: &Claims) -> String {
        let mut header = josekit::jws::JwsHeader::new();
        for (k, v) in extra {
            header.set_claim(k, Some(v.clone())).expect("test");
        }
        let payload = serde_json::to_vec(claims).expect("test");
        josekit::jws::serialize_compact(&payload, &header, key.signer.as_ref()).expect("test")
    }

    fn good(key: &SigningKey, now: i64) -> String {
        let jwk = Value::Object(key.public_jwk().as_ref().clone());
        proof_with(
            key,
            json!({"typ": "dpop+jwt", "jwk": jwk}),
            json!({"jti": "j1", "htm": "POST", "htu": URI, "iat": now}),
        )
    }

    fn check(now: i64) -> ProofCheck<'static> {
        ProofCheck {
            method: "POST",
            uri: URI,
            now,
            access_token: None,
            algs: &PROOF_ALGS,
        }
    }

    #[test]
    fn a_good_proof_gives_the_thumbprint_of_its_key() {
        for alg in [SigAlg::Es256, SigAlg::Rs256] {
            let (key, _) = SigningKey::generate(alg).expect("test");
            let proof = check_proof(&good(&key, 1000), &check(1000)).expect("test");
            assert_eq!(proof.jkt, crate::thumbprint(key.public_jwk()));
            assert_eq!(proof.jti, "j1");
        }
    }

    #[test]
    fn every_broken_part_is_named() {
        let (key, _) = SigningKey::generate(SigAlg::Es256).expect("test");
        let (other, _) = SigningKey::generate(SigAlg::Es256).expect("test");
        let jwk = Value::Object(key.public_jwk().as_ref().clone());
        let claims = json!({"jti": "j1", "htm": "POST", "htu": URI, "iat": 1000});
        let cases: Vec<(String, ProofProblem)> = vec![
            ("a.b".into(), ProofProblem::Malformed),
            (
                proof_with(&key, json!({"typ": "JWT", "jwk": jwk}), claims.clone()),
                ProofProblem::WrongType,
            ),
            (
                proof_with(&key, json!({"typ": "dpop+jwt"}), claims.clone()),
                ProofProblem::MissingKey,
            ),
            (
                // Signed by another key than the one it names.
                proof_with(
                    &other,
                    json!({"typ": "dpop+jwt", "jwk": jwk}),
                    claims.clone(),
                ),
                ProofProblem::BadSignature,
            ),
            (
                proof_with(
                    &key,
                    json!({"typ": "dpop+jwt", "jwk": jwk}),
                    json!({"jti": "j1", "htm": "GET", "htu": URI, "iat": 1000}),
                ),
                ProofProblem::WrongMethod,
            ),
            (
                proof_with(
                    &key,
                    json!({"typ": "dpop+jwt", "jwk": jwk}),
                    json!({"jti": "j1", "htm": "POST", "htu": "https://op.example/other", "iat": 1000}),
                ),
                ProofProblem::WrongUri,
            ),
            (
                proof_with(
                    &key,
                    json!({"typ": "dpop+jwt", "jwk": jwk}),
                    json!({"jti": "j1", "htm": "POST", "htu": URI, "iat": 1000 - 3600}),
                ),
                ProofProblem::Stale,
            ),
            (
                proof_with(
                    &key,
                    json!({"typ": "dpop+jwt", "jwk": jwk}),
                    json!({"htm": "POST", "htu": URI, "iat": 1000}),
                ),
                ProofProblem::MissingClaim("jti"),
            ),
        ];
        for (proof, problem) in cases {
            assert_eq!(check_proof(&proof, &check(1000)), Err(problem));
        }
        // A private key in the header.
        let (_, private) = SigningKey::generate(SigAlg::Es256).expect("test");
        let private: Value = serde_json::from_str(&private).expect("test");
        let p = proof_with(&key, json!({"typ": "dpop+jwt", "jwk": private}), claims);
        assert_eq!(check_proof(&p, &check(1000)), Err(ProofProblem::BadKey));
    }

    #[test]
    fn the_clock_window_and_the_query_are_tolerated() {
        let (key, _) = SigningKey::generate(SigAlg::Es256).expect("test");
        let jwk = Value::Object(key.public_jwk().as_ref().clone());
        for iat in [990, 1010] {
            let p = proof_with(
                &key,
                json!({"typ": "dpop+jwt", "jwk": jwk}),
                json!({"jti": "j", "htm": "POST", "htu": "HTTPS://OP.example/auth/open/connect/token?x=1", "iat": iat}),
            );
            assert!(check_proof(&p, &check(1000)).is_ok());
        }
    }

    #[test]
    fn a_resource_request_needs_the_hash_of_its_token() {
        let (key, _) = SigningKey::generate(SigAlg::Es256).expect("test");
        let jwk = Value::Object(key.public_jwk().as_ref().clone());
        let mut c = check(1000);
        c.access_token = Some("tok");
        let without = good(&key, 1000);
        assert_eq!(
            check_proof(&without, &c),
            Err(ProofProblem::MissingClaim("ath"))
        );
        let mut claims: Claims = Claims::new();
        claims.insert("jti".into(), json!("j"));
        claims.insert("htm".into(), json!("POST"));
        claims.insert("htu".into(), json!(URI));
        claims.insert("iat".into(), json!(1000));
        claims.insert("ath".into(), json!(access_token_hash("other")));
        let Value::Object(h) = json!({"typ": "dpop+jwt", "jwk": jwk}) else {
            unreachable!()
        };
        let wrong = sign_with_header(&key, &claims, &h);
        assert_eq!(check_proof(&wrong, &c), Err(ProofProblem::WrongAth));
        claims.insert("ath".into(), json!(access_token_hash("tok")));
        let right = sign_with_header(&key, &claims, &h);
        assert!(check_proof(&right, &c).is_ok());
    }

    #[test]
    fn a_caller_can_refuse_rs256() {
        let (key, _) = SigningKey::generate(SigAlg::Rs256).expect("test");
        let mut c = check(1000);
        c.algs = &["ES256", "PS256"];
        assert!(matches!(
            check_proof(&good(&key, 1000), &c),
            Err(ProofProblem::Algorithm(_))
        ));
    }
}
