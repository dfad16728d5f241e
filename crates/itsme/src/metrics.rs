//! Counters of the connector's outbound calls, by endpoint and outcome. The connector is given
//! them by whoever builds it (the application registers them with its own recorder); there is no
//! global recorder, and a connector built without counters counts nothing.
//!
//! The labels are closed sets of static words: no URL, code, token or client id ever becomes one.

use metrics::Counter;

use crate::ConnectorError;

/// What one call came to: the scheme answered and its answer was accepted (`ok`), the scheme or
/// the network failed (`unavailable`, [`ConnectorError::Unavailable`]), or the answer was not
/// acceptable (`protocol_error`, [`ConnectorError::Protocol`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Unavailable,
    ProtocolError,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Unavailable, Outcome::ProtocolError];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unavailable => "unavailable",
            Outcome::ProtocolError => "protocol_error",
        }
    }

    fn of<T>(result: &Result<T, ConnectorError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Ok,
            Err(ConnectorError::Unavailable(_)) => Outcome::Unavailable,
            Err(ConnectorError::Protocol(_)) => Outcome::ProtocolError,
        }
    }
}

/// The scheme's endpoints the connector calls over the back channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEndpoint {
    Discovery,
    Jwks,
    Token,
    Userinfo,
}

impl UpstreamEndpoint {
    pub const ALL: [UpstreamEndpoint; 4] = [
        UpstreamEndpoint::Discovery,
        UpstreamEndpoint::Jwks,
        UpstreamEndpoint::Token,
        UpstreamEndpoint::Userinfo,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamEndpoint::Discovery => "discovery",
            UpstreamEndpoint::Jwks => "jwks",
            UpstreamEndpoint::Token => "token",
            UpstreamEndpoint::Userinfo => "userinfo",
        }
    }

    fn index(self) -> usize {
        match self {
            UpstreamEndpoint::Discovery => 0,
            UpstreamEndpoint::Jwks => 1,
            UpstreamEndpoint::Token => 2,
            UpstreamEndpoint::Userinfo => 3,
        }
    }
}

/// One counter per [`Outcome`] of one kind of call. `Default` counts nothing.
#[derive(Debug, Clone)]
pub struct OutcomeCounters([Counter; 3]);

impl OutcomeCounters {
    /// Asks `make` once for each outcome's counter (the handles are kept, so counting costs no
    /// lookup and no allocation).
    pub fn new(mut make: impl FnMut(Outcome) -> Counter) -> OutcomeCounters {
        OutcomeCounters(Outcome::ALL.map(&mut make))
    }

    /// Counts one call with this result.
    pub(crate) fn count<T>(&self, result: &Result<T, ConnectorError>) {
        let i = match Outcome::of(result) {
            Outcome::Ok => 0,
            Outcome::Unavailable => 1,
            Outcome::ProtocolError => 2,
        };
        self.0[i].increment(1);
    }
}

impl Default for OutcomeCounters {
    fn default() -> Self {
        OutcomeCounters::new(|_| Counter::noop())
    }
}

/// The counters of one connector: one [`OutcomeCounters`] per [`UpstreamEndpoint`]. `Default`
/// counts nothing.
#[derive(Debug, Clone, Default)]
pub struct UpstreamCounters([OutcomeCounters; 4]);

impl UpstreamCounters {
    /// Asks `make` once for each endpoint and outcome.
    pub fn new(mut make: impl FnMut(UpstreamEndpoint, Outcome) -> Counter) -> UpstreamCounters {
        UpstreamCounters(UpstreamEndpoint::ALL.map(|e| OutcomeCounters::new(|o| make(e, o))))
    }

    pub(crate) fn of(&self, endpoint: UpstreamEndpoint) -> &OutcomeCounters {
        &self.0[endpoint.index()]
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[derive(Debug, Default)]
    struct Tally(AtomicU64);

    impl metrics::CounterFn for Tally {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.store(value, Ordering::Relaxed);
        }
    }

    #[test]
    fn each_result_is_counted_under_its_endpoint_and_outcome() {
        let tallies: Vec<(UpstreamEndpoint, Outcome, Arc<Tally>)> = UpstreamEndpoint::ALL
            .iter()
            .flat_map(|e| Outcome::ALL.iter().map(move |o| (*e, *o, Arc::default())))
            .collect();
        let counters = UpstreamCounters::new(|e, o| {
            let (_, _, t) = tallies
                .iter()
                .find(|(te, to, _)| *te == e && *to == o)
                .expect("asked once per pair");
            Counter::from_arc(t.clone())
        });
        counters.of(UpstreamEndpoint::Token).count(&Ok::<(), _>(()));
        counters
            .of(UpstreamEndpoint::Token)
            .count(&Err::<(), _>(ConnectorError::Protocol("x".into())));
        counters
            .of(UpstreamEndpoint::Jwks)
            .count(&Err::<(), _>(ConnectorError::Unavailable("x".into())));
        let value = |e, o| {
            tallies
                .iter()
                .find(|(te, to, _)| *te == e && *to == o)
                .map(|(_, _, t)| t.0.load(Ordering::Relaxed))
                .unwrap_or_default()
        };
        assert_eq!(value(UpstreamEndpoint::Token, Outcome::Ok), 1);
        assert_eq!(value(UpstreamEndpoint::Token, Outcome::ProtocolError), 1);
        assert_eq!(value(UpstreamEndpoint::Jwks, Outcome::Unavailable), 1);
        assert_eq!(value(UpstreamEndpoint::Discovery, Outcome::Ok), 0);
    }
}
