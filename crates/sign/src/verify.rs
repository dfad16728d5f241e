//! Checking signatures the way a relying party's validator does, for operators
//! (`passerelle sign verify FILE`) and for tests: the digest, the signature over the signed
//! attributes, the certificate path to a trusted root, the time stamp, and for a PDF that the
//! byte range covers the whole file but the signature.
//!
//! Paths are checked at the current time with OpenSSL's verifier, without revocation (no CRL or
//! OCSP is fetched: nothing here touches the network). A PDF's signatures are found by a raw
//! scan for `/ByteRange` arrays, so a file lopdf cannot parse is still checked; lopdf is only
//! asked for the field names.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use der::{Decode as _, Encode as _};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;

use crate::pdf::{PdfError, SignatureLocation, byte_range_locations};
use crate::signed_data::{Parsed, verify_path};
use crate::{Error, Result, oids};

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
    /// It is reported apart from `valid`: a later incremental update (another signature, a
    /// form filled in) leaves an earlier signature valid for the revision it signed.
    pub covers_whole_file: bool,
    /// What failed, in words; empty when `valid`.
    pub problems: Vec<String>,
}

/// Every signature in a PDF, checked against `trust` (DER root certificates). A file with no
/// signature gives an empty list.
pub fn pdf(bytes: &[u8], trust: &[Vec<u8>]) -> Result<Vec<SignatureReport>> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(PdfError::NotPdf.into());
    }
    let names = field_names(bytes);
    let mut seen = HashSet::new();
    let mut reports = Vec::new();
    for location in byte_range_locations(bytes) {
        if !seen.insert(location.byte_range) {
            continue;
        }
        let field = names
            .get(&location.byte_range)
            .cloned()
            .unwrap_or_else(|| format!("(signature {})", reports.len() + 1));
        reports.push(check_pdf_signature(bytes, &location, field, trust));
    }
    Ok(reports)
}

fn check_pdf_signature(
    bytes: &[u8],
    location: &SignatureLocation,
    field: String,
    trust: &[Vec<u8>],
) -> SignatureReport {
    let mut report = SignatureReport {
        field,
        signer: String::new(),
        valid: false,
        timestamp: None,
        covers_whole_file: false,
        problems: Vec::new(),
    };
    let [a, b, c, d] = location.byte_range;
    let end = c.checked_add(d);
    if a != 0 || b == 0 || c <= b || end.is_none_or(|end| end > bytes.len()) {
        report
            .problems
            .push("the byte range does not fit the file".into());
        return report;
    }
    let end = c + d;
    report.covers_whole_file = end == bytes.len();
    let Some(cms) = contents_hex(bytes, b, c) else {
        report
            .problems
            .push("the byte range does not exclude exactly the /Contents hex string".into());
        return report;
    };
    let digest = {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(&bytes[..b]);
        hasher.update(&bytes[c..end]);
        hasher.finalize().into()
    };
    check_cms(&cms, &digest, trust, &mut report);
    report
}

/// The bytes of the hex string `bytes[b..c]`, when it is exactly a `/Contents` value.
fn contents_hex(bytes: &[u8], b: usize, c: usize) -> Option<Vec<u8>> {
    let gap = &bytes[b..c];
    if gap.len() < 2 || gap[0] != b'<' || gap[gap.len() - 1] != b'>' {
        return None;
    }
    let before = bytes[..b]
        .iter()
        .rposition(|x| !matches!(x, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0'))?;
    if !bytes[..=before].ends_with(b"/Contents") {
        return None;
    }
    let digits: Vec<u8> = gap[1..gap.len() - 1]
        .iter()
        .copied()
        .filter(|x| !x.is_ascii_whitespace())
        .collect();
    let nibble = |x: u8| (x as char).to_digit(16).map(|v| v as u8);
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    for pair in digits.chunks(2) {
        let high = nibble(pair[0])?;
        // An odd final digit is followed by an implicit 0 (ISO 32000-1 §7.3.4.3).
        let low = match pair.get(1) {
            Some(x) => nibble(*x)?,
            None => 0,
        };
        out.push(high << 4 | low);
    }
    Some(out)
}

/// A detached CAdES signature (`cms`, DER or PEM) over `content`, checked against `trust`.
pub fn detached(cms: &[u8], content: &[u8], trust: &[Vec<u8>]) -> Result<SignatureReport> {
    let der = if cms.trim_ascii_start().starts_with(b"-----BEGIN") {
        pem_body(cms)?
    } else {
        cms.to_vec()
    };
    let mut report = SignatureReport {
        field: "detached".into(),
        signer: String::new(),
        valid: false,
        timestamp: None,
        covers_whole_file: true,
        problems: Vec::new(),
    };
    check_cms(&der, &crate::sha256(content), trust, &mut report);
    Ok(report)
}

/// The DER inside a PEM block (`CMS`, `PKCS7`, …).
fn pem_body(pem: &[u8]) -> Result<Vec<u8>> {
    let text =
        std::str::from_utf8(pem).map_err(|_| Error::Encoding("the PEM is not text".into()))?;
    let body: String = text
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    openssl::base64::decode_block(&body)
        .map_err(|_| Error::Encoding("the PEM body is not base64".into()))
}

/// Check a CMS over `digest` and fill `report` (signer, problems, time stamp, verdict).
fn check_cms(cms: &[u8], digest: &[u8; 32], trust: &[Vec<u8>], report: &mut SignatureReport) {
    let parsed = match Parsed::from_der(cms) {
        Ok(parsed) => parsed,
        Err(e) => {
            report.problems.push(format!("the CMS cannot be read: {e}"));
            report.valid = false;
            return;
        }
    };
    if let Some(index) = parsed.signer_index {
        report.signer = crate::ca::subject_line(&parsed.certificates[index]).unwrap_or_default();
    }
    if parsed.signed_data.encap_content_info.econtent_type == oids::ID_CT_TST_INFO {
        // A document time stamp (PAdES `/SubFilter /ETSI.RFC3161`): the token itself.
        match crate::tsp::check_token(cms, digest, Some(trust)) {
            Ok(checked) => {
                if checked.problems.is_empty() {
                    report.timestamp = Some(checked.gen_time);
                }
                report.problems.extend(checked.problems);
            }
            Err(e) => report
                .problems
                .push(format!("the document time stamp cannot be read: {e}")),
        }
        report.valid = report.problems.is_empty();
        return;
    }

    if parsed.signed_data.encap_content_info.econtent.is_some() {
        report
            .problems
            .push("the signature is not detached (it encapsulates content)".into());
    }
    report.problems.extend(parsed.check(digest));
    if let Some(index) = parsed.signer_index {
        let signer = &parsed.certificates[index];
        if let Err(reason) = verify_path(signer, &parsed.certificates, trust) {
            report
                .problems
                .push(format!("the signer's certificate is not trusted: {reason}"));
        }
        let non_repudiation = Certificate::from_der(signer).ok().and_then(|cert| {
            match cert.tbs_certificate().get_extension::<KeyUsage>() {
                Ok(Some((_, usage))) => Some(usage.non_repudiation()),
                _ => None,
            }
        });
        if non_repudiation != Some(true) {
            report
                .problems
                .push("the signer's certificate lacks the key usage nonRepudiation".into());
        }
    }
    if let Some(token) = parsed.unsigned_attribute(oids::ID_AA_SIGNATURE_TIME_STAMP_TOKEN) {
        let imprint = crate::sha256(parsed.signature());
        let checked = token
            .to_der()
            .map_err(Error::from)
            .and_then(|token| crate::tsp::check_token(&token, &imprint, Some(trust)));
        match checked {
            Ok(checked) if checked.problems.is_empty() => report.timestamp = Some(checked.gen_time),
            Ok(checked) => report.problems.extend(
                checked
                    .problems
                    .into_iter()
                    .map(|p| format!("time stamp: {p}")),
            ),
            Err(e) => report
                .problems
                .push(format!("the time stamp cannot be read: {e}")),
        }
    }
    report.valid = report.problems.is_empty();
}

/// The field name of each signature value, keyed by its `/ByteRange`, as far as lopdf can read
/// the file (an empty map otherwise).
fn field_names(bytes: &[u8]) -> HashMap<[usize; 4], String> {
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        lopdf::Document::load_mem_with_options(
            bytes,
            lopdf::LoadOptions {
                max_decompressed_size: Some(64 * 1024 * 1024),
                ..lopdf::LoadOptions::default()
            },
        )
    }));
    let Ok(Ok(document)) = loaded else {
        return HashMap::new();
    };
    let mut names = HashMap::new();
    for object in document.objects.values() {
        let Ok(field) = object.as_dict() else {
            continue;
        };
        if !matches!(field.get(b"FT"), Ok(lopdf::Object::Name(name)) if name == b"Sig") {
            continue;
        }
        let Ok(lopdf::Object::String(name, _)) = field.get(b"T") else {
            continue;
        };
        let value = match field.get(b"V") {
            Ok(lopdf::Object::Reference(id)) => document.get_object(*id).ok(),
            Ok(other) => Some(other),
            Err(_) => None,
        };
        let Some(Ok(value)) = value.map(lopdf::Object::as_dict) else {
            continue;
        };
        let Ok(lopdf::Object::Array(range)) = value.get(b"ByteRange") else {
            continue;
        };
        let numbers: Vec<usize> = range
            .iter()
            .filter_map(|n| n.as_i64().ok().and_then(|n| usize::try_from(n).ok()))
            .collect();
        if let [a, b, c, d] = numbers[..] {
            names.insert([a, b, c, d], decode_text_string(name));
        }
    }
    names
}

/// A PDF text string: UTF-16BE after a byte order mark, otherwise PDFDocEncoding (read as
/// Latin-1, which agrees on printable ASCII).
fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(utf16) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = utf16
            .chunks(2)
            .map(|pair| u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        bytes.iter().map(|b| char::from(*b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_must_be_exactly_the_hex_string_after_the_key() {
        let file = b"<</Contents <0A0b 1>/X 1>>";
        let b = 12;
        let c = 20;
        assert_eq!(&file[b..c], b"<0A0b 1>");
        assert_eq!(contents_hex(file, b, c), Some(vec![0x0a, 0x0b, 0x10]));
        assert_eq!(contents_hex(file, b + 1, c), None);
        assert_eq!(contents_hex(b"<</Other <00>>>", 9, 13), None);
        assert_eq!(contents_hex(b"/Contents <zz>", 10, 14), None);
    }

    #[test]
    fn text_strings_decode() {
        assert_eq!(decode_text_string(b"Signature1"), "Signature1");
        assert_eq!(decode_text_string(&[0xfe, 0xff, 0x00, 0xe9]), "é");
    }

    #[test]
    fn pem_bodies_are_read() {
        let pem = b"-----BEGIN CMS-----\nAAEC\n-----END CMS-----\n";
        assert_eq!(pem_body(pem).expect("ok"), vec![0, 1, 2]);
    }
}
