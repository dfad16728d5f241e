//! What developers and attackers get for bad input: standard errors, never a panic or a 500.

mod common;

use common::*;
use passerelle_jose::{Claims, SigAlg, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001";

async fn authorize(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    app.browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(params)
        .send()
        .await
        .expect("authorize")
}

#[tokio::test]
async fn untrusted_clients_and_redirect_uris_get_a_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (_, ch) = pkce();
    for params in [
        vec![
            ("client_id", "nobody"),
            ("redirect_uri", RP_CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ],
        vec![
            ("client_id", client.id.as_str()),
            ("redirect_uri", "https://evil.example/cb"),
            ("response_type", "code"),
            ("scope", "openid"),
        ],
        vec![
            ("client_id", client.id.as_str()),
            ("redirect_uri", "https://rp.example/callback/"),
            ("response_type", "code"),
        ],
        vec![
            ("client_id", client.id.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("code_challenge", ch.as_str()),
        ],
        vec![("redirect_uri", RP_CALLBACK)],
    ] {
        let resp = authorize(&app, &params).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(resp.headers().get("location").is_none());
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .expect("ct")
                .starts_with("text/html")
        );
        assert!(resp.text().await.expect("body").contains("<h1>"));
    }
    // A repeated parameter is refused before anything else.
    let url = format!(
        "{}/auth/open/connect/authorize?client_id={}&client_id=x",
        app.base, client.id
    );
    assert_eq!(
        app.browser()
            .get(url)
            .send()
            .await
            .expect("authorize")
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn authorization_errors_are_redirected_with_state_and_iss() {
    let app = TestApp::spawn_test_deployment().await;
    let client = app
        .add_client("production", "client_secret_basic", &["nationality"])
        .await;
    let (_, ch) = pkce();
    let base = |scope: &'static str| {
        vec![
            ("client_id", client.id.clone()),
            ("redirect_uri", RP_CALLBACK.to_string()),
            ("response_type", "code".to_string()),
            ("scope", scope.to_string()),
            ("state", "s-1".to_string()),
            ("code_challenge", ch.clone()),
            ("code_challenge_method", "S256".to_string()),
        ]
    };
    // (parameters, expected error, a word the description must contain)
    type Case = (Vec<(&'static str, String)>, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        (base("openid nin"), "invalid_scope", "'nin'"),
        (base("profile"), "invalid_scope", "openid"),
        (
            base("openid")
                .into_iter()
                .filter(|(k, _)| *k != "code_challenge")
                .collect(),
            "invalid_request",
            "PKCE",
        ),
        (
            base("openid")
                .into_iter()
                .map(|(k, v)| {
                    if k == "code_challenge_method" {
                        (k, "plain".into())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            "invalid_request",
            "S256",
        ),
        (
            base("openid")
                .into_iter()
                .map(|(k, v)| {
                    if k == "response_type" {
                        (k, "token".into())
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            "unsupported_response_type",
            "code",
        ),
        (
            [base("openid"), vec![("prompt", "none".into())]].concat(),
            "login_required",
            "itsme",
        ),
        (
            [base("openid"), vec![("request", "eyJ.x.y".into())]].concat(),
            "invalid_request_object",
            "not a JWT",
        ),
        (
            [base("openid"), vec![("acr_values", "idp:mitid".into())]].concat(),
            "invalid_request",
            "idp:itsme",
        ),
    ];
    for (params, error, needle) in cases {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = authorize(&app, &pairs).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{pairs:?}");
        let q = query_of(&location(&resp));
        assert_eq!(q["error"], error, "{pairs:?}");
        assert!(q["error_description"].contains(needle), "{q:?}");
        assert_eq!(q["state"], "s-1");
        assert_eq!(q["iss"], app.issuer);
    }
    // The granted protected scope, and the accepted acr_values, go through.
    let ok = [
        base("openid nationality"),
        vec![("acr_values", "idp:itsme loa:high".into())],
    ]
    .concat();
    let pairs: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = authorize(&app, &pairs).await;
    assert!(location(&resp).starts_with(&format!("{}/sandbox/v2/authorization", app.base)));
}

#[tokio::test]
async fn grants_take_effect_without_a_restart() {
    let app = TestApp::spawn_test_deployment().await;
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let (_, ch) = pkce();
    let params = [
        ("client_id", client.id.as_str()),
        ("redirect_uri", RP_CALLBACK),
        ("response_type", "code"),
        ("scope", "openid nin"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    assert_eq!(
        query_of(&location(&authorize(&app, &params).await))["error"],
        "invalid_scope"
    );
    app.set_grants(&client, &["nin"]).await;
    let (_, userinfo) = app.full_login(&client, "openid nin", JAN).await;
    assert_eq!(userinfo["nin"], "85073001744");
}

async fn code_for(app: &TestApp, client: &TestClient) -> (String, String) {
    let (login, q) = app.login(client, "openid profile", JAN).await;
    (q["code"].clone(), login.verifier)
}

#[tokio::test]
async fn codes_are_single_use_and_a_replay_revokes_the_tokens() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (code, verifier) = code_for(&app, &client).await;
    let first: Value = app
        .redeem(&client, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    let at = first["access_token"].as_str().expect("at").to_string();
    let userinfo = |token: String| {
        let url = app.url("/auth/open/connect/userinfo");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("userinfo")
        }
    };
    assert_eq!(userinfo(at.clone()).await.status(), StatusCode::OK);
    // Long after the code's own 60 s, a replay is still recognised while its tokens live.
    app.clock.advance(120);
    app.store
        .delete_expired(app.clock_now())
        .await
        .expect("housekeeping");
    let again = app.redeem(&client, &code, &verifier).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        again.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    assert_eq!(
        userinfo(at).await.status(),
        StatusCode::UNAUTHORIZED,
        "tokens from a replayed code are revoked"
    );
}

/// Issue 5, defect 3: a code presented many times at once has exactly one winner, whose tokens
/// keep working; every other presentation gets `invalid_grant`; a later replay revokes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_presented_twenty_times_at_once_has_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for round in 0..15 {
        let (code, verifier) = code_for(&app, &client).await;
        let mut presentations = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (url, client, code, verifier) = (
                app.url("/auth/open/connect/token"),
                client.clone(),
                code.clone(),
                verifier.clone(),
            );
            presentations.spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .basic_auth(&client.id, Some(&client.secret))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", RP_CALLBACK),
                        ("code_verifier", verifier.as_str()),
                    ])
                    .send()
                    .await
                    .expect("token")
            });
        }
        let mut tokens = Vec::new();
        while let Some(resp) = presentations.join_next().await {
            let resp = resp.expect("task");
            if resp.status() == StatusCode::OK {
                tokens.push(resp.json::<Value>().await.expect("json"));
            } else {
                assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "round {round}");
                assert_eq!(
                    resp.json::<Value>().await.expect("json")["error"],
                    "invalid_grant",
                    "round {round}"
                );
            }
        }
        assert_eq!(tokens.len(), 1, "round {round}: exactly one winner");
        let winner = &tokens[0];
        assert_eq!(
            userinfo_status(&app, winner).await,
            StatusCode::OK,
            "round {round}: the winner's tokens survive the race"
        );
        // Presented again right away, it is still part of the race (a double submit).
        let again = app.redeem(&client, &code, &verifier).await;
        assert_eq!(
            again.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
        assert_eq!(userinfo_status(&app, winner).await, StatusCode::OK);
        // A replay a second later is a replay: refused, and the winner's tokens are revoked.
        app.clock.advance(1);
        let replay = app.redeem(&client, &code, &verifier).await;
        assert_eq!(
            replay.json::<Value>().await.expect("json")["error"],
            "invalid_grant"
        );
        assert_eq!(
            userinfo_status(&app, winner).await,
            StatusCode::UNAUTHORIZED,
            "round {round}: a later replay revokes"
        );
    }
}

/// RFC 7636 §4.6: a code issued with a challenge and presented without a verifier is a failed
/// verification (`invalid_grant`), and the code is used up.
#[tokio::test]
async fn a_missing_code_verifier_is_invalid_grant_and_uses_up_the_code() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (code, verifier) = code_for(&app, &client).await;
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", RP_CALLBACK),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("code_verifier")
    );
    let retry = app.redeem(&client, &code, &verifier).await;
    assert_eq!(
        retry.json::<Value>().await.expect("json")["error"],
        "invalid_grant",
        "a refused presentation uses the code up"
    );
}

#[tokio::test]
async fn codes_expire_after_sixty_seconds_and_need_the_right_verifier() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (code, verifier) = code_for(&app, &client).await;
    app.clock.advance(61);
    let resp = app.redeem(&client, &code, &verifier).await;
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    let (code, _) = code_for(&app, &client).await;
    let (_, wrong) = pkce();
    let resp = app.redeem(&client, &code, &wrong).await;
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("code_verifier")
    );
    // Another client cannot redeem someone else's code.
    let other = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (code, verifier) = code_for(&app, &client).await;
    assert_eq!(
        app.redeem(&other, &code, &verifier)
            .await
            .json::<Value>()
            .await
            .expect("json")["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn client_authentication_errors() {
    let app = TestApp::spawn().await;
    let basic = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let post = app.add_client("sandbox", "client_secret_post", &[]).await;
    let token = app.url("/auth/open/connect/token");
    let http = reqwest::Client::new();
    let wrong = http
        .post(&token)
        .basic_auth(&basic.id, Some("nope"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .expect("h")
            .starts_with("Basic")
    );
    assert_eq!(
        wrong.json::<Value>().await.expect("json")["error"],
        "invalid_client"
    );
    // Basic and post carry the same secret: a client registered for one may use the other (the
    // request then fails on its missing parameters, not on client authentication).
    let either = http
        .post(&token)
        .basic_auth(&post.id, Some(&post.secret))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(
        either.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
    let none = http
        .post(&token)
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    // client_secret_post works end to end.
    let (login, q) = app.login(&post, "openid", JAN).await;
    let ok = http
        .post(&token)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("code_verifier", login.verifier.as_str()),
            ("client_id", post.id.as_str()),
            ("client_secret", post.secret.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(ok.status(), StatusCode::OK);
    // Grant type and malformed bodies.
    let grant = http
        .post(&token)
        .basic_auth(&basic.id, Some(&basic.secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("token");
    assert_eq!(
        grant.json::<Value>().await.expect("json")["error"],
        "unsupported_grant_type"
    );
    let garbage = http
        .post(&token)
        .basic_auth(&basic.id, Some(&basic.secret))
        .body("%%%&&&=\u{0}")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect("token");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let bad_basic = http
        .post(&token)
        .header("authorization", "Basic !!!")
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .expect("token");
    assert_eq!(bad_basic.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn private_key_jwt_and_es256_id_tokens() {
    let app = TestApp::spawn().await;
    let (key, _) = SigningKey::generate(SigAlg::Es256).expect("key");
    let jwks = passerelle_jose::jwks_json([key.public_jwk()]).to_string();
    let client = app
        .add_client_with("sandbox", "private_key_jwt", &[], "ES256", Some(jwks))
        .await;
    let assertion = |jti: &str, aud: Value| {
        let mut c = Claims::new();
        for (k, v) in [
            ("iss", json!(client.id)),
            ("sub", json!(client.id)),
            ("aud", aud),
            ("jti", json!(jti)),
            ("exp", json!(T0 + 60)),
            ("iat", json!(T0)),
        ] {
            c.insert(k.into(), v);
        }
        key.sign(&c, None).expect("sign")
    };
    let token_url = app.url("/auth/open/connect/token");
    let (login, q) = app.login(&client, "openid profile", JAN).await;
    let form = |code: &str, a: String| {
        vec![
            ("grant_type".to_string(), "authorization_code".to_string()),
            ("code".into(), code.to_string()),
            ("redirect_uri".into(), RP_CALLBACK.into()),
            ("code_verifier".into(), login.verifier.clone()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), a),
        ]
    };
    let http = reqwest::Client::new();
    let not_yet = {
        let mut c = Claims::new();
        for (k, v) in [
            ("iss", json!(client.id)),
            ("sub", json!(client.id)),
            ("aud", json!(app.issuer)),
            ("jti", json!("j-nbf")),
            ("exp", json!(T0 + 900)),
            ("nbf", json!(T0 + 600)),
        ] {
            c.insert(k.into(), v);
        }
        key.sign(&c, None).expect("sign")
    };
    let early = http
        .post(&token_url)
        .form(&form(&q["code"], not_yet))
        .send()
        .await
        .expect("token");
    assert_eq!(early.status(), StatusCode::UNAUTHORIZED);
    assert!(early.headers().contains_key("www-authenticate"));
    let body: Value = early.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("nbf")
    );
    // Issue 5, defect 2: the audience is the issuer identifier as one string; an array holding
    // it, the token endpoint's URL or anything else is refused (audience injection, RFC 7523bis).
    for (jti, aud) in [
        ("j0", json!("https://elsewhere")),
        ("j0a", json!([app.issuer])),
        ("j0b", json!([app.issuer, "https://elsewhere"])),
        ("j0c", json!(token_url)),
        ("j0d", json!({"aud": app.issuer})),
    ] {
        let wrong_aud = http
            .post(&token_url)
            .form(&form(&q["code"], assertion(jti, aud.clone())))
            .send()
            .await
            .expect("token");
        assert_eq!(wrong_aud.status(), StatusCode::UNAUTHORIZED, "{aud}");
        let body: Value = wrong_aud.json().await.expect("json");
        assert_eq!(body["error"], "invalid_client", "{aud}");
        assert!(
            body["error_description"]
                .as_str()
                .expect("d")
                .contains("aud")
        );
    }
    let ok = http
        .post(&token_url)
        .form(&form(&q["code"], assertion("j1", json!(app.issuer))))
        .send()
        .await
        .expect("token");
    assert_eq!(ok.status(), StatusCode::OK);
    let tokens: Value = ok.json().await.expect("json");
    let id_token = tokens["id_token"].as_str().expect("id_token");
    assert_eq!(
        passerelle_jose::peek_header(id_token).expect("header")["alg"],
        "ES256"
    );
    app.verify_id_token(id_token, &client.id).await;
    // The same assertion cannot be used twice.
    let (login2, q2) = app.login(&client, "openid", JAN).await;
    let mut f = form(&q2["code"], assertion("j1", json!(app.issuer)));
    f[3].1 = login2.verifier.clone();
    let replay = http.post(&token_url).form(&f).send().await.expect("token");
    let body: Value = replay.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .expect("d")
            .contains("jti")
    );
}

#[tokio::test]
async fn userinfo_errors_follow_rfc_6750() {
    let app = TestApp::spawn().await;
    let url = app.url("/auth/open/connect/userinfo");
    let http = reqwest::Client::new();
    let none = http.get(&url).send().await.expect("userinfo");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"passerelle\""
    );
    let bad = http
        .get(&url)
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("userinfo");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .expect("h")
            .contains("error=\"invalid_token\"")
    );
    // A token in the POST body works too (RFC 6750 §2.2), and the scheme is case-insensitive.
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (code, verifier) = code_for(&app, &client).await;
    let tokens: Value = app
        .redeem(&client, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(
        http.post(&url)
            .form(&[("access_token", at)])
            .send()
            .await
            .expect("u")
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        http.get(&url)
            .header("authorization", format!("bEaReR {at}"))
            .send()
            .await
            .expect("u")
            .status(),
        StatusCode::OK
    );
    // Access tokens expire with the attributes they carry.
    app.clock.advance(601);
    assert_eq!(
        http.get(&url)
            .bearer_auth(at)
            .send()
            .await
            .expect("u")
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn housekeeping_deletes_expired_rows_a_batch_at_a_time_until_none_is_left() {
    let app = TestApp::spawn().await;
    // Judged at `later`, so that the server's own housekeeping, which reads the clock, leaves
    // them alone: more than two batches of 500 expired, and some still live.
    let now = app.clock_now();
    let later = now + 20;
    for i in 0..1203 {
        assert!(
            app.store
                .insert_jti("test", &format!("old-{i}"), now + 10)
                .await
                .expect("jti")
        );
    }
    for i in 0..7 {
        assert!(
            app.store
                .insert_jti("test", &format!("live-{i}"), now + 60)
                .await
                .expect("jti")
        );
    }
    assert_eq!(app.store.delete_expired(later).await.expect("delete"), 1203);
    assert_eq!(app.store.count_rows("used_jtis").await.expect("count"), 7);
}

#[tokio::test]
async fn housekeeping_deletes_what_expired() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (code, verifier) = code_for(&app, &client).await;
    app.redeem(&client, &code, &verifier).await;
    let _abandoned = app.begin(&client, "openid").await;
    for table in [
        "access_tokens",
        "authorization_codes",
        "login_transactions",
        "sandbox_actions",
    ] {
        assert!(
            app.store.count_rows(table).await.expect("count") > 0,
            "{table}"
        );
    }
    app.clock.advance(3600);
    assert!(
        app.store
            .delete_expired(app.clock_now())
            .await
            .expect("delete")
            > 0
    );
    for table in [
        "access_tokens",
        "authorization_codes",
        "login_transactions",
        "sandbox_actions",
        "sandbox_tokens",
        "used_jtis",
    ] {
        assert_eq!(
            app.store.count_rows(table).await.expect("count"),
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn hostile_input_never_produces_a_server_error() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let http = app.browser();
    let long = "a".repeat(5000);
    let probes: Vec<(reqwest::Method, String, Option<String>)> = vec![
        (reqwest::Method::GET, "/auth/open/connect/authorize?%ff%fe=%00".into(), None),
        (reqwest::Method::GET, format!("/auth/open/connect/authorize?client_id={long}"), None),
        (reqwest::Method::POST, "/auth/open/connect/authorize".into(), Some("client_id=%zz".into())),
        (reqwest::Method::GET, "/auth/open/connect/itsme/callback".into(), None),
        (reqwest::Method::GET, "/auth/open/connect/itsme/callback?state=nope&code=x".into(), None),
        (reqwest::Method::GET, "/sandbox/v2/authorization?client_id=passerelle&request=a.b.c.d.e".into(), None),
        (reqwest::Method::GET, "/sandbox/v2/authorization?client_id=passerelle&redirect_uri=x".into(), None),
        (reqwest::Method::POST, "/sandbox/v2/token".into(), Some("grant_type=authorization_code&code=x".into())),
        (reqwest::Method::POST, "/sandbox/v2/token".into(), Some("client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=e30.e30.x".into())),
        (reqwest::Method::GET, "/sandbox/v2/userinfo".into(), None),
        (reqwest::Method::GET, "/sandbox/v2/actions/unknown/wait".into(), None),
        (reqwest::Method::POST, "/sandbox/v2/actions/unknown/phone".into(), Some("phone=1".into())),
        (reqwest::Method::GET, "/sandbox/v2/app/actions/unknown".into(), None),
        (reqwest::Method::POST, "/sandbox/v2/app/actions/unknown".into(), Some("decision=approve&code=1".into())),
        (reqwest::Method::POST, "/auth/open/connect/token".into(), Some("a".repeat(200_000))),
        // PostgreSQL text cannot hold NUL: a client id with one must be unknown, not a 500.
        (reqwest::Method::GET, "/auth/open/connect/authorize?client_id=a%00b".into(), None),
        (reqwest::Method::POST, "/auth/open/connect/token".into(), Some("grant_type=authorization_code&client_id=a%00b&client_secret=x".into())),
        (reqwest::Method::POST, "/auth/open/connect/token".into(), Some("client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhXHUwMDAwYiJ9.x".into())),
        // Nor a NUL anywhere else a client or a browser can put one.
        (reqwest::Method::GET, format!("/auth/open/connect/authorize?client_id={}&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&response_type=code&scope=openid&state=a%00b", client.id), None),
        (reqwest::Method::GET, "/auth/open/connect/itsme/callback?state=a%00b&code=x".into(), None),
        (reqwest::Method::GET, "/sandbox/v2/actions/a%00b/wait".into(), None),
        (reqwest::Method::POST, "/sandbox/v2/actions/a%00b/phone".into(), Some("phone=1".into())),
        (reqwest::Method::GET, "/sandbox/v2/app/actions/a%00b".into(), None),
        (reqwest::Method::POST, "/auth/open/connect/userinfo".into(), Some("access_token=a%00b".into())),
        (reqwest::Method::GET, "/nothing/here".into(), None),
    ];
    for (method, path, body) in probes {
        let mut req = http
            .request(method.clone(), app.url(&path))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request");
        assert!(
            resp.status().is_client_error(),
            "{method} {path} → {}",
            resp.status()
        );
    }
    let basic_with_nul = http
        .post(app.url("/auth/open/connect/token"))
        .basic_auth("a\0b", Some("x"))
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .expect("token");
    assert_eq!(basic_with_nul.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn discovery_advertises_what_is_implemented() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(doc["issuer"], app.issuer);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/connect/authorize", app.issuer)
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/openid-configuration/jwks", app.issuer)
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["subject_types_supported"], json!(["pairwise"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["request_parameter_supported"], true);
    for scope in [
        "openid",
        "nin",
        "itsme-eid",
        "place-of-birth",
        "nationality",
        "itsme-validity",
        "itsme-issuance-locality",
    ] {
        assert!(
            doc["scopes_supported"]
                .as_array()
                .expect("scopes")
                .contains(&json!(scope)),
            "{scope}"
        );
    }
    let jwks: Value = reqwest::get(doc["jwks_uri"].as_str().expect("uri"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    // Three signing keys (RS256, PS256, ES256) and the request-object encryption key.
    assert_eq!(keys.len(), 4);
    assert!(
        keys.iter()
            .all(|k| k.get("d").is_none() && k["kid"].is_string())
    );
    assert_eq!(keys.iter().filter(|k| k["use"] == "sig").count(), 3);
    assert_eq!(
        keys.iter()
            .filter(|k| k["use"] == "enc" && k["alg"] == "RSA-OAEP-256")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_front_page_and_the_test_people_page_help_a_person_start() {
    let app = TestApp::spawn().await;
    let front = reqwest::get(app.url("/")).await.expect("get");
    assert_eq!(front.status(), StatusCode::OK);
    // Issue 5, item 7: the front page is defended like the flow pages.
    let header = |name: &str| {
        front
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("x-frame-options"), "DENY");
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert!(header("content-security-policy").contains("default-src 'none'"));
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let html = front.text().await.expect("body");
    assert!(html.contains(&format!("{}/.well-known/openid-configuration", app.issuer)));
    let people = reqwest::get(app.url("/sandbox/v2/personas"))
        .await
        .expect("get");
    assert_eq!(people.status(), StatusCode::OK);
    let html = people.text().await.expect("body");
    for needle in [
        "+32470000007",
        "24680",
        "manual",
        "Vermeulen",
        "+31600000001",
        "NL",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert_eq!(
        reqwest::get(app.url("/healthz"))
            .await
            .expect("get")
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn attributes_leave_a_code_at_redemption_or_when_it_can_no_longer_be_redeemed() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let claims_of = |code: String| {
        let store = app.store.clone();
        async move {
            store
                .find_code_claims(&passerelle_store::token_hash(&code))
                .await
                .expect("db")
                .expect("row")
        }
    };
    let (redeemed, verifier) = code_for(&app, &client).await;
    let (abandoned, _) = code_for(&app, &client).await;
    assert!(claims_of(redeemed.clone()).await.contains("Peeters"));
    app.redeem(&client, &redeemed, &verifier).await;
    assert_eq!(claims_of(redeemed).await, "{}");
    assert!(claims_of(abandoned.clone()).await.contains("Peeters"));
    app.clock.advance(61);
    app.store
        .clear_stale_code_claims(app.clock_now() - 60)
        .await
        .expect("housekeeping");
    assert_eq!(claims_of(abandoned).await, "{}");
}

#[tokio::test]
async fn the_schemes_code_is_only_good_for_three_minutes() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let callback = app.scheme_callback(&login, JAN).await;
    app.clock.advance(181);
    let resp = login.browser.get(&callback).send().await.expect("callback");
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "server_error", "{q:?}");
    assert_eq!(q["state"], login.state);
}

#[tokio::test]
async fn keys_at_a_jwks_uri_are_fetched_once_not_per_request() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let app = TestApp::spawn().await;
    let (key, _) = SigningKey::generate(SigAlg::Rs256).expect("key");
    let jwks = passerelle_jose::jwks_json([key.public_jwk()]);
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let keys_app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, keys_app).await });
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
    let client = TestClient {
        id: id.clone(),
        secret: String::new(),
    };
    let token_url = app.url("/auth/open/connect/token");
    let assertion = |jti: &str| {
        let mut c = Claims::new();
        for (k, v) in [
            ("iss", json!(id)),
            ("sub", json!(id)),
            ("aud", json!(app.issuer)),
            ("jti", json!(jti)),
            ("exp", json!(T0 + 60)),
        ] {
            c.insert(k.into(), v);
        }
        key.sign(&c, None).expect("sign")
    };
    let http = reqwest::Client::new();
    for n in 0..2 {
        let (login, q) = app.login(&client, "openid", JAN).await;
        let resp = http
            .post(&token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", q["code"].as_str()),
                ("redirect_uri", RP_CALLBACK),
                ("code_verifier", login.verifier.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", assertion(&format!("jti-{n}")).as_str()),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(resp.status(), StatusCode::OK);
    }
    // Forged assertions naming the client cost no fetch either.
    let forged = format!(
        "{}.{}.AAAA",
        base64_url(&json!({"alg": "RS256", "kid": "nope"}).to_string()),
        base64_url(&json!({"iss": id, "sub": id}).to_string())
    );
    for _ in 0..5 {
        let resp = http
            .post(&token_url)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", forged.as_str()),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// The contracts relying parties build on, snapshotted: a change to discovery, the JWKS shape or
/// the error bodies shows up in review as a diff of `tests/snapshots/`.
#[tokio::test]
async fn contracts_are_stable() {
    let app = TestApp::spawn().await;
    let discovery: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let base = app.base.clone();
    let redact = |v: &Value| -> Value {
        serde_json::from_str(&v.to_string().replace(&base, "http://passerelle.test")).expect("json")
    };
    insta::assert_json_snapshot!("discovery", redact(&discovery));
    let jwks: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration/jwks"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    insta::assert_json_snapshot!("jwks", jwks, {
        ".keys[].kid" => "[kid]",
        ".keys[].n" => "[modulus]",
        ".keys[].x" => "[x]",
        ".keys[].y" => "[y]",
    });
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let bad_code = app.redeem(&client, "nope", &pkce().0).await;
    insta::assert_json_snapshot!(
        "token_error_invalid_grant",
        bad_code.json::<Value>().await.expect("json")
    );
    let bad_client = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .expect("token");
    insta::assert_json_snapshot!(
        "token_error_invalid_client",
        bad_client.json::<Value>().await.expect("json")
    );
    let userinfo = reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("userinfo");
    insta::assert_json_snapshot!(
        "userinfo_error_invalid_token",
        userinfo.json::<Value>().await.expect("json")
    );
    let sandbox: Value = reqwest::get(app.url("/sandbox/v2/.well-known/openid-configuration"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    insta::assert_json_snapshot!("sandbox_discovery", redact(&sandbox));
}
