//! `passerelle registration issue|list|revoke`: the initial access tokens with which clients
//! register themselves (RFC 7591), when `[registration] enabled`.

use anyhow::{Context as _, bail};
use passerelle_core::oidc::{INTROSPECTION_GRANT, REFRESH_TOKEN_GRANT};
use passerelle_core::scopes::{Account, protected_scope_names};
use passerelle_store::{RegistrationToken, Store, random_token, token_hash};
use serde_json::{Value, json};

/// The longest an initial access token may live.
const MAX_LIFETIME: i64 = 90 * 86_400;

/// What the operator asks for.
#[derive(Debug, Clone)]
pub struct TokenInput {
    pub account: String,
    pub grants: Vec<String>,
    pub uses: i64,
    /// `30m`, `24h`, `7d`, or seconds.
    pub expires_in: String,
    pub note: Option<String>,
}

/// A lifetime as `30m`, `24h`, `7d` or a number of seconds.
fn parse_lifetime(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("--expires-in {text:?}: give 30m, 24h, 7d or seconds"))?;
    let seconds = match unit {
        's' => n,
        'm' => n.saturating_mul(60),
        'h' => n.saturating_mul(3600),
        'd' => n.saturating_mul(86_400),
        _ => bail!("--expires-in {text:?}: give 30m, 24h, 7d or seconds"),
    };
    if !(60..=MAX_LIFETIME).contains(&seconds) {
        bail!("--expires-in must be between 1 minute and 90 days");
    }
    Ok(seconds)
}

/// A token's id: 12 characters of base64url that start with a letter or digit, so that
/// `passerelle registration revoke ID` never takes it for a flag.
fn token_id() -> String {
    loop {
        let id = random_token(9);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// Issues a token; returns it with its value, shown once (only its hash is kept).
pub async fn issue(
    store: &Store,
    input: &TokenInput,
    now: i64,
) -> anyhow::Result<(RegistrationToken, String)> {
    let account =
        Account::parse(&input.account).context("--account must be sandbox or production")?;
    for g in &input.grants {
        let known = g == passerelle_core::rest::API_SCOPE
            || g == passerelle_core::signing::GRANT
            || g == REFRESH_TOKEN_GRANT
            || g == INTROSPECTION_GRANT
            || g == passerelle_web::registration::CIBA
            || protected_scope_names().any(|p| p == g);
        if !known {
            bail!(
                "--grant {g:?} is not a grant; choose from {}, signicat-api, signing, refresh_token, introspection or ciba",
                protected_scope_names().collect::<Vec<_>>().join(", ")
            );
        }
    }
    if !(1..=1000).contains(&input.uses) {
        bail!("--uses must be between 1 and 1000");
    }
    let mut grants: Vec<String> = Vec::new();
    for g in &input.grants {
        if !grants.contains(g) {
            grants.push(g.clone());
        }
    }
    let token = RegistrationToken {
        id: token_id(),
        account,
        grants,
        uses_left: input.uses,
        expires_at: now + parse_lifetime(&input.expires_in)?,
        created_at: now,
        revoked_at: None,
        note: input.note.clone().filter(|n| !n.trim().is_empty()),
    };
    let value = random_token(32);
    store
        .insert_registration_token(&token, &token_hash(&value))
        .await?;
    Ok((token, value))
}

/// `live`, `used up`, `expired` or `revoked`.
pub fn state(t: &RegistrationToken, now: i64) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if t.uses_left <= 0 {
        "used up"
    } else if now >= t.expires_at {
        "expired"
    } else {
        "live"
    }
}

pub fn to_json(t: &RegistrationToken, now: i64) -> Value {
    json!({
        "id": t.id,
        "state": state(t, now),
        "account": t.account.as_str(),
        "grants": t.grants,
        "uses_left": t.uses_left,
        "expires_at": t.expires_at,
        "created_at": t.created_at,
        "revoked_at": t.revoked_at,
        "note": t.note,
    })
}

pub fn to_line(t: &RegistrationToken, now: i64) -> String {
    format!(
        "{}  {:8}  {:10}  uses left {:<4}  expires {}  grants [{}]{}",
        t.id,
        state(t, now),
        t.account.as_str(),
        t.uses_left,
        crate::cli::audit::when(t.expires_at),
        t.grants.join(" "),
        t.note
            .as_deref()
            .map_or(String::new(), |n| format!("  ({n})"))
    )
}

#[cfg(test)]
mod tests {
    use super::parse_lifetime;

    #[test]
    fn token_ids_never_start_like_a_flag() {
        for _ in 0..2000 {
            let id = super::token_id();
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn lifetimes_take_units_and_stay_within_bounds() {
        assert_eq!(parse_lifetime("30m").expect("30m"), 1800);
        assert_eq!(parse_lifetime("24h").expect("24h"), 86_400);
        assert_eq!(parse_lifetime("7d").expect("7d"), 604_800);
        assert_eq!(parse_lifetime("600").expect("600"), 600);
        for bad in ["", "0", "-5m", "10", "91d", "3w", "h", "1.5h"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }
}
