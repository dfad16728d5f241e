//! The Authentication REST API's words, shaped like Signicat's (`/auth/rest/sessions`): a
//! session's flow and status, the camelCase attribute names an API client requests, the scopes
//! they stand for (the same catalogue and grants as OIDC), and the `subject` the API client reads.

use serde_json::{Map, Value};

/// The scope an API client's client-credentials token must carry (Signicat's name).
pub const API_SCOPE: &str = "signicat-api";

/// How the person reaches the scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The API client sends the person's browser to `authenticationUrl`; it comes back to
    /// `callbackUrls` with `sessionId`.
    Redirect,
    /// No browser redirect: the session carries a QR code and an app link for the decoupled
    /// channel.
    Headless,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Redirect => "redirect",
            Flow::Headless => "headless",
        }
    }

    pub fn parse(s: &str) -> Option<Flow> {
        match s {
            "redirect" => Some(Flow::Redirect),
            "headless" => Some(Flow::Headless),
            _ => None,
        }
    }
}

/// Where a session stands, in Signicat's upper-case words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Created; the person has not finished.
    Created,
    /// The person was identified: `subject` is there (until it is read).
    Success,
    /// The person refused, cancelled or let the app time out.
    Abort,
    /// The scheme failed, or its answer could not be verified.
    Error,
    /// Nobody finished before the session's lifetime ended.
    Expired,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Created => "CREATED",
            SessionStatus::Success => "SUCCESS",
            SessionStatus::Abort => "ABORT",
            SessionStatus::Error => "ERROR",
            SessionStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<SessionStatus> {
        [
            SessionStatus::Created,
            SessionStatus::Success,
            SessionStatus::Abort,
            SessionStatus::Error,
            SessionStatus::Expired,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Each attribute an API client may request, and the scope that releases it.
pub const ATTRIBUTES: &[(&str, &str)] = &[
    ("name", "name"),
    ("firstName", "name"),
    ("lastName", "name"),
    ("email", "email"),
    ("idpId", "idp-id"),
    ("dateOfBirth", "date-of-birth"),
    ("gender", "gender"),
    ("locale", "profile"),
    ("phoneNumber", "phone"),
    ("address", "address"),
    ("nin", "nin"),
    ("nationality", "nationality"),
    ("placeOfBirth", "place-of-birth"),
    ("itsmeDocument", "itsme-eid"),
    ("itsmeValidity", "itsme-validity"),
    ("itsmeIssuanceLocality", "itsme-issuance-locality"),
];

/// The scope string for a list of requested attributes (`openid` always), or the first
/// attribute nobody knows.
pub fn scope_for(attributes: &[String]) -> Result<String, String> {
    let mut scopes = vec!["openid"];
    for a in attributes {
        let Some((_, scope)) = ATTRIBUTES.iter().find(|(name, _)| name == a) else {
            return Err(a.clone());
        };
        if !scopes.contains(scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes.join(" "))
}

/// `snake_case` → `camelCase`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn camel_value(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (camel(k), camel_value(v))).collect())
        }
        other => other.clone(),
    }
}

/// The `subject` of a successful session: the pairwise `sub` as `id`, and the RP-facing claims
/// in Signicat's REST names (`given_name` → `firstName`, the national number as
/// `nin: {value, type, issuingCountry}`, every other name in camelCase).
pub fn subject(sub: &str, claims: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("id".into(), Value::String(sub.to_string()));
    let mut nin = Map::new();
    for (k, v) in claims {
        match k.as_str() {
            "sub" | "email_verified" | "phone_number_verified" => {}
            "given_name" => {
                out.insert("firstName".into(), v.clone());
            }
            "family_name" => {
                out.insert("lastName".into(), v.clone());
            }
            "birthdate" => {
                out.insert("dateOfBirth".into(), v.clone());
            }
            "nin" => {
                nin.insert("value".into(), v.clone());
            }
            "nin_type" => {
                nin.insert("type".into(), v.clone());
            }
            "nin_issuing_country" => {
                nin.insert("issuingCountry".into(), v.clone());
            }
            other => {
                out.insert(camel(other), camel_value(v));
            }
        }
    }
    if !nin.is_empty() {
        out.insert("nin".into(), Value::Object(nin));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_choose_scopes_and_unknown_ones_are_named() {
        assert_eq!(scope_for(&[]).as_deref(), Ok("openid"));
        assert_eq!(
            scope_for(&["firstName".into(), "lastName".into(), "nin".into()]).as_deref(),
            Ok("openid name nin")
        );
        assert_eq!(scope_for(&["shoeSize".into()]), Err("shoeSize".to_string()));
    }

    #[test]
    fn the_subject_speaks_camel_case() {
        let claims = json!({
            "sub": "ignored", "given_name": "Jan", "family_name": "Peeters", "birthdate": "1990-01-01",
            "nin": "90010100123", "nin_type": "BIRTH_NUMBER", "nin_issuing_country": "BE",
            "phone_number": "+32470000001", "email_verified": false,
            "address": { "street_address": "Rue 1", "postal_code": "1000" }, "idp_id": "x"
        });
        let s = subject("pairwise", claims.as_object().expect("object"));
        assert_eq!(s["id"], "pairwise");
        assert_eq!(s["firstName"], "Jan");
        assert_eq!(s["lastName"], "Peeters");
        assert_eq!(s["dateOfBirth"], "1990-01-01");
        assert_eq!(
            s["nin"],
            json!({"value": "90010100123", "type": "BIRTH_NUMBER", "issuingCountry": "BE"})
        );
        assert_eq!(s["phoneNumber"], "+32470000001");
        assert_eq!(s["address"]["streetAddress"], "Rue 1");
        assert_eq!(s["idpId"], "x");
        assert!(s.get("emailVerified").is_none() && s.get("sub").is_none());
        for st in ["CREATED", "SUCCESS", "ABORT", "ERROR", "EXPIRED"] {
            assert_eq!(
                SessionStatus::parse(st).map(SessionStatus::as_str),
                Some(st)
            );
        }
    }
}
