//! RSA keys as PKCS#8 DER, and the one operation a CSC service offers: PKCS#1 v1.5 over a
//! SHA-256 hash it is given (the `DigestInfo` is added here, as itsme's `signHash` does).

use crate::Result;

/// A new RSA-2048 private key, PKCS#8 DER.
pub fn generate_rsa_2048() -> Result<Vec<u8>> {
    todo!()
}

/// The public key of a PKCS#8 private key, as DER `SubjectPublicKeyInfo`.
pub fn public_key_der(private_pkcs8: &[u8]) -> Result<Vec<u8>> {
    todo!()
}

/// PKCS#1 v1.5 signature (`sha256WithRSAEncryption`) over a SHA-256 hash computed elsewhere.
pub fn sign_sha256_prehash(private_pkcs8: &[u8], hash: &[u8; 32]) -> Result<Vec<u8>> {
    todo!()
}

/// Whether `signature` is a PKCS#1 v1.5 SHA-256 signature over `hash` by the key of the
/// certificate `cert_der`.
pub fn verify_sha256_prehash(cert_der: &[u8], hash: &[u8; 32], signature: &[u8]) -> Result<bool> {
    todo!()
}
