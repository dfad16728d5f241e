//! The Authentication REST API (Signicat's shape) over real HTTP: a client-credentials token, a
//! redirect-flow session, the person at the sandbox, and the result read once in camelCase.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ABORT: &str = "https://rp.example/other";

async fn api_token(app: &TestApp, client: &TestClient) -> String {
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "signicat-api"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["scope"], "signicat-api");
    assert!(body.get("id_token").is_none());
    body["access_token"].as_str().expect("token").to_string()
}

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/rest/sessions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("create")
}

async fn read(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url(&format!("/auth/rest/sessions/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("read")
}

fn session_body(attributes: &[&str]) -> Value {
    json!({
        "allowedProviders": ["itsme"],
        "flow": "redirect",
        "requestedAttributes": attributes,
        "callbackUrls": { "success": RP_CALLBACK, "abort": ABORT, "error": ABORT },
        "requestedLoa": "high",
    })
}

/// The browser: authenticationUrl → the sandbox's phone page → a persona → back to a callback.
async fn person_at(app: &TestApp, authentication_url: &str, phone: &str) -> String {
    let browser = app.browser();
    let resp = browser.get(authentication_url).send().await.expect("start");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let page = browser
        .get(location(&resp))
        .send()
        .await
        .expect("scheme")
        .text()
        .await
        .expect("body");
    let form = html_attr(&page, "<form method=\"post\"", "action");
    let resp = browser
        .post(app.url(&form))
        .form(&[("phone", phone)])
        .send()
        .await
        .expect("phone");
    app.follow_to_rp(&browser, location(&resp)).await
}

#[tokio::test]
async fn a_redirect_session_identifies_the_person_and_hands_the_subject_out_once() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let token = api_token(&app, &client).await;
    let resp = create(
        &app,
        &token,
        session_body(&["firstName", "lastName", "dateOfBirth", "nin"]),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let session: Value = resp.json().await.expect("json");
    assert_eq!(session["status"], "CREATED");
    let id = session["id"].as_str().expect("id");
    assert_eq!(
        session["callbackUrls"]["success"],
        format!("{RP_CALLBACK}?sessionId={id}")
    );
    let url = session["authenticationUrl"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/auth/rest/sessions/", app.base)),
        "{url}"
    );

    let back = person_at(&app, url, "+32470000001").await;
    assert_eq!(back, format!("{RP_CALLBACK}?sessionId={id}"));

    // Twenty reads at once: exactly one gets the person.
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (url, token) = (app.url(&format!("/auth/rest/sessions/{id}")), token.clone());
        reads.spawn(async move {
            let resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("read");
            resp.json::<Value>().await.expect("json")
        });
    }
    let answers = reads.join_all().await;
    let with_subject: Vec<&Value> = answers
        .iter()
        .filter(|a| a.get("subject").is_some())
        .collect();
    assert_eq!(with_subject.len(), 1, "{answers:?}");
    let done = with_subject[0].clone();
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["provider"], "itsme");
    let subject = &done["subject"];
    assert!(subject["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(subject["firstName"].is_string(), "{subject}");
    assert!(subject["lastName"].is_string());
    assert!(subject["dateOfBirth"].is_string());
    assert_eq!(subject["nin"]["issuingCountry"], "BE", "{subject}");
    assert!(subject.get("given_name").is_none(), "camelCase only");
    // Read once: the attributes are gone.
    let again: Value = read(&app, &token, id).await.json().await.expect("json");
    assert_eq!(again["status"], "SUCCESS");
    assert!(again.get("subject").is_none(), "{again}");
    assert!(again["subjectReadAt"].is_string());
    // The same person through OIDC has the same subject.
    let (id_token, _) = app.full_login(&client, "openid", "+32470000001").await;
    assert_eq!(id_token["sub"], subject["id"]);
}

#[tokio::test]
async fn a_refusal_aborts_and_another_client_cannot_read_the_session() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let token = api_token(&app, &client).await;
    let session: Value = create(&app, &token, session_body(&[]))
        .await
        .json()
        .await
        .expect("json");
    let id = session["id"].as_str().expect("id");
    // Another API client: 404, as if it did not exist.
    let other = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let other_token = api_token(&app, &other).await;
    let resp = read(&app, &other_token, id).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let back = person_at(
        &app,
        session["authenticationUrl"].as_str().expect("url"),
        "+32470000004",
    )
    .await;
    assert_eq!(back, format!("{ABORT}?sessionId={id}"));
    let done: Value = read(&app, &token, id).await.json().await.expect("json");
    assert_eq!(done["status"], "ABORT");
    assert!(done.get("subject").is_none());
    // The authenticationUrl of a finished session is a page, not a new login.
    let resp = app
        .browser()
        .get(app.url(&format!("/auth/rest/sessions/{id}/start")))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_expire_and_bad_requests_are_problems() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let token = api_token(&app, &client).await;
    // No token, a wrong one, an OIDC access token: 401.
    let resp = reqwest::Client::new()
        .post(app.url("/auth/rest/sessions"))
        .json(&session_body(&[]))
        .send()
        .await
        .expect("no token");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_eq!(
        create(&app, "forged", session_body(&[])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for (body, needle) in [
        (json!({"flow": "redirect"}), "callbackUrls"),
        (json!("text"), "JSON object"),
        (json!({"flow": "embedded", "callbackUrls": {}}), "embedded"),
        (
            json!({"flow": "redirect", "allowedProviders": ["bankid"], "callbackUrls": {"success": RP_CALLBACK, "abort": ABORT, "error": ABORT}}),
            "bankid",
        ),
        (
            json!({"flow": "redirect", "requestedAttributes": ["shoeSize"], "callbackUrls": {"success": RP_CALLBACK, "abort": ABORT, "error": ABORT}}),
            "shoeSize",
        ),
        (
            json!({"flow": "redirect", "callbackUrls": {"success": "https://evil.example/", "abort": ABORT, "error": ABORT}}),
            "registered",
        ),
        (
            json!({"flow": "redirect", "sessionLifetime": 5, "callbackUrls": {"success": RP_CALLBACK, "abort": ABORT, "error": ABORT}}),
            "sessionLifetime",
        ),
        (
            json!({"flow": "redirect", "encryptionKey": {}}),
            "encryptionKey",
        ),
    ] {
        let resp = create(&app, &token, body.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let problem: Value = resp.json().await.expect("json");
        assert!(
            problem["detail"].as_str().expect("detail").contains(needle),
            "{problem}"
        );
    }
    // A production client needs the grant, for the API and for protected attributes.
    let production = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&production.id, Some(&production.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized_client");
    // The API token is no access token for userinfo.
    let resp = reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Expiry: a session not finished in time is EXPIRED, its start page gone.
    let session: Value = create(&app, &token, session_body(&["firstName"]))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(601);
    let token = api_token(&app, &client).await;
    let done: Value = read(&app, &token, session["id"].as_str().expect("id"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(done["status"], "EXPIRED");
    assert!(done.get("authenticationUrl").is_none());
    let resp = app
        .browser()
        .get(session["authenticationUrl"].as_str().expect("url"))
        .send()
        .await
        .expect("start");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_headless_session_identifies_the_person_who_scans_its_code() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let token = api_token(&app, &client).await;
    let resp = create(
        &app,
        &token,
        json!({ "flow": "headless", "requestedAttributes": ["firstName", "lastName"] }),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let session: Value = resp.json().await.expect("json");
    let id = session["id"].as_str().expect("id").to_string();
    assert!(
        session.get("authenticationUrl").is_none(),
        "no browser redirect"
    );
    let headless = &session["headless"];
    assert_eq!(headless["stage"], "SCAN");
    assert!(
        headless["qrCode"]
            .as_str()
            .is_some_and(|q| q.starts_with("data:image/svg+xml;base64,")),
        "{headless}"
    );
    // The phone "scans" the code: its link, where the person says which account scans.
    let link = headless["appLink"].as_str().expect("appLink").to_string();
    let phone = app.browser();
    let page = phone
        .get(&link)
        .send()
        .await
        .expect("scan")
        .text()
        .await
        .expect("body");
    let form = html_attr(&page, "<form method=\"post\"", "action");
    let resp = phone
        .post(app.url(&form))
        .form(&[("phone", "+32470000001")])
        .send()
        .await
        .expect("scan");
    assert!(resp.status().is_success(), "{}", resp.status());
    // Reads within the interval do not call the scheme; after it, the session moves on.
    let same: Value = read(&app, &token, &id).await.json().await.expect("json");
    assert_eq!(same["headless"]["stage"], "SCAN");
    app.clock.advance(5);
    let approving: Value = read(&app, &token, &id).await.json().await.expect("json");
    assert_eq!(approving["status"], "CREATED", "{approving}");
    assert_eq!(approving["headless"]["stage"], "APPROVE", "{approving}");
    app.clock.advance(5);
    let done: Value = read(&app, &token, &id).await.json().await.expect("json");
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert!(done["subject"]["firstName"].is_string(), "{done}");
    assert!(done.get("headless").is_none());
}
