//! Complete logins through the real HTTP server: the broker, the connector and the sandbox.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const JAN: &str = "+32470000001"; // Belgian, approves
const SOPHIE: &str = "+32470000004"; // refuses
const PIERRE: &str = "+32470000005"; // never answers (3 s)
const LUC: &str = "+32470000006"; // blocked
const ELS: &str = "+32470000007"; // manual, code 24680
const KADRI: &str = "+37250000001"; // Estonian, approves

const ALL_SCOPES: &str = "openid name email idp-id profile date-of-birth gender phone address nin nationality place-of-birth itsme-eid itsme-validity itsme-issuance-locality";

#[tokio::test]
async fn authentication_hop_by_hop() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid name email").await;
    // The scheme is asked for Authentication, with a request object (signed then encrypted).
    let scheme = query_of(&login.scheme_url);
    assert_eq!(scheme["scope"], "openid service:PASSERELLE_AUTH");
    assert_eq!(scheme["client_id"], "passerelle");
    assert_eq!(
        scheme["request"].split('.').count(),
        5,
        "the request object is a JWE"
    );
    assert!(
        login.phone_page.contains("Test RP sandbox"),
        "the phone page names the RP"
    );

    let resp = app.submit_phone(&login, "0032 470 00 00 01").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let wait = location(&resp);
    assert!(
        wait.contains("/sandbox/v2/actions/") && wait.ends_with("/wait"),
        "{wait}"
    );
    // A scripted persona has decided: the waiting page sends the browser back at once.
    let resp = login
        .browser
        .get(app.url(&wait))
        .send()
        .await
        .expect("wait");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let callback = location(&resp);
    assert!(
        callback.starts_with(&format!("{}/auth/open/connect/itsme/callback?", app.base)),
        "{callback}"
    );
    assert_eq!(
        query_of(&callback)["code"].len(),
        36,
        "itsme codes are 36 characters"
    );
    let resp = login.browser.get(&callback).send().await.expect("callback");
    assert!(resp.status().is_redirection());
    let rp = query_of(&location(&resp));
    assert_eq!(rp["state"], login.state);
    assert_eq!(rp["iss"], app.issuer);

    let tokens: Value = app
        .redeem(&client, &rp["code"], &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid name email");
    let id = app
        .verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
        .await;
    assert_eq!(id["acr"], "high");
    assert_eq!(id["idp"], "itsme");
    assert_eq!(id["sandbox"], true);
    assert_eq!(id["given_name"], "Jan Pieter");
    assert_eq!(id["email"], "jan.peeters@example.be");
    assert!(
        id.get("birthdate").is_none(),
        "Authentication releases only the login claims"
    );
    assert_eq!(id["sub"].as_str().expect("sub").len(), 43);
}

#[tokio::test]
async fn identification_returns_the_personas_attributes() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let personas = passerelle::app::load_personas(None, app.clock.as_ref()).expect("personas");
    for phone in [JAN, KADRI, "+32470000009", "+32470000010", "+32470000011"] {
        let persona = personas.find(phone).expect("persona");
        let (id, userinfo) = app.full_login(&client, ALL_SCOPES, phone).await;
        let mut expected = passerelle::cli::personas::attributes(persona);
        expected.insert("sub".into(), id["sub"].clone());
        let got = userinfo.as_object().expect("object").clone();
        assert_eq!(got["idp_id"].as_str().map(str::len), Some(36));
        assert_eq!(
            Value::Object(got),
            Value::Object(expected),
            "userinfo of {phone}"
        );
        assert!(id.get("nin").is_none(), "nin is at userinfo only");
        assert!(
            userinfo
                .as_object()
                .expect("object")
                .values()
                .all(|v| !v.is_null())
        );
    }
    let (_, estonian) = app.full_login(&client, ALL_SCOPES, KADRI).await;
    assert!(
        estonian.get("nin").is_none(),
        "no national number for a non-Belgian document"
    );
    assert_eq!(estonian["itsme_issuing_country"], "EE");
    let (_, belgian) = app.full_login(&client, ALL_SCOPES, JAN).await;
    assert_eq!(belgian["nin"].as_str().expect("nin").len(), 11);
    assert_eq!(belgian["nin_type"], "PERSON");
}

#[tokio::test]
async fn claims_delivered_at_userinfo_are_the_same() {
    let app = TestApp::spawn_with(Options {
        claims_delivery: passerelle_itsme::ClaimsDelivery::Userinfo,
        ..Options::default()
    })
    .await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (_, userinfo) = app.full_login(&client, ALL_SCOPES, JAN).await;
    assert_eq!(userinfo["nin"], "85073001744");
    assert_eq!(userinfo["itsme_validity_to"], "2031-03-15");
}

#[tokio::test]
async fn subject_is_pairwise_and_stable_across_services() {
    let app = TestApp::spawn().await;
    let a = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let b = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (auth, _) = app.full_login(&a, "openid", JAN).await;
    let (ident, _) = app.full_login(&a, "openid profile nin", JAN).await;
    let (again, _) = app.full_login(&a, "openid name", JAN).await;
    let (other, _) = app.full_login(&b, "openid", JAN).await;
    let (someone_else, _) = app.full_login(&a, "openid", KADRI).await;
    assert_eq!(auth["sub"], ident["sub"]);
    assert_eq!(auth["sub"], again["sub"]);
    assert_ne!(auth["sub"], other["sub"]);
    assert_ne!(auth["sub"], someone_else["sub"]);
}

async fn denied(app: &TestApp, phone: &str) -> std::collections::HashMap<String, String> {
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (login, q) = app.login(&client, "openid profile", phone).await;
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("access_denied"),
        "{q:?}"
    );
    assert_eq!(q.get("state"), Some(&login.state));
    assert_eq!(q.get("iss"), Some(&app.issuer));
    assert!(!q.contains_key("code"));
    q
}

#[tokio::test]
async fn refusal_and_blocking_are_access_denied_with_their_reason() {
    let app = TestApp::spawn().await;
    assert!(denied(&app, SOPHIE).await["error_description"].contains("refused"));
    assert!(denied(&app, LUC).await["error_description"].contains("three times"));
}

#[tokio::test]
async fn an_unanswered_app_times_out_when_the_clock_says_so() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let wait = location(&app.submit_phone(&login, PIERRE).await);
    let page = login
        .browser
        .get(app.url(&wait))
        .send()
        .await
        .expect("wait");
    assert_eq!(page.status(), StatusCode::OK, "still waiting");
    let html = page.text().await.expect("body");
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "the waiting page moves on without JavaScript"
    );
    assert!(
        html.contains("target=\"_blank\""),
        "the app opens in a new tab"
    );
    app.clock.advance(4);
    let rp = app.follow_to_rp(&login.browser, wait).await;
    let q = query_of(&rp);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].contains("timeout"), "{q:?}");
}

#[tokio::test]
async fn a_person_approves_in_the_app_and_the_waiting_page_moves_on() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid profile nin").await;
    let (wait, app_url) = app.wait_for_app(&login, ELS).await;
    // The app runs on the phone: another client, without the browser's cookies.
    let phone = app.browser();
    let page = phone
        .get(app.url(&app_url))
        .send()
        .await
        .expect("app")
        .text()
        .await
        .expect("body");
    assert!(page.contains("Test RP sandbox"), "the app names the RP");
    assert!(
        page.contains("National register number"),
        "the app lists the data asked for"
    );
    assert!(page.contains("Vermeulen"), "the app shows the values");
    let wrong = phone
        .post(app.url(&app_url))
        .form(&[("decision", "approve"), ("code", "11111")])
        .send()
        .await
        .expect("code");
    assert!(
        wrong
            .text()
            .await
            .expect("body")
            .contains("2 attempts left")
    );
    let ok = phone
        .post(app.url(&app_url))
        .form(&[("decision", "approve"), ("code", "24680")])
        .send()
        .await
        .expect("code");
    assert!(ok.text().await.expect("body").contains("Confirmed"));
    // The app has acted: the waiting page's long poll moves on at once.
    let poll = login
        .browser
        .get(app.url(&format!("{wait}?poll=1")))
        .send()
        .await
        .expect("poll");
    assert_eq!(poll.status(), StatusCode::FOUND);
    let rp = app.follow_to_rp(&login.browser, location(&poll)).await;
    let q = query_of(&rp);
    let tokens: Value = app
        .redeem(&client, &q["code"], &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    let userinfo = app.userinfo(&tokens).await;
    assert_eq!(userinfo["family_name"], "Vermeulen");
    assert!(userinfo["nin"].is_string());
}

#[tokio::test]
async fn three_wrong_codes_end_in_access_denied() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let (wait, app_url) = app.wait_for_app(&login, ELS).await;
    for _ in 0..3 {
        login
            .browser
            .post(app.url(&app_url))
            .form(&[("decision", "approve"), ("code", "00000")])
            .send()
            .await
            .expect("code");
    }
    let late = login
        .browser
        .post(app.url(&app_url))
        .form(&[("decision", "approve"), ("code", "24680")])
        .send()
        .await
        .expect("code");
    assert!(
        late.text().await.expect("body").contains("three times"),
        "a blocked action stays blocked"
    );
    let q = query_of(&app.follow_to_rp(&login.browser, wait).await);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].contains("three times"));
}

#[tokio::test]
async fn refusing_in_the_app_and_cancelling_on_the_phone_page() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let (wait, app_url) = app.wait_for_app(&login, ELS).await;
    login
        .browser
        .post(app.url(&app_url))
        .form(&[("decision", "refuse")])
        .send()
        .await
        .expect("refuse");
    let q = query_of(&app.follow_to_rp(&login.browser, wait).await);
    assert_eq!(q["error"], "access_denied");

    let login = app.begin(&client, "openid").await;
    let cancel = html_attr(&login.phone_page, "class=\"button secondary\"", "href");
    let q = query_of(&app.follow_to_rp(&login.browser, cancel).await);
    assert_eq!(q["error"], "access_denied");
    assert!(q["error_description"].contains("cancelled"));
}

#[tokio::test]
async fn unknown_and_malformed_phone_numbers_are_explained() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let resp = app.submit_phone(&login, "+32 499 99 99 99").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .expect("body")
            .contains("No itsme account")
    );
    let resp = app.submit_phone(&login, "<script>").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = resp.text().await.expect("body");
    assert!(body.contains("not a mobile phone number"));
    assert!(!body.contains("<script>"), "input is escaped");
}

#[tokio::test]
async fn form_post_response_mode() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let browser = app.browser();
    let (_, challenge) = pkce();
    let resp = browser
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client.id),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            ("state", "xyz"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("response_mode", "form_post"),
        ])
        .send()
        .await
        .expect("authorize");
    let phone_page = browser
        .get(location(&resp))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    let action = html_attr(&phone_page, "<form method=\"post\"", "action");
    let wait = browser
        .post(app.url(&action))
        .form(&[("phone", JAN)])
        .send()
        .await
        .expect("phone");
    let callback = browser
        .get(app.url(&location(&wait)))
        .send()
        .await
        .expect("wait");
    let page = browser
        .get(location(&callback))
        .send()
        .await
        .expect("callback");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("body");
    assert!(html.contains(&format!("action=\"{RP_CALLBACK}\"")));
    assert!(html.contains("name=\"code\"") && html.contains("value=\"xyz\""));
}

#[tokio::test]
async fn a_login_survives_a_restart() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid profile").await;
    let app = app.restart().await;
    let resp = app.submit_phone(&login, JAN).await;
    let q = query_of(&app.follow_to_rp(&login.browser, location(&resp)).await);
    let resp = app.redeem(&client, &q["code"], &login.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_callback_must_come_from_the_browser_that_started() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let callback = app.scheme_callback(&login, JAN).await;
    let stranger = app.browser();
    let resp = stranger.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("location").is_none());
    assert!(resp.text().await.expect("body").contains("another browser"));
    // The stranger spent nothing: the person's own browser still completes the login…
    let resp = login.browser.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(query_of(&location(&resp)).contains_key("code"));
    // …and the scheme's answer is single-use.
    let resp = login.browser.get(&callback).send().await.expect("callback");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_grant_withdrawn_during_the_login_is_honoured_at_the_callback() {
    let app = TestApp::spawn_test_deployment().await;
    let client = app
        .add_client("production", "client_secret_basic", &["nin"])
        .await;
    let login = app.begin(&client, "openid nin").await;
    let callback = app.scheme_callback(&login, JAN).await;
    app.set_grants(&client, &[]).await;
    let resp = login.browser.get(&callback).send().await.expect("callback");
    let q = query_of(&location(&resp));
    assert_eq!(q["error"], "invalid_scope");
    assert!(q["error_description"].contains("'nin'"));
}

#[tokio::test]
async fn any_node_serves_any_step_of_a_login() {
    let a = TestApp::spawn().await;
    let b = a.second_node().await;
    let client = a.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = a.begin(&client, "openid profile").await;
    // Phone page on A, everything after it on B: no step depends on a node's memory.
    let resp = b.submit_phone(&login, JAN).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to_b = |url: &str| url.replace(&a.base, &b.base);
    let wait = login
        .browser
        .get(b.url(&location(&resp)))
        .send()
        .await
        .expect("wait");
    let callback = login
        .browser
        .get(to_b(&location(&wait)))
        .send()
        .await
        .expect("callback");
    let q = query_of(&location(&callback));
    assert_eq!(q["iss"], a.issuer, "both nodes are one issuer");
    let tokens: Value = b
        .redeem(&client, &q["code"], &login.verifier)
        .await
        .json()
        .await
        .expect("json");
    a.verify_id_token(tokens["id_token"].as_str().expect("id_token"), &client.id)
        .await;
    let userinfo = a.userinfo(&tokens).await;
    assert_eq!(userinfo["family_name"], "Peeters");
}

#[tokio::test]
async fn decisions_are_announced_to_the_other_nodes_on_postgres() {
    let app = TestApp::spawn().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = app
        .store
        .spawn_listener(passerelle_sandbox::ACTION_CHANNEL, move |p| {
            let _ = tx.send(p.to_string());
        });
    let Some(task) = listener else {
        // One SQLite node wakes its own waiting pages; there is nobody to tell.
        assert!(!uses_postgres());
        return;
    };
    // LISTEN takes effect once the listener has connected: announce until it is heard (the
    // outer limit only keeps a broken build from hanging).
    let heard = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            app.store
                .notify(passerelle_sandbox::ACTION_CHANNEL, "action-1")
                .await
                .expect("notify");
            let wait = tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv());
            if let Ok(Some(payload)) = wait.await {
                return payload;
            }
        }
    })
    .await
    .expect("the notification arrives");
    assert_eq!(heard, "action-1");
    task.abort();
}

#[tokio::test]
async fn pages_speak_the_language_the_rp_or_the_browser_asks_for() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (_, challenge) = pkce();
    for (ui_locales, accept, expected_lang, expected_text) in [
        (Some("fr"), None, "fr", "Confirmer avec itsme"),
        (Some("nl-BE de"), None, "nl", "Bevestigen met itsme"),
        (None, Some("de-BE,de;q=0.9"), "de", "Mit itsme bestätigen"),
        (None, Some("es"), "en", "Confirm with itsme"),
    ] {
        let browser = app.browser();
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if let Some(l) = ui_locales {
            query.push(("ui_locales", l));
        }
        let mut req = browser
            .get(app.url("/auth/open/connect/authorize"))
            .query(&query);
        if let Some(a) = accept {
            req = req.header("accept-language", a);
        }
        let scheme = location(&req.send().await.expect("authorize"));
        let mut req = browser.get(&scheme);
        if let Some(a) = accept {
            req = req.header("accept-language", a);
        }
        let page = req
            .send()
            .await
            .expect("phone page")
            .text()
            .await
            .expect("body");
        assert!(
            page.contains(&format!("<html lang=\"{expected_lang}\">")),
            "{expected_lang}"
        );
        assert!(page.contains(expected_text), "{expected_text}");
    }
}

#[tokio::test]
async fn operators_can_count_logins_at_metrics() {
    let app = TestApp::spawn_with(Options {
        metrics_token: Some("metrics-token-0123456789".into()),
        ..Options::default()
    })
    .await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    app.full_login(&client, "openid profile", JAN).await;
    app.login(&client, "openid", SOPHIE).await;
    let text = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    for line in [
        "passerelle_logins_started_total{service=\"identification\"} 1",
        "passerelle_logins_started_total{service=\"authentication\"} 1",
        "passerelle_logins_approved_total{service=\"identification\"} 1",
        "passerelle_logins_failed_total{error=\"access_denied\"} 1",
        "passerelle_tokens_issued_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(
        !text.contains("Peeters") && !text.contains(&client.id),
        "no personal data or client ids"
    );
}

/// The login's state in the store follows `core::login`: waiting at the scheme, answered once
/// (the row leaves the table with the request that took it; the code's row then carries the
/// login), or failed with its reason.
#[tokio::test]
async fn the_store_keeps_each_login_as_its_state() {
    use passerelle_core::login::{Channel, Failure, LoginState};
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;

    let login = app.begin(&client, "openid").await;
    let callback = app.scheme_callback(&login, JAN).await;
    let id = query_of(&callback)["state"].clone();
    let waiting = app.store.find_login(&id).await.expect("db").expect("login");
    assert_eq!(waiting.status, LoginState::AtScheme);
    assert_eq!(waiting.channel, Channel::Redirect);
    let rp = app.follow_to_rp(&login.browser, callback.clone()).await;
    assert!(query_of(&rp).contains_key("code"), "{rp}");
    assert!(
        app.store.find_login(&id).await.expect("db").is_none(),
        "the code's row carries the login"
    );
    // That the answer is taken once is `the_scheme_answer_sent_twenty_times_at_once_is_taken_once`.

    let login = app.begin(&client, "openid").await;
    let callback = app.scheme_callback(&login, SOPHIE).await;
    let id = query_of(&callback)["state"].clone();
    let rp = app.follow_to_rp(&login.browser, callback).await;
    assert_eq!(query_of(&rp)["error"], "access_denied");
    assert_eq!(
        app.store
            .find_login(&id)
            .await
            .expect("db")
            .expect("login")
            .status,
        LoginState::Failed(Failure::Denied)
    );
}

/// Text in a closed-set column that no version of Passerelle writes is a corrupt row, named,
/// never read as some default (a production client read as a sandbox one, or the reverse).
#[tokio::test]
async fn unknown_text_in_a_closed_set_column_is_a_corrupt_row() {
    let app = TestApp::spawn().await;
    let client = app
        .add_client("production", "client_secret_basic", &[])
        .await;
    let changed = app
        .sql(
            "UPDATE clients SET account = 'Production ' WHERE id = $1",
            &[&client.id],
        )
        .await;
    assert_eq!(changed, 1);
    let err = app
        .store
        .find_client(&client.id)
        .await
        .expect_err("a corrupt row");
    assert!(
        err.to_string().contains("corrupt row: clients.account"),
        "{err}"
    );
    // The person gets the generic error page, the relying party nothing it could act on.
    let resp = app
        .browser()
        .get(app.url("/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", RP_CALLBACK),
            ("scope", "openid"),
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            ),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.headers().get("location").is_none());
    let page = resp.text().await.expect("body");
    assert!(
        !page.contains("corrupt") && !page.contains("clients.account"),
        "{page}"
    );

    // The same at the sandbox: an action whose status no version writes is not shown.
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let changed = app
        .sql(
            "UPDATE sandbox_actions SET status = 'approved ' WHERE status = 'awaiting_phone'",
            &[],
        )
        .await;
    assert_eq!(changed, 1);
    let err = app
        .store
        .find_sandbox_action(&action_id(&login.phone_page), app.clock_now())
        .await
        .expect_err("a corrupt row");
    assert!(
        err.to_string()
            .contains("corrupt row: sandbox_actions.status"),
        "{err}"
    );
    let resp = login
        .browser
        .get(&login.scheme_url)
        .send()
        .await
        .expect("phone page");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// The action id in a phone page's form (`/sandbox/v2/actions/{id}/phone`).
fn action_id(phone_page: &str) -> String {
    let action = html_attr(phone_page, "<form method=\"post\"", "action");
    action
        .rsplit('/')
        .nth(1)
        .expect("an action URL")
        .to_string()
}

/// The scheme's answer sent twenty times at once from the browser that started the login, for an
/// approval and for a refusal: exactly one request takes it (one code, or one `access_denied`),
/// the others get the "expired or used" page, and a refused login is kept as failed, once.
#[tokio::test]
async fn the_scheme_answer_sent_twenty_times_at_once_is_taken_once() {
    use passerelle_core::login::{Failure, LoginState};
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    for (phone, expected) in [(JAN, "code"), (SOPHIE, "error")] {
        let login = app.begin(&client, "openid").await;
        let callback = app.scheme_callback(&login, phone).await;
        let id = query_of(&callback)["state"].clone();
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (browser, url) = (login.browser.clone(), app.url(&callback));
            sends.spawn(async move { browser.get(url).send().await.expect("callback") });
        }
        let answers = sends.join_all().await;
        let taken: Vec<_> = answers
            .iter()
            .filter(|r| r.status() == StatusCode::FOUND)
            .map(location)
            .collect();
        assert_eq!(taken.len(), 1, "{phone}: {taken:?}");
        assert!(query_of(&taken[0]).contains_key(expected), "{}", taken[0]);
        assert!(
            answers
                .iter()
                .filter(|r| r.status() != StatusCode::FOUND)
                .all(|r| r.status() == StatusCode::BAD_REQUEST),
            "{phone}: every other request is refused"
        );
        let stored = app.store.find_login(&id).await.expect("db");
        match expected {
            "code" => assert!(stored.is_none(), "the code's row carries the login"),
            _ => {
                let failed = stored.expect("kept");
                assert_eq!(failed.status, LoginState::Failed(Failure::Denied));
                assert!(failed.upstream_verifier.is_empty() && failed.browser_hash.is_empty());
            }
        }
    }
}
