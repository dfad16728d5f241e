//! The connector's side of itsme's decoupled API against a fake scheme on 127.0.0.1 that answers
//! one way at a time: every answer is a `DecoupledResult`, a `SchemeRefusal` or a
//! `ConnectorError`, never a panic, and the description itsme puts in `detail` is read.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use passerelle_core::scopes::{Account, GrantedScopes};
use passerelle_itsme::metrics::UpstreamCounters;
use passerelle_itsme::{
    BackchannelRequest, ClaimsDelivery, Connector, ConnectorConfig, ConnectorError,
    DecoupledResult, Endpoints, LoginHintToken,
};
use passerelle_jose::{Claims, DecryptionKey, EncAlg, PublicKeys, SigAlg, SigningKey, jwks_json};
use serde_json::{Value, json};

const ISSUER: &str = "https://scheme.test/v2";
const CLIENT_ID: &str = "passerelle-test";
const NOW: i64 = 1_795_000_000;

/// What the fake scheme answers, at whichever endpoint is called.
#[derive(Clone)]
enum Answer {
    Json(StatusCode, Value),
    Text(StatusCode, &'static str),
    /// Tokens whose ID token has these claims added.
    Tokens(Vec<(&'static str, Value)>),
}

struct Scheme {
    signer: SigningKey,
    recipient: PublicKeys,
    answer: Answer,
    /// The form of the last request.
    seen: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Scheme>>;

async fn answer(State(scheme): State<Shared>, body: axum::body::Bytes) -> Response {
    let mut s = scheme.lock().expect("lock");
    s.seen = url::form_urlencoded::parse(&body).into_owned().collect();
    match s.answer.clone() {
        Answer::Json(status, body) => (status, axum::Json(body)).into_response(),
        Answer::Text(status, text) => (status, text).into_response(),
        Answer::Tokens(extra) => {
            let mut c = Claims::new();
            for (k, v) in [
                ("iss", json!(ISSUER)),
                ("aud", json!(CLIENT_ID)),
                ("sub", json!("itsme-person-1")),
                ("iat", json!(NOW)),
                ("exp", json!(NOW + 300)),
                // What was asked: a decoupled request demands the itsme code.
                ("acr", json!("http://itsme.services/v2/claim/acr_advanced")),
            ] {
                c.insert(k.into(), v);
            }
            for (k, v) in extra {
                c.insert(k.into(), v);
            }
            let jws = s.signer.sign(&c, Some("JWT")).expect("sign");
            let jwe = s
                .recipient
                .encrypt(jws.as_bytes(), EncAlg::RsaOaep)
                .expect("encrypt");
            axum::Json(json!({ "access_token": "at", "token_type": "Bearer", "id_token": jwe }))
                .into_response()
        }
    }
}

async fn jwks(State(scheme): State<Shared>) -> axum::Json<Value> {
    let s = scheme.lock().expect("lock");
    axum::Json(jwks_json([s.signer.public_jwk()]))
}

async fn setup() -> (Shared, Connector) {
    let (decryption, _) = DecryptionKey::generate().expect("key");
    let scheme = Arc::new(Mutex::new(Scheme {
        signer: SigningKey::generate(SigAlg::Rs256).expect("key").0,
        recipient: PublicKeys::from_jwks(vec![decryption.public_jwk().clone()]),
        answer: Answer::Json(StatusCode::OK, json!({})),
        seen: Vec::new(),
    }));
    let app = Router::new()
        .route("/token", post(answer))
        .route("/backchannel", post(answer))
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
            token_audience: format!("{ISSUER}/token"),
            backchannel: Some(format!("{base}/backchannel")),
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

fn set(scheme: &Shared, answer: Answer) {
    scheme.lock().expect("lock").answer = answer;
}

#[tokio::test]
async fn backchannel_answers_become_a_start_a_refusal_or_an_error() {
    let (scheme, connector) = setup().await;
    let scopes = GrantedScopes::parse("openid", Account::Production, &[]).expect("scopes");
    let hint = LoginHintToken::SubjectCode("itsme-person-1".into());
    let request = BackchannelRequest {
        scopes: &scopes,
        hint: &hint,
        binding_message: Some("Till 1"),
        requested_expiry: Some(60),
        client_name: "Shop",
    };
    let send = || connector.backchannel_authentication(&request, NOW, "jti");

    set(
        &scheme,
        Answer::Json(
            StatusCode::OK,
            json!({ "auth_req_id": "a-1", "expires_in": 120 }),
        ),
    );
    let started = send().await.expect("reachable").expect("accepted");
    assert_eq!(
        (started.auth_req_id.as_str(), started.expires_in),
        ("a-1", 120)
    );
    assert_eq!(
        started.interval, 5,
        "CIBA's default when the scheme says none"
    );
    // Only the signed request and the assertion: itsme refuses plain parameters.
    let names: Vec<String> = scheme
        .lock()
        .expect("lock")
        .seen
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        names,
        ["request", "client_assertion_type", "client_assertion"]
    );

    set(
        &scheme,
        Answer::Json(
            StatusCode::BAD_REQUEST,
            json!({ "error": "unknown_user_id", "detail": "no such user\u{7}" }),
        ),
    );
    let refused = send().await.expect("reachable").expect_err("refused");
    assert_eq!(refused.error, "unknown_user_id");
    assert_eq!(refused.detail, "no such user", "itsme's detail, cleaned");

    for bad in [
        Answer::Json(StatusCode::OK, json!({ "expires_in": 120 })),
        Answer::Json(
            StatusCode::OK,
            json!({ "auth_req_id": "a", "expires_in": -1 }),
        ),
        Answer::Text(StatusCode::OK, "<html>maintenance</html>"),
    ] {
        set(&scheme, bad);
        assert!(matches!(send().await, Err(ConnectorError::Protocol(_))));
    }
    set(
        &scheme,
        Answer::Text(StatusCode::SERVICE_UNAVAILABLE, "down"),
    );
    assert!(matches!(send().await, Err(ConnectorError::Unavailable(_))));
}

#[tokio::test]
async fn polls_read_itsmes_errors_and_verify_the_id_token() {
    let (scheme, connector) = setup().await;
    let poll = || connector.poll_decoupled("a-1", NOW, "jti");
    let error = |status: StatusCode, code: &str| {
        Answer::Json(status, json!({ "error": code, "detail": "itsme says so" }))
    };
    set(
        &scheme,
        error(StatusCode::BAD_REQUEST, "authorization_pending"),
    );
    assert!(matches!(poll().await, Ok(DecoupledResult::Pending)));
    set(&scheme, error(StatusCode::BAD_REQUEST, "slow_down"));
    assert!(matches!(poll().await, Ok(DecoupledResult::SlowDown)));
    set(&scheme, Answer::Text(StatusCode::TOO_MANY_REQUESTS, ""));
    assert!(matches!(poll().await, Ok(DecoupledResult::SlowDown)));
    set(&scheme, error(StatusCode::BAD_REQUEST, "access_denied"));
    assert!(matches!(poll().await, Ok(DecoupledResult::Denied(d)) if d == "itsme says so"));
    set(&scheme, error(StatusCode::BAD_REQUEST, "expired_token"));
    assert!(matches!(poll().await, Ok(DecoupledResult::Expired)));
    set(&scheme, error(StatusCode::BAD_REQUEST, "invalid_grant"));
    assert!(matches!(poll().await, Ok(DecoupledResult::Lost)));
    set(&scheme, error(StatusCode::BAD_REQUEST, "something_new"));
    assert!(matches!(poll().await, Err(ConnectorError::Protocol(_))));
    set(
        &scheme,
        Answer::Text(StatusCode::INTERNAL_SERVER_ERROR, "oops"),
    );
    assert!(matches!(poll().await, Err(ConnectorError::Unavailable(_))));
    set(&scheme, Answer::Text(StatusCode::BAD_REQUEST, "<html>"));
    assert!(matches!(poll().await, Err(ConnectorError::Protocol(_))));

    set(&scheme, Answer::Tokens(vec![]));
    let Ok(DecoupledResult::Identity(identity)) = poll().await else {
        panic!("an identity")
    };
    assert_eq!(identity.sub, "itsme-person-1");
    // CIBA has no nonce: an ID token that carries one was not made for this login.
    set(&scheme, Answer::Tokens(vec![("nonce", json!("n"))]));
    assert!(matches!(poll().await, Err(ConnectorError::Protocol(_))));
    set(
        &scheme,
        Answer::Tokens(vec![("aud", json!("someone-else"))]),
    );
    assert!(matches!(poll().await, Err(ConnectorError::Protocol(_))));
    // An answer weaker than asked (acr_basic, where the code was demanded) is no identity.
    set(
        &scheme,
        Answer::Tokens(vec![(
            "acr",
            json!("http://itsme.services/v2/claim/acr_basic"),
        )]),
    );
    assert!(matches!(poll().await, Err(ConnectorError::Protocol(_))));
}
