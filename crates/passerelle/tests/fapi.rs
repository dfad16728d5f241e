//! A client held to the FAPI 2.0 Security Profile: the whole flow as FAPI 2.0 asks for it (PAR
//! with private_key_jwt, PKCE S256, a DPoP-bound token used at userinfo), and a clear refusal of
//! everything weaker, over real HTTP, on the database the suite runs against.

mod common;

use common::*;
use passerelle_jose::dpop::{access_token_hash, sign_proof};
use passerelle_jose::{Claims, SigAlg, SigningKey};
use passerelle_store::random_token;
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001";
const PAR: &str = "/auth/open/connect/par";
const TOKEN: &str = "/auth/open/connect/token";
const USERINFO: &str = "/auth/open/connect/userinfo";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A FAPI 2.0 client: private_key_jwt with an ES256 and an RS256 key registered (so that an
/// RS256 assertion verifies and is refused for the profile alone), ES256 ID tokens.
struct Fapi {
    client: TestClient,
    es256: SigningKey,
    rs256: SigningKey,
    dpop: SigningKey,
    nonce: Option<String>,
}

impl Fapi {
    async fn register(app: &TestApp) -> Fapi {
        let es256 = SigningKey::generate(SigAlg::Es256).expect("key").0;
        let rs256 = SigningKey::generate(SigAlg::Rs256).expect("key").0;
        let jwks = passerelle_jose::jwks_json([es256.public_jwk(), rs256.public_jwk()]).to_string();
        let client = app
            .add_client_with("sandbox", "private_key_jwt", &[], "ES256", Some(jwks))
            .await;
        app.update_client(&client, |c| {
            c.profile = Some(passerelle_core::oidc::Profile::Fapi2)
        })
        .await;
        Fapi {
            client,
            es256,
            rs256,
            dpop: SigningKey::generate(SigAlg::Es256).expect("key").0,
            nonce: None,
        }
    }

    fn assertion(&self, app: &TestApp, key: &SigningKey) -> String {
        let mut c = Claims::new();
        for (k, v) in [
            ("iss", json!(self.client.id)),
            ("sub", json!(self.client.id)),
            ("aud", json!(app.issuer)),
            ("jti", json!(random_token(12))),
            ("exp", json!(app.clock_now() + 60)),
            ("iat", json!(app.clock_now())),
        ] {
            c.insert(k.into(), v);
        }
        key.sign(&c, None).expect("sign")
    }

    fn proof(&self, app: &TestApp, method: &str, path: &str, token: Option<&str>) -> String {
        let mut c = Claims::new();
        c.insert("jti".into(), json!(random_token(16)));
        c.insert("htm".into(), json!(method));
        c.insert("htu".into(), json!(app.url(path)));
        c.insert("iat".into(), json!(app.clock_now()));
        if let Some(n) = &self.nonce {
            c.insert("nonce".into(), json!(n));
        }
        if let Some(t) = token {
            c.insert("ath".into(), json!(access_token_hash(t)));
        }
        sign_proof(&self.dpop, &c).expect("proof")
    }

    fn authenticated(
        &self,
        app: &TestApp,
        key: &SigningKey,
        mut form: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        form.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
        form.push(("client_assertion".into(), self.assertion(app, key)));
        form
    }
}

fn authorization_request(client_id: &str, challenge: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", RP_CALLBACK),
        ("scope", "openid profile"),
        ("state", "fapi-state"),
        ("nonce", "fapi-nonce"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// PAR (with `dpop` as its DPoP proof), the authorization endpoint and an approval: the code and
/// the PKCE verifier.
async fn code_for(app: &TestApp, fapi: &Fapi, dpop: Option<String>) -> (String, String) {
    let (verifier, challenge) = pkce();
    let form = fapi.authenticated(
        app,
        &fapi.es256,
        authorization_request(&fapi.client.id, &challenge),
    );
    let mut req = reqwest::Client::new().post(app.url(PAR)).form(&form);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let resp = req.send().await.expect("par");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.expect("json");
    let browser = app.browser();
    let resp = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("client_id", fapi.client.id.as_str()),
            ("request_uri", body["request_uri"].as_str().expect("uri")),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let scheme_url = location(&resp);
    let phone_page = browser
        .get(&scheme_url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let login = Login {
        browser,
        verifier: verifier.clone(),
        state: "fapi-state".into(),
        nonce: "fapi-nonce".into(),
        scheme_url,
        phone_page,
    };
    let resp = app.submit_phone(&login, JAN).await;
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    let q = query_of(&rp);
    assert_eq!(q.get("iss"), Some(&app.issuer));
    (
        q.get("code")
            .unwrap_or_else(|| panic!("no code: {rp}"))
            .clone(),
        verifier,
    )
}

async fn token_request(
    app: &TestApp,
    fapi: &Fapi,
    key: &SigningKey,
    code: &str,
    verifier: &str,
    dpop: Option<String>,
) -> reqwest::Response {
    let form = fapi.authenticated(
        app,
        key,
        vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code.into()),
            ("redirect_uri".into(), RP_CALLBACK.into()),
            ("code_verifier".into(), verifier.into()),
        ],
    );
    let mut req = reqwest::Client::new().post(app.url(TOKEN)).form(&form);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    req.send().await.expect("token")
}

#[tokio::test]
async fn a_fapi_client_logs_in_with_par_private_key_jwt_and_dpop() {
    let app = TestApp::spawn().await;
    let mut fapi = Fapi::register(&app).await;
    let (code, verifier) = code_for(&app, &fapi, None).await;
    // First proof without the server's nonce: told to use one.
    let (_, err, _, nonce) = refusal_of(
        token_request(
            &app,
            &fapi,
            &fapi.es256,
            &code,
            &verifier,
            Some(fapi.proof(&app, "POST", TOKEN, None)),
        )
        .await,
    )
    .await;
    assert_eq!(err, "use_dpop_nonce");
    fapi.nonce = nonce;
    let resp = token_request(
        &app,
        &fapi,
        &fapi.es256,
        &code,
        &verifier,
        Some(fapi.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["token_type"], "DPoP");
    let id = tokens["id_token"].as_str().expect("id_token");
    let header = passerelle_jose::peek_header(id).expect("header");
    assert_eq!(header["alg"], "ES256");
    app.verify_id_token(id, &fapi.client.id).await;
    let at = tokens["access_token"].as_str().expect("at");
    let resp = reqwest::Client::new()
        .get(app.url(USERINFO))
        .header("Authorization", format!("DPoP {at}"))
        .header("DPoP", fapi.proof(&app, "GET", USERINFO, Some(at)))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(resp.status(), StatusCode::OK);
    // As a Bearer token it is worth nothing.
    let bearer = reqwest::Client::new()
        .get(app.url(USERINFO))
        .bearer_auth(at)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
}

/// openid-client sends its DPoP proof with every request to the authorization server, PAR
/// included: the code is then bound to the key (RFC 9449 §10.1), and the flow goes on as before.
#[tokio::test]
async fn a_fapi_client_that_sends_its_proof_at_par_gets_a_code_bound_to_its_key() {
    let app = TestApp::spawn().await;
    let mut fapi = Fapi::register(&app).await;
    // The first push, without the server's nonce, is told to use one (and retried with it).
    let (_, challenge) = pkce();
    let form = fapi.authenticated(
        &app,
        &fapi.es256,
        authorization_request(&fapi.client.id, &challenge),
    );
    let resp = reqwest::Client::new()
        .post(app.url(PAR))
        .header("DPoP", fapi.proof(&app, "POST", PAR, None))
        .form(&form)
        .send()
        .await
        .expect("par");
    let (status, err, _, nonce) = refusal_of(resp).await;
    assert_eq!(
        (status, err.as_str()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    fapi.nonce = nonce;
    let (code, verifier) = code_for(&app, &fapi, Some(fapi.proof(&app, "POST", PAR, None))).await;
    // A proof of another key, with everything else right, is refused.
    let mut thief = DpopKey::new(SigAlg::Es256);
    thief.nonce = fapi.nonce.clone();
    let stolen = thief.proof(&app, "POST", TOKEN, None);
    let (_, err, description, _) =
        refusal_of(token_request(&app, &fapi, &fapi.es256, &code, &verifier, Some(stolen)).await)
            .await;
    assert_eq!(err, "invalid_grant", "{description}");
    let (code, verifier) = code_for(&app, &fapi, Some(fapi.proof(&app, "POST", PAR, None))).await;
    // The nonce PAR gave is good at the token endpoint: no second round there.
    let proof = fapi.proof(&app, "POST", TOKEN, None);
    let resp = token_request(&app, &fapi, &fapi.es256, &code, &verifier, Some(proof)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["token_type"], "DPoP");
}

#[tokio::test]
async fn a_fapi_client_is_refused_anything_weaker() {
    let app = TestApp::spawn().await;
    let mut fapi = Fapi::register(&app).await;

    // A plain authorization request, not pushed.
    let (_, challenge) = pkce();
    let resp = app
        .browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&authorization_request(&fapi.client.id, &challenge))
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("FAPI 2.0"), "{q:?}");

    // PAR with an RS256 client assertion, although the key is registered.
    let form = fapi.authenticated(
        &app,
        &fapi.rs256,
        authorization_request(&fapi.client.id, &challenge),
    );
    let resp = reqwest::Client::new()
        .post(app.url(PAR))
        .form(&form)
        .send()
        .await
        .expect("par");
    let (status, err, description, _) = refusal_of(resp).await;
    assert_eq!(
        (status, err.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(description.contains("FAPI 2.0"), "{description}");

    let (code, verifier) = code_for(&app, &fapi, None).await;
    // The token request: without DPoP, with an RS256 assertion, with an RS256 proof.
    let (status, err, _, nonce) =
        refusal_of(token_request(&app, &fapi, &fapi.es256, &code, &verifier, None).await).await;
    assert_eq!(
        (status, err.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_dpop_proof")
    );
    fapi.nonce = nonce;
    let good_proof = fapi.proof(&app, "POST", TOKEN, None);
    let (status, err, _, _) = refusal_of(
        token_request(&app, &fapi, &fapi.rs256, &code, &verifier, Some(good_proof)).await,
    )
    .await;
    assert_eq!(
        (status, err.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let rs_key = SigningKey::generate(SigAlg::Rs256).expect("key").0;
    let mut c = Claims::new();
    c.insert("jti".into(), json!(random_token(16)));
    c.insert("htm".into(), json!("POST"));
    c.insert("htu".into(), json!(app.url(TOKEN)));
    c.insert("iat".into(), json!(app.clock_now()));
    c.insert("nonce".into(), json!(fapi.nonce));
    let rs_proof = sign_proof(&rs_key, &c).expect("proof");
    let (_, err, description, _) =
        refusal_of(token_request(&app, &fapi, &fapi.es256, &code, &verifier, Some(rs_proof)).await)
            .await;
    assert_eq!(err, "invalid_dpop_proof");
    assert!(description.contains("ES256"), "{description}");

    // A code older than 30 s (FAPI codes are short-lived), with everything else right.
    app.clock.advance(31);
    let proof = fapi.proof(&app, "POST", TOKEN, None);
    let resp = token_request(&app, &fapi, &fapi.es256, &code, &verifier, Some(proof)).await;
    let (_, err, description, nonce) = refusal_of(resp).await;
    if err == "use_dpop_nonce" {
        fapi.nonce = nonce;
        let proof = fapi.proof(&app, "POST", TOKEN, None);
        let (_, err, description, _) = refusal_of(
            token_request(&app, &fapi, &fapi.es256, &code, &verifier, Some(proof)).await,
        )
        .await;
        assert_eq!(err, "invalid_grant", "{description}");
    } else {
        assert_eq!(err, "invalid_grant", "{description}");
    }
}

#[tokio::test]
async fn the_cli_registers_a_fapi_client_only_as_the_profile_allows() {
    let app = TestApp::spawn().await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(args)
            .env("PASSERELLE_DATABASE_URL", &app.database_url)
            .env_remove("RUST_LOG")
            .output()
            .expect("run passerelle")
    };
    let dir = std::env::temp_dir().join(format!("fapi-{}", random_token(8)));
    std::fs::create_dir_all(&dir).expect("dir");
    let jwks = dir.join("jwks.json");
    let key = SigningKey::generate(SigAlg::Es256).expect("key").0;
    std::fs::write(
        &jwks,
        passerelle_jose::jwks_json([key.public_jwk()]).to_string(),
    )
    .expect("write");
    let jwks = jwks.to_str().expect("path");
    let base = [
        "client",
        "add",
        "--name",
        "Bank",
        "--redirect-uri",
        "https://bank.example/cb",
        "--profile",
        "fapi2",
    ];
    for (extra, says) in [
        (vec![], "private_key_jwt"),
        (
            vec!["--auth-method", "private_key_jwt", "--jwks", jwks],
            "ES256 or PS256",
        ),
        (
            vec![
                "--auth-method",
                "private_key_jwt",
                "--jwks",
                jwks,
                "--id-token-alg",
                "ES256",
                "--dpop-bound-access-tokens",
                "false",
            ],
            "always uses PAR and DPoP",
        ),
    ] {
        let out = run(&[base.as_slice(), extra.as_slice()].concat());
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{says} not in {err}");
    }
    let out = run(&[
        base.as_slice(),
        &[
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            jwks,
            "--id-token-alg",
            "ES256",
            "--json",
        ],
    ]
    .concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(c["fapi_profile"], "fapi2");
    assert_eq!(c["require_pushed_authorization_requests"], true);
    assert_eq!(c["dpop_bound_access_tokens"], true);
    std::fs::remove_dir_all(&dir).ok();
}
