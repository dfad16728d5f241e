//! Token formats per client (OIDC Registration §2) and the `claims` parameter (OIDC Core §5.5),
//! over real HTTP: ID tokens signed with each algorithm and encrypted to the client's key,
//! userinfo in its four forms, the ID token's contents, and claims asked for individually.

mod common;

use common::*;
use josekit::jwe::{ECDH_ES, RSA_OAEP, RSA_OAEP_256};
use josekit::jwk::Jwk;
use passerelle_core::formats::{
    ContentEncryption, Encryption, IdTokenContents, KeyManagement, TokenFormats,
};
use passerelle_core::oidc::IdTokenAlg;
use passerelle_jose::{PublicKeys, SigAlg};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

const JAN: &str = "+32470000001";

/// A relying party's own keys: an RSA and an EC key for encryption, and an RSA signing key
/// that must never be encrypted to.
struct RpKeys {
    rsa: Jwk,
    ec: Jwk,
    public_jwks: String,
}

fn rp_keys() -> RpKeys {
    let mut rsa = Jwk::generate_rsa_key(2048).expect("rsa");
    rsa.set_key_id("rp-rsa-enc");
    rsa.set_key_use("enc");
    let mut ec = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).expect("ec");
    ec.set_key_id("rp-ec-enc");
    ec.set_key_use("enc");
    let public = |k: &Jwk| {
        let mut p = k.to_public_key().expect("public");
        p.set_key_id(k.key_id().expect("kid"));
        p.set_key_use("enc");
        p
    };
    RpKeys {
        public_jwks: passerelle_jose::jwks_json([&public(&rsa), &public(&ec), &sig_only_key()])
            .to_string(),
        rsa,
        ec,
    }
}

/// An RSA key for signatures only.
fn sig_only_key() -> Jwk {
    let mut k = Jwk::generate_rsa_key(2048)
        .expect("rsa")
        .to_public_key()
        .expect("public");
    k.set_key_id("rp-sig");
    k.set_key_use("sig");
    k
}

impl RpKeys {
    /// Decrypts a JWE the way the relying party does, with the key its header names.
    fn decrypt(&self, jwe: &str) -> (Vec<u8>, Map<String, Value>) {
        let header = passerelle_jose::peek_header(jwe).expect("header");
        let (plain, _) = match header["alg"].as_str().expect("alg") {
            "RSA-OAEP-256" => josekit::jwe::deserialize_compact(
                jwe,
                &RSA_OAEP_256.decrypter_from_jwk(&self.rsa).expect("d"),
            ),
            "RSA-OAEP" => josekit::jwe::deserialize_compact(
                jwe,
                &RSA_OAEP.decrypter_from_jwk(&self.rsa).expect("d"),
            ),
            "ECDH-ES" => josekit::jwe::deserialize_compact(
                jwe,
                &ECDH_ES.decrypter_from_jwk(&self.ec).expect("d"),
            ),
            other => panic!("unexpected alg {other}"),
        }
        .expect("the client's key decrypts it");
        (plain, header)
    }
}

async fn published_keys(app: &TestApp) -> (PublicKeys, Value) {
    let jwks = reqwest::get(app.url("/auth/open/.well-known/openid-configuration/jwks"))
        .await
        .expect("jwks")
        .text()
        .await
        .expect("body");
    (
        PublicKeys::from_jwks_json(&jwks).expect("jwks"),
        serde_json::from_str(&jwks).expect("json"),
    )
}

/// Verifies a JWS from Passerelle with exactly `alg`.
async fn verify(app: &TestApp, jws: &str, alg: SigAlg) -> Map<String, Value> {
    let header = passerelle_jose::peek_header(jws).expect("header");
    assert_eq!(header["alg"], alg.name());
    published_keys(app)
        .await
        .0
        .verify(jws, &[alg])
        .expect("verifies against the JWKS")
}

async fn client_with(
    app: &TestApp,
    account: &str,
    grants: &[&str],
    alg: &str,
    jwks: Option<String>,
    formats: TokenFormats,
) -> TestClient {
    let client = app
        .add_client_with(account, "client_secret_basic", grants, alg, jwks)
        .await;
    app.update_client(&client, |c| c.formats = formats).await;
    client
}

/// A login with extra authorization parameters; returns the token response, or the RP
/// callback's query when no code came back.
async fn tokens_with(
    app: &TestApp,
    client: &TestClient,
    scope: &str,
    extra: &[(&str, &str)],
) -> Result<(Value, String), std::collections::HashMap<String, String>> {
    let (resp, nonce) = redeemed_with(app, client, scope, extra).await?;
    let status = resp.status();
    let body: Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "{body}");
    Ok((body, nonce))
}

/// A login with extra authorization parameters and the token endpoint's answer to its code.
async fn redeemed_with(
    app: &TestApp,
    client: &TestClient,
    scope: &str,
    extra: &[(&str, &str)],
) -> Result<(reqwest::Response, String), std::collections::HashMap<String, String>> {
    let browser = app.browser();
    let (verifier, challenge) = pkce();
    let nonce = passerelle_store::random_token(8);
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", RP_CALLBACK),
        ("scope", scope),
        ("state", "st"),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    query.extend_from_slice(extra);
    let resp = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(&query)
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let next = location(&resp);
    if next.starts_with(RP_CALLBACK) {
        return Err(query_of(&next));
    }
    let page = browser.get(&next).send().await.expect("phone page");
    let phone_page = page.text().await.expect("body");
    let login = Login {
        browser,
        verifier,
        state: "st".into(),
        nonce: nonce.clone(),
        scheme_url: next,
        phone_page,
    };
    let resp = app.submit_phone(&login, JAN).await;
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    let q = query_of(&rp);
    let code = q.get("code").ok_or_else(|| q.clone())?;
    Ok((app.redeem(client, code, &login.verifier).await, nonce))
}

async fn tokens(app: &TestApp, client: &TestClient, scope: &str) -> (Value, String) {
    tokens_with(app, client, scope, &[]).await.expect("a code")
}

/// The userinfo response's content type and body.
async fn userinfo_raw(app: &TestApp, tokens: &Value) -> (StatusCode, String, String) {
    let resp = reqwest::Client::new()
        .get(app.url("/auth/open/connect/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("userinfo");
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, resp.text().await.expect("body"))
}

fn encryption(alg: KeyManagement, enc: ContentEncryption) -> Option<Encryption> {
    Some(Encryption { alg, enc })
}

#[tokio::test]
async fn each_signing_algorithm_verifies_against_the_published_jwks() {
    let app = TestApp::spawn().await;
    let (_, jwks) = published_keys(&app).await;
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| k["use"] == "sig")
        .map(|k| k["alg"].as_str().expect("alg"))
        .collect();
    assert_eq!(algs, ["RS256", "PS256", "ES256"]);
    for (name, alg) in [
        ("RS256", SigAlg::Rs256),
        ("PS256", SigAlg::Ps256),
        ("ES256", SigAlg::Es256),
    ] {
        let client = client_with(&app, "sandbox", &[], name, None, TokenFormats::default()).await;
        let (tokens, nonce) = tokens(&app, &client, "openid name").await;
        let id = verify(&app, tokens["id_token"].as_str().expect("id_token"), alg).await;
        assert_eq!(id["aud"], client.id.as_str());
        assert_eq!(id["nonce"], nonce.as_str());
        assert!(id.contains_key("given_name"), "{name}");
    }
    let doc: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration"))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256"])
    );
    assert_eq!(
        doc["id_token_encryption_alg_values_supported"],
        json!(["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES"])
    );
    assert_eq!(doc["claims_parameter_supported"], true);
}

#[tokio::test]
async fn encrypted_id_tokens_decrypt_with_the_clients_key_to_a_signed_id_token() {
    let app = TestApp::spawn().await;
    let keys = rp_keys();
    for (alg, enc, sig) in [
        (
            KeyManagement::RsaOaep256,
            ContentEncryption::A128CbcHs256,
            "RS256",
        ),
        (KeyManagement::RsaOaep, ContentEncryption::A256Gcm, "PS256"),
        (
            KeyManagement::EcdhEs,
            ContentEncryption::A128CbcHs256,
            "ES256",
        ),
        (KeyManagement::EcdhEs, ContentEncryption::A256Gcm, "RS256"),
    ] {
        let formats = TokenFormats {
            id_token_encryption: encryption(alg, enc),
            ..TokenFormats::default()
        };
        let client = client_with(
            &app,
            "sandbox",
            &[],
            sig,
            Some(keys.public_jwks.clone()),
            formats,
        )
        .await;
        let (tokens, nonce) = tokens(&app, &client, "openid name").await;
        let jwe = tokens["id_token"].as_str().expect("id_token");
        assert_eq!(jwe.split('.').count(), 5, "a JWE, not a JWS");
        let (plain, header) = keys.decrypt(jwe);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["enc"], enc.as_str());
        assert_eq!(header["cty"], "JWT");
        let expected_kid = if alg == KeyManagement::EcdhEs {
            "rp-ec-enc"
        } else {
            "rp-rsa-enc"
        };
        assert_eq!(header["kid"], expected_kid);
        let inner = String::from_utf8(plain).expect("utf8");
        let id = verify(&app, &inner, SigAlg::parse(sig).expect("alg")).await;
        assert_eq!(id["nonce"], nonce.as_str());
        assert_eq!(id["aud"], client.id.as_str());
        assert_eq!(
            id["at_hash"],
            passerelle_jose::left_half_hash(tokens["access_token"].as_str().expect("at"))
        );
    }
}

#[tokio::test]
async fn userinfo_comes_as_json_signed_encrypted_or_signed_then_encrypted() {
    let app = TestApp::spawn().await;
    let keys = rp_keys();
    let e = encryption(KeyManagement::RsaOaep256, ContentEncryption::A256Gcm);
    for (signing, encryption) in [
        (None, None),
        (Some(IdTokenAlg::Ps256), None),
        (None, e),
        (Some(IdTokenAlg::Es256), e),
    ] {
        let formats = TokenFormats {
            userinfo_signing: signing,
            userinfo_encryption: encryption,
            ..TokenFormats::default()
        };
        let client = client_with(
            &app,
            "sandbox",
            &[],
            "RS256",
            Some(keys.public_jwks.clone()),
            formats,
        )
        .await;
        let (tokens, _) = tokens(&app, &client, "openid name").await;
        let (status, ct, body) = userinfo_raw(&app, &tokens).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let claims: Map<String, Value> = match (signing, encryption) {
            (None, None) => {
                assert!(ct.starts_with("application/json"), "{ct}");
                serde_json::from_str(&body).expect("json")
            }
            (Some(alg), None) => {
                assert_eq!(ct, "application/jwt");
                let c = verify(&app, &body, SigAlg::parse(alg.as_str()).expect("alg")).await;
                assert_eq!(c["iss"], app.issuer.as_str());
                assert_eq!(c["aud"], client.id.as_str());
                c
            }
            (None, Some(_)) => {
                assert_eq!(ct, "application/jwt");
                let (plain, header) = keys.decrypt(&body);
                assert!(
                    header.get("cty").is_none(),
                    "encrypted JSON, not a nested JWT"
                );
                serde_json::from_slice(&plain).expect("json")
            }
            (Some(alg), Some(_)) => {
                assert_eq!(ct, "application/jwt");
                let (plain, header) = keys.decrypt(&body);
                assert_eq!(header["cty"], "JWT");
                let inner = String::from_utf8(plain).expect("utf8");
                let c = verify(&app, &inner, SigAlg::parse(alg.as_str()).expect("alg")).await;
                assert_eq!(c["aud"], client.id.as_str());
                c
            }
        };
        assert!(claims["sub"].is_string());
        assert!(
            claims["given_name"].is_string(),
            "{signing:?} {encryption:?}"
        );
    }
}

#[tokio::test]
async fn id_token_claims_all_puts_every_granted_claim_in_the_id_token() {
    let app = TestApp::spawn().await;
    let scope = "openid name nin";
    let standard = client_with(&app, "sandbox", &[], "RS256", None, TokenFormats::default()).await;
    let (t, _) = tokens(&app, &standard, scope).await;
    let id = verify(&app, t["id_token"].as_str().expect("id"), SigAlg::Rs256).await;
    assert!(id.contains_key("given_name"));
    assert!(!id.contains_key("nin"), "standard keeps nin at userinfo");
    assert!(app.userinfo(&t).await["nin"].is_string());

    let all = client_with(
        &app,
        "sandbox",
        &[],
        "RS256",
        None,
        TokenFormats {
            id_token_claims: IdTokenContents::All,
            ..TokenFormats::default()
        },
    )
    .await;
    let (t, _) = tokens(&app, &all, scope).await;
    let id = verify(&app, t["id_token"].as_str().expect("id"), SigAlg::Rs256).await;
    assert!(id.contains_key("given_name"));
    assert_eq!(id["nin"].as_str().map(str::len), Some(11));
    assert_eq!(id["nin_type"], "PERSON");
}

#[tokio::test]
async fn the_claims_parameter_places_claims_and_needs_grants_for_protected_ones() {
    let app = TestApp::spawn_test_deployment().await;
    let client = client_with(
        &app,
        "production",
        &[],
        "RS256",
        None,
        TokenFormats::default(),
    )
    .await;
    let claims = json!({
        "id_token": { "birthdate": { "essential": true }, "nin": null },
        "userinfo": { "given_name": null, "nationality": null, "shoe_size": null },
    })
    .to_string();
    let (t, _) = tokens_with(&app, &client, "openid", &[("claims", &claims)])
        .await
        .expect("a code");
    let id = verify(&app, t["id_token"].as_str().expect("id"), SigAlg::Rs256).await;
    assert!(
        id["birthdate"].is_string(),
        "asked for the ID token: {id:?}"
    );
    assert!(!id.contains_key("given_name"), "asked for userinfo only");
    assert!(!id.contains_key("nin"), "protected and not granted");
    let userinfo = app.userinfo(&t).await;
    assert!(userinfo["given_name"].is_string(), "{userinfo}");
    assert!(
        userinfo.get("birthdate").is_none(),
        "asked for the ID token only"
    );
    assert!(
        userinfo.get("nationality").is_none(),
        "protected and not granted"
    );
    assert!(userinfo.get("shoe_size").is_none());
    assert_eq!(t["scope"], "openid", "the granted scope is what was asked");

    // Granted, the protected claim is returned where it was asked for; a value that does not
    // match keeps a claim out.
    app.set_grants(&client, &["nin"]).await;
    let claims = json!({
        "id_token": { "nin": null, "birthdate": { "value": "1900-01-01" } },
    })
    .to_string();
    let (t, _) = tokens_with(&app, &client, "openid", &[("claims", &claims)])
        .await
        .expect("a code");
    let id = verify(&app, t["id_token"].as_str().expect("id"), SigAlg::Rs256).await;
    assert_eq!(id["nin"].as_str().map(str::len), Some(11));
    assert!(
        !id.contains_key("birthdate"),
        "its value was not the one asked"
    );

    // A sub asked with a value admits only that person (OIDC Core §5.5.1): another one's login
    // yields no tokens.
    let same = json!({ "id_token": { "sub": { "value": id["sub"] } } }).to_string();
    let (t, _) = tokens_with(&app, &client, "openid", &[("claims", &same)])
        .await
        .expect("a code");
    assert!(t["id_token"].is_string());
    let other = json!({ "id_token": { "sub": { "value": "someone-else" } } }).to_string();
    let (resp, _) = redeemed_with(&app, &client, "openid", &[("claims", &other)])
        .await
        .expect("a code");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body.get("id_token").is_none());
}

#[tokio::test]
async fn a_malformed_claims_parameter_is_invalid_request_naming_the_problem() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for (claims, words) in [
        ("{\"id_token\":", "not valid JSON"),
        (
            "{\"userinfo\":[\"email\"]}",
            "userinfo must be a JSON object",
        ),
        (
            "{\"id_token\":{\"email\":{\"essential\":\"yes\"}}}",
            "essential must be true or false",
        ),
    ] {
        let q = tokens_with(&app, &client, "openid", &[("claims", claims)])
            .await
            .expect_err("refused before the scheme");
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
        let description = q.get("error_description").expect("description");
        assert!(description.contains(words), "{description}");
        assert_eq!(q.get("state").map(String::as_str), Some("st"));
    }
}

#[tokio::test]
async fn a_client_registered_for_encryption_without_an_enc_key_gets_an_error_not_plaintext() {
    let app = TestApp::spawn().await;
    // The client's jwks_uri publishes a signing key only.
    let jwks = passerelle_jose::jwks_json([&sig_only_key()]);
    let keys_app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let body = jwks.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, keys_app).await });
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.update_client(&client, |c| {
        c.jwks_uri = Some(jwks_uri);
        c.formats.id_token_encryption =
            encryption(KeyManagement::RsaOaep256, ContentEncryption::A128CbcHs256);
    })
    .await;
    let (login, q) = app.login(&client, "openid name", JAN).await;
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
    assert!(body.get("id_token").is_none() && body.get("access_token").is_none());
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.contains("encrypted ID tokens") && description.contains("RSA key"),
        "{description}"
    );

    // With the userinfo encrypted instead, the token is issued but userinfo refuses to answer
    // in the clear.
    app.update_client(&client, |c| {
        c.formats.id_token_encryption = None;
        c.formats.userinfo_encryption =
            encryption(KeyManagement::EcdhEs, ContentEncryption::A256Gcm);
    })
    .await;
    let (t, _) = tokens(&app, &client, "openid").await;
    let (status, _, body) = userinfo_raw(&app, &t).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("encrypted userinfo responses"), "{body}");
    assert!(!body.contains("\"sub\""));
}

#[tokio::test]
async fn registration_refuses_encryption_without_a_key_to_encrypt_to() {
    use passerelle::cli::clients::{ClientInput, FormatsInput, add};
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("formats-{}", passerelle_store::random_token(6)));
    std::fs::create_dir_all(&dir).expect("dir");
    let sig_only = dir.join("sig.json");
    std::fs::write(
        &sig_only,
        passerelle_jose::jwks_json([&sig_only_key()]).to_string(),
    )
    .expect("write");
    let with_enc = dir.join("enc.json");
    std::fs::write(&with_enc, rp_keys().public_jwks).expect("write");
    let input = |jwks: Option<std::path::PathBuf>, alg: &str| ClientInput {
        name: Some("Encrypting RP".into()),
        redirect_uris: vec![RP_CALLBACK.into()],
        account: Some("sandbox".into()),
        jwks: jwks.map(|p| std::fs::read_to_string(p).expect("jwks")),
        formats: FormatsInput {
            id_token_encryption_alg: Some(alg.into()),
            ..FormatsInput::default()
        },
        ..ClientInput::default()
    };
    let e = add(&app.store, &input(Some(sig_only), "RSA-OAEP-256"), T0)
        .await
        .expect_err("no enc key");
    assert!(e.to_string().contains("needs a RSA key"), "{e}");
    let e = add(&app.store, &input(None, "ECDH-ES"), T0)
        .await
        .expect_err("no keys at all");
    assert!(e.to_string().contains("--jwks"), "{e}");
    let e = add(&app.store, &input(Some(with_enc.clone()), "RSA1_5"), T0)
        .await
        .expect_err("unknown alg");
    assert!(
        e.to_string().contains("RSA-OAEP-256, RSA-OAEP, ECDH-ES"),
        "{e}"
    );
    let (record, _) = add(&app.store, &input(Some(with_enc), "ECDH-ES"), T0)
        .await
        .expect("registered");
    let described = passerelle::cli::clients::describe(&record, None);
    assert_eq!(described["id_token_encrypted_response_alg"], "ECDH-ES");
    assert_eq!(
        described["id_token_encrypted_response_enc"],
        "A128CBC-HS256"
    );
    assert_eq!(described["id_token_claims"], "standard");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_refresh_honours_the_logins_claims_parameter() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("sandbox", "client_secret_basic", &["refresh_token"])
        .await;
    let claims = json!({
        "id_token": { "birthdate": null },
        "userinfo": { "given_name": null },
    })
    .to_string();
    let (first, _) = tokens_with(
        &app,
        &client,
        "openid offline_access",
        &[("claims", &claims)],
    )
    .await
    .expect("a code");
    let refresh = |token: String| {
        reqwest::Client::new()
            .post(app.url("/auth/open/connect/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", token),
            ])
            .send()
    };
    let resp = refresh(first["refresh_token"].as_str().expect("rt").into())
        .await
        .expect("refresh");
    assert_eq!(resp.status(), StatusCode::OK);
    let second: Value = resp.json().await.expect("json");
    for t in [&first, &second] {
        let id = verify(&app, t["id_token"].as_str().expect("id"), SigAlg::Rs256).await;
        assert!(
            id["birthdate"].is_string(),
            "asked for the ID token: {id:?}"
        );
        assert!(!id.contains_key("given_name"), "asked for userinfo only");
        let userinfo = app.userinfo(t).await;
        assert!(userinfo["given_name"].is_string(), "{userinfo}");
        assert!(userinfo.get("birthdate").is_none(), "{userinfo}");
    }
}
