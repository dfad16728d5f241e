//! Electronic signatures: the pieces of a PAdES/CAdES pipeline whose private key may live
//! elsewhere (itsme's CSC service signs a hash it is sent; Passerelle's own sealing key signs
//! locally), the RFC 3161 time-stamp protocol, the sandbox's test certificate authority, and a
//! verifier for operators (`passerelle sign verify`).
//!
//! Nothing here touches a database or the network: callers keep the prepared bytes between
//! hashing and signing, and carry time-stamp requests and replies over HTTP themselves.
//!
//! The deferred sequence (reference `signing-and-channels.md` §3.2):
//! 1. [`pdf::prepare`] writes an incremental update with a signature dictionary whose
//!    `/Contents` is a fixed-size placeholder, and returns the digest of the `/ByteRange`;
//! 2. [`cades::SignedAttributes::new`] builds the signed attributes over that digest for the
//!    signer's certificate; **the hash to sign is [`cades::SignedAttributes::digest`]**, the
//!    SHA-256 of their DER `SET`, not the digest of the PDF;
//! 3. somebody signs that hash (PKCS#1 v1.5, SHA-256); [`cades::check_signature`] checks the
//!    answer against the certificate before anything is embedded;
//! 4. optionally, a time stamp over [`cades::signature_imprint`] ([`tsp`]) makes it B-T;
//! 5. [`cades::assemble`] makes the detached CMS `SignedData`, [`pdf::embed`] writes it into the
//!    placeholder. A non-PDF document keeps the CMS as a detached CAdES signature.

pub mod ca;
pub mod cades;
pub mod container;
pub mod keys;
mod oids;
pub mod pdf;
mod signed_data;
pub mod tsp;
pub mod verify;

/// Why a signing step failed. Client mistakes (a bad document, a wrong signature) and internal
/// failures are told apart so that callers can answer 4xx or 5xx.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a PDF this crate can sign, with the reason in words.
    #[error("{0}")]
    Pdf(#[from] pdf::PdfError),
    /// A signature, certificate, token or reply does not check out.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A structure could not be encoded or decoded.
    #[error("encoding: {0}")]
    Encoding(String),
    /// The cryptographic library failed.
    #[error("crypto: {0}")]
    Crypto(String),
}

impl From<openssl::error::ErrorStack> for Error {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Error::Crypto(e.to_string())
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Encoding(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
