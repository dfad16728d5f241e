//! CAdES-B-B/B-T signatures as detached CMS `SignedData` (RFC 5652), signed elsewhere.
//!
//! The signed attributes are exactly what PAdES wants: contentType (id-data), messageDigest and
//! signingCertificateV2 (ESSCertIDv2, SHA-256, with the issuer and serial); no signing-time
//! (PAdES puts it in the signature dictionary's `/M`; for a detached CAdES the time stamp
//! dates it). The B-T time stamp is the unsigned attribute id-aa-signatureTimeStampToken.

use der::asn1::{Any, OctetString};
use der::{Decode as _, Encode as _};
use x509_cert::Certificate;
use x509_cert::attr::Attributes;

use crate::signed_data::{self, Signed};
use crate::{Error, Result, oids};

/// DER `SET OF Attribute` of a signature to be made.
#[derive(Debug, Clone)]
pub struct SignedAttributes {
    der: Vec<u8>,
}

impl SignedAttributes {
    /// The signed attributes over `content_digest` (SHA-256 of the signed content: the PDF's
    /// byte range, or a whole detached document) for the signer certificate `signer_cert_der`.
    pub fn new(content_digest: &[u8; 32], signer_cert_der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(signer_cert_der)?;
        let attrs = Attributes::from_iter([
            signed_data::attribute(oids::ID_CONTENT_TYPE, Any::encode_from(&oids::ID_DATA)?)?,
            signed_data::attribute(
                oids::ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(content_digest.to_vec())?)?,
            )?,
            signed_data::signing_certificate_v2(signer_cert_der, &cert)?,
        ])?;
        Ok(Self {
            der: attrs.to_der()?,
        })
    }

    /// Read back attributes kept between hashing and signing (e.g. in a database).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let attrs = Attributes::from_der(der)?;
        if attrs.to_der()? != der {
            return Err(Error::Encoding(
                "the signed attributes are not in DER".into(),
            ));
        }
        for (oid, name) in [
            (oids::ID_CONTENT_TYPE, "contentType"),
            (oids::ID_MESSAGE_DIGEST, "messageDigest"),
            (oids::ID_AA_SIGNING_CERTIFICATE_V2, "signingCertificateV2"),
        ] {
            if !attrs.iter().any(|a| a.oid == oid) {
                return Err(Error::Encoding(format!(
                    "the signed attributes lack {name}"
                )));
            }
        }
        Ok(Self { der: der.to_vec() })
    }

    /// The messageDigest these attributes sign: the SHA-256 of the signed content.
    pub fn message_digest(&self) -> Result<[u8; 32]> {
        let attrs = Attributes::from_der(&self.der)?;
        let value = attrs
            .iter()
            .find(|a| a.oid == oids::ID_MESSAGE_DIGEST)
            .and_then(|a| a.values.iter().next())
            .ok_or_else(|| Error::Encoding("the signed attributes lack messageDigest".into()))?;
        let digest = value.decode_as::<OctetString>()?;
        digest
            .as_bytes()
            .try_into()
            .map_err(|_| Error::Encoding("the messageDigest is not a SHA-256".into()))
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
    if crate::keys::verify_sha256_prehash(signer_cert_der, &attrs.digest(), signature)? {
        Ok(())
    } else {
        Err(Error::Invalid(
            "the signature was not made over these attributes with the certificate's key".into(),
        ))
    }
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
    let certificates = chain
        .iter()
        .map(|der| Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()?;
    let signer = certificates.first().ok_or_else(|| {
        Error::Invalid("the chain must start with the signer's certificate".into())
    })?;
    if signature.is_empty() {
        return Err(Error::Invalid("the signature is empty".into()));
    }
    let unsigned_attrs = match timestamp_token {
        Some(token) => Some(Attributes::from_iter([signed_data::attribute(
            oids::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
            Any::from_der(token)?,
        )?])?),
        None => None,
    };
    signed_data::encode(Signed {
        econtent_type: oids::ID_DATA,
        econtent: None,
        signed_attrs: Attributes::from_der(&attrs.der)?,
        signature,
        signer,
        certificates: &certificates,
        unsigned_attrs,
    })
}

/// Sign locally with a PKCS#8 RSA key (Passerelle's sealing key): the same as sending
/// `attrs.digest()` to a CSC service.
pub fn sign_locally(attrs: &SignedAttributes, key_pkcs8: &[u8]) -> Result<Vec<u8>> {
    crate::keys::sign_sha256_prehash(key_pkcs8, &attrs.digest())
}
