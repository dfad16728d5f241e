//! itsme's claim vocabulary (`_Appendix/claims.md`, `authorization_request.md`), the claims
//! request Passerelle sends for a set of RP-facing scopes, and the mapping of what comes back to
//! Signicat-style claim names. Pure functions, shared with the sandbox, which speaks the same
//! vocabulary from the other side.

use passerelle_core::scopes::GrantedScopes;
use serde_json::{Map, Value, json};

/// The prefix of itsme's own claim URIs.
pub const PREFIX: &str = "http://itsme.services/v2/claim/";

/// The grant type of a poll for a decoupled login (OpenID CIBA Core §10.1), at itsme's token
/// endpoint and at the broker's.
pub const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";

/// itsme claim URIs, by their short names.
pub mod uri {
    pub const BE_NATIONAL_NUMBER: &str = "http://itsme.services/v2/claim/BENationalNumber";
    pub const BE_EID_SN: &str = "http://itsme.services/v2/claim/BEeidSn";
    pub const ID_DOCUMENT_SN: &str = "http://itsme.services/v2/claim/IDDocumentSN";
    pub const ID_DOCUMENT_TYPE: &str = "http://itsme.services/v2/claim/IDDocumentType";
    pub const ID_ISSUING_COUNTRY: &str = "http://itsme.services/v2/claim/IDIssuingCountry";
    pub const VALIDITY_FROM: &str = "http://itsme.services/v2/claim/validityFrom";
    pub const VALIDITY_TO: &str = "http://itsme.services/v2/claim/validityTo";
    pub const ISSUANCE_LOCALITY: &str = "http://itsme.services/v2/claim/issuance_locality";
    pub const VERIFICATION_DATE: &str = "http://itsme.services/v2/claim/verificationDate";
    pub const PLACE_OF_BIRTH: &str = "http://itsme.services/v2/claim/place_of_birth";
    pub const CITIZENSHIP: &str = "http://itsme.services/v2/claim/claim_citizenship";
    pub const CITIZENSHIP_ISO: &str = "http://itsme.services/v2/claim/claim_citizenship_as_iso";
    pub const BIRTHDATE_AS_STRING: &str = "http://itsme.services/v2/claim/birthdate_as_string";
    pub const OFFICIAL_GENDER: &str = "http://itsme.services/v2/claim/official_gender";
    pub const ACR_BASIC: &str = "http://itsme.services/v2/claim/acr_basic";
    pub const ACR_ADVANCED: &str = "http://itsme.services/v2/claim/acr_advanced";
}

/// The itsme claims to ask for, for one RP-facing scope.
fn itsme_claims_for_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        "name" => &["given_name", "family_name", "name"],
        "email" => &["email", "email_verified"],
        "profile" => &[
            "given_name",
            "family_name",
            "name",
            "gender",
            "birthdate",
            uri::BIRTHDATE_AS_STRING,
            "locale",
        ],
        "date-of-birth" => &["birthdate", uri::BIRTHDATE_AS_STRING],
        "gender" => &["gender"],
        "phone" => &["phone_number", "phone_number_verified"],
        "address" => &["address"],
        "nin" => &[uri::BE_NATIONAL_NUMBER],
        "nationality" => &[uri::CITIZENSHIP, uri::CITIZENSHIP_ISO],
        "place-of-birth" => &[uri::PLACE_OF_BIRTH],
        "itsme-eid" => &[
            uri::ID_DOCUMENT_SN,
            uri::ID_DOCUMENT_TYPE,
            uri::ID_ISSUING_COUNTRY,
            uri::VERIFICATION_DATE,
        ],
        // Metadata claims come back only together with the claim they describe.
        "itsme-validity" => &[
            uri::ID_DOCUMENT_SN,
            uri::BE_EID_SN,
            uri::VALIDITY_FROM,
            uri::VALIDITY_TO,
        ],
        "itsme-issuance-locality" => &[uri::BE_EID_SN, uri::ISSUANCE_LOCALITY],
        _ => &[],
    }
}

/// The list of itsme claims a set of RP scopes needs, without duplicates, in a stable order.
pub fn itsme_claims_for(scopes: &GrantedScopes) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for scope in passerelle_core::scopes::SCOPES {
        if scopes.contains(scope.name) {
            for c in itsme_claims_for_scope(scope.name) {
                if !out.contains(c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The OIDC `claims` request parameter (OIDC Core §5.5) asking for `claims` in the ID token or
/// at userinfo.
pub fn claims_request(claims: &[&str], in_id_token: bool) -> Value {
    let members: Map<String, Value> = claims
        .iter()
        .map(|c| (c.to_string(), Value::Null))
        .collect();
    if in_id_token {
        json!({ "id_token": members })
    } else {
        json!({ "userinfo": members })
    }
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A metadata claim's value: an object keyed by the claim it describes (itsme's shape), or a
/// plain string from a more lenient sender.
fn metadata<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match m.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o.values().find_map(Value::as_str),
        _ => None,
    }
}

/// `2031-03-15T00:00:00.000Z` → `2031-03-15`.
fn date_part(s: &str) -> Option<String> {
    let d = s.get(..10)?;
    let b = d.as_bytes();
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && d.bytes()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    ok.then(|| d.to_string())
}

/// `01.11.1978` → `1978-11-01`.
fn date_from_document(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(['.', '/', '-']).collect();
    match parts.as_slice() {
        [d, m, y]
            if d.len() == 2
                && m.len() == 2
                && y.len() == 4
                && s.bytes()
                    .all(|c| c.is_ascii_digit() || !c.is_ascii_alphanumeric()) =>
        {
            Some(format!("{y}-{m}-{d}"))
        }
        _ => None,
    }
}

/// ISO 3166 alpha-3 → alpha-2 for the countries itsme covers and their neighbours; other codes
/// pass through unchanged.
pub fn alpha2(alpha3: &str) -> String {
    let two = match alpha3 {
        "BEL" => "BE",
        "EST" => "EE",
        "FRA" => "FR",
        "IRL" => "IE",
        "ITA" => "IT",
        "LUX" => "LU",
        "PRT" => "PT",
        "NLD" => "NL",
        "DEU" => "DE",
        "POL" => "PL",
        "ESP" => "ES",
        "GBR" => "GB",
        "MAR" => "MA",
        "TUR" => "TR",
        "ROU" => "RO",
        "BGR" => "BG",
        "AUT" => "AT",
        "CHE" => "CH",
        "USA" => "US",
        "COD" => "CD",
        other => other,
    };
    two.to_string()
}

/// `+32 470000001` → `+32470000001` (E.164).
pub fn e164(phone: &str) -> String {
    phone
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect()
}

/// Maps the claims itsme returned (ID token and userinfo, merged) to Passerelle's RP-facing
/// claims. Claims itsme did not send are omitted, never null; the national number only for
/// Belgian documents. `sub`, `idp_id` and friends are added by the caller.
pub fn map_to_rp_claims(itsme: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: Value| {
        out.insert(k.to_string(), v);
    };
    for k in ["given_name", "family_name", "name", "gender", "email"] {
        if let Some(v) = text(itsme, k) {
            put(k, json!(v));
        }
    }
    if text(itsme, "name").is_none() {
        if let (Some(g), Some(f)) = (text(itsme, "given_name"), text(itsme, "family_name")) {
            put("name", json!(format!("{g} {f}")));
        } else if let Some(f) = text(itsme, "family_name") {
            put("name", json!(f));
        }
    }
    if text(itsme, "email").is_some() {
        put("email_verified", json!(false));
    }
    if let Some(locale) = text(itsme, "locale") {
        put("locale", json!(locale.to_ascii_lowercase()));
    }
    let birthdate = text(itsme, "birthdate")
        .and_then(date_part)
        .or_else(|| text(itsme, uri::BIRTHDATE_AS_STRING).and_then(date_from_document));
    if let Some(b) = birthdate {
        put("birthdate", json!(b));
    }
    if let Some(p) = text(itsme, "phone_number") {
        put("phone_number", json!(e164(p)));
        put("phone_number_verified", json!(true));
    }
    let issuing = metadata(itsme, uri::ID_ISSUING_COUNTRY).map(alpha2);
    if let Some(Value::Object(a)) = itsme.get("address") {
        let mut addr = Map::new();
        for k in ["formatted", "street_address", "postal_code", "locality"] {
            if let Some(v) = text(a, k) {
                addr.insert(k.to_string(), json!(v));
            }
        }
        // itsme returns an address only for Belgian documents, whose holders live in Belgium.
        let country = text(a, "country")
            .map(str::to_string)
            .unwrap_or_else(|| "BE".to_string());
        addr.insert("country".into(), json!(country));
        if !addr.is_empty() {
            put("address", Value::Object(addr));
        }
    }
    if let Some(nn) = text(itsme, uri::BE_NATIONAL_NUMBER) {
        let digits: String = nn.chars().filter(char::is_ascii_digit).collect();
        let belgian = issuing.as_deref().is_none_or(|c| c == "BE");
        if digits.len() == 11 && belgian {
            put("nin", json!(digits));
            put("nin_type", json!("PERSON"));
            put("nin_issuing_country", json!("BE"));
        }
    }
    let citizenship_iso = text(itsme, uri::CITIZENSHIP_ISO);
    if let Some(n) = citizenship_iso.or_else(|| text(itsme, uri::CITIZENSHIP)) {
        put("nationality", json!(n));
    }
    if let Some(Value::Object(p)) = itsme.get(uri::PLACE_OF_BIRTH) {
        if let Some(city) = text(p, "city").or_else(|| text(p, "formatted")) {
            put("place_of_birth", json!(city));
        }
        if let Some(country) = text(p, "country") {
            put("country_of_birth", json!(alpha2(country)));
        }
    }
    if let Some(sn) = text(itsme, uri::ID_DOCUMENT_SN).or_else(|| text(itsme, uri::BE_EID_SN)) {
        put("itsme_document_number", json!(sn));
    }
    if let Some(t) = text(itsme, uri::ID_DOCUMENT_TYPE) {
        put("itsme_document_type", json!(t));
    }
    if let Some(c) = issuing {
        put("itsme_issuing_country", json!(c));
    }
    if let Some(d) = metadata(itsme, uri::VALIDITY_FROM).and_then(date_part) {
        put("itsme_validity_from", json!(d));
    }
    if let Some(d) = metadata(itsme, uri::VALIDITY_TO).and_then(date_part) {
        put("itsme_validity_to", json!(d));
    }
    if let Some(l) = metadata(itsme, uri::ISSUANCE_LOCALITY) {
        put("itsme_issuance_locality", json!(l));
    }
    if let Some(d) = metadata(itsme, uri::VERIFICATION_DATE).and_then(date_part) {
        put("itsme_read_date", json!(d));
    }
    out
}

/// Keeps only the claims the scopes release.
pub fn filter_for_scopes(
    claims: &Map<String, Value>,
    scopes: &GrantedScopes,
) -> Map<String, Value> {
    let allowed = scopes.claims();
    claims
        .iter()
        .filter(|(k, _)| allowed.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use passerelle_core::scopes::Account;

    #[test]
    fn maps_a_belgian_identification() {
        let itsme = json!({
            "given_name": "Jan", "family_name": "Peeters", "birthdate": "1985-07-30",
            "phone_number": "+32 470000001", "locale": "NL",
            "address": {"street_address": "Wetstraat 16", "postal_code": "1000", "locality": "Brussel"},
            uri::BE_NATIONAL_NUMBER: "85073003328",
            uri::ID_DOCUMENT_SN: "591191706458",
            uri::ID_ISSUING_COUNTRY: {uri::ID_DOCUMENT_SN: "BEL"},
            uri::VALIDITY_TO: {uri::ID_DOCUMENT_SN: "2031-03-15T00:00:00.000Z"},
        });
        let m = map_to_rp_claims(itsme.as_object().expect("object"));
        assert_eq!(m["name"], "Jan Peeters");
        assert_eq!(m["phone_number"], "+32470000001");
        assert_eq!(m["nin"], "85073003328");
        assert_eq!(m["nin_issuing_country"], "BE");
        assert_eq!(m["itsme_issuing_country"], "BE");
        assert_eq!(m["itsme_validity_to"], "2031-03-15");
        assert_eq!(m["address"]["country"], "BE");
        assert_eq!(m["locale"], "nl");
        let scopes = GrantedScopes::parse("openid name", Account::Sandbox, &[]).expect("ok");
        let f = filter_for_scopes(&m, &scopes);
        assert!(f.contains_key("given_name") && !f.contains_key("nin"));
    }

    #[test]
    fn no_nin_for_foreign_documents_and_no_nulls() {
        let itsme = json!({
            "family_name": "Tamm", uri::BE_NATIONAL_NUMBER: "85073003328",
            uri::ID_ISSUING_COUNTRY: {uri::ID_DOCUMENT_SN: "EST"}, "email": null,
        });
        let m = map_to_rp_claims(itsme.as_object().expect("object"));
        assert!(!m.contains_key("nin"));
        assert!(!m.contains_key("email"));
        assert!(m.values().all(|v| !v.is_null()));
    }

    #[test]
    fn document_birthdate_is_a_fallback() {
        let itsme = json!({ uri::BIRTHDATE_AS_STRING: "01.11.1978" });
        assert_eq!(
            map_to_rp_claims(itsme.as_object().expect("object"))["birthdate"],
            "1978-11-01"
        );
    }
}
