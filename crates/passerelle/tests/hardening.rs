//! Issue 5's defects, each as an attacker would find it: production clients while no real itsme
//! is configured, the browser-binding cookie, the sandbox's request objects, wrong itsme codes.

mod common;

use base64::Engine as _;
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
    let app = TestApp::spawn_test_deployment().await;
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

/// The `Set-Cookie` headers of a response.
fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// Starts a login with `browser` (which may carry planted cookies), returns the authorize
/// response's binding cookie (`name=value`) and the scheme's redirect back to Passerelle.
async fn start_and_approve(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &TestClient,
    extra_cookie: Option<&str>,
) -> (String, String) {
    let (_, challenge) = pkce();
    let mut req = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            ("state", "rp-state"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]);
    if let Some(c) = extra_cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let binding = cookies[0].split(';').next().expect("pair").to_string();
    let scheme = location(&resp);
    let page = browser.get(&scheme).send().await.expect("phone page");
    let phone_page = page.text().await.expect("page");
    let action = html_attr(&phone_page, "<form method=\"post\"", "action");
    let resp = browser
        .post(app.url(&action))
        .form(&[("phone", JAN)])
        .send()
        .await
        .expect("phone");
    let wait = location(&resp);
    let resp = browser.get(app.url(&wait)).send().await.expect("wait");
    (binding, location(&resp))
}

/// Defect 5: the binding is Passerelle's own, fresh for each login; a value planted in the
/// browser beforehand is neither adopted nor accepted, so whoever planted it cannot use the
/// scheme's answer.
#[tokio::test]
async fn the_browser_binding_is_issued_by_passerelle_for_each_login() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    // The victim's browser carries values an attacker planted under every name Passerelle ever
    // used; the attacker's browser carries the same.
    let planted = "planted-by-the-attacker-0123456789";
    let (binding, callback) = start_and_approve(
        &app,
        &http,
        &client,
        Some(&format!("passerelle_browser={planted}")),
    )
    .await;
    let (name, value) = binding.split_once('=').expect("name=value");
    assert!(name.starts_with("passerelle_login_"), "{name}");
    assert_ne!(value, planted, "a planted value is never adopted");
    assert_eq!(value.len(), 32);
    let state = query_of(&callback)["state"].clone();
    let stolen = http
        .get(&callback)
        .header(
            "cookie",
            format!("passerelle_browser={planted}; {name}={planted}"),
        )
        .send()
        .await
        .expect("callback");
    assert_eq!(
        stolen.status(),
        StatusCode::BAD_REQUEST,
        "the planted value is refused"
    );
    assert!(location(&stolen).is_empty());
    // The victim's own browser, with the value Passerelle issued, still finishes.
    let own = http
        .get(&callback)
        .header("cookie", &binding)
        .send()
        .await
        .expect("callback");
    let rp = location(&own);
    assert!(rp.starts_with(RP_CALLBACK), "{rp}");
    assert!(query_of(&rp).contains_key("code"));
    let cleared = set_cookies(&own);
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(state.starts_with(&name["passerelle_login_".len()..]));
    // Two logins in one browser have two bindings: neither overwrites the other.
    let jar = app.browser();
    let (first, first_callback) = start_and_approve(&app, &jar, &client, None).await;
    let (second, second_callback) = start_and_approve(&app, &jar, &client, None).await;
    assert_ne!(first, second);
    for callback in [first_callback, second_callback] {
        let resp = jar.get(&callback).send().await.expect("callback");
        let rp = location(&resp);
        assert!(rp.starts_with(RP_CALLBACK), "{rp}");
        assert!(query_of(&rp).contains_key("code"), "{rp}");
    }
}

/// Behind https the binding cookie is `__Host-` prefixed, `Secure`, `Path=/`.
#[tokio::test]
async fn behind_https_the_binding_cookie_is_host_only_and_secure() {
    let app = TestApp::spawn_with(Options {
        public_url: Some("https://id.example".into()),
        ..Options::default()
    })
    .await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (_, challenge) = pkce();
    let resp = app
        .browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let cookies = set_cookies(&resp);
    assert_eq!(cookies.len(), 1);
    let c = &cookies[0];
    assert!(c.starts_with("__Host-passerelle_login_"), "{c}");
    for part in [
        "Path=/;",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=900",
    ] {
        assert!(c.contains(part), "{part} in {c}");
    }
    assert!(!c.contains("Domain"), "{c}");
}

/// A request object for the sandbox, signed with `signer`, then encrypted to the sandbox (unless
/// `encrypt` is false). `overrides` replace or add members.
async fn sandbox_request_object(
    app: &TestApp,
    signer: &passerelle_jose::SigningKey,
    encrypt: bool,
    overrides: &[(&str, Value)],
) -> String {
    use serde_json::json;
    let sandbox = format!("{}/sandbox/v2", app.base);
    let mut c = passerelle_jose::Claims::new();
    for (k, v) in [
        ("iss", json!("passerelle")),
        ("aud", json!(sandbox)),
        ("client_id", json!("passerelle")),
        ("response_type", json!("code")),
        ("scope", json!("openid service:PASSERELLE_AUTH")),
        (
            "redirect_uri",
            json!(format!("{}/connect/itsme/callback", app.issuer)),
        ),
        ("state", json!("s")),
        ("nonce", json!("n")),
        ("exp", json!(T0 + 300)),
        ("iat", json!(T0)),
        ("passerelle_client_name", json!("Real Shop")),
    ] {
        c.insert(k.into(), v);
    }
    for (k, v) in overrides {
        c.insert((*k).into(), v.clone());
    }
    let jws = signer.sign(&c, Some("JWT")).expect("sign");
    if !encrypt {
        return jws;
    }
    let jwks = reqwest::get(format!("{sandbox}/jwkSet"))
        .await
        .expect("jwks")
        .text()
        .await
        .expect("body");
    passerelle_jose::PublicKeys::from_jwks_json(&jwks)
        .expect("keys")
        .encrypt(jws.as_bytes(), passerelle_jose::EncAlg::RsaOaep256)
        .expect("encrypt")
}

async fn sandbox_authorization(app: &TestApp, query: &[(&str, &str)]) -> (StatusCode, String) {
    let resp = app
        .browser()
        .get(app.url("/sandbox/v2/authorization"))
        .query(query)
        .send()
        .await
        .expect("authorization");
    (resp.status(), resp.text().await.expect("page"))
}

/// Defect 6: the sandbox shows only what a client vouched for. Unsigned requests, requests
/// signed by someone else or not encrypted, and names put in the URL are refused or ignored.
#[tokio::test]
async fn the_sandbox_takes_requests_only_as_signed_then_encrypted_objects() {
    use serde_json::json;
    let app = TestApp::spawn().await;
    let connector =
        passerelle_jose::SigningKey::from_private_jwk(&key_material("connector-sig")).expect("key");
    let callback = format!("{}/connect/itsme/callback", app.issuer);
    // A plain, unsigned request with the attacker's words.
    let (status, page) = sandbox_authorization(
        &app,
        &[
            ("client_id", "passerelle"),
            ("response_type", "code"),
            ("scope", "openid service:PASSERELLE_AUTH"),
            ("redirect_uri", callback.as_str()),
            ("passerelle_client_name", "Evil Bank"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!page.contains("Evil Bank"));
    assert!(page.contains("signed and then encrypted"), "{page}");
    // Signed by another key; signed but not encrypted; an audience array; no exp.
    let (intruder, _) =
        passerelle_jose::SigningKey::generate(passerelle_jose::SigAlg::Rs256).expect("key");
    let cases = [
        sandbox_request_object(&app, &intruder, true, &[]).await,
        sandbox_request_object(&app, &connector, false, &[]).await,
        sandbox_request_object(
            &app,
            &connector,
            true,
            &[("aud", json!([format!("{}/sandbox/v2", app.base)]))],
        )
        .await,
        sandbox_request_object(&app, &connector, true, &[("exp", Value::Null)]).await,
    ];
    for object in &cases {
        let (status, page) =
            sandbox_authorization(&app, &[("client_id", "passerelle"), ("request", object)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(!page.contains("Real Shop"));
    }
    assert_eq!(app.store.count_rows("sandbox_actions").await.expect("n"), 0);
    // A genuine object: the name it carries is shown, and words added to the URL beside it are
    // not (RFC 9101 §6.3), nor may the URL contradict it.
    let object = sandbox_request_object(&app, &connector, true, &[]).await;
    let (status, page) = sandbox_authorization(
        &app,
        &[
            ("client_id", "passerelle"),
            ("request", object.as_str()),
            ("passerelle_client_name", "Evil Bank"),
            ("ui_locales", "en"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Real Shop"), "{page}");
    assert!(!page.contains("Evil Bank"));
    let (status, _) = sandbox_authorization(
        &app,
        &[
            ("client_id", "passerelle"),
            ("request", object.as_str()),
            ("scope", "openid service:PASSERELLE_IDENT"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Defect 2 at the sandbox: its client assertions take one string as audience.
#[tokio::test]
async fn the_sandboxs_token_endpoint_refuses_an_audience_array() {
    use serde_json::json;
    let app = TestApp::spawn().await;
    let connector =
        passerelle_jose::SigningKey::from_private_jwk(&key_material("connector-sig")).expect("key");
    let token = format!("{}/sandbox/v2/token", app.base);
    for (jti, aud, expected) in [
        ("a1", json!([token]), "invalid_client"),
        ("a2", json!([token, "https://elsewhere"]), "invalid_client"),
        ("a3", json!(token), "invalid_grant"),
    ] {
        let mut c = passerelle_jose::Claims::new();
        for (k, v) in [
            ("iss", json!("passerelle")),
            ("sub", json!("passerelle")),
            ("aud", aud),
            ("jti", json!(jti)),
            ("exp", json!(T0 + 60)),
        ] {
            c.insert(k.into(), v);
        }
        let assertion = connector.sign(&c, Some("JWT")).expect("sign");
        let resp = reqwest::Client::new()
            .post(&token)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "not-a-code"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .expect("token");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"], expected, "{jti}: {body}");
    }
}

const ELS: &str = "+32470000007"; // manual, code 24680

/// Types `code` in the app for the action behind `app_url`, with a fresh client (no cookie is
/// needed: the app is another device).
async fn type_code(app: &TestApp, app_url: &str, code: &str) -> String {
    reqwest::Client::new()
        .post(app.url(app_url))
        .form(&[("decision", "approve"), ("code", code)])
        .send()
        .await
        .expect("code")
        .text()
        .await
        .expect("page")
}

const BLOCKED: &str = "so this itsme account is blocked";
const WRONG: &str = "role=\"alert\"";
const APPROVED: &str = "Confirmed.";

/// Defect 4: wrong codes lock the person's account, counted across logins and restarts, and a
/// blocked person cannot start again until unblocked or the configured time has passed.
#[tokio::test]
async fn wrong_codes_block_the_account_across_logins_and_restarts() {
    let app = TestApp::spawn_with(Options {
        account_block_seconds: 600,
        ..Options::default()
    })
    .await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let first = app.begin(&client, "openid").await;
    let (_, app_url) = app.wait_for_app(&first, ELS).await;
    for _ in 0..2 {
        let page = type_code(&app, &app_url, "00000").await;
        assert!(page.contains(WRONG) && !page.contains(BLOCKED), "{page}");
    }
    // A restart, and a new login: the count goes on, the third wrong code blocks.
    let app = app.restart().await;
    let second = app.begin(&client, "openid").await;
    let (wait, app_url) = app.wait_for_app(&second, ELS).await;
    let page = type_code(&app, &app_url, "11111").await;
    assert!(page.contains(BLOCKED), "{page}");
    let q = query_of(&app.follow_to_rp(&second.browser, wait).await);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].contains("three times"));
    // Blocked, a new login ends at once, before any code can be tried.
    let third = app.begin(&client, "openid").await;
    let resp = app.submit_phone(&third, ELS).await;
    let q = query_of(&app.follow_to_rp(&third.browser, location(&resp)).await);
    assert_eq!(q["error"], "access_denied");
    // The configured time lifts the block; the right code then works.
    app.clock.advance(601);
    let fourth = app.begin(&client, "openid").await;
    let (wait, app_url) = app.wait_for_app(&fourth, ELS).await;
    assert!(type_code(&app, &app_url, "24680").await.contains(APPROVED));
    let q = query_of(&app.follow_to_rp(&fourth.browser, wait).await);
    assert!(q.contains_key("code"), "{q:?}");
}

/// An operator unblocks a person whose block has no end (account_block_seconds = 0).
#[tokio::test]
async fn a_block_without_end_lasts_until_an_operator_unblocks() {
    let app = TestApp::spawn_with(Options {
        account_block_seconds: 0,
        ..Options::default()
    })
    .await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let (_, app_url) = app.wait_for_app(&login, ELS).await;
    for _ in 0..3 {
        type_code(&app, &app_url, "00000").await;
    }
    app.clock.advance(10 * 365 * 86_400);
    assert!(
        app.store
            .sandbox_account_blocked(ELS, app.clock_now())
            .await
            .expect("db")
    );
    assert!(app.store.sandbox_unblock(ELS).await.expect("db"));
    let login = app.begin(&client, "openid").await;
    let (_, app_url) = app.wait_for_app(&login, ELS).await;
    assert!(type_code(&app, &app_url, "24680").await.contains(APPROVED));
}

/// Many codes typed at once are each counted exactly once: at most two are answered "wrong",
/// the rest "blocked"; a right code among them is either the one that gets in before the block
/// or answered exactly as a wrong code is once blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_codes_are_each_counted_once_and_tell_a_guesser_nothing() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    // Odd rounds type only wrong codes: then at most two are answered as merely wrong, the rest
    // as blocked, and the account ends blocked.
    for round in 0..6 {
        let with_right = round % 2 == 0;
        assert!(app.store.sandbox_unblock(ELS).await.is_ok());
        let login = app.begin(&client, "openid").await;
        let (_, app_url) = app.wait_for_app(&login, ELS).await;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..12 {
            let url = app.url(&app_url);
            let code = if with_right && i == 7 {
                "24680"
            } else {
                "13579"
            };
            set.spawn(async move {
                let page = reqwest::Client::new()
                    .post(url)
                    .form(&[("decision", "approve"), ("code", code)])
                    .send()
                    .await
                    .expect("code")
                    .text()
                    .await
                    .expect("page");
                (code == "24680", page)
            });
        }
        let mut wrong = 0;
        let mut approved = 0;
        let mut blocked_pages = Vec::new();
        let mut right_page = None;
        while let Some(r) = set.join_next().await {
            let (right, page) = r.expect("task");
            if page.contains(APPROVED) {
                approved += 1;
            } else if page.contains(BLOCKED) {
                blocked_pages.push(page.clone());
            } else if page.contains(WRONG) {
                wrong += 1;
            } else {
                panic!("round {round}: a page that is none of approved, blocked, wrong: {page}");
            }
            if right {
                right_page = Some(page);
            }
        }
        if !with_right {
            // A page shows the account as it is when rendered: a second wrong code can already
            // read as blocked; never more than two read as merely wrong.
            assert!(
                wrong <= 2,
                "round {round}: {wrong} answered as merely wrong"
            );
            assert_eq!(blocked_pages.len(), 12 - wrong, "round {round}");
            assert_eq!(approved, 0, "round {round}");
            assert!(
                app.store
                    .sandbox_account_blocked(ELS, app.clock_now())
                    .await
                    .expect("db"),
                "round {round}: three wrong codes block the account"
            );
            continue;
        }
        let right_page = right_page.expect("the right code was typed");
        // Each wrong code is counted once: without the right code getting in (which resets the
        // count, as itsme does), at most two are answered as merely wrong before the block.
        assert!(
            wrong <= 2 || right_page.contains(APPROVED),
            "round {round}: {wrong} wrong codes answered as merely wrong"
        );
        // Pages rendered after the approval show it; only the right code can have caused it.
        assert!(
            approved == 0 || right_page.contains(APPROVED),
            "round {round}: approved without the right code"
        );
        if right_page.contains(BLOCKED) {
            assert!(
                blocked_pages.iter().all(|p| *p == right_page),
                "round {round}: a blocked right code reads exactly as a blocked wrong code"
            );
        }
        if approved == 0 {
            assert!(
                app.store
                    .sandbox_account_blocked(ELS, app.clock_now())
                    .await
                    .expect("db"),
                "round {round}: eleven wrong codes block the account"
            );
        }
    }
}

/// Wrong codes typed at once into two logins of the same person share one count.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_across_two_logins_share_one_count() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for round in 0..4 {
        assert!(app.store.sandbox_unblock(ELS).await.is_ok());
        let a = app.begin(&client, "openid").await;
        let (wait_a, url_a) = app.wait_for_app(&a, ELS).await;
        let b = app.begin(&client, "openid").await;
        let (wait_b, url_b) = app.wait_for_app(&b, ELS).await;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..10 {
            let url = app.url(if i % 2 == 0 { &url_a } else { &url_b });
            set.spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .form(&[("decision", "approve"), ("code", "97531")])
                    .send()
                    .await
                    .expect("code")
                    .text()
                    .await
                    .expect("page")
            });
        }
        let mut wrong = 0;
        while let Some(page) = set.join_next().await {
            let page = page.expect("task");
            if page.contains(WRONG) && !page.contains(BLOCKED) {
                wrong += 1;
            }
        }
        assert!(
            wrong <= 2,
            "round {round}: {wrong} codes answered as merely wrong"
        );
        for (login, wait) in [(&a, wait_a), (&b, wait_b)] {
            let q = query_of(&app.follow_to_rp(&login.browser, wait).await);
            assert_eq!(q["error"], "access_denied", "round {round}");
        }
    }
}

fn limits(f: impl FnOnce(&mut passerelle_limits::LimitSettings)) -> Options {
    let mut l = passerelle_limits::LimitSettings::off();
    f(&mut l);
    Options {
        rate_limits: l,
        ..Options::default()
    }
}

async fn token_post(
    app: &TestApp,
    client: &TestClient,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", RP_CALLBACK),
        ]);
    if let Some(f) = forwarded {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.expect("token")
}

async fn assert_429_json(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
}

/// Item 8: the token endpoint is limited per client (the one the request names, before it is
/// authenticated) and per source address, with 429 and Retry-After.
#[tokio::test]
async fn the_token_endpoint_is_rate_limited_per_client_and_per_address() {
    let mut options = limits(|l| l.token_per_client = 5);
    options.metrics_token = Some("metrics-token-for-the-test".into());
    let app = TestApp::spawn_with(options).await;
    let a = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let b = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for _ in 0..5 {
        assert_eq!(
            token_post(&app, &a, None).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_429_json(token_post(&app, &a, None).await).await;
    // A stranger naming a (without its secret) is refused for what it is, and spends nothing
    // of a's budget: the per-client limit counts authenticated requests only.
    let guess = TestClient {
        id: a.id.clone(),
        secret: "guess".into(),
    };
    assert_eq!(
        token_post(&app, &guess, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_post(&app, &b, None).await.status(),
        StatusCode::BAD_REQUEST
    );

    let app = TestApp::spawn_with(limits(|l| {
        l.token_per_ip = 3;
        l.userinfo_per_ip = 2;
    }))
    .await;
    let a = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for _ in 0..3 {
        assert_eq!(
            token_post(&app, &a, None).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_429_json(token_post(&app, &a, None).await).await;
    let userinfo = || async {
        reqwest::Client::new()
            .get(app.url("/auth/open/connect/userinfo"))
            .bearer_auth("x")
            .send()
            .await
            .expect("userinfo")
    };
    for _ in 0..2 {
        assert_eq!(userinfo().await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_429_json(userinfo().await).await;
}

/// Behind a proxy, the configured header's last address is the source (the one the proxy
/// added); without the setting the header is ignored, so a client cannot pick its own address.
#[tokio::test]
async fn the_source_address_comes_from_the_proxy_header_only_when_configured() {
    let mut options = limits(|l| l.token_per_ip = 2);
    options.client_ip_header = Some("X-Forwarded-For".into());
    let app = TestApp::spawn_with(options).await;
    let a = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for _ in 0..2 {
        token_post(&app, &a, Some("198.51.100.7, 203.0.113.1")).await;
    }
    assert_429_json(token_post(&app, &a, Some("198.51.100.99, 203.0.113.1")).await).await;
    assert_eq!(
        token_post(&app, &a, Some("203.0.113.2")).await.status(),
        StatusCode::BAD_REQUEST,
        "another address has its own budget"
    );
    let app = TestApp::spawn_with(limits(|l| l.token_per_ip = 2)).await;
    let a = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for n in 0..2 {
        token_post(&app, &a, Some(&format!("203.0.113.{n}"))).await;
    }
    assert_429_json(token_post(&app, &a, Some("203.0.113.77")).await).await;
}

/// The pages a person types into: the authorization endpoint, the phone page and the app's code
/// form answer 429 with a page in the person's language and Retry-After.
#[tokio::test]
async fn pages_are_rate_limited_with_a_readable_page() {
    let app = TestApp::spawn_with(limits(|l| {
        l.phone_per_ip = 2;
        l.app_code_per_ip = 1;
    }))
    .await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    for _ in 0..2 {
        let r = app.submit_phone(&login, "+32 499 99 99 99").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = app.submit_phone(&login, JAN).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.expect("page").contains("Too many attempts"));

    let app = TestApp::spawn_with(limits(|l| l.app_code_per_ip = 1)).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let (_, app_url) = app.wait_for_app(&login, ELS).await;
    assert!(type_code(&app, &app_url, "00000").await.contains(WRONG));
    let r = reqwest::Client::new()
        .post(app.url(&app_url))
        .header("accept-language", "nl")
        .form(&[("decision", "approve"), ("code", "24680")])
        .send()
        .await
        .expect("code");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.expect("page").contains("Te veel pogingen"));

    let app = TestApp::spawn_with(limits(|l| l.authorize_per_ip = 1)).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.begin(&client, "openid").await;
    let r = app
        .browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[("client_id", client.id.as_str())])
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
}

/// A userinfo error caused by a parameter whose name is not ASCII still carries its challenge
/// (found by schemathesis: the header could not hold the name).
#[tokio::test]
async fn userinfo_errors_keep_their_challenge_whatever_the_parameter_names() {
    let app = TestApp::spawn().await;
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/userinfo"))
        .bearer_auth("x")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%C3%A9%0A=1&%C3%A9%0A=2")
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let challenge = resp.headers()["www-authenticate"].to_str().expect("ascii");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("invalid_request"));
}

/// Item 9: logins, tokens, refusals, client and key changes are audit events in the database,
/// with a keyed hash for the person and nothing personal.
#[tokio::test]
async fn the_audit_trail_records_what_happened_and_nothing_personal() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid profile nin", JAN).await;
    let code = q["code"].clone();
    let tokens: Value = app
        .redeem(&client, &code, &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    let id_token =
        passerelle_jose::peek_payload(tokens["id_token"].as_str().expect("id")).expect("claims");
    let sub = id_token["sub"].as_str().expect("sub").to_string();
    app.clock.advance(2);
    app.redeem(&client, &code, &login.verifier).await; // a replay: revokes
    let wrong = TestClient {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    app.redeem(&wrong, "x", "y").await; // invalid_client
    // Three wrong codes block a person.
    let blocked = app.begin(&client, "openid").await;
    let (_, app_url) = app.wait_for_app(&blocked, ELS).await;
    for _ in 0..3 {
        type_code(&app, &app_url, "00000").await;
    }
    // A person who refuses, and a request refused before any login.
    let (_, q) = app.login(&client, "openid", "+32470000004").await;
    assert_eq!(q["error"], "access_denied");
    let (_, challenge) = pkce();
    let refused = app
        .browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "profile"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(refused.status(), StatusCode::FOUND);
    assert!(
        app.store
            .delete_client(&client.id, app.clock_now())
            .await
            .expect("db")
    );

    // Events outside a transaction are written by the audit queue's writer, a moment later.
    let mut events = Vec::new();
    for _ in 0..100 {
        events = app.store.audit_events(0, None, 1000).await.expect("audit");
        if events.iter().any(|e| e.kind == "login.failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.outcome.as_str()))
        .collect();
    for expected in [
        ("key.created", "ok"),
        ("client.added", "ok"),
        ("login.approved", "ok"),
        ("token.issued", "ok"),
        ("code.replayed", "tokens_revoked"),
        ("token.refused", "invalid_grant"),
        ("sandbox.account_blocked", "wrong_code"),
        ("login.failed", "access_denied"),
        ("client.removed", "ok"),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    // What anyone can send without credentials, or before a login exists, is counted in
    // /metrics, never written to the trail (it would let strangers fill it).
    assert!(!kinds.contains(&("token.refused", "invalid_client")));
    assert!(!kinds.iter().any(|(k, _)| k.starts_with("login.refused")));
    let approved = events
        .iter()
        .find(|e| e.kind == "login.approved")
        .expect("approved");
    let issued = events
        .iter()
        .find(|e| e.kind == "token.issued")
        .expect("issued");
    assert_eq!(approved.client_id.as_deref(), Some(client.id.as_str()));
    assert_eq!(approved.service.as_deref(), Some("identification"));
    assert!(approved.subject.is_some());
    assert_eq!(approved.subject, issued.subject, "one person, one hash");
    // Nothing personal, secret or redeemable in the trail.
    let all = serde_json::to_string(&events).expect("json");
    for secret in [
        sub.as_str(),
        code.as_str(),
        tokens["access_token"].as_str().expect("at"),
        client.secret.as_str(),
        JAN,
        "470000001",
        ELS,
        "85073001744",
        "Peeters",
    ] {
        assert!(
            !all.contains(secret),
            "{secret} leaked into the audit trail"
        );
    }
    // Retention.
    let later = app.clock_now() + 400 * 86_400;
    assert!(app.store.delete_audit_before(later).await.expect("db") >= 10);
    assert_eq!(app.store.count_rows("audit_events").await.expect("n"), 0);
}

// From the attacker-style review of issue 5: each failed on the reviewed commit.
/// Anyone can name a client at the token endpoint without its secret. Those requests must not
/// use up the budget of the client itself, or a stranger who knows a client_id (it is in every
/// authorization URL) keeps that client from redeeming any code.
#[tokio::test]
async fn a_stranger_naming_a_client_does_not_use_up_its_token_budget() {
    let app = TestApp::spawn_with(limits(|l| l.token_per_client = 5)).await;
    let victim = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for _ in 0..10 {
        // No secret at all: only the client_id, as anyone can send it.
        let resp = reqwest::Client::new()
            .post(app.url("/auth/open/connect/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", victim.id.as_str()),
            ])
            .send()
            .await
            .expect("token");
        assert_ne!(resp.status(), StatusCode::OK);
    }
    let (login, q) = app.login(&victim, "openid", JAN).await;
    let resp = app.redeem(&victim, &q["code"], &login.verifier).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "the client's own authenticated redemption was refused because strangers named it"
    );
}

/// The same at the sandbox's token endpoint: the per-client limit is keyed by the unverified
/// `iss` of the assertion, and the sandbox has one client, the embedded connector, so strangers
/// sending unsigned assertions with `iss: passerelle` make every login fail at the callback.
#[tokio::test]
async fn strangers_cannot_exhaust_the_embedded_connector_budget_at_the_sandbox() {
    let app = TestApp::spawn_with(limits(|l| l.sandbox_token_per_client = 5)).await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let forged = format!(
        "{}.{}.AAAA",
        b64(r#"{"alg":"RS256"}"#),
        b64(r#"{"iss":"passerelle"}"#)
    );
    for _ in 0..10 {
        reqwest::Client::new()
            .post(app.url("/sandbox/v2/token"))
            .form(&[("client_assertion", forged.as_str())])
            .send()
            .await
            .expect("sandbox token");
    }
    let (_, q) = app.login(&client, "openid", JAN).await;
    assert!(
        q.contains_key("code"),
        "the login failed because strangers used up the connector's budget: {q:?}"
    );
}

/// Fail closed at every step: a code the sandbox answered for a production client while the
/// test-deployment switch was on must not be redeemed by a node on which it is off.
#[tokio::test]
async fn a_production_code_from_a_test_deployment_is_not_redeemed_once_the_switch_is_off() {
    let app = TestApp::spawn_test_deployment().await;
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let (login, q) = app.login(&client, "openid", JAN).await;
    let mut app = app;
    app.options.test_deployment = false;
    let node = app.second_node().await;
    let resp = node.redeem(&client, &q["code"], &login.verifier).await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "a node that refuses production clients must not issue tokens vouched for by the sandbox"
    );
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": "this Passerelle no longer serves this client with the scheme that answered the login",
        })
    );
}

/// A token from a login the sandbox answered for a production client stops working at userinfo
/// when the test deployment ends (review finding 6).
#[tokio::test]
async fn a_production_token_from_a_test_deployment_dies_with_the_switch() {
    let app = TestApp::spawn_test_deployment().await;
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let (login, q) = app.login(&client, "openid", JAN).await;
    let tokens: Value = app
        .redeem(&client, &q["code"], &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(userinfo_status(&app, &tokens).await, StatusCode::OK);
    let mut app = app;
    app.options.test_deployment = false;
    let app = app.restart().await;
    assert_eq!(
        userinfo_status(&app, &tokens).await,
        StatusCode::UNAUTHORIZED
    );
}

/// One sandbox action per request object: a reload of the phone page shows the same action, a
/// replay after the phone number was given gets nothing (review finding 3).
#[tokio::test]
async fn a_request_object_makes_one_sandbox_action() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let again = login
        .browser
        .get(&login.scheme_url)
        .send()
        .await
        .expect("reload");
    assert_eq!(again.status(), StatusCode::OK);
    let page = again.text().await.expect("page");
    assert_eq!(
        html_attr(&page, "<form method=\"post\"", "action"),
        html_attr(&login.phone_page, "<form method=\"post\"", "action"),
        "a reload shows the same action"
    );
    assert_eq!(app.store.count_rows("sandbox_actions").await.expect("n"), 1);
    app.submit_phone(&login, "+32470000007").await;
    let replay = app
        .browser()
        .get(&login.scheme_url)
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.expect("page").contains("already used"));
    assert_eq!(app.store.count_rows("sandbox_actions").await.expect("n"), 1);
}

/// Audit events still queued when the server stops are written before it closes the database.
#[tokio::test]
async fn queued_audit_events_are_written_at_shutdown() {
    let mut app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (_, q) = app.login(&client, "openid", JAN).await;
    assert!(q.contains_key("code"));
    app.stop().await;
    let store = passerelle::app::open_store(&app.database_url)
        .await
        .expect("store");
    let events = store.audit_events(0, None, 1000).await.expect("audit");
    assert!(
        events.iter().any(|e| e.kind == "login.approved"),
        "{events:?}"
    );
    store.close().await;
}
