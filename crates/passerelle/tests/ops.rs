//! What operators see: `/healthz`, `/readyz`, `/metrics` (closed by default, a bearer token on
//! the main listener, or a listener of its own), the latency histograms and upstream counters in
//! it, and lifetimes taken from the configuration.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001"; // Belgian, approves
const TOKEN: &str = "metrics-token-0123456789";

async fn spawn_with_token() -> TestApp {
    TestApp::spawn_with(Options {
        metrics_token: Some(TOKEN.into()),
        ..Options::default()
    })
    .await
}

/// `/metrics` on the main listener, with the token.
async fn scrape(app: &TestApp) -> String {
    let resp = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.expect("body")
}

fn has_line(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
}

#[tokio::test]
async fn metrics_are_not_served_by_default() {
    let app = TestApp::spawn().await;
    let resp = reqwest::get(app.url("/metrics")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Not even with a token: none is configured.
    let resp = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_on_the_main_listener_need_the_bearer_token() {
    let app = spawn_with_token().await;
    let http = reqwest::Client::new();
    let challenge = |resp: &reqwest::Response| {
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let anonymous = http.get(app.url("/metrics")).send().await.expect("get");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&anonymous).starts_with("Bearer"), "{anonymous:?}");
    for wrong in ["metrics-token-0123456788", "metrics-token-01234567890", "x"] {
        let resp = http
            .get(app.url("/metrics"))
            .bearer_auth(wrong)
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{wrong}");
        assert!(
            challenge(&resp).contains("error=\"invalid_token\""),
            "{resp:?}"
        );
    }
    // The token as a password is not a bearer token.
    let basic = http
        .get(app.url("/metrics"))
        .basic_auth("metrics", Some(TOKEN))
        .send()
        .await
        .expect("get");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    let text = scrape(&app).await;
    has_line(&text, "passerelle_tokens_issued_total 0");
}

#[tokio::test]
async fn the_metrics_listener_serves_metrics_alone_and_stops_with_the_server() {
    let mut app = TestApp::spawn_with(Options {
        metrics_listener: true,
        ..Options::default()
    })
    .await;
    let base = app.metrics_base.clone().expect("metrics listener");
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.full_login(&client, "openid", JAN).await;
    let resp = reqwest::get(format!("{base}/metrics")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.expect("body");
    has_line(&text, "passerelle_tokens_issued_total 1");
    for path in [
        "/healthz",
        "/readyz",
        "/",
        "/auth/open/.well-known/openid-configuration",
    ] {
        let resp = reqwest::get(format!("{base}{path}")).await.expect("get");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The main listener still keeps it closed (no token configured).
    let resp = reqwest::get(app.url("/metrics")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.stop().await;
    assert!(
        reqwest::get(format!("{base}/metrics")).await.is_err(),
        "the metrics listener is closed with the server"
    );
}

#[tokio::test]
async fn health_is_liveness_and_readiness_checks_the_database_and_keys() {
    let app = TestApp::spawn().await;
    let health = reqwest::get(app.url("/healthz")).await.expect("get");
    assert_eq!(health.status(), StatusCode::OK);
    let body = health.json::<Value>().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["mode"], "sandbox-only");
    let ready = reqwest::get(app.url("/readyz")).await.expect("get");
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.headers()["cache-control"], "no-store");
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({"status": "ready", "checks": {"database": "ok", "keys": "ok"}})
    );
}

/// The database goes away under a running node: closing the pool the node uses (the test's store
/// shares it) makes every query fail at once, on SQLite and PostgreSQL alike, which is what a
/// node sees of a dead database once its connections fail. (A database that hangs instead is
/// answered within the readiness budget: `ops::tests::a_hanging_database_is_answered_within_the_budget`.)
#[tokio::test]
async fn readiness_fails_when_the_database_is_gone_while_liveness_holds() {
    let app = TestApp::spawn().await;
    app.store.close().await;
    let ready = reqwest::get(app.url("/readyz")).await.expect("get");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({"status": "unavailable", "checks": {"database": "unavailable", "keys": "unknown"}})
    );
    let health = reqwest::get(app.url("/healthz")).await.expect("get");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn readiness_fails_when_the_database_holds_other_keys() {
    let app = TestApp::spawn().await;
    let changed = app
        .sql(
            "UPDATE keys SET kid = 'another-deployment' WHERE purpose = 'op-rs256'",
            &[],
        )
        .await;
    assert_eq!(changed, 1);
    let ready = reqwest::get(app.url("/readyz")).await.expect("get");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({"status": "unavailable", "checks": {"database": "ok", "keys": "mismatch"}})
    );
}

#[tokio::test]
async fn latencies_are_histograms_per_route_pattern_without_ids() {
    let app = spawn_with_token().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid", JAN).await;
    let code = q["code"].clone();
    let resp = app.redeem(&client, &code, &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let missing = reqwest::get(app.url("/no/such/page-SECRET42"))
        .await
        .expect("get");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let text = scrape(&app).await;
    let name = "passerelle_http_request_duration_seconds";
    has_line(&text, &format!("# TYPE {name} histogram"));
    for (route, method, status) in [
        ("/auth/open/connect/authorize", "GET", "3xx"),
        ("/sandbox/v2/authorization", "GET", "2xx"),
        ("/sandbox/v2/actions/{id}/phone", "POST", "3xx"),
        ("/sandbox/v2/actions/{id}/wait", "GET", "3xx"),
        ("/auth/open/connect/itsme/callback", "GET", "3xx"),
        ("/auth/open/connect/token", "POST", "2xx"),
        // The connector's back channel to the in-process sandbox is a request like any other.
        ("/sandbox/v2/token", "POST", "2xx"),
        ("unmatched", "GET", "4xx"),
    ] {
        let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
        has_line(&text, &format!("{name}_count{{{labels}}} 1"));
        has_line(&text, &format!("{name}_bucket{{{labels},le=\"+Inf\"}} 1"));
        assert!(
            text.contains(&format!("{name}_bucket{{{labels},le=\"0.001\"}}")),
            "a 1 ms bucket for {route}"
        );
    }
    let action = html_attr(&login.phone_page, "<form method=\"post\"", "action");
    let action_id = action.split('/').nth(4).expect("action id");
    assert!(action_id.len() > 10, "{action}");
    for secret in [action_id, code.as_str(), "SECRET42", client.id.as_str()] {
        assert!(!text.contains(secret), "{secret} must not be in /metrics");
    }
}

#[tokio::test]
async fn calls_to_the_scheme_are_counted_by_endpoint_and_outcome() {
    let app = spawn_with_token().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.full_login(&client, "openid", JAN).await;
    // The scheme's code is good for three minutes: past that its token endpoint refuses it.
    let login = app.begin(&client, "openid").await;
    let callback = app.scheme_callback(&login, JAN).await;
    app.clock.advance(181);
    let resp = login.browser.get(&callback).send().await.expect("callback");
    assert_eq!(query_of(&location(&resp))["error"], "server_error");
    let text = scrape(&app).await;
    let line = |endpoint: &str, outcome: &str, n: u64| {
        format!(
            "passerelle_itsme_requests_total{{scheme=\"sandbox\",endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} {n}"
        )
    };
    for expected in [
        // The embedded connector is given its endpoints: no discovery.
        line("discovery", "ok", 0),
        line("jwks", "ok", 1),
        line("token", "ok", 1),
        line("token", "protocol_error", 1),
        line("token", "unavailable", 0),
        line("userinfo", "ok", 0),
    ] {
        has_line(&text, &expected);
    }
}

#[tokio::test]
async fn fetches_of_client_keys_are_counted() {
    let app = spawn_with_token().await;
    // A jwks_uri where nothing listens.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_uri = format!("http://{}/jwks", dead.local_addr().expect("addr"));
    drop(dead);
    let id = passerelle_store::random_token(12);
    let record = passerelle_store::NewClient {
        id: id.clone(),
        name: "Key RP".into(),
        secret_hash: None,
        redirect_uris: vec![RP_CALLBACK.into()],
        auth_method: passerelle_core::oidc::ClientAuthMethod::PrivateKeyJwt,
        jwks: None,
        jwks_uri: Some(jwks_uri),
        account: passerelle_core::scopes::Account::Sandbox,
        grants: vec![],
        id_token_alg: passerelle_core::oidc::IdTokenAlg::Rs256,
        ciba: None,
        signing_webhook: None,
        formats: Default::default(),
        dpop_bound_access_tokens: false,
        post_logout_redirect_uris: Vec::new(),
        par: Default::default(),
        profile: None,
    };
    app.store.insert_client(&record, T0).await.expect("insert");
    let b64 = |v: Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let assertion = format!(
        "{}.{}.AAAA",
        b64(json!({"alg": "RS256", "kid": "k"})),
        b64(json!({"iss": id, "sub": id}))
    );
    for _ in 0..3 {
        let resp = reqwest::Client::new()
            .post(app.url("/auth/open/connect/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let text = scrape(&app).await;
    // One fetch: the failure is remembered for 10 s.
    has_line(
        &text,
        "passerelle_client_jwks_fetches_total{outcome=\"unavailable\"} 1",
    );
    has_line(
        &text,
        "passerelle_client_jwks_fetches_total{outcome=\"ok\"} 0",
    );
    has_line(&text, "passerelle_token_errors_total 3");
}

fn lifetimes(login: i64, code: i64, access_token: i64, id_token: i64) -> Options {
    Options {
        lifetimes: passerelle_web::Lifetimes {
            login,
            code,
            access_token,
            id_token,
            ..passerelle_web::Lifetimes::default()
        },
        ..Options::default()
    }
}

#[tokio::test]
async fn token_lifetimes_come_from_the_configuration() {
    let app = TestApp::spawn_with(lifetimes(900, 60, 120, 90)).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid", JAN).await;
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["expires_in"], 120);
    let id_token = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
        .await;
    assert_eq!(id_token["exp"], app.clock_now() + 90);
    app.userinfo(&tokens).await;
    app.clock.advance(120);
    let resp = reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "the token expired");
}

#[tokio::test]
async fn the_code_lifetime_comes_from_the_configuration() {
    let app = TestApp::spawn_with(lifetimes(900, 5, 600, 600)).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid", JAN).await;
    app.clock.advance(5);
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn the_login_lifetime_comes_from_the_configuration() {
    let app = TestApp::spawn_with(lifetimes(150, 60, 600, 600)).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    // Within the login's 150 s: the person may take their time on the phone page.
    let login = app.begin(&client, "openid").await;
    app.clock.advance(149);
    let callback = app.scheme_callback(&login, JAN).await;
    let resp = login.browser.get(&callback).send().await.expect("callback");
    assert!(location(&resp).starts_with(RP_CALLBACK), "{resp:?}");
    // Past it, the broker no longer knows the login (the scheme, at 600 s, still would).
    let login = app.begin(&client, "openid").await;
    app.clock.advance(150);
    let callback = app.scheme_callback(&login, JAN).await;
    let resp = login.browser.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
