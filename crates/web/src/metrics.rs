//! Counters for operators, rendered in the Prometheus text format at `/metrics`. Per node and in
//! memory (they restart at zero with the process, as Prometheus counters may); no labels carry
//! personal data or client secrets, only the service, the outcome and the error code.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use passerelle_core::oidc::ErrorCode;
use passerelle_core::scopes::Service;

#[derive(Debug, Default)]
pub struct Metrics {
    started: [AtomicU64; 2],
    approved: [AtomicU64; 2],
    denied: [AtomicU64; 4],
    tokens: AtomicU64,
    token_errors: AtomicU64,
}

fn service_index(s: Service) -> usize {
    match s {
        Service::Authentication => 0,
        Service::Identification => 1,
    }
}

const SERVICES: [&str; 2] = ["authentication", "identification"];
const DENIALS: [&str; 4] = [
    "access_denied",
    "temporarily_unavailable",
    "invalid_scope",
    "other",
];

impl Metrics {
    pub(crate) fn login_started(&self, s: Service) {
        self.started[service_index(s)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn login_approved(&self, s: Service) {
        self.approved[service_index(s)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn login_ended_with(&self, code: ErrorCode) {
        let i = match code {
            ErrorCode::AccessDenied => 0,
            ErrorCode::TemporarilyUnavailable => 1,
            ErrorCode::InvalidScope => 2,
            _ => 3,
        };
        self.denied[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tokens_issued(&self) {
        self.tokens.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_refused(&self) {
        self.token_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP passerelle_logins_started_total Logins sent to the itsme scheme."
        );
        let _ = writeln!(out, "# TYPE passerelle_logins_started_total counter");
        for (i, s) in SERVICES.iter().enumerate() {
            let _ = writeln!(
                out,
                "passerelle_logins_started_total{{service=\"{s}\"}} {}",
                self.started[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP passerelle_logins_approved_total Logins the scheme approved (a code went to the RP)."
        );
        let _ = writeln!(out, "# TYPE passerelle_logins_approved_total counter");
        for (i, s) in SERVICES.iter().enumerate() {
            let _ = writeln!(
                out,
                "passerelle_logins_approved_total{{service=\"{s}\"}} {}",
                self.approved[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP passerelle_logins_failed_total Logins that ended with an error at the RP, by error."
        );
        let _ = writeln!(out, "# TYPE passerelle_logins_failed_total counter");
        for (i, e) in DENIALS.iter().enumerate() {
            let _ = writeln!(
                out,
                "passerelle_logins_failed_total{{error=\"{e}\"}} {}",
                self.denied[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP passerelle_tokens_issued_total Token responses with an ID token."
        );
        let _ = writeln!(out, "# TYPE passerelle_tokens_issued_total counter");
        let _ = writeln!(
            out,
            "passerelle_tokens_issued_total {}",
            self.tokens.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP passerelle_token_errors_total Token requests refused."
        );
        let _ = writeln!(out, "# TYPE passerelle_token_errors_total counter");
        let _ = writeln!(
            out,
            "passerelle_token_errors_total {}",
            self.token_errors.load(Ordering::Relaxed)
        );
        out
    }
}
