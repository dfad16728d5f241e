//! Pushed authorization requests (RFC 9126) and request objects (RFC 9101) over real HTTP: the
//! PAR endpoint, `request_uri` at the authorization endpoint (reloadable, single-use, bound to
//! its client, short-lived), signed and encrypted request objects, and every refusal with its
//! error code.

mod common;

use common::*;
use josekit::jwe::{JweHeader, RSA_OAEP, RSA_OAEP_256};
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader, PS256, RS256};
use josekit::jwt::JwtPayload;
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001"; // Belgian, approves
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The client's private keys (RSA for RS256 and PS256, P-256 for ES256) and another RSA key it
/// did not register.
struct Keys {
    rsa: Jwk,
    ec: Jwk,
    stranger: Jwk,
}

fn keys() -> &'static Keys {
    static KEYS: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rsa = Jwk::generate_rsa_key(2048).expect("rsa");
        rsa.set_key_id("rsa-1");
        let mut ec = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).expect("ec");
        ec.set_key_id("ec-1");
        let mut stranger = Jwk::generate_rsa_key(2048).expect("rsa");
        stranger.set_key_id("rsa-1");
        Keys { rsa, ec, stranger }
    })
}

/// A client authenticating with a secret (client_secret_basic) that registered public keys for
/// its request objects.
async fn client(app: &TestApp) -> TestClient {
    let k = keys();
    // A public JWK keeps no kid of its private half: it is set again.
    let public = |key: &Jwk| {
        let mut p = key.to_public_key().expect("public key");
        p.set_key_id(key.key_id().expect("kid"));
        Value::Object(p.as_ref().clone())
    };
    let jwks = json!({ "keys": [public(&k.rsa), public(&k.ec)] });
    app.add_client_with(
        "sandbox",
        "client_secret_basic",
        &[],
        "RS256",
        Some(jwks.to_string()),
    )
    .await
}

/// An authorization request's parameters, with its PKCE verifier, state and nonce.
struct Request {
    params: Vec<(String, String)>,
    verifier: String,
    state: String,
    nonce: String,
}

fn request(client: &TestClient) -> Request {
    let (verifier, challenge) = pkce();
    let state = passerelle_store::random_token(8);
    let nonce = passerelle_store::random_token(8);
    let params = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", RP_CALLBACK),
        ("scope", "openid profile"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Request {
        params,
        verifier,
        state,
        nonce,
    }
}

/// The claims of a request object carrying `r`, valid for five minutes from now.
fn claims(app: &TestApp, client: &TestClient, r: &Request) -> serde_json::Map<String, Value> {
    let now = app.clock_now();
    let mut c: serde_json::Map<String, Value> = r
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    c.insert("iss".into(), json!(client.id));
    c.insert("aud".into(), json!(app.issuer));
    c.insert("nbf".into(), json!(now));
    c.insert("exp".into(), json!(now + 300));
    c.insert("jti".into(), json!(passerelle_store::random_token(8)));
    c
}

fn sign(claims: &serde_json::Map<String, Value>, alg: &str, key: &Jwk) -> String {
    let payload = JwtPayload::from_map(claims.clone()).expect("payload");
    let mut header = JwsHeader::new();
    header.set_token_type("oauth-authz-req+jwt");
    if let Some(kid) = key.key_id() {
        header.set_key_id(kid);
    }
    let signer: Box<dyn josekit::jws::JwsSigner> = match alg {
        "RS256" => Box::new(RS256.signer_from_jwk(key).expect("signer")),
        "PS256" => Box::new(PS256.signer_from_jwk(key).expect("signer")),
        "ES256" => Box::new(ES256.signer_from_jwk(key).expect("signer")),
        other => panic!("{other}"),
    };
    josekit::jwt::encode_with_signer(&payload, &header, signer.as_ref()).expect("sign")
}

/// An unsigned JWT (`alg: none`).
fn unsigned(claims: &serde_json::Map<String, Value>) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none"})),
        b64(&Value::Object(claims.clone()))
    )
}

/// Passerelle's published request-object encryption key.
async fn op_enc_key(app: &TestApp) -> Jwk {
    let jwks: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration/jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["use"] == "enc")
        .expect("an enc key");
    assert_eq!(key["alg"], "RSA-OAEP-256");
    assert_eq!(key["kty"], "RSA");
    Jwk::from_map(key.as_object().expect("object").clone()).expect("jwk")
}

fn encrypt(jws: &str, alg: &str, enc: &str, key: &Jwk) -> String {
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    header.set_content_type("JWT");
    header.set_key_id(key.key_id().expect("kid"));
    let mut bare = key.clone();
    let _ = bare.set_parameter("alg", None);
    let encrypter: Box<dyn josekit::jwe::JweEncrypter> = match alg {
        "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(&bare).expect("enc")),
        "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(&bare).expect("enc")),
        other => panic!("{other}"),
    };
    josekit::jwe::serialize_compact(jws.as_bytes(), &header, encrypter.as_ref()).expect("jwe")
}

/// POSTs `form` to the PAR endpoint with the client's Basic credentials.
async fn push(app: &TestApp, client: &TestClient, form: &[(String, String)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/auth/open/connect/par"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form)
        .send()
        .await
        .expect("par")
}

/// Pushes `form` and returns the request_uri, asserting a 201 of the RFC 9126 §2.2 shape.
async fn pushed(app: &TestApp, client: &TestClient, form: &[(String, String)]) -> String {
    let resp = push(app, client, form).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["expires_in"], 90);
    let uri = body["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_string();
    assert!(uri.starts_with(PREFIX), "{uri}");
    uri
}

fn with(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// GET /authorize with `query` in `browser`.
async fn authorize(
    app: &TestApp,
    browser: &reqwest::Client,
    query: &[(String, String)],
) -> reqwest::Response {
    browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(query)
        .send()
        .await
        .expect("authorize")
}

/// Asserts the authorization endpoint sent the browser to the scheme; returns the login there.
async fn at_scheme(browser: reqwest::Client, resp: reqwest::Response, r: &Request) -> Login {
    assert_eq!(resp.status(), StatusCode::FOUND);
    let scheme_url = location(&resp);
    assert!(
        scheme_url.contains("/sandbox/v2/authorization?"),
        "{scheme_url}"
    );
    let phone_page = browser
        .get(&scheme_url)
        .send()
        .await
        .expect("phone page")
        .text()
        .await
        .expect("body");
    Login {
        browser,
        verifier: r.verifier.clone(),
        state: r.state.clone(),
        nonce: r.nonce.clone(),
        scheme_url,
        phone_page,
    }
}

/// Approves at the scheme and returns the RP callback's query.
async fn approve(app: &TestApp, login: &Login) -> std::collections::HashMap<String, String> {
    let resp = app.submit_phone(login, JAN).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    assert!(rp.starts_with(RP_CALLBACK), "{rp}");
    query_of(&rp)
}

/// Redeems the code of an approved login and checks the ID token.
async fn redeem_ok(
    app: &TestApp,
    client: &TestClient,
    login: &Login,
    q: &std::collections::HashMap<String, String>,
) {
    assert_eq!(q.get("state"), Some(&login.state), "{q:?}");
    let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}"));
    let resp = app.redeem(client, code, &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    let id_token = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
        .await;
    assert_eq!(id_token["nonce"], login.nonce.as_str());
}

/// Asserts an error page (no trusted redirect URI) naming `code` and containing `words`.
async fn error_page(resp: reqwest::Response, code: &str, words: &str) {
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let html = resp.text().await.expect("body");
    assert!(html.contains(code), "{html}");
    assert!(html.contains(words), "{words} not in {html}");
}

/// Asserts an error redirect to the RP with `code` and a description containing `words`.
fn error_redirect(resp: &reqwest::Response, code: &str, words: &str) {
    assert_eq!(resp.status(), StatusCode::FOUND);
    let url = location(resp);
    assert!(url.starts_with(RP_CALLBACK), "{url}");
    let q = query_of(&url);
    assert_eq!(q["error"], code, "{q:?}");
    assert!(q["error_description"].contains(words), "{q:?}");
}

/// A JSON error from the PAR endpoint.
async fn par_error(resp: reqwest::Response, status: StatusCode, code: &str, words: &str) {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], code, "{body}");
    let d = body["error_description"].as_str().expect("description");
    assert!(d.contains(words), "{words} not in {d}");
}

fn by_reference(client: &TestClient, uri: &str) -> Vec<(String, String)> {
    with(&[("client_id", client.id.as_str()), ("request_uri", uri)])
}

#[tokio::test]
async fn a_pushed_request_completes_a_login() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let r = request(&client);
    let uri = pushed(&app, &client, &r.params).await;
    let browser = app.browser();
    let resp = authorize(&app, &browser, &by_reference(&client, &uri)).await;
    let login = at_scheme(browser, resp, &r).await;
    let q = approve(&app, &login).await;
    redeem_ok(&app, &client, &login, &q).await;
}

#[tokio::test]
async fn reloading_the_authorization_page_does_not_use_up_the_request_uri_but_the_code_does() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let r = request(&client);
    let uri = pushed(&app, &client, &r.params).await;
    let query = by_reference(&client, &uri);
    // Two loads in one browser, one in another: all reach the scheme.
    let browser = app.browser();
    let first = authorize(&app, &browser, &query).await;
    let first = at_scheme(browser.clone(), first, &r).await;
    let second = authorize(&app, &browser, &query).await;
    let second = at_scheme(browser, second, &r).await;
    let other = app.browser();
    let third = authorize(&app, &other, &query).await;
    let third = at_scheme(other, third, &r).await;
    drop(first);
    let q = approve(&app, &second).await;
    redeem_ok(&app, &client, &second, &q).await;
    // Used: refused at the authorization endpoint, and the login still at the scheme gets no code.
    let again = authorize(&app, &app.browser(), &query).await;
    error_page(again, "invalid_request_uri", "already used").await;
    let q = approve(&app, &third).await;
    assert_eq!(q["error"], "invalid_request_uri", "{q:?}");
    assert!(q["error_description"].contains("already used"), "{q:?}");
    assert!(!q.contains_key("code"));
}

#[tokio::test]
async fn another_clients_request_uri_is_refused() {
    let app = TestApp::spawn().await;
    let owner = client(&app).await;
    let thief = client(&app).await;
    let uri = pushed(&app, &owner, &request(&owner).params).await;
    let resp = authorize(&app, &app.browser(), &by_reference(&thief, &uri)).await;
    error_page(resp, "invalid_request_uri", "not pushed by this client").await;
    // With a registered redirect URI of its own beside it, the error goes there.
    let mut query = by_reference(&thief, &uri);
    query.push(("redirect_uri".into(), RP_CALLBACK.into()));
    let resp = authorize(&app, &app.browser(), &query).await;
    error_redirect(&resp, "invalid_request_uri", "not pushed by this client");
    // An unknown one, and one without client_id, likewise get nothing.
    let unknown = format!("{PREFIX}nothing-here");
    let resp = authorize(&app, &app.browser(), &by_reference(&owner, &unknown)).await;
    error_page(resp, "invalid_request_uri", "unknown").await;
    let resp = authorize(
        &app,
        &app.browser(),
        &with(&[("request_uri", uri.as_str())]),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_request_uri_expires_after_90_seconds() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let uri = pushed(&app, &client, &request(&client).params).await;
    app.clock.advance(91);
    let resp = authorize(&app, &app.browser(), &by_reference(&client, &uri)).await;
    error_page(resp, "invalid_request_uri", "expired").await;
}

#[tokio::test]
async fn parameters_beside_request_uri_must_match_the_pushed_ones() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let r = request(&client);
    let uri = pushed(&app, &client, &r.params).await;
    // The same values beside it are fine (OIDC clients repeat response_type and scope).
    let mut same = by_reference(&client, &uri);
    same.push(("response_type".into(), "code".into()));
    same.push(("scope".into(), "openid profile".into()));
    let resp = authorize(&app, &app.browser(), &same).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).contains("/sandbox/v2/authorization?"));
    let mut other = by_reference(&client, &uri);
    other.push(("scope".into(), "openid nin".into()));
    let resp = authorize(&app, &app.browser(), &other).await;
    error_redirect(&resp, "invalid_request", "scope differs from the pushed");
}

#[tokio::test]
async fn a_request_uri_not_from_par_is_not_fetched() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let mut query = request(&client).params;
    query.push((
        "request_uri".into(),
        "https://rp.example/request.jwt".into(),
    ));
    let resp = authorize(&app, &app.browser(), &query).await;
    error_redirect(&resp, "request_uri_not_supported", "fetches no URL");
}

#[tokio::test]
async fn par_without_client_authentication_is_invalid_client() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/par"))
        .form(&request(&client).params)
        .send()
        .await
        .expect("par");
    assert!(resp.headers().contains_key("www-authenticate"));
    par_error(resp, StatusCode::UNAUTHORIZED, "invalid_client", "missing").await;
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/par"))
        .basic_auth(&client.id, Some("wrong"))
        .form(&request(&client).params)
        .send()
        .await
        .expect("par");
    par_error(
        resp,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "wrong secret",
    )
    .await;
}

#[tokio::test]
async fn par_validates_like_the_authorization_endpoint() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let mut r = request(&client);
    r.params.retain(|(k, _)| k != "code_challenge");
    par_error(
        push(&app, &client, &r.params).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "PKCE",
    )
    .await;
    let mut r = request(&client);
    r.params[2].1 = "https://evil.example/cb".into();
    par_error(
        push(&app, &client, &r.params).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "redirect",
    )
    .await;
    let mut form = request(&client).params;
    form.push(("request_uri".into(), format!("{PREFIX}x")));
    par_error(
        push(&app, &client, &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "request_uri cannot be pushed",
    )
    .await;
}

#[tokio::test]
async fn a_client_that_requires_par_cannot_send_a_plain_request() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    app.update_client(&client, |c| c.par.require_pushed = true)
        .await;
    let r = request(&client);
    let resp = authorize(&app, &app.browser(), &r.params).await;
    error_redirect(
        &resp,
        "invalid_request",
        "require_pushed_authorization_requests",
    );
    // A request object by value is not pushed either.
    let jwt = sign(&claims(&app, &client, &r), "RS256", &keys().rsa);
    let query = with(&[("client_id", client.id.as_str()), ("request", jwt.as_str())]);
    let resp = authorize(&app, &app.browser(), &query).await;
    error_page(
        resp,
        "invalid_request",
        "require_pushed_authorization_requests",
    )
    .await;
    let uri = pushed(&app, &client, &r.params).await;
    let browser = app.browser();
    let resp = authorize(&app, &browser, &by_reference(&client, &uri)).await;
    let login = at_scheme(browser, resp, &r).await;
    let q = approve(&app, &login).await;
    redeem_ok(&app, &client, &login, &q).await;
}

#[tokio::test]
async fn request_objects_signed_with_rs256_ps256_and_es256_are_taken_by_value_and_pushed() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let k = keys();
    for (alg, key) in [("RS256", &k.rsa), ("PS256", &k.rsa), ("ES256", &k.ec)] {
        // By value at the authorization endpoint, with nothing else outside but client_id.
        let r = request(&client);
        let jwt = sign(&claims(&app, &client, &r), alg, key);
        let query = with(&[("client_id", client.id.as_str()), ("request", jwt.as_str())]);
        let browser = app.browser();
        let resp = authorize(&app, &browser, &query).await;
        let login = at_scheme(browser, resp, &r).await;
        let q = approve(&app, &login).await;
        redeem_ok(&app, &client, &login, &q).await;
        // Pushed.
        let r = request(&client);
        let jwt = sign(&claims(&app, &client, &r), alg, key);
        let uri = pushed(&app, &client, &with(&[("request", jwt.as_str())])).await;
        let browser = app.browser();
        let resp = authorize(&app, &browser, &by_reference(&client, &uri)).await;
        let login = at_scheme(browser, resp, &r).await;
        let q = approve(&app, &login).await;
        redeem_ok(&app, &client, &login, &q).await;
    }
}

#[tokio::test]
async fn request_objects_encrypted_to_the_published_key_are_taken() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let op = op_enc_key(&app).await;
    for enc in ["A128CBC-HS256", "A256GCM"] {
        let r = request(&client);
        let jwe = encrypt(
            &sign(&claims(&app, &client, &r), "PS256", &keys().rsa),
            "RSA-OAEP-256",
            enc,
            &op,
        );
        let uri = pushed(&app, &client, &with(&[("request", jwe.as_str())])).await;
        let browser = app.browser();
        let resp = authorize(&app, &browser, &by_reference(&client, &uri)).await;
        let login = at_scheme(browser, resp, &r).await;
        let q = approve(&app, &login).await;
        redeem_ok(&app, &client, &login, &q).await;
        // By value too.
        let r = request(&client);
        let jwe = encrypt(
            &sign(&claims(&app, &client, &r), "ES256", &keys().ec),
            "RSA-OAEP-256",
            enc,
            &op,
        );
        let query = with(&[("client_id", client.id.as_str()), ("request", jwe.as_str())]);
        let resp = authorize(&app, &app.browser(), &query).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert!(location(&resp).contains("/sandbox/v2/authorization?"));
    }
    // Another key management than the advertised one, or a JWE holding no signed JWT, is refused.
    let r = request(&client);
    let jws = sign(&claims(&app, &client, &r), "RS256", &keys().rsa);
    let oaep = encrypt(&jws, "RSA-OAEP", "A128CBC-HS256", &op);
    par_error(
        push(&app, &client, &with(&[("request", oaep.as_str())])).await,
        StatusCode::BAD_REQUEST,
        "invalid_request_object",
        "RSA-OAEP-256",
    )
    .await;
    let plain = encrypt(
        &unsigned(&claims(&app, &client, &r)),
        "RSA-OAEP-256",
        "A256GCM",
        &op,
    );
    par_error(
        push(&app, &client, &with(&[("request", plain.as_str())])).await,
        StatusCode::BAD_REQUEST,
        "invalid_request_object",
        "not \"none\"",
    )
    .await;
}

#[tokio::test]
async fn bad_request_objects_are_refused_naming_the_problem() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let other = client_with_id(&app).await;
    let k = keys();
    let r = request(&client);
    let good = claims(&app, &client, &r);
    let now = app.clock_now();
    let changed = |name: &str, value: Value| {
        let mut c = good.clone();
        c.insert(name.into(), value);
        c
    };
    let removed = |name: &str| {
        let mut c = good.clone();
        c.remove(name);
        c
    };
    let cases: Vec<(String, &str)> = vec![
        (unsigned(&good), "not \"none\""),
        (hs256(&good), "not \"HS256\""),
        (sign(&good, "RS256", &k.stranger), "signature"),
        (
            sign(
                &changed("aud", json!("https://other.example")),
                "RS256",
                &k.rsa,
            ),
            "aud must be the issuer",
        ),
        (
            sign(
                &changed("aud", json!([app.issuer, "https://other.example"])),
                "RS256",
                &k.rsa,
            ),
            "aud must be the issuer",
        ),
        (
            sign(&changed("iss", json!(other)), "RS256", &k.rsa),
            "iss must be the client_id",
        ),
        (
            sign(&changed("exp", json!(now - 1)), "ES256", &k.ec),
            "expired",
        ),
        (sign(&removed("exp"), "ES256", &k.ec), "no exp"),
        (sign(&removed("nbf"), "ES256", &k.ec), "no nbf"),
        (
            sign(&changed("exp", json!(now + 3601)), "PS256", &k.rsa),
            "more than 60 minutes",
        ),
        (
            sign(&changed("nbf", json!(now + 600)), "PS256", &k.rsa),
            "nbf is in the future",
        ),
        (
            sign(&changed("client_id", json!(other)), "RS256", &k.rsa),
            "client_id",
        ),
        (sign(&removed("client_id"), "RS256", &k.rsa), "client_id"),
        ("not-a-jwt".to_string(), "not a JWT"),
    ];
    for (jwt, words) in &cases {
        // At PAR: JSON.
        par_error(
            push(&app, &client, &with(&[("request", jwt.as_str())])).await,
            StatusCode::BAD_REQUEST,
            "invalid_request_object",
            words,
        )
        .await;
        // By value: a page when nothing outside names a redirect URI, else a redirect there.
        let query = with(&[("client_id", client.id.as_str()), ("request", jwt.as_str())]);
        error_page(
            authorize(&app, &app.browser(), &query).await,
            "invalid_request_object",
            "",
        )
        .await;
        let query = with(&[
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("state", "outside"),
            ("request", jwt.as_str()),
        ]);
        let resp = authorize(&app, &app.browser(), &query).await;
        error_redirect(&resp, "invalid_request_object", words);
        assert_eq!(query_of(&location(&resp))["state"], "outside");
    }
    // response_type outside must equal the one inside.
    let jwt = sign(&good, "RS256", &k.rsa);
    let query = with(&[
        ("client_id", client.id.as_str()),
        ("response_type", "token"),
        ("request", jwt.as_str()),
    ]);
    error_page(
        authorize(&app, &app.browser(), &query).await,
        "invalid_request_object",
        "response_type",
    )
    .await;
}

fn hs256(claims: &serde_json::Map<String, Value>) -> String {
    let payload = JwtPayload::from_map(claims.clone()).expect("payload");
    let signer = josekit::jws::HS256
        .signer_from_bytes(b"0123456789abcdef0123456789abcdef")
        .expect("hs");
    josekit::jwt::encode_with_signer(&payload, &JwsHeader::new(), &signer).expect("sign")
}

async fn client_with_id(app: &TestApp) -> String {
    app.add_client("sandbox", "client_secret_basic", &[])
        .await
        .id
}

#[tokio::test]
async fn a_client_that_requires_signed_request_objects_cannot_send_plain_ones() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    app.update_client(&client, |c| c.par.require_signed = true)
        .await;
    let r = request(&client);
    let resp = authorize(&app, &app.browser(), &r.params).await;
    error_redirect(&resp, "invalid_request", "require_signed_request_object");
    par_error(
        push(&app, &client, &r.params).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "require_signed_request_object",
    )
    .await;
    // A plain request pushed before the requirement is refused once it applies.
    app.update_client(&client, |c| c.par.require_signed = false)
        .await;
    let uri = pushed(&app, &client, &r.params).await;
    app.update_client(&client, |c| c.par.require_signed = true)
        .await;
    let resp = authorize(&app, &app.browser(), &by_reference(&client, &uri)).await;
    error_redirect(&resp, "invalid_request", "require_signed_request_object");
    // Signed, by value and pushed, it goes through.
    let jwt = sign(&claims(&app, &client, &r), "ES256", &keys().ec);
    let query = with(&[("client_id", client.id.as_str()), ("request", jwt.as_str())]);
    let resp = authorize(&app, &app.browser(), &query).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).contains("/sandbox/v2/authorization?"));
    let uri = pushed(&app, &client, &with(&[("request", jwt.as_str())])).await;
    let browser = app.browser();
    let resp = authorize(&app, &browser, &by_reference(&client, &uri)).await;
    let login = at_scheme(browser, resp, &r).await;
    let q = approve(&app, &login).await;
    redeem_ok(&app, &client, &login, &q).await;
}

#[tokio::test]
async fn discovery_advertises_par_and_request_objects() {
    let app = TestApp::spawn().await;
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        format!("{}/connect/par", app.issuer)
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert_eq!(doc["request_parameter_supported"], true);
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(
        doc["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256"])
    );
    assert_eq!(
        doc["request_object_encryption_alg_values_supported"],
        json!(["RSA-OAEP-256"])
    );
    assert_eq!(
        doc["request_object_encryption_enc_values_supported"],
        json!(["A128CBC-HS256", "A256GCM"])
    );
    op_enc_key(&app).await;
}

#[tokio::test]
async fn a_request_pushed_to_one_node_is_used_at_another_and_survives_a_restart() {
    let app = TestApp::spawn().await;
    let client = client(&app).await;
    let other = app.second_node().await;
    // Pushed to the second node, encrypted to the key both nodes publish.
    let r = request(&client);
    let jwe = encrypt(
        &sign(&claims(&app, &client, &r), "RS256", &keys().rsa),
        "RSA-OAEP-256",
        "A256GCM",
        &op_enc_key(&other).await,
    );
    let uri = pushed(&other, &client, &with(&[("request", jwe.as_str())])).await;
    let app = app.restart().await;
    let browser = app.browser();
    let resp = authorize(&app, &browser, &by_reference(&client, &uri)).await;
    let login = at_scheme(browser, resp, &r).await;
    let q = approve(&app, &login).await;
    redeem_ok(&app, &client, &login, &q).await;
    let again = authorize(&other, &other.browser(), &by_reference(&client, &uri)).await;
    error_page(again, "invalid_request_uri", "already used").await;
}
