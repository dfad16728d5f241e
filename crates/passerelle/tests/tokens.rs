//! Refresh tokens (OIDC Core §12, RFC 9700 §4.14), revocation (RFC 7009) and introspection
//! (RFC 7662, RFC 9701) over HTTP: rotation, reuse revoking a family, races, binding to the
//! client, expiry, and who may introspect.

mod common;

use common::*;
use passerelle_jose::SigAlg;
use reqwest::StatusCode;
use serde_json::Value;

const JAN: &str = "+32470000001";
const OFFLINE: &str = "openid name offline_access";

/// A login with `offline_access` and its redeemed tokens.
async fn offline_login(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let (login, q) = app.login(client, scope, JAN).await;
    let resp = app.redeem(client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

fn at(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

fn rt(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh_token")
}

async fn refresh(
    app: &TestApp,
    client: &TestClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&form)
        .send()
        .await
        .expect("token")
}

async fn refused(resp: reqwest::Response, status: StatusCode, error: &str) -> String {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], error, "{body}");
    body["error_description"]
        .as_str()
        .expect("description")
        .to_string()
}

async fn revoke(
    app: &TestApp,
    client: &TestClient,
    token: &str,
    hint: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    reqwest::Client::new()
        .post(app.url("/auth/open/connect/revocation"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&form)
        .send()
        .await
        .expect("revocation")
}

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/introspect"))
        .basic_auth(&caller.id, Some(&caller.secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.expect("json")
}

async fn status_of_userinfo(app: &TestApp, access_token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
        .status()
}

#[tokio::test]
async fn a_refresh_gives_new_tokens_for_the_same_person_and_rotates_the_refresh_token() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let first = offline_login(&app, &client, OFFLINE).await;
    assert_eq!(first["scope"], "openid name offline_access");
    let first_id = app
        .verify_id_token(first["id_token"].as_str().expect("id"), &client.id)
        .await;
    let userinfo = app.userinfo(&first).await;

    app.clock.advance(120);
    let resp = refresh(&app, &client, rt(&first), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let second: Value = resp.json().await.expect("json");
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], "openid name offline_access");
    assert_ne!(rt(&second), rt(&first));
    assert_ne!(at(&second), at(&first));
    // OIDC Core §12.2: same sub and auth_time, a new iat, no nonce.
    let id = app
        .verify_id_token(second["id_token"].as_str().expect("id"), &client.id)
        .await;
    assert_eq!(id["sub"], first_id["sub"]);
    assert_eq!(id["auth_time"], first_id["auth_time"]);
    assert_eq!(id["name"], first_id["name"]);
    assert!(id.get("nonce").is_none());
    assert_eq!(id["iat"].as_i64(), Some(app.clock_now()));
    assert_eq!(app.userinfo(&second).await, userinfo);
    // The rotated-out access token stays valid until it expires: rotation is not revocation.
    assert_eq!(status_of_userinfo(&app, at(&first)).await, StatusCode::OK);

    // And the new refresh token rotates in turn.
    let third = refresh(&app, &client, rt(&second), None).await;
    assert_eq!(third.status(), StatusCode::OK);
    assert_eq!(app.store.count_rows("refresh_tokens").await.expect("db"), 3);
}

#[tokio::test]
async fn offline_access_is_ignored_for_a_client_without_the_refresh_token_grant() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["scope"], "openid name");
    // Without offline_access, a granted client gets none either.
    let granted = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &granted, "openid name").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(
        app.store.count_rows("refresh_families").await.expect("db"),
        0
    );
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let first = offline_login(&app, &client, OFFLINE).await;
    let second: Value = refresh(&app, &client, rt(&first), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status_of_userinfo(&app, at(&second)).await, StatusCode::OK);

    let description = refused(
        refresh(&app, &client, rt(&first), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("already used"), "{description}");
    // Every token of the family is dead: both access tokens and the newest refresh token.
    for access_token in [at(&first), at(&second)] {
        assert_eq!(
            status_of_userinfo(&app, access_token).await,
            StatusCode::UNAUTHORIZED
        );
    }
    refused(
        refresh(&app, &client, rt(&second), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // The person's claims went with the family.
    assert_eq!(
        app.store.count_rows("refresh_families").await.expect("db"),
        0
    );
    assert_eq!(app.store.count_rows("refresh_tokens").await.expect("db"), 0);
}

async fn race(n: usize) {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let presented = rt(&tokens).to_string();
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = app.url("/auth/open/connect/token");
        let (id, secret, presented) = (client.id.clone(), client.secret.clone(), presented.clone());
        tasks.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", presented.as_str()),
                ])
                .send()
                .await
                .expect("token");
            let status = resp.status();
            (status, resp.json::<Value>().await.expect("json"))
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (status, body) = t.await.expect("task");
        if status == StatusCode::OK {
            winners.push(body);
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
    assert_eq!(winners.len(), 1, "exactly one presentation wins");
    // The others were reuse: the family, the winner's tokens included, is revoked.
    let won = &winners[0];
    assert_eq!(
        status_of_userinfo(&app, at(won)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_of_userinfo(&app, at(&tokens)).await,
        StatusCode::UNAUTHORIZED
    );
    refused(
        refresh(&app, &client, rt(won), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.store.count_rows("refresh_families").await.expect("db"),
        0
    );
}

#[tokio::test]
async fn of_two_presentations_at_once_one_wins_and_the_family_is_revoked() {
    race(2).await;
}

#[tokio::test]
async fn of_twenty_presentations_at_once_one_wins_and_the_family_is_revoked() {
    race(20).await;
}

#[tokio::test]
async fn another_clients_refresh_token_gives_nothing_and_stays_valid() {
    let app = TestApp::spawn().await;
    let owner = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let thief = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &owner, OFFLINE).await;
    let description = refused(
        refresh(&app, &thief, rt(&tokens), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert!(
        description.contains("not issued to this client"),
        "{description}"
    );
    assert_eq!(app.store.count_rows("refresh_tokens").await.expect("db"), 1);
    let resp = refresh(&app, &owner, rt(&tokens), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let description = refused(
        refresh(&app, &client, rt(&tokens), Some("openid name email")).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    assert!(description.contains("\"email\""), "{description}");
    refused(
        refresh(&app, &client, rt(&tokens), Some("name")).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    // A refused scope does not spend the refresh token.
    let resp = refresh(&app, &client, rt(&tokens), Some("openid")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let narrow: Value = resp.json().await.expect("json");
    assert_eq!(narrow["scope"], "openid");
    let userinfo = app.userinfo(&narrow).await;
    assert!(userinfo.get("name").is_none(), "{userinfo}");
    assert!(userinfo.get("sub").is_some());
    // The new refresh token keeps the family's scope (RFC 6749 §6).
    let resp = refresh(&app, &client, rt(&narrow), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let wide: Value = resp.json().await.expect("json");
    assert_eq!(wide["scope"], "openid name offline_access");
    assert!(app.userinfo(&wide).await.get("name").is_some());
}

#[tokio::test]
async fn a_refresh_is_held_to_the_clients_grants_as_they_are_now() {
    // A production client (its protected scopes need grants), answered by the sandbox.
    let app = TestApp::spawn_test_deployment().await;
    let client = app
        .add_client(
            "production",
            "client_secret_basic",
            &["refresh_token", "nin"],
        )
        .await;
    let tokens = offline_login(&app, &client, "openid nin offline_access").await;
    assert_eq!(tokens["scope"], "openid nin offline_access");
    // The operator withdraws the protected scope: the family's scope is no longer served...
    app.set_grants(&client, &["refresh_token"]).await;
    let description = refused(
        refresh(&app, &client, rt(&tokens), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    assert!(description.contains("'nin'"), "{description}");
    // ...but a refresh without it is.
    let resp = refresh(
        &app,
        &client,
        rt(&tokens),
        Some("openid openid offline_access"),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let narrow: Value = resp.json().await.expect("json");
    assert_eq!(narrow["scope"], "openid offline_access");
    assert!(app.userinfo(&narrow).await.get("nin").is_none());
    // Withdrawing refresh_token itself stops refreshes.
    app.set_grants(&client, &[]).await;
    refused(
        refresh(&app, &client, rt(&narrow), None).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
    )
    .await;
}

#[tokio::test]
async fn refresh_tokens_expire_and_their_family_ends_at_its_absolute_lifetime() {
    let app = TestApp::spawn_with(Options {
        lifetimes: passerelle_web::Lifetimes {
            refresh_token: 600,
            refresh_family: 1000,
            ..passerelle_web::Lifetimes::default()
        },
        ..Options::default()
    })
    .await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    // An idle refresh token expires.
    let idle = offline_login(&app, &client, OFFLINE).await;
    app.clock.advance(601);
    let description = refused(
        refresh(&app, &client, rt(&idle), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert!(description.contains("expired"), "{description}");

    // A busy family still ends at its absolute lifetime: rotation does not extend it.
    let busy = offline_login(&app, &client, OFFLINE).await;
    app.clock.advance(500);
    let next: Value = refresh(&app, &client, rt(&busy), None)
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(501);
    refused(
        refresh(&app, &client, rt(&next), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Housekeeping deletes ended families with the claims they kept.
    app.store
        .delete_expired(app.clock_now())
        .await
        .expect("housekeeping");
    assert_eq!(
        app.store.count_rows("refresh_families").await.expect("db"),
        0
    );
    assert_eq!(app.store.count_rows("refresh_tokens").await.expect("db"), 0);
}

#[tokio::test]
async fn a_replayed_code_revokes_the_refresh_tokens_it_gave() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let (login, q) = app.login(&client, OFFLINE, JAN).await;
    let tokens: Value = app
        .redeem(&client, &q["code"], &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(2);
    let replay = app.redeem(&client, &q["code"], &login.verifier).await;
    refused(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    refused(
        refresh(&app, &client, rt(&tokens), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn refreshed_id_tokens_are_signed_as_the_clients_id_tokens_and_any_node_refreshes() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client_with(
            "sandbox",
            "client_secret_basic",
            &["refresh_token"],
            "ES256",
            None,
        )
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let other = app.second_node().await;
    let resp = refresh(&other, &client, rt(&tokens), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let refreshed: Value = resp.json().await.expect("json");
    let id_token = refreshed["id_token"].as_str().expect("id");
    let header = passerelle_jose::peek_header(id_token).expect("header");
    assert_eq!(header["alg"], "ES256");
    app.verify_id_token(id_token, &client.id).await;
    assert_eq!(
        status_of_userinfo(&app, at(&refreshed)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_refresh_token_survives_a_restart() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let userinfo = app.userinfo(&tokens).await;
    let app = app.restart().await;
    let resp = refresh(&app, &client, rt(&tokens), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let refreshed: Value = resp.json().await.expect("json");
    assert_eq!(app.userinfo(&refreshed).await, userinfo);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family_and_its_access_tokens() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let resp = revoke(&app, &client, rt(&tokens), Some("refresh_token")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(
        status_of_userinfo(&app, at(&tokens)).await,
        StatusCode::UNAUTHORIZED
    );
    refused(
        refresh(&app, &client, rt(&tokens), None).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        app.store.count_rows("refresh_families").await.expect("db"),
        0
    );
    // Revoking it again, or anything unknown, is a 200 (RFC 7009 §2.2).
    for token in [rt(&tokens), "no-such-token"] {
        assert_eq!(
            revoke(&app, &client, token, None).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn revoking_an_access_token_ends_it_at_userinfo_and_leaves_the_refresh_token() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    // A wrong hint still finds the token (RFC 7009 §2.1).
    let resp = revoke(&app, &client, at(&tokens), Some("refresh_token")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth(at(&tokens))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .expect("header")
            .contains("invalid_token")
    );
    assert_eq!(
        refresh(&app, &client, rt(&tokens), None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_clients_token_is_not_revoked_and_bad_revocation_requests_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let other = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let tokens = offline_login(&app, &owner, OFFLINE).await;
    for token in [rt(&tokens), at(&tokens)] {
        let description = refused(
            revoke(&app, &other, token, None).await,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        )
        .await;
        assert!(
            description.contains("not issued to this client"),
            "{description}"
        );
    }
    assert_eq!(status_of_userinfo(&app, at(&tokens)).await, StatusCode::OK);
    // No token.
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/revocation"))
        .basic_auth(&owner.id, Some(&owner.secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .expect("revocation");
    refused(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    // No credentials, or wrong ones.
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/revocation"))
        .form(&[("token", rt(&tokens)), ("client_id", owner.id.as_str())])
        .send()
        .await
        .expect("revocation");
    refused(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/revocation"))
        .basic_auth(&owner.id, Some("wrong"))
        .form(&[("token", rt(&tokens))])
        .send()
        .await
        .expect("revocation");
    refused(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
    assert_eq!(
        refresh(&app, &owner, rt(&tokens), None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_resource_server_introspects_access_and_refresh_tokens() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let rs = app
        .add_client("production", "client_secret_basic", &["introspection"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let id = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;

    let info = introspect(&app, &rs, at(&tokens)).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["scope"], "openid name offline_access");
    assert_eq!(info["client_id"], client.id.as_str());
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["aud"], client.id.as_str());
    assert_eq!(info["iss"], app.issuer.as_str());
    assert_eq!(info["iat"].as_i64(), Some(app.clock_now()));
    assert_eq!(info["exp"].as_i64(), Some(app.clock_now() + 600));

    let info = introspect(&app, &rs, rt(&tokens)).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(info["exp"].as_i64(), Some(app.clock_now() + 86_400));

    // Unknown, used, revoked and expired tokens are only inactive.
    let inactive = serde_json::json!({ "active": false });
    assert_eq!(introspect(&app, &rs, "no-such-token").await, inactive);
    let next: Value = refresh(&app, &client, rt(&tokens), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(introspect(&app, &rs, rt(&tokens)).await, inactive);
    assert_eq!(introspect(&app, &rs, rt(&next)).await["active"], true);
    assert_eq!(
        revoke(&app, &client, at(&next), None).await.status(),
        StatusCode::OK
    );
    assert_eq!(introspect(&app, &rs, at(&next)).await, inactive);
    app.clock.advance(601);
    assert_eq!(introspect(&app, &rs, at(&tokens)).await, inactive);
}

#[tokio::test]
async fn introspection_answers_a_signed_jwt_when_asked() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let rs = app
        .add_client("sandbox", "client_secret_post", &["introspection"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let jwks = reqwest::get(app.url("/auth/open/.well-known/openid-configuration/jwks"))
        .await
        .expect("jwks")
        .text()
        .await
        .expect("body");
    let keys = passerelle_jose::PublicKeys::from_jwks_json(&jwks).expect("jwks");
    for (token, active) in [(at(&tokens), true), ("no-such-token", false)] {
        let resp = reqwest::Client::new()
            .post(app.url("/auth/open/connect/introspect"))
            .header("accept", "application/token-introspection+jwt")
            .form(&[
                ("token", token),
                ("client_id", rs.id.as_str()),
                ("client_secret", rs.secret.as_str()),
            ])
            .send()
            .await
            .expect("introspect");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"],
            "application/token-introspection+jwt"
        );
        let jwt = resp.text().await.expect("body");
        let header = passerelle_jose::peek_header(&jwt).expect("header");
        assert_eq!(header["typ"], "token-introspection+jwt");
        assert_eq!(header["alg"], "RS256");
        let claims = keys.verify(&jwt, &[SigAlg::Rs256]).expect("signature");
        assert_eq!(claims["iss"], app.issuer.as_str());
        assert_eq!(claims["aud"], rs.id.as_str());
        assert_eq!(claims["iat"].as_i64(), Some(app.clock_now()));
        assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
        let inner = &claims["token_introspection"];
        assert_eq!(inner["active"], active);
        if active {
            assert_eq!(inner["client_id"], client.id.as_str());
            assert_eq!(inner["token_type"], "Bearer");
        }
    }
}

#[tokio::test]
async fn introspection_needs_a_resource_servers_own_credentials() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let rs = app
        .add_client("sandbox", "client_secret_basic", &["introspection"])
        .await;
    let tokens = offline_login(&app, &client, OFFLINE).await;
    let post = |form: Vec<(&'static str, String)>| {
        reqwest::Client::new()
            .post(app.url("/auth/open/connect/introspect"))
            .form(&form)
    };
    // Without credentials: a token alone proves nothing.
    let resp = post(vec![("token", at(&tokens).to_string())])
        .send()
        .await
        .expect("introspect");
    assert!(resp.headers().contains_key("www-authenticate"));
    refused(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // With a wrong secret.
    let resp = post(vec![("token", at(&tokens).to_string())])
        .basic_auth(&rs.id, Some("not-the-secret"))
        .send()
        .await
        .expect("introspect");
    refused(resp, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A client that is not a resource server, even about its own token.
    let resp = post(vec![("token", at(&tokens).to_string())])
        .basic_auth(&client.id, Some(&client.secret))
        .send()
        .await
        .expect("introspect");
    let description = refused(resp, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    assert!(
        description.contains("--grant introspection"),
        "{description}"
    );
    // No token.
    let resp = post(vec![])
        .basic_auth(&rs.id, Some(&rs.secret))
        .send()
        .await
        .expect("introspect");
    refused(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn discovery_advertises_refresh_revocation_and_introspection() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    let i = &app.issuer;
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{i}/connect/revocation")
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{i}/connect/introspect")
    );
    let has = |member: &str, value: &str| {
        doc[member]
            .as_array()
            .expect(member)
            .iter()
            .any(|v| v == value)
    };
    assert!(has("grant_types_supported", "refresh_token"));
    assert!(has("scopes_supported", "offline_access"));
    assert!(has("introspection_signing_alg_values_supported", "RS256"));
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        assert!(has("revocation_endpoint_auth_methods_supported", method));
        assert!(has("introspection_endpoint_auth_methods_supported", method));
    }
}
