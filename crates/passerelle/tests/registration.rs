//! Dynamic client registration (RFC 7591) and its management (RFC 7592) over real HTTP: off by
//! default, behind an initial access token the operator issued, held to the same rules as
//! `passerelle client add`, with registration access tokens that manage one client only.

mod common;

use common::*;
use passerelle::cli::registration::{TokenInput, issue};
use passerelle_jose::{SigAlg, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001";
const REGISTER: &str = "/auth/open/connect/register";

async fn spawn() -> TestApp {
    TestApp::spawn_with(Options {
        registration: true,
        ..Options::default()
    })
    .await
}

/// An initial access token for `account`, allowing `grants`, with `uses` uses for a day.
async fn initial_token(app: &TestApp, account: &str, grants: &[&str], uses: i64) -> String {
    let input = TokenInput {
        account: account.into(),
        grants: grants.iter().map(|g| g.to_string()).collect(),
        uses,
        expires_in: "24h".into(),
        note: Some("test".into()),
    };
    issue(&app.store, &input, app.clock_now())
        .await
        .expect("issue")
        .1
}

fn web_client() -> Value {
    json!({
        "client_name": "Registered RP",
        "redirect_uris": [RP_CALLBACK],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "logo_uri": "https://rp.example/logo.png",
    })
}

async fn register(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let req = reqwest::Client::new().post(app.url(REGISTER)).json(body);
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    req.send().await.expect("register")
}

/// The error code and description of a JSON error answer with this status.
async fn error_of(resp: reqwest::Response, status: StatusCode) -> (String, String) {
    assert_eq!(resp.status(), status);
    let v: Value = resp.json().await.expect("json");
    (
        v["error"].as_str().expect("error").to_string(),
        v["error_description"].as_str().unwrap_or("").to_string(),
    )
}

fn client_of(registered: &Value) -> TestClient {
    TestClient {
        id: registered["client_id"].as_str().expect("client_id").into(),
        secret: registered["client_secret"]
            .as_str()
            .unwrap_or_default()
            .into(),
    }
}

#[tokio::test]
async fn registration_is_off_unless_the_operator_enables_it() {
    let app = TestApp::spawn().await;
    let token = initial_token(&app, "sandbox", &[], 1).await;
    let resp = register(&app, Some(&token), &web_client()).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");

    let app = spawn().await;
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/connect/register", app.issuer)
    );
}

#[tokio::test]
async fn a_registered_client_logs_people_in_and_manages_its_registration() {
    let app = spawn().await;
    let token = initial_token(&app, "sandbox", &["refresh_token"], 1).await;

    // Without a token, or with a wrong one: 401 with a Bearer challenge (RFC 6750 §3).
    let resp = register(&app, None, &web_client()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    let (code, _) = error_of(
        register(&app, Some("not-issued"), &web_client()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token");

    let mut metadata = web_client();
    metadata["grant_types"] = json!(["authorization_code", "refresh_token"]);
    let resp = register(&app, Some(&token), &metadata).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let registered: Value = resp.json().await.expect("json");
    assert_eq!(registered["client_name"], "Registered RP");
    assert_eq!(registered["redirect_uris"], json!([RP_CALLBACK]));
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(
        registered["grant_types"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(registered["account"], "sandbox");
    // Unknown metadata are ignored, not stored (RFC 7591 §2).
    assert!(registered.get("logo_uri").is_none());
    let access = registered["registration_access_token"]
        .as_str()
        .expect("registration_access_token")
        .to_string();
    let uri = registered["registration_client_uri"]
        .as_str()
        .expect("registration_client_uri")
        .to_string();
    let client = client_of(&registered);
    assert_eq!(
        uri,
        format!("{}/connect/register/{}", app.issuer, client.id)
    );

    // The token was for one client.
    let (code, _) = error_of(
        register(&app, Some(&token), &web_client()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token");

    // The client logs a person in like any other.
    let (id_token, userinfo) = app.full_login(&client, "openid profile", JAN).await;
    assert_eq!(id_token["aud"], client.id.as_str());
    assert_eq!(userinfo["sub"], id_token["sub"]);

    // RFC 7592 read: its own registration, with its token; nobody else's.
    let http = reqwest::Client::new();
    let read = http
        .get(&uri)
        .bearer_auth(&access)
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.expect("json");
    assert_eq!(read["client_id"], client.id.as_str());
    assert_eq!(read["registration_access_token"], access.as_str());
    assert!(read.get("client_secret").is_none(), "only its hash is kept");
    let operator_client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for (target, bearer) in [
        (uri.clone(), "wrong".to_string()),
        (
            format!("{}/connect/register/{}", app.issuer, operator_client.id),
            access.clone(),
        ),
        (
            format!("{}/connect/register/nobody", app.issuer),
            access.clone(),
        ),
    ] {
        let (code, _) = error_of(
            http.get(&target)
                .bearer_auth(&bearer)
                .send()
                .await
                .expect("read"),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        assert_eq!(code, "invalid_token", "{target}");
    }

    // RFC 7592 update: a replacement; the secret stays, what is omitted goes back to defaults.
    let mut replacement = read.clone();
    replacement["redirect_uris"] = json!([RP_CALLBACK, "https://rp.example/other"]);
    replacement["client_name"] = json!("Renamed RP");
    replacement
        .as_object_mut()
        .expect("object")
        .remove("grant_types");
    let put = |body: Value| http.put(&uri).bearer_auth(&access).json(&body).send();
    let updated = put(replacement.clone()).await.expect("put");
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.expect("json");
    assert_eq!(updated["client_name"], "Renamed RP");
    assert_eq!(updated["redirect_uris"].as_array().map(Vec::len), Some(2));
    assert!(updated.get("client_secret").is_none(), "the secret is kept");
    assert!(
        !updated["grants"]
            .as_array()
            .expect("grants")
            .iter()
            .any(|g| g == "refresh_token")
    );
    app.full_login(&client, "openid", JAN).await;

    // A replacement must name this client, may not choose a secret, nor exceed its token.
    let mut other_id = replacement.clone();
    other_id["client_id"] = json!(operator_client.id);
    let (code, _) = error_of(put(other_id).await.expect("put"), StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_request");
    let mut chosen_secret = replacement.clone();
    chosen_secret["client_secret"] = json!("my-own-secret");
    let (code, _) = error_of(
        put(chosen_secret).await.expect("put"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_request");
    let mut same_secret = replacement.clone();
    same_secret["client_secret"] = json!(client.secret);
    assert_eq!(
        put(same_secret).await.expect("put").status(),
        StatusCode::OK
    );
    let mut more = replacement.clone();
    more["scope"] = json!("openid nin");
    let (code, description) =
        error_of(put(more).await.expect("put"), StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_client_metadata");
    assert!(description.contains("nin"), "{description}");

    // RFC 7592 delete: gone, with what was issued to it.
    let gone = http
        .delete(&uri)
        .bearer_auth(&access)
        .send()
        .await
        .expect("delete");
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let (code, _) = error_of(
        http.get(&uri)
            .bearer_auth(&access)
            .send()
            .await
            .expect("read"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token");
    let resp = http
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn metadata_that_cannot_be_honoured_are_refused_naming_the_member() {
    let app = spawn().await;
    let token = initial_token(&app, "production", &[], 100).await;
    let with = |member: &str, value: Value| {
        let mut m = web_client();
        m[member] = value;
        m
    };
    let es256 = SigningKey::generate(SigAlg::Es256).expect("key").0;
    let public = passerelle_jose::jwks_json([es256.public_jwk()]);
    let mut private = public["keys"][0].clone();
    private["d"] = json!("c2VjcmV0");
    for (metadata, expected, mentions) in [
        (
            with("redirect_uris", json!(["https://rp.example/cb#frag"])),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            with("redirect_uris", json!(["http://rp.example/cb"])),
            "invalid_redirect_uri",
            "https",
        ),
        (
            with("redirect_uris", json!("https://rp.example/cb")),
            "invalid_client_metadata",
            "redirect_uris",
        ),
        (
            with("redirect_uris", json!([])),
            "invalid_client_metadata",
            "redirect_uris",
        ),
        (
            with("client_name", json!(null)),
            "invalid_client_metadata",
            "client_name",
        ),
        (
            with("grant_types", json!(["implicit"])),
            "invalid_client_metadata",
            "implicit",
        ),
        (
            with("response_types", json!(["code id_token"])),
            "invalid_client_metadata",
            "response_types",
        ),
        (
            with("token_endpoint_auth_method", json!("none")),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            with("token_endpoint_auth_method", json!("private_key_jwt")),
            "invalid_client_metadata",
            "jwks",
        ),
        (
            with("scope", json!("openid nin")),
            "invalid_client_metadata",
            "initial access token",
        ),
        (
            with("scope", json!("openid wizardry")),
            "invalid_client_metadata",
            "wizardry",
        ),
        (
            with(
                "grant_types",
                json!(["authorization_code", "refresh_token"]),
            ),
            "invalid_client_metadata",
            "refresh_token",
        ),
        (
            with("jwks", json!({"keys": [private]})),
            "invalid_client_metadata",
            "private key",
        ),
        (
            {
                let mut m = with("jwks", public.clone());
                m["jwks_uri"] = json!("https://rp.example/jwks");
                m
            },
            "invalid_client_metadata",
            "not both",
        ),
        (
            with("jwks_uri", json!("http://rp.example/jwks")),
            "invalid_client_metadata",
            "jwks_uri",
        ),
        (
            with("id_token_signed_response_alg", json!("HS256")),
            "invalid_client_metadata",
            "id_token_signed_response_alg",
        ),
        (
            with("id_token_encrypted_response_alg", json!("RSA-OAEP-256")),
            "invalid_client_metadata",
            "jwks",
        ),
        (
            with("fapi_profile", json!("fapi2")),
            "invalid_client_metadata",
            "private_key_jwt",
        ),
        (
            with("dpop_bound_access_tokens", json!("yes")),
            "invalid_client_metadata",
            "dpop_bound_access_tokens",
        ),
        (
            with("signing_webhook", json!("http://10.0.0.7/hook")),
            "invalid_client_metadata",
            "signing_webhook",
        ),
        (
            with("client_name", json!("Bank\u{0}X")),
            "invalid_client_metadata",
            "NUL",
        ),
        (
            with("jwks", json!({"keys": [{"kty": "EC\u{0}"}]})),
            "invalid_client_metadata",
            "NUL",
        ),
        (
            with("software_statement", json!("eyJhbGciOiJub25lIn0.e30.")),
            "unapproved_software_statement",
            "software statements",
        ),
    ] {
        let (code, description) = error_of(
            register(&app, Some(&token), &metadata).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, expected, "{metadata}: {description}");
        assert!(description.contains(mentions), "{metadata}: {description}");
        assert!(!description.contains("--"), "a flag named: {description}");
    }
    // Not JSON at all.
    let resp = reqwest::Client::new()
        .post(app.url(REGISTER))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("register");
    let (code, _) = error_of(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_client_metadata");
    let resp = reqwest::Client::new()
        .post(app.url(REGISTER))
        .bearer_auth(&token)
        .form(&[("client_name", "Form RP")])
        .send()
        .await
        .expect("register");
    let (code, _) = error_of(resp, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_client_metadata");
    // None of the refusals used up the token.
    let resp = register(&app, Some(&token), &web_client()).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let registered: Value = resp.json().await.expect("json");
    assert_eq!(registered["account"], "production");
}

#[tokio::test]
async fn a_fapi_client_registers_itself_with_its_keys() {
    let app = spawn().await;
    let token = initial_token(&app, "sandbox", &["nin"], 1).await;
    let es256 = SigningKey::generate(SigAlg::Es256).expect("key").0;
    let metadata = json!({
        "client_name": "Bank",
        "redirect_uris": [RP_CALLBACK],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": passerelle_jose::jwks_json([es256.public_jwk()]),
        "id_token_signed_response_alg": "ES256",
        "fapi_profile": "fapi2",
        "scope": "openid nin",
        "post_logout_redirect_uris": ["https://rp.example/bye"],
    });
    let resp = register(&app, Some(&token), &metadata).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let registered: Value = resp.json().await.expect("json");
    assert!(registered.get("client_secret").is_none());
    assert!(registered.get("client_secret_expires_at").is_none());
    assert_eq!(registered["fapi_profile"], "fapi2");
    assert_eq!(registered["require_pushed_authorization_requests"], true);
    assert_eq!(registered["dpop_bound_access_tokens"], true);
    assert_eq!(registered["scope"], "nin");
    assert_eq!(registered["jwks"]["keys"][0]["kty"], "EC");
    let stored = app
        .store
        .find_client(registered["client_id"].as_str().expect("id"))
        .await
        .expect("find")
        .expect("stored");
    assert!(stored.requires_par() && stored.requires_dpop());
    assert_eq!(stored.grants, ["nin"]);
}

#[tokio::test]
async fn twenty_registrations_racing_for_one_use_make_one_client() {
    let app = spawn().await;
    let token = initial_token(&app, "sandbox", &[], 1).await;
    let before = app.store.list_clients().await.expect("list").len();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (url, token) = (app.url(REGISTER), token.clone());
        let mut m = web_client();
        m["client_name"] = json!(format!("Racer {i}"));
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&m)
                .send()
                .await
                .expect("register")
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let after = app.store.list_clients().await.expect("list").len();
    assert_eq!(after, before + 1);
}

#[tokio::test]
async fn expired_and_revoked_tokens_register_nothing() {
    let app = spawn().await;
    let expiring = initial_token(&app, "sandbox", &[], 5).await;
    app.clock.advance(86_400);
    let (code, _) = error_of(
        register(&app, Some(&expiring), &web_client()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token");

    let revoked = initial_token(&app, "sandbox", &[], 5).await;
    assert_eq!(
        register(&app, Some(&revoked), &web_client()).await.status(),
        StatusCode::CREATED
    );
    let id = app
        .store
        .list_registration_tokens()
        .await
        .expect("list")
        .into_iter()
        .find(|t| t.uses_left == 4)
        .expect("the used token")
        .id;
    assert!(
        app.store
            .revoke_registration_token(&id, app.clock_now())
            .await
            .expect("revoke")
    );
    assert!(
        !app.store
            .revoke_registration_token(&id, app.clock_now())
            .await
            .expect("again")
    );
    let (code, _) = error_of(
        register(&app, Some(&revoked), &web_client()).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token");
}

fn passerelle(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .env("PASSERELLE_DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run passerelle")
}

#[tokio::test]
async fn the_registration_commands_issue_list_and_revoke() {
    let app = spawn().await;
    let db = app.database_url.clone();
    let out = passerelle(
        &db,
        &[
            "registration",
            "issue",
            "--grant",
            "refresh_token",
            "--uses",
            "2",
            "--expires-in",
            "7d",
            "--note",
            "Bank X",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(issued["state"], "live");
    assert_eq!(issued["uses_left"], 2);
    assert_eq!(issued["grants"], json!(["refresh_token"]));
    let token = issued["token"].as_str().expect("token");
    assert_eq!(
        register(&app, Some(token), &web_client()).await.status(),
        StatusCode::CREATED
    );

    let out = passerelle(&db, &["registration", "list", "--json"]);
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    let listed = &list.as_array().expect("array")[0];
    assert_eq!(listed["uses_left"], 1);
    assert_eq!(listed["note"], "Bank X");
    assert!(
        !list.to_string().contains(token),
        "the token is never shown again"
    );

    let id = listed["id"].as_str().expect("id");
    let out = passerelle(&db, &["registration", "revoke", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        register(&app, Some(token), &web_client()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    for bad in [
        &["registration", "issue", "--grant", "wizardry"][..],
        &["registration", "issue", "--account", "staging"],
        &["registration", "issue", "--uses", "0"],
        &["registration", "issue", "--expires-in", "1y"],
        &["registration", "revoke", "nope"],
    ] {
        let out = passerelle(&db, bad);
        assert!(!out.status.success(), "{bad:?}");
    }
}

#[tokio::test]
async fn on_a_developers_machine_passerelle_calls_https_or_loopback_but_no_plain_http_host() {
    let app = spawn().await;
    let token = initial_token(&app, "sandbox", &[], 10).await;
    // The test server's issuer is a loopback address: a developer's machine. A sandbox client
    // may redirect people to plain http, but what Passerelle itself calls (keys, notifications,
    // webhooks) must be https, or loopback here.
    for (member, value) in [
        ("jwks_uri", "http://intranet.example/jwks"),
        ("signing_webhook", "http://10.0.0.7/hook"),
    ] {
        let mut m = web_client();
        m["redirect_uris"] = json!(["http://shop.example/cb"]);
        m[member] = json!(value);
        if member == "jwks_uri" {
            m["token_endpoint_auth_method"] = json!("private_key_jwt");
        }
        let (code, description) = error_of(
            register(&app, Some(&token), &m).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "invalid_client_metadata");
        assert!(description.contains(member), "{description}");
    }
    let mut m = web_client();
    m["redirect_uris"] = json!(["http://shop.example/cb"]);
    m["token_endpoint_auth_method"] = json!("private_key_jwt");
    m["jwks_uri"] = json!("http://127.0.0.1:9/jwks");
    assert_eq!(
        register(&app, Some(&token), &m).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_registration_cannot_point_passerelle_at_internal_addresses() {
    // A deployment (its issuer is not a loopback address): no loopback, no internal address.
    let app = TestApp::spawn_with(Options {
        registration: true,
        public_url: Some("https://passerelle.example".into()),
        ..Options::default()
    })
    .await;
    let token = initial_token(&app, "sandbox", &[], 20).await;
    for uri in [
        "https://127.0.0.1/jwks",
        "http://localhost:8080/jwks",
        "https://10.0.0.1/jwks",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.1/jwks",
        "https://100.64.0.1/jwks",
        "https://[fd00::1]/jwks",
        "https://[fe80::1]/jwks",
        "https://[::ffff:10.0.0.1]/jwks",
        "https://0.0.0.0/jwks",
    ] {
        let mut m = web_client();
        m["token_endpoint_auth_method"] = json!("private_key_jwt");
        m["jwks_uri"] = json!(uri);
        let (code, description) = error_of(
            register(&app, Some(&token), &m).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "invalid_client_metadata", "{uri}");
        assert!(description.contains("jwks_uri"), "{uri}: {description}");
    }
    let mut m = web_client();
    m["token_endpoint_auth_method"] = json!("private_key_jwt");
    m["jwks_uri"] = json!("https://keys.rp.example/jwks");
    assert_eq!(
        register(&app, Some(&token), &m).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn ciba_needs_the_tokens_leave_and_a_read_registration_sent_back_is_unchanged() {
    let app = spawn().await;
    let es256 = SigningKey::generate(SigAlg::Es256).expect("key").0;
    let ciba = json!({
        "client_name": "Call centre",
        "grant_types": [passerelle_itsme::claims::CIBA_GRANT],
        "backchannel_token_delivery_mode": "poll",
        "backchannel_authentication_request_signing_alg": "ES256",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": passerelle_jose::jwks_json([es256.public_jwk()]),
    });
    let plain = initial_token(&app, "sandbox", &[], 1).await;
    let (code, description) = error_of(
        register(&app, Some(&plain), &ciba).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_client_metadata");
    assert!(description.contains("CIBA"), "{description}");

    let allowed = initial_token(&app, "sandbox", &["ciba"], 1).await;
    let resp = register(&app, Some(&allowed), &ciba).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let registered: Value = resp.json().await.expect("json");
    let uri = registered["registration_client_uri"].as_str().expect("uri");
    let access = registered["registration_access_token"]
        .as_str()
        .expect("rat");
    let http = reqwest::Client::new();
    let read: Value = http
        .get(uri)
        .bearer_auth(access)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    let put = http
        .put(uri)
        .bearer_auth(access)
        .json(&read)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), StatusCode::OK);
    let stored = app
        .store
        .find_client(registered["client_id"].as_str().expect("id"))
        .await
        .expect("find")
        .expect("stored");
    let ciba = stored.ciba.expect("still a CIBA client");
    assert!(
        ciba.signed_requests,
        "the read registration, sent back, changed nothing"
    );

    // The trail tells the client's own changes from the operator's.
    let kinds: Vec<String> = app
        .store
        .audit_events(0, Some(&stored.id), 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(
        kinds.contains(&"client.registered".to_string()),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"client.registration_replaced".to_string()),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"client.updated".to_string()), "{kinds:?}");
}

#[tokio::test]
async fn names_and_uris_are_checked_and_quoted_values_kept_as_sent() {
    let app = spawn().await;
    let token = initial_token(&app, "production", &[], 10).await;
    let mut m = web_client();
    m["client_name"] = json!("Bank\u{1b}[2J");
    let (code, description) = error_of(
        register(&app, Some(&token), &m).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_client_metadata");
    assert!(description.contains("control characters"), "{description}");

    let mut m = web_client();
    m["post_logout_redirect_uris"] = json!(["none"]);
    let (code, description) = error_of(
        register(&app, Some(&token), &m).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_client_metadata");
    assert!(
        description.contains("post_logout_redirect_uris"),
        "{description}"
    );

    // The refusal names members, but a value quoted in it is the client's, as sent.
    let mut m = web_client();
    m["redirect_uris"] = json!(["http://rp.example/--name/--grant"]);
    let (code, description) = error_of(
        register(&app, Some(&token), &m).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_redirect_uri");
    assert!(
        description.contains("http://rp.example/--name/--grant"),
        "{description}"
    );
    // `none` is the command line's; a registration leaves a member out instead.
    let mut m = web_client();
    m["userinfo_signed_response_alg"] = json!("HS256");
    let (_, description) = error_of(
        register(&app, Some(&token), &m).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(!description.contains("none"), "{description}");
}
