//! Keys, JWKS, JWS and JWE for Passerelle — no IO.
//!
//! Everything cryptographic that the broker, the connector and the sandbox do goes through this
//! crate, so the JOSE library (josekit, on OpenSSL) sits behind one small surface. Keys are parsed
//! once into ready-to-use signers and decrypters; callers never touch raw key material.
//!
//! Promises: a signature is only verified against a key whose `kid` and algorithm match the header
//! (RFC 7515 §4.1.4); JWE decryption selects the key by `kid` and accepts only RSA-OAEP and
//! RSA-OAEP-256 key management (itsme's JOSE appendix), so an attacker cannot pick the algorithm.

pub mod dpop;
pub mod keyring;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{ECDH_ES, JweDecrypter, JweEncrypter, JweHeader, RSA_OAEP, RSA_OAEP_256};
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, PS256, RS256};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

mod request_object;
pub use request_object::{
    REQUEST_OBJECT_ENCRYPTION_ALGS, REQUEST_OBJECT_ENCRYPTION_ENCS, REQUEST_OBJECT_SIGNING_ALGS,
    decrypt_request_object, is_encrypted, verify_request_object,
};

/// A JSON object: the claims of a JWT or the members of a JWK.
pub type Claims = Map<String, Value>;

/// What can go wrong with keys and tokens. Messages are safe to show to a developer: they never
/// contain key material or token contents.
#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    #[error("the key is not usable: {0}")]
    InvalidKey(String),
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("no key with kid {0:?} is known")]
    UnknownKey(Option<String>),
    #[error("algorithm {0:?} is not accepted here")]
    AlgorithmNotAccepted(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token cannot be decrypted")]
    DecryptionFailed,
    #[error("signing or encryption failed: {0}")]
    Operation(String),
}

/// JWS algorithms Passerelle signs with. RS256 is what itsme and Signicat use; PS256 and ES256
/// are offered per client for the RP-facing ID token and userinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    Rs256,
    Ps256,
    Es256,
}

impl SigAlg {
    pub fn name(self) -> &'static str {
        match self {
            SigAlg::Rs256 => "RS256",
            SigAlg::Ps256 => "PS256",
            SigAlg::Es256 => "ES256",
        }
    }

    pub fn parse(name: &str) -> Option<SigAlg> {
        match name {
            "RS256" => Some(SigAlg::Rs256),
            "PS256" => Some(SigAlg::Ps256),
            "ES256" => Some(SigAlg::Es256),
            _ => None,
        }
    }
}

/// JWE key-management algorithms accepted for decryption and used for encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncAlg {
    RsaOaep,
    RsaOaep256,
}

impl EncAlg {
    pub fn name(self) -> &'static str {
        match self {
            EncAlg::RsaOaep => "RSA-OAEP",
            EncAlg::RsaOaep256 => "RSA-OAEP-256",
        }
    }

    pub fn parse(name: &str) -> Option<EncAlg> {
        match name {
            "RSA-OAEP" => Some(EncAlg::RsaOaep),
            "RSA-OAEP-256" => Some(EncAlg::RsaOaep256),
            _ => None,
        }
    }
}

/// The content encryption Passerelle uses: the OIDC default that itsme's examples show.
pub const CONTENT_ENCRYPTION: &str = "A128CBC-HS256";

fn op_err(e: impl std::fmt::Display) -> JoseError {
    JoseError::Operation(e.to_string())
}

/// The RFC 7638 thumbprint of a public JWK, used as a stable `kid` for generated keys.
pub fn thumbprint(public: &Jwk) -> String {
    let m = public.as_ref();
    let pick = |names: &[&str]| {
        let mut o = Map::new();
        for n in names {
            if let Some(v) = m.get(*n) {
                o.insert((*n).to_string(), v.clone());
            }
        }
        Value::Object(o).to_string()
    };
    // serde_json keeps insertion order (preserve_order); RFC 7638 wants lexicographic order,
    // which the lists below are already in.
    let canonical = match public.key_type() {
        "EC" => pick(&["crv", "kty", "x", "y"]),
        _ => pick(&["e", "kty", "n"]),
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A private signing key with its public half, ready to sign.
#[derive(Debug)]
pub struct SigningKey {
    kid: String,
    alg: SigAlg,
    signer: Box<dyn JwsSigner>,
    public: Jwk,
}

impl SigningKey {
    /// Generates a fresh key (RSA 2048 for RS256 and PS256, P-256 for ES256) and returns it with
    /// its private JWK, which the caller persists.
    pub fn generate(alg: SigAlg) -> Result<(SigningKey, String), JoseError> {
        let mut jwk = match alg {
            SigAlg::Rs256 | SigAlg::Ps256 => Jwk::generate_rsa_key(2048).map_err(op_err)?,
            SigAlg::Es256 => {
                Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).map_err(op_err)?
            }
        };
        let public = jwk.to_public_key().map_err(op_err)?;
        jwk.set_key_id(thumbprint(&public));
        jwk.set_key_use("sig");
        jwk.set_algorithm(alg.name());
        let private = jwk.to_string();
        Ok((SigningKey::from_private_jwk(&private)?, private))
    }

    /// Loads a key persisted by [`SigningKey::generate`] (or supplied by an operator).
    pub fn from_private_jwk(json: &str) -> Result<SigningKey, JoseError> {
        let jwk =
            Jwk::from_bytes(json.as_bytes()).map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        let alg = match (jwk.key_type(), jwk.algorithm()) {
            ("RSA", None | Some("RS256")) => SigAlg::Rs256,
            ("RSA", Some("PS256")) => SigAlg::Ps256,
            ("EC", None | Some("ES256")) => SigAlg::Es256,
            (kty, alg) => {
                return Err(JoseError::InvalidKey(format!(
                    "unsupported signing key type {kty} / {alg:?}"
                )));
            }
        };
        let signer: Box<dyn JwsSigner> = match alg {
            SigAlg::Rs256 => Box::new(
                RS256
                    .signer_from_jwk(&jwk)
                    .map_err(|e| JoseError::InvalidKey(e.to_string()))?,
            ),
            SigAlg::Ps256 => Box::new(
                PS256
                    .signer_from_jwk(&jwk)
                    .map_err(|e| JoseError::InvalidKey(e.to_string()))?,
            ),
            SigAlg::Es256 => Box::new(
                ES256
                    .signer_from_jwk(&jwk)
                    .map_err(|e| JoseError::InvalidKey(e.to_string()))?,
            ),
        };
        let mut public = jwk
            .to_public_key()
            .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        let kid = match jwk.key_id() {
            Some(k) => k.to_string(),
            None => thumbprint(&public),
        };
        public.set_key_id(kid.clone());
        public.set_key_use("sig");
        public.set_algorithm(alg.name());
        Ok(SigningKey {
            kid,
            alg,
            signer,
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigAlg {
        self.alg
    }

    /// The public JWK, for a JWKS document.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }

    /// Signs `claims` as a compact JWS with `kid` in the header (RFC 7515 §7.1).
    pub fn sign(&self, claims: &Claims, typ: Option<&str>) -> Result<String, JoseError> {
        let mut header = JwsHeader::new();
        header.set_key_id(self.kid.clone());
        if let Some(t) = typ {
            header.set_token_type(t);
        }
        let payload = serde_json::to_vec(claims).map_err(op_err)?;
        josekit::jws::serialize_compact(&payload, &header, self.signer.as_ref()).map_err(op_err)
    }
}

/// A private RSA key that decrypts JWEs addressed to it, with either RSA-OAEP or RSA-OAEP-256.
#[derive(Debug)]
pub struct DecryptionKey {
    kid: String,
    oaep: Box<dyn JweDecrypter>,
    oaep256: Box<dyn JweDecrypter>,
    public: Jwk,
}

impl DecryptionKey {
    /// Generates an RSA 2048 encryption key and returns it with its private JWK. The published
    /// `alg` is RSA-OAEP-256, the algorithm itsme's JOSE appendix asks for.
    pub fn generate() -> Result<(DecryptionKey, String), JoseError> {
        let mut jwk = Jwk::generate_rsa_key(2048).map_err(op_err)?;
        let public = jwk.to_public_key().map_err(op_err)?;
        jwk.set_key_id(thumbprint(&public));
        jwk.set_key_use("enc");
        let private = jwk.to_string();
        Ok((DecryptionKey::from_private_jwk(&private)?, private))
    }

    pub fn from_private_jwk(json: &str) -> Result<DecryptionKey, JoseError> {
        let mut jwk =
            Jwk::from_bytes(json.as_bytes()).map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        if jwk.key_type() != "RSA" {
            return Err(JoseError::InvalidKey("encryption keys must be RSA".into()));
        }
        // josekit binds a key to one algorithm through `alg`; this key serves both OAEP variants.
        let _ = jwk.set_parameter("alg", None);
        let bad = |e: josekit::JoseError| JoseError::InvalidKey(e.to_string());
        let oaep = Box::new(RSA_OAEP.decrypter_from_jwk(&jwk).map_err(bad)?);
        let oaep256 = Box::new(RSA_OAEP_256.decrypter_from_jwk(&jwk).map_err(bad)?);
        let mut public = jwk.to_public_key().map_err(bad)?;
        let kid = match jwk.key_id() {
            Some(k) => k.to_string(),
            None => thumbprint(&public),
        };
        public.set_key_id(kid.clone());
        public.set_key_use("enc");
        public.set_algorithm(EncAlg::RsaOaep256.name());
        Ok(DecryptionKey {
            kid,
            oaep,
            oaep256,
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &Jwk {
        &self.public
    }
}

/// Decrypts a compact JWE with the key its `kid` names (itsme picks one of several `enc` keys at
/// random, so selection is by `kid`). Returns the plaintext, e.g. a nested JWS.
pub fn decrypt(token: &str, keys: &[&DecryptionKey]) -> Result<Vec<u8>, JoseError> {
    let header = peek_header(token)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let alg = EncAlg::parse(alg).ok_or_else(|| JoseError::AlgorithmNotAccepted(alg.to_string()))?;
    let enc = header
        .get("enc")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(
        enc,
        "A128CBC-HS256" | "A192CBC-HS384" | "A256CBC-HS512" | "A128GCM" | "A256GCM"
    ) {
        return Err(JoseError::AlgorithmNotAccepted(enc.to_string()));
    }
    // josekit inflates a `zip: DEF` plaintext without any bound (RFC 7516 §4.1.3), and anyone
    // can encrypt to a public key: a few KiB would become as many MiB. Nobody here compresses.
    if let Some(zip) = header.get("zip") {
        return Err(JoseError::AlgorithmNotAccepted(format!("zip {zip}")));
    }
    // The IV is 128 bits for AES-CBC-HMAC and 96 bits for AES-GCM (RFC 7518 §5.2.2, §5.3).
    // josekit hands any length to OpenSSL's Rust binding, which panics on a shorter IV or none.
    let iv_len = if enc.ends_with("GCM") { 12 } else { 16 };
    let iv = token.split('.').nth(2).unwrap_or_default();
    if URL_SAFE_NO_PAD.decode(iv).map(|iv| iv.len()).ok() != Some(iv_len) {
        return Err(JoseError::Malformed(format!(
            "the IV of {enc} must be {iv_len} bytes"
        )));
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let key = match kid {
        Some(kid) => keys.iter().find(|k| k.kid == kid),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
    .ok_or_else(|| JoseError::UnknownKey(kid.map(str::to_string)))?;
    let decrypter: &dyn JweDecrypter = match alg {
        EncAlg::RsaOaep => key.oaep.as_ref(),
        EncAlg::RsaOaep256 => key.oaep256.as_ref(),
    };
    josekit::jwe::deserialize_compact(token, decrypter)
        .map(|(plain, _)| plain)
        .map_err(|_| JoseError::DecryptionFailed)
}

/// Reads the protected header of a compact JWS or JWE without verifying anything.
pub fn peek_header(token: &str) -> Result<Claims, JoseError> {
    let first = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| JoseError::Malformed("header is not base64url".into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JoseError::Malformed("header is not a JSON object".into())),
    }
}

/// Reads the payload of a compact JWS without verifying it. Only for choosing which keys to verify
/// with (e.g. the `iss` of a client assertion); never trust what it returns.
pub fn peek_payload(token: &str) -> Result<Claims, JoseError> {
    let mut parts = token.split('.');
    let payload = parts
        .nth(1)
        .ok_or_else(|| JoseError::Malformed("not a compact JWS".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JoseError::Malformed("payload is not base64url".into()))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JoseError::Malformed("payload is not a JSON object".into())),
    }
}

/// A verifier built once for one public key (OpenSSL 3 makes parsing a key far costlier than
/// using it, so keys are parsed when the set is built, never per token).
#[derive(Debug)]
struct Verifier {
    kid: Option<String>,
    alg: SigAlg,
    verifier: Box<dyn JwsVerifier>,
}

/// Encrypters built once for the set's encryption key, one per key-management algorithm.
#[derive(Debug)]
struct Encrypters {
    oaep: Box<dyn JweEncrypter>,
    oaep256: Box<dyn JweEncrypter>,
    kid: Option<String>,
}

#[derive(Debug, Default)]
struct KeySet {
    keys: Vec<Jwk>,
    verifiers: Vec<Verifier>,
    encrypters: Option<Encrypters>,
}

/// A set of public keys that signatures are verified against and that JWEs are encrypted to.
/// Cheap to clone; keys are parsed once, when the set is built.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    inner: std::sync::Arc<KeySet>,
}

/// The key without the members josekit would enforce on its own: Passerelle selects keys by
/// `kid` and checks algorithms itself, and a JWS without `kid` is valid (RFC 7515 §4.1.4).
fn without_alg(jwk: &Jwk) -> Jwk {
    let mut key = jwk.clone();
    for member in ["alg", "key_ops", "kid"] {
        let _ = key.set_parameter(member, None);
    }
    key
}

impl PublicKeys {
    /// Parses a JWKS document (RFC 7517 §5). Keys of other types are kept but never match.
    pub fn from_jwks_json(json: &str) -> Result<PublicKeys, JoseError> {
        let set = JwkSet::from_bytes(json.as_bytes())
            .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
        Ok(PublicKeys::from_jwks(
            set.keys().into_iter().cloned().collect(),
        ))
    }

    pub fn from_jwks(keys: Vec<Jwk>) -> PublicKeys {
        let mut verifiers = Vec::new();
        for k in keys.iter().filter(|k| !matches!(k.key_use(), Some("enc"))) {
            let bare = without_alg(k);
            let kid = k.key_id().map(str::to_string);
            // A key bound to another algorithm (RFC 7517 §4.4) is not used for ours.
            let declared = k.algorithm();
            match k.key_type() {
                "RSA" if declared.is_some_and(|a| a != "RS256" && a != "PS256") => {}
                "EC" if declared.is_some_and(|a| a != "ES256") => {}
                "RSA" => {
                    if declared != Some("PS256")
                        && let Ok(v) = RS256.verifier_from_jwk(&bare)
                    {
                        verifiers.push(Verifier {
                            kid: kid.clone(),
                            alg: SigAlg::Rs256,
                            verifier: Box::new(v),
                        });
                    }
                    if declared != Some("RS256")
                        && let Ok(v) = PS256.verifier_from_jwk(&bare)
                    {
                        verifiers.push(Verifier {
                            kid,
                            alg: SigAlg::Ps256,
                            verifier: Box::new(v),
                        });
                    }
                }
                "EC" if k.curve() == Some("P-256") => {
                    if let Ok(v) = ES256.verifier_from_jwk(&bare) {
                        verifiers.push(Verifier {
                            kid,
                            alg: SigAlg::Es256,
                            verifier: Box::new(v),
                        });
                    }
                }
                _ => {}
            }
        }
        let enc = keys
            .iter()
            .find(|k| k.key_type() == "RSA" && matches!(k.key_use(), Some("enc")))
            .or_else(|| {
                keys.iter()
                    .find(|k| k.key_type() == "RSA" && k.key_use().is_none())
            });
        let encrypters = enc.and_then(|k| {
            let bare = without_alg(k);
            Some(Encrypters {
                oaep: Box::new(RSA_OAEP.encrypter_from_jwk(&bare).ok()?),
                oaep256: Box::new(RSA_OAEP_256.encrypter_from_jwk(&bare).ok()?),
                kid: k.key_id().map(str::to_string),
            })
        });
        PublicKeys {
            inner: std::sync::Arc::new(KeySet {
                keys,
                verifiers,
                encrypters,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.inner.keys.is_empty()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.inner.keys.iter().any(|k| k.key_id() == Some(kid))
    }

    /// Whether the set has an RSA key to encrypt to (`use` = `enc`, or no `use`).
    pub fn can_encrypt(&self) -> bool {
        self.inner.encrypters.is_some()
    }

    /// Encrypts `plaintext` (a signed JWT) to the set's encryption key, with `cty: JWT` for a
    /// nested JWT (RFC 7519 §5.2) and the key's `kid`.
    pub fn encrypt(&self, plaintext: &[u8], alg: EncAlg) -> Result<String, JoseError> {
        let e = self
            .inner
            .encrypters
            .as_ref()
            .ok_or_else(|| JoseError::InvalidKey("no RSA encryption key in the set".into()))?;
        let encrypter: &dyn JweEncrypter = match alg {
            EncAlg::RsaOaep => e.oaep.as_ref(),
            EncAlg::RsaOaep256 => e.oaep256.as_ref(),
        };
        let mut header = JweHeader::new();
        header.set_content_encryption(CONTENT_ENCRYPTION);
        header.set_content_type("JWT");
        if let Some(kid) = &e.kid {
            header.set_key_id(kid);
        }
        josekit::jwe::serialize_compact(plaintext, &header, encrypter).map_err(op_err)
    }

    /// Whether the set has a key to encrypt to with `alg` (see [`PublicKeys::encrypt_to_recipient`]).
    pub fn can_encrypt_with(&self, alg: &str) -> bool {
        self.recipient_key(alg).is_some()
    }

    /// The key a JWE with key management `alg` is encrypted to: of the right `kty` (RSA for
    /// RSA-OAEP and RSA-OAEP-256, EC for ECDH-ES), meant for encryption (`use` = `enc`, or no
    /// `use`; `enc` preferred), and not bound to another algorithm.
    fn recipient_key(&self, alg: &str) -> Option<&Jwk> {
        let kty = match alg {
            "RSA-OAEP" | "RSA-OAEP-256" => "RSA",
            "ECDH-ES" => "EC",
            _ => return None,
        };
        let fits = |k: &&Jwk| {
            k.key_type() == kty
                && k.algorithm().is_none_or(|a| a == alg)
                && (kty != "EC" || matches!(k.curve(), Some("P-256" | "P-384" | "P-521")))
        };
        let keys = &self.inner.keys;
        keys.iter()
            .filter(fits)
            .find(|k| k.key_use() == Some("enc"))
            .or_else(|| keys.iter().filter(fits).find(|k| k.key_use().is_none()))
    }

    /// Encrypts `plaintext` to the set's key for `alg` (RSA-OAEP-256, RSA-OAEP or ECDH-ES) with
    /// content encryption `enc` (A128CBC-HS256 or A256GCM), naming the key's `kid`; `cty` is
    /// `JWT` for a nested JWT (RFC 7519 §5.2, OIDC Core §10.2). Fails, never falls back to
    /// plaintext, when the set has no such key.
    pub fn encrypt_to_recipient(
        &self,
        plaintext: &[u8],
        alg: &str,
        enc: &str,
        cty: Option<&str>,
    ) -> Result<String, JoseError> {
        if !matches!(enc, "A128CBC-HS256" | "A256GCM") {
            return Err(JoseError::AlgorithmNotAccepted(enc.to_string()));
        }
        let key = self.recipient_key(alg).ok_or_else(|| {
            JoseError::InvalidKey(format!("no key in the set can be encrypted to with {alg}"))
        })?;
        // josekit writes the encrypter's own `kid` into the header, so only `alg` and `key_ops`
        // go (the algorithm was matched above).
        let mut bare = key.clone();
        for member in ["alg", "key_ops"] {
            let _ = bare.set_parameter(member, None);
        }
        let bad = |e: josekit::JoseError| JoseError::InvalidKey(e.to_string());
        let encrypter: Box<dyn JweEncrypter> = match alg {
            "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(&bare).map_err(bad)?),
            "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(&bare).map_err(bad)?),
            "ECDH-ES" => Box::new(ECDH_ES.encrypter_from_jwk(&bare).map_err(bad)?),
            other => return Err(JoseError::AlgorithmNotAccepted(other.to_string())),
        };
        let mut header = JweHeader::new();
        header.set_content_encryption(enc);
        if let Some(cty) = cty {
            header.set_content_type(cty);
        }
        josekit::jwe::serialize_compact(plaintext, &header, encrypter.as_ref()).map_err(op_err)
    }

    /// Verifies a compact JWS against the key named by its `kid` (or the only candidate key when
    /// the header has none) and returns its claims. Only the algorithms in `accepted` are allowed.
    pub fn verify(&self, token: &str, accepted: &[SigAlg]) -> Result<Claims, JoseError> {
        let header = peek_header(token)?;
        let alg_name = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let alg = SigAlg::parse(alg_name)
            .filter(|a| accepted.contains(a))
            .ok_or_else(|| JoseError::AlgorithmNotAccepted(alg_name.to_string()))?;
        let kid = header.get("kid").and_then(Value::as_str);
        let candidates: Vec<&Verifier> = self
            .inner
            .verifiers
            .iter()
            .filter(|v| v.alg == alg)
            .filter(|v| match kid {
                Some(kid) => v.kid.as_deref() == Some(kid),
                None => true,
            })
            .collect();
        let verifier = match candidates.as_slice() {
            [one] => one,
            _ => return Err(JoseError::UnknownKey(kid.map(str::to_string))),
        };
        let (payload, _) = josekit::jws::deserialize_compact(token, verifier.verifier.as_ref())
            .map_err(|_| JoseError::BadSignature)?;
        match serde_json::from_slice(&payload) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(JoseError::Malformed("payload is not a JSON object".into())),
        }
    }
}

/// A JWKS document for the given public keys (RFC 7517 §5).
pub fn jwks_json<'a>(keys: impl IntoIterator<Item = &'a Jwk>) -> Value {
    let keys: Vec<Value> = keys
        .into_iter()
        .map(|k| Value::Object(k.as_ref().clone()))
        .collect();
    serde_json::json!({ "keys": keys })
}

/// Whether a JWT's `aud` is a single string equal to one of `accepted`. An array is refused
/// even when it holds an accepted value: a token whose audience was chosen by someone else (the
/// audience-injection attack on client assertions, OpenID Foundation advisory of 2025 and RFC
/// 7523bis) often carries several, and a token meant for us names us alone.
pub fn audience_is(claims: &Claims, accepted: &[&str]) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => accepted.contains(&a.as_str()),
        _ => false,
    }
}

/// Whether an ID token is addressed to `client_id` alone: `aud` is that string, or an array
/// holding only it (OIDC Core §3.1.3.7: reject an ID token with audiences the client does not
/// trust).
pub fn audience_is_only(claims: &Claims, client_id: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(list)) => {
            list.len() == 1 && list.first().and_then(Value::as_str) == Some(client_id)
        }
        _ => false,
    }
}

/// Who a JWT may be addressed to.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// One string, equal to one of these ([`audience_is`]): client assertions, request objects.
    OneOf(&'a [&'a str]),
    /// This client alone, as a string or a one-element array ([`audience_is_only`]): ID tokens.
    Only(&'a str),
}

/// The registered claims a verified JWT must satisfy (RFC 7519 §4.1), checked in one place for
/// every token Passerelle accepts: client assertions at the broker and at the sandbox, request
/// objects at the sandbox, and the scheme's ID tokens at the connector.
#[derive(Debug, Clone, Copy)]
pub struct ClaimsCheck<'a> {
    /// `iss` must be this, when given.
    pub issuer: Option<&'a str>,
    pub audience: Audience<'a>,
    pub now: i64,
    /// `exp` may be at most this far ahead of `now`, when given (a token living longer is
    /// refused: assertions and request objects are single-use and short).
    pub max_lifetime: Option<i64>,
    /// How long after `exp` the token is still taken (the other side's clock may be late).
    pub expiry_skew: i64,
    /// How far in the future `nbf` and `iat` may be.
    pub future_skew: i64,
}

/// Which registered claim a JWT failed (each caller words it for its own audience).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsProblem {
    Issuer,
    Audience,
    NoExpiry,
    Expired,
    LivesTooLong,
    /// `nbf` or `iat` (named) is in the future.
    InTheFuture(&'static str),
}

impl ClaimsCheck<'_> {
    /// Checks `iss`, `aud`, `exp`, `nbf` and `iat`; returns `exp`.
    pub fn check(&self, claims: &Claims) -> Result<i64, ClaimsProblem> {
        if let Some(issuer) = self.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer)
        {
            return Err(ClaimsProblem::Issuer);
        }
        let addressed = match self.audience {
            Audience::OneOf(accepted) => audience_is(claims, accepted),
            Audience::Only(client_id) => audience_is_only(claims, client_id),
        };
        if !addressed {
            return Err(ClaimsProblem::Audience);
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(ClaimsProblem::NoExpiry)?;
        if exp.saturating_add(self.expiry_skew) <= self.now {
            return Err(ClaimsProblem::Expired);
        }
        if self
            .max_lifetime
            .is_some_and(|max| exp > self.now.saturating_add(max))
        {
            return Err(ClaimsProblem::LivesTooLong);
        }
        for member in ["nbf", "iat"] {
            if claims
                .get(member)
                .and_then(Value::as_i64)
                .is_some_and(|t| t > self.now.saturating_add(self.future_skew))
            {
                return Err(ClaimsProblem::InTheFuture(member));
            }
        }
        Ok(exp)
    }
}

/// The `at_hash` / `c_hash` of OIDC Core §3.1.3.6 for SHA-256-based algorithms.
pub fn left_half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claims_check_for_every_token() {
        use serde_json::json;
        let claims = |pairs: &[(&str, Value)]| -> Claims {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        let check = ClaimsCheck {
            issuer: Some("https://iss"),
            audience: Audience::OneOf(&["https://op", "https://op/token"]),
            now: 1_000,
            max_lifetime: Some(3600),
            expiry_skew: 0,
            future_skew: 60,
        };
        let good = [
            ("iss", json!("https://iss")),
            ("aud", json!("https://op")),
            ("exp", json!(1_100)),
            ("iat", json!(1_050)),
        ];
        assert_eq!(check.check(&claims(&good)), Ok(1_100));
        for (change, problem) in [
            (("iss", json!("https://other")), ClaimsProblem::Issuer),
            (("aud", json!(["https://op"])), ClaimsProblem::Audience),
            (("aud", json!("https://elsewhere")), ClaimsProblem::Audience),
            (("exp", json!("soon")), ClaimsProblem::NoExpiry),
            (("exp", json!(1_000)), ClaimsProblem::Expired),
            (("exp", json!(4_601)), ClaimsProblem::LivesTooLong),
            (("iat", json!(1_061)), ClaimsProblem::InTheFuture("iat")),
        ] {
            let mut c = claims(&good);
            c.insert(change.0.into(), change.1.clone());
            assert_eq!(check.check(&c), Err(problem), "{change:?}");
        }
        let mut c = claims(&good);
        c.insert("nbf".into(), json!(1_061));
        assert_eq!(check.check(&c), Err(ClaimsProblem::InTheFuture("nbf")));
        let id_token = ClaimsCheck {
            issuer: None,
            audience: Audience::Only("client"),
            expiry_skew: 60,
            max_lifetime: None,
            ..check
        };
        let c = claims(&[("aud", json!(["client"])), ("exp", json!(941))]);
        assert_eq!(id_token.check(&c), Ok(941));
        let c = claims(&[("aud", json!(["client", "x"])), ("exp", json!(2_000))]);
        assert_eq!(id_token.check(&c), Err(ClaimsProblem::Audience));
        let c = claims(&[("aud", json!("client")), ("exp", json!(940))]);
        assert_eq!(id_token.check(&c), Err(ClaimsProblem::Expired));
    }

    #[test]
    fn nested_jwt_round_trip_with_both_oaep_variants() {
        let (sig, _) = SigningKey::generate(SigAlg::Rs256).expect("key");
        let (dec, private) = DecryptionKey::generate().expect("key");
        let reloaded = DecryptionKey::from_private_jwk(&private).expect("reload");
        let mut claims = Claims::new();
        claims.insert("sub".into(), "abc".into());
        let jws = sig.sign(&claims, Some("JWT")).expect("sign");
        let verify = PublicKeys::from_jwks(vec![sig.public_jwk().clone()]);
        for alg in [EncAlg::RsaOaep, EncAlg::RsaOaep256] {
            let recipient = PublicKeys::from_jwks(vec![dec.public_jwk().clone()]);
            let jwe = recipient.encrypt(jws.as_bytes(), alg).expect("encrypt");
            let header = peek_header(&jwe).expect("header");
            assert_eq!(header["alg"], alg.name());
            assert_eq!(header["cty"], "JWT");
            let plain = decrypt(&jwe, &[&reloaded]).expect("decrypt");
            let inner = String::from_utf8(plain).expect("utf8");
            let got = verify.verify(&inner, &[SigAlg::Rs256]).expect("verify");
            assert_eq!(got["sub"], "abc");
        }
    }

    #[test]
    fn ps256_signs_and_client_keys_are_encrypted_to_by_kind() {
        use josekit::jwe::ECDH_ES;
        let (sig, private) = SigningKey::generate(SigAlg::Ps256).expect("key");
        assert_eq!(
            SigningKey::from_private_jwk(&private)
                .expect("reload")
                .alg(),
            SigAlg::Ps256
        );
        let keys = PublicKeys::from_jwks(vec![sig.public_jwk().clone()]);
        let token = sig.sign(&Claims::new(), Some("JWT")).expect("sign");
        assert!(keys.verify(&token, &[SigAlg::Ps256]).is_ok());
        assert!(keys.verify(&token, &[SigAlg::Rs256]).is_err());

        let mut ec = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).expect("ec");
        ec.set_key_id("ec-enc");
        ec.set_key_use("enc");
        let mut rsa_sig = Jwk::generate_rsa_key(2048).expect("rsa");
        rsa_sig.set_key_use("sig");
        let mut ec_public = ec.to_public_key().expect("public");
        ec_public.set_key_id("ec-enc");
        ec_public.set_key_use("enc");
        let client =
            PublicKeys::from_jwks(vec![rsa_sig.to_public_key().expect("public"), ec_public]);
        assert!(client.can_encrypt_with("ECDH-ES"));
        assert!(
            !client.can_encrypt_with("RSA-OAEP-256"),
            "a sig key is not encrypted to"
        );
        let jwe = client
            .encrypt_to_recipient(token.as_bytes(), "ECDH-ES", "A256GCM", Some("JWT"))
            .expect("encrypt");
        let header = peek_header(&jwe).expect("header");
        assert_eq!(
            (header["alg"].as_str(), header["enc"].as_str()),
            (Some("ECDH-ES"), Some("A256GCM"))
        );
        assert_eq!(header["kid"], "ec-enc");
        let decrypter = ECDH_ES.decrypter_from_jwk(&ec).expect("decrypter");
        let (plain, _) = josekit::jwe::deserialize_compact(&jwe, &decrypter).expect("decrypt");
        assert_eq!(plain, token.as_bytes());
        assert!(
            client
                .encrypt_to_recipient(b"x", "RSA-OAEP", "A128CBC-HS256", None)
                .is_err()
        );
    }

    #[test]
    fn verification_refuses_other_algorithms_and_tampering() {
        let (sig, _) = SigningKey::generate(SigAlg::Es256).expect("key");
        let keys = PublicKeys::from_jwks(vec![sig.public_jwk().clone()]);
        let token = sig.sign(&Claims::new(), None).expect("sign");
        assert!(keys.verify(&token, &[SigAlg::Es256]).is_ok());
        assert!(matches!(
            keys.verify(&token, &[SigAlg::Rs256]),
            Err(JoseError::AlgorithmNotAccepted(_))
        ));
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(keys.verify(&tampered, &[SigAlg::Es256]).is_err());
    }

    #[test]
    fn a_signature_without_kid_verifies_against_the_only_candidate() {
        let (sig, private) = SigningKey::generate(SigAlg::Rs256).expect("key");
        let keys = PublicKeys::from_jwks(vec![sig.public_jwk().clone()]);
        let mut bare = Jwk::from_bytes(private.as_bytes()).expect("jwk");
        bare.set_parameter("kid", None).expect("remove kid");
        let signer = RS256.signer_from_jwk(&bare).expect("signer");
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        let payload = serde_json::to_vec(&Claims::new()).expect("json");
        let token = josekit::jws::serialize_compact(&payload, &header, &signer).expect("sign");
        assert!(peek_header(&token).expect("header").get("kid").is_none());
        assert!(keys.verify(&token, &[SigAlg::Rs256]).is_ok());
    }

    /// A nested JWT encrypted to a fresh key, with its five segments.
    fn encrypted_to(dec: &DecryptionKey) -> Vec<String> {
        let (sig, _) = SigningKey::generate(SigAlg::Es256).expect("key");
        let jws = sig.sign(&Claims::new(), Some("JWT")).expect("sign");
        let recipient = PublicKeys::from_jwks(vec![dec.public_jwk().clone()]);
        let jwe = recipient
            .encrypt(jws.as_bytes(), EncAlg::RsaOaep256)
            .expect("encrypt");
        jwe.split('.').map(str::to_string).collect()
    }

    #[test]
    fn a_jwe_whose_iv_does_not_fit_is_refused_without_a_panic() {
        // Found by fuzz/ (target jose_tokens, fuzz/regressions/jose_tokens/iv-*): OpenSSL's Rust
        // binding panicked on a short or empty IV, before the tag was checked.
        let (dec, _) = DecryptionKey::generate().expect("key");
        let mut parts = encrypted_to(&dec);
        assert!(decrypt(&parts.join("."), &[&dec]).is_ok());
        for iv in ["", "AAA", "AAAAAAAAAAAAAAAAAAAAAAA"] {
            parts[2] = iv.to_string();
            assert!(
                matches!(
                    decrypt(&parts.join("."), &[&dec]),
                    Err(JoseError::Malformed(_))
                ),
                "IV {iv:?}"
            );
        }
    }

    #[test]
    fn a_compressed_jwe_is_refused_before_it_is_inflated() {
        // Found while writing fuzz/ (target jose_tokens, fuzz/regressions/jose_tokens/zip-*):
        // josekit inflated `zip: DEF` without a bound, so 1 MiB arrived in a 2 KiB token.
        let (dec, _) = DecryptionKey::generate().expect("key");
        let encrypter = RSA_OAEP_256
            .encrypter_from_jwk(&without_alg(dec.public_jwk()))
            .expect("encrypter");
        let mut header = JweHeader::new();
        header.set_content_encryption(CONTENT_ENCRYPTION);
        header.set_compression("DEF");
        header.set_key_id(dec.kid());
        let bomb = vec![b'A'; 1 << 20];
        let jwe = josekit::jwe::serialize_compact(&bomb, &header, &encrypter).expect("encrypt");
        assert!(jwe.len() < 4096, "1 MiB deflates to {} bytes", jwe.len());
        assert!(matches!(
            decrypt(&jwe, &[&dec]),
            Err(JoseError::AlgorithmNotAccepted(_))
        ));
    }

    #[test]
    fn audiences_must_be_one_string() {
        let with = |aud: Value| {
            let mut c = Claims::new();
            c.insert("aud".into(), aud);
            c
        };
        let issuer = "https://id.example/auth/open";
        assert!(audience_is(&with(Value::from(issuer)), &[issuer]));
        assert!(!audience_is(&with(serde_json::json!([issuer])), &[issuer]));
        assert!(!audience_is(
            &with(serde_json::json!([issuer, "https://other.example"])),
            &[issuer]
        ));
        assert!(!audience_is(
            &with(Value::from("https://other.example")),
            &[issuer]
        ));
        assert!(!audience_is(&Claims::new(), &[issuer]));
        assert!(audience_is_only(&with(Value::from("rp")), "rp"));
        assert!(audience_is_only(&with(serde_json::json!(["rp"])), "rp"));
        assert!(!audience_is_only(
            &with(serde_json::json!(["rp", "evil"])),
            "rp"
        ));
        assert!(!audience_is_only(&with(serde_json::json!([])), "rp"));
    }

    #[test]
    fn at_hash_matches_oidc_example_shape() {
        assert_eq!(left_half_hash("abc").len(), 22);
    }
}
