//! The rules of a backchannel authentication request (OpenID CIBA Core 1.0 §7.1), no IO.
//!
//! [`validate_backchannel_request`] turns the parameters a client sent (in the form, or as the
//! claims of its signed `request` object, §7.1.1) into a [`BackchannelRequest`] or the
//! [`OAuthError`] CIBA names for what is wrong (§13): the scopes choose the itsme service exactly
//! as at the authorization endpoint, exactly one hint names the person, and the binding message
//! must be something the itsme app can show.

use crate::oidc::{CibaMode, ErrorCode, OAuthError, Params};
use crate::scopes::{Account, GrantedScopes};

/// The longest binding message, in characters. CIBA asks for "relatively short" plain text
/// (§7.1); it is shown on a phone next to the requester's name.
pub const MAX_BINDING_MESSAGE: usize = 64;
/// The longest `client_notification_token` (CIBA §7.1 and itsme's limit, 1024 characters).
pub const MAX_NOTIFICATION_TOKEN: usize = 1024;
/// The parameters a backchannel request carries; in a signed request they must all be inside
/// the object (§7.1.1).
pub const REQUEST_PARAMETERS: [&str; 9] = [
    "scope",
    "login_hint",
    "login_hint_token",
    "id_token_hint",
    "binding_message",
    "requested_expiry",
    "client_notification_token",
    "acr_values",
    "user_code",
];

/// Who the request is for (§7.1: exactly one hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// `login_hint`: a phone number in E.164 form (`+` and 8 to 15 digits).
    Phone(String),
    /// `id_token_hint`: an ID token this broker issued to the client earlier (still unverified).
    IdToken(String),
    /// `login_hint_token`: not supported (there is no token format a client could get).
    LoginHintToken,
}

/// The client's registration, as far as a backchannel request depends on it.
#[derive(Debug, Clone, Copy)]
pub struct CibaPolicy<'a> {
    pub account: Account,
    pub grants: &'a [String],
    pub mode: CibaMode,
}

/// A backchannel request that passed every check that needs no IO.
#[derive(Debug, Clone)]
pub struct BackchannelRequest {
    pub scopes: GrantedScopes,
    pub hint: Hint,
    pub binding_message: Option<String>,
    /// The lifetime the client asked for, in seconds (§7.1 `requested_expiry`).
    pub requested_expiry: Option<i64>,
    /// The bearer token for the client's notification endpoint (ping mode only).
    pub client_notification_token: Option<String>,
}

fn invalid(code: ErrorCode, description: &str) -> OAuthError {
    OAuthError::new(code, description)
}

/// Whether `s` is a phone number in E.164 form.
pub fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// Whether the itsme app can show `c`: printable characters of ISO-8859-15, the character set
/// itsme requires for text shown in the app (a binding message, a signing request's
/// description).
pub(crate) fn is_showable(c: char) -> bool {
    matches!(c, ' '..='~')
        || (('\u{a0}'..='\u{ff}').contains(&c)
            && !matches!(
                c,
                '\u{a4}'
                    | '\u{a6}'
                    | '\u{a8}'
                    | '\u{b4}'
                    | '\u{b8}'
                    | '\u{bc}'
                    | '\u{bd}'
                    | '\u{be}'
            ))
        || matches!(c, '€' | 'Š' | 'š' | 'Ž' | 'ž' | 'Œ' | 'œ' | 'Ÿ')
}

/// Checks a binding message (§7.1): at most [`MAX_BINDING_MESSAGE`] characters the app can show,
/// not only spaces.
pub fn check_binding_message(m: &str) -> Result<(), OAuthError> {
    if m.chars().count() > MAX_BINDING_MESSAGE {
        return Err(invalid(
            ErrorCode::InvalidBindingMessage,
            "binding_message is longer than 64 characters",
        ));
    }
    if m.trim().is_empty() || !m.chars().all(is_showable) {
        return Err(invalid(
            ErrorCode::InvalidBindingMessage,
            "binding_message must be plain text the itsme app can show (printable ISO-8859-15 characters, no line breaks)",
        ));
    }
    Ok(())
}

/// A bearer token as RFC 6750 §2.1 spells it (`b64token`), so it can go in an Authorization
/// header unchanged.
fn is_b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Validates a backchannel authentication request (CIBA Core §7.1, errors §13).
pub fn validate_backchannel_request(
    params: &Params,
    policy: CibaPolicy<'_>,
) -> Result<BackchannelRequest, OAuthError> {
    let scopes = GrantedScopes::parse(
        params.get("scope").unwrap_or_default(),
        policy.account,
        policy.grants,
    )
    .map_err(|e| invalid(ErrorCode::InvalidScope, &e.to_string()))?;
    let hints: Vec<&str> = ["login_hint", "login_hint_token", "id_token_hint"]
        .into_iter()
        .filter(|h| params.get(h).is_some())
        .collect();
    let hint = match hints.as_slice() {
        ["login_hint"] => {
            let phone = params.get("login_hint").unwrap_or_default();
            if !is_e164(phone) {
                return Err(invalid(
                    ErrorCode::InvalidRequest,
                    "login_hint must be a mobile phone number in E.164 form, e.g. +32470000001",
                ));
            }
            Hint::Phone(phone.to_string())
        }
        ["id_token_hint"] => Hint::IdToken(params.get("id_token_hint").unwrap_or_default().into()),
        ["login_hint_token"] => Hint::LoginHintToken,
        [] => {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                "one of login_hint (a phone number) or id_token_hint is required",
            ));
        }
        _ => {
            return Err(invalid(
                ErrorCode::InvalidRequest,
                "send exactly one of login_hint, login_hint_token and id_token_hint",
            ));
        }
    };
    let binding_message = params.get("binding_message").map(str::to_string);
    if let Some(m) = &binding_message {
        check_binding_message(m)?;
    }
    let requested_expiry = match params.get("requested_expiry") {
        None => None,
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Some(i64::from(n)),
            _ => {
                return Err(invalid(
                    ErrorCode::InvalidRequest,
                    "requested_expiry must be a positive integer (seconds)",
                ));
            }
        },
    };
    let client_notification_token = match policy.mode {
        CibaMode::Poll => None,
        CibaMode::Ping => {
            let t = params.get("client_notification_token").ok_or_else(|| {
                invalid(
                    ErrorCode::InvalidRequest,
                    "client_notification_token is required: this client is registered for ping mode",
                )
            })?;
            if t.len() > MAX_NOTIFICATION_TOKEN || !is_b64token(t) {
                return Err(invalid(
                    ErrorCode::InvalidRequest,
                    "client_notification_token must be a bearer token of at most 1024 characters (RFC 6750 b64token)",
                ));
            }
            Some(t.to_string())
        }
    };
    if let Some(acr_values) = params.get("acr_values") {
        for value in acr_values.split(' ').filter(|s| !s.is_empty()) {
            if value.strip_prefix("idp:").is_some_and(|idp| idp != "itsme") {
                return Err(invalid(
                    ErrorCode::InvalidRequest,
                    "unknown identity provider in acr_values; Passerelle offers idp:itsme",
                ));
            }
            if value
                .strip_prefix("loa:")
                .is_some_and(|loa| !matches!(loa, "low" | "substantial" | "high"))
            {
                return Err(invalid(
                    ErrorCode::InvalidRequest,
                    "unknown level of assurance in acr_values; use loa:low, loa:substantial or loa:high",
                ));
            }
        }
    }
    Ok(BackchannelRequest {
        scopes,
        hint,
        binding_message,
        requested_expiry,
        client_notification_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .expect("params")
    }

    fn check(pairs: &[(&str, &str)], mode: CibaMode) -> Result<BackchannelRequest, OAuthError> {
        validate_backchannel_request(
            &params(pairs),
            CibaPolicy {
                account: Account::Production,
                grants: &[],
                mode,
            },
        )
    }

    fn code(r: Result<BackchannelRequest, OAuthError>) -> ErrorCode {
        r.expect_err("refused").code
    }

    #[test]
    fn a_phone_number_and_openid_make_a_request() {
        let r = check(
            &[
                ("scope", "openid profile"),
                ("login_hint", "+32470000001"),
                ("binding_message", "Order 42 · café"),
            ],
            CibaMode::Poll,
        )
        .expect("ok");
        assert_eq!(r.hint, Hint::Phone("+32470000001".into()));
        assert_eq!(r.binding_message.as_deref(), Some("Order 42 · café"));
        assert_eq!(r.client_notification_token, None);
    }

    #[test]
    fn exactly_one_hint_is_required() {
        let p = CibaMode::Poll;
        assert_eq!(
            code(check(&[("scope", "openid")], p)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(check(
                &[
                    ("scope", "openid"),
                    ("login_hint", "+32470000001"),
                    ("id_token_hint", "x.y.z")
                ],
                p
            )),
            ErrorCode::InvalidRequest
        );
        for bad in [
            "32470000001",
            "+32 470",
            "+0470000001",
            "+3247000000123456",
            "hello",
        ] {
            assert_eq!(
                code(check(&[("scope", "openid"), ("login_hint", bad)], p)),
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_follow_the_authorization_endpoints_rules() {
        let p = CibaMode::Poll;
        assert_eq!(
            code(check(
                &[("scope", "profile"), ("login_hint", "+32470000001")],
                p
            )),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code(check(
                &[("scope", "openid nin"), ("login_hint", "+32470000001")],
                p
            )),
            ErrorCode::InvalidScope
        );
    }

    #[test]
    fn binding_messages_are_short_plain_text() {
        let p = CibaMode::Poll;
        let long = "x".repeat(65);
        for bad in [
            long.as_str(),
            "line\nbreak",
            "   ",
            "emoji 😀",
            "tab\there",
            "ﬁ",
        ] {
            assert_eq!(
                code(check(
                    &[
                        ("scope", "openid"),
                        ("login_hint", "+32470000001"),
                        ("binding_message", bad)
                    ],
                    p
                )),
                ErrorCode::InvalidBindingMessage,
                "{bad:?}"
            );
        }
        assert!(check_binding_message(&"é".repeat(64)).is_ok());
        assert!(check_binding_message("Prix: 12,50 €").is_ok());
    }

    #[test]
    fn ping_mode_needs_a_notification_token() {
        let base = [("scope", "openid"), ("login_hint", "+32470000001")];
        assert_eq!(
            code(check(&base, CibaMode::Ping)),
            ErrorCode::InvalidRequest
        );
        let mut with = base.to_vec();
        with.push((
            "client_notification_token",
            "8d67dc78-7faa-4d41-aabd-67707b374255",
        ));
        assert!(
            check(&with, CibaMode::Ping)
                .expect("ok")
                .client_notification_token
                .is_some()
        );
        let mut bad = base.to_vec();
        bad.push(("client_notification_token", "has space"));
        assert_eq!(code(check(&bad, CibaMode::Ping)), ErrorCode::InvalidRequest);
    }

    #[test]
    fn requested_expiry_is_a_positive_integer() {
        let p = CibaMode::Poll;
        for bad in ["0", "-5", "1.5", "soon", "99999999999"] {
            assert_eq!(
                code(check(
                    &[
                        ("scope", "openid"),
                        ("login_hint", "+32470000001"),
                        ("requested_expiry", bad)
                    ],
                    p
                )),
                ErrorCode::InvalidRequest
            );
        }
        let r = check(
            &[
                ("scope", "openid"),
                ("login_hint", "+32470000001"),
                ("requested_expiry", "30"),
            ],
            p,
        )
        .expect("ok");
        assert_eq!(r.requested_expiry, Some(30));
    }
}
