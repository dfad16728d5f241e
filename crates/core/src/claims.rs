//! The `claims` request parameter (OIDC Core §5.5): individual claims asked for the ID token or
//! for userinfo, limited to what the client may receive.
//!
//! Promises: a [`ClaimsRequest`] names only claims of the catalogue (`scopes::SCOPES`) that the
//! client may receive — an unprotected scope carries them, or the client is a sandbox client, or
//! it was granted the protected scope that carries them. Claims it may never receive, and claims
//! nobody here knows, are left out silently (§5.5: "Claims that are not understood … are
//! ignored"; a claim not released is simply not returned). Malformed JSON is an error naming the
//! problem.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::scopes::{Account, SCOPES, ScopeDef};

/// What was asked of one claim (OIDC Core §5.5.1).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimAsk {
    /// `essential: true`. itsme returns what the person's document holds, so an essential claim
    /// the scheme does not return is left out, like a voluntary one (§5.5.1: the login is not
    /// refused for it).
    pub essential: bool,
    /// `value`, or `values`: the claim is returned only when it has one of these values.
    pub values: Option<Vec<Value>>,
}

impl ClaimAsk {
    /// Whether `value` satisfies the request: any value, or one of those asked.
    pub fn accepts(&self, value: &Value) -> bool {
        self.values.as_ref().is_none_or(|vs| vs.contains(value))
    }
}

/// A validated `claims` parameter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaimsRequest {
    pub id_token: BTreeMap<&'static str, ClaimAsk>,
    pub userinfo: BTreeMap<&'static str, ClaimAsk>,
    /// For each claim, the narrowest scope the client may receive that carries it: what the
    /// scheme is asked for. Not stored: only the authorization endpoint needs it.
    implied: Vec<&'static ScopeDef>,
}

/// Why a `claims` parameter is refused (`invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("claims: {0}")]
pub struct ClaimsError(String);

/// Claims that every ID token carries anyway, or that this OP sets itself: asking for them
/// changes nothing, so they are not kept. `sub` is kept: asked with a value, it names the only
/// person the client accepts (§5.5.1, see [`ClaimsRequest::accepts_subject`]).
const PROTOCOL_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
];

impl ClaimsRequest {
    /// Parses and validates the parameter's JSON for a client with this account and grants.
    pub fn parse(
        json: &str,
        account: Account,
        grants: &[String],
    ) -> Result<ClaimsRequest, ClaimsError> {
        let may_receive = |def: &ScopeDef| {
            !def.protected || account == Account::Sandbox || grants.iter().any(|g| g == def.name)
        };
        Self::parse_with(json, &may_receive)
    }

    /// Restores a request validated before (stored with the login).
    pub fn from_stored(json: &str) -> ClaimsRequest {
        Self::parse_with(json, &|_| true).unwrap_or_default()
    }

    fn parse_with(
        json: &str,
        may_receive: &dyn Fn(&ScopeDef) -> bool,
    ) -> Result<ClaimsRequest, ClaimsError> {
        let err = |s: &str| ClaimsError(s.to_string());
        let top: Value =
            serde_json::from_str(json).map_err(|e| ClaimsError(format!("not valid JSON ({e})")))?;
        let Value::Object(top) = top else {
            return Err(err(
                "must be a JSON object with id_token and/or userinfo members",
            ));
        };
        let mut out = ClaimsRequest::default();
        for (member, target) in [
            ("id_token", &mut out.id_token),
            ("userinfo", &mut out.userinfo),
        ] {
            let Some(asked) = top.get(member) else {
                continue;
            };
            let Value::Object(asked) = asked else {
                return Err(ClaimsError(format!("{member} must be a JSON object")));
            };
            for (name, ask) in asked {
                let ask = parse_ask(member, name, ask)?;
                if PROTOCOL_CLAIMS.contains(&name.as_str()) {
                    continue;
                }
                // The narrowest scope that releases the claim to this client.
                let Some(scope) = SCOPES
                    .iter()
                    .filter(|d| d.claims.contains(&name.as_str()) && may_receive(d))
                    .min_by_key(|d| d.claims.len())
                else {
                    continue;
                };
                let Some(claim) = scope.claims.iter().find(|c| **c == name) else {
                    continue;
                };
                if !out.implied.iter().any(|d| d.name == scope.name) {
                    out.implied.push(scope);
                }
                target.insert(claim, ask);
            }
        }
        Ok(out)
    }

    /// Whether `sub` is the subject the request asked for, if it asked for one (OIDC Core
    /// §5.5.1: "the OP MUST only send a positive response if the End-User identified by that
    /// sub value is currently authenticated").
    pub fn accepts_subject(&self, sub: &str) -> bool {
        self.id_token
            .get("sub")
            .is_none_or(|a| a.accepts(&Value::String(sub.to_string())))
    }

    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }

    /// The scopes the scheme must be asked for so that these claims come back.
    pub fn implied_scopes(&self) -> &[&'static ScopeDef] {
        &self.implied
    }

    /// Every claim asked, wherever it goes.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.id_token.keys().chain(self.userinfo.keys()).copied()
    }

    /// The canonical JSON kept with the login until its tokens are issued.
    pub fn to_stored(&self) -> String {
        let member = |m: &BTreeMap<&'static str, ClaimAsk>| {
            let mut o = Map::new();
            for (name, ask) in m {
                let mut a = Map::new();
                if ask.essential {
                    a.insert("essential".into(), Value::Bool(true));
                }
                if let Some(vs) = &ask.values {
                    a.insert("values".into(), Value::Array(vs.clone()));
                }
                o.insert(
                    (*name).to_string(),
                    if a.is_empty() {
                        Value::Null
                    } else {
                        Value::Object(a)
                    },
                );
            }
            Value::Object(o)
        };
        let mut top = Map::new();
        top.insert("id_token".into(), member(&self.id_token));
        top.insert("userinfo".into(), member(&self.userinfo));
        Value::Object(top).to_string()
    }
}

fn parse_ask(member: &str, name: &str, ask: &Value) -> Result<ClaimAsk, ClaimsError> {
    let shown: String = name.chars().take(40).collect();
    let ask = match ask {
        Value::Null => {
            return Ok(ClaimAsk {
                essential: false,
                values: None,
            });
        }
        Value::Object(o) => o,
        _ => {
            return Err(ClaimsError(format!(
                "{member}.{shown} must be null or a JSON object"
            )));
        }
    };
    let essential = match ask.get("essential") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ClaimsError(format!(
                "{member}.{shown}.essential must be true or false"
            )));
        }
    };
    let mut values: Option<Vec<Value>> = None;
    if let Some(v) = ask.get("value") {
        values = Some(vec![v.clone()]);
    }
    match ask.get("values") {
        None => {}
        Some(Value::Array(vs)) => values
            .get_or_insert_with(Vec::new)
            .extend(vs.iter().cloned()),
        Some(_) => {
            return Err(ClaimsError(format!(
                "{member}.{shown}.values must be a JSON array"
            )));
        }
    }
    Ok(ClaimAsk { essential, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protected_claims_need_the_grant_and_unknown_ones_are_ignored() {
        let json = r#"{"id_token":{"nin":{"essential":true},"given_name":null,"shoe_size":null},
                       "userinfo":{"birthdate":{"value":"1985-07-30"}}}"#;
        let r = ClaimsRequest::parse(json, Account::Production, &[]).expect("valid");
        assert_eq!(
            r.id_token.keys().copied().collect::<Vec<_>>(),
            ["given_name"]
        );
        assert!(r.userinfo.contains_key("birthdate"));
        let names: Vec<_> = r.implied_scopes().iter().map(|d| d.name).collect();
        assert_eq!(names, ["name", "date-of-birth"]);
        let granted =
            ClaimsRequest::parse(json, Account::Production, &["nin".into()]).expect("valid");
        assert!(granted.id_token["nin"].essential);
        let back = ClaimsRequest::from_stored(&granted.to_stored());
        assert_eq!(back.id_token, granted.id_token);
        assert_eq!(back.userinfo, granted.userinfo);
        assert!(back.userinfo["birthdate"].accepts(&json!("1985-07-30")));
        assert!(!back.userinfo["birthdate"].accepts(&json!("1990-01-01")));
        assert!(back.accepts_subject("anyone"));
        let for_one = ClaimsRequest::parse(
            r#"{"id_token":{"sub":{"value":"abc"}}}"#,
            Account::Production,
            &[],
        )
        .expect("valid");
        assert!(for_one.accepts_subject("abc") && !for_one.accepts_subject("abd"));
    }

    #[test]
    fn malformed_requests_name_the_problem() {
        for (json, words) in [
            ("{", "not valid JSON"),
            ("[]", "JSON object"),
            (r#"{"id_token":[]}"#, "id_token must be"),
            (r#"{"userinfo":{"email":1}}"#, "userinfo.email must be null"),
            (r#"{"userinfo":{"email":{"essential":"yes"}}}"#, "essential"),
            (r#"{"id_token":{"email":{"values":"a"}}}"#, "values"),
        ] {
            let e = ClaimsRequest::parse(json, Account::Sandbox, &[]).expect_err(json);
            assert!(e.to_string().contains(words), "{json}: {e}");
        }
    }
}
