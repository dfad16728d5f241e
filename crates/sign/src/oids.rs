//! The object identifiers this crate writes and reads, named as their specifications name them.

use der::asn1::ObjectIdentifier as Oid;

// RFC 5652 (CMS) and RFC 5911.
pub const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// RFC 2634 §5.4: ESS signing-certificate (SHA-1), still used by some TSAs.
pub const ID_AA_SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
/// RFC 5035 §3: ESS signing-certificate-v2.
pub const ID_AA_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// RFC 3161 Appendix A: the unsigned attribute holding a signature's time stamp.
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// RFC 3161 §2.4.2: the content type of a `TSTInfo`.
pub const ID_CT_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");

// Algorithms (RFC 5754, RFC 8017, RFC 5758).
pub const ID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const ID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const SHA256_WITH_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");

// X.509 (RFC 5280) and ETSI EN 319 412.
pub const CERTIFICATE_POLICIES: &str = "2.5.29.32";
pub const QC_STATEMENTS: &str = "1.3.6.1.5.5.7.1.3";
pub const ID_KP_TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
pub const ID_QT_UNOTICE: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.2.2");
/// EN 319 411-2: QCP-n-qscd, a qualified certificate for a natural person, key in a QSCD.
pub const QCP_N_QSCD: Oid = Oid::new_unwrap("0.4.0.194112.1.2");
/// EN 319 411-2: QCP-l, a qualified certificate for a legal person.
pub const QCP_L: Oid = Oid::new_unwrap("0.4.0.194112.1.1");
/// A private policy arc that says TEST ONLY (the enterprise number 99999 is not assigned to us).
pub const TEST_ONLY_POLICY: Oid = Oid::new_unwrap("1.3.6.1.4.1.99999.2.1");
/// EN 319 412-5 §4.
pub const QC_COMPLIANCE: Oid = Oid::new_unwrap("0.4.0.1862.1.1");
pub const QC_SSCD: Oid = Oid::new_unwrap("0.4.0.1862.1.4");
pub const QC_PDS: Oid = Oid::new_unwrap("0.4.0.1862.1.5");
pub const QC_TYPE: Oid = Oid::new_unwrap("0.4.0.1862.1.6");
pub const QC_TYPE_ESIGN: Oid = Oid::new_unwrap("0.4.0.1862.1.6.1");
pub const QC_TYPE_ESEAL: Oid = Oid::new_unwrap("0.4.0.1862.1.6.2");
/// RFC 3739 §3.2.6: pkixQCSyntax-v2, holding EN 319 412-1's semantics identifiers.
pub const PKIX_QC_SYNTAX_V2: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.11.2");
/// EN 319 412-1 §5.1.2: semanticsId-Natural.
pub const SEMANTICS_ID_NATURAL: Oid = Oid::new_unwrap("0.4.0.194121.1.1");
