//! RP-initiated logout at `<issuer>/connect/endsession`: what one login issued ends, the person
//! goes back only to a registered URI of the right client, and every bad request is a page that
//! says why, never a redirect.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const JAN: &str = "+32470000001";
const BYE: &str = "https://rp.example/bye";
const ENDSESSION: &str = "/auth/open/connect/endsession";

/// A full login's token response.
async fn tokens_of(app: &TestApp, client: &TestClient) -> Value {
    let (login, q) = app.login(client, "openid profile", JAN).await;
    let resp = app
        .redeem(client, q.get("code").expect("code"), &login.verifier)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

async fn end(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    app.browser()
        .get(app.url(ENDSESSION))
        .query(params)
        .send()
        .await
        .expect("endsession")
}

#[tokio::test]
async fn logging_out_ends_that_logins_tokens_and_goes_back_with_the_state() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let tokens = tokens_of(&app, &client).await;
    let other_login = tokens_of(&app, &client).await;
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let claims = app.verify_id_token(id_token, &client.id).await;
    assert!(claims["sid"].is_string());
    assert_eq!(userinfo_status(&app, &tokens).await, StatusCode::OK);

    let resp = end(
        &app,
        &[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", BYE),
            ("state", "st 1"),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), format!("{BYE}?state=st+1"));
    // That login's access token is dead; another login of the same person and client is not.
    assert_eq!(
        userinfo_status(&app, &tokens).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(userinfo_status(&app, &other_login).await, StatusCode::OK);
    // Again, after the ID token expired: still a clean answer.
    app.clock.advance(3600);
    let again = end(&app, &[("id_token_hint", id_token)]).await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_redirect_the_person_is_told_they_are_signed_out() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let tokens = tokens_of(&app, &client).await;
    let resp = app
        .browser()
        .post(app.url(ENDSESSION))
        .header("Accept-Language", "nl")
        .form(&[("id_token_hint", tokens["id_token"].as_str().expect("id"))])
        .send()
        .await
        .expect("endsession");
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert!(
        page.contains("U bent afgemeld bij Test RP sandbox"),
        "{page}"
    );
    assert_eq!(
        userinfo_status(&app, &tokens).await,
        StatusCode::UNAUTHORIZED
    );
    // Nothing at all: signed out, nothing to end.
    let bare = end(&app, &[]).await;
    assert_eq!(bare.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bad_logout_request_is_a_page_and_ends_nothing() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let other = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let tokens = tokens_of(&app, &client).await;
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let mut forged: Vec<String> = id_token.split('.').map(str::to_string).collect();
    forged[2] = forged[2].chars().rev().collect();
    let forged = forged.join(".");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://evil.example/"),
            ],
            "not registered for this client",
        ),
        (
            vec![
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://rp.example/bye?x=1"),
            ],
            "not registered for this client",
        ),
        (
            vec![
                ("id_token_hint", id_token),
                ("client_id", other.id.as_str()),
            ],
            "not the client the id_token_hint was issued to",
        ),
        (vec![("id_token_hint", forged.as_str())], "not an ID token"),
        (vec![("id_token_hint", "garbage")], "not an ID token"),
        (vec![("post_logout_redirect_uri", BYE)], "needs the client"),
        (
            vec![("client_id", "nobody")],
            "No client with this client_id",
        ),
        (vec![("state", "a"), ("state", "b")], "more than once"),
    ];
    for (params, says) in cases {
        let resp = end(&app, &params).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(resp.headers().get("location").is_none());
        let page = resp.text().await.expect("page");
        assert!(page.contains(says), "{params:?}: {page}");
    }
    assert_eq!(userinfo_status(&app, &tokens).await, StatusCode::OK);
    // With client_id alone and a registered URI: back to the client, nothing to end.
    let resp = end(
        &app,
        &[
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", BYE),
        ],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), BYE);
    assert_eq!(userinfo_status(&app, &tokens).await, StatusCode::OK);
}

#[tokio::test]
async fn logging_out_ends_the_refresh_tokens_of_that_login() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let (login, q) = app.login(&client, "openid offline_access", JAN).await;
    let tokens: Value = app
        .redeem(&client, q.get("code").expect("code"), &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    let refresh = |rt: String| {
        let app = &app;
        let client = &client;
        async move {
            reqwest::Client::new()
                .post(app.url("/auth/open/connect/token"))
                .basic_auth(&client.id, Some(&client.secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .expect("refresh")
        }
    };
    // Refreshed once: the new ID token names the same login.
    let first = refresh(tokens["refresh_token"].as_str().expect("rt").to_string()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let refreshed: Value = first.json().await.expect("json");
    let claims = app
        .verify_id_token(refreshed["id_token"].as_str().expect("id"), &client.id)
        .await;
    let original = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;
    assert_eq!(claims["sid"], original["sid"]);

    let resp = end(
        &app,
        &[("id_token_hint", refreshed["id_token"].as_str().expect("id"))],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let after = refresh(refreshed["refresh_token"].as_str().expect("rt").to_string()).await;
    assert_eq!(after.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        userinfo_status(&app, &refreshed).await,
        StatusCode::UNAUTHORIZED
    );
}
