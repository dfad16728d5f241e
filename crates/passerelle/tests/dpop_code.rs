//! Authorization codes bound to a DPoP key (RFC 9449 §10, §10.1) over real HTTP, on the database
//! the suite runs against: by `dpop_jkt` at the authorization endpoint, in a request object or at
//! PAR, and by a DPoP proof sent with the push. A bound code gives tokens only to a token request
//! with a proof of its key; any other presentation uses it up and gives nothing.

mod common;

use common::*;
use passerelle_jose::{Claims, SigAlg, SigningKey};
use passerelle_store::token_hash;
use reqwest::StatusCode;
use serde_json::{Value, json};

const JAN: &str = "+32470000001";
const PAR: &str = "/auth/open/connect/par";
const TOKEN: &str = "/auth/open/connect/token";
const USERINFO: &str = "/auth/open/connect/userinfo";

/// An authorization request's parameters with `extra`, and its PKCE verifier.
fn authorization_request(
    client: &TestClient,
    extra: &[(&str, &str)],
) -> (Vec<(String, String)>, String) {
    let (verifier, challenge) = pkce();
    let params = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", RP_CALLBACK),
        ("scope", "openid profile"),
        ("state", "s"),
        ("nonce", "n"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (params, verifier)
}

/// POSTs `form` to the PAR endpoint with the client's Basic credentials and `dpop` as proof.
async fn push(
    app: &TestApp,
    client: &TestClient,
    form: &[(String, String)],
    dpop: Option<String>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(app.url(PAR))
        .basic_auth(&client.id, Some(&client.secret))
        .form(form);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    req.send().await.expect("par")
}

/// Sends the browser to the authorization endpoint with `query`, approves at the scheme and
/// returns the code the client receives.
async fn code_after(app: &TestApp, query: &[(String, String)]) -> String {
    let browser = app.browser();
    let resp = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(query)
        .send()
        .await
        .expect("authorize");
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
    let login = Login {
        browser,
        verifier: String::new(),
        state: String::new(),
        nonce: String::new(),
        scheme_url,
        phone_page,
    };
    let resp = app.submit_phone(&login, JAN).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    query_of(&rp)
        .remove("code")
        .unwrap_or_else(|| panic!("no code: {rp}"))
}

/// A login started at the authorization endpoint with `extra` parameters: its code and verifier.
async fn login_with(
    app: &TestApp,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (query, verifier) = authorization_request(client, extra);
    (code_after(app, &query).await, verifier)
}

/// A login started from a pushed request: its code.
async fn login_from(app: &TestApp, client: &TestClient, push: reqwest::Response) -> String {
    assert_eq!(push.status(), StatusCode::CREATED);
    let body: Value = push.json().await.expect("json");
    let uri = body["request_uri"].as_str().expect("request_uri");
    code_after(
        app,
        &[
            ("client_id".into(), client.id.clone()),
            ("request_uri".into(), uri.into()),
        ],
    )
    .await
}

async fn token_request(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    dpop: Option<String>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(app.url(TOKEN))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", RP_CALLBACK),
            ("code_verifier", verifier),
        ]);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    req.send().await.expect("token")
}

/// Gives `key` the server's nonce the way a DPoP client learns it: a proof without one is
/// answered `use_dpop_nonce` with the nonce in `DPoP-Nonce` (RFC 9449 §8).
async fn take_nonce(app: &TestApp, client: &TestClient, key: &mut DpopKey) {
    let (status, error, _, nonce) = refusal_of(
        reqwest::Client::new()
            .post(app.url(TOKEN))
            .basic_auth(&client.id, Some(&client.secret))
            .header("DPoP", key.proof(app, "POST", TOKEN, None))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    key.nonce = Some(nonce.expect("a DPoP-Nonce header"));
}

/// Asserts a token response for a DPoP-bound access token that works at userinfo with `key`.
async fn assert_dpop_tokens(app: &TestApp, resp: reqwest::Response, key: &DpopKey) {
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["token_type"], "DPoP");
    let at = tokens["access_token"].as_str().expect("at");
    let info = reqwest::Client::new()
        .get(app.url(USERINFO))
        .header("Authorization", format!("DPoP {at}"))
        .header("DPoP", key.proof(app, "GET", USERINFO, Some(at)))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), StatusCode::OK);
}

/// Asserts `resp` is the refusal of a bound code (`invalid_grant`) and that the code is used up:
/// its attributes are gone, and a proof of the right key no longer redeems it.
async fn assert_refused_and_used_up(
    app: &TestApp,
    client: &TestClient,
    resp: reqwest::Response,
    code: &str,
    verifier: &str,
    key: &DpopKey,
) {
    let (status, error, description, _) = refusal_of(resp).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert!(description.contains("dpop_jkt"), "{description}");
    assert_eq!(
        app.store
            .find_code_claims(&token_hash(code))
            .await
            .expect("db")
            .as_deref(),
        Some("{}")
    );
    let right = token_request(
        app,
        client,
        code,
        verifier,
        Some(key.proof(app, "POST", TOKEN, None)),
    );
    let (_, error, description, _) = refusal_of(right.await).await;
    assert_eq!(error, "invalid_grant", "{description}");
}

#[tokio::test]
async fn a_code_bound_by_dpop_jkt_is_redeemed_with_a_proof_of_that_key() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);
    let (code, verifier) = login_with(&app, &client, &[("dpop_jkt", &key.jkt())]).await;
    // A proof without the server's nonce is told to use one; the code is not touched by it.
    let (_, error, _, nonce) = refusal_of(
        token_request(
            &app,
            &client,
            &code,
            &verifier,
            Some(key.proof(&app, "POST", TOKEN, None)),
        )
        .await,
    )
    .await;
    assert_eq!(error, "use_dpop_nonce");
    key.nonce = nonce;
    let resp = token_request(
        &app,
        &client,
        &code,
        &verifier,
        Some(key.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_dpop_tokens(&app, resp, &key).await;
}

#[tokio::test]
async fn a_bound_code_without_a_proof_or_with_another_key_gives_no_token_and_is_used_up() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);
    take_nonce(&app, &client, &mut key).await;

    // Without a proof: a Bearer request for a bound code.
    let (code, verifier) = login_with(&app, &client, &[("dpop_jkt", &key.jkt())]).await;
    let resp = token_request(&app, &client, &code, &verifier, None).await;
    assert_refused_and_used_up(&app, &client, resp, &code, &verifier, &key).await;

    // With a good proof of another key (an RSA one, to be sure the thumbprint is compared and
    // not merely the key type).
    let (code, verifier) = login_with(&app, &client, &[("dpop_jkt", &key.jkt())]).await;
    let mut thief = DpopKey::new(SigAlg::Rs256);
    thief.nonce = key.nonce.clone();
    let resp = token_request(
        &app,
        &client,
        &code,
        &verifier,
        Some(thief.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_refused_and_used_up(&app, &client, resp, &code, &verifier, &key).await;
}

#[tokio::test]
async fn a_dpop_proof_at_par_binds_the_code_to_its_key() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);

    // The first push carries a proof without the server's nonce: told to use one, as at the
    // token endpoint (DPoP client libraries retry by themselves).
    let (form, verifier) = authorization_request(&client, &[]);
    let resp = push(
        &app,
        &client,
        &form,
        Some(key.proof(&app, "POST", PAR, None)),
    )
    .await;
    let (status, error, _, nonce) = refusal_of(resp).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "use_dpop_nonce")
    );
    key.nonce = Some(nonce.expect("a DPoP-Nonce header"));
    let pushed = push(
        &app,
        &client,
        &form,
        Some(key.proof(&app, "POST", PAR, None)),
    )
    .await;
    let code = login_from(&app, &client, pushed).await;
    // The nonce from PAR is good at the token endpoint too.
    let resp = token_request(
        &app,
        &client,
        &code,
        &verifier,
        Some(key.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_dpop_tokens(&app, resp, &key).await;

    // Bound the same way, the code is refused to a Bearer request.
    let (form, verifier) = authorization_request(&client, &[]);
    let pushed = push(
        &app,
        &client,
        &form,
        Some(key.proof(&app, "POST", PAR, None)),
    )
    .await;
    let code = login_from(&app, &client, pushed).await;
    let resp = token_request(&app, &client, &code, &verifier, None).await;
    assert_refused_and_used_up(&app, &client, resp, &code, &verifier, &key).await;
}

#[tokio::test]
async fn par_takes_dpop_jkt_alone_or_with_a_proof_of_the_same_key_only() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);
    take_nonce(&app, &client, &mut key).await;
    let mut other = DpopKey::new(SigAlg::Es256);
    other.nonce = key.nonce.clone();

    // A proof of one key beside the thumbprint of another (RFC 9449 §10.1: MUST reject).
    let (form, _) = authorization_request(&client, &[("dpop_jkt", &key.jkt())]);
    let resp = push(
        &app,
        &client,
        &form,
        Some(other.proof(&app, "POST", PAR, None)),
    )
    .await;
    let (status, error, description, _) = refusal_of(resp).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert!(description.contains("dpop_jkt"), "{description}");

    // The same key both ways.
    let (form, verifier) = authorization_request(&client, &[("dpop_jkt", &key.jkt())]);
    let pushed = push(
        &app,
        &client,
        &form,
        Some(key.proof(&app, "POST", PAR, None)),
    )
    .await;
    let code = login_from(&app, &client, pushed).await;
    let resp = token_request(
        &app,
        &client,
        &code,
        &verifier,
        Some(key.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_dpop_tokens(&app, resp, &key).await;

    // dpop_jkt alone in the pushed form binds the code as well.
    let (form, verifier) = authorization_request(&client, &[("dpop_jkt", &key.jkt())]);
    let code = login_from(&app, &client, push(&app, &client, &form, None).await).await;
    let resp = token_request(
        &app,
        &client,
        &code,
        &verifier,
        Some(other.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_refused_and_used_up(&app, &client, resp, &code, &verifier, &key).await;
}

#[tokio::test]
async fn a_malformed_dpop_jkt_is_invalid_request_at_the_authorization_endpoint_and_at_par() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let jkt = DpopKey::new(SigAlg::Es256).jkt();
    for bad in [&jkt[..42], &format!("{}=", &jkt[..42]), "not a thumbprint"] {
        let (query, _) = authorization_request(&client, &[("dpop_jkt", bad)]);
        let resp = app
            .browser()
            .get(app.url("/auth/open/connect/authorize"))
            .query(&query)
            .send()
            .await
            .expect("authorize");
        assert_eq!(resp.status(), StatusCode::FOUND);
        let q = query_of(&location(&resp));
        assert!(location(&resp).starts_with(RP_CALLBACK));
        assert_eq!(q["error"], "invalid_request", "{bad}: {q:?}");
        assert!(q["error_description"].contains("dpop_jkt"), "{q:?}");

        let (status, error, description, _) =
            refusal_of(push(&app, &client, &query, None).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}"
        );
        assert!(description.contains("dpop_jkt"), "{description}");
    }
}

#[tokio::test]
async fn a_par_proof_is_checked_as_at_the_token_endpoint_and_cannot_be_replayed() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);
    take_nonce(&app, &client, &mut key).await;
    let (form, _) = authorization_request(&client, &[]);

    let proof = key.proof(&app, "POST", PAR, None);
    assert_eq!(
        push(&app, &client, &form, Some(proof.clone()))
            .await
            .status(),
        StatusCode::CREATED
    );
    // The same proof again, a proof for the token endpoint, for another method, not a JWT.
    for bad in [
        proof,
        key.proof(&app, "POST", TOKEN, None),
        key.proof(&app, "GET", PAR, None),
        "not.a.jwt".to_string(),
    ] {
        let (status, error, description, _) =
            refusal_of(push(&app, &client, &form, Some(bad)).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_dpop_proof"),
            "{description}"
        );
    }
}

#[tokio::test]
async fn a_login_not_bound_still_works_with_bearer_requests() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    // Pushed without a proof or dpop_jkt.
    let (form, verifier) = authorization_request(&client, &[]);
    let code = login_from(&app, &client, push(&app, &client, &form, None).await).await;
    let resp = token_request(&app, &client, &code, &verifier, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    assert_eq!(tokens["token_type"], "Bearer");
    app.userinfo(&tokens).await;
    // Sent to the authorization endpoint without dpop_jkt.
    let (code, verifier) = login_with(&app, &client, &[]).await;
    let resp = token_request(&app, &client, &code, &verifier, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// A request object carrying `params`, signed by `key` for `client`, valid for five minutes.
fn request_object(
    app: &TestApp,
    client: &TestClient,
    params: &[(String, String)],
    key: &SigningKey,
) -> String {
    let mut c: Claims = params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    c.insert("iss".into(), json!(client.id));
    c.insert("aud".into(), json!(app.issuer));
    c.insert("nbf".into(), json!(app.clock_now()));
    c.insert("exp".into(), json!(app.clock_now() + 300));
    key.sign(&c, Some("oauth-authz-req+jwt")).expect("sign")
}

#[tokio::test]
async fn dpop_jkt_in_a_request_object_binds_the_code() {
    let app = TestApp::spawn().await;
    let signer = SigningKey::generate(SigAlg::Es256).expect("key").0;
    let jwks = passerelle_jose::jwks_json([signer.public_jwk()]).to_string();
    let client = app
        .add_client_with("sandbox", "client_secret_basic", &[], "RS256", Some(jwks))
        .await;
    let mut key = DpopKey::new(SigAlg::Es256);
    take_nonce(&app, &client, &mut key).await;

    // By value at the authorization endpoint: the code is bound.
    let (params, verifier) = authorization_request(&client, &[("dpop_jkt", &key.jkt())]);
    let by_value = request_object(&app, &client, &params, &signer);
    let code = code_after(
        &app,
        &[
            ("client_id".into(), client.id.clone()),
            ("request".into(), by_value),
        ],
    )
    .await;
    let resp = token_request(&app, &client, &code, &verifier, None).await;
    assert_refused_and_used_up(&app, &client, resp, &code, &verifier, &key).await;

    // Pushed, with a proof of another key: the request object's dpop_jkt is what is compared.
    let mut other = DpopKey::new(SigAlg::Es256);
    other.nonce = key.nonce.clone();
    let form = [(
        "request".to_string(),
        request_object(&app, &client, &params, &signer),
    )];
    let (status, error, _, _) = refusal_of(
        push(
            &app,
            &client,
            &form,
            Some(other.proof(&app, "POST", PAR, None)),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    // Pushed with a proof of its own key: bound, and redeemed with that key.
    let form = [(
        "request".to_string(),
        request_object(&app, &client, &params, &signer),
    )];
    let pushed = push(
        &app,
        &client,
        &form,
        Some(key.proof(&app, "POST", PAR, None)),
    )
    .await;
    let code = login_from(&app, &client, pushed).await;
    let resp = token_request(
        &app,
        &client,
        &code,
        &verifier,
        Some(key.proof(&app, "POST", TOKEN, None)),
    )
    .await;
    assert_dpop_tokens(&app, resp, &key).await;
}

/// RFC 6749 §4.1.2 single use, with the binding: a bound code presented many times at once with
/// proofs of its key has exactly one winner, whose token keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bound_code_redeemed_twenty_times_at_once_gives_exactly_one_token() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let mut key = DpopKey::new(SigAlg::Es256);
    take_nonce(&app, &client, &mut key).await;
    for round in 0..3 {
        let (code, verifier) = login_with(&app, &client, &[("dpop_jkt", &key.jkt())]).await;
        let mut presentations = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (url, client, code, verifier) = (
                app.url(TOKEN),
                client.clone(),
                code.clone(),
                verifier.clone(),
            );
            let proof = key.proof(&app, "POST", TOKEN, None);
            presentations.spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .basic_auth(&client.id, Some(&client.secret))
                    .header("DPoP", proof)
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", code.as_str()),
                        ("redirect_uri", RP_CALLBACK),
                        ("code_verifier", verifier.as_str()),
                    ])
                    .send()
                    .await
                    .expect("token")
            });
        }
        let mut winners = Vec::new();
        while let Some(resp) = presentations.join_next().await {
            let resp = resp.expect("task");
            if resp.status() == StatusCode::OK {
                winners.push(resp);
            } else {
                let (status, error, description, _) = refusal_of(resp).await;
                assert_eq!(
                    (status, error.as_str()),
                    (StatusCode::BAD_REQUEST, "invalid_grant"),
                    "round {round}: {description}"
                );
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one winner");
        assert_dpop_tokens(&app, winners.remove(0), &key).await;
    }
}
