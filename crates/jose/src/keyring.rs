//! Keys that rotate: several generations per purpose, each published from its creation, signing
//! from its activation until a later generation's activation, and unpublished when retired.
//!
//! Which generation is current is a pure function of the stored times and `now`
//! ([`current_generation`]), so every node sharing a database picks the same one without talking
//! to the others. A [`Keyring`] holds the parsed keys of one node; it is replaced whole by a
//! reload (its [`KeySource`] reads the database), and read without any IO: signing asks for
//! [`Keyring::signing`], which is a lock read and a scan of a handful of keys.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use josekit::jwk::Jwk;

use crate::{DecryptionKey, PublicKeys, SigningKey};

/// The times of one generation's life cycle (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTimes {
    pub generation: i64,
    pub created_at: i64,
    pub activates_at: i64,
    pub retired_at: Option<i64>,
}

impl KeyTimes {
    pub fn is_published(&self) -> bool {
        self.retired_at.is_none()
    }
}

/// The generation that signs at `now`: of the published generations whose activation has come,
/// the latest; if none has come yet (a clock set back), the oldest published one.
pub fn current_generation(times: &[KeyTimes], now: i64) -> Option<i64> {
    let published = times.iter().filter(|t| t.is_published());
    published
        .clone()
        .filter(|t| t.activates_at <= now)
        .map(|t| t.generation)
        .max()
        .or_else(|| published.map(|t| t.generation).min())
}

/// When `key` stopped being the one in use: the activation of the first later published
/// generation that has come. `None` while it is current, pending, or was never superseded.
pub fn superseded_at(times: &[KeyTimes], key: &KeyTimes, now: i64) -> Option<i64> {
    times
        .iter()
        .filter(|t| t.is_published() && t.generation > key.generation && t.activates_at <= now)
        .map(|t| t.activates_at.max(key.activates_at))
        .min()
}

/// Where a key stands at `now`, as `passerelle keys list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing.
    Pending,
    /// Published and signing.
    Current,
    /// Published, no longer signing.
    Previous,
    /// Unpublished.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Current => "current",
            KeyState::Previous => "previous",
            KeyState::Retired => "retired",
        }
    }
}

pub fn key_state(times: &[KeyTimes], key: &KeyTimes, now: i64) -> KeyState {
    if !key.is_published() {
        KeyState::Retired
    } else if current_generation(times, now) == Some(key.generation) {
        KeyState::Current
    } else if key.activates_at > now
        && current_generation(times, now).is_some_and(|c| c < key.generation)
    {
        KeyState::Pending
    } else {
        KeyState::Previous
    }
}

/// Why a key cannot be retired yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetireRefusal {
    #[error("it is already retired")]
    AlreadyRetired,
    #[error(
        "it is the current key of its purpose: rotate first, and retire it once its successor is active"
    )]
    Current,
    #[error(
        "what it signed or what was encrypted to it may still be in use until {until} (Unix time)"
    )]
    MayStillBeInUse { until: i64 },
}

/// Whether `key` may be unpublished at `now` without `--force`. The rule: never the current key
/// (even forced: something must sign); a signing key that never became current (a rotation
/// cancelled) at once; otherwise only `hold` seconds after it stopped being used. For an
/// encryption key (`in_use_from_creation`), use starts at publication, since senders pick any
/// published key: a pending one counts as in use from its creation.
pub fn may_retire(
    times: &[KeyTimes],
    key: &KeyTimes,
    now: i64,
    hold: i64,
    in_use_from_creation: bool,
) -> Result<(), RetireRefusal> {
    match key_state(times, key, now) {
        KeyState::Retired => Err(RetireRefusal::AlreadyRetired),
        KeyState::Current => Err(RetireRefusal::Current),
        KeyState::Pending if !in_use_from_creation => Ok(()),
        KeyState::Pending => Err(RetireRefusal::MayStillBeInUse { until: i64::MAX }),
        KeyState::Previous => {
            // A previous key without a successor that has come cannot exist (it would be
            // current); be safe and treat it as in use now.
            let stopped = superseded_at(times, key, now).unwrap_or(now);
            let until = stopped.saturating_add(hold);
            if now >= until {
                Ok(())
            } else {
                Err(RetireRefusal::MayStillBeInUse { until })
            }
        }
    }
}

/// A parsed private key of one generation.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    Signing(Arc<SigningKey>),
    Decryption(Arc<DecryptionKey>),
}

impl KeyMaterial {
    pub fn kid(&self) -> &str {
        match self {
            KeyMaterial::Signing(k) => k.kid(),
            KeyMaterial::Decryption(k) => k.kid(),
        }
    }

    pub fn public_jwk(&self) -> &Jwk {
        match self {
            KeyMaterial::Signing(k) => k.public_jwk(),
            KeyMaterial::Decryption(k) => k.public_jwk(),
        }
    }
}

/// One generation of a key, parsed.
#[derive(Debug, Clone)]
pub struct KeyVersion {
    pub purpose: String,
    /// Which JWKS publishes it (e.g. the broker's, or the connector's towards the scheme).
    pub jwks: &'static str,
    pub times: KeyTimes,
    pub key: KeyMaterial,
}

/// Reads every generation of the keyring's purposes (the database, for a server).
pub trait KeySource: Send + Sync + std::fmt::Debug {
    fn load(&self) -> Pin<Box<dyn Future<Output = Result<Vec<KeyVersion>, String>> + Send + '_>>;
}

#[derive(Debug, Default)]
struct Loaded {
    versions: Vec<KeyVersion>,
    /// The published public keys of each JWKS, built once per load.
    public: Vec<(&'static str, PublicKeys)>,
}

/// One node's keys, replaced whole by each reload. See the module's documentation.
#[derive(Debug)]
pub struct Keyring {
    loaded: RwLock<Arc<Loaded>>,
    source: Option<Arc<dyn KeySource>>,
    /// Reload when `now` reaches this (Unix seconds of the injected clock).
    reload_due: AtomicI64,
    /// The earliest `now` at which a lookup that missed may force a reload.
    miss_reload_after: AtomicI64,
    reloading: AtomicBool,
    /// Seconds between reloads.
    interval: i64,
}

impl Keyring {
    /// A keyring reloaded from `source` at most every `interval` seconds of the clock passed to
    /// [`Keyring::refresh_if_stale`], and on a miss at most once a second.
    pub fn new(source: Option<Arc<dyn KeySource>>, interval: i64) -> Keyring {
        Keyring {
            loaded: RwLock::new(Arc::default()),
            source,
            reload_due: AtomicI64::new(i64::MIN),
            miss_reload_after: AtomicI64::new(i64::MIN),
            reloading: AtomicBool::new(false),
            interval,
        }
    }

    /// A keyring of fixed keys (tests, tools), never reloaded.
    pub fn fixed(versions: Vec<KeyVersion>) -> Keyring {
        let ring = Keyring::new(None, i64::MAX);
        ring.replace(versions);
        ring
    }

    fn snapshot(&self) -> Arc<Loaded> {
        match self.loaded.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs a freshly loaded set of generations.
    pub fn replace(&self, versions: Vec<KeyVersion>) {
        let mut groups: Vec<&'static str> = versions.iter().map(|v| v.jwks).collect();
        groups.sort_unstable();
        groups.dedup();
        let mut loaded = Loaded {
            versions,
            public: Vec::new(),
        };
        for g in groups {
            let jwks = published_in(&loaded.versions, g, None)
                .into_iter()
                .cloned()
                .collect();
            loaded.public.push((g, PublicKeys::from_jwks(jwks)));
        }
        let loaded = Arc::new(loaded);
        match self.loaded.write() {
            Ok(mut g) => *g = loaded,
            Err(poisoned) => *poisoned.into_inner() = loaded,
        }
    }

    /// Reloads from the source now. An error keeps the keys loaded before, and the next
    /// [`Keyring::refresh_if_stale`] waits for the interval all the same.
    pub async fn reload(&self, now: i64) -> Result<(), String> {
        let Some(source) = &self.source else {
            return Ok(());
        };
        if self.reloading.swap(true, Ordering::AcqRel) {
            // Another task is reloading; its result serves this one too.
            return Ok(());
        }
        let loaded = source.load().await;
        self.reloading.store(false, Ordering::Release);
        // Even after a failure: a database out of reach is not asked again by every request.
        self.reload_due
            .store(now.saturating_add(self.interval), Ordering::Release);
        self.replace(loaded?);
        Ok(())
    }

    /// Reloads if the last load is older than the interval. Cheap otherwise: one atomic read.
    pub async fn refresh_if_stale(&self, now: i64) -> Result<(), String> {
        if now < self.reload_due.load(Ordering::Acquire) {
            return Ok(());
        }
        self.reload(now).await
    }

    /// Reloads because a lookup found no key with the `kid` it was given; at most once a second,
    /// so unknown `kid`s sent by anyone cannot make every request read the database.
    pub async fn refresh_after_miss(&self, now: i64) -> Result<(), String> {
        let after = self.miss_reload_after.load(Ordering::Acquire);
        if now < after
            || self
                .miss_reload_after
                .compare_exchange(
                    after,
                    now.saturating_add(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
        {
            return Ok(());
        }
        self.reload(now).await
    }

    /// The key of `purpose` that signs at `now` (see [`current_generation`]).
    pub fn signing(&self, purpose: &str, now: i64) -> Option<Arc<SigningKey>> {
        let loaded = self.snapshot();
        let current = current_of(&loaded.versions, purpose, now)?;
        match &current.key {
            KeyMaterial::Signing(k) => Some(k.clone()),
            KeyMaterial::Decryption(_) => None,
        }
    }

    /// The kid of the key of `purpose` current at `now`.
    pub fn current_kid(&self, purpose: &str, now: i64) -> Option<String> {
        let loaded = self.snapshot();
        current_of(&loaded.versions, purpose, now).map(|v| v.key.kid().to_string())
    }

    /// Every published decryption key of `purpose`: whoever encrypts to us may pick any of them,
    /// so decryption selects by `kid` among all.
    pub fn decryption(&self, purpose: &str) -> Vec<Arc<DecryptionKey>> {
        self.snapshot()
            .versions
            .iter()
            .filter(|v| v.purpose == purpose && v.times.is_published())
            .filter_map(|v| match &v.key {
                KeyMaterial::Decryption(k) => Some(k.clone()),
                KeyMaterial::Signing(_) => None,
            })
            .collect()
    }

    /// The published public keys of the JWKS `jwks`, each purpose's current key first.
    pub fn public_jwks(&self, jwks: &str, now: i64) -> serde_json::Value {
        let loaded = self.snapshot();
        crate::jwks_json(published_in(&loaded.versions, jwks, Some(now)))
    }

    /// The published public keys of the JWKS `jwks`, to verify our own signatures with.
    pub fn public_keys(&self, jwks: &str) -> PublicKeys {
        self.snapshot()
            .public
            .iter()
            .find(|(g, _)| *g == jwks)
            .map(|(_, k)| k.clone())
            .unwrap_or_default()
    }

    /// Whether a published key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.snapshot()
            .versions
            .iter()
            .any(|v| v.times.is_published() && v.key.kid() == kid)
    }

    /// Every loaded generation (published or not).
    pub fn versions(&self) -> Vec<KeyVersion> {
        self.snapshot().versions.clone()
    }
}

/// Someone's public keys: fixed, the published keys of one JWKS of a [`Keyring`] that rotates
/// (the embedded sandbox verifies the connector's signatures with these, so it follows the
/// connector's rotations), or a copy of a remote JWKS that a task reads again from time to time
/// (the standalone sandbox's clients with a `jwks_uri`, as itsme reads a partner's).
#[derive(Debug, Clone)]
pub enum PublishedKeys {
    Fixed(PublicKeys),
    Live(Arc<Keyring>, &'static str),
    Followed(Arc<std::sync::RwLock<PublicKeys>>),
}

impl PublishedKeys {
    pub fn get(&self) -> PublicKeys {
        match self {
            PublishedKeys::Fixed(k) => k.clone(),
            PublishedKeys::Live(ring, jwks) => ring.public_keys(jwks),
            // A poisoned lock still holds the last keys written whole.
            PublishedKeys::Followed(keys) => keys
                .read()
                .map_or_else(|e| e.into_inner().clone(), |k| k.clone()),
        }
    }
}

impl From<PublicKeys> for PublishedKeys {
    fn from(k: PublicKeys) -> PublishedKeys {
        PublishedKeys::Fixed(k)
    }
}

fn current_of<'a>(versions: &'a [KeyVersion], purpose: &str, now: i64) -> Option<&'a KeyVersion> {
    let of: Vec<&KeyVersion> = versions.iter().filter(|v| v.purpose == purpose).collect();
    let times: Vec<KeyTimes> = of.iter().map(|v| v.times).collect();
    let g = current_generation(&times, now)?;
    of.into_iter().find(|v| v.times.generation == g)
}

/// The published keys of one JWKS, purposes in the order they were loaded in; with `now`, each
/// purpose's current key before the others.
fn published_in<'a>(versions: &'a [KeyVersion], jwks: &str, now: Option<i64>) -> Vec<&'a Jwk> {
    let mut order: Vec<&str> = Vec::new();
    for v in versions {
        if !order.contains(&v.purpose.as_str()) {
            order.push(&v.purpose);
        }
    }
    let rank = |p: &str| order.iter().position(|o| *o == p).unwrap_or(usize::MAX);
    let mut out: Vec<(usize, bool, i64, &Jwk)> = versions
        .iter()
        .filter(|v| v.jwks == jwks && v.times.is_published())
        .map(|v| {
            let current = now.is_some_and(|n| {
                current_of(versions, &v.purpose, n).map(|c| c.times.generation)
                    == Some(v.times.generation)
            });
            (
                rank(&v.purpose),
                !current,
                -v.times.generation,
                v.key.public_jwk(),
            )
        })
        .collect();
    out.sort_by_key(|k| (k.0, k.1, k.2));
    out.into_iter().map(|(_, _, _, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(generation: i64, created_at: i64, activates_at: i64, retired_at: Option<i64>) -> KeyTimes {
        KeyTimes {
            generation,
            created_at,
            activates_at,
            retired_at,
        }
    }

    #[test]
    fn the_newest_key_whose_activation_has_come_is_current() {
        let keys = [t(1, 0, 0, None), t(2, 100, 700, None)];
        assert_eq!(current_generation(&keys, 699), Some(1));
        assert_eq!(current_generation(&keys, 700), Some(2));
        assert_eq!(key_state(&keys, &keys[1], 699), KeyState::Pending);
        assert_eq!(key_state(&keys, &keys[0], 700), KeyState::Previous);
    }

    #[test]
    fn a_retired_key_is_never_current() {
        let keys = [t(1, 0, 0, None), t(2, 100, 100, Some(200))];
        assert_eq!(current_generation(&keys, 300), Some(1));
        assert_eq!(key_state(&keys, &keys[1], 300), KeyState::Retired);
    }

    #[test]
    fn retiring_waits_for_what_the_key_signed_to_expire() {
        let keys = [t(1, 0, 0, None), t(2, 100, 700, None)];
        assert_eq!(may_retire(&keys, &keys[1], 300, 660, false), Ok(()));
        assert_eq!(
            may_retire(&keys, &keys[1], 300, 660, true),
            Err(RetireRefusal::MayStillBeInUse { until: i64::MAX })
        );
        assert_eq!(
            may_retire(&keys, &keys[0], 300, 660, false),
            Err(RetireRefusal::Current)
        );
        assert_eq!(
            may_retire(&keys, &keys[0], 800, 660, false),
            Err(RetireRefusal::MayStillBeInUse { until: 1360 })
        );
        assert_eq!(may_retire(&keys, &keys[0], 1360, 660, false), Ok(()));
    }
}
