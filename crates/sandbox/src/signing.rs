//! The sandbox's qualified trust services, TEST ONLY: a root CA, an issuing CA for persons'
//! signing certificates, and a time-stamping unit, made on first use and kept in the database
//! (`keys`, purposes [`ROOT`], [`ISSUING`] and [`TSA`]) so that every node sharing it issues
//! under the same hierarchy; and persons' signing credentials (itsme's CREATE_CERT).
//!
//! Each authority is created like every other key (`Store::find_or_insert_key`: insert if
//! absent, then read back the winner), in order, each one issued by what the database holds
//! before it, so a node that loses a race uses the winner's and never one of its own.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use passerelle_sign::{ca, tsp};
use passerelle_store::{SigningCredential, Store, StoreError};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{Persona, Sandbox};

/// The purposes under which the authorities' keys and certificates are stored.
pub const ROOT: &str = "sandbox-ca-root";
pub const ISSUING: &str = "sandbox-ca-issuing";
pub const TSA: &str = "sandbox-tsa";

pub const ROOT_NAME: &str = "Passerelle Sandbox Root CA - TEST ONLY";
pub const ISSUING_NAME: &str = "Passerelle Sandbox Qualified CA - TEST ONLY";
pub const TSA_NAME: &str = "Passerelle Sandbox TSA - TEST ONLY";
const ORGANIZATION: &str = "Passerelle Sandbox - TEST ONLY";

/// How long the authorities' certificates are valid.
const ROOT_VALIDITY: Duration = Duration::days(20 * 365);
const CA_VALIDITY: Duration = Duration::days(10 * 365);
/// How long a person's signing certificate is valid (itsme's sample: about seven months; a year
/// here, and a new one is made once it has expired).
const PERSON_VALIDITY: Duration = Duration::days(365);

/// Why the trust services cannot answer. Never the client's fault: callers answer 5xx (503 for
/// an unavailable database).
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing: {0}")]
    Sign(String),
}

impl From<passerelle_sign::Error> for SigningError {
    fn from(e: passerelle_sign::Error) -> Self {
        SigningError::Sign(e.to_string())
    }
}

/// The sandbox's authorities, loaded once per node.
pub struct Authorities {
    pub root_der: Vec<u8>,
    pub issuing_der: Vec<u8>,
    pub tsa_der: Vec<u8>,
    issuing: ca::Authority,
    tsa: tsp::Authority,
}

impl std::fmt::Debug for Authorities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorities").finish_non_exhaustive()
    }
}

impl Authorities {
    /// The issuing CA's certificate and the root's, PEM, issuing first (`/ca/chain.pem`).
    pub fn chain_pem(&self) -> String {
        let mut out = ca::to_pem(&self.issuing_der);
        out.push_str(&ca::to_pem(&self.root_der));
        out
    }

    /// A signed time-stamp reply to an RFC 3161 request (or a rejection for a bad one).
    pub fn time_stamp(&self, request: &[u8], serial: u128, now: OffsetDateTime) -> Vec<u8> {
        self.tsa.respond(request, serial, now)
    }
}

/// `{"key": base64 PKCS#8, "cert": base64 DER}`, as a purpose's material in `keys`.
fn material(issued: &ca::Issued) -> (String, String) {
    let kid = passerelle_sign::sha256(&issued.cert_der)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = json!({
        "key": STANDARD.encode(&issued.key_pkcs8),
        "cert": STANDARD.encode(&issued.cert_der),
    })
    .to_string();
    (kid, text)
}

fn issued(purpose: &str, material: &str) -> Result<ca::Issued, SigningError> {
    let corrupt = || {
        SigningError::Store(StoreError::Corrupt(format!(
            "key {purpose} is not readable"
        )))
    };
    let v: serde_json::Value = serde_json::from_str(material).map_err(|_| corrupt())?;
    let field = |name: &str| {
        v.get(name)
            .and_then(|x| x.as_str())
            .and_then(|x| STANDARD.decode(x).ok())
            .ok_or_else(corrupt)
    };
    Ok(ca::Issued {
        key_pkcs8: field("key")?,
        cert_der: field("cert")?,
    })
}

fn at(now: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A key and a certificate for `profile`, issued by `issuer` (CPU-bound: RSA key generation).
fn issue(
    issuer: &ca::Issued,
    profile: ca::Profile,
    now: i64,
    valid_for: Duration,
) -> Result<ca::Issued, SigningError> {
    let authority = ca::Authority::from_issued(issuer)?;
    let key_pkcs8 = passerelle_sign::keys::generate_rsa_2048()?;
    let public = passerelle_sign::keys::public_key_der(&key_pkcs8)?;
    // An hour back, so that a relying party whose clock is a little behind accepts it.
    let cert_der = authority.issue(&profile, &public, at(now - 3600), valid_for)?;
    Ok(ca::Issued {
        key_pkcs8,
        cert_der,
    })
}

/// The material stored for `purpose`, made by `make` (off the async threads) when the database
/// has none yet; whoever stored one first wins.
async fn find_or_make(
    store: &Store,
    purpose: &'static str,
    now: i64,
    make: impl FnOnce() -> Result<ca::Issued, SigningError> + Send + 'static,
) -> Result<ca::Issued, SigningError> {
    let candidate = if store.find_key(purpose).await?.is_none() {
        let made = tokio::task::spawn_blocking(make)
            .await
            .map_err(|e| SigningError::Sign(format!("key generation stopped: {e}")))??;
        Some(material(&made))
    } else {
        None
    };
    let (_, text) = store
        .find_or_insert_key(purpose, now, move || {
            candidate.ok_or_else(|| format!("the key {purpose} vanished"))
        })
        .await?;
    issued(purpose, &text)
}

/// Loads the authorities from the database, making those that are missing.
async fn load(store: &Store, now: i64) -> Result<Authorities, SigningError> {
    let root = find_or_make(store, ROOT, now, move || {
        Ok(ca::Authority::generate_root(
            ROOT_NAME,
            ORGANIZATION,
            ROOT_VALIDITY,
        )?)
    })
    .await?;
    let issuer = root.clone();
    let issuing = find_or_make(store, ISSUING, now, move || {
        issue(
            &issuer,
            ca::Profile::IssuingCa {
                common_name: ISSUING_NAME.into(),
            },
            now,
            CA_VALIDITY,
        )
    })
    .await?;
    let issuer = root.clone();
    let tsa = find_or_make(store, TSA, now, move || {
        issue(
            &issuer,
            ca::Profile::TimeStamping {
                common_name: TSA_NAME.into(),
            },
            now,
            CA_VALIDITY,
        )
    })
    .await?;
    Ok(Authorities {
        issuing: ca::Authority::from_issued(&issuing)?,
        tsa: tsp::Authority::new(
            &tsa.key_pkcs8,
            vec![tsa.cert_der.clone(), root.cert_der.clone()],
        )?,
        root_der: root.cert_der,
        issuing_der: issuing.cert_der,
        tsa_der: tsa.cert_der,
    })
}

/// The subject of a person's signing certificate, from their itsme identity: given and family
/// name, the document's country, the locality of their address when known, and `serialNumber`
/// — for a Belgian document the bare national number (as itsme's sample certificate has it),
/// otherwise the document's number with ETSI EN 319 412-1's semantics: `IDC<CC>-` for an identity
/// or residence card, `PAS<CC>-` for a passport.
pub fn person_subject(p: &Persona) -> ca::PersonSubject {
    let country = p.country();
    let serial_number = match (&p.national_number, p.document.issuing_country.as_str()) {
        (Some(nn), "BEL") => nn.clone(),
        _ => {
            let kind = if p.document.kind == "P" { "PAS" } else { "IDC" };
            format!("{kind}{country}-{}", p.document.number)
        }
    };
    ca::PersonSubject {
        given_name: p.given_name.clone().unwrap_or_default(),
        family_name: p.family_name.clone(),
        country,
        locality: p.address.as_ref().map(|a| a.locality.clone()),
        serial_number,
    }
}

impl Sandbox {
    /// The authorities, loaded (and made, the first time) on first use.
    pub async fn authorities(&self) -> Result<Arc<Authorities>, SigningError> {
        self.authorities
            .get_or_try_init(|| async { load(&self.store, self.clock.now()).await.map(Arc::new) })
            .await
            .cloned()
    }

    /// The person's signing credential, made the first time (itsme's CREATE_CERT) or when
    /// theirs has expired: an RSA-2048 key and a certificate from the issuing CA.
    pub async fn signing_credential(&self, p: &Persona) -> Result<SigningCredential, SigningError> {
        let now = self.clock.now();
        if let Some(c) = self
            .store
            .find_signing_credential(&p.phone_number, now)
            .await?
        {
            return Ok(c);
        }
        let authorities = self.authorities().await?;
        let subject = person_subject(p);
        let phone = p.phone_number.clone();
        let candidate =
            tokio::task::spawn_blocking(move || -> Result<SigningCredential, SigningError> {
                let key_pkcs8 = passerelle_sign::keys::generate_rsa_2048()?;
                let public = passerelle_sign::keys::public_key_der(&key_pkcs8)?;
                let cert_der = authorities.issuing.issue(
                    &ca::Profile::Person(subject),
                    &public,
                    at(now),
                    PERSON_VALIDITY,
                )?;
                Ok(SigningCredential {
                    id: uuid_v4(),
                    phone_number: phone,
                    key_pkcs8,
                    cert_der,
                    not_before: now,
                    not_after: now + PERSON_VALIDITY.whole_seconds(),
                    created_at: now,
                })
            })
            .await
            .map_err(|e| SigningError::Sign(format!("key generation stopped: {e}")))??;
        let stored = self
            .store
            .insert_signing_credential(&candidate, now)
            .await?;
        if stored.id == candidate.id {
            tracing::info!(sandbox.credential = %stored.id.get(..8).unwrap_or_default(), "sandbox signing certificate created");
        }
        Ok(stored)
    }
}

/// A random UUID (version 4), the shape of itsme's credential ids.
fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::personas::{BUILTIN, Personas};

    #[test]
    fn a_belgian_certificate_names_the_national_number_and_others_the_document() {
        let people = Personas::parse(BUILTIN, "2026-11-25").expect("personas");
        let be = person_subject(people.find("+32470000001").expect("persona"));
        assert_eq!(be.serial_number, "85073001744");
        assert_eq!(be.country, "BE");
        assert_eq!(be.locality.as_deref(), Some("Antwerpen"));
        assert_eq!(be.given_name, "Jan Pieter");
        let fr = people.find("+33639980001").expect("persona");
        let s = person_subject(fr);
        let kind = if fr.document.kind == "P" {
            "PAS"
        } else {
            "IDC"
        };
        assert_eq!(s.serial_number, format!("{kind}FR-{}", fr.document.number));
        assert_eq!(s.locality, None);
    }

    #[test]
    fn credential_ids_are_uuids() {
        let id = uuid_v4();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, uuid_v4());
    }
}
