//! `passerelle keys list|rotate|retire`: the keys that rotate ([`passerelle_web::keys::PURPOSES`]).
//!
//! The rule, also in `passerelle keys --help` and the README ("Keys"):
//!
//! - `rotate --purpose P` adds a key that is published at once and becomes the signing key of P
//!   after the activation delay: twice the JWKS's `Cache-Control: max-age` (600 s for the
//!   broker's keys, 3600 s for the connector's keys towards itsme). The previous key stays
//!   published and stops signing then.
//! - `retire --kid K` unpublishes K. Never the current key. A key that never signed (a rotation
//!   cancelled before its activation) at once. Otherwise only once what it signed can no longer
//!   be valid: the hold ([`passerelle_web::keys::retire_hold`]) after it stopped signing, e.g. the
//!   longest of the ID-token and access-token lifetimes plus 60 s for the broker's keys; with
//!   `--force`, before that (tokens it signed stop verifying).

use anyhow::bail;
use passerelle_jose::keyring::{KeyState, KeyTimes, RetireRefusal, key_state, may_retire};
use passerelle_store::{Store, StoredKey};
use passerelle_web::Lifetimes;
use passerelle_web::keys::{KeyUse, PURPOSES, Purpose, activation_delay, purpose, retire_hold};
use serde_json::{Value, json};

use crate::cli::audit::when;

fn times(k: &StoredKey) -> KeyTimes {
    KeyTimes {
        generation: k.generation,
        created_at: k.created_at,
        activates_at: k.activates_at,
        retired_at: k.retired_at,
    }
}

/// One key as `keys list` shows it.
#[derive(Debug, Clone)]
pub struct KeyListing {
    pub purpose: &'static Purpose,
    pub key: StoredKey,
    pub state: KeyState,
    /// From when `keys retire` accepts it without `--force` (`None`: never, it is current or
    /// already retired).
    pub retirable_from: Option<i64>,
}

impl KeyListing {
    /// RFC 7591-style names where there are some (`use`, `alg`, `kid`), times in Unix seconds.
    pub fn to_json(&self) -> Value {
        let (key_use, alg) = match self.purpose.key_use {
            KeyUse::Sign(alg) => ("sig", alg.name()),
            KeyUse::Decrypt => ("enc", "RSA-OAEP-256"),
        };
        json!({
            "purpose": self.purpose.name,
            "kid": self.key.kid,
            "generation": self.key.generation,
            "state": self.state.as_str(),
            "use": key_use,
            "alg": alg,
            "jwks": self.purpose.jwks,
            "created_at": self.key.created_at,
            "activates_at": self.key.activates_at,
            "retired_at": self.key.retired_at,
            "retirable_from": self.retirable_from,
        })
    }

    pub fn to_line(&self) -> String {
        let retire = match (self.state, self.retirable_from) {
            (KeyState::Retired, _) => format!("retired {}", when(self.key.retired_at.unwrap_or(0))),
            (_, Some(at)) => format!("retirable from {}", when(at)),
            (_, None) => "not retirable (current)".into(),
        };
        format!(
            "{:<14} {:<3} {:<8} {:<44} activates {}  {}",
            self.purpose.name,
            self.key.generation,
            self.state.as_str(),
            self.key.kid,
            when(self.key.activates_at),
            retire
        )
    }
}

/// Every key of every purpose that rotates, with its state at `now`.
pub async fn list(
    store: &Store,
    now: i64,
    lifetimes: &Lifetimes,
) -> anyhow::Result<Vec<KeyListing>> {
    let names: Vec<&str> = PURPOSES.iter().map(|p| p.name).collect();
    let stored = store.list_keys(&names).await?;
    let mut out = Vec::new();
    for p in PURPOSES {
        let of: Vec<&StoredKey> = stored.iter().filter(|k| k.purpose == p.name).collect();
        let all: Vec<KeyTimes> = of.iter().map(|k| times(k)).collect();
        for k in of {
            let t = times(k);
            let state = key_state(&all, &t, now);
            let retirable_from =
                match may_retire(&all, &t, now, retire_hold(p, lifetimes), is_enc(p)) {
                    Ok(()) => Some(now),
                    Err(RetireRefusal::MayStillBeInUse { until }) if until != i64::MAX => {
                        Some(until)
                    }
                    Err(_) => None,
                };
            out.push(KeyListing {
                purpose: p,
                key: k.clone(),
                state,
                retirable_from,
            });
        }
    }
    Ok(out)
}

fn is_enc(p: &Purpose) -> bool {
    p.key_use == KeyUse::Decrypt
}

fn known_purposes() -> String {
    PURPOSES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Adds a new key for `purpose`: published now, signing after the activation delay.
pub async fn rotate(store: &Store, purpose_name: &str, now: i64) -> anyhow::Result<StoredKey> {
    let Some(p) = purpose(purpose_name) else {
        bail!(
            "--purpose {purpose_name:?} is not a purpose whose keys rotate; use one of: {}",
            known_purposes()
        );
    };
    let (kid, material) = crate::app::generate_key(p).map_err(anyhow::Error::msg)?;
    let activates_at = now + activation_delay(p.jwks);
    match store
        .insert_key_generation(p.name, &kid, &material, now, activates_at)
        .await?
    {
        Some(k) => Ok(k),
        None => bail!(
            "another rotation of {} happened at the same moment; list the keys and run it again if still needed",
            p.name
        ),
    }
}

/// Unpublishes the key `kid` under the rule of this module's documentation.
pub async fn retire(
    store: &Store,
    kid: &str,
    now: i64,
    lifetimes: &Lifetimes,
    force: bool,
) -> anyhow::Result<StoredKey> {
    let names: Vec<&str> = PURPOSES.iter().map(|p| p.name).collect();
    let stored = store.list_keys(&names).await?;
    let Some(key) = stored.iter().find(|k| k.kid == kid) else {
        bail!("no key has the kid {kid:?}; `passerelle keys list` shows them");
    };
    let Some(p) = purpose(&key.purpose) else {
        bail!("the key {kid} has an unknown purpose {:?}", key.purpose);
    };
    let all: Vec<KeyTimes> = stored
        .iter()
        .filter(|k| k.purpose == key.purpose)
        .map(times)
        .collect();
    match may_retire(&all, &times(key), now, retire_hold(p, lifetimes), is_enc(p)) {
        Ok(()) => {}
        Err(RetireRefusal::MayStillBeInUse { .. }) if force => {}
        Err(RetireRefusal::MayStillBeInUse { until }) if until == i64::MAX => bail!(
            "{kid} ({}) is published for encryption and senders may already encrypt to it; retire it with --force",
            p.name
        ),
        Err(RetireRefusal::MayStillBeInUse { until }) => bail!(
            "{kid} ({}) may still have signed or received something valid until {}: retire it then, or now with --force (what it signed stops verifying)",
            p.name,
            when(until)
        ),
        Err(e) => bail!("{kid} ({}) cannot be retired: {e}", p.name),
    }
    if !store.retire_key(&key.purpose, kid, now, force).await? {
        bail!("{kid} was retired at the same moment by someone else");
    }
    let mut retired = key.clone();
    retired.retired_at = Some(now);
    Ok(retired)
}
