//! Checking signatures the way a relying party's validator does, for operators
//! (`passerelle sign verify FILE`) and for tests: the digest, the signature over the signed
//! attributes, the certificate path to a trusted root, the time stamp, and for a PDF that the
//! byte range covers the whole file but the signature.

use time::OffsetDateTime;

use crate::Result;

/// One signature's verdict.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// The PDF field name (`/T`), or `detached`.
    pub field: String,
    /// The signer certificate's subject, one line.
    pub signer: String,
    /// Whether everything below checked out.
    pub valid: bool,
    /// The time stamp's time, when the signature has one that verifies.
    pub timestamp: Option<OffsetDateTime>,
    /// Whether the signature covers the whole file (PDF), i.e. nothing was appended after it.
    pub covers_whole_file: bool,
    /// What failed, in words; empty when `valid`.
    pub problems: Vec<String>,
}

/// Every signature in a PDF, checked against `trust` (DER root certificates).
pub fn pdf(bytes: &[u8], trust: &[Vec<u8>]) -> Result<Vec<SignatureReport>> {
    todo!()
}

/// A detached CAdES signature (`cms`, DER or PEM) over `content`, checked against `trust`.
pub fn detached(cms: &[u8], content: &[u8], trust: &[Vec<u8>]) -> Result<SignatureReport> {
    todo!()
}
