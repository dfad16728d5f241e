//! A certificate authority for tests and the sandbox: every name it writes says TEST ONLY.
//!
//! It issues the certificates a qualified signature needs, shaped like the one itsme's QTSP
//! issues (reference §1.4): a person's RSA-2048 certificate with QC statements (QcCompliance,
//! QcSSCD, QcType esign, QcPDS), the QCP-n-qscd policy `0.4.0.194112.1.2`, keyUsage
//! digitalSignature + nonRepudiation (critical); a time-stamping certificate (critical EKU
//! timeStamping) for the sandbox TSA; and an organisation's sealing certificate (QCP-l
//! `0.4.0.194112.1.1`) for Passerelle's advanced signatures.

use time::{Duration, OffsetDateTime};

use crate::Result;

/// A key and its certificate, both DER (the key PKCS#8).
#[derive(Clone)]
pub struct Issued {
    pub key_pkcs8: Vec<u8>,
    pub cert_der: Vec<u8>,
}

/// The person a signing certificate names (subject `C, L?, serialNumber, SN, GN, CN`).
#[derive(Debug, Clone)]
pub struct PersonSubject {
    pub given_name: String,
    pub family_name: String,
    /// ISO 3166 alpha-2 country of the identity document.
    pub country: String,
    pub locality: Option<String>,
    /// The `serialNumber` attribute: for a Belgian document the bare 11-digit national number
    /// (as itsme's sample has it), otherwise what the caller decides (e.g. `IDCFR-<doc number>`).
    pub serial_number: String,
}

/// What kind of certificate to issue.
#[derive(Debug, Clone)]
pub enum Profile {
    /// A subordinate CA (basicConstraints CA, pathLen 0, keyCertSign + cRLSign).
    IssuingCa { common_name: String },
    /// A natural person's qualified signing certificate.
    Person(PersonSubject),
    /// A time-stamping unit.
    TimeStamping { common_name: String },
    /// An organisation's seal.
    Seal { common_name: String, organization: String, country: String },
}

/// A CA that can issue: its key and its certificate.
pub struct Authority {
    // private fields chosen by the implementation
}

impl Authority {
    /// A self-signed root, RSA-2048, `CN=<common_name>, O=<organization>, C=BE`.
    pub fn generate_root(common_name: &str, organization: &str, valid_for: Duration) -> Result<Issued> {
        todo!()
    }

    /// Load a CA from its key and certificate.
    pub fn from_issued(issued: &Issued) -> Result<Self> {
        todo!()
    }

    /// The CA's certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        todo!()
    }

    /// Issue a certificate for `public_key_der` (a DER SubjectPublicKeyInfo) with a random
    /// 16-byte serial, valid from `not_before` for `valid_for`.
    pub fn issue(
        &self,
        profile: &Profile,
        public_key_der: &[u8],
        not_before: OffsetDateTime,
        valid_for: Duration,
    ) -> Result<Vec<u8>> {
        todo!()
    }
}

/// The subject of a certificate, one line (`CN=…, serialNumber=…, C=BE`), for pages and logs
/// meant for operators.
pub fn subject_line(cert_der: &[u8]) -> Result<String> {
    todo!()
}

/// The `serialNumber` attribute of a certificate's subject, if any (how a signer is checked
/// against the national number a signing session names).
pub fn subject_serial_number(cert_der: &[u8]) -> Result<Option<String>> {
    todo!()
}

/// DER → PEM (`CERTIFICATE`), for downloads and pyHanko.
pub fn to_pem(cert_der: &[u8]) -> String {
    todo!()
}
