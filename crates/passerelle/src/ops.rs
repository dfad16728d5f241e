//! What operators and orchestrators read: `/healthz` (liveness: the process answers),
//! `/readyz` (readiness: the database answers, within a bound, and holds the keys this node signs
//! with) and `/metrics` (Prometheus text, see `passerelle_web::Metrics`).
//!
//! `/metrics` is not public by default. On the main listener it is served only when a bearer
//! token is configured (`metrics_token`), and answers 401 without it; without a token the route
//! does not exist (404). `metrics_listen` adds a second listener that serves `/metrics` alone,
//! without authentication, for an operations network ([`metrics_router`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use passerelle_store::Store;
use passerelle_web::{Broker, Deployment, Metrics};
use serde::Serialize;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

/// How long `/readyz` waits for the database before it answers 503: probes time out (Kubernetes'
/// default is 1 s, commonly raised to a few), and a hanging database must not hang the probe.
pub const READINESS_BUDGET: Duration = Duration::from_secs(2);

/// How often recorded latencies are folded into the histograms when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the operations routes need.
pub struct OpsState {
    pub store: Store,
    pub broker: Arc<Broker>,
    /// SHA-256 of the bearer token that opens `/metrics` on the main listener; `None`: closed.
    pub metrics_token_hash: Option<[u8; 32]>,
}

impl OpsState {
    pub fn new(store: Store, broker: Arc<Broker>, metrics_token: Option<&str>) -> OpsState {
        OpsState {
            store,
            broker,
            metrics_token_hash: metrics_token.map(|t| sha2::Sha256::digest(t.as_bytes()).into()),
        }
    }
}

/// `/healthz`, `/readyz`, and `/metrics` when a token is configured.
pub fn router(state: OpsState) -> Router {
    let open_metrics = state.metrics_token_hash.is_some();
    let router = Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(ready));
    let router = if open_metrics {
        router.route("/metrics", get(guarded_metrics))
    } else {
        router
    };
    router.with_state(Arc::new(state))
}

/// The second listener's router: `/metrics` without authentication, nothing else.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(open_metrics))
        .with_state(metrics)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The liveness answer, with who answers production clients on this node.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    /// `itsme`, `sandbox-only` or `test-deployment` (`passerelle_web::Deployment`).
    mode: &'static str,
    mode_description: &'static str,
}

/// Who answers production clients, as `/healthz` and the start-up message say it.
pub fn deployment_description(d: Deployment) -> &'static str {
    match d {
        Deployment::Itsme => "production clients log in with the configured itsme environment",
        Deployment::SandboxOnly => {
            "no real itsme is configured: production clients are refused (sandbox clients use the sandbox)"
        }
        Deployment::TestDeployment => {
            "TEST DEPLOYMENT: no real itsme is configured and the sandbox answers production clients (serve_production_clients_in_test_deployment)"
        }
    }
}

/// Liveness: the process runs and answers HTTP. It asks nothing of the database, so an outage
/// there does not make an orchestrator restart healthy processes (that is `/readyz`'s job).
async fn health(State(s): State<Arc<OpsState>>) -> Response {
    let mode = s.broker.deployment;
    no_store(
        axum::Json(Health {
            status: "ok",
            mode: mode.as_str(),
            mode_description: deployment_description(mode),
        })
        .into_response(),
    )
}

/// One check's result in `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    /// The database answered with an error.
    Unavailable,
    /// The database did not answer within [`READINESS_BUDGET`].
    TimedOut,
    /// The database holds other signing keys than those this node loaded (another deployment's
    /// database, or keys changed under a running node).
    Mismatch,
    /// Not known, because the database could not be asked.
    Unknown,
}

#[derive(Debug, Serialize)]
pub struct Checks {
    pub database: Check,
    pub keys: Check,
}

/// The readiness answer.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: Checks,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.checks.database == Check::Ok && self.checks.keys == Check::Ok
    }
}

/// Runs `lookup` (the stored kids of the broker's signing keys, in the order of `loaded`) within
/// `budget`, and compares them with the kids this node loaded.
pub async fn readiness<F>(lookup: F, loaded: &[&str], budget: Duration) -> Readiness
where
    F: Future<Output = Result<Vec<Option<String>>, passerelle_store::StoreError>>,
{
    let (database, keys) = match tokio::time::timeout(budget, lookup).await {
        Err(_) => {
            tracing::warn!(
                budget_ms = budget.as_millis() as u64,
                "readiness: the database did not answer in time"
            );
            (Check::TimedOut, Check::Unknown)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database is unavailable");
            (Check::Unavailable, Check::Unknown)
        }
        Ok(Ok(stored)) => {
            let same = stored.len() == loaded.len()
                && stored
                    .iter()
                    .zip(loaded)
                    .all(|(s, l)| s.as_deref() == Some(*l));
            if !same {
                tracing::warn!(
                    "readiness: the stored signing keys are not the ones this node uses"
                );
            }
            (Check::Ok, if same { Check::Ok } else { Check::Mismatch })
        }
    };
    let mut r = Readiness {
        status: "ready",
        checks: Checks { database, keys },
    };
    if !r.is_ready() {
        r.status = "unavailable";
    }
    r
}

/// Readiness: 200 when this node can serve logins, 503 otherwise; always within about
/// [`READINESS_BUDGET`].
async fn ready(State(s): State<Arc<OpsState>>) -> Response {
    let keys = &s.broker.keys;
    let loaded = [keys.rs256.kid(), keys.ps256.kid(), keys.es256.kid()];
    let store = &s.store;
    let lookup = async {
        let (rs, ps, es) = tokio::join!(
            store.find_key("op-rs256"),
            store.find_key("op-ps256"),
            store.find_key("op-es256")
        );
        Ok(vec![
            rs?.map(|(kid, _)| kid),
            ps?.map(|(kid, _)| kid),
            es?.map(|(kid, _)| kid),
        ])
    };
    let r = readiness(lookup, &loaded, READINESS_BUDGET).await;
    let status = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store((status, axum::Json(r)).into_response())
}

fn prometheus_text(metrics: &Metrics) -> Response {
    no_store(
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            metrics.render(),
        )
            .into_response(),
    )
}

async fn open_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    prometheus_text(&metrics)
}

/// `/metrics` on the main listener: only with `Authorization: Bearer <metrics_token>` (RFC 6750
/// §2.1), compared in constant time (the SHA-256 of both, so not even the length leaks).
async fn guarded_metrics(State(s): State<Arc<OpsState>>, headers: HeaderMap) -> Response {
    let Some(expected) = &s.metrics_token_hash else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let challenge = match presented {
        None => "Bearer realm=\"passerelle-metrics\"",
        Some(token) => {
            let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
            if bool::from(digest.ct_eq(expected)) {
                return prometheus_text(&s.broker.metrics);
            }
            "Bearer realm=\"passerelle-metrics\", error=\"invalid_token\""
        }
    };
    no_store(
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response(),
    )
}

/// Folds recorded latencies into the histograms every few seconds, so that memory stays bounded
/// whether or not anyone scrapes `/metrics`. Runs until aborted.
pub async fn upkeep(metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    loop {
        tick.tick().await;
        metrics.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kids: &[&str]) -> Result<Vec<Option<String>>, passerelle_store::StoreError> {
        Ok(kids.iter().map(|k| Some(k.to_string())).collect())
    }

    #[tokio::test]
    async fn ready_when_the_database_answers_with_the_loaded_keys() {
        let r = readiness(async { ok(&["a", "b"]) }, &["a", "b"], READINESS_BUDGET).await;
        assert!(r.is_ready());
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            serde_json::json!({"status": "ready", "checks": {"database": "ok", "keys": "ok"}})
        );
    }

    #[tokio::test]
    async fn not_ready_when_the_stored_keys_are_not_the_loaded_ones() {
        let r = readiness(async { ok(&["a", "other"]) }, &["a", "b"], READINESS_BUDGET).await;
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            serde_json::json!({"status": "unavailable", "checks": {"database": "ok", "keys": "mismatch"}})
        );
    }

    #[tokio::test]
    async fn a_hanging_database_is_answered_within_the_budget() {
        // A lookup that never finishes: `readiness` returns only because of its budget.
        let budget = Duration::from_millis(20);
        let r = readiness(std::future::pending(), &["a"], budget).await;
        assert_eq!(
            serde_json::to_value(&r).expect("json"),
            serde_json::json!({"status": "unavailable", "checks": {"database": "timed_out", "keys": "unknown"}})
        );
    }
}
