//! RSA keys as PKCS#8 DER, and the one operation a CSC service offers: PKCS#1 v1.5 over a
//! SHA-256 hash it is given (the `DigestInfo` is added here, as itsme's `signHash` does).

use openssl::hash::MessageDigest;
use openssl::md::Md;
use openssl::pkey::{PKey, Private, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::x509::X509;

use crate::{Error, Result};

/// A new RSA-2048 private key, PKCS#8 DER.
pub fn generate_rsa_2048() -> Result<Vec<u8>> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    Ok(key.private_key_to_pkcs8()?)
}

/// The public key of a PKCS#8 private key, as DER `SubjectPublicKeyInfo`.
pub fn public_key_der(private_pkcs8: &[u8]) -> Result<Vec<u8>> {
    let key = PKey::private_key_from_pkcs8(private_pkcs8)?;
    Ok(key.public_key_to_der()?)
}

/// PKCS#1 v1.5 signature (`sha256WithRSAEncryption`) over a SHA-256 hash computed elsewhere.
pub fn sign_sha256_prehash(private_pkcs8: &[u8], hash: &[u8; 32]) -> Result<Vec<u8>> {
    RsaSigner::from_pkcs8(private_pkcs8)?.sign_sha256_prehash(hash)
}

/// Whether `signature` is a PKCS#1 v1.5 SHA-256 signature over `hash` by the key of the
/// certificate `cert_der`.
pub fn verify_sha256_prehash(cert_der: &[u8], hash: &[u8; 32], signature: &[u8]) -> Result<bool> {
    let key = X509::from_der(cert_der)?.public_key()?;
    verify_prehash_with(&key, hash, signature)
}

/// A parsed RSA private key, for callers that sign many hashes with one key (a CSC service's
/// `signHash` with up to 70 hashes, the TSA, the sealing key): parsing PKCS#8 once.
pub struct RsaSigner {
    key: PKey<Private>,
}

impl RsaSigner {
    /// Parse a PKCS#8 RSA private key.
    pub fn from_pkcs8(private_pkcs8: &[u8]) -> Result<Self> {
        let key = PKey::private_key_from_pkcs8(private_pkcs8)?;
        if key.rsa().is_err() {
            return Err(Error::Invalid("the key is not an RSA key".into()));
        }
        Ok(Self { key })
    }

    /// The public key, DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> Result<Vec<u8>> {
        Ok(self.key.public_key_to_der()?)
    }

    /// PKCS#1 v1.5 over a SHA-256 hash (the `DigestInfo` is added).
    pub fn sign_sha256_prehash(&self, hash: &[u8; 32]) -> Result<Vec<u8>> {
        let mut ctx = PkeyCtx::new(&self.key)?;
        ctx.sign_init()?;
        ctx.set_rsa_padding(Padding::PKCS1)?;
        ctx.set_signature_md(Md::sha256())?;
        let mut signature = Vec::new();
        ctx.sign_to_vec(hash, &mut signature)?;
        Ok(signature)
    }

    pub(crate) fn pkey(&self) -> &PKey<Private> {
        &self.key
    }
}

/// PKCS#1 v1.5 SHA-256 verification of a prehash with a public key. A malformed signature (wrong
/// length, bad padding) is `false`, not an error.
pub(crate) fn verify_prehash_with(
    key: &PKey<Public>,
    hash: &[u8; 32],
    signature: &[u8],
) -> Result<bool> {
    if key.rsa().is_err() {
        return Err(Error::Invalid(
            "the certificate's key is not an RSA key".into(),
        ));
    }
    let mut ctx = PkeyCtx::new(key)?;
    ctx.verify_init()?;
    ctx.set_rsa_padding(Padding::PKCS1)?;
    ctx.set_signature_md(Md::sha256())?;
    Ok(ctx.verify(hash, signature).unwrap_or(false))
}

/// Verification of a signature over `data` (hashed here with SHA-256) with whatever key the
/// certificate has: RSA PKCS#1 v1.5 or ECDSA. A malformed signature is `false`.
pub(crate) fn verify_sha256_data(
    key: &PKey<Public>,
    data: &[u8],
    signature: &[u8],
) -> Result<bool> {
    let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), key)?;
    verifier.update(data)?;
    Ok(verifier.verify(signature).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prehash_signature_verifies_like_an_ordinary_sha256_rsa_signature() {
        let key = generate_rsa_2048().expect("ok");
        let message = b"hello";
        let hash = crate::sha256(message);
        let signature = sign_sha256_prehash(&key, &hash).expect("ok");
        assert_eq!(signature.len(), 256);

        let public = PKey::public_key_from_der(&public_key_der(&key).expect("ok")).expect("ok");
        assert!(verify_sha256_data(&public, message, &signature).expect("ok"));
        assert!(verify_prehash_with(&public, &hash, &signature).expect("ok"));
        let mut other = hash;
        other[0] ^= 1;
        assert!(!verify_prehash_with(&public, &other, &signature).expect("ok"));
        assert!(!verify_prehash_with(&public, &hash, &signature[1..]).expect("ok"));
    }

    #[test]
    fn a_key_that_is_not_pkcs8_is_an_error() {
        assert!(sign_sha256_prehash(b"nonsense", &[0; 32]).is_err());
        assert!(public_key_der(&[]).is_err());
    }
}
