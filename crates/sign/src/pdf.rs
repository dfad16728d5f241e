//! PDF signatures by incremental update: the original bytes stay the prefix of the signed file.

use time::OffsetDateTime;

use crate::Result;

/// Why a PDF cannot be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    #[error("the document is not a PDF")]
    NotPdf,
    #[error("the PDF cannot be read: {0}")]
    Malformed(String),
    #[error("the PDF is encrypted")]
    Encrypted,
    #[error("the PDF is already signed")]
    AlreadySigned,
    #[error("the signature does not fit in the space reserved for it")]
    SignatureTooLarge,
}

/// What a PDF looks like to a signer.
#[derive(Debug, Clone)]
pub struct PdfInfo {
    pub pages: usize,
}

/// Refuse what cannot be signed: not a PDF, malformed, encrypted, already signed.
pub fn inspect(bytes: &[u8]) -> Result<PdfInfo, PdfError> {
    todo!()
}

/// The entries of the signature dictionary (all covered by the signature).
#[derive(Debug, Clone)]
pub struct SignatureFields {
    /// `/T` of the new invisible signature field, unique in the document (e.g. `Signature1`).
    pub field_name: String,
    /// `/Name`: the signer's name as the signer was identified.
    pub name: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/ContactInfo`.
    pub contact_info: Option<String>,
    /// `/M`.
    pub signing_time: OffsetDateTime,
}

/// A PDF with a signature placeholder, kept until the CMS is ready.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The whole file, `/Contents <00…>` included.
    pub bytes: Vec<u8>,
    /// SHA-256 over the `/ByteRange` (everything but the placeholder): the messageDigest.
    pub content_digest: [u8; 32],
}

/// Bytes reserved for the CMS (hex doubles it in the file): room for a B-T signature with a
/// three-certificate chain and a time stamp with its own chain.
pub const RESERVED_CMS_BYTES: usize = 16 * 1024;

/// Add an invisible signature field (`/FT /Sig`, widget with `/Rect [0 0 0 0]` on the first
/// page, `/SigFlags 3` in the AcroForm) and its signature dictionary (`/Filter /Adobe.PPKLite
/// /SubFilter /ETSI.CAdES.detached`), as an incremental update.
pub fn prepare(bytes: &[u8], fields: &SignatureFields) -> Result<Prepared> {
    todo!()
}

/// Write `cms` (DER) into the placeholder of `prepared` (the bytes of [`Prepared::bytes`]).
pub fn embed(prepared: &[u8], cms: &[u8]) -> Result<Vec<u8>> {
    todo!()
}
