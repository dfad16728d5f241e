//! The ways into a login beside the desktop phone-number form, over real HTTP: the same-device
//! path of a phone ("Open itsme", the emulated app that knows its person, the return — also in
//! another browser), the desktop QR code, the verification icon, and biometrics or the code as
//! the relying party's `acr_values` ask (with the `amr` that tells what was used).

mod common;

use common::*;
use passerelle_store::random_token;
use reqwest::StatusCode;

const PHONE_UA: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";
const DESKTOP_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const APPROVES: &str = "+32470000001";
const MANUAL: &str = "+32470000007";
const MANUAL_CODE: &str = "24680";

/// A browser with a User-Agent: keeps cookies, does not follow redirects.
fn browser_as(ua: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(ua)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

struct Started {
    browser: reqwest::Client,
    verifier: String,
    state: String,
    /// The first page the scheme shows.
    page: String,
}

/// RP → authorize → the scheme's first page, in `browser`.
async fn start(
    app: &TestApp,
    client: &TestClient,
    browser: reqwest::Client,
    extra: &[(&str, &str)],
) -> Started {
    let (verifier, challenge) = pkce();
    let state = random_token(8);
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", RP_CALLBACK),
        ("scope", "openid profile"),
        ("state", state.as_str()),
        ("nonce", "n-1"),
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
    let page = browser.get(location(&resp)).send().await.expect("scheme");
    assert_eq!(page.status(), StatusCode::OK);
    Started {
        browser,
        verifier,
        state,
        page: page.text().await.expect("body"),
    }
}

async fn get_text(browser: &reqwest::Client, url: String) -> (StatusCode, String) {
    let resp = browser.get(url).send().await.expect("get");
    (resp.status(), resp.text().await.expect("body"))
}

/// The emulated phone's person is chosen once: the device page, then the app.
async fn choose_person(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    phone: &str,
) -> String {
    assert!(
        page.contains("name=\"phone\" id=\"p1\""),
        "the device page:\n{page}"
    );
    let action = html_attr(page, "<form method=\"post\"", "action");
    let next = html_attr(page, "name=\"next\"", "value");
    let resp = browser
        .post(app.url(&action))
        .form(&[("phone", phone), ("next", next.as_str())])
        .send()
        .await
        .expect("device");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("Path=/sandbox/v2"),
        "{set}"
    );
    let (status, html) = get_text(browser, app.url(&location(&resp))).await;
    assert_eq!(status, StatusCode::OK);
    html
}

#[tokio::test]
async fn a_phone_gets_an_open_itsme_link_and_comes_back_with_a_code() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let s = start(&app, &client, browser_as(PHONE_UA), &[]).await;
    assert!(
        !s.page.contains("type=\"tel\""),
        "no phone-number form on a phone"
    );
    // A link, never a redirect: a universal link opens the app only on a tap.
    let open = html_attr(&s.page, "id=\"open-app\"", "href");
    assert!(open.ends_with("/open"), "{open}");
    assert!(
        s.page.contains("http-equiv=\"refresh\""),
        "the page moves on by itself"
    );

    // First time on this phone: which test person is it?
    let (status, device) = get_text(&s.browser, app.url(&open)).await;
    assert_eq!(status, StatusCode::OK);
    let app_page = choose_person(&app, &s.browser, &device, APPROVES).await;
    // A scripted persona approves at once; the app sends the person back.
    let back = html_attr(&app_page, "class=\"button\"", "href");
    let rp = app.follow_to_rp(&s.browser, back).await;
    let q = query_of(&rp);
    assert_eq!(q.get("state"), Some(&s.state));
    let resp = app.redeem(&client, &q["code"], &s.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // The phone remembers its person: the next login goes straight to the app.
    let s2 = start(&app, &client, s.browser.clone(), &[]).await;
    let open = html_attr(&s2.page, "id=\"open-app\"", "href");
    let (status, page) = get_text(&s2.browser, app.url(&open)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("name=\"phone\" id=\"p1\""),
        "no device page again"
    );
    assert!(page.contains(APPROVES), "{page}");
    // …and the person can be changed.
    let change = html_attr(&page, "/app/device?next=", "href");
    let (status, device) = get_text(&s2.browser, app.url(&change)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        device.contains("checked"),
        "the current person is preselected"
    );
}

#[tokio::test]
async fn display_touch_takes_the_phone_path_from_any_browser() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let s = start(
        &app,
        &client,
        browser_as(DESKTOP_UA),
        &[("display", "touch")],
    )
    .await;
    assert!(s.page.contains("id=\"open-app\""), "{}", s.page);
    let d = start(&app, &client, browser_as(DESKTOP_UA), &[]).await;
    assert!(
        d.page.contains("type=\"tel\""),
        "a desktop keeps the phone-number form"
    );
}

#[tokio::test]
async fn a_return_in_another_browser_completes_the_login_once_in_the_first() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let first = start(&app, &client, browser_as(PHONE_UA), &[]).await;
    let open = html_attr(&first.page, "id=\"open-app\"", "href");

    // The app, and the return, happen in another browser (an in-app browser hands over).
    let other = browser_as(PHONE_UA);
    let (_, device) = get_text(&other, app.url(&open)).await;
    let app_page = choose_person(&app, &other, &device, MANUAL).await;
    let form = html_attr(&app_page, "<form method=\"post\"", "action");
    let resp = other
        .post(app.url(&form))
        .form(&[("decision", "approve"), ("code", MANUAL_CODE)])
        .send()
        .await
        .expect("code");
    let done = resp.text().await.expect("body");
    let back = html_attr(&done, "class=\"button\"", "href");
    // Back at the scheme, then at Passerelle: but this browser did not start the login.
    let resp = other.get(app.url(&back)).send().await.expect("back");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let callback = location(&resp);
    let resp = other
        .get(app.url(&callback))
        .send()
        .await
        .expect("callback");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let page = resp.text().await.expect("body");
    assert!(page.contains("another browser"), "{page}");
    assert!(!page.contains("code="), "no code in another browser");

    // The first tab's waiting page moves on by itself and finishes the login.
    let poll = html_attr(&first.page, "http-equiv=\"refresh\"", "content");
    let poll = poll.split_once("url=").expect("refresh url").1.to_string();
    let resp = first
        .browser
        .get(app.url(&poll))
        .send()
        .await
        .expect("poll");
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "the decided action sends the tab on"
    );
    let rp = app.follow_to_rp(&first.browser, location(&resp)).await;
    let q = query_of(&rp);
    assert_eq!(q.get("state"), Some(&first.state));
    let resp = app.redeem(&client, &q["code"], &first.verifier).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // The app's return link, followed again in the other browser once the first tab finished,
    // says the login is complete (not an error), and carries nothing.
    let resp = other.get(app.url(&back)).send().await.expect("back again");
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("body");
    assert!(page.contains("complete"), "{page}");
    // Once done, the answer is spent: the other browser, again, gets no code.
    let resp = other.get(app.url(&callback)).send().await.expect("again");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(location(&resp).is_empty());
    // A stale or foreign state is a page, never a code.
    let resp = first
        .browser
        .get(app.url("/auth/open/connect/itsme/callback?state=forged&code=x"))
        .send()
        .await
        .expect("forged");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_phone_cannot_take_an_action_another_phone_took() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let s = start(&app, &client, browser_as(PHONE_UA), &[]).await;
    let open = html_attr(&s.page, "id=\"open-app\"", "href");
    let (_, device) = get_text(&s.browser, app.url(&open)).await;
    choose_person(&app, &s.browser, &device, MANUAL).await;
    let stranger = browser_as(PHONE_UA);
    let (_, device) = get_text(&stranger, app.url(&open)).await;
    let html = {
        let action = html_attr(&device, "<form method=\"post\"", "action");
        let next = html_attr(&device, "name=\"next\"", "value");
        let resp = stranger
            .post(app.url(&action))
            .form(&[("phone", APPROVES), ("next", next.as_str())])
            .send()
            .await
            .expect("device");
        get_text(&stranger, app.url(&location(&resp))).await
    };
    assert_eq!(html.0, StatusCode::BAD_REQUEST);
    assert!(html.1.contains("another itsme account"), "{}", html.1);
    // A forged `next` never leaves the app.
    let resp = stranger
        .post(app.url("/sandbox/v2/app/device"))
        .form(&[("phone", APPROVES), ("next", "//evil.example/x")])
        .send()
        .await
        .expect("device");
    assert_eq!(location(&resp), "/sandbox/v2/app/device");
}

#[tokio::test]
async fn the_desktop_qr_code_is_an_image_that_expires_and_the_page_moves_on() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let s = start(&app, &client, browser_as(DESKTOP_UA), &[]).await;
    assert!(
        s.page.contains("type=\"tel\""),
        "the form stays beside the code"
    );
    let image = html_attr(&s.page, "id=\"qr\"", "src");
    let resp = s.browser.get(app.url(&image)).send().await.expect("qr");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert!(resp.text().await.expect("svg").contains("<svg"));
    let scan = html_attr(&s.page, "id=\"qr-box\"", "data-status");
    let status_url = app.url(&scan);
    let scanned = scan_link(&s.page);

    // A code older than two periods is refused.
    app.clock.advance(61);
    let phone = browser_as(PHONE_UA);
    let (status, page) = get_text(&phone, scanned.clone()).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    // The page's code has changed meanwhile: scan the new one.
    let (_, fresh) = get_text(&s.browser, s.page_url(&app)).await;
    let rescanned = scan_link(&fresh);
    assert_ne!(rescanned, scanned, "the code changes");
    let (status, device) = get_text(&phone, rescanned).await;
    assert_eq!(status, StatusCode::OK);
    let app_page = choose_person(&app, &phone, &device, MANUAL).await;
    // The desktop page learns that the code was scanned.
    let moved: serde_json::Value = s
        .browser
        .get(&status_url)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(moved["moved"], true);
    assert_eq!(moved["decided"], false);
    let form = html_attr(&app_page, "<form method=\"post\"", "action");
    phone
        .post(app.url(&form))
        .form(&[("decision", "approve"), ("code", MANUAL_CODE)])
        .send()
        .await
        .expect("code");
    let next = html_attr(&s.page, "id=\"qr-box\"", "data-next");
    let resp = s.browser.get(app.url(&next)).send().await.expect("wait");
    assert_eq!(resp.status(), StatusCode::FOUND);
    let rp = app.follow_to_rp(&s.browser, location(&resp)).await;
    assert!(query_of(&rp).contains_key("code"), "{rp}");
}

#[tokio::test]
async fn the_phone_number_path_shows_the_icon_the_app_shows() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let login = app.begin(&client, "openid").await;
    let (wait, app_url) = app.wait_for_app(&login, MANUAL).await;
    let (_, wait_page) = get_text(&login.browser, app.url(&wait)).await;
    let (_, app_page) = get_text(&reqwest::Client::new(), app.url(&app_url)).await;
    let icon = |html: &str| html_attr(html, "class=\"icon\"", "aria-label");
    assert!(!icon(&wait_page).is_empty());
    assert_eq!(icon(&wait_page), icon(&app_page));
}

/// Approves the manual persona's action in the app with `decision`; returns the app's answer.
async fn approve_in_app(
    app: &TestApp,
    client: &TestClient,
    acr_values: Option<&str>,
    decision: &str,
) -> (reqwest::Client, String, String, String) {
    let mut extra = vec![];
    if let Some(a) = acr_values {
        extra.push(("acr_values", a));
    }
    let s = start(app, client, browser_as(DESKTOP_UA), &extra).await;
    let form = html_attr(&s.page, "<form method=\"post\"", "action");
    let resp = s
        .browser
        .post(app.url(&form))
        .form(&[("phone", MANUAL)])
        .send()
        .await
        .expect("phone");
    let wait = location(&resp);
    let (_, wait_page) = get_text(&s.browser, app.url(&wait)).await;
    let app_url = html_attr(&wait_page, "target=\"_blank\"", "href");
    let phone = reqwest::Client::new();
    let (_, app_page) = get_text(&phone, app.url(&app_url)).await;
    let resp = phone
        .post(app.url(&app_url))
        .form(&[("decision", decision), ("code", "")])
        .send()
        .await
        .expect("decide");
    let answer = resp.text().await.expect("body");
    let _ = app_page;
    (s.browser, wait, s.verifier, answer)
}

#[tokio::test]
async fn biometrics_approve_by_default_and_the_id_token_says_so() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let (browser, wait, verifier, answer) =
        approve_in_app(&app, &client, None, "fingerprint").await;
    assert!(answer.contains("class=\"ok\""), "{answer}");
    let resp = browser.get(app.url(&wait)).send().await.expect("wait");
    let rp = app.follow_to_rp(&browser, location(&resp)).await;
    let tokens: serde_json::Value = app
        .redeem(&client, &query_of(&rp)["code"], &verifier)
        .await
        .json()
        .await
        .expect("json");
    let id = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;
    assert_eq!(id["acr"], "high");
    assert_eq!(id["amr"], serde_json::json!(["fpt", "mfa"]));
}

#[tokio::test]
async fn acr_advanced_demands_the_code() {
    let app = TestApp::spawn().await;
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let advanced = "idp:itsme http://itsme.services/v2/claim/acr_advanced";
    let (_, _, _, answer) = approve_in_app(&app, &client, Some(advanced), "face").await;
    assert!(answer.contains("role=\"alert\""), "{answer}");
    assert!(answer.contains("itsme code"), "{answer}");
    assert!(
        !answer.contains("value=\"fingerprint\""),
        "no biometrics offered"
    );

    // With the code, the login completes and says a PIN was used.
    let s = start(
        &app,
        &client,
        browser_as(DESKTOP_UA),
        &[("acr_values", advanced)],
    )
    .await;
    let form = html_attr(&s.page, "<form method=\"post\"", "action");
    let resp = s
        .browser
        .post(app.url(&form))
        .form(&[("phone", MANUAL)])
        .send()
        .await
        .expect("phone");
    let wait = location(&resp);
    let (_, wait_page) = get_text(&s.browser, app.url(&wait)).await;
    let app_url = html_attr(&wait_page, "target=\"_blank\"", "href");
    reqwest::Client::new()
        .post(app.url(&app_url))
        .form(&[("decision", "approve"), ("code", MANUAL_CODE)])
        .send()
        .await
        .expect("code");
    let resp = s.browser.get(app.url(&wait)).send().await.expect("wait");
    let rp = app.follow_to_rp(&s.browser, location(&resp)).await;
    let tokens: serde_json::Value = app
        .redeem(&client, &query_of(&rp)["code"], &s.verifier)
        .await
        .json()
        .await
        .expect("json");
    let id = app
        .verify_id_token(tokens["id_token"].as_str().expect("id"), &client.id)
        .await;
    assert_eq!(id["acr"], "high");
    assert_eq!(id["amr"], serde_json::json!(["pin", "mfa"]));
}

impl Started {
    /// The scheme's first page again (the phone page of this action), as a reload.
    fn page_url(&self, app: &TestApp) -> String {
        let action = html_attr(&self.page, "<form method=\"post\"", "action");
        app.url(&action.replace("/phone", "/wait"))
    }
}

/// The link a page's QR code encodes (also given as a link, for a second tab).
fn scan_link(page: &str) -> String {
    let at = page.find("/scan?t=").expect("scan link");
    let start = page[..at].rfind('"').expect("quote") + 1;
    let end = at + page[at..].find('"').expect("quote");
    page[start..end].replace("&amp;", "&").replace("&#38;", "&")
}
