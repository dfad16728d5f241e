//! A certificate authority for tests and the sandbox: every name it writes says TEST ONLY.
//!
//! It issues the certificates a qualified signature needs, shaped like the one itsme's QTSP
//! issues (reference §1.4): a person's RSA-2048 certificate with QC statements (QcCompliance,
//! QcSSCD, QcType esign, QcPDS), the QCP-n-qscd policy `0.4.0.194112.1.2`, keyUsage
//! digitalSignature + nonRepudiation (critical); a time-stamping certificate (critical EKU
//! timeStamping) for the sandbox TSA; and an organisation's sealing certificate (QCP-l
//! `0.4.0.194112.1.1`) for Passerelle's advanced signatures.
//!
//! The names of the certificates it issues come from the caller; the CA adds a TEST ONLY
//! certificate policy (with a user notice saying so) to every end-entity certificate.

use der::Encode as _;
use der::asn1::{Any, Ia5String, ObjectIdentifier, PrintableString, Utf8StringRef};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509Name, X509NameBuilder, X509NameRef};
use time::{Duration, OffsetDateTime};
use x509_cert::ext::pkix::CertificatePolicies;
use x509_cert::ext::pkix::certpolicy::{PolicyInformation, PolicyQualifierInfo};

use crate::{Error, Result, oids};

/// Where the QC statement QcPDS points (EN 319 412-5 §4.3.4): a PKI disclosure statement that
/// does not exist, under a name that says what these certificates are.
pub const PDS_URL: &str = "https://test-only.passerelle.invalid/pds/en";

/// The user notice of the TEST ONLY policy every end-entity certificate carries.
pub const TEST_ONLY_NOTICE: &str = "TEST ONLY: issued by the Passerelle sandbox, no reliance";

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
    Seal {
        common_name: String,
        organization: String,
        country: String,
    },
}

/// A CA that can issue: its key and its certificate.
pub struct Authority {
    key: PKey<Private>,
    cert: X509,
    cert_der: Vec<u8>,
}

impl Authority {
    /// A self-signed root, RSA-2048, `CN=<common_name>, O=<organization>, C=BE`, valid from an
    /// hour ago (clock skew between the machines that will check it) for `valid_for`.
    pub fn generate_root(
        common_name: &str,
        organization: &str,
        valid_for: Duration,
    ) -> Result<Issued> {
        let key_pkcs8 = crate::keys::generate_rsa_2048()?;
        let key = PKey::private_key_from_pkcs8(&key_pkcs8)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COUNTRYNAME, "BE")?;
        append_text(&mut name, Nid::ORGANIZATIONNAME, organization)?;
        append_text(&mut name, Nid::COMMONNAME, common_name)?;
        let name = name.build();

        let not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        let mut builder = new_builder(
            &name,
            &name,
            &key,
            not_before,
            valid_for + Duration::hours(1),
        )?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let cert_der = builder.build().to_der()?;
        Ok(Issued {
            key_pkcs8,
            cert_der,
        })
    }

    /// Load a CA from its key and certificate.
    pub fn from_issued(issued: &Issued) -> Result<Self> {
        let key = PKey::private_key_from_pkcs8(&issued.key_pkcs8)?;
        let cert = X509::from_der(&issued.cert_der)?;
        let matches = cert.public_key()?.public_eq(&key);
        if !matches {
            return Err(Error::Invalid(
                "the CA key does not match its certificate".into(),
            ));
        }
        Ok(Self {
            key,
            cert,
            cert_der: issued.cert_der.clone(),
        })
    }

    /// The CA's certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
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
        let subject_key = PKey::public_key_from_der(public_key_der)?;
        let subject = subject_name(profile)?;
        let mut builder = new_builder(
            &subject,
            self.cert.subject_name(),
            &subject_key,
            not_before,
            valid_for,
        )?;

        match profile {
            Profile::IssuingCa { .. } => {
                builder.append_extension(
                    BasicConstraints::new().critical().ca().pathlen(0).build()?,
                )?;
                builder.append_extension(
                    KeyUsage::new()
                        .critical()
                        .key_cert_sign()
                        .crl_sign()
                        .build()?,
                )?;
            }
            Profile::Person(_) => {
                builder.append_extension(
                    KeyUsage::new()
                        .critical()
                        .digital_signature()
                        .non_repudiation()
                        .build()?,
                )?;
                builder.append_extension(
                    ExtendedKeyUsage::new()
                        .client_auth()
                        .email_protection()
                        .build()?,
                )?;
                builder.append_extension(certificate_policies(Some(oids::QCP_N_QSCD))?)?;
                builder.append_extension(qc_statements(vec![
                    statement(oids::QC_COMPLIANCE, None)?,
                    statement(oids::QC_SSCD, None)?,
                    statement(
                        oids::QC_TYPE,
                        Some(Any::encode_from(&vec![oids::QC_TYPE_ESIGN])?),
                    )?,
                    pds_statement()?,
                    statement(
                        oids::PKIX_QC_SYNTAX_V2,
                        Some(Any::encode_from(&SemanticsInformation {
                            semantics_identifier: Some(oids::SEMANTICS_ID_NATURAL),
                        })?),
                    )?,
                ])?)?;
            }
            Profile::TimeStamping { .. } => {
                builder.append_extension(
                    KeyUsage::new()
                        .critical()
                        .digital_signature()
                        .non_repudiation()
                        .build()?,
                )?;
                builder.append_extension(
                    ExtendedKeyUsage::new().critical().time_stamping().build()?,
                )?;
                builder.append_extension(certificate_policies(None)?)?;
            }
            Profile::Seal { .. } => {
                builder.append_extension(
                    KeyUsage::new()
                        .critical()
                        .digital_signature()
                        .non_repudiation()
                        .build()?,
                )?;
                builder.append_extension(certificate_policies(Some(oids::QCP_L))?)?;
                builder.append_extension(qc_statements(vec![
                    statement(oids::QC_COMPLIANCE, None)?,
                    statement(
                        oids::QC_TYPE,
                        Some(Any::encode_from(&vec![oids::QC_TYPE_ESEAL])?),
                    )?,
                    pds_statement()?,
                ])?)?;
            }
        }
        let ski =
            SubjectKeyIdentifier::new().build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(ski)?;
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(aki)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        Ok(builder.build().to_der()?)
    }
}

/// A builder with version 3, a random serial, the names, the key and the validity set.
fn new_builder<T: openssl::pkey::HasPublic>(
    subject: &X509NameRef,
    issuer: &X509NameRef,
    key: &PKey<T>,
    not_before: OffsetDateTime,
    valid_for: Duration,
) -> Result<X509Builder> {
    if valid_for <= Duration::ZERO {
        return Err(Error::Invalid(
            "a certificate must be valid for some time".into(),
        ));
    }
    let not_after = not_before
        .checked_add(valid_for)
        .ok_or_else(|| Error::Invalid("the validity ends too far in the future".into()))?;
    let mut builder = X509Builder::new()?;
    builder.set_version(2)?;
    let serial = random_serial()?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(subject)?;
    builder.set_issuer_name(issuer)?;
    builder.set_pubkey(key)?;
    let not_before = Asn1Time::from_unix(not_before.unix_timestamp())?;
    let not_after = Asn1Time::from_unix(not_after.unix_timestamp())?;
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;
    Ok(builder)
}

/// A positive 16-byte serial (RFC 5280 §4.1.2.2: at most 20 bytes, unpredictable): 127 random
/// bits with the top one set, so the DER is always exactly 16 bytes.
fn random_serial() -> Result<Asn1Integer> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::ONE, false)?;
    Ok(bn.to_asn1_integer()?)
}

fn subject_name(profile: &Profile) -> Result<X509Name> {
    let mut name = X509NameBuilder::new()?;
    match profile {
        Profile::IssuingCa { common_name } | Profile::TimeStamping { common_name } => {
            append_text(&mut name, Nid::COMMONNAME, common_name)?;
        }
        Profile::Person(person) => {
            name.append_entry_by_nid(Nid::COUNTRYNAME, &country_code(&person.country)?)?;
            if let Some(locality) = &person.locality {
                append_text(&mut name, Nid::LOCALITYNAME, locality)?;
            }
            if person.serial_number.is_empty()
                || !person
                    .serial_number
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
            {
                return Err(Error::Invalid(
                    "the serialNumber attribute must be printable (letters, digits, -)".into(),
                ));
            }
            name.append_entry_by_nid(Nid::SERIALNUMBER, &person.serial_number)?;
            append_text(&mut name, Nid::SURNAME, &person.family_name)?;
            append_text(&mut name, Nid::GIVENNAME, &person.given_name)?;
            let common_name = format!("{} {}", person.given_name, person.family_name);
            append_text(&mut name, Nid::COMMONNAME, &common_name)?;
        }
        Profile::Seal {
            common_name,
            organization,
            country,
        } => {
            name.append_entry_by_nid(Nid::COUNTRYNAME, &country_code(country)?)?;
            append_text(&mut name, Nid::ORGANIZATIONNAME, organization)?;
            append_text(&mut name, Nid::COMMONNAME, common_name)?;
        }
    }
    Ok(name.build())
}

/// A UTF8String attribute, refusing what X.520 upper bounds refuse: empty or over 64 characters.
fn append_text(name: &mut X509NameBuilder, nid: Nid, value: &str) -> Result<()> {
    let length = value.chars().count();
    if length == 0 || length > 64 {
        return Err(Error::Invalid(format!(
            "the {} attribute must have 1 to 64 characters",
            nid.short_name().unwrap_or("name")
        )));
    }
    Ok(name.append_entry_by_nid(nid, value)?)
}

fn country_code(country: &str) -> Result<String> {
    if country.len() == 2 && country.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(country.to_ascii_uppercase())
    } else {
        Err(Error::Invalid(
            "a country is an ISO 3166 alpha-2 code".into(),
        ))
    }
}

/// `certificatePolicies`: `qualified` (when given), then the TEST ONLY policy with a user notice.
fn certificate_policies(qualified: Option<ObjectIdentifier>) -> Result<X509Extension> {
    let notice = UserNotice {
        explicit_text: Utf8StringRef::new(TEST_ONLY_NOTICE)?,
    };
    let mut policies: Vec<PolicyInformation> = qualified
        .into_iter()
        .map(|policy_identifier| PolicyInformation {
            policy_identifier,
            policy_qualifiers: None,
        })
        .collect();
    policies.push(PolicyInformation {
        policy_identifier: oids::TEST_ONLY_POLICY,
        policy_qualifiers: Some(vec![PolicyQualifierInfo {
            policy_qualifier_id: oids::ID_QT_UNOTICE,
            qualifier: Some(Any::encode_from(&notice)?),
        }]),
    });
    extension_from_der(
        oids::CERTIFICATE_POLICIES,
        false,
        &CertificatePolicies(policies).to_der()?,
    )
}

/// `UserNotice ::= SEQUENCE { noticeRef OPTIONAL, explicitText DisplayText OPTIONAL }` (RFC 5280
/// §4.2.1.4), with only a UTF8String explicit text.
#[derive(der::Sequence)]
struct UserNotice<'a> {
    explicit_text: Utf8StringRef<'a>,
}

/// `QCStatement ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }` (RFC 3739 §3.2.6).
#[derive(der::Sequence)]
struct QcStatement {
    statement_id: ObjectIdentifier,
    #[asn1(optional = "true")]
    statement_info: Option<Any>,
}

/// `PdsLocation ::= SEQUENCE { url IA5String, language PrintableString (SIZE(2)) }`
/// (EN 319 412-5 §4.3.4).
#[derive(der::Sequence)]
struct PdsLocation {
    url: Ia5String,
    language: PrintableString,
}

/// `SemanticsInformation ::= SEQUENCE { semanticsIdentifier OID OPTIONAL, … }` (RFC 3739).
#[derive(der::Sequence)]
struct SemanticsInformation {
    #[asn1(optional = "true")]
    semantics_identifier: Option<ObjectIdentifier>,
}

fn statement(statement_id: ObjectIdentifier, statement_info: Option<Any>) -> Result<QcStatement> {
    Ok(QcStatement {
        statement_id,
        statement_info,
    })
}

fn pds_statement() -> Result<QcStatement> {
    let locations = vec![PdsLocation {
        url: Ia5String::new(PDS_URL)?,
        language: PrintableString::new("en")?,
    }];
    statement(oids::QC_PDS, Some(Any::encode_from(&locations)?))
}

fn qc_statements(statements: Vec<QcStatement>) -> Result<X509Extension> {
    extension_from_der(oids::QC_STATEMENTS, false, &statements.to_der()?)
}

fn extension_from_der(oid: &str, critical: bool, der: &[u8]) -> Result<X509Extension> {
    let oid = Asn1Object::from_str(oid)?;
    let value = Asn1OctetString::new_from_bytes(der)?;
    Ok(X509Extension::new_from_der(&oid, critical, &value)?)
}

/// The subject of a certificate, one line (`CN=…, serialNumber=…, C=BE`), for pages and logs
/// meant for operators: the most specific attribute first (RFC 4514 order).
pub fn subject_line(cert_der: &[u8]) -> Result<String> {
    let cert = X509::from_der(cert_der)?;
    Ok(name_line(cert.subject_name()))
}

pub(crate) fn name_line(name: &X509NameRef) -> String {
    let parts: Vec<String> = name
        .entries()
        .map(|entry| {
            let nid = entry.object().nid();
            let key = match nid.short_name() {
                Ok(short) if nid != Nid::UNDEF => short.to_string(),
                _ => entry.object().to_string(),
            };
            let value = match entry.data().to_string() {
                Ok(value) => escape_rfc4514(&value),
                Err(_) => "#?".to_string(),
            };
            format!("{key}={value}")
        })
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join(", ")
}

fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let leading = i == 0 && (c == ' ' || c == '#');
        if leading || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        if c.is_control() {
            out.push_str(&format!("\\{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The `serialNumber` attribute of a certificate's subject, if any (how a signer is checked
/// against the national number a signing session names).
pub fn subject_serial_number(cert_der: &[u8]) -> Result<Option<String>> {
    let cert = X509::from_der(cert_der)?;
    let Some(entry) = cert.subject_name().entries_by_nid(Nid::SERIALNUMBER).next() else {
        return Ok(None);
    };
    Ok(Some(entry.data().to_string()?))
}

/// DER → PEM (`CERTIFICATE`), for downloads and pyHanko.
pub fn to_pem(cert_der: &[u8]) -> String {
    let body = openssl::base64::encode_block(cert_der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::Certificate;
    use x509_cert::der::Decode as _;
    use x509_cert::ext::pkix::{ExtendedKeyUsage as Eku, KeyUsage as Ku};

    fn root() -> Authority {
        let root = Authority::generate_root(
            "Passerelle TEST ONLY Root",
            "Passerelle TEST ONLY",
            Duration::days(365),
        )
        .expect("ok");
        Authority::from_issued(&root).expect("ok")
    }

    fn person() -> Profile {
        Profile::Person(PersonSubject {
            given_name: "Stéphane".into(),
            family_name: "Test".into(),
            country: "BE".into(),
            locality: Some("Brussel".into()),
            serial_number: "89112433518".into(),
        })
    }

    #[test]
    fn a_person_certificate_looks_like_the_one_itsme_issues() {
        let ca = root();
        let key = crate::keys::generate_rsa_2048().expect("ok");
        let public = crate::keys::public_key_der(&key).expect("ok");
        let der = ca
            .issue(
                &person(),
                &public,
                OffsetDateTime::now_utc(),
                Duration::days(200),
            )
            .expect("ok");

        assert_eq!(
            subject_line(&der).expect("ok"),
            "CN=Stéphane Test, GN=Stéphane, SN=Test, serialNumber=89112433518, L=Brussel, C=BE"
        );
        assert_eq!(
            subject_serial_number(&der).expect("ok").as_deref(),
            Some("89112433518")
        );

        let cert = Certificate::from_der(&der).expect("ok");
        let tbs = cert.tbs_certificate();
        assert_eq!(tbs.serial_number().as_bytes().len(), 16);
        let (critical, ku) = tbs.get_extension::<Ku>().expect("ok").expect("ok");
        assert!(critical && ku.digital_signature() && ku.non_repudiation() && !ku.key_cert_sign());
        let (_, eku) = tbs.get_extension::<Eku>().expect("ok").expect("ok");
        assert_eq!(eku.0.len(), 2);

        let x509 = X509::from_der(&der).expect("ok");
        let text = String::from_utf8(x509.to_text().expect("ok")).expect("ok");
        for needle in [
            "0.4.0.194112.1.2",
            "1.3.6.1.4.1.99999.2.1",
            TEST_ONLY_NOTICE,
            "qcStatements",
            "X509v3 Authority Key Identifier",
            "X509v3 Subject Key Identifier",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        let ext = tbs
            .extensions()
            .expect("ok")
            .iter()
            .find(|e| e.extn_id.to_string() == oids::QC_STATEMENTS)
            .expect("ok");
        let qc = ext.extn_value.as_bytes();
        for oid in [
            oids::QC_COMPLIANCE,
            oids::QC_SSCD,
            oids::QC_TYPE_ESIGN,
            oids::QC_PDS,
            oids::SEMANTICS_ID_NATURAL,
        ] {
            let needle = oid.to_der().expect("ok");
            assert!(
                qc.windows(needle.len()).any(|w| w == needle),
                "{oid} missing"
            );
        }
        assert!(qc.windows(PDS_URL.len()).any(|w| w == PDS_URL.as_bytes()));

        assert!(
            x509.verify(
                &X509::from_der(ca.cert_der())
                    .expect("ok")
                    .public_key()
                    .expect("ok")
            )
            .expect("ok")
        );
    }

    #[test]
    fn a_time_stamping_certificate_has_a_critical_time_stamping_eku() {
        let ca = root();
        let key = crate::keys::generate_rsa_2048().expect("ok");
        let der = ca
            .issue(
                &Profile::TimeStamping {
                    common_name: "Passerelle TEST ONLY TSA".into(),
                },
                &crate::keys::public_key_der(&key).expect("ok"),
                OffsetDateTime::now_utc(),
                Duration::days(10),
            )
            .expect("ok");
        let cert = Certificate::from_der(&der).expect("ok");
        let (critical, eku) = cert
            .tbs_certificate()
            .get_extension::<Eku>()
            .expect("ok")
            .expect("ok");
        assert!(critical);
        assert_eq!(eku.0, vec![oids::ID_KP_TIME_STAMPING]);
    }

    #[test]
    fn an_issuing_ca_and_a_seal_can_be_issued_and_chain() {
        let ca = root();
        let key = crate::keys::generate_rsa_2048().expect("ok");
        let issuing_der = ca
            .issue(
                &Profile::IssuingCa {
                    common_name: "Passerelle TEST ONLY Issuing CA".into(),
                },
                &crate::keys::public_key_der(&key).expect("ok"),
                OffsetDateTime::now_utc(),
                Duration::days(100),
            )
            .expect("ok");
        let issuing = Authority::from_issued(&Issued {
            key_pkcs8: key,
            cert_der: issuing_der,
        })
        .expect("ok");
        let seal_key = crate::keys::generate_rsa_2048().expect("ok");
        let seal = issuing
            .issue(
                &Profile::Seal {
                    common_name: "Passerelle TEST ONLY Seal".into(),
                    organization: "Passerelle TEST ONLY".into(),
                    country: "be".into(),
                },
                &crate::keys::public_key_der(&seal_key).expect("ok"),
                OffsetDateTime::now_utc(),
                Duration::days(10),
            )
            .expect("ok");
        assert_eq!(
            subject_line(&seal).expect("ok"),
            "CN=Passerelle TEST ONLY Seal, O=Passerelle TEST ONLY, C=BE"
        );
        assert_eq!(subject_serial_number(&seal).expect("ok"), None);
        let text = String::from_utf8(X509::from_der(&seal).expect("ok").to_text().expect("ok"))
            .expect("ok");
        assert!(text.contains("0.4.0.194112.1.1"));
    }

    #[test]
    fn bad_names_and_keys_are_refused() {
        let ca = root();
        let public = crate::keys::public_key_der(&crate::keys::generate_rsa_2048().expect("ok"))
            .expect("ok");
        let now = OffsetDateTime::now_utc();
        let mut bad = PersonSubject {
            given_name: "A".into(),
            family_name: "B".into(),
            country: "BEL".into(),
            locality: None,
            serial_number: "1".into(),
        };
        assert!(
            ca.issue(
                &Profile::Person(bad.clone()),
                &public,
                now,
                Duration::days(1)
            )
            .is_err()
        );
        bad.country = "BE".into();
        bad.serial_number = String::new();
        assert!(
            ca.issue(
                &Profile::Person(bad.clone()),
                &public,
                now,
                Duration::days(1)
            )
            .is_err()
        );
        bad.serial_number = "1".into();
        assert!(
            ca.issue(
                &Profile::Person(bad.clone()),
                &public,
                now,
                Duration::days(1)
            )
            .is_ok()
        );
        assert!(
            ca.issue(&Profile::Person(bad), b"junk", now, Duration::days(1))
                .is_err()
        );
        assert!(subject_line(b"junk").is_err());
    }

    #[test]
    fn pem_wraps_at_64_columns() {
        let pem = to_pem(&[0u8; 100]);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(X509::from_pem(to_pem(root().cert_der()).as_bytes()).is_ok());
    }
}
