//! Rate limits for the endpoints people and machines can hammer: per source address and per
//! client, in requests per minute, on governor's GCRA (no hand-written limiter).
//!
//! Limits are per node and in memory: with N nodes behind a load balancer, a source can make up
//! to N times the configured rate. What must be exact across nodes (the itsme code lockout of a
//! person) is counted in the database instead. A limit of 0 is off.

pub mod later;

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The address a request comes from, as the server decided it (the TCP peer, or the configured
/// proxy header): put in the request's extensions by the application, read by handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// A request refused because its key went over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Whole seconds to wait before the next request can pass (for `Retry-After`), at least 1.
    pub retry_after_secs: u64,
}

/// One limit: `per_minute` requests per key and minute, of which all may come at once.
#[derive(Debug)]
pub struct RateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    /// Counts the requests it refused, for `/metrics`.
    refused: metrics::Counter,
}

impl RateLimit {
    /// `per_minute` = 0 turns the limit off.
    pub fn per_minute(per_minute: u32) -> RateLimit {
        let limiter = NonZeroU32::new(per_minute)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n).allow_burst(n)));
        RateLimit {
            limiter,
            refused: metrics::Counter::noop(),
        }
    }

    pub fn off() -> RateLimit {
        RateLimit::per_minute(0)
    }

    /// Counts one request for `key`; refuses it when the key is over its limit.
    pub fn check(&self, key: &str) -> Result<(), Throttled> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Keys come from the network: bound what one can make us keep.
        let key: String = key.chars().take(128).collect();
        limiter.check_key(&key).map_err(|not_until| {
            self.refused.increment(1);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Throttled {
                retry_after_secs: secs.max(1),
            }
        })
    }

    /// Counts one request from `ip` (a request whose address is unknown is not counted here).
    pub fn check_ip(&self, ip: Option<&ClientIp>) -> Result<(), Throttled> {
        ip.map_or(Ok(()), |ip| self.check(&ip.0))
    }

    /// Forgets keys whose budget is full again (bounded memory; called by housekeeping).
    pub fn forget_idle(&self) {
        if let Some(l) = &self.limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// How many keys are remembered (for tests and diagnostics).
    pub fn keys(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// Every limit Passerelle applies, in requests per minute per key.
#[derive(Debug)]
pub struct Limits {
    /// The broker's authorization endpoint, per source address (each request signs a request
    /// object and stores a login).
    pub authorize_per_ip: RateLimit,
    /// The broker's token endpoint, per source address and per client (the client it names,
    /// before it is authenticated: guessing secrets is slowed down too).
    pub token_per_ip: RateLimit,
    pub token_per_client: RateLimit,
    /// The broker's userinfo endpoint, per source address.
    pub userinfo_per_ip: RateLimit,
    /// The sandbox's authorization endpoint, per source address (each request costs an RSA
    /// decryption before anything is known about it).
    pub sandbox_authorization_per_ip: RateLimit,
    /// The sandbox's token and userinfo endpoints, per source address and per client.
    pub sandbox_token_per_ip: RateLimit,
    pub sandbox_token_per_client: RateLimit,
    /// The sandbox's phone page, per source address.
    pub phone_per_ip: RateLimit,
    /// The sandbox app's code form, per source address (a person's wrong codes are limited
    /// exactly, in the database: three block the account).
    pub app_code_per_ip: RateLimit,
    /// Dynamic client registration and its management (RFC 7591, RFC 7592), per source
    /// address: its own budget, so that registrations never slow logins down.
    pub registration_per_ip: RateLimit,
}

/// The per-minute numbers of [`Limits`], as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    pub authorize_per_ip: u32,
    pub token_per_ip: u32,
    pub token_per_client: u32,
    pub userinfo_per_ip: u32,
    pub sandbox_authorization_per_ip: u32,
    pub sandbox_token_per_ip: u32,
    pub sandbox_token_per_client: u32,
    pub phone_per_ip: u32,
    pub app_code_per_ip: u32,
    pub registration_per_ip: u32,
}

impl Default for LimitSettings {
    /// Generous enough for a relying party's test suite on one address, tight enough to stop
    /// scripted guessing and flooding.
    fn default() -> Self {
        LimitSettings {
            authorize_per_ip: 600,
            token_per_ip: 1200,
            token_per_client: 600,
            userinfo_per_ip: 1200,
            sandbox_authorization_per_ip: 600,
            sandbox_token_per_ip: 6000,
            sandbox_token_per_client: 6000,
            phone_per_ip: 300,
            app_code_per_ip: 60,
            registration_per_ip: 60,
        }
    }
}

impl LimitSettings {
    /// Every limit off.
    pub fn off() -> LimitSettings {
        LimitSettings {
            authorize_per_ip: 0,
            token_per_ip: 0,
            token_per_client: 0,
            userinfo_per_ip: 0,
            sandbox_authorization_per_ip: 0,
            sandbox_token_per_ip: 0,
            sandbox_token_per_client: 0,
            phone_per_ip: 0,
            app_code_per_ip: 0,
            registration_per_ip: 0,
        }
    }
}

impl Limits {
    pub fn new(s: LimitSettings) -> Limits {
        Limits {
            authorize_per_ip: RateLimit::per_minute(s.authorize_per_ip),
            token_per_ip: RateLimit::per_minute(s.token_per_ip),
            token_per_client: RateLimit::per_minute(s.token_per_client),
            userinfo_per_ip: RateLimit::per_minute(s.userinfo_per_ip),
            sandbox_authorization_per_ip: RateLimit::per_minute(s.sandbox_authorization_per_ip),
            sandbox_token_per_ip: RateLimit::per_minute(s.sandbox_token_per_ip),
            sandbox_token_per_client: RateLimit::per_minute(s.sandbox_token_per_client),
            phone_per_ip: RateLimit::per_minute(s.phone_per_ip),
            app_code_per_ip: RateLimit::per_minute(s.app_code_per_ip),
            registration_per_ip: RateLimit::per_minute(s.registration_per_ip),
        }
    }

    /// Counts each limit's refusals with the counter `counter(name)` gives (`name` is the
    /// limit's, e.g. `token_per_client`).
    pub fn with_counters(mut self, counter: impl Fn(&'static str) -> metrics::Counter) -> Limits {
        for (name, limit) in [
            ("authorize_per_ip", &mut self.authorize_per_ip),
            ("token_per_ip", &mut self.token_per_ip),
            ("token_per_client", &mut self.token_per_client),
            ("userinfo_per_ip", &mut self.userinfo_per_ip),
            (
                "sandbox_authorization_per_ip",
                &mut self.sandbox_authorization_per_ip,
            ),
            ("sandbox_token_per_ip", &mut self.sandbox_token_per_ip),
            (
                "sandbox_token_per_client",
                &mut self.sandbox_token_per_client,
            ),
            ("phone_per_ip", &mut self.phone_per_ip),
            ("app_code_per_ip", &mut self.app_code_per_ip),
            ("registration_per_ip", &mut self.registration_per_ip),
        ] {
            limit.refused = counter(name);
        }
        self
    }

    /// Forgets idle keys of every limit.
    pub fn forget_idle(&self) {
        for l in [
            &self.authorize_per_ip,
            &self.token_per_ip,
            &self.token_per_client,
            &self.userinfo_per_ip,
            &self.sandbox_authorization_per_ip,
            &self.sandbox_token_per_ip,
            &self.sandbox_token_per_client,
            &self.phone_per_ip,
            &self.app_code_per_ip,
        ] {
            l.forget_idle();
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(LimitSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_budget_then_waits() {
        let limit = RateLimit::per_minute(3);
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        let refused = limit.check("a").expect_err("over the limit");
        assert!((1..=20).contains(&refused.retry_after_secs), "{refused:?}");
        assert!(limit.check("b").is_ok(), "keys are independent");
        assert_eq!(limit.keys(), 2);
    }

    #[test]
    fn zero_is_off() {
        let limit = RateLimit::off();
        for _ in 0..10_000 {
            assert!(limit.check("a").is_ok());
        }
        assert_eq!(limit.keys(), 0);
    }

    #[test]
    fn long_keys_are_cut() {
        let limit = RateLimit::per_minute(1);
        assert!(limit.check(&"x".repeat(10_000)).is_ok());
        assert!(
            limit.check(&"x".repeat(5_000)).is_err(),
            "same first 128 characters"
        );
    }
}
