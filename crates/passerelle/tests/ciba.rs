//! OpenID CIBA through the real HTTP server: the broker's backchannel endpoint and CIBA grant,
//! the connector speaking itsme's decoupled API, and the sandbox emulating it (its inbox too).

mod common;

use std::sync::Arc;

use common::*;
use passerelle_core::oidc::CibaMode;
use passerelle_jose::{Claims, SigAlg, SigningKey};
use passerelle_store::CibaRegistration;
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001"; // Belgian, approves
const SOPHIE: &str = "+32470000004"; // refuses
const PIERRE: &str = "+32470000005"; // never answers (3 s)
const LUC: &str = "+32470000006"; // blocked
const ELS: &str = "+32470000007"; // manual, code 24680
const GRANT: &str = "urn:openid:params:grant-type:ciba";

fn poll_mode() -> Option<CibaRegistration> {
    Some(CibaRegistration {
        mode: CibaMode::Poll,
        notification_endpoint: None,
        signed_requests: false,
    })
}

async fn ciba_client(app: &TestApp) -> TestClient {
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.set_ciba(&client, poll_mode()).await;
    client
}

async fn backchannel(
    app: &TestApp,
    client: &TestClient,
    params: &[(&str, &str)],
) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/open/connect/ciba"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(params)
        .send()
        .await
        .expect("backchannel")
}

/// A backchannel request that must be accepted; its `auth_req_id`.
async fn start(app: &TestApp, client: &TestClient, params: &[(&str, &str)]) -> String {
    let resp = backchannel(app, client, params).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["interval"], 5);
    assert!(body["expires_in"].as_i64().expect("expires_in") > 0);
    body["auth_req_id"]
        .as_str()
        .expect("auth_req_id")
        .to_string()
}

async fn poll(app: &TestApp, client: &TestClient, auth_req_id: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", GRANT), ("auth_req_id", auth_req_id)])
        .send()
        .await
        .expect("token")
}

/// The error code of a refused token or backchannel request (status 400 expected).
async fn error_of(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().expect("error").to_string()
}

#[tokio::test]
async fn a_poll_mode_login_with_a_scripted_persona_ends_in_tokens_and_userinfo() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let auth_req_id = start(
        &app,
        &client,
        &[
            ("scope", "openid profile"),
            ("login_hint", JAN),
            ("binding_message", "Till 3 · 12,50 €"),
        ],
    )
    .await;
    assert!(auth_req_id.len() >= 43, "high entropy");
    // Only the SHA-256 of the auth_req_id is stored.
    let rows = app
        .sql(
            "UPDATE ciba_requests SET scope = scope WHERE auth_req_hash = $1",
            &[&passerelle_store::token_hash(&auth_req_id)],
        )
        .await;
    assert_eq!(rows, 1);

    let resp = poll(&app, &client, &auth_req_id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let tokens: Value = resp.json().await.expect("json");
    let id_token = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
        .await;
    assert_eq!(id_token["acr"], "high");
    assert_eq!(id_token["sandbox"], true);
    assert!(id_token.get("nonce").is_none(), "CIBA has no nonce");
    assert!(id_token["auth_time"].is_i64());
    assert_eq!(id_token["given_name"], "Jan Pieter");
    let userinfo = app.userinfo(&tokens).await;
    assert_eq!(userinfo["sub"], id_token["sub"]);
    assert_eq!(userinfo["family_name"], "Peeters");

    // Once only.
    assert_eq!(
        error_of(poll(&app, &client, &auth_req_id).await).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn ping_mode_notifies_the_client_and_twenty_polls_get_one_token_answer() {
    let app = TestApp::spawn().await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Value)>(4);
    let receiver = axum::Router::new().route(
        "/cb",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::Json<Value>| {
                let tx = tx.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send((auth, body.0)).await;
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}/cb", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.set_ciba(
        &client,
        Some(CibaRegistration {
            mode: CibaMode::Ping,
            notification_endpoint: Some(endpoint),
            signed_requests: false,
        }),
    )
    .await;
    // Ping mode needs the client's bearer token for its endpoint.
    let missing = backchannel(&app, &client, &[("scope", "openid"), ("login_hint", JAN)]).await;
    assert_eq!(error_of(missing).await, "invalid_request");

    let auth_req_id = start(
        &app,
        &client,
        &[
            ("scope", "openid name"),
            ("login_hint", JAN),
            ("client_notification_token", "n0tification-t0ken.abc"),
        ],
    )
    .await;
    let (auth, body) = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("pinged within 10 s")
        .expect("a ping");
    assert_eq!(auth, "Bearer n0tification-t0ken.abc");
    assert_eq!(body, json!({ "auth_req_id": auth_req_id }));

    // The result is ready: twenty polls at once, exactly one gets the tokens.
    let app = Arc::new(app);
    let mut polls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, client, id) = (app.clone(), client.clone(), auth_req_id.clone());
        polls.spawn(async move {
            let resp = poll(&app, &client, &id).await;
            (resp.status(), resp.json::<Value>().await.expect("json"))
        });
    }
    let mut ok = 0;
    while let Some(r) = polls.join_next().await {
        let (status, body) = r.expect("task");
        if status == StatusCode::OK {
            ok += 1;
            assert!(body["access_token"].is_string());
        } else {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
    assert_eq!(ok, 1, "exactly one token answer");
    // No second ping, and the notification token is gone from the database.
    assert!(rx.try_recv().is_err());
    let left = app
        .sql(
            "UPDATE ciba_requests SET scope = scope WHERE notification_token IS NOT NULL",
            &[],
        )
        .await;
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_manual_persona_approves_in_the_sandbox_inbox() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let auth_req_id = start(
        &app,
        &client,
        &[
            ("scope", "openid profile"),
            ("login_hint", ELS),
            ("binding_message", "Ticket 7731"),
        ],
    )
    .await;
    assert_eq!(
        error_of(poll(&app, &client, &auth_req_id).await).await,
        "authorization_pending"
    );
    let browser = app.browser();
    let inbox = browser
        .get(app.url("/sandbox/v2/app/inbox?phone=%2B32%20470%2000%2000%2007"))
        .send()
        .await
        .expect("inbox");
    assert_eq!(inbox.status(), StatusCode::OK);
    let page = inbox.text().await.expect("html");
    assert!(page.contains("Ticket 7731"), "the binding message is shown");
    assert!(page.contains("Test RP sandbox"), "the requester is named");
    let link = html_attr(&page, "class=\"button\"", "href");
    assert!(link.starts_with("/sandbox/v2/app/actions/"), "{link}");
    let app_page = browser.get(app.url(&link)).send().await.expect("app");
    assert!(app_page.text().await.expect("html").contains("Ticket 7731"));
    // Another number's inbox does not show it.
    let other = browser
        .get(app.url("/sandbox/v2/app/inbox?phone=%2B32470000001"))
        .send()
        .await
        .expect("inbox")
        .text()
        .await
        .expect("html");
    assert!(!other.contains("Ticket 7731"));

    let approved = browser
        .post(app.url(&link))
        .form(&[("decision", "approve"), ("code", "24680")])
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), StatusCode::OK);
    let text = approved.text().await.expect("html");
    assert!(
        text.contains("close the app"),
        "no browser is waiting: {text}"
    );
    app.clock.advance(5);
    let resp = poll(&app, &client, &auth_req_id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    let userinfo = app.userinfo(&tokens).await;
    assert!(userinfo["given_name"].is_string());
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down_and_the_interval_grows() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let id = start(&app, &client, &[("scope", "openid"), ("login_hint", ELS)]).await;
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "authorization_pending"
    );
    let resp = poll(&app, &client, &id).await;
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "slow_down");
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .contains("10 seconds"),
        "{body}"
    );
    // 5 s later is still too soon: the interval is now 10 s, and grows again.
    app.clock.advance(5);
    assert_eq!(error_of(poll(&app, &client, &id).await).await, "slow_down");
    app.clock.advance(15);
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "authorization_pending"
    );
    // Waiting is not a refusal: of the polls above, none reaches the audit trail. A real
    // refusal, queued after them, is written; once it is there, they would be too.
    assert_eq!(
        error_of(poll(&app, &client, "made-up").await).await,
        "invalid_grant"
    );
    let count = || {
        app.sql(
            "UPDATE audit_events SET kind = kind WHERE kind = 'token.refused'",
            &[],
        )
    };
    let mut refused = 0;
    for _ in 0..100 {
        refused = count().await;
        if refused > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(refused, 1, "only the invalid_grant is a refusal");
}

#[tokio::test]
async fn an_unanswered_request_expires_and_refusals_are_access_denied() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let id = start(
        &app,
        &client,
        &[
            ("scope", "openid"),
            ("login_hint", ELS),
            ("requested_expiry", "30"),
        ],
    )
    .await;
    app.clock.advance(31);
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "expired_token"
    );
    // A persona whose app never answers: expired at the scheme too.
    let id = start(
        &app,
        &client,
        &[("scope", "openid"), ("login_hint", PIERRE)],
    )
    .await;
    app.clock.advance(10);
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "expired_token"
    );
    for who in [SOPHIE, LUC] {
        let id = start(&app, &client, &[("scope", "openid"), ("login_hint", who)]).await;
        assert_eq!(
            error_of(poll(&app, &client, &id).await).await,
            "access_denied"
        );
        app.clock.advance(10);
        assert_eq!(
            error_of(poll(&app, &client, &id).await).await,
            "access_denied"
        );
    }
}

#[tokio::test]
async fn another_clients_or_a_replayed_auth_req_id_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let stranger = ciba_client(&app).await;
    let id = start(&app, &client, &[("scope", "openid"), ("login_hint", JAN)]).await;
    assert_eq!(
        error_of(poll(&app, &stranger, &id).await).await,
        "invalid_grant"
    );
    assert_eq!(poll(&app, &client, &id).await.status(), StatusCode::OK);
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "invalid_grant"
    );
    app.clock.advance(3600);
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "invalid_grant"
    );
    assert_eq!(
        error_of(poll(&app, &client, "made-up").await).await,
        "invalid_grant"
    );
}

#[tokio::test]
async fn bad_backchannel_requests_get_cibas_errors_never_a_500() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let long = "x".repeat(65);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("scope", "openid"), ("login_hint", "+32479999999")],
            "unknown_user_id",
        ),
        (
            vec![("scope", "openid"), ("login_hint", "0470000001")],
            "invalid_request",
        ),
        (
            vec![("scope", "openid"), ("login_hint", "+32 470")],
            "invalid_request",
        ),
        (vec![("scope", "openid")], "invalid_request"),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", JAN),
                ("id_token_hint", "a.b.c"),
            ],
            "invalid_request",
        ),
        (
            vec![("scope", "openid"), ("login_hint_token", "x")],
            "invalid_request",
        ),
        (
            vec![("scope", "openid"), ("id_token_hint", "not.a.token")],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", JAN),
                ("binding_message", &long),
            ],
            "invalid_binding_message",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", JAN),
                ("binding_message", "two\nlines"),
            ],
            "invalid_binding_message",
        ),
        (
            vec![("scope", "profile"), ("login_hint", JAN)],
            "invalid_scope",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", JAN),
                ("requested_expiry", "-1"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", JAN),
                ("acr_values", "idp:bankid"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", JAN),
                ("scope", "openid"),
            ],
            "invalid_request",
        ),
    ];
    for (params, expected) in cases {
        let resp = backchannel(&app, &client, &params).await;
        assert_eq!(error_of(resp).await, expected, "{params:?}");
    }
    // Client authentication as at the token endpoint.
    let wrong = TestClient {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    let resp = backchannel(&app, &wrong, &[("scope", "openid"), ("login_hint", JAN)]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // A client not registered for CIBA, at both endpoints.
    let plain = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let resp = backchannel(&app, &plain, &[("scope", "openid"), ("login_hint", JAN)]).await;
    assert_eq!(error_of(resp).await, "unauthorized_client");
    assert_eq!(
        error_of(poll(&app, &plain, "x").await).await,
        "unauthorized_client"
    );
    // The grant without an auth_req_id.
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", GRANT)])
        .send()
        .await
        .expect("token");
    assert_eq!(error_of(resp).await, "invalid_request");
    // Nothing was stored for the refused requests.
    assert_eq!(
        app.sql("UPDATE ciba_requests SET scope = scope", &[]).await,
        0
    );
}

#[tokio::test]
async fn an_id_token_hint_names_the_person_of_an_earlier_login_even_expired() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    // A login made before the client was registered for CIBA is not remembered for hints (its
    // logins pay no extra write).
    let (login, q) = app.login(&client, "openid", JAN).await;
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    let tokens: Value = resp.json().await.expect("json");
    let unlinked = tokens["id_token"].as_str().expect("id_token").to_string();
    app.set_ciba(&client, poll_mode()).await;
    let resp = backchannel(
        &app,
        &client,
        &[("scope", "openid"), ("id_token_hint", &unlinked)],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (login, q) = app.login(&client, "openid profile", JAN).await;
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    let tokens: Value = resp.json().await.expect("json");
    let earlier = tokens["id_token"].as_str().expect("id_token").to_string();
    let first = app.verify_id_token(&earlier, &client.id).await;
    app.clock.advance(3600);
    let id = start(
        &app,
        &client,
        &[("scope", "openid"), ("id_token_hint", &earlier)],
    )
    .await;
    let resp = poll(&app, &client, &id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    let again = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
        .await;
    assert_eq!(again["sub"], first["sub"]);
    // Another client cannot use it.
    let other = ciba_client(&app).await;
    let resp = backchannel(
        &app,
        &other,
        &[("scope", "openid"), ("id_token_hint", &earlier)],
    )
    .await;
    assert_eq!(error_of(resp).await, "invalid_request");
}

#[tokio::test]
async fn signed_requests_are_verified_with_the_clients_keys() {
    let app = TestApp::spawn().await;
    let (key, _) = SigningKey::generate(SigAlg::Rs256).expect("key");
    let jwks = passerelle_jose::jwks_json([key.public_jwk()]).to_string();
    let client = app
        .add_client_with("sandbox", "private_key_jwt", &[], "RS256", Some(jwks))
        .await;
    app.set_ciba(
        &client,
        Some(CibaRegistration {
            mode: CibaMode::Poll,
            notification_endpoint: None,
            signed_requests: true,
        }),
    )
    .await;
    let sign = |members: Value| {
        let mut c = Claims::new();
        for (k, v) in members.as_object().expect("object") {
            c.insert(k.clone(), v.clone());
        }
        key.sign(&c, None).expect("sign")
    };
    let assertion = |jti: &str| {
        sign(json!({
            "iss": client.id, "sub": client.id, "aud": app.issuer, "jti": jti,
            "exp": T0 + 60, "iat": T0,
        }))
    };
    let request = |jti: &str| {
        sign(json!({
            "iss": client.id, "aud": app.issuer, "jti": jti, "exp": T0 + 300, "iat": T0, "nbf": T0,
            "scope": "openid profile", "login_hint": JAN, "binding_message": "Signed",
            "requested_expiry": 60,
        }))
    };
    let send = |params: Vec<(&'static str, String)>| {
        let url = app.url("/auth/open/connect/ciba");
        async move {
            reqwest::Client::new()
                .post(url)
                .form(&params)
                .send()
                .await
                .expect("backchannel")
        }
    };
    let auth = |jti: &str| {
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", assertion(jti)),
        ]
    };
    // Unsigned: refused for this client.
    let mut plain = auth("a1");
    plain.push(("scope", "openid".into()));
    plain.push(("login_hint", JAN.into()));
    assert_eq!(error_of(send(plain).await).await, "invalid_request");
    // A parameter beside the signed request: refused.
    let mut beside = auth("a2");
    beside.push(("request", request("r1")));
    beside.push(("login_hint", JAN.into()));
    assert_eq!(error_of(send(beside).await).await, "invalid_request");
    // Signed: accepted, and its jti is single use.
    let mut signed = auth("a3");
    signed.push(("request", request("r2")));
    let resp = send(signed).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert!(body["expires_in"].as_i64().expect("expires_in") <= 60);
    let mut again = auth("a4");
    again.push(("request", request("r2")));
    assert_eq!(error_of(send(again).await).await, "invalid_request");
    // Signed with another key: refused.
    let (other, _) = SigningKey::generate(SigAlg::Rs256).expect("key");
    let mut c = Claims::new();
    for (k, v) in [
        ("iss", json!(client.id)),
        ("aud", json!(app.issuer)),
        ("jti", json!("r3")),
        ("exp", json!(T0 + 300)),
        ("scope", json!("openid")),
        ("login_hint", json!(JAN)),
    ] {
        c.insert(k.into(), v);
    }
    let mut forged = auth("a5");
    forged.push(("request", other.sign(&c, None).expect("sign")));
    assert_eq!(error_of(send(forged).await).await, "invalid_request");
}

#[tokio::test]
async fn discovery_advertises_ciba() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        doc["backchannel_authentication_endpoint"],
        format!("{}/connect/ciba", app.issuer)
    );
    assert_eq!(
        doc["backchannel_token_delivery_modes_supported"],
        json!(["poll", "ping"])
    );
    assert_eq!(doc["backchannel_user_code_parameter_supported"], false);
    assert_eq!(
        doc["backchannel_authentication_request_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .expect("array")
            .contains(&json!(GRANT))
    );
}

#[tokio::test]
async fn a_decoupled_login_survives_a_restart() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let id = start(&app, &client, &[("scope", "openid"), ("login_hint", JAN)]).await;
    let app = app.restart().await;
    assert_eq!(poll(&app, &client, &id).await.status(), StatusCode::OK);
}

/// The connector's side of itsme's QR path, against the sandbox: a user discovery session, its
/// dynamic QR "scanned" by a person's emulated app, the user_identifier_token in a backchannel
/// request, and the poll that gives the verified identity. (No RP-facing endpoint uses the QR
/// path yet; this is the connector and the sandbox speaking itsme's API.)
#[tokio::test]
async fn the_connector_discovers_a_user_by_qr_code_then_logs_them_in() {
    use passerelle_itsme::{
        BackchannelRequest, ClaimsDelivery, Connector, ConnectorConfig, DecoupledResult,
        DiscoveryPoll, Endpoints, LoginHintToken,
    };
    let app = TestApp::spawn().await;
    let sandbox = format!("{}/sandbox/v2", app.base);
    let connector = Connector::new(
        ConnectorConfig {
            issuer: sandbox.clone(),
            client_id: "passerelle".into(),
            redirect_uri: format!("{}/connect/itsme/callback", app.issuer),
            service_authentication: "PASSERELLE_AUTH".into(),
            service_identification: "PASSERELLE_IDENT".into(),
            endpoints: Some(Endpoints {
                authorization: format!("{sandbox}/authorization"),
                token: format!("{sandbox}/token"),
                userinfo: format!("{sandbox}/userinfo"),
                jwks: format!("{sandbox}/jwkSet"),
                token_audience: format!("{sandbox}/token"),
                backchannel: Some(format!("{sandbox}/backchannel/authentication")),
                user_discovery: Some(format!("{sandbox}/user_discovery_sessions")),
            }),
            claims_delivery: ClaimsDelivery::IdToken,
            request_encryption: passerelle_jose::EncAlg::RsaOaep256,
            send_client_name: true,
            phone_login_hints: false,
            counters: Default::default(),
        },
        SigningKey::from_private_jwk(&key_material("connector-sig")).expect("key"),
        vec![
            passerelle_jose::DecryptionKey::from_private_jwk(&key_material("connector-enc"))
                .expect("key"),
        ],
    )
    .expect("connector");
    let jti = || passerelle_store::random_token(12);
    let now = app.clock_now();
    let session = connector
        .start_user_discovery(now, &jti())
        .await
        .expect("a session");
    use base64::Engine as _;
    let svg = base64::engine::general_purpose::STANDARD
        .decode(&session.qr_code)
        .expect("base64");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"), "a QR image");
    // The first poll: still pending, with a new QR code; a second one at once is too fast.
    let DiscoveryPoll::Pending(again) = connector
        .poll_user_discovery(&session.id, now, &jti())
        .await
        .expect("poll")
    else {
        panic!("pending")
    };
    assert_eq!(again.id, session.id);
    assert!(matches!(
        connector
            .poll_user_discovery(&session.id, now, &jti())
            .await,
        Ok(DiscoveryPoll::SlowDown)
    ));
    // The person's app scans the QR (the sandbox says where it points, for tests).
    let raw: Value = reqwest::Client::new()
        .post(format!("{sandbox}/user_discovery_sessions/{}", session.id))
        .form(&[("x", "y")])
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(
        raw["error"], "invalid_client",
        "polls need the client's assertion"
    );
    app.clock.advance(15);
    let DiscoveryPoll::Pending(fresh) = connector
        .poll_user_discovery(&session.id, app.clock_now(), &jti())
        .await
        .expect("poll")
    else {
        panic!("pending")
    };
    assert_ne!(fresh.qr_code, session.qr_code, "the QR code is dynamic");
    let scan_url = scan_url_of(&app, &connector, &session.id, &sandbox).await;
    let phone = app.browser();
    let page = phone.get(&scan_url).send().await.expect("scan");
    assert_eq!(page.status(), StatusCode::OK);
    let done = phone
        .post(&scan_url)
        .form(&[("phone", JAN)])
        .send()
        .await
        .expect("scan");
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.expect("html").contains("class=\"ok\""));
    // Scanning twice does nothing more.
    let twice = phone
        .post(&scan_url)
        .form(&[("phone", ELS)])
        .send()
        .await
        .expect("scan");
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);

    app.clock.advance(30);
    let DiscoveryPoll::Discovered {
        user_identifier_token,
    } = connector
        .poll_user_discovery(&session.id, app.clock_now(), &jti())
        .await
        .expect("poll")
    else {
        panic!("discovered")
    };
    let scopes = passerelle_core::scopes::GrantedScopes::parse(
        "openid profile",
        passerelle_core::scopes::Account::Sandbox,
        &[],
    )
    .expect("scopes");
    let hint = LoginHintToken::UserIdentifierToken(user_identifier_token);
    let request = BackchannelRequest {
        scopes: &scopes,
        hint: &hint,
        binding_message: Some("QR login"),
        requested_expiry: None,
        client_name: "Test RP",
    };
    let started = connector
        .backchannel_authentication(&request, app.clock_now(), &jti())
        .await
        .expect("reachable")
        .expect("accepted");
    let DecoupledResult::Identity(identity) = connector
        .poll_decoupled(&started.auth_req_id, app.clock_now(), &jti())
        .await
        .expect("poll")
    else {
        panic!("an identity")
    };
    assert_eq!(identity.sub, passerelle_sandbox::subject("passerelle", JAN));
    // The token is single use.
    let refused = connector
        .backchannel_authentication(&request, app.clock_now(), &jti())
        .await
        .expect("reachable")
        .expect_err("refused");
    assert_eq!(refused.error, "expired_login_hint_token");
    // Sessions end after 15 minutes.
    app.clock.advance(15 * 60);
    assert!(matches!(
        connector
            .poll_user_discovery(&session.id, app.clock_now(), &jti())
            .await,
        Ok(DiscoveryPoll::Expired)
    ));
}

/// The URL a session's current QR code encodes, from the sandbox's `sandbox_scan_url` (its
/// extension for tests), read with a poll signed as the connector.
async fn scan_url_of(
    app: &TestApp,
    _connector: &passerelle_itsme::Connector,
    id: &str,
    sandbox: &str,
) -> String {
    let key = SigningKey::from_private_jwk(&key_material("connector-sig")).expect("key");
    let mut c = Claims::new();
    let now = app.clock_now();
    for (k, v) in [
        ("iss", json!("passerelle")),
        ("sub", json!("passerelle")),
        ("aud", json!(format!("{sandbox}/token"))),
        ("jti", json!(passerelle_store::random_token(12))),
        ("iat", json!(now)),
        ("exp", json!(now + 60)),
    ] {
        c.insert(k.into(), v);
    }
    app.clock.advance(15);
    let body: Value = reqwest::Client::new()
        .post(format!("{sandbox}/user_discovery_sessions/{id}"))
        .form(&[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", key.sign(&c, Some("JWT")).expect("sign")),
        ])
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "PENDING_USER_DISCOVERY", "{body}");
    let url = body["sandbox_scan_url"].as_str().expect("scan url");
    // The QR's URL is on the public origin; this test reaches it there too.
    url.to_string()
}

#[tokio::test]
async fn an_answer_nobody_collects_loses_its_attributes() {
    let app = TestApp::spawn().await;
    let client = ciba_client(&app).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    let receiver = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(()).await;
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}/cb", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    app.set_ciba(
        &client,
        Some(CibaRegistration {
            mode: CibaMode::Ping,
            notification_endpoint: Some(endpoint),
            signed_requests: false,
        }),
    )
    .await;
    let id = start(
        &app,
        &client,
        &[
            ("scope", "openid profile"),
            ("login_hint", JAN),
            ("client_notification_token", "tok"),
        ],
    )
    .await;
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("pinged")
        .expect("a ping");
    let hash = passerelle_store::token_hash(&id);
    let row = |app: &TestApp| {
        let (store, hash, client) = (app.store.clone(), hash.clone(), client.id.clone());
        async move {
            store
                .find_ciba_request(&hash, &client)
                .await
                .expect("db")
                .expect("row")
        }
    };
    assert!(row(&app).await.claims.expect("claims").contains("Peeters"));
    // Still collectable: nothing is cleared.
    app.store
        .clear_stale_ciba_claims(app.clock_now(), 60)
        .await
        .expect("housekeeping");
    assert!(row(&app).await.claims.expect("claims").contains("Peeters"));
    app.clock.advance(121);
    app.store
        .clear_stale_ciba_claims(app.clock_now(), 60)
        .await
        .expect("housekeeping");
    assert_eq!(row(&app).await.claims.as_deref(), Some("{}"));
    assert_eq!(
        error_of(poll(&app, &client, &id).await).await,
        "expired_token"
    );
}

#[tokio::test]
async fn any_node_serves_any_step_of_a_decoupled_login() {
    let first = TestApp::spawn().await;
    let second = first.second_node().await;
    let client = ciba_client(&first).await;
    let id = start(&first, &client, &[("scope", "openid"), ("login_hint", ELS)]).await;
    // Polled on the second node, approved in the inbox of the first, fetched on the second.
    assert_eq!(
        error_of(poll(&second, &client, &id).await).await,
        "authorization_pending"
    );
    let browser = first.browser();
    let page = browser
        .get(first.url("/sandbox/v2/app/inbox?phone=%2B32470000007"))
        .send()
        .await
        .expect("inbox")
        .text()
        .await
        .expect("html");
    let link = html_attr(&page, "class=\"button\"", "href");
    let approved = browser
        .post(first.url(&link))
        .form(&[("decision", "approve"), ("code", "24680")])
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), StatusCode::OK);
    first.clock.advance(5);
    let resp = poll(&second, &client, &id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert!(first.userinfo(&tokens).await["sub"].is_string());
    assert_eq!(
        error_of(poll(&first, &client, &id).await).await,
        "invalid_grant"
    );
}
