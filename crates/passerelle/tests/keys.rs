//! Keys that rotate without breaking anyone (`passerelle keys`): a new key is published before it
//! signs, the previous one stays published until nothing it signed can still be valid, and nodes
//! sharing a database agree on the current key without a restart. On SQLite and PostgreSQL.

mod common;

use common::*;
use passerelle::cli::keys;
use passerelle_jose::{PublicKeys, SigAlg};
use reqwest::StatusCode;
use serde_json::Value;

const JAN: &str = "+32470000001";
const JWKS: &str = "/auth/open/.well-known/openid-configuration/jwks";
const CONNECTOR_JWKS: &str = "/auth/open/connect/itsme/jwks";

async fn jwks(app: &TestApp, path: &str) -> (Value, String) {
    let resp = reqwest::get(app.url(path)).await.expect("jwks");
    assert_eq!(resp.status(), StatusCode::OK);
    let cache = resp
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (resp.json().await.expect("json"), cache)
}

fn kids(doc: &Value) -> Vec<String> {
    doc["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_string())
        .collect()
}

fn kid_of(token: &str) -> String {
    passerelle_jose::peek_header(token).expect("header")["kid"]
        .as_str()
        .expect("kid")
        .to_string()
}

/// A login to the end: the ID token of the token response.
async fn id_token(app: &TestApp, client: &TestClient) -> String {
    id_token_from(app, app, client).await
}

/// A login through `front`, its code redeemed at `token` (another node, perhaps).
async fn id_token_from(front: &TestApp, token: &TestApp, client: &TestClient) -> String {
    let (login, q) = front.login(client, "openid", JAN).await;
    let resp = token.redeem(client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    tokens["id_token"].as_str().expect("id_token").to_string()
}

/// Rotates `purpose` as `passerelle keys rotate` does, then lets the nodes' reload interval
/// (5 s) pass, within which every node sees the new key.
async fn rotate(app: &TestApp, purpose: &str) -> passerelle_store::StoredKey {
    let key = keys::rotate(&app.store, purpose, app.clock_now())
        .await
        .expect("rotate");
    settle().await;
    app.clock.advance(passerelle_web::keys::RELOAD_INTERVAL);
    key
}

/// Lets a reload that the server's background reloader began before a key change finish, so
/// that its older view cannot land after the next request's own reload (in production a node
/// may serve that older view for one more reload interval; a test asks right away).
async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
}

/// Verifies a token against the published JWKS, whatever its expiry.
async fn verifies(app: &TestApp, token: &str) -> bool {
    let (doc, _) = jwks(app, JWKS).await;
    PublicKeys::from_jwks_json(&doc.to_string())
        .expect("jwks")
        .verify(token, &[SigAlg::Rs256, SigAlg::Es256])
        .is_ok()
}

async fn current_kid(app: &TestApp, purpose: &str) -> String {
    let list = keys::list(&app.store, app.clock_now(), &app.options.lifetimes)
        .await
        .expect("list");
    list.iter()
        .find(|k| k.purpose.name == purpose && k.state.as_str() == "current")
        .map(|k| k.key.kid.clone())
        .expect("a current key")
}

#[tokio::test]
async fn a_new_key_is_published_at_once_and_signs_only_after_the_jwks_cache_lifetime() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let old = current_kid(&app, "op-rs256").await;
    let before = id_token(&app, &client).await;
    assert_eq!(kid_of(&before), old);

    let (doc, cache) = jwks(&app, JWKS).await;
    assert_eq!(cache, "public, max-age=300");
    assert_eq!(
        kids(&doc).len(),
        4,
        "one RS256, one PS256, one ES256 and one request-object encryption key"
    );

    let new = rotate(&app, "op-rs256").await;
    assert_eq!(new.activates_at, new.created_at + 600, "twice the max-age");
    let (doc, _) = jwks(&app, JWKS).await;
    let published = kids(&doc);
    assert!(
        published.contains(&old) && published.contains(&new.kid),
        "{published:?}"
    );
    assert_eq!(published.len(), 5);

    // Until the activation, the old key signs; a JWKS cached just before the rotation
    // (max-age 300) has expired long before the new key is used.
    app.clock.advance(594);
    assert_eq!(kid_of(&id_token(&app, &client).await), old);
    app.clock.advance(1);
    let after = id_token(&app, &client).await;
    assert_eq!(kid_of(&after), new.kid);
    assert_eq!(current_kid(&app, "op-rs256").await, new.kid);

    // Both tokens verify against the published JWKS, the current key listed first.
    let (doc, _) = jwks(&app, JWKS).await;
    let order = kids(&doc);
    let at = |kid: &str| order.iter().position(|k| k == kid).expect("published");
    assert!(
        at(&new.kid) < at(&old),
        "the current key before the previous: {order:?}"
    );
    let keys = PublicKeys::from_jwks_json(&doc.to_string()).expect("jwks");
    for token in [&before, &after] {
        keys.verify(token, &[SigAlg::Rs256]).expect("verifies");
    }
}

#[tokio::test]
async fn another_node_signs_with_the_new_key_after_activation_without_a_restart() {
    let app = TestApp::spawn().await;
    let other = app.second_node().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let old = current_kid(&app, "op-rs256").await;
    // The second node has loaded its keys and signs with the old one.
    assert_eq!(kid_of(&id_token_from(&app, &other, &client).await), old);

    // Rotated in the shared database (as `passerelle keys rotate` does).
    let new = rotate(&app, "op-rs256").await;
    let (doc, _) = jwks(&other, JWKS).await;
    assert!(kids(&doc).contains(&new.kid), "the other node publishes it");
    assert_eq!(kid_of(&id_token_from(&app, &other, &client).await), old);

    app.clock.advance(600);
    let token = id_token_from(&app, &other, &client).await;
    assert_eq!(kid_of(&token), new.kid);
    // The first node verifies what the second signed (an id_token_hint path needs it too).
    app.verify_id_token(&token, &client.id).await;
    assert_eq!(kid_of(&id_token(&app, &client).await), new.kid);
}

#[tokio::test]
async fn a_login_that_spans_a_rotation_ends_with_a_token_that_verifies() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    // Every key rotates: the broker's and the connector's towards the scheme.
    let mut new = Vec::new();
    for purpose in ["op-rs256", "op-es256", "connector-sig", "connector-enc"] {
        new.push(rotate(&app, purpose).await);
    }
    let (doc, cache) = jwks(&app, CONNECTOR_JWKS).await;
    assert_eq!(cache, "public, max-age=1800");
    assert_eq!(kids(&doc).len(), 4, "two signing and two encryption keys");

    // Begin just before the connector's keys activate (3600 s), finish after.
    app.clock.advance(3570);
    let login = app.begin(&client, "openid profile").await;
    app.clock.advance(20);
    let resp = app.submit_phone(&login, JAN).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let rp = app.follow_to_rp(&login.browser, location(&resp)).await;
    let q = query_of(&rp);
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let tokens: Value = resp.json().await.expect("json");
    let token = tokens["id_token"].as_str().expect("id_token");
    assert_eq!(kid_of(token), new[0].kid);
    app.verify_id_token(token, &client.id).await;

    // A login entirely after the activation: the connector signs with its new key, which the
    // sandbox (itsme) knows from the published JWKS.
    let (claims, _) = app.full_login(&client, "openid profile", JAN).await;
    assert_eq!(claims["aud"], client.id.as_str());
}

#[tokio::test]
async fn retiring_waits_until_nothing_the_key_signed_can_still_be_valid() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let lifetimes = app.options.lifetimes;
    let old = current_kid(&app, "op-rs256").await;
    let retire = |kid: String, force: bool| {
        let store = app.store.clone();
        let now = app.clock_now();
        async move {
            let retired = keys::retire(&store, &kid, now, &lifetimes, force).await;
            settle().await;
            retired
        }
    };

    // The current key never, even forced.
    let refused = retire(old.clone(), true).await.expect_err("current");
    assert!(refused.to_string().contains("current"), "{refused}");

    // A key that never signed (a rotation cancelled) at once.
    let cancelled = rotate(&app, "op-rs256").await;
    retire(cancelled.kid.clone(), false).await.expect("cancel");
    app.clock.advance(passerelle_web::keys::RELOAD_INTERVAL);
    let (doc, _) = jwks(&app, JWKS).await;
    assert!(!kids(&doc).contains(&cancelled.kid));

    let new = rotate(&app, "op-rs256").await;
    app.clock.advance(595);
    let last_by_old = {
        // Signed just before the activation would have been: the old key's last token.
        app.clock.advance(-1);
        let t = id_token(&app, &client).await;
        app.clock.advance(1);
        t
    };
    assert_eq!(kid_of(&last_by_old), old);
    assert_eq!(kid_of(&id_token(&app, &client).await), new.kid);

    // Its tokens live up to max(id_token, access_token) lifetimes; plus 60 s of skew.
    let hold = lifetimes.id_token.max(lifetimes.access_token) + 60;
    app.clock.advance(hold - 1);
    let refused = retire(old.clone(), false).await.expect_err("still valid");
    assert!(refused.to_string().contains("--force"), "{refused}");
    assert!(verifies(&app, &last_by_old).await, "still published");
    app.clock.advance(1);
    let retired = retire(old.clone(), false).await.expect("retire");
    assert_eq!(retired.retired_at, Some(app.clock_now()));
    app.clock.advance(passerelle_web::keys::RELOAD_INTERVAL);
    assert!(!verifies(&app, &last_by_old).await, "unpublished");
    let (doc, _) = jwks(&app, JWKS).await;
    assert!(!kids(&doc).contains(&old), "unpublished");
    assert!(kids(&doc).contains(&new.kid));
    // Retired keys stay retired, and an unknown kid is named.
    assert!(retire(old, false).await.is_err());
    let unknown = retire("no-such-kid".into(), false)
        .await
        .expect_err("unknown");
    assert!(unknown.to_string().contains("no-such-kid"), "{unknown}");
}

#[tokio::test]
async fn a_forced_retirement_of_a_previous_key_is_allowed() {
    let app = TestApp::spawn().await;
    let lifetimes = app.options.lifetimes;
    let old = current_kid(&app, "op-es256").await;
    rotate(&app, "op-es256").await;
    app.clock.advance(600);
    let now = app.clock_now();
    assert!(
        keys::retire(&app.store, &old, now, &lifetimes, false)
            .await
            .is_err()
    );
    keys::retire(&app.store, &old, now, &lifetimes, true)
        .await
        .expect("forced");
    app.clock.advance(passerelle_web::keys::RELOAD_INTERVAL);
    let (doc, _) = jwks(&app, JWKS).await;
    assert_eq!(kids(&doc).len(), 4);
    // An encryption key is in use from its publication: a pending one needs --force.
    let enc = keys::rotate(&app.store, "connector-enc", now)
        .await
        .expect("rotate");
    let refused = keys::retire(&app.store, &enc.kid, now, &lifetimes, false)
        .await
        .expect_err("senders may use it");
    assert!(refused.to_string().contains("--force"), "{refused}");
    let unknown = keys::rotate(&app.store, "sandbox-secret", now)
        .await
        .expect_err("not a rotating purpose");
    assert!(unknown.to_string().contains("op-rs256"), "{unknown}");
}

fn passerelle(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .env("PASSERELLE_DATABASE_URL", database_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run passerelle")
}

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn the_keys_commands_list_rotate_and_retire() {
    let app = TestApp::spawn().await;
    let db = app.database_url.clone();
    let list = stdout_json(&passerelle(&db, &["keys", "list", "--json"]));
    let list = list.as_array().expect("array");
    let purposes: Vec<&str> = list.iter().filter_map(|k| k["purpose"].as_str()).collect();
    assert_eq!(
        purposes,
        [
            "op-rs256",
            "op-ps256",
            "op-es256",
            "op-enc",
            "connector-sig",
            "connector-enc"
        ]
    );
    assert!(list.iter().all(|k| k["state"] == "current"), "{list:?}");
    assert!(
        list.iter().all(|k| !k.to_string().contains("\"d\"")),
        "no private material"
    );
    let old = list[0]["kid"].as_str().expect("kid").to_string();

    let rotated = stdout_json(&passerelle(
        &db,
        &["keys", "rotate", "--purpose", "op-rs256", "--json"],
    ));
    assert_eq!(rotated["state"], "pending");
    assert_eq!(rotated["use"], "sig");
    assert_eq!(rotated["alg"], "RS256");
    assert_eq!(
        rotated["activates_at"].as_i64().expect("activates_at"),
        rotated["created_at"].as_i64().expect("created_at") + 600
    );
    let new = rotated["kid"].as_str().expect("kid").to_string();

    let text = passerelle(&db, &["keys", "list"]);
    let text = String::from_utf8(text.stdout).expect("utf-8");
    assert!(text.contains(&new) && text.contains("pending"), "{text}");

    // The current key cannot be retired; the pending one can (the rotation is cancelled).
    let refused = passerelle(&db, &["keys", "retire", "--kid", &old]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("current"), "{err}");
    let retired = stdout_json(&passerelle(
        &db,
        &["keys", "retire", "--kid", &new, "--json"],
    ));
    assert_eq!(retired["kid"], new.as_str());
    app.clock.advance(passerelle_web::keys::RELOAD_INTERVAL);
    let (doc, _) = jwks(&app, JWKS).await;
    assert!(!kids(&doc).contains(&new));

    let bad = passerelle(&db, &["keys", "rotate", "--purpose", "nope"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("nope") && err.contains("connector-enc"),
        "{err}"
    );
    let audit = stdout_json(&passerelle(&db, &["audit", "--since", "3650d", "--json"]));
    let kinds: Vec<&str> = audit
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"key.rotated") && kinds.contains(&"key.retired"),
        "{kinds:?}"
    );
}
