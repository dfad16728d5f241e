//! CMS `SignedData` with one signer (RFC 5652 §5), written and checked the same way for a
//! CAdES signature and for an RFC 3161 time-stamp token: the shared pieces of [`crate::cades`],
//! [`crate::tsp`] and [`crate::verify`].

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode as _, Encode as _};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509StoreContext};
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::{Error, Result, oids};

/// `AlgorithmIdentifier` of SHA-256, parameters absent (RFC 5754 §2).
pub(crate) fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oids::ID_SHA256,
        parameters: None,
    }
}

/// `rsaEncryption` with NULL parameters: the signature algorithm of a CMS signer with an RSA
/// key (RFC 3370 §3.2), which every validator accepts.
fn rsa_encryption() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oids::RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    }
}

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies … OPTIONAL }`
/// (RFC 5035 §3).
#[derive(Clone, Debug, der::Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// `ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT id-sha256, certHash OCTET STRING,
/// issuerSerial IssuerSerial OPTIONAL }`. The DEFAULT is kept as `None` (DER leaves a
/// default value out).
#[derive(Clone, Debug, der::Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate ::= SEQUENCE { certs SEQUENCE OF ESSCertID, policies … OPTIONAL }` and
/// `ESSCertID ::= SEQUENCE { certHash OCTET STRING (SHA-1), issuerSerial OPTIONAL }`
/// (RFC 2634 §5.4), read only: some TSAs still use it.
#[derive(Clone, Debug, der::Sequence)]
pub(crate) struct SigningCertificate {
    pub certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

#[derive(Clone, Debug, der::Sequence)]
pub(crate) struct EssCertId {
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }`.
#[derive(Clone, Debug, der::Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// An attribute with one value.
pub(crate) fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute> {
    let mut values = SetOfVec::new();
    values.insert(value)?;
    Ok(Attribute { oid, values })
}

/// The signingCertificateV2 attribute naming `cert` (its DER `cert_der`).
pub(crate) fn signing_certificate_v2(cert_der: &[u8], cert: &Certificate) -> Result<Attribute> {
    let tbs = cert.tbs_certificate();
    let value = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(crate::sha256(cert_der).to_vec())?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                serial_number: tbs.serial_number().clone(),
            }),
        }],
        policies: None,
    };
    attribute(
        oids::ID_AA_SIGNING_CERTIFICATE_V2,
        Any::encode_from(&value)?,
    )
}

/// What goes into a `SignedData` with one signer.
pub(crate) struct Signed<'a> {
    pub econtent_type: ObjectIdentifier,
    /// The encapsulated content (a `TSTInfo`), or `None` for a detached signature.
    pub econtent: Option<&'a [u8]>,
    pub signed_attrs: Attributes,
    pub signature: &'a [u8],
    pub signer: &'a Certificate,
    pub certificates: &'a [Certificate],
    pub unsigned_attrs: Option<Attributes>,
}

/// The DER `ContentInfo` of the `SignedData` (RFC 5652 §5.1: version 1 for id-data with an
/// issuerAndSerialNumber signer, 3 for any other content type).
pub(crate) fn encode(signed: Signed<'_>) -> Result<Vec<u8>> {
    let tbs = signed.signer.tbs_certificate();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: sha256_algorithm(),
        signed_attrs: Some(signed.signed_attrs),
        signature_algorithm: rsa_encryption(),
        signature: OctetString::new(signed.signature.to_vec())?,
        unsigned_attrs: signed.unsigned_attrs,
    };
    let certificates = if signed.certificates.is_empty() {
        None
    } else {
        let choices = signed
            .certificates
            .iter()
            .cloned()
            .map(cms::cert::CertificateChoices::Certificate);
        Some(CertificateSet(SetOfVec::from_iter(choices)?))
    };
    let econtent = match signed.econtent {
        Some(bytes) => Some(Any::encode_from(&OctetString::new(bytes.to_vec())?)?),
        None => None,
    };
    let version = if signed.econtent_type == oids::ID_DATA {
        CmsVersion::V1
    } else {
        CmsVersion::V3
    };
    let mut digest_algorithms = SetOfVec::new();
    digest_algorithms.insert(sha256_algorithm())?;
    let signed_data = SignedData {
        version,
        digest_algorithms,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: signed.econtent_type,
            econtent,
        },
        certificates,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::from_iter([signer_info])?),
    };
    let content_info = ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

/// The header of one DER element at the start of `bytes`: (tag byte, header length, total
/// length). Only low tag numbers and definite lengths, as DER has them.
pub(crate) fn tlv(bytes: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *bytes.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *bytes.get(1)? as usize;
    let (header, length) = if first < 0x80 {
        (2, first)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for i in 0..count {
            length = (length << 8) | *bytes.get(2 + i)? as usize;
        }
        (2 + count, length)
    };
    let total = header.checked_add(length)?;
    (total <= bytes.len()).then_some((tag, header, total))
}

/// The elements inside a constructed element's contents.
fn children(contents: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = contents;
    while !rest.is_empty() {
        let (_, _, total) = tlv(rest)?;
        out.push(&rest[..total]);
        rest = &rest[total..];
    }
    Some(out)
}

fn contents(element: &[u8]) -> Option<&[u8]> {
    let (_, header, total) = tlv(element)?;
    element.get(header..total)
}

/// The signed attributes of the only signer of a DER `ContentInfo(SignedData)` exactly as they
/// are in the bytes, re-tagged as the `SET` that was signed (RFC 5652 §5.4).
fn raw_signed_attributes(content_info: &[u8]) -> Option<Vec<u8>> {
    let ci = children(contents(content_info)?)?;
    let explicit = ci.get(1)?;
    let signed_data = children(contents(contents(explicit)?)?)?;
    let signer_infos = signed_data.last()?;
    let infos = children(contents(signer_infos)?)?;
    let [info] = infos.as_slice() else {
        return None;
    };
    let attrs = children(contents(info)?)?
        .into_iter()
        .find(|e| e.first() == Some(&0xa0))?;
    let mut set = attrs.to_vec();
    set[0] = 0x31;
    Some(set)
}

/// A `ContentInfo(SignedData)` with one signer, parsed for checking.
pub(crate) struct Parsed {
    pub signed_data: SignedData,
    pub signer_info: SignerInfo,
    /// The signed attributes as signed (`SET`, tag 0x31).
    pub signed_attrs_der: Vec<u8>,
    /// The certificates of the `SignedData`, DER.
    pub certificates: Vec<Vec<u8>>,
    /// Index in `certificates` of the signer's certificate, when it is there.
    pub signer_index: Option<usize>,
}

impl Parsed {
    /// Parse the DER of a `ContentInfo` that holds a `SignedData` with exactly one signer.
    pub fn from_der(content_info: &[u8]) -> Result<Self> {
        let (_, _, total) = tlv(content_info)
            .ok_or_else(|| Error::Encoding("the CMS is not a DER element".into()))?;
        let content_info = &content_info[..total];
        let ci = ContentInfo::from_der(content_info)?;
        if ci.content_type != oids::ID_SIGNED_DATA {
            return Err(Error::Invalid("the CMS is not a SignedData".into()));
        }
        let signed_data: SignedData = ci.content.decode_as()?;
        let signer_info = match signed_data.signer_infos.0.as_slice() {
            [one] => one.clone(),
            _ => {
                return Err(Error::Invalid(
                    "the CMS must have exactly one signer".into(),
                ));
            }
        };
        if signer_info.signed_attrs.is_none() {
            return Err(Error::Invalid("the signer has no signed attributes".into()));
        }
        let signed_attrs_der = raw_signed_attributes(content_info)
            .ok_or_else(|| Error::Encoding("the signed attributes cannot be found".into()))?;
        let mut certificates = Vec::new();
        let mut parsed_certs = Vec::new();
        if let Some(set) = &signed_data.certificates {
            for choice in set.0.iter() {
                if let cms::cert::CertificateChoices::Certificate(cert) = choice {
                    certificates.push(cert.to_der()?);
                    parsed_certs.push(cert);
                }
            }
        }
        let signer_index = parsed_certs
            .iter()
            .position(|cert| is_signer(&signer_info.sid, cert));
        Ok(Self {
            signed_data,
            signer_info,
            signed_attrs_der,
            certificates,
            signer_index,
        })
    }

    /// The encapsulated content's octets, if any.
    pub fn econtent(&self) -> Result<Option<Vec<u8>>> {
        match &self.signed_data.encap_content_info.econtent {
            Some(any) => Ok(Some(
                any.decode_as::<OctetString>()?.into_bytes().into_vec(),
            )),
            None => Ok(None),
        }
    }

    /// The value of the signed attribute `oid` (the first value; `None` when absent).
    pub fn signed_attribute(&self, oid: ObjectIdentifier) -> Option<&Any> {
        find_attribute(self.signer_info.signed_attrs.as_ref(), oid)
    }

    /// The value of the unsigned attribute `oid`.
    pub fn unsigned_attribute(&self, oid: ObjectIdentifier) -> Option<&Any> {
        find_attribute(self.signer_info.unsigned_attrs.as_ref(), oid)
    }

    pub fn signature(&self) -> &[u8] {
        self.signer_info.signature.as_bytes()
    }

    /// Check everything that needs no trust anchor: the digest algorithm, contentType and
    /// messageDigest (against `content_digest`), the ESS signing certificate, and the signature
    /// over the signed attributes with the signer's certificate. Returns the problems found.
    pub fn check(&self, content_digest: &[u8; 32]) -> Vec<String> {
        let mut problems = Vec::new();
        if self.signer_info.digest_alg.oid != oids::ID_SHA256 {
            problems.push(format!(
                "the digest algorithm {} is not supported (SHA-256 only)",
                self.signer_info.digest_alg.oid
            ));
            return problems;
        }
        let econtent_type = self.signed_data.encap_content_info.econtent_type;
        match self
            .signed_attribute(oids::ID_CONTENT_TYPE)
            .map(Any::decode_as::<ObjectIdentifier>)
        {
            Some(Ok(oid)) if oid == econtent_type => {}
            Some(Ok(_)) => {
                problems.push("the contentType attribute does not match the content".into())
            }
            _ => problems.push("the contentType attribute is missing or malformed".into()),
        }
        match self
            .signed_attribute(oids::ID_MESSAGE_DIGEST)
            .map(Any::decode_as::<OctetString>)
        {
            Some(Ok(digest)) if digest.as_bytes() == content_digest => {}
            Some(Ok(_)) => {
                problems.push("the messageDigest does not match the signed content".into())
            }
            _ => problems.push("the messageDigest attribute is missing or malformed".into()),
        }
        let Some(index) = self.signer_index else {
            problems.push("the signer's certificate is not in the CMS".into());
            return problems;
        };
        let cert_der = &self.certificates[index];
        if let Some(problem) = self.check_signing_certificate(cert_der) {
            problems.push(problem);
        }
        match self.check_signature(cert_der) {
            Ok(true) => {}
            Ok(false) => {
                problems.push("the signature over the signed attributes does not verify".into())
            }
            Err(e) => problems.push(format!("the signature cannot be checked: {e}")),
        }
        problems
    }

    /// The ESS signingCertificateV2 (or v1) attribute must name the signer's certificate.
    fn check_signing_certificate(&self, cert_der: &[u8]) -> Option<String> {
        if let Some(any) = self.signed_attribute(oids::ID_AA_SIGNING_CERTIFICATE_V2) {
            let Ok(value) = any.decode_as::<SigningCertificateV2>() else {
                return Some("the signingCertificateV2 attribute is malformed".into());
            };
            let Some(first) = value.certs.first() else {
                return Some("the signingCertificateV2 attribute names no certificate".into());
            };
            let algorithm = first
                .hash_algorithm
                .as_ref()
                .map_or(oids::ID_SHA256, |a| a.oid);
            let hash = match algorithm {
                oid if oid == oids::ID_SHA256 => crate::sha256(cert_der).to_vec(),
                oid => {
                    return Some(format!(
                        "signingCertificateV2 uses an unsupported hash {oid}"
                    ));
                }
            };
            return (first.cert_hash.as_bytes() != hash).then(|| {
                "signingCertificateV2 names another certificate than the signer's".into()
            });
        }
        if let Some(any) = self.signed_attribute(oids::ID_AA_SIGNING_CERTIFICATE) {
            let Ok(value) = any.decode_as::<SigningCertificate>() else {
                return Some("the signingCertificate attribute is malformed".into());
            };
            let Some(first) = value.certs.first() else {
                return Some("the signingCertificate attribute names no certificate".into());
            };
            let hash = openssl::sha::sha1(cert_der);
            return (first.cert_hash.as_bytes() != hash)
                .then(|| "signingCertificate names another certificate than the signer's".into());
        }
        Some("the signing certificate attribute (ESS signingCertificateV2) is missing".into())
    }

    fn check_signature(&self, cert_der: &[u8]) -> Result<bool> {
        let key = X509::from_der(cert_der)?.public_key()?;
        let algorithm = self.signer_info.signature_algorithm.oid;
        let known = [
            oids::RSA_ENCRYPTION,
            oids::SHA256_WITH_RSA_ENCRYPTION,
            oids::ECDSA_WITH_SHA256,
        ];
        if !known.contains(&algorithm) {
            return Err(Error::Invalid(format!(
                "the signature algorithm {algorithm} is not supported"
            )));
        }
        crate::keys::verify_sha256_data(&key, &self.signed_attrs_der, self.signature())
    }
}

fn find_attribute(attrs: Option<&Attributes>, oid: ObjectIdentifier) -> Option<&Any> {
    attrs?.iter().find(|a| a.oid == oid)?.values.iter().next()
}

fn is_signer(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            &isn.issuer == tbs.issuer() && &isn.serial_number == tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(
                tbs.get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>(),
                Ok(Some((_, own))) if own == *ski
            )
        }
    }
}

/// Build and check the path from `leaf_der` to one of `trust` (DER certificates, which may be
/// roots or intermediates), with `intermediates` as untrusted helpers, at the current time.
/// `Err` holds the reason in words.
pub(crate) fn verify_path(
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    trust: &[Vec<u8>],
) -> std::result::Result<(), String> {
    let run = || -> Result<std::result::Result<(), String>> {
        let leaf = X509::from_der(leaf_der)?;
        let mut store = X509StoreBuilder::new()?;
        for anchor in trust {
            store.add_cert(X509::from_der(anchor)?)?;
        }
        store.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
        let store = store.build();
        let mut chain = Stack::new()?;
        for der in intermediates {
            if let Ok(cert) = X509::from_der(der) {
                chain.push(cert)?;
            }
        }
        let mut context = X509StoreContext::new()?;
        Ok(context.init(&store, &leaf, &chain, |c| {
            Ok(if c.verify_cert()? {
                Ok(())
            } else {
                Err(c.error().error_string().to_string())
            })
        })?)
    };
    match run() {
        Ok(outcome) => outcome,
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_reads_short_and_long_lengths_and_refuses_overruns() {
        assert_eq!(tlv(&[0x30, 0x00]), Some((0x30, 2, 2)));
        assert_eq!(tlv(&[0x04, 0x81, 0x01, 0xff, 0x00]), Some((0x04, 3, 4)));
        assert_eq!(tlv(&[0x04, 0x05, 0x00]), None);
        assert_eq!(tlv(&[0x04, 0x80]), None);
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv(&[0x1f, 0x01, 0x00]), None);
        assert_eq!(tlv(&[]), None);
    }

    #[test]
    fn hostile_bytes_do_not_parse() {
        for bytes in [
            &b""[..],
            b"\x30\x00",
            b"\x30\x03\x06\x01\x00",
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(Parsed::from_der(bytes).is_err());
        }
    }
}
