//! CAdES-B-B/B-T signatures as detached CMS `SignedData` (RFC 5652), signed elsewhere.
//!
//! The signed attributes are exactly what PAdES wants: contentType (id-data), messageDigest and
//! signingCertificateV2 (ESSCertIDv2, SHA-256, with the issuer and serial); no signing-time
//! (PAdES puts it in the signature dictionary's `/M`; for a detached CAdES the time stamp
//! dates it). The B-T time stamp is the unsigned attribute id-aa-signatureTimeStampToken.

use crate::Result;

/// DER `SET OF Attribute` of a signature to be made.
#[derive(Debug, Clone)]
pub struct SignedAttributes {
    der: Vec<u8>,
}

impl SignedAttributes {
    /// The signed attributes over `content_digest` (SHA-256 of the signed content: the PDF's
    /// byte range, or a whole detached document) for the signer certificate `signer_cert_der`.
    pub fn new(content_digest: &[u8; 32], signer_cert_der: &[u8]) -> Result<Self> {
        todo!()
    }

    /// Read back attributes kept between hashing and signing (e.g. in a database).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        todo!()
    }

    /// DER of the `SET` (tag 0x31), as it is hashed and stored.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// **The hash to sign**: SHA-256 of [`Self::der`].
    pub fn digest(&self) -> [u8; 32] {
        crate::sha256(&self.der)
    }
}

/// Whether `signature` (PKCS#1 v1.5, SHA-256) over `attrs` was made by the key of
/// `signer_cert_der`. Call it on every signature a remote service returns, before embedding.
pub fn check_signature(
    attrs: &SignedAttributes,
    signature: &[u8],
    signer_cert_der: &[u8],
) -> Result<()> {
    todo!()
}

/// SHA-256 of the signature value: the message imprint a B-T time stamp covers.
pub fn signature_imprint(signature: &[u8]) -> [u8; 32] {
    crate::sha256(signature)
}

/// The DER `ContentInfo` of a detached `SignedData` with one signer: `chain` starts with the
/// signer's certificate, then its issuers (the root may be left out); `timestamp_token` is a
/// `TimeStampToken` (DER `ContentInfo`) from [`crate::tsp::token_from_response`].
pub fn assemble(
    attrs: &SignedAttributes,
    signature: &[u8],
    chain: &[Vec<u8>],
    timestamp_token: Option<&[u8]>,
) -> Result<Vec<u8>> {
    todo!()
}

/// Sign locally with a PKCS#8 RSA key (Passerelle's sealing key): the same as sending
/// `attrs.digest()` to a CSC service.
pub fn sign_locally(attrs: &SignedAttributes, key_pkcs8: &[u8]) -> Result<Vec<u8>> {
    crate::keys::sign_sha256_prehash(key_pkcs8, &attrs.digest())
}
