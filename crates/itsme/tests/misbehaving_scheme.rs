//! The connector against a scheme that misbehaves: a real HTTP server on 127.0.0.1 answers the
//! token request and serves the JWKS, and each case bends one thing. Every bent answer ends in a
//! `ConnectorError` (which the broker turns into `server_error` or `temporarily_unavailable` for
//! the relying party, with no login), and a well-formed one still logs in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_itsme::metrics::UpstreamCounters;
use passerelle_itsme::{ClaimsDelivery, Connector, ConnectorConfig, ConnectorError, Endpoints};
use passerelle_jose::{Claims, DecryptionKey, EncAlg, PublicKeys, SigAlg, SigningKey, jwks_json};
use serde_json::{Value, json};

const ISSUER: &str = "https://scheme.test/v2";
const CLIENT_ID: &str = "passerelle-test";
const NONCE: &str = "the-nonce";
const NOW: i64 = 1_795_000_000;

/// What the fake scheme answers at its token endpoint.
#[derive(Clone)]
enum Answer {
    /// An ID token with these claims changed (`Value::Null` removes one), signed by `signer`.
    IdToken {
        changes: Vec<(&'static str, Value)>,
        signer: usize,
    },
    /// The ID token's JWS with its signature changed.
    BadSignature,
    /// The ID token's JWE with a key-management algorithm nobody accepts.
    JweAlg(&'static str),
    Status(StatusCode),
    NotJson,
    /// Nothing for longer than the connector waits.
    Slow,
}

struct Scheme {
    /// Keys the scheme can sign with; `published` of them are in its JWKS.
    signers: Vec<SigningKey>,
    published: Vec<usize>,
    answer: Answer,
    /// Passerelle's encryption key, as the scheme knows it.
    recipient: PublicKeys,
}

type Shared = Arc<Mutex<Scheme>>;

fn id_token(s: &Scheme, changes: &[(&'static str, Value)], signer: usize) -> String {
    let mut c = Claims::new();
    for (k, v) in [
        ("iss", json!(ISSUER)),
        ("aud", json!(CLIENT_ID)),
        ("sub", json!("itsme-person-1")),
        ("nonce", json!(NONCE)),
        ("iat", json!(NOW)),
        ("exp", json!(NOW + 300)),
    ] {
        c.insert(k.into(), v);
    }
    for (k, v) in changes {
        if v.is_null() {
            c.remove(*k);
        } else {
            c.insert((*k).into(), v.clone());
        }
    }
    s.signers[signer].sign(&c, Some("JWT")).expect("sign")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn token(State(scheme): State<Shared>) -> Response {
    let answer = scheme.lock().expect("lock").answer.clone();
    let jwe = {
        let s = scheme.lock().expect("lock");
        let encrypt = |jws: &str| {
            s.recipient
                .encrypt(jws.as_bytes(), EncAlg::RsaOaep)
                .expect("encrypt")
        };
        match &answer {
            Answer::IdToken { changes, signer } => encrypt(&id_token(&s, changes, *signer)),
            Answer::BadSignature => {
                let jws = id_token(&s, &[], 0);
                let (head, sig) = jws.rsplit_once('.').expect("a JWS");
                let flipped = if sig.starts_with('A') { "B" } else { "A" };
                encrypt(&format!("{head}.{flipped}{}", &sig[1..]))
            }
            Answer::JweAlg(alg) => {
                let jwe = encrypt(&id_token(&s, &[], 0));
                let rest = jwe.split_once('.').expect("a JWE").1;
                let header = json!({ "alg": alg, "enc": "A256GCM" }).to_string();
                format!("{}.{rest}", b64(header.as_bytes()))
            }
            _ => String::new(),
        }
    };
    match answer {
        Answer::Status(status) => {
            (status, axum::Json(json!({ "error": "server_error" }))).into_response()
        }
        Answer::NotJson => (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Answer::Slow => {
            tokio::time::sleep(Duration::from_secs(15)).await;
            StatusCode::OK.into_response()
        }
        _ => axum::Json(json!({ "access_token": "at", "token_type": "Bearer", "id_token": jwe }))
            .into_response(),
    }
}

async fn jwks(State(scheme): State<Shared>) -> axum::Json<Value> {
    let s = scheme.lock().expect("lock");
    axum::Json(jwks_json(
        s.published.iter().map(|i| s.signers[*i].public_jwk()),
    ))
}

/// A fake scheme with three signing keys (only the first published) and a connector to it.
async fn setup() -> (Shared, Connector) {
    let (decryption, _) = DecryptionKey::generate().expect("key");
    let signers = (0..3)
        .map(|_| SigningKey::generate(SigAlg::Rs256).expect("key").0)
        .collect();
    let scheme = Arc::new(Mutex::new(Scheme {
        signers,
        published: vec![0],
        answer: Answer::IdToken {
            changes: vec![],
            signer: 0,
        },
        recipient: PublicKeys::from_jwks(vec![decryption.public_jwk().clone()]),
    }));
    let app = Router::new()
        .route("/token", post(token))
        .route("/jwks", get(jwks))
        .with_state(scheme.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = ConnectorConfig {
        issuer: ISSUER.into(),
        client_id: CLIENT_ID.into(),
        redirect_uri: "https://broker.test/callback".into(),
        service_authentication: "AUTH".into(),
        service_identification: "IDENT".into(),
        endpoints: Some(Endpoints {
            authorization: format!("{base}/authorization"),
            token: format!("{base}/token"),
            userinfo: format!("{base}/userinfo"),
            jwks: format!("{base}/jwks"),
            token_audience: format!("{base}/token"),
            backchannel: None,
            user_discovery: None,
        }),
        claims_delivery: ClaimsDelivery::IdToken,
        request_encryption: EncAlg::RsaOaep256,
        send_client_name: false,
        phone_login_hints: false,
        counters: UpstreamCounters::default(),
    };
    let (signing, _) = SigningKey::generate(SigAlg::Rs256).expect("key");
    let connector = Connector::new(config, signing, vec![decryption]).expect("connector");
    (scheme, connector)
}

async fn redeem(connector: &Connector, jti: &str) -> Result<String, ConnectorError> {
    connector
        .redeem(
            "scheme-code",
            "verifier",
            NONCE,
            passerelle_core::login::Acr::Basic,
            NOW,
            jti,
        )
        .await
        .map(|identity| identity.sub)
}

fn protocol(r: Result<String, ConnectorError>, case: &str) -> String {
    match r {
        Err(ConnectorError::Protocol(detail)) => detail,
        other => panic!("{case}: expected a rejected answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_well_formed_answer_logs_in() {
    let (_, connector) = setup().await;
    assert_eq!(
        redeem(&connector, "j1").await.expect("login"),
        "itsme-person-1"
    );
}

#[tokio::test]
async fn bent_id_tokens_are_rejected() {
    let (scheme, connector) = setup().await;
    for (case, changes, expected) in [
        ("wrong nonce", vec![("nonce", json!("another"))], "nonce"),
        ("no nonce", vec![("nonce", Value::Null)], "nonce"),
        (
            "wrong iss",
            vec![("iss", json!("https://evil.test"))],
            "iss",
        ),
        (
            "wrong aud",
            vec![("aud", json!("someone-else"))],
            "addressed",
        ),
        (
            "aud array",
            vec![("aud", json!([CLIENT_ID, "someone-else"]))],
            "addressed",
        ),
        ("expired", vec![("exp", json!(NOW - 120))], "expired"),
        ("no exp", vec![("exp", Value::Null)], "expired"),
        (
            "issued in the future",
            vec![("iat", json!(NOW + 3600))],
            "future",
        ),
        ("not yet valid", vec![("nbf", json!(NOW + 3600))], "future"),
        ("no sub", vec![("sub", json!(""))], "sub"),
    ] {
        scheme.lock().expect("lock").answer = Answer::IdToken { changes, signer: 0 };
        let detail = protocol(redeem(&connector, case).await, case);
        assert!(detail.contains(expected), "{case}: {detail}");
    }
    scheme.lock().expect("lock").answer = Answer::BadSignature;
    protocol(redeem(&connector, "sig").await, "bad signature");
    for alg in ["RSA1_5", "dir", "A128KW", "none"] {
        scheme.lock().expect("lock").answer = Answer::JweAlg(alg);
        protocol(redeem(&connector, alg).await, alg);
    }
    // A key the scheme never published, even after the connector looked again.
    scheme.lock().expect("lock").answer = Answer::IdToken {
        changes: vec![],
        signer: 2,
    };
    protocol(redeem(&connector, "unknown kid").await, "unknown kid");
}

#[tokio::test]
async fn a_broken_scheme_is_unavailable_or_rejected_never_a_login() {
    let (scheme, connector) = setup().await;
    for (status, unavailable) in [
        (StatusCode::INTERNAL_SERVER_ERROR, true),
        (StatusCode::SERVICE_UNAVAILABLE, true),
        (StatusCode::TOO_MANY_REQUESTS, true),
        (StatusCode::BAD_REQUEST, false),
    ] {
        scheme.lock().expect("lock").answer = Answer::Status(status);
        match redeem(&connector, status.as_str()).await {
            Err(ConnectorError::Unavailable(_)) if unavailable => {}
            Err(ConnectorError::Protocol(_)) if !unavailable => {}
            other => panic!("{status}: {other:?}"),
        }
    }
    scheme.lock().expect("lock").answer = Answer::NotJson;
    protocol(redeem(&connector, "html").await, "not JSON");
}

/// The connector waits 10 s for the scheme, then gives up as "unavailable".
#[tokio::test]
async fn a_slow_scheme_is_unavailable() {
    let (scheme, connector) = setup().await;
    scheme.lock().expect("lock").answer = Answer::Slow;
    // Had it waited the 15 s, the empty answer would be rejected, not unavailable.
    match redeem(&connector, "slow").await {
        Err(ConnectorError::Unavailable(_)) => {}
        other => panic!("a slow scheme: {other:?}"),
    }
}

/// A rotated key is fetched when a token names it (once the cached JWKS is 10 s old: a stranger
/// cannot make the connector refetch more often).
#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_names_it() {
    let (scheme, connector) = setup().await;
    assert!(redeem(&connector, "before").await.is_ok());
    {
        let mut s = scheme.lock().expect("lock");
        s.published = vec![1];
        s.answer = Answer::IdToken {
            changes: vec![],
            signer: 1,
        };
    }
    // Within the refetch floor the new kid is unknown…
    protocol(
        redeem(&connector, "too soon").await,
        "a kid right after a fetch",
    );
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    // …after it, the connector looks again and finds it.
    assert_eq!(
        redeem(&connector, "after").await.expect("login"),
        "itsme-person-1"
    );
}
