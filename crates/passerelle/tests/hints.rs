//! What a relying party may say about the login it wants (OIDC Core §3.1.2.1): `prompt`,
//! `id_token_hint`, `display`, `acr_values`, and that discovery lists exactly these values.

mod common;

use common::*;
use serde_json::Value;

const JAN: &str = "+32470000001"; // approves
const MARIE: &str = "+32470000002"; // approves, another person

/// A full login's ID token (raw) for `phone`.
async fn id_token_of(app: &TestApp, client: &TestClient, phone: &str) -> String {
    let (login, q) = app.login(client, "openid", phone).await;
    let resp = app
        .redeem(client, q.get("code").expect("code"), &login.verifier)
        .await;
    let tokens: Value = resp.json().await.expect("json");
    tokens["id_token"].as_str().expect("id_token").to_string()
}

/// The authorization endpoint's answer to a request with `extra` parameters, when it is an
/// error sent back to the client: its query.
async fn refused(
    app: &TestApp,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> std::collections::HashMap<String, String> {
    let (_, challenge) = pkce();
    let resp = app
        .browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            ("state", "s1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .query(extra)
        .send()
        .await
        .expect("authorize");
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let to = location(&resp);
    assert!(to.starts_with(RP_CALLBACK), "{to}");
    query_of(&to)
}

#[tokio::test]
async fn every_prompt_value_itsme_can_honour_logs_in_and_others_are_refused() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for prompt in ["login", "consent", "select_account", "login consent"] {
        let login = app
            .begin_with(
                &client,
                "openid",
                &[("prompt", prompt), ("display", "page")],
            )
            .await;
        let resp = app.submit_phone(&login, JAN).await;
        let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
        assert!(query_of(&rp).contains_key("code"), "{prompt}: {rp}");
    }
    let q = refused(&app, &client, &[("prompt", "create")]).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("prompt"));
    assert_eq!(q["state"], "s1");
    let q = refused(&app, &client, &[("prompt", "none")]).await;
    assert_eq!(q["error"], "login_required");
    let q = refused(&app, &client, &[("acr_values", "idp:mitid")]).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("idp:itsme"));
}

#[tokio::test]
async fn an_id_token_hint_lets_only_its_person_complete_the_login() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let hint = id_token_of(&app, &client, JAN).await;
    // Long expired: a hint only names the person.
    app.clock.advance(3 * 3600);

    // The same person: a code, and the same subject.
    let login = app
        .begin_with(&client, "openid", &[("id_token_hint", hint.as_str())])
        .await;
    let resp = app.submit_phone(&login, JAN).await;
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    let q = query_of(&rp);
    let tokens: Value = app
        .redeem(&client, q.get("code").expect("code"), &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    let again = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;
    let first = passerelle_jose::peek_payload(&hint).expect("payload");
    assert_eq!(again["sub"], first["sub"]);

    // Another person approves: no code, login_required, with the state.
    let login = app
        .begin_with(&client, "openid", &[("id_token_hint", hint.as_str())])
        .await;
    let resp = app.submit_phone(&login, MARIE).await;
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    let q = query_of(&rp);
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("login_required"),
        "{rp}"
    );
    assert!(!q.contains_key("code"));
    assert_eq!(q.get("state"), Some(&login.state));
}

#[tokio::test]
async fn a_hint_that_is_not_our_id_token_for_this_client_is_refused() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let other = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let foreign = id_token_of(&app, &other, JAN).await;
    // Another client's ID token, a forged one (payload changed), and noise.
    let mut parts: Vec<String> = foreign.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    let forged = parts.join(".");
    for hint in [foreign.as_str(), forged.as_str(), "x.y.z", "garbage"] {
        let q = refused(&app, &client, &[("id_token_hint", hint)]).await;
        assert_eq!(q["error"], "invalid_request", "{hint}");
        assert!(q["error_description"].contains("id_token_hint"));
    }
}

#[tokio::test]
async fn discovery_lists_the_values_that_are_honoured() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        doc["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent", "select_account"])
    );
    assert_eq!(
        doc["display_values_supported"],
        serde_json::json!(["page", "touch"])
    );
    let acr: Vec<&str> = doc["acr_values_supported"]
        .as_array()
        .expect("acr")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(acr.contains(&"idp:itsme") && acr.contains(&"loa:high"));
}
