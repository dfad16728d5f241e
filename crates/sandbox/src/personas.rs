//! Sandbox personas: the made-up itsme accounts, read from a TOML data file (the built-in
//! `personas.toml`, or the operator's own), checked as they load, and turned into the itsme
//! claims the scheme would return for them.

use std::collections::HashSet;

use passerelle_core::flow::Behaviour;
use passerelle_core::nin;
use passerelle_itsme::claims::uri;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The built-in personas, shipped inside the binary.
pub const BUILTIN: &str = include_str!("../personas.toml");

/// The countries whose documents itsme accepts (DESIGN.md), as alpha-3.
pub const COVERAGE: &[&str] = &["BEL", "EST", "FRA", "IRL", "ITA", "LUX", "PRT", "NLD"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    persona: Vec<Persona>,
}

/// One itsme account of the sandbox (see the header of `personas.toml` for the fields).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    pub phone_number: String,
    behaviour: String,
    pub code: String,
    pub app_timeout_seconds: Option<i64>,
    #[serde(default)]
    pub label: String,
    pub locale: Option<String>,
    pub given_name: Option<String>,
    pub family_name: String,
    pub gender: Option<String>,
    pub official_gender: Option<String>,
    pub birthdate: Option<String>,
    pub birthdate_as_string: Option<String>,
    pub email: Option<String>,
    pub citizenship: Option<String>,
    pub citizenship_iso: Option<String>,
    pub national_number: Option<String>,
    pub place_of_birth: Option<PlaceOfBirth>,
    pub address: Option<Address>,
    pub document: Document,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOfBirth {
    pub formatted: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub street_address: String,
    pub postal_code: String,
    pub locality: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub number: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub issuing_country: String,
    pub valid_from: Option<String>,
    pub valid_to: String,
    pub issuance_locality: Option<String>,
    pub read_date: Option<String>,
}

impl Persona {
    pub fn behaviour(&self) -> Behaviour {
        Behaviour::parse(&self.behaviour).unwrap_or(Behaviour::Manual)
    }

    /// The document's issuing country as alpha-2 (`BE`, `EE`, …).
    pub fn country(&self) -> String {
        passerelle_itsme::claims::alpha2(&self.document.issuing_country)
    }

    fn is_belgian(&self) -> bool {
        self.document.issuing_country == "BEL"
    }

    /// Every itsme claim this persona has, by claim name (standard names and itsme URIs).
    /// Metadata claims are objects keyed by the claim they describe.
    fn all_claims(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        if let Some(g) = &self.given_name {
            put("given_name", json!(g));
            put("name", json!(format!("{g} {}", self.family_name)));
        } else {
            put("name", json!(self.family_name));
        }
        put("family_name", json!(self.family_name));
        if let Some(v) = &self.gender {
            put("gender", json!(v));
        }
        if let Some(v) = &self.locale {
            put("locale", json!(v));
        }
        if let Some(v) = &self.birthdate {
            put("birthdate", json!(v));
        }
        if let Some(v) = &self.birthdate_as_string {
            put(uri::BIRTHDATE_AS_STRING, json!(v));
        }
        if let Some(v) = &self.official_gender {
            put(uri::OFFICIAL_GENDER, json!(v));
        }
        if let Some(v) = &self.email {
            put("email", json!(v));
            put("email_verified", json!(false));
        }
        put(
            "phone_number",
            json!(itsme_phone_format(&self.phone_number)),
        );
        put("phone_number_verified", json!(true));
        if let Some(a) = &self.address {
            put(
                "address",
                json!({
                    "formatted": format!("{}\n{} {}", a.street_address, a.postal_code, a.locality),
                    "street_address": a.street_address,
                    "postal_code": a.postal_code,
                    "locality": a.locality,
                }),
            );
        }
        if let Some(v) = &self.citizenship {
            put(uri::CITIZENSHIP, json!(v));
        }
        if let Some(v) = &self.citizenship_iso {
            put(uri::CITIZENSHIP_ISO, json!(v));
        }
        if let Some(p) = &self.place_of_birth {
            let mut o = Map::new();
            for (k, v) in [
                ("formatted", &p.formatted),
                ("city", &p.city),
                ("country", &p.country),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), json!(v));
                }
            }
            put(uri::PLACE_OF_BIRTH, Value::Object(o));
        }
        if let Some(nn) = &self.national_number {
            put(uri::BE_NATIONAL_NUMBER, json!(nn));
        }
        let d = &self.document;
        put(uri::ID_DOCUMENT_SN, json!(d.number));
        put(uri::ID_DOCUMENT_TYPE, json!(d.kind));
        if self.is_belgian() {
            put(uri::BE_EID_SN, json!(d.number));
        }
        m
    }

    /// The claims the scheme returns for a request of `names` (claim names or URIs): only what
    /// was asked, only what the document has, metadata only with the claim it describes.
    pub fn claims_for(&self, names: &[String]) -> Map<String, Value> {
        let all = self.all_claims();
        let asked = |n: &str| names.iter().any(|x| x == n);
        let mut out = Map::new();
        for n in names {
            if let Some(v) = all.get(n) {
                out.insert(n.clone(), v.clone());
            }
        }
        let d = &self.document;
        // The claim that metadata describes: IDDocumentSN, or BEeidSn when only that was asked.
        let described = if asked(uri::ID_DOCUMENT_SN) {
            Some(uri::ID_DOCUMENT_SN)
        } else if asked(uri::BE_EID_SN) && self.is_belgian() {
            Some(uri::BE_EID_SN)
        } else {
            None
        };
        if let Some(key) = described {
            let meta = |v: &str| json!({ key: v });
            let stamp = |date: &str| format!("{date}T00:00:00.000Z");
            if asked(uri::ID_ISSUING_COUNTRY) {
                out.insert(uri::ID_ISSUING_COUNTRY.into(), meta(&d.issuing_country));
            }
            if asked(uri::VALIDITY_TO) {
                out.insert(uri::VALIDITY_TO.into(), meta(&stamp(&d.valid_to)));
            }
            if asked(uri::VERIFICATION_DATE)
                && let Some(r) = &d.read_date
            {
                out.insert(uri::VERIFICATION_DATE.into(), meta(&stamp(r)));
            }
        }
        // validityFrom and issuance_locality exist only for Belgian documents, with BEeidSn.
        if asked(uri::BE_EID_SN) && self.is_belgian() {
            let meta = |v: &str| json!({ uri::BE_EID_SN: v });
            if asked(uri::VALIDITY_FROM)
                && let Some(f) = &d.valid_from
            {
                out.insert(
                    uri::VALIDITY_FROM.into(),
                    meta(&format!("{f}T00:00:00.000Z")),
                );
            }
            if asked(uri::ISSUANCE_LOCALITY)
                && let Some(l) = &d.issuance_locality
            {
                out.insert(uri::ISSUANCE_LOCALITY.into(), meta(l));
            }
        }
        out
    }
}

/// itsme's phone format: `+32 470000001` (country code, a space, the national number).
fn itsme_phone_format(e164: &str) -> String {
    const CODES: &[&str] = &[
        "372", "353", "352", "351", "32", "33", "39", "31", "49", "44", "1",
    ];
    let digits = e164.trim_start_matches('+');
    for cc in CODES {
        if let Some(rest) = digits.strip_prefix(cc) {
            return format!("+{cc} {rest}");
        }
    }
    e164.to_string()
}

/// Normalizes what a person typed as a phone number: spaces, dots, dashes, slashes and
/// parentheses are dropped, `00` becomes `+`, and a Belgian local `04…` becomes `+324…`.
pub fn normalize_phone(input: &str) -> Option<String> {
    let mut s: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '/' | '(' | ')' | '\u{a0}'))
        .collect();
    if let Some(rest) = s.strip_prefix("00") {
        s = format!("+{rest}");
    } else if s.starts_with('0') {
        s = format!("+32{}", &s[1..]);
    }
    let digits = s.strip_prefix('+')?;
    let ok = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(s)
}

/// The loaded personas.
#[derive(Debug, Clone)]
pub struct Personas {
    list: Vec<Persona>,
}

impl Personas {
    /// Parses and checks a personas file; every problem is reported, not just the first.
    pub fn parse(text: &str, today: &str) -> Result<Personas, String> {
        let file: File = toml::from_str(text).map_err(|e| format!("personas file: {e}"))?;
        let mut problems = Vec::new();
        let mut phones = HashSet::new();
        let year: i32 = today.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2026);
        for p in &file.persona {
            let who = &p.phone_number;
            let mut bad = |msg: String| problems.push(format!("persona {who}: {msg}"));
            if normalize_phone(&p.phone_number).as_deref() != Some(p.phone_number.as_str()) {
                bad("phone_number must be in E.164 form, like +32470000001".into());
            }
            if !phones.insert(p.phone_number.clone()) {
                bad("phone_number is used twice".into());
            }
            if Behaviour::parse(&p.behaviour).is_none() {
                bad("behaviour must be approve, refuse, timeout, blocked or manual".into());
            }
            if p.code.len() != 5 || !p.code.bytes().all(|b| b.is_ascii_digit()) {
                bad("code must be 5 digits".into());
            }
            if p.app_timeout_seconds
                .is_some_and(|t| !(1..=3600).contains(&t))
            {
                bad("app_timeout_seconds must be between 1 and 3600".into());
            }
            if !COVERAGE.contains(&p.document.issuing_country.as_str()) {
                bad(format!(
                    "document.issuing_country must be one of {}",
                    COVERAGE.join(", ")
                ));
            }
            for (name, date) in [
                ("birthdate", p.birthdate.as_deref()),
                ("document.valid_to", Some(p.document.valid_to.as_str())),
                ("document.valid_from", p.document.valid_from.as_deref()),
                ("document.read_date", p.document.read_date.as_deref()),
            ] {
                if let Some(d) = date
                    && !is_date(d)
                {
                    bad(format!("{name} must be YYYY-MM-DD"));
                }
            }
            if let Some(b) = &p.birthdate
                && is_date(b)
                && b.as_str()
                    > format!("{}{}", year - 16, today.get(4..).unwrap_or_default()).as_str()
            {
                bad("itsme users are at least 16 years old".into());
            }
            if p.is_belgian() {
                match &p.national_number {
                    None => bad("Belgian documents carry a national number".into()),
                    Some(nn) if nin::parse_national_number(nn, year).is_none() => {
                        bad("national_number fails the mod-97 check".into())
                    }
                    Some(_) => {}
                }
                if p.address.is_none() {
                    bad("Belgian documents carry an address".into());
                }
                if p.birthdate.is_none() && p.birthdate_as_string.is_none() {
                    bad("Belgian documents carry birthdate or birthdate_as_string".into());
                }
                if !nin::is_valid_eid_card_number(&p.document.number) {
                    bad("document.number is not a valid Belgian card number".into());
                }
            } else {
                for (field, present) in [
                    ("national_number", p.national_number.is_some()),
                    ("address", p.address.is_some()),
                    ("place_of_birth", p.place_of_birth.is_some()),
                    ("document.valid_from", p.document.valid_from.is_some()),
                    (
                        "document.issuance_locality",
                        p.document.issuance_locality.is_some(),
                    ),
                ] {
                    if present {
                        bad(format!("{field} exists only for Belgian documents"));
                    }
                }
                if p.birthdate.is_none() {
                    bad("non-Belgian documents carry a birthdate".into());
                }
            }
        }
        if file.persona.is_empty() {
            problems.push("the personas file has no [[persona]]".into());
        }
        if problems.is_empty() {
            Ok(Personas { list: file.persona })
        } else {
            Err(problems.join("\n"))
        }
    }

    pub fn find(&self, phone_e164: &str) -> Option<&Persona> {
        self.list.iter().find(|p| p.phone_number == phone_e164)
    }

    pub fn all(&self) -> &[Persona] {
        &self.list
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.bytes()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_personas_load_and_cover_every_country() {
        let p = Personas::parse(BUILTIN, "2026-11-25").expect("valid");
        for c in COVERAGE {
            for b in [Behaviour::Approve, Behaviour::Manual] {
                assert!(
                    p.all()
                        .iter()
                        .any(|x| x.document.issuing_country == *c && x.behaviour() == b),
                    "{c} lacks {b:?}"
                );
            }
        }
    }

    #[test]
    fn phone_numbers_are_normalized() {
        assert_eq!(
            normalize_phone("+32 470 00 00 01").as_deref(),
            Some("+32470000001")
        );
        assert_eq!(
            normalize_phone("0032470000001").as_deref(),
            Some("+32470000001")
        );
        assert_eq!(
            normalize_phone("0470/00.00.01").as_deref(),
            Some("+32470000001")
        );
        assert_eq!(normalize_phone("hello"), None);
        assert_eq!(normalize_phone("+32"), None);
    }

    #[test]
    fn problems_are_all_reported() {
        let bad = BUILTIN
            .replacen("code = \"12345\"", "code = \"1234\"", 1)
            .replacen("85073001744", "85073001745", 1);
        let err = Personas::parse(&bad, "2026-11-25").expect_err("invalid");
        assert!(err.contains("5 digits") && err.contains("mod-97"), "{err}");
    }

    #[test]
    fn metadata_claims_come_only_with_what_they_describe() {
        let p = Personas::parse(BUILTIN, "2026-11-25").expect("valid");
        let be = p.find("+32470000001").expect("persona");
        let alone = be.claims_for(&[uri::VALIDITY_TO.to_string()]);
        assert!(alone.is_empty());
        let with = be.claims_for(&[
            uri::ID_DOCUMENT_SN.to_string(),
            uri::VALIDITY_TO.to_string(),
        ]);
        assert!(with[uri::VALIDITY_TO].is_object());
    }
}
