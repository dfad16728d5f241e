//! The CSC client (`passerelle_itsme::csc`) against the sandbox's signing service over real HTTP
//! on 127.0.0.1, with a real store (SQLite, or PostgreSQL when
//! `PASSERELLE_TEST_DATABASE=postgres`) and a manual clock: both authorizations walked by a
//! cookie-keeping browser that follows no redirect by itself, the credential and its chain, the
//! signatures checked against the certificate, revocation; then what the service refuses, on
//! each side; and the sandbox's TSA.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use passerelle_itsme::csc::{CscClient, CscConfig, CscError, TokenKind};
use passerelle_jose::{DecryptionKey, PublicKeys, SigAlg, SigningKey};
use passerelle_sandbox::{CscRegistration, Personas, Sandbox, SandboxClient};
use passerelle_store::{Clock as _, ManualClock, Store, random_token};
use reqwest::StatusCode;
use serde_json::{Value, json};

const T0: i64 = 1_795_000_000;
const CLIENT_ID: &str = "signing-partner";
const SECRET: &str = "the partner's client secret, 32+ characters long";
const CALLBACK: &str = "https://broker.test/csc/callback";
/// Personas of the built-in `personas.toml`: Jan and Marie (Belgian, approve), Sophie (refuses),
/// Els (manual: waits for her code in the app).
const JAN: &str = "+32470000001";
const MARIE: &str = "+32470000002";
const SOPHIE: &str = "+32470000004";
const ELS: &str = "+32470000007";

fn uses_postgres() -> bool {
    std::env::var("PASSERELLE_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// A fresh, empty, migrated database.
async fn fresh_store() -> Store {
    let name = format!(
        "passerelle_test_csc_{}",
        random_token(9)
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    let url = if uses_postgres() {
        let server = std::env::var("PASSERELLE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        sqlx::any::install_default_drivers();
        let mut admin =
            <sqlx::AnyConnection as sqlx::Connection>::connect(&format!("{server}/postgres"))
                .await
                .expect("PostgreSQL at PASSERELLE_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create database");
        format!("{server}/{name}")
    } else {
        let dir = std::env::temp_dir().join(format!("passerelle-test-{name}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        format!("sqlite://{}?mode=rwc", dir.join("passerelle.db").display())
    };
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// The sandbox on 127.0.0.1:0, mounted as `passerelle serve` mounts it (`/sandbox/v2` and
/// `/sandbox`), with one client registered for signing.
struct Scheme {
    /// `http://127.0.0.1:PORT/sandbox`.
    base: String,
    clock: Arc<ManualClock>,
    store: Store,
}

/// A sandbox node on `store`, issuer `issuer`, with one client registered for signing and one
/// that is not.
fn node(store: &Store, clock: &Arc<ManualClock>, issuer: String) -> Sandbox {
    let (signing, _) = SigningKey::generate(SigAlg::Rs256).expect("key");
    let (decryption, _) = DecryptionKey::generate().expect("key");
    let personas =
        Personas::parse(passerelle_sandbox::personas::BUILTIN, "2026-11-18").expect("personas");
    let client = SandboxClient {
        client_id: CLIENT_ID.into(),
        name: "Signing Partner".into(),
        redirect_uris: vec![],
        keys: PublicKeys::from_jwks(vec![]).into(),
        services: vec![],
        csc: Some(CscRegistration {
            client_secret: SECRET.into(),
            redirect_uris: vec![CALLBACK.into()],
            account_ids: None,
        }),
    };
    let oidc_only = SandboxClient {
        client_id: "oidc-only".into(),
        name: "OIDC only".into(),
        redirect_uris: vec![CALLBACK.into()],
        keys: PublicKeys::from_jwks(vec![]).into(),
        services: vec![],
        csc: None,
    };
    let mut sandbox = Sandbox::new(
        store.clone(),
        clock.clone(),
        issuer,
        signing,
        decryption,
        b"sandbox secret for the test".to_vec(),
        personas,
        vec![client, oidc_only],
        120,
    );
    sandbox.limits = Arc::new(passerelle_limits::Limits::new(
        passerelle_limits::LimitSettings::off(),
    ));
    sandbox
}

async fn spawn() -> Scheme {
    let store = fresh_store().await;
    let clock = ManualClock::new(T0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let sandbox = node(&store, &clock, format!("{origin}/sandbox/v2"));
    let sandbox = Arc::new(sandbox);
    let app = axum::Router::new()
        .nest("/sandbox/v2", passerelle_sandbox::router(sandbox.clone()))
        .nest("/sandbox", passerelle_sandbox::signing_router(sandbox));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Scheme {
        base: format!("{origin}/sandbox"),
        clock,
        store,
    }
}

impl Scheme {
    fn client_with_secret(&self, secret: &str) -> CscClient {
        let clock = self.clock.clone();
        CscClient::new(CscConfig {
            base_url: format!("{}/csc/v1", self.base),
            client_id: CLIENT_ID.into(),
            client_secret: secret.into(),
            redirect_uri: CALLBACK.into(),
            sca_name: Some("Passerelle test".into()),
        })
        .expect("client")
        .with_clock(Arc::new(move || clock.now()))
    }

    fn client(&self) -> CscClient {
        self.client_with_secret(SECRET)
    }

    /// An origin-relative path of the sandbox as an absolute URL.
    fn absolute(&self, path: &str) -> String {
        let origin = self.base.trim_end_matches("/sandbox");
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{origin}{path}")
        }
    }
}

/// A person's browser: keeps cookies, follows no redirect by itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser")
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location in a {} answer", resp.status()))
        .to_str()
        .expect("location")
        .to_string()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The value of `attr` of the first tag that contains `marker`.
fn attr(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page:\n{html}"));
    let start = html[..at].rfind('<').expect("tag start");
    let end = at + html[at..].find('>').expect("tag end");
    let tag = &html[start..end];
    let key = format!("{attr}=\"");
    let i = tag.find(&key).expect("attribute") + key.len();
    let j = tag[i..].find('"').expect("quote");
    tag[i..i + j].replace("&#38;", "&").replace("&amp;", "&")
}

/// Dance 1 in the browser: the phone page, the number, the waiting page; returns where the
/// sandbox finally sends the browser (the client's redirect URI, with a code or an error).
async fn service_dance(
    scheme: &Scheme,
    browser: &reqwest::Client,
    url: &str,
    phone: &str,
) -> String {
    let page = browser.get(url).send().await.expect("authorize");
    assert_eq!(page.status(), StatusCode::OK, "the phone page");
    let html = page.text().await.expect("page");
    assert!(
        html.contains("type=\"tel\""),
        "a phone-number form:\n{html}"
    );
    assert!(
        html.contains("signing account"),
        "it says what is asked:\n{html}"
    );
    let action = attr(&html, "<form method=\"post\"", "action");
    let resp = browser
        .post(scheme.absolute(&action))
        .form(&[("phone", phone)])
        .send()
        .await
        .expect("phone");
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let wait = browser
        .get(scheme.absolute(&location(&resp)))
        .send()
        .await
        .expect("wait");
    assert_eq!(
        wait.status(),
        StatusCode::FOUND,
        "a scripted person decided"
    );
    location(&wait)
}

/// Dance 2 in the browser: no phone number, straight to the waiting page; returns where the
/// sandbox sends the browser.
async fn credential_dance(scheme: &Scheme, browser: &reqwest::Client, url: &str) -> String {
    let resp = browser.get(url).send().await.expect("authorize");
    assert!(
        resp.status().is_redirection(),
        "{}: {}",
        resp.status(),
        resp.text().await.unwrap_or_default()
    );
    let next = location(&resp);
    if next.starts_with(CALLBACK) {
        return next;
    }
    let wait = browser
        .get(scheme.absolute(&next))
        .send()
        .await
        .expect("wait");
    assert_eq!(wait.status(), StatusCode::FOUND);
    location(&wait)
}

/// The code the sandbox sent back, after checking the state.
fn code_of(back: &str, state: &str) -> String {
    assert!(back.starts_with(CALLBACK), "{back}");
    let q = query_of(back);
    assert_eq!(q.get("state").map(String::as_str), Some(state), "{back}");
    q.get("code")
        .unwrap_or_else(|| panic!("no code in {back}"))
        .clone()
}

fn hashes(n: usize, seed: u8) -> Vec<[u8; 32]> {
    (0..n)
        .map(|i| passerelle_sign::sha256(&[seed, (i % 256) as u8, (i / 256) as u8]))
        .collect()
}

/// A person's Bearer and credential (dance 1, list, info).
async fn enrol(
    scheme: &Scheme,
    account: &str,
    phone: &str,
) -> (String, passerelle_itsme::csc::Credential) {
    let client = scheme.client();
    let state = random_token(8);
    let url = client.service_authorization_url(account, &state, Some("EN"));
    let back = service_dance(scheme, &browser(), &url, phone).await;
    let bearer = client
        .redeem(&code_of(&back, &state))
        .await
        .expect("bearer");
    assert_eq!(bearer.kind, TokenKind::Bearer);
    let credential = client
        .credential(&bearer.access_token)
        .await
        .expect("credential");
    (bearer.access_token, credential)
}

/// A SAD for `hashes` (dance 2).
async fn approve(
    scheme: &Scheme,
    account: &str,
    credential_id: &str,
    hashes: &[[u8; 32]],
) -> String {
    let client = scheme.client();
    let state = random_token(8);
    let url = client
        .credential_authorization_url(
            account,
            &state,
            None,
            credential_id,
            hashes,
            "Lease - 3 pages",
        )
        .expect("url");
    let back = credential_dance(scheme, &browser(), &url).await;
    let sad = client.redeem(&code_of(&back, &state)).await.expect("SAD");
    assert_eq!(sad.kind, TokenKind::Sad);
    sad.access_token
}

fn openssl_cert(der: &[u8]) -> openssl::x509::X509 {
    openssl::x509::X509::from_der(der).expect("certificate")
}

async fn post_json(url: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().post(url).json(&body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_person_signs_three_hashes_through_both_authorizations() {
    let scheme = spawn().await;
    let client = scheme.client();

    let (status, info) = post_json(
        &format!("{}/csc/v1/info", scheme.base),
        None,
        json!({ "lang": "EN" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["specs"], "1.0.3.0");
    assert_eq!(info["authType"], json!(["oauth2code"]));
    assert!(
        info["methods"]
            .as_array()
            .expect("methods")
            .contains(&json!("signatures/signHash"))
    );

    // Dance 1: the phone page, Jan's number; his first time: his certificate is made.
    let (bearer, credential) = enrol(&scheme, "account-jan", JAN).await;
    assert_eq!(credential.chain.len(), 3, "signer, issuing CA, root");
    let root_pem = reqwest::get(format!("{}/ca/root.pem", scheme.base))
        .await
        .expect("root")
        .text()
        .await
        .expect("pem");
    let root = openssl::x509::X509::from_pem(root_pem.as_bytes()).expect("root PEM");
    assert_eq!(root.to_der().expect("der"), credential.chain[2]);
    let chain_pem = reqwest::get(format!("{}/ca/chain.pem", scheme.base))
        .await
        .expect("chain")
        .text()
        .await
        .expect("pem");
    assert_eq!(
        openssl::x509::X509::stack_from_pem(chain_pem.as_bytes())
            .expect("chain PEM")
            .len(),
        2
    );
    let (leaf, issuing) = (
        openssl_cert(&credential.chain[0]),
        openssl_cert(&credential.chain[1]),
    );
    assert!(
        leaf.verify(&issuing.public_key().expect("key"))
            .expect("verify")
    );
    assert!(
        issuing
            .verify(&root.public_key().expect("key"))
            .expect("verify")
    );
    assert!(
        root.verify(&root.public_key().expect("key"))
            .expect("verify")
    );
    assert_eq!(
        passerelle_sign::ca::subject_serial_number(&credential.chain[0]).expect("subject"),
        Some("85073001744".to_string()),
        "a Belgian document: the bare national number"
    );
    let (status, info) = post_json(
        &format!("{}/csc/v1/credentials/info", scheme.base),
        Some(&bearer),
        json!({ "credentialID": credential.id, "certificates": "single", "certInfo": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["key"]["len"], 2048);
    assert_eq!(info["SCAL"], "2");
    assert_eq!(
        info["cert"]["certificates"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        info["cert"]["subjectDN"]
            .as_str()
            .expect("DN")
            .contains("85073001744")
    );
    assert!(
        info["cert"]["issuerDN"]
            .as_str()
            .expect("DN")
            .contains("TEST ONLY")
    );

    // Dance 2: three hashes, straight to Jan (no phone number), a SAD.
    let to_sign = hashes(3, 1);
    let sad = approve(&scheme, "account-jan", &credential.id, &to_sign).await;
    let signatures = client
        .sign_hashes(&bearer, &credential.id, &sad, &to_sign)
        .await
        .expect("signatures");
    assert_eq!(signatures.len(), 3);
    for (hash, signature) in to_sign.iter().zip(&signatures) {
        assert!(
            passerelle_sign::keys::verify_sha256_prehash(&credential.chain[0], hash, signature)
                .expect("verify"),
            "each signature, in the order of the hashes"
        );
    }

    // A second enrolment finds the same credential: no second CREATE_CERT.
    let (bearer2, again) = enrol(&scheme, "account-jan", JAN).await;
    assert_eq!(again.id, credential.id);
    assert_eq!(again.chain[0], credential.chain[0]);

    // Revocation: 204, and the Bearer is dead; the other Bearer lives.
    client.revoke(&bearer).await.expect("revoke");
    match client.credential(&bearer).await {
        Err(CscError::Refused { error, .. }) => assert_eq!(error, "invalid_token"),
        other => panic!("a revoked Bearer: {other:?}"),
    }
    client.credential(&bearer2).await.expect("the other Bearer");

    // A Bearer lives an hour.
    scheme.clock.advance(3601);
    assert!(matches!(
        client.credential(&bearer2).await,
        Err(CscError::Refused { .. })
    ));
    assert_eq!(
        scheme
            .store
            .count_rows("sandbox_signing_credentials")
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn a_manual_person_sees_each_request_in_the_app_and_approves_with_the_code() {
    let scheme = spawn().await;
    let client = scheme.client();
    let browser = browser();
    let code = Personas::parse(passerelle_sandbox::personas::BUILTIN, "2026-11-18")
        .expect("personas")
        .find(ELS)
        .expect("Els")
        .code
        .clone();

    // Dance 1: phone page, then the waiting page names the app; the app announces CREATE_CERT.
    let state = random_token(8);
    let url = client.service_authorization_url("els", &state, Some("FR"));
    let html = browser
        .get(&url)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("page");
    assert!(html.contains("lang=\"fr\""), "the page speaks French");
    let action = attr(&html, "<form method=\"post\"", "action");
    let resp = browser
        .post(scheme.absolute(&action))
        .form(&[("phone", ELS)])
        .send()
        .await
        .expect("phone");
    let wait = scheme.absolute(&location(&resp));
    let html = browser
        .get(&wait)
        .send()
        .await
        .expect("wait")
        .text()
        .await
        .expect("page");
    let app = scheme.absolute(&attr(&html, "target=\"_blank\"", "href"));
    let page = browser
        .get(&app)
        .send()
        .await
        .expect("app")
        .text()
        .await
        .expect("page");
    assert!(page.contains("compte de signature itsme"), "{page}");
    assert!(
        page.contains("certificat qualifié"),
        "CREATE_CERT is announced:\n{page}"
    );
    let approved = browser
        .post(&app)
        .form(&[("code", code.as_str()), ("decision", "approve")])
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), StatusCode::OK);
    let back = location(&browser.get(&wait).send().await.expect("wait"));
    let bearer = client
        .redeem(&code_of(&back, &state))
        .await
        .expect("bearer");
    let credential = client
        .credential(&bearer.access_token)
        .await
        .expect("credential");

    // Dance 2: no phone page; the app shows the description and how many documents.
    let to_sign = hashes(3, 7);
    let state = random_token(8);
    let url = client
        .credential_authorization_url(
            "els",
            &state,
            Some("EN"),
            &credential.id,
            &to_sign,
            "Lease for Rue Haute 42 - €950",
        )
        .expect("url");
    let resp = browser.get(&url).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let wait = scheme.absolute(&location(&resp));
    let html = browser
        .get(&wait)
        .send()
        .await
        .expect("wait")
        .text()
        .await
        .expect("page");
    let app = scheme.absolute(&attr(&html, "target=\"_blank\"", "href"));
    let page = browser
        .get(&app)
        .send()
        .await
        .expect("app")
        .text()
        .await
        .expect("page");
    assert!(page.contains("Lease for Rue Haute 42 - €950"), "{page}");
    assert!(page.contains("3 documents"), "{page}");
    assert!(
        !page.contains("qualified certificate for electronic signatures"),
        "no second CREATE_CERT"
    );
    browser
        .post(&app)
        .form(&[("code", code.as_str()), ("decision", "approve")])
        .send()
        .await
        .expect("approve");
    let back = location(&browser.get(&wait).send().await.expect("wait"));
    let sad = client.redeem(&code_of(&back, &state)).await.expect("SAD");
    assert_eq!(sad.kind, TokenKind::Sad);
    // Any order of the same hashes is the same request; the answer keeps the order asked.
    let mut asked = to_sign.clone();
    asked.reverse();
    let signatures = client
        .sign_hashes(
            &bearer.access_token,
            &credential.id,
            &sad.access_token,
            &asked,
        )
        .await
        .expect("signatures");
    for (hash, signature) in asked.iter().zip(&signatures) {
        assert!(
            passerelle_sign::keys::verify_sha256_prehash(&credential.chain[0], hash, signature)
                .expect("verify")
        );
    }
}

/// An account_token made by hand: HS256 with `key`, for the account `jan`.
fn account_token(key: &[u8], iat: i64) -> String {
    use hmac::Mac as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let head = b64(br#"{"typ":"JWT","alg":"HS256"}"#);
    let claims = json!({ "sub": "jan", "iat": iat, "jti": random_token(8), "azp": CLIENT_ID });
    let claims = b64(claims.to_string().as_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(format!("{head}.{claims}").as_bytes());
    format!("{head}.{claims}.{}", b64(&mac.finalize().into_bytes()))
}

/// A service authorization URL with a given account_token.
fn service_url(scheme: &Scheme, token: &str) -> String {
    format!(
        "{}/csc/v1/oauth2/authorize?{}",
        scheme.base,
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", CALLBACK),
                ("scope", "service"),
                ("account_token", token),
            ])
            .finish()
    )
}

fn refused(result: Result<impl std::fmt::Debug, CscError>, error: &str, description: &str) {
    match result {
        Err(CscError::Refused {
            error: e,
            description: d,
        }) => {
            assert_eq!(e, error, "{d}");
            assert!(d.contains(description), "{d}");
        }
        other => panic!("expected {error} ({description}), got {other:?}"),
    }
}

/// The error the sandbox sends the browser back with.
fn error_of(back: &str) -> (String, String) {
    assert!(back.starts_with(CALLBACK), "{back}");
    let q = query_of(back);
    (
        q.get("error").cloned().unwrap_or_default(),
        q.get("error_description").cloned().unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_service_signs_only_what_the_person_approved_once_for_the_bearers_person() {
    let scheme = spawn().await;
    let client = scheme.client();
    let (bearer, credential) = enrol(&scheme, "jan", JAN).await;
    let to_sign = hashes(3, 2);

    // A hash the person did not approve.
    let sad = approve(&scheme, "jan", &credential.id, &to_sign).await;
    let mut other = to_sign.clone();
    other[1] = passerelle_sign::sha256(b"something else");
    refused(
        client
            .sign_hashes(&bearer, &credential.id, &sad, &other)
            .await,
        "invalid_request",
        "Hash is not authorized by the SAD",
    );
    refused(
        client
            .sign_hashes(&bearer, &credential.id, &sad, &to_sign[..2])
            .await,
        "invalid_request",
        "Hash is not authorized by the SAD",
    );
    // The refusals spent nothing; the SAD works once, then never again.
    client
        .sign_hashes(&bearer, &credential.id, &sad, &to_sign)
        .await
        .expect("signatures");
    refused(
        client
            .sign_hashes(&bearer, &credential.id, &sad, &to_sign)
            .await,
        "invalid_request",
        "Invalid parameter SAD",
    );

    // 71 hashes: the client refuses to send them, the sandbox refuses them at both ends.
    let many = hashes(71, 3);
    assert!(matches!(
        client.credential_authorization_url("jan", "s", None, &credential.id, &many, "x"),
        Err(CscError::Invalid(_))
    ));
    assert!(matches!(
        client
            .sign_hashes(&bearer, &credential.id, &sad, &many)
            .await,
        Err(CscError::Invalid(_))
    ));
    let url = client
        .credential_authorization_url("jan", "s71", None, &credential.id, &many[..70], "x")
        .expect("url");
    let extra = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(many[70]);
    let url = url
        .replace("&numSignatures=70", "&numSignatures=71")
        .replace("&hash=", &format!("&hash={extra}%2C"));
    let (error, description) = error_of(&credential_dance(&scheme, &browser(), &url).await);
    assert_eq!(error, "invalid_request");
    assert!(description.starts_with("BATCH_TOO_LARGE"), "{description}");
    let b64 = |h: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(h);
    let (status, body) = post_json(
        &format!("{}/csc/v1/signatures/signhash", scheme.base),
        Some(&bearer),
        json!({
            "credentialID": credential.id,
            "SAD": sad,
            "hash": many.iter().map(b64).collect::<Vec<_>>(),
            "signAlgo": "1.2.840.113549.1.1.11",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .expect("description")
            .starts_with("BATCH_TOO_LARGE")
    );

    // A replayed code buys nothing.
    let state = random_token(8);
    let url = client.service_authorization_url("jan", &state, None);
    let code = code_of(&service_dance(&scheme, &browser(), &url, JAN).await, &state);
    client.redeem(&code).await.expect("first");
    refused(client.redeem(&code).await, "invalid_grant", "already used");

    // Marie's Bearer does not reach Jan's credential, nor does her account his.
    let (marie_bearer, marie_credential) = enrol(&scheme, "marie", MARIE).await;
    assert_ne!(marie_credential.id, credential.id);
    let sad = approve(&scheme, "jan", &credential.id, &to_sign).await;
    refused(
        client
            .sign_hashes(&marie_bearer, &credential.id, &sad, &to_sign)
            .await,
        "invalid_request",
        "Invalid parameter credentialID",
    );
    refused(
        client
            .sign_hashes(&marie_bearer, &marie_credential.id, &sad, &to_sign)
            .await,
        "invalid_request",
        "Invalid parameter SAD",
    );
    let url = client
        .credential_authorization_url("marie", "sx", None, &credential.id, &to_sign, "x")
        .expect("url");
    let (error, description) = error_of(&credential_dance(&scheme, &browser(), &url).await);
    assert_eq!(
        (error.as_str(), description.as_str()),
        ("invalid_request", "Invalid parameter credentialID")
    );
    // The SAD still works for Jan's own Bearer.
    client
        .sign_hashes(&bearer, &credential.id, &sad, &to_sign)
        .await
        .expect("Jan's signatures");
}

#[tokio::test]
async fn bad_clients_forged_account_tokens_refusals_and_unshowable_descriptions_are_refused() {
    let scheme = spawn().await;
    let client = scheme.client();
    let (_, credential) = enrol(&scheme, "jan", JAN).await;

    // A wrong client secret: the token endpoint says invalid_client (401)…
    let state = random_token(8);
    let url = client.service_authorization_url("jan", &state, None);
    let code = code_of(&service_dance(&scheme, &browser(), &url, JAN).await, &state);
    let impostor = scheme.client_with_secret("not the secret");
    refused(impostor.redeem(&code).await, "invalid_client", "");
    let resp = reqwest::Client::new()
        .post(format!("{}/csc/v1/oauth2/token", scheme.base))
        .basic_auth(CLIENT_ID, Some("not the secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_url", CALLBACK),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()
            .contains_key(reqwest::header::WWW_AUTHENTICATE)
    );
    // …and the right one in HTTP Basic, with itsme's `redirect_url`, as a form, still works.
    let resp = reqwest::Client::new()
        .post(format!("{}/csc/v1/oauth2/token", scheme.base))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_url", CALLBACK),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);

    // An account_token signed with another key: back to the client with invalid_request.
    let state = random_token(8);
    let url = impostor.service_authorization_url("jan", &state, None);
    let resp = browser().get(&url).send().await.expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let (error, description) = error_of(&location(&resp));
    assert_eq!(error, "invalid_request");
    assert!(description.contains("signature"), "{description}");
    // The key as lowercase hex of the SHA-256, as the other reading of itsme's doc has it.
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(SECRET.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let hex_token = |iat: i64| account_token(hex.as_bytes(), iat);
    let resp = browser()
        .get(service_url(&scheme, &hex_token(T0)))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::OK, "the phone page");
    // An account_token from more than five minutes ago.
    scheme.clock.advance(301);
    let resp = browser()
        .get(service_url(&scheme, &hex_token(T0)))
        .send()
        .await
        .expect("authorize");
    let (error, description) = error_of(&location(&resp));
    assert_eq!(error, "invalid_request");
    assert!(description.contains("iat"), "{description}");
    scheme.clock.advance(-301);

    // A client not registered for signing, an unregistered redirect URI: pages, no redirect.
    let url = client.service_authorization_url("jan", "s", None);
    for (from, to) in [
        (
            format!("client_id={CLIENT_ID}"),
            "client_id=oidc-only".to_string(),
        ),
        ("broker.test".to_string(), "evil.test".to_string()),
    ] {
        let resp = browser()
            .get(url.replace(&from, &to))
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{to}");
        assert!(resp.headers().get(reqwest::header::LOCATION).is_none());
    }

    // A person who refuses in the app: access_denied.
    let state = random_token(8);
    let url = client.service_authorization_url("sophie", &state, None);
    let back = service_dance(&scheme, &browser(), &url, SOPHIE).await;
    let (error, _) = error_of(&back);
    assert_eq!(error, "access_denied");
    assert_eq!(query_of(&back).get("state"), Some(&state));

    // A description of 256 characters, or with a curly quote: the client refuses to send it…
    let one = hashes(1, 9);
    for description in ["x".repeat(256), "l’acte de vente".to_string()] {
        assert!(matches!(
            client.credential_authorization_url(
                "jan",
                "s",
                None,
                &credential.id,
                &one,
                &description
            ),
            Err(CscError::Invalid(_))
        ));
        // …and the sandbox refuses it from anyone who does.
        let url = client
            .credential_authorization_url("jan", "s", None, &credential.id, &one, "ok")
            .expect("url");
        let encoded: String =
            url::form_urlencoded::byte_serialize(description.as_bytes()).collect();
        let url = url.replace("&description=ok", &format!("&description={encoded}"));
        let (error, text) = error_of(&credential_dance(&scheme, &browser(), &url).await);
        assert_eq!(error, "invalid_request");
        assert!(text.starts_with("description"), "{text}");
    }

    // The Bearer endpoints want a Bearer.
    let (status, body) = post_json(
        &format!("{}/csc/v1/credentials/list", scheme.base),
        Some("forged"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    // Garbage is a 400 in CSC's shape, never a 500.
    let resp = reqwest::Client::new()
        .post(format!("{}/csc/v1/oauth2/token", scheme.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{not json")
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_tsa_stamps_a_time_stamp_query_and_nothing_else() {
    let scheme = spawn().await;
    let imprint = passerelle_sign::sha256(b"a signature value");
    let nonce = 0x1234_5678_9abc_def0;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/tsa", scheme.base))
        .header(
            reqwest::header::CONTENT_TYPE,
            passerelle_sign::tsp::QUERY_CONTENT_TYPE,
        )
        .body(passerelle_sign::tsp::request(&imprint, nonce))
        .send()
        .await
        .expect("tsa");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()[reqwest::header::CONTENT_TYPE],
        passerelle_sign::tsp::REPLY_CONTENT_TYPE
    );
    let reply = resp.bytes().await.expect("reply");
    let token =
        passerelle_sign::tsp::token_from_response(&reply, &imprint, nonce).expect("granted");
    assert!(!token.is_empty());

    let resp = http
        .post(format!("{}/tsa", scheme.base))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{}")
        .send()
        .await
        .expect("tsa");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = http
        .post(format!("{}/tsa", scheme.base))
        .header(
            reqwest::header::CONTENT_TYPE,
            passerelle_sign::tsp::QUERY_CONTENT_TYPE,
        )
        .body(vec![0u8; 17 * 1024])
        .send()
        .await
        .expect("tsa");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn two_nodes_on_one_database_share_one_ca_and_one_credential_per_person() {
    let store = fresh_store().await;
    let clock = ManualClock::new(T0);
    let a = node(&store, &clock, "https://one.test/sandbox/v2".into());
    let b = node(&store, &clock, "https://two.test/sandbox/v2".into());
    let (ca_a, ca_b) = tokio::join!(a.authorities(), b.authorities());
    let (ca_a, ca_b) = (ca_a.expect("CA"), ca_b.expect("CA"));
    assert_eq!(ca_a.root_der, ca_b.root_der);
    assert_eq!(ca_a.issuing_der, ca_b.issuing_der);
    assert_eq!(ca_a.tsa_der, ca_b.tsa_der);
    let jan = Personas::parse(passerelle_sandbox::personas::BUILTIN, "2026-11-18")
        .expect("personas")
        .find(JAN)
        .expect("Jan")
        .clone();
    let (one, two) = tokio::join!(a.signing_credential(&jan), b.signing_credential(&jan));
    let (one, two) = (one.expect("credential"), two.expect("credential"));
    assert_eq!(
        one.id, two.id,
        "the node that lost the race uses the winner's"
    );
    assert_eq!(one.cert_der, two.cert_der);
}
