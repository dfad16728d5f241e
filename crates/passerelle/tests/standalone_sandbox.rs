//! `passerelle sandbox serve`: the sandbox alone, on its own port and database, and a broker
//! pointed at it through `[itsme]` as it would be at itsme's e2e environment. Production clients
//! of the broker log in there; sandbox clients still use the broker's embedded sandbox.

mod common;

use std::sync::Arc;

use common::*;
use passerelle::config::{ItsmeConfig, SandboxClientFile};
use passerelle::sandbox_server::{self, SandboxSettings};
use passerelle_store::{Clock, random_token};
use reqwest::StatusCode;

/// The broker's client secret at the standalone sandbox's signing service.
const CSC_SECRET: &str = "csc-secret-of-broker-one";

struct Pair {
    broker: TestApp,
    /// The standalone sandbox's issuer, `http://127.0.0.1:<port>/v2`.
    scheme: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A standalone sandbox on 127.0.0.1:0, and a broker whose `[itsme]` is that sandbox.
async fn pair() -> Pair {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let bound = listener.local_addr().expect("addr");
    let scheme = format!("http://{bound}{}", sandbox_server::PATH);
    let broker = TestApp::spawn_with(Options {
        itsme: Some(ItsmeConfig {
            issuer: scheme.clone(),
            client_id: "broker-one".into(),
            service_authentication: "BROKER_AUTH".into(),
            service_identification: "BROKER_IDENT".into(),
            claims_delivery: passerelle_itsme::ClaimsDelivery::Userinfo,
            // itsme's signing service is the standalone sandbox's too.
            csc: Some((
                format!("http://{bound}/csc/v1"),
                passerelle::config::Secret::new(CSC_SECRET),
            )),
        }),
        signing: passerelle::app::SigningSettings {
            tsa_url: Some(format!("http://{bound}/tsa")),
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let settings = SandboxSettings {
        database_url: fresh_database().await,
        public_url: None,
        personas: None,
        app_timeout_seconds: 120,
        account_block_seconds: 3600,
        rate_limits: passerelle_limits::LimitSettings::off(),
        client_ip_header: None,
        // Quick, so that a test sees a rotation followed within a second.
        jwks_refresh: std::time::Duration::from_millis(200),
        clients: vec![SandboxClientFile {
            client_id: "broker-one".into(),
            name: Some("Broker One".into()),
            redirect_uris: vec![format!("{}/connect/itsme/callback", broker.issuer)],
            // The broker publishes its connector's keys, as itsme asks of partners.
            jwks_uri: Some(format!("{}/connect/itsme/jwks", broker.issuer)),
            jwks: None,
            service_authentication: Some("BROKER_AUTH".into()),
            service_identification: Some("BROKER_IDENT".into()),
            csc_client_secret: Some(CSC_SECRET.into()),
            csc_redirect_uris: Some(vec![format!("{}/sign/signer/callback", broker.base)]),
        }],
    };
    let clock: Arc<dyn Clock> = broker.clock.clone();
    let app = sandbox_server::build(&settings, bound, clock)
        .await
        .expect("build the sandbox");
    assert_eq!(app.issuer, scheme);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        sandbox_server::serve(listener, app, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    Pair {
        broker,
        scheme,
        _stop: tx,
    }
}

/// RP → broker → the standalone sandbox's phone page → a scripted persona → RP; returns the
/// tokens' ID token claims and userinfo.
async fn login(
    p: &Pair,
    client: &TestClient,
    scope: &str,
) -> (
    serde_json::Map<String, serde_json::Value>,
    serde_json::Value,
) {
    let app = &p.broker;
    let browser = app.browser();
    let (verifier, challenge) = pkce();
    let state = random_token(8);
    let resp = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", scope),
            ("state", state.as_str()),
            ("nonce", "n-standalone"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let at_scheme = location(&resp);
    assert!(
        at_scheme.starts_with(&format!("{}/authorization?", p.scheme)),
        "a production client goes to the configured itsme: {at_scheme}"
    );
    let page = browser
        .get(&at_scheme)
        .send()
        .await
        .expect("phone page")
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("Broker One"),
        "the app names the registered client"
    );
    let form = html_attr(&page, "<form method=\"post\"", "action");
    let origin = p.scheme.trim_end_matches("/v2");
    let resp = browser
        .post(format!("{origin}{form}"))
        .form(&[("phone", "+32470000001")])
        .send()
        .await
        .expect("phone");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let resp = browser
        .get(format!("{origin}{}", location(&resp)))
        .send()
        .await
        .expect("wait");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let callback = location(&resp);
    assert!(callback.starts_with(&app.issuer), "{callback}");
    let rp = app.follow_to_rp(&browser, callback).await;
    let q = query_of(&rp);
    assert_eq!(q.get("state"), Some(&state), "{rp}");
    let resp = app.redeem(client, &q["code"], &verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: serde_json::Value = resp.json().await.expect("json");
    let id = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;
    let userinfo = app.userinfo(&tokens).await;
    (id, userinfo)
}

#[tokio::test]
async fn a_broker_pointed_at_the_standalone_sandbox_completes_logins() {
    let p = pair().await;
    let client = p
        .broker
        .add_client("production", "client_secret_basic", &[])
        .await;
    // Authentication: a stable subject, no attributes.
    let (id, _) = login(&p, &client, "openid").await;
    assert_eq!(id["acr"], "high");
    assert!(
        id.get("sandbox").is_none(),
        "answered by the configured itsme"
    );
    let sub = id["sub"].clone();
    // Identification: verified attributes, from the standalone sandbox's userinfo.
    let (id, userinfo) = login(&p, &client, "openid profile").await;
    assert_eq!(id["sub"], sub, "one person, one subject across services");
    assert_eq!(userinfo["family_name"], "Peeters", "{userinfo}");
    // A sandbox client of the same broker still uses the embedded sandbox.
    let sandbox_client = p
        .broker
        .add_client("sandbox", "client_secret_basic", &[])
        .await;
    let login = p.broker.begin(&sandbox_client, "openid").await;
    assert!(login.scheme_url.contains("/sandbox/v2/authorization"));
}

#[tokio::test]
async fn the_standalone_sandbox_follows_the_brokers_key_rotation_as_itsme_does() {
    use passerelle::cli::keys;
    let p = pair().await;
    let client = p
        .broker
        .add_client("production", "client_secret_basic", &[])
        .await;
    let (id, _) = login(&p, &client, "openid profile").await;
    let sub = id["sub"].clone();
    // The broker rotates both connector keys; once the new signing key signs, the old
    // encryption key is retired. A scheme that kept the keys it read at start would refuse the
    // new signatures and encrypt to a key the broker no longer has.
    let store = &p.broker.store;
    let now = p.broker.clock_now();
    let sig = keys::rotate(store, "connector-sig", now)
        .await
        .expect("rotate");
    let enc = keys::rotate(store, "connector-enc", now)
        .await
        .expect("rotate");
    p.broker.clock.advance(sig.activates_at - now + 1);
    let now = p.broker.clock_now();
    let lifetimes = p.broker.options.lifetimes;
    for k in keys::list(store, now, &lifetimes).await.expect("list") {
        if k.key.purpose == "connector-enc" && k.key.kid != enc.kid && k.key.retired_at.is_none() {
            keys::retire(store, &k.key.kid, now, &lifetimes, true)
                .await
                .expect("retire the old encryption key");
        }
    }
    // The broker's nodes reload their keyring within seconds; the sandbox reads the JWKS again
    // every 200 ms here.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let (id, userinfo) = login(&p, &client, "openid profile").await;
    assert_eq!(id["sub"], sub);
    assert_eq!(userinfo["family_name"], "Peeters", "{userinfo}");
}

#[tokio::test]
async fn the_standalone_sandbox_accepts_only_its_clients() {
    let p = pair().await;
    let origin = p.scheme.trim_end_matches("/v2");
    let health: serde_json::Value = reqwest::get(format!("{origin}/healthz"))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["mode"], "sandbox-standalone");
    let discovery: serde_json::Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", p.scheme))
            .await
            .expect("discovery")
            .json()
            .await
            .expect("json");
    assert_eq!(discovery["issuer"], p.scheme.as_str());
    let resp = reqwest::get(format!(
        "{}/authorization?client_id=stranger&response_type=code&scope=openid",
        p.scheme
    ))
    .await
    .expect("authorize");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // A sandbox with no client at all does not start.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let settings = SandboxSettings {
        database_url: fresh_database().await,
        public_url: None,
        personas: None,
        app_timeout_seconds: 120,
        account_block_seconds: 3600,
        rate_limits: passerelle_limits::LimitSettings::off(),
        client_ip_header: None,
        jwks_refresh: sandbox_server::JWKS_REFRESH,
        clients: vec![],
    };
    let clock: Arc<dyn Clock> = p.broker.clock.clone();
    let refused = sandbox_server::build(&settings, listener.local_addr().expect("a"), clock).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_ciba_login_goes_to_the_standalone_sandbox_by_id_token_hint() {
    let p = pair().await;
    let app = &p.broker;
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    app.set_ciba(
        &client,
        Some(passerelle_store::CibaRegistration {
            mode: passerelle_core::oidc::CibaMode::Poll,
            notification_endpoint: None,
            signed_requests: false,
        }),
    )
    .await;
    // itsme's decoupled API takes no phone numbers: a production client names the person with
    // an ID token of an earlier login.
    let (earlier, _) = login(&p, &client, "openid").await;
    let earlier_sub = earlier["sub"].clone();
    let http = reqwest::Client::new();
    let phone_hint = http
        .post(app.url("/auth/open/connect/ciba"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("scope", "openid"), ("login_hint", "+32470000001")])
        .send()
        .await
        .expect("ciba");
    assert_eq!(
        phone_hint.status(),
        StatusCode::BAD_REQUEST,
        "no phone numbers at itsme"
    );
    let id_token = id_token_of_a_login(&p, &client).await;
    let resp = http
        .post(app.url("/auth/open/connect/ciba"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("scope", "openid profile"),
            ("id_token_hint", id_token.as_str()),
        ])
        .send()
        .await
        .expect("ciba");
    assert_eq!(resp.status(), StatusCode::OK);
    let started: serde_json::Value = resp.json().await.expect("json");
    let auth_req_id = started["auth_req_id"].as_str().expect("auth_req_id");
    // The scripted persona answers at once; the scheme may be polled after its interval.
    app.clock.advance(5);
    let resp = http
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "urn:openid:params:grant-type:ciba"),
            ("auth_req_id", auth_req_id),
        ])
        .send()
        .await
        .expect("poll");
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: serde_json::Value = resp.json().await.expect("json");
    let id = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;
    assert_eq!(
        id["sub"], earlier_sub,
        "the same person, through the standalone sandbox"
    );
    assert!(id.get("sandbox").is_none());
    let userinfo = app.userinfo(&tokens).await;
    assert_eq!(userinfo["family_name"], "Peeters");
}

/// The raw ID token of a redirect login at the standalone sandbox.
async fn id_token_of_a_login(p: &Pair, client: &TestClient) -> String {
    let app = &p.broker;
    let browser = app.browser();
    let (verifier, challenge) = pkce();
    let resp = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let page = browser
        .get(location(&resp))
        .send()
        .await
        .expect("phone page")
        .text()
        .await
        .expect("body");
    let form = html_attr(&page, "<form method=\"post\"", "action");
    let origin = p.scheme.trim_end_matches("/v2");
    let resp = browser
        .post(format!("{origin}{form}"))
        .form(&[("phone", "+32470000001")])
        .send()
        .await
        .expect("phone");
    let resp = browser
        .get(format!("{origin}{}", location(&resp)))
        .send()
        .await
        .expect("wait");
    let rp = app.follow_to_rp(&browser, location(&resp)).await;
    let tokens: serde_json::Value = app
        .redeem(client, &query_of(&rp)["code"], &verifier)
        .await
        .json()
        .await
        .expect("json");
    tokens["id_token"].as_str().expect("id_token").to_string()
}

/// A production client granted `signing` signs with a qualified signature at the configured
/// itsme (the standalone sandbox's CSC service), time-stamped by the configured TSA; an
/// advanced signature is refused, as no sealing key is configured (fail closed).
#[tokio::test]
async fn a_production_client_signs_through_the_configured_signing_service() {
    let p = pair().await;
    let app = &p.broker;
    let client = app
        .add_client("production", "client_secret_basic", &["signing"])
        .await;
    let token: serde_json::Value = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "signicat-api"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["access_token"].as_str().expect("token").to_string();
    let pdf = sample_pdf("Production");
    let doc: serde_json::Value = reqwest::Client::new()
        .post(app.url("/sign/documents"))
        .bearer_auth(&token)
        .header("content-type", "application/pdf")
        .body(pdf.clone())
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let doc = doc["documentId"].as_str().expect("document id");
    let create = |flow: &str| {
        serde_json::json!([{
            "documents": [{"action": "SIGN", "documentId": doc}],
            "signingSetup": [{"signingFlow": flow}],
            "redirectSettings": {"success": RP_CALLBACK, "cancel": RP_CALLBACK, "error": RP_CALLBACK},
        }])
    };
    let session: serde_json::Value = reqwest::Client::new()
        .post(app.url("/sign/signing-sessions"))
        .bearer_auth(&token)
        .json(&create("PKISIGNING"))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let url = session[0]["signatureUrl"]
        .as_str()
        .expect("url")
        .to_string();
    let id = session[0]["id"].as_str().expect("id").to_string();
    let browser = app.browser();
    let page = browser
        .get(&url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let form_token = html_attr(&page, "name=\"token\"", "value");
    let resp = browser
        .post(&url)
        .form(&[
            ("token", form_token.as_str()),
            ("decision", "sign"),
            ("agree", "yes"),
        ])
        .send()
        .await
        .expect("decide");
    let mut next = location(&resp);
    assert!(next.contains("/csc/v1/oauth2/authorize"), "{next}");
    assert!(
        !next.starts_with(&app.base),
        "to the configured signing service: {next}"
    );
    for _ in 0..20 {
        if next.starts_with(RP_CALLBACK) {
            break;
        }
        let resp = browser.get(app.url(&next)).send().await.expect("hop");
        if resp.status().is_redirection() {
            // Relative to where it was answered (the broker, or the standalone sandbox).
            next = resp.url().join(&location(&resp)).expect("url").to_string();
            continue;
        }
        let at = resp.url().clone();
        let status = resp.status();
        let html = resp.text().await.expect("html");
        assert!(
            html.contains("<form method=\"post\""),
            "{status} at {at}: {html}"
        );
        let form = html_attr(&html, "<form method=\"post\"", "action");
        let target = at.join(&form).expect("form url");
        let resp = browser
            .post(target)
            .form(&[("phone", "+32470000001")])
            .send()
            .await
            .expect("phone");
        next = location(&resp);
        if !next.starts_with("http") {
            next = at.join(&next).expect("url").to_string();
        }
    }
    assert!(next.starts_with(RP_CALLBACK), "{next}");
    let done: serde_json::Value = reqwest::Client::new()
        .get(app.url(&format!("/sign/signing-sessions/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert_eq!(done["lifecycle"]["state"], "SIGNED", "{done}");
    let result = done["output"]["signatures"][0]["resultDocumentId"]
        .as_str()
        .expect("result");
    let signed = reqwest::Client::new()
        .get(app.url(&format!("/sign/documents/{result}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    // Trusting the standalone sandbox's root (not the embedded sandbox's).
    let base = p.scheme.trim_end_matches(sandbox_server::PATH);
    let pem = reqwest::get(format!("{base}/ca/root.pem"))
        .await
        .expect("root")
        .text()
        .await
        .expect("pem");
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let root = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("der");
    let reports = passerelle_sign::verify::pdf(&signed, &[root]).expect("verify");
    assert!(reports[0].valid, "{:?}", reports[0]);
    // Advanced: no sealing key is configured for production clients, so the session is
    // refused when it is created (fail closed), with a problem that says what is missing.
    let resp = reqwest::Client::new()
        .post(app.url("/sign/signing-sessions"))
        .bearer_auth(&token)
        .json(&create("AUTHENTICATION_BASED"))
        .send()
        .await
        .expect("session");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let problem: serde_json::Value = resp.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("seal_key_file")),
        "{problem}"
    );
}
