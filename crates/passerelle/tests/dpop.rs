//! DPoP (RFC 9449): tokens bound to the key of the client's proofs, over real HTTP, on the
//! database the suite runs against. Every refusal is checked for its error code and for what
//! it must not give (a token, a userinfo answer).

mod common;

use common::*;
use passerelle_jose::SigAlg;
use reqwest::StatusCode;
use serde_json::Value;

const PHONE: &str = "+32470000001";

const TOKEN: &str = "/auth/open/connect/token";
const USERINFO: &str = "/auth/open/connect/userinfo";

async fn token_request(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(app.url(TOKEN))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_CALLBACK),
            ("code_verifier", verifier),
        ]);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    req.send().await.expect("token")
}

/// Logs in and redeems the code with proofs of `key`, taking the nonce on the way as a DPoP
/// client library does. Returns the token response.
async fn dpop_tokens(app: &TestApp, client: &TestClient, key: &mut DpopKey) -> Value {
    let (login, q) = app.login(client, "openid profile", PHONE).await;
    let code = q.get("code").expect("code");
    // The first proof has no nonce: the server answers use_dpop_nonce with one.
    let first = key.proof(app, "POST", TOKEN, None);
    let (status, error, _, nonce) =
        refusal_of(token_request(app, client, code, &login.verifier, Some(&first)).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    key.nonce = Some(nonce.expect("a DPoP-Nonce header"));
    let resp = token_request(
        app,
        client,
        code,
        &login.verifier,
        Some(&key.proof(app, "POST", TOKEN, None)),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

async fn userinfo_with(
    app: &TestApp,
    scheme: &str,
    token: &str,
    dpop: Option<&str>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(app.url(USERINFO))
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    req.send().await.expect("userinfo")
}

fn challenge(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_dpop_bound_token_works_only_with_proofs_of_its_key() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);
    let tokens = dpop_tokens(&app, &client, &mut key).await;
    assert_eq!(tokens["token_type"], "DPoP");
    let at = tokens["access_token"].as_str().expect("at");

    // With a proof of its key, hashing the token: the person's attributes.
    let ok = userinfo_with(
        &app,
        "DPoP",
        at,
        Some(&key.proof(&app, "GET", USERINFO, Some(at))),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let info: Value = ok.json().await.expect("json");
    assert!(info["sub"].is_string());

    // The same proof again: a replay.
    let proof = key.proof(&app, "GET", USERINFO, Some(at));
    assert_eq!(
        userinfo_with(&app, "DPoP", at, Some(&proof)).await.status(),
        StatusCode::OK
    );
    let replay = userinfo_with(&app, "DPoP", at, Some(&proof)).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&replay).contains("invalid_dpop_proof"),
        "{}",
        challenge(&replay)
    );

    // As a Bearer token: refused, with a DPoP challenge.
    let bearer = userinfo_with(&app, "Bearer", at, None).await;
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&bearer).starts_with("DPoP "),
        "{}",
        challenge(&bearer)
    );
    assert!(challenge(&bearer).contains("invalid_token"));

    // Under DPoP without a proof: told to send one, with a nonce.
    let none = userinfo_with(&app, "DPoP", at, None).await;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(none.headers().contains_key("dpop-nonce"));

    // A proof for another method, another URL, without ath, or by another key.
    let wrong_method = key.proof(&app, "POST", USERINFO, Some(at));
    let wrong_url = key.proof(&app, "GET", TOKEN, Some(at));
    let no_ath = key.proof(&app, "GET", USERINFO, None);
    for (proof, code) in [
        (wrong_method, "invalid_dpop_proof"),
        (wrong_url, "invalid_dpop_proof"),
        (no_ath, "invalid_dpop_proof"),
    ] {
        let resp = userinfo_with(&app, "DPoP", at, Some(&proof)).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(challenge(&resp).contains(code), "{}", challenge(&resp));
    }
    let mut thief = DpopKey::new(SigAlg::Es256);
    thief.nonce = key.nonce.clone();
    let stolen = userinfo_with(
        &app,
        "DPoP",
        at,
        Some(&thief.proof(&app, "GET", USERINFO, Some(at))),
    )
    .await;
    assert_eq!(stolen.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&stolen).contains("invalid_token"),
        "{}",
        challenge(&stolen)
    );
}

#[tokio::test]
async fn a_client_registered_for_dpop_gets_no_token_without_a_good_proof() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.update_client(&client, |c| c.dpop_bound_access_tokens = true)
        .await;
    let (login, q) = app.login(&client, "openid", PHONE).await;
    let code = q.get("code").expect("code");

    // No proof at all.
    let (status, error, _, nonce) =
        refusal_of(token_request(&app, &client, code, &login.verifier, None).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );
    let mut key = DpopKey::new(SigAlg::Rs256);
    key.nonce = nonce;

    // Proofs for another URL, another method, from an hour ago, with a stale nonce, twice
    // the same, or two proofs at once.
    let mut other_url = key.proof(&app, "POST", USERINFO, None);
    let mut get = key.proof(&app, "GET", TOKEN, None);
    let cases = [
        (std::mem::take(&mut other_url), "invalid_dpop_proof"),
        (std::mem::take(&mut get), "invalid_dpop_proof"),
        ("not.a.jwt".to_string(), "invalid_dpop_proof"),
    ];
    for (proof, expected) in cases {
        let (status, error, _, _) =
            refusal_of(token_request(&app, &client, code, &login.verifier, Some(&proof)).await)
                .await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::BAD_REQUEST, expected),
            "{proof}"
        );
    }
    let two = reqwest::Client::new()
        .post(app.url(TOKEN))
        .basic_auth(&client.id, Some(&client.secret))
        .header("DPoP", key.proof(&app, "POST", TOKEN, None))
        .header("DPoP", key.proof(&app, "POST", TOKEN, None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(refusal_of(two).await.1, "invalid_dpop_proof");

    // A nonce from two windows ago is stale: use_dpop_nonce with a fresh one.
    let old = key.proof(&app, "POST", TOKEN, None);
    app.clock.advance(121);
    let (_, error, _, fresh) =
        refusal_of(token_request(&app, &client, code, &login.verifier, Some(&old)).await).await;
    assert_eq!(error, "use_dpop_nonce");
    assert_ne!(fresh, key.nonce);
    app.clock.advance(-121);

    // After all these refusals the code still works for its client with a good proof, once.
    let good = key.proof(&app, "POST", TOKEN, None);
    let resp = token_request(&app, &client, code, &login.verifier, Some(&good)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["token_type"], "DPoP");
    // The proof cannot be replayed for anything.
    let (_, error, _, _) =
        refusal_of(token_request(&app, &client, code, &login.verifier, Some(&good)).await).await;
    assert_eq!(error, "invalid_dpop_proof");
}

#[tokio::test]
async fn bearer_clients_are_unchanged_and_their_tokens_are_not_dpop_tokens() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid", PHONE).await;
    let resp = app
        .redeem(&client, q.get("code").expect("code"), &login.verifier)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["token_type"], "Bearer");
    let at = tokens["access_token"].as_str().expect("at");
    app.userinfo(&tokens).await;
    // A Bearer token presented under the DPoP scheme is not taken.
    let mut key = DpopKey::new(SigAlg::Es256);
    key.nonce = Some("irrelevant".into());
    let resp = userinfo_with(
        &app,
        "DPoP",
        at,
        Some(&key.proof(&app, "GET", USERINFO, Some(at))),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&resp).contains("invalid_token"));
}

#[tokio::test]
async fn a_nonce_from_one_node_is_good_at_another() {
    let app = TestApp::spawn().await;
    let other = app.second_node().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid", PHONE).await;
    let code = q.get("code").expect("code");
    let mut key = DpopKey::new(SigAlg::Es256);
    let (_, error, _, nonce) = refusal_of(
        token_request(
            &app,
            &client,
            code,
            &login.verifier,
            Some(&key.proof(&app, "POST", TOKEN, None)),
        )
        .await,
    )
    .await;
    assert_eq!(error, "use_dpop_nonce");
    key.nonce = nonce;
    // The second node has the same issuer: the proof names the same URL.
    let resp = token_request(
        &other,
        &client,
        code,
        &login.verifier,
        Some(&key.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
}
