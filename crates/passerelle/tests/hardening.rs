//! Issue 5's defects, each as an attacker would find it: production clients while no real itsme
//! is configured, the browser-binding cookie, the sandbox's request objects, wrong itsme codes.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const JAN: &str = "+32470000001"; // Belgian, approves

async fn authorize_production(app: &TestApp, client: &TestClient, mode: &str) -> reqwest::Response {
    let (_, challenge) = pkce();
    app.browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid profile"),
            ("state", "st-1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("response_mode", mode),
        ])
        .send()
        .await
        .expect("authorize")
}

async fn health(app: &TestApp) -> Value {
    let resp = reqwest::get(app.url("/healthz")).await.expect("healthz");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

/// Defect 1: with no real itsme configured, a production client gets no login at all (not a
/// sandbox person vouched for at "high"): the person sees why, and the way back carries
/// `unauthorized_client` to the client.
#[tokio::test]
async fn production_clients_fail_closed_without_a_real_itsme() {
    let app = TestApp::spawn().await;
    assert_eq!(health(&app).await["mode"], "sandbox-only");
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let resp = authorize_production(&app, &client, "query").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.headers().get("location").is_none(),
        "never sent to the scheme"
    );
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
    let page = resp.text().await.expect("page");
    assert!(
        page.contains("not connected to a real itsme environment"),
        "{page}"
    );
    let back = html_attr(&page, "class=\"button\"", "href");
    assert!(back.starts_with(RP_CALLBACK), "{back}");
    let q = query_of(&back);
    assert_eq!(q["error"], "unauthorized_client");
    assert!(q["error_description"].contains("itsme"));
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], app.issuer);
    // form_post: the same, by a button that posts the error.
    let resp = authorize_production(&app, &client, "form_post").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = resp.text().await.expect("page");
    assert!(
        page.contains(&format!("action=\"{RP_CALLBACK}\"")),
        "{page}"
    );
    assert!(page.contains("value=\"unauthorized_client\""), "{page}");
    // Nothing was started anywhere.
    assert_eq!(
        app.store.count_rows("login_transactions").await.expect("n"),
        0
    );
    assert_eq!(app.store.count_rows("sandbox_actions").await.expect("n"), 0);
    // Sandbox clients are unaffected.
    let sandbox = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (id_token, _) = app.full_login(&sandbox, "openid profile", JAN).await;
    assert_eq!(id_token["sandbox"], true);
}

/// The operator's explicit switch for a test deployment lets the sandbox answer production
/// clients, marked `sandbox: true`; turning it off again refuses a login already under way.
#[tokio::test]
async fn a_test_deployment_serves_production_clients_from_the_sandbox_only_while_allowed() {
    let app = TestApp::spawn_with(Options {
        test_deployment: true,
        ..Options::default()
    })
    .await;
    assert_eq!(health(&app).await["mode"], "test-deployment");
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let (id_token, _) = app.full_login(&client, "openid profile", JAN).await;
    assert_eq!(id_token["sandbox"], true);
    assert_eq!(id_token["acr"], "high");
    // A login under way when the operator turns the switch off ends without a code.
    let login = app.begin(&client, "openid profile").await;
    let callback = app.scheme_callback(&login, JAN).await;
    let mut app = app;
    app.options.test_deployment = false;
    let app = app.restart().await;
    assert_eq!(health(&app).await["mode"], "sandbox-only");
    let resp = login.browser.get(&callback).send().await.expect("callback");
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "unauthorized_client", "{q:?}");
    assert!(!q.contains_key("code"));
}
