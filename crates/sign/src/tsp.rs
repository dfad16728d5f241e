//! The time-stamp protocol (RFC 3161): a client's request and reading of the reply, and the
//! authority side for the sandbox's TSA. Over HTTP: `POST` with `Content-Type:
//! application/timestamp-query`, answered with `application/timestamp-reply`.
//!
//! A token is a CMS `SignedData` encapsulating a `TSTInfo` (id-ct-TSTInfo), signed with the
//! signed attributes contentType, messageDigest and signingCertificateV2 (RFC 3161 §2.4.2,
//! RFC 5816) by a key whose certificate has the sole, critical EKU timeStamping (§2.3).

use cms::content_info::ContentInfo;
use der::asn1::{Any, BitString, GeneralizedTime, Int, ObjectIdentifier, OctetString};
use der::{Decode as _, Encode as _, Tag, Tagged as _};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::keys::RsaSigner;
use crate::signed_data::{self, Parsed, Signed};
use crate::{Error, Result, oids};

pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// `MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }`
#[derive(Clone, Debug, der::Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1). `certReq` is `BOOLEAN DEFAULT FALSE`: `None` is false.
#[derive(Clone, Debug, der::Sequence)]
struct TimeStampReq {
    version: Int,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(optional = "true")]
    cert_req: Option<bool>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2): status, a free text, and the failure bits.
#[derive(Clone, Debug, der::Sequence)]
struct PkiStatusInfo {
    status: Int,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<BitString>,
}

/// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }`
#[derive(Clone, Debug, der::Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// `Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER OPTIONAL,
/// micros [1] INTEGER OPTIONAL }` (the module has IMPLICIT TAGS).
#[derive(Clone, Debug, der::Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<u32>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// `TSTInfo` (RFC 3161 §2.4.2). `genTime` is kept as the raw element so that a token whose
/// time has fractional seconds (allowed by §2.4.2, refused by `der`'s `GeneralizedTime`) can be
/// read; `ordering` is `BOOLEAN DEFAULT FALSE` (`None` is false).
#[derive(Clone, Debug, der::Sequence)]
struct TstInfo {
    version: Int,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(optional = "true")]
    ordering: Option<bool>,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<Extensions>,
}

/// An `INTEGER` from an unsigned value (positive, with a leading zero byte when needed).
fn int_from_u128(value: u128) -> Result<Int> {
    Ok(Int::from_der(&value.to_der()?)?)
}

fn is_one(int: &Int) -> bool {
    int.as_bytes() == [1]
}

/// A `TimeStampReq` (DER) for a SHA-256 imprint, asking for the TSA's certificate
/// (`certReq TRUE`) and carrying `nonce`.
pub fn request(imprint: &[u8; 32], nonce: u64) -> Vec<u8> {
    let encode = || -> Result<Vec<u8>> {
        let request = TimeStampReq {
            version: int_from_u128(1)?,
            message_imprint: MessageImprint {
                hash_algorithm: signed_data::sha256_algorithm(),
                hashed_message: OctetString::new(imprint.to_vec())?,
            },
            req_policy: None,
            nonce: Some(int_from_u128(u128::from(nonce))?),
            cert_req: Some(true),
            extensions: None,
        };
        Ok(request.to_der()?)
    };
    // Every field has a fixed, small size: the encoding cannot fail. Should it ever, the request
    // is empty and the TSA answers badDataFormat, which `token_from_response` reports.
    encode().unwrap_or_default()
}

/// The `TimeStampToken` (DER `ContentInfo`) of a `TimeStampResp`, after checking that it was
/// granted, that its imprint is `imprint` and its nonce `nonce`, and that its CMS signature
/// verifies with the certificate it carries.
pub fn token_from_response(reply: &[u8], imprint: &[u8; 32], nonce: u64) -> Result<Vec<u8>> {
    let response = TimeStampResp::from_der(reply)?;
    let status = &response.status;
    if !(status.status.as_bytes() == [0] || is_one(&status.status)) {
        let text = status
            .status_string
            .as_ref()
            .map(|texts| texts.join(" "))
            .unwrap_or_default();
        return Err(Error::Invalid(format!(
            "the time-stamping authority refused the request (status {:?}): {text}",
            status.status.as_bytes()
        )));
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| Error::Invalid("the granted reply has no token".into()))?
        .to_der()?;
    let checked = check_token(&token, imprint, None)?;
    if !checked.problems.is_empty() {
        return Err(Error::Invalid(checked.problems.join("; ")));
    }
    if checked.nonce != Some(int_from_u128(u128::from(nonce))?) {
        return Err(Error::Invalid(
            "the token does not echo the request's nonce".into(),
        ));
    }
    Ok(token)
}

/// The time a token states (`TSTInfo.genTime`).
pub fn token_time(token: &[u8]) -> Result<OffsetDateTime> {
    let parsed = Parsed::from_der(token)?;
    let tst_info = tst_info(&parsed)?;
    parse_generalized_time(&tst_info.gen_time)
}

fn tst_info(parsed: &Parsed) -> Result<TstInfo> {
    if parsed.signed_data.encap_content_info.econtent_type != oids::ID_CT_TST_INFO {
        return Err(Error::Invalid("the token does not hold a TSTInfo".into()));
    }
    let econtent = parsed
        .econtent()?
        .ok_or_else(|| Error::Invalid("the token has no TSTInfo".into()))?;
    Ok(TstInfo::from_der(&econtent)?)
}

/// What a token says, and what is wrong with it.
pub(crate) struct CheckedToken {
    pub gen_time: OffsetDateTime,
    pub nonce: Option<Int>,
    /// Empty when the token is sound.
    pub problems: Vec<String>,
}

/// Check a token against the imprint it should cover: its CMS signature (with the certificate
/// it carries), its signer's critical timeStamping EKU, and when `trust` is given the path from
/// the TSA's certificate to one of `trust`. `Err` when it cannot even be read.
pub(crate) fn check_token(
    token: &[u8],
    imprint: &[u8; 32],
    trust: Option<&[Vec<u8>]>,
) -> Result<CheckedToken> {
    let parsed = Parsed::from_der(token)?;
    let tst_info = tst_info(&parsed)?;
    let econtent = parsed.econtent()?.unwrap_or_default();
    let mut problems = parsed.check(&crate::sha256(&econtent));
    let tst_imprint = &tst_info.message_imprint;
    if tst_imprint.hash_algorithm.oid != oids::ID_SHA256
        || tst_imprint.hashed_message.as_bytes() != imprint
    {
        problems.push("the time stamp covers something else".into());
    }
    if !is_one(&tst_info.version) {
        problems.push("the TSTInfo version is not 1".into());
    }
    if let Some(index) = parsed.signer_index {
        let cert_der = &parsed.certificates[index];
        if let Some(problem) = time_stamping_eku_problem(cert_der) {
            problems.push(problem);
        }
        if let Some(trust) = trust
            && let Err(reason) = signed_data::verify_path(cert_der, &parsed.certificates, trust)
        {
            problems.push(format!(
                "the time-stamping authority is not trusted: {reason}"
            ));
        }
    }
    let gen_time = parse_generalized_time(&tst_info.gen_time)?;
    Ok(CheckedToken {
        gen_time,
        nonce: tst_info.nonce,
        problems,
    })
}

/// RFC 3161 §2.3: the TSA's certificate has exactly one EKU, timeStamping, marked critical.
fn time_stamping_eku_problem(cert_der: &[u8]) -> Option<String> {
    let cert = match Certificate::from_der(cert_der) {
        Ok(cert) => cert,
        Err(e) => return Some(format!("the TSA certificate cannot be read: {e}")),
    };
    match cert
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
    {
        Ok(Some((true, eku))) if eku.0 == [oids::ID_KP_TIME_STAMPING] => None,
        _ => Some(
            "the TSA certificate lacks the sole, critical extended key usage timeStamping".into(),
        ),
    }
}

/// `GeneralizedTime` as RFC 3161 allows it: `YYYYMMDDhhmmss[.f+]Z` (fractions are dropped).
fn parse_generalized_time(any: &Any) -> Result<OffsetDateTime> {
    let bad = || Error::Encoding("the genTime is not a GeneralizedTime in UTC".into());
    if any.tag() != Tag::GeneralizedTime {
        return Err(bad());
    }
    let text = any.value();
    let (main, rest) = text.split_at_checked(14).ok_or_else(bad)?;
    if !main.iter().all(u8::is_ascii_digit) || rest.last() != Some(&b'Z') {
        return Err(bad());
    }
    let fraction = &rest[..rest.len() - 1];
    if !(fraction.is_empty()
        || (fraction.len() > 1
            && fraction[0] == b'.'
            && fraction[1..].iter().all(u8::is_ascii_digit)))
    {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> u32 {
        main[range]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let month = time::Month::try_from(number(4..6) as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(number(0..4) as i32, month, number(6..8) as u8)
        .map_err(|_| bad())?;
    let time = time::Time::from_hms(
        number(8..10) as u8,
        number(10..12) as u8,
        number(12..14) as u8,
    )
    .map_err(|_| bad())?;
    Ok(time::PrimitiveDateTime::new(date, time).assume_utc())
}

/// A time-stamping authority: its key and its certificate chain (its own first).
pub struct Authority {
    signer: RsaSigner,
    certificates: Vec<Certificate>,
    signing_certificate: Attribute,
}

/// The sandbox TSA's policy OID (an arc under a TEST ONLY private number).
pub const SANDBOX_POLICY: &str = "1.3.6.1.4.1.99999.1.1";
const SANDBOX_POLICY_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap(SANDBOX_POLICY);

/// `PKIStatus` values (RFC 3161 §2.4.2).
const GRANTED: u128 = 0;
const REJECTION: u128 = 2;

/// `PKIFailureInfo` bits (RFC 3161 §2.4.2).
#[derive(Clone, Copy)]
enum FailInfo {
    BadAlg = 0,
    BadRequest = 2,
    BadDataFormat = 5,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
    SystemFailure = 25,
}

impl Authority {
    /// The TSA with its PKCS#8 key and its chain (its own certificate first), which must match
    /// the key and carry the critical EKU timeStamping.
    pub fn new(key_pkcs8: &[u8], chain: Vec<Vec<u8>>) -> Result<Self> {
        let signer = RsaSigner::from_pkcs8(key_pkcs8)?;
        let own = chain
            .first()
            .ok_or_else(|| Error::Invalid("the TSA chain is empty".into()))?;
        let cert_key = openssl::x509::X509::from_der(own)?.public_key()?;
        if !cert_key.public_eq(signer.pkey()) {
            return Err(Error::Invalid(
                "the TSA key does not match its certificate".into(),
            ));
        }
        if let Some(problem) = time_stamping_eku_problem(own) {
            return Err(Error::Invalid(problem));
        }
        let certificates = chain
            .iter()
            .map(|der| Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()?;
        let signing_certificate = signed_data::signing_certificate_v2(own, &certificates[0])?;
        Ok(Self {
            signer,
            certificates,
            signing_certificate,
        })
    }

    /// Answer a request: a granted `TimeStampResp` with a token signed now, serial `serial`,
    /// or a `rejection` status (`badDataFormat`, `badAlg`) for a malformed request or an
    /// imprint that is not SHA-256. Never panics on hostile bytes.
    pub fn respond(&self, request: &[u8], serial: u128, now: OffsetDateTime) -> Vec<u8> {
        match self.try_respond(request, serial, now) {
            Ok(reply) => reply,
            Err(_) => rejection(
                FailInfo::SystemFailure,
                "the time-stamping authority failed",
            ),
        }
    }

    fn try_respond(&self, request: &[u8], serial: u128, now: OffsetDateTime) -> Result<Vec<u8>> {
        let Ok(request) = TimeStampReq::from_der(request) else {
            return Ok(rejection(
                FailInfo::BadDataFormat,
                "the request is not a DER TimeStampReq",
            ));
        };
        if !is_one(&request.version) {
            return Ok(rejection(
                FailInfo::BadRequest,
                "only version 1 requests are understood",
            ));
        }
        let imprint = &request.message_imprint;
        if imprint.hash_algorithm.oid != oids::ID_SHA256 {
            return Ok(rejection(
                FailInfo::BadAlg,
                "the imprint must be a SHA-256 hash",
            ));
        }
        if imprint.hashed_message.as_bytes().len() != 32 {
            return Ok(rejection(
                FailInfo::BadDataFormat,
                "a SHA-256 imprint has 32 bytes",
            ));
        }
        if request.req_policy.is_some_and(|p| p != SANDBOX_POLICY_OID) {
            return Ok(rejection(
                FailInfo::UnacceptedPolicy,
                "the only policy is the sandbox's",
            ));
        }
        if request.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return Ok(rejection(
                FailInfo::UnacceptedExtension,
                "no extensions are accepted",
            ));
        }
        let seconds = u64::try_from(now.unix_timestamp())
            .map_err(|_| Error::Invalid("the clock is before 1970".into()))?;
        let gen_time =
            GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))?;
        let tst_info = TstInfo {
            version: int_from_u128(1)?,
            policy: SANDBOX_POLICY_OID,
            message_imprint: imprint.clone(),
            serial_number: int_from_u128(serial)?,
            gen_time: Any::encode_from(&gen_time)?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: None,
            nonce: request.nonce,
            tsa: None,
            extensions: None,
        }
        .to_der()?;
        let signed_attrs = Attributes::from_iter([
            signed_data::attribute(
                oids::ID_CONTENT_TYPE,
                Any::encode_from(&oids::ID_CT_TST_INFO)?,
            )?,
            signed_data::attribute(
                oids::ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(crate::sha256(&tst_info).to_vec())?)?,
            )?,
            self.signing_certificate.clone(),
        ])?;
        let signature = self
            .signer
            .sign_sha256_prehash(&crate::sha256(&signed_attrs.to_der()?))?;
        let certificates: &[Certificate] = if request.cert_req == Some(true) {
            &self.certificates
        } else {
            &[]
        };
        let token = signed_data::encode(Signed {
            econtent_type: oids::ID_CT_TST_INFO,
            econtent: Some(&tst_info),
            signed_attrs,
            signature: &signature,
            signer: &self.certificates[0],
            certificates,
            unsigned_attrs: None,
        })?;
        let response = TimeStampResp {
            status: PkiStatusInfo {
                status: int_from_u128(GRANTED)?,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(ContentInfo::from_der(&token)?),
        };
        Ok(response.to_der()?)
    }
}

/// A `rejection` reply with one failure bit and a text.
fn rejection(failure: FailInfo, text: &str) -> Vec<u8> {
    let encode = || -> Result<Vec<u8>> {
        let bit = failure as usize;
        let mut bytes = vec![0u8; bit / 8 + 1];
        bytes[bit / 8] = 0x80 >> (bit % 8);
        // DER: a named bit list has no trailing zero bits.
        let unused = (7 - bit % 8) as u8;
        let response = TimeStampResp {
            status: PkiStatusInfo {
                status: int_from_u128(REJECTION)?,
                status_string: Some(vec![text.to_string()]),
                fail_info: Some(BitString::new(unused, bytes)?),
            },
            time_stamp_token: None,
        };
        Ok(response.to_der()?)
    };
    // SEQUENCE { SEQUENCE { INTEGER 2 } }: a bare rejection, should the encoding above fail.
    encode().unwrap_or_else(|_| vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{self, Profile};
    use time::Duration;

    fn authority() -> (Authority, Vec<u8>) {
        let root = ca::Authority::generate_root("TEST ONLY Root", "TEST ONLY", Duration::days(30))
            .expect("ok");
        let ca = ca::Authority::from_issued(&root).expect("ok");
        let key = crate::keys::generate_rsa_2048().expect("ok");
        let cert = ca
            .issue(
                &Profile::TimeStamping {
                    common_name: "TEST ONLY TSA".into(),
                },
                &crate::keys::public_key_der(&key).expect("ok"),
                OffsetDateTime::now_utc() - Duration::minutes(1),
                Duration::days(10),
            )
            .expect("ok");
        (Authority::new(&key, vec![cert]).expect("ok"), root.cert_der)
    }

    fn status_of(reply: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
        let response = TimeStampResp::from_der(reply).expect("ok");
        (
            response.status.status.as_bytes().to_vec(),
            response.status.fail_info.map(|b| b.raw_bytes().to_vec()),
        )
    }

    #[test]
    fn a_request_is_granted_and_its_token_checks_out() {
        let (tsa, root) = authority();
        let imprint = crate::sha256(b"signature value");
        let now = OffsetDateTime::now_utc();
        let reply = tsa.respond(&request(&imprint, 42), 7, now);
        assert_eq!(status_of(&reply).0, vec![0]);
        let token = token_from_response(&reply, &imprint, 42).expect("ok");
        assert_eq!(
            token_time(&token).expect("ok").unix_timestamp(),
            now.unix_timestamp()
        );
        let checked = check_token(&token, &imprint, Some(&[root])).expect("ok");
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);

        assert!(token_from_response(&reply, &imprint, 43).is_err());
        assert!(token_from_response(&reply, &[0; 32], 42).is_err());
        let (_, other_root) = authority();
        let checked = check_token(&token, &imprint, Some(&[other_root])).expect("ok");
        assert_eq!(checked.problems.len(), 1);
    }

    #[test]
    fn a_nonce_with_the_high_bit_set_round_trips() {
        let (tsa, _) = authority();
        let imprint = [9; 32];
        let reply = tsa.respond(
            &request(&imprint, u64::MAX),
            u128::MAX,
            OffsetDateTime::now_utc(),
        );
        assert!(token_from_response(&reply, &imprint, u64::MAX).is_ok());
    }

    #[test]
    fn openssl_reads_the_request_and_the_reply() {
        // `openssl ts` is the reference client: it must parse both.
        let (tsa, root) = authority();
        let imprint = [1; 32];
        let req = request(&imprint, 5);
        let dir = std::env::temp_dir().join(format!("passerelle-tsp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("ok");
        std::fs::write(dir.join("req.tsq"), &req).expect("ok");
        std::fs::write(
            dir.join("rep.tsr"),
            tsa.respond(&req, 1, OffsetDateTime::now_utc()),
        )
        .expect("ok");
        let out = std::process::Command::new("openssl")
            .args(["ts", "-reply", "-in"])
            .arg(dir.join("rep.tsr"))
            .arg("-text")
            .output()
            .expect("ok");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Status: Granted"), "{text}");
        assert!(text.contains("Policy OID: 1.3.6.1.4.1.99999.1.1"), "{text}");
        assert!(text.contains("Nonce: 0x05"), "{text}");
        let out = std::process::Command::new("openssl")
            .args(["ts", "-query", "-in"])
            .arg(dir.join("req.tsq"))
            .arg("-text")
            .output()
            .expect("ok");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Certificate required: yes"));
        std::fs::write(dir.join("root.pem"), ca::to_pem(&root)).expect("ok");
        let out = std::process::Command::new("openssl")
            .args(["ts", "-verify", "-in"])
            .arg(dir.join("rep.tsr"))
            .arg("-queryfile")
            .arg(dir.join("req.tsq"))
            .arg("-CAfile")
            .arg(dir.join("root.pem"))
            .output()
            .expect("ok");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Verification: OK"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_requests_are_rejected_with_the_right_failure() {
        let (tsa, _) = authority();
        let now = OffsetDateTime::now_utc();
        let (status, fail) = status_of(&tsa.respond(b"junk", 1, now));
        assert_eq!(status, vec![2]);
        assert_eq!(fail, Some(vec![0x04])); // badDataFormat (bit 5)

        let mut sha1 = TimeStampReq::from_der(&request(&[0; 32], 1)).expect("ok");
        sha1.message_imprint.hash_algorithm.oid = oids::ID_SHA1;
        let (status, fail) = status_of(&tsa.respond(&sha1.to_der().expect("ok"), 1, now));
        assert_eq!((status, fail), (vec![2], Some(vec![0x80]))); // badAlg (bit 0)

        let reply = tsa.respond(b"junk", 1, now);
        let error = token_from_response(&reply, &[0; 32], 1).expect_err("must fail");
        assert!(error.to_string().contains("refused"), "{error}");
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let (tsa, _) = authority();
        let now = OffsetDateTime::now_utc();
        let valid = request(&[3; 32], 77);
        let mut seed = 0x1234_5678_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for length in 0..valid.len() {
            let reply = tsa.respond(&valid[..length], 1, now);
            assert!(!reply.is_empty());
            assert!(token_from_response(&reply, &[3; 32], 77).is_err());
        }
        for _ in 0..2000 {
            let mut bytes = valid.clone();
            let i = (next() as usize) % bytes.len();
            bytes[i] = next() as u8;
            let reply = tsa.respond(&bytes, 1, now);
            let _ = token_from_response(&reply, &[3; 32], 77);
            let random: Vec<u8> = (0..(next() % 200)).map(|_| next() as u8).collect();
            let _ = tsa.respond(&random, 1, now);
            let _ = token_from_response(&random, &[3; 32], 77);
            let _ = token_time(&random);
        }
    }

    #[test]
    fn generalized_time_with_fractions_is_read() {
        let any = Any::new(Tag::GeneralizedTime, b"20260102030405.123Z".to_vec()).expect("ok");
        let time = parse_generalized_time(&any).expect("ok");
        assert_eq!(time.unix_timestamp(), 1_767_323_045);
        for bad in [
            &b"2026010203040Z"[..],
            b"20261302030405Z",
            b"20260102030405",
            b"20260102030405.Z",
        ] {
            let any = Any::new(Tag::GeneralizedTime, bad.to_vec()).expect("ok");
            assert!(parse_generalized_time(&any).is_err());
        }
    }
}
