//! Metrics for operators, rendered in the Prometheus text format at `/metrics`: logins started
//! and approved per service, failures per error code, tokens issued and refused, a latency
//! histogram per route, and the connector's calls to the itsme scheme and to clients' `jwks_uri`s.
//!
//! Built on the `metrics` facade with `metrics-exporter-prometheus`, but with no global recorder:
//! each application owns one [`Metrics`], with its own `PrometheusRecorder`, and registers every
//! handle through the `metrics::Recorder` trait (so tests can run many applications in one process,
//! and nothing is global). Handles are registered once and kept, so counting costs no lookup;
//! the histograms are registered on a route's first request and cached per route.
//!
//! Per node and in memory (they restart at zero with the process, as Prometheus counters may). No
//! label carries personal data, codes, tokens or client ids: only closed sets of words (service,
//! error code, outcome, endpoint, scheme, method, status class) and the route *pattern*.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::{Method, Request, Response, StatusCode};
use metrics::{
    Counter, Histogram, Key, KeyName, Label, Metadata, Recorder as _, SharedString, Unit,
};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusRecorder};
use passerelle_core::oidc::ErrorCode;
use passerelle_core::scopes::Service;
use passerelle_itsme::metrics::{OutcomeCounters, UpstreamCounters};

/// The latency histogram's name.
pub const REQUEST_DURATION: &str = "passerelle_http_request_duration_seconds";

/// Upper bounds of the latency buckets, in seconds. A login step takes 1–100 ms (most of it RSA
/// operations of about 1 ms each), so the buckets are dense there; the tail reaches the waiting
/// page's 20 s long poll and the 30 s limit on every request.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const SERVICES: [&str; 2] = ["authentication", "identification"];
const FAILURES: [&str; 4] = [
    "access_denied",
    "temporarily_unavailable",
    "invalid_scope",
    "other",
];
/// Methods get their own label value; any other is `other`, so a client cannot invent series.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The route label of a request that matched no route (the concrete path is never a label).
const UNMATCHED: &str = "unmatched";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// One application's metrics: its recorder and the handles its code counts with.
#[derive(Debug)]
pub struct Metrics {
    recorder: PrometheusRecorder,
    started: [Counter; 2],
    approved: [Counter; 2],
    failed: [Counter; 4],
    tokens: Counter,
    token_errors: Counter,
    /// Latency histograms by route pattern, then by method and status class, registered on
    /// first use.
    routes: RwLock<HashMap<Box<str>, Arc<RouteHistograms>>>,
}

/// One route's histograms, one slot per method and status class.
#[derive(Debug)]
struct RouteHistograms {
    route: SharedString,
    slots: [[OnceLock<Histogram>; STATUS_CLASSES.len()]; METHODS.len()],
}

fn service_index(s: Service) -> usize {
    match s {
        Service::Authentication => 0,
        Service::Identification => 1,
    }
}

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn status_class_index(s: StatusCode) -> usize {
    usize::from(s.as_u16() / 100).clamp(1, 5) - 1
}

impl Metrics {
    /// A fresh recorder with every counter registered (so each series is exported from zero).
    pub fn new() -> Result<Metrics, BuildError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), &LATENCY_BUCKETS)?
            .build_recorder();
        let describe = |name: &'static str, unit: Option<Unit>, help: &'static str| {
            recorder.describe_counter(KeyName::from_const_str(name), unit, help.into());
        };
        describe(
            "passerelle_logins_started_total",
            None,
            "Logins sent to the itsme scheme.",
        );
        describe(
            "passerelle_logins_approved_total",
            None,
            "Logins the scheme approved (a code went to the RP).",
        );
        describe(
            "passerelle_logins_failed_total",
            None,
            "Logins that ended with an error at the RP, by error.",
        );
        describe(
            "passerelle_tokens_issued_total",
            None,
            "Token responses with an ID token.",
        );
        describe(
            "passerelle_token_errors_total",
            None,
            "Token requests refused.",
        );
        describe(
            "passerelle_itsme_requests_total",
            None,
            "Calls of the connector to the itsme scheme (or the sandbox), by scheme, endpoint and outcome.",
        );
        describe(
            "passerelle_client_jwks_fetches_total",
            None,
            "Fetches of relying parties' keys at their jwks_uri (cache hits not counted), by outcome.",
        );
        describe(
            "passerelle_rate_limited_total",
            None,
            "Requests refused with 429 by a rate limit, by limit (per node).",
        );
        recorder.describe_histogram(
            KeyName::from_const_str(REQUEST_DURATION),
            Some(Unit::Seconds),
            "Time to answer a request, by route pattern, method and status class.".into(),
        );
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let per_service = |name: &'static str| {
            SERVICES.map(|s| counter(name, vec![Label::from_static_parts("service", s)]))
        };
        let started = per_service("passerelle_logins_started_total");
        let approved = per_service("passerelle_logins_approved_total");
        let failed = FAILURES.map(|e| {
            counter(
                "passerelle_logins_failed_total",
                vec![Label::from_static_parts("error", e)],
            )
        });
        let tokens = counter("passerelle_tokens_issued_total", vec![]);
        let token_errors = counter("passerelle_token_errors_total", vec![]);
        Ok(Metrics {
            started,
            approved,
            failed,
            tokens,
            token_errors,
            routes: RwLock::default(),
            recorder,
        })
    }

    pub(crate) fn login_started(&self, s: Service) {
        self.started[service_index(s)].increment(1);
    }

    pub(crate) fn login_approved(&self, s: Service) {
        self.approved[service_index(s)].increment(1);
    }

    pub(crate) fn login_ended_with(&self, code: ErrorCode) {
        let i = match code {
            ErrorCode::AccessDenied => 0,
            ErrorCode::TemporarilyUnavailable => 1,
            ErrorCode::InvalidScope => 2,
            _ => 3,
        };
        self.failed[i].increment(1);
    }

    pub(crate) fn tokens_issued(&self) {
        self.tokens.increment(1);
    }

    pub(crate) fn token_refused(&self) {
        self.token_errors.increment(1);
    }

    /// Counters for a connector's calls to the scheme (`scheme` is `sandbox` or `production`),
    /// for `passerelle_itsme::ConnectorConfig::counters`.
    pub fn upstream(&self, scheme: &'static str) -> UpstreamCounters {
        UpstreamCounters::new(|endpoint, outcome| {
            self.recorder.register_counter(
                &Key::from_parts(
                    "passerelle_itsme_requests_total",
                    vec![
                        Label::from_static_parts("scheme", scheme),
                        Label::from_static_parts("endpoint", endpoint.as_str()),
                        Label::from_static_parts("outcome", outcome.as_str()),
                    ],
                ),
                &METADATA,
            )
        })
    }

    /// The counter of a rate limit's refusals, for `passerelle_limits::Limits::with_counters`.
    pub fn rate_limited(&self, limit: &'static str) -> metrics::Counter {
        self.recorder.register_counter(
            &Key::from_parts(
                "passerelle_rate_limited_total",
                vec![Label::from_static_parts("limit", limit)],
            ),
            &METADATA,
        )
    }

    /// Counters for the fetches of clients' key sets, for `passerelle_itsme::JwksCache`.
    pub fn client_jwks(&self) -> OutcomeCounters {
        OutcomeCounters::new(|outcome| {
            self.recorder.register_counter(
                &Key::from_parts(
                    "passerelle_client_jwks_fetches_total",
                    vec![Label::from_static_parts("outcome", outcome.as_str())],
                ),
                &METADATA,
            )
        })
    }

    /// Records one request's latency. `route` is the matched route *pattern*
    /// (`/sandbox/v2/actions/{id}/wait`), `None` when no route matched.
    pub fn record_request(
        &self,
        route: Option<&str>,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or(UNMATCHED);
        let cached = self
            .routes
            .read()
            .ok()
            .and_then(|routes| routes.get(route).cloned());
        let histograms = match cached {
            Some(h) => h,
            None => {
                // The first request on this route (routes are a fixed set: the map stays small).
                let Ok(mut routes) = self.routes.write() else {
                    return;
                };
                routes
                    .entry(route.into())
                    .or_insert_with(|| {
                        Arc::new(RouteHistograms {
                            route: SharedString::from(route.to_string()),
                            slots: Default::default(),
                        })
                    })
                    .clone()
            }
        };
        let (m, c) = (method_index(method), status_class_index(status));
        histograms.slots[m][c]
            .get_or_init(|| {
                self.recorder.register_histogram(
                    &Key::from_parts(
                        REQUEST_DURATION,
                        vec![
                            Label::new("route", histograms.route.clone()),
                            Label::from_static_parts("method", METHODS[m]),
                            Label::from_static_parts("status", STATUS_CLASSES[c]),
                        ],
                    ),
                    &METADATA,
                )
            })
            .record(elapsed.as_secs_f64());
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// Moves recorded latencies into the histograms. Rendering does it too; call this every few
    /// seconds so that memory stays bounded when nobody scrapes `/metrics`.
    pub fn run_upkeep(&self) {
        self.recorder.handle().run_upkeep();
    }

    /// A layer that records every request's latency in [`REQUEST_DURATION`]. Apply it with
    /// `Router::layer`, so that it runs after routing and sees the route pattern.
    pub fn layer(self: &Arc<Self>) -> LatencyLayer {
        LatencyLayer {
            metrics: self.clone(),
        }
    }
}

/// See [`Metrics::layer`].
#[derive(Debug, Clone)]
pub struct LatencyLayer {
    metrics: Arc<Metrics>,
}

impl<S> tower::Layer<S> for LatencyLayer {
    type Service = LatencyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LatencyService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`Metrics::layer`].
#[derive(Debug, Clone)]
pub struct LatencyService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, RB> tower::Service<Request<B>> for LatencyService<S>
where
    S: tower::Service<Request<B>, Response = Response<RB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = LatencyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // `MatchedPath` holds an `Arc<str>`: cloning it allocates nothing.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        LatencyFuture {
            inner: self.inner.call(req),
            metrics: self.metrics.clone(),
            route,
            method,
            start: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// See [`Metrics::layer`].
    pub struct LatencyFuture<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        route: Option<MatchedPath>,
        method: Method,
        start: Instant,
    }
}

impl<F, RB, E> Future for LatencyFuture<F>
where
    F: Future<Output = Result<Response<RB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            this.metrics.record_request(
                this.route.as_ref().map(MatchedPath::as_str),
                this.method,
                response.status(),
                this.start.elapsed(),
            );
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exported_from_zero_with_the_names_operators_know() {
        let m = Metrics::new().expect("metrics");
        m.login_started(Service::Identification);
        m.login_ended_with(ErrorCode::AccessDenied);
        m.tokens_issued();
        let text = m.render();
        for line in [
            "passerelle_logins_started_total{service=\"identification\"} 1",
            "passerelle_logins_started_total{service=\"authentication\"} 0",
            "passerelle_logins_approved_total{service=\"authentication\"} 0",
            "passerelle_logins_failed_total{error=\"access_denied\"} 1",
            "passerelle_logins_failed_total{error=\"other\"} 0",
            "passerelle_tokens_issued_total 1",
            "passerelle_token_errors_total 0",
            "# TYPE passerelle_tokens_issued_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn latencies_are_bucketed_by_route_pattern_method_and_status_class() {
        let m = Metrics::new().expect("metrics");
        let route = Some("/sandbox/v2/actions/{id}/wait");
        m.record_request(
            route,
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(3),
        );
        m.record_request(
            route,
            &Method::GET,
            StatusCode::OK,
            Duration::from_millis(40),
        );
        m.record_request(
            None,
            &Method::from_bytes(b"BREW").expect("method"),
            StatusCode::NOT_FOUND,
            Duration::from_micros(50),
        );
        let text = m.render();
        let labels = "route=\"/sandbox/v2/actions/{id}/wait\",method=\"GET\",status=\"2xx\"";
        for line in [
            format!("{REQUEST_DURATION}_bucket{{{labels},le=\"0.002\"}} 0"),
            format!("{REQUEST_DURATION}_bucket{{{labels},le=\"0.005\"}} 1"),
            format!("{REQUEST_DURATION}_bucket{{{labels},le=\"0.05\"}} 2"),
            format!("{REQUEST_DURATION}_bucket{{{labels},le=\"+Inf\"}} 2"),
            format!("{REQUEST_DURATION}_count{{{labels}}} 2"),
            format!(
                "{REQUEST_DURATION}_count{{route=\"unmatched\",method=\"other\",status=\"4xx\"}} 1"
            ),
            format!("# TYPE {REQUEST_DURATION} histogram"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn two_applications_in_one_process_count_apart() {
        let (a, b) = (Metrics::new().expect("a"), Metrics::new().expect("b"));
        a.tokens_issued();
        assert!(a.render().contains("passerelle_tokens_issued_total 1"));
        assert!(b.render().contains("passerelle_tokens_issued_total 0"));
    }
}
