//! The signing API (Signicat Sign API v2 shape) over real HTTP, on the database the suite runs
//! against: documents, sessions, the signer in the sandbox, and the signed documents checked by
//! validators — Passerelle's own, and pyHanko and OpenSSL when `PASSERELLE_PYHANKO` names
//! pyHanko (scripts/test sets it; `PASSERELLE_REQUIRE_VALIDATORS=1` makes its absence a
//! failure).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const OTHER: &str = "https://rp.example/other";
/// Jan Pieter Peeters, who approves (his national number).
const JAN: (&str, &str) = ("+32470000001", "85073001744");
/// Sophie Janssens, who refuses in the app.
const SOPHIE: &str = "+32470000004";

async fn api_token(app: &TestApp, client: &TestClient) -> String {
    let resp = reqwest::Client::new()
        .post(app.url("/auth/open/connect/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "signicat-api"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

async fn upload(app: &TestApp, token: &str, mime: &str, bytes: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/sign/documents"))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .expect("upload")
}

async fn upload_ok(app: &TestApp, token: &str, mime: &str, bytes: Vec<u8>) -> String {
    let resp = upload(app, token, mime, bytes).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let v: Value = resp.json().await.expect("json");
    v["documentId"].as_str().expect("id").to_string()
}

fn session(flow: &str, documents: &[&str], nin: Option<&str>) -> Value {
    let mut s = json!({
        "title": "Loan agreement",
        "documents": documents.iter().map(|d| json!({"action": "SIGN", "documentId": d})).collect::<Vec<_>>(),
        "signingSetup": [{"signingFlow": flow, "identityProviders": [{"idpName": "itsme"}]}],
        "redirectSettings": {"success": RP_CALLBACK, "cancel": OTHER, "error": OTHER},
        "externalReference": "order-42",
    });
    if let Some(n) = nin {
        s["signer"] = json!({"nationalIdentificationNumber": n});
    }
    s
}

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/sign/signing-sessions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("create")
}

async fn create_ok(app: &TestApp, token: &str, body: Value) -> Value {
    let resp = create(app, token, json!([body])).await;
    let status = resp.status();
    let v: Value = resp.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v[0].clone()
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.expect("json")
}

async fn download(app: &TestApp, token: &str, id: &str) -> Vec<u8> {
    let resp = reqwest::Client::new()
        .get(app.url(&format!("/sign/documents/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.bytes().await.expect("bytes").to_vec()
}

/// The signer opens `signatureUrl` and decides; returns the browser and the answer.
async fn decide(
    _app: &TestApp,
    browser: &reqwest::Client,
    signature_url: &str,
    decision: &str,
) -> reqwest::Response {
    let page = browser.get(signature_url).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    let token = html_attr(&html, "name=\"token\"", "value");
    browser
        .post(signature_url)
        .form(&[
            ("token", token.as_str()),
            ("decision", decision),
            ("agree", "yes"),
        ])
        .send()
        .await
        .expect("decide")
}

/// The signer signs with a persona at the sandbox's phone page; returns where the browser
/// ends (the RP, or a page of Passerelle's as `page:<status>`).
async fn sign_as(app: &TestApp, signature_url: &str, phone: &str) -> String {
    let browser = app.browser();
    let resp = decide(app, &browser, signature_url, "sign").await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{:?}",
        resp.text().await
    );
    walk(app, &browser, location(&resp), phone).await
}

/// Follows the browser through the scheme: every phone page gets `phone`.
async fn walk(app: &TestApp, browser: &reqwest::Client, mut url: String, phone: &str) -> String {
    for _ in 0..20 {
        if url.starts_with("https://rp.example/") {
            return url;
        }
        let resp = browser.get(app.url(&url)).send().await.expect("hop");
        if resp.status().is_redirection() {
            url = location(&resp);
            continue;
        }
        let status = resp.status();
        let html = resp.text().await.expect("html");
        if html.contains("name=\"phone\"") {
            let form = html_attr(&html, "<form method=\"post\"", "action");
            let resp = browser
                .post(app.url(&form))
                .form(&[("phone", phone)])
                .send()
                .await
                .expect("phone");
            assert!(resp.status().is_redirection(), "{}", resp.status());
            url = location(&resp);
            continue;
        }
        eprintln!(
            "ended at {url}: {status}\n{}",
            html.split("<main>").nth(1).unwrap_or(&html)
        );
        return format!("page:{}", status.as_u16());
    }
    panic!("too many hops");
}

/// The roots a validator trusts for what the sandbox signs: its qualified CA and the seal's.
async fn trust(app: &TestApp) -> Vec<Vec<u8>> {
    let mut roots = Vec::new();
    for path in ["/sandbox/ca/root.pem", "/sign/seal/chain.pem"] {
        let pem = reqwest::get(app.url(path))
            .await
            .expect("ca")
            .text()
            .await
            .expect("pem");
        roots.extend(pem_certificates(&pem).into_iter().last());
    }
    roots
}

fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|b| b.split("-----END CERTIFICATE-----").next())
        .filter_map(|b| {
            let b64: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .collect()
}

fn to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// pyHanko's verdict on a signed PDF (`None` when pyHanko is not available and not required).
fn pyhanko_valid(pdf: &[u8], roots: &[Vec<u8>]) -> Option<bool> {
    let Ok(pyhanko) = std::env::var("PASSERELLE_PYHANKO") else {
        assert!(
            std::env::var("PASSERELLE_REQUIRE_VALIDATORS").as_deref() != Ok("1"),
            "PASSERELLE_REQUIRE_VALIDATORS=1 but PASSERELLE_PYHANKO is not set (scripts/install-deps installs pyHanko in .venv)"
        );
        eprintln!("pyHanko not available: set PASSERELLE_PYHANKO to check with it");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("pyhanko-{}", passerelle_store::random_token(8)));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("signed.pdf");
    std::fs::write(&file, pdf).expect("write");
    let mut cmd = std::process::Command::new(pyhanko);
    cmd.args([
        "sign",
        "validate",
        "--executive-summary",
        "--no-revocation-check",
    ]);
    for (i, r) in roots.iter().enumerate() {
        let path = dir.join(format!("root{i}.pem"));
        std::fs::write(&path, to_pem(r)).expect("write root");
        cmd.arg("--trust").arg(path);
    }
    cmd.arg("--trust-replace").arg(&file);
    let out = cmd.output().expect("run pyhanko");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("pyhanko: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
    Some(out.status.success() && stdout.contains(":VALID") && !stdout.contains("INVALID"))
}

/// OpenSSL's verdict on a detached CAdES signature.
fn openssl_valid(cms: &[u8], content: &[u8], roots: &[Vec<u8>]) -> bool {
    let dir = std::env::temp_dir().join(format!("cms-{}", passerelle_store::random_token(8)));
    std::fs::create_dir_all(&dir).expect("dir");
    let (sig, doc, ca) = (dir.join("sig.der"), dir.join("doc.bin"), dir.join("ca.pem"));
    std::fs::write(&sig, cms).expect("write");
    std::fs::write(&doc, content).expect("write");
    std::fs::write(&ca, roots.iter().map(|r| to_pem(r)).collect::<String>()).expect("write");
    let out = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any", "-in",
        ])
        .arg(&sig)
        .arg("-content")
        .arg(&doc)
        .arg("-CAfile")
        .arg(&ca)
        .args(["-out", "/dev/null"])
        .output()
        .expect("run openssl");
    let _ = std::fs::remove_dir_all(&dir);
    out.status.success()
}

/// Every validator at hand agrees that `pdf` is validly signed, and that it is not once one
/// byte of the signed range changes.
fn assert_valid_pdf(pdf: &[u8], original: &[u8], roots: &[Vec<u8>]) {
    assert!(
        pdf.starts_with(original),
        "the original bytes are kept as they were"
    );
    let reports = passerelle_sign::verify::pdf(pdf, roots).expect("verify");
    assert_eq!(reports.len(), 1);
    assert!(reports[0].valid, "{:?}", reports[0]);
    assert!(reports[0].covers_whole_file);
    assert!(reports[0].timestamp.is_some(), "B-T: time-stamped");
    if let Some(ok) = pyhanko_valid(pdf, roots) {
        assert!(ok, "pyHanko says the signed PDF is valid");
    }
    let mut tampered = pdf.to_vec();
    let at = original.len() / 2;
    tampered[at] ^= 0x01;
    let reports = passerelle_sign::verify::pdf(&tampered, roots).expect("verify");
    assert!(
        !reports.iter().any(|r| r.valid),
        "a changed byte invalidates it"
    );
    if let Some(ok) = pyhanko_valid(&tampered, roots) {
        assert!(!ok, "pyHanko refuses the changed PDF");
    }
}

fn assert_valid_cades(cms: &[u8], content: &[u8], roots: &[Vec<u8>]) {
    let report = passerelle_sign::verify::detached(cms, content, roots).expect("verify");
    assert!(report.valid, "{report:?}");
    assert!(
        openssl_valid(cms, content, roots),
        "openssl cms -verify accepts it"
    );
    let mut changed = content.to_vec();
    changed[0] ^= 0x01;
    assert!(
        !passerelle_sign::verify::detached(cms, &changed, roots)
            .expect("verify")
            .valid
    );
    assert!(
        !openssl_valid(cms, &changed, roots),
        "openssl refuses a changed document"
    );
}

async fn signing_client(app: &TestApp) -> (TestClient, String) {
    let client = app.add_client("sandbox", "client_secret_basic", &[]).await;
    let token = api_token(app, &client).await;
    (client, token)
}

#[tokio::test]
async fn an_advanced_signature_after_identification_seals_every_document() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let (pdf1, pdf2) = (sample_pdf("Loan agreement"), sample_pdf("General terms"));
    let text = b"Annex: repayment schedule\n".to_vec();
    let d1 = upload_ok(&app, &token, "application/pdf", pdf1.clone()).await;
    let d2 = upload_ok(&app, &token, "application/pdf", pdf2.clone()).await;
    let d3 = upload_ok(&app, &token, "text/plain", text.clone()).await;
    let s = create_ok(
        &app,
        &token,
        session("AUTHENTICATION_BASED", &[&d1, &d2, &d3], Some(JAN.1)),
    )
    .await;
    assert_eq!(s["lifecycle"]["state"], "READY");
    let id = s["id"].as_str().expect("id");
    let url = s["signatureUrl"].as_str().expect("url");
    assert!(
        url.starts_with(&format!("{}/sign/signer/", app.base)),
        "{url}"
    );

    let back = sign_as(&app, url, JAN.0).await;
    assert_eq!(
        back,
        format!("{RP_CALLBACK}?sessionId={id}&externalReference=order-42")
    );
    let done = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(done["lifecycle"]["state"], "SIGNED", "{done}");
    assert_eq!(done["lifecycle"]["stateIsFinal"], true);
    let signatures = done["output"]["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 3);
    let roots = trust(&app).await;
    for (sig, (original, kind)) in
        signatures
            .iter()
            .zip([(&pdf1, "PADES"), (&pdf2, "PADES"), (&text, "CADES")])
    {
        assert_eq!(sig["signatureType"], kind);
        let signed = download(&app, &token, sig["resultDocumentId"].as_str().expect("id")).await;
        if kind == "PADES" {
            assert_valid_pdf(&signed, original, &roots);
            // A signed PDF cannot be uploaded to be signed again.
            let resp = upload(&app, &token, "application/pdf", signed.clone()).await;
            assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
            let detail: Value = resp.json().await.expect("json");
            assert!(
                detail["detail"]
                    .as_str()
                    .expect("detail")
                    .contains("already signed"),
                "{detail}"
            );
            // The signature names who signed, as itsme verified them.
            // (the signature dictionary's strings are written in hex).
            let tail = String::from_utf8_lossy(&signed[original.len()..]).to_ascii_lowercase();
            let name: String = "Jan Pieter Peeters"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert!(tail.contains(&name), "the signer is named");
        } else {
            assert_valid_cades(&signed, original, &roots);
        }
    }
    // The session's events, by polling: created, then signed.
    let events = get_json(&app, &token, "/sign/events").await;
    let names: Vec<&str> = events["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|e| e["eventData"]["signingSessionId"] == json!(id))
        .map(|e| e["eventName"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["signing-session.created", "signing-session.signed"]);
    // The signing link of a signed session is a page saying so, and signs nothing again.
    let page = app.browser().get(url).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("signed"));
}

#[tokio::test]
async fn the_wrong_person_signs_nothing_and_a_refusal_rejects() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let d = upload_ok(&app, &token, "application/pdf", sample_pdf("Contract")).await;
    // The session names Jan; Marie identifies: refused, nothing signed, still open.
    let s = create_ok(
        &app,
        &token,
        session("AUTHENTICATION_BASED", &[&d], Some(JAN.1)),
    )
    .await;
    let id = s["id"].as_str().expect("id");
    let url = s["signatureUrl"].as_str().expect("url");
    assert_eq!(sign_as(&app, url, "+32470000002").await, "page:403");
    let still = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(still["lifecycle"]["state"], "READY");
    assert_eq!(still["output"]["signatures"], json!([]));
    // Then Jan signs it.
    assert!(sign_as(&app, url, JAN.0).await.starts_with(RP_CALLBACK));
    // A person who refuses in the app rejects the session.
    let s = create_ok(&app, &token, session("AUTHENTICATION_BASED", &[&d], None)).await;
    let id = s["id"].as_str().expect("id");
    let back = sign_as(&app, s["signatureUrl"].as_str().expect("url"), SOPHIE).await;
    assert!(
        back.starts_with(&format!("{OTHER}?sessionId={id}")),
        "{back}"
    );
    let rejected = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(rejected["lifecycle"]["state"], "REJECTED");
    // Declining on the page rejects too.
    let s = create_ok(&app, &token, session("AUTHENTICATION_BASED", &[&d], None)).await;
    let resp = decide(
        &app,
        &app.browser(),
        s["signatureUrl"].as_str().expect("url"),
        "decline",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with(OTHER));
}

#[tokio::test]
async fn bad_documents_and_sessions_are_problems() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let problem = |resp: reqwest::Response, status: StatusCode| async move {
        assert_eq!(resp.status(), status);
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let v: Value = resp.json().await.expect("json");
        v["detail"].as_str().expect("detail").to_string()
    };
    // Not a PDF, encrypted, already signed, malformed, empty, too large.
    let d = problem(
        upload(&app, &token, "application/pdf", b"hello".to_vec()).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("not a PDF"), "{d}");
    let mut broken = sample_pdf("x");
    broken.truncate(broken.len() / 2);
    broken.extend_from_slice(b"garbage");
    problem(
        upload(&app, &token, "application/pdf", broken).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let encrypted = String::from_utf8_lossy(&sample_pdf("x"))
        .replace(
            "/Root 1 0 R",
            "/Root 1 0 R /Encrypt << /Filter /Standard /V 1 /R 2 /O (x) /U (y) /P -4 >>",
        )
        .into_bytes();
    let d = problem(
        upload(&app, &token, "application/pdf", encrypted).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("encrypted"), "{d}");
    problem(
        upload(&app, &token, "application/pdf", vec![]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        upload(
            &app,
            &token,
            "application/pdf",
            vec![b'%'; 11 * 1024 * 1024],
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    // Without a token, or with an OIDC client that may not sign: 401 / 403.
    let resp = reqwest::Client::new()
        .post(app.url("/sign/documents"))
        .body("x")
        .send()
        .await
        .expect("no token");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Another client's document cannot be named, read or deleted.
    let (_, other) = signing_client(&app).await;
    let mine = upload_ok(&app, &token, "application/pdf", sample_pdf("mine")).await;
    let d = problem(
        create(&app, &other, json!([session("PKISIGNING", &[&mine], None)])).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(d.contains("not an uploaded document of this client"), "{d}");
    let resp = reqwest::Client::new()
        .get(app.url(&format!("/sign/documents/{mine}")))
        .bearer_auth(&other)
        .send()
        .await
        .expect("read");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Bad sessions.
    for (body, needle) in [
        (json!({}), "array"),
        (json!([{"documents": []}]), "documents"),
        (json!([session("SOMETHING", &[&mine], None)]), "signingFlow"),
        (
            json!([{"documents": [{"documentId": mine}], "signingSetup": [{"signingFlow": "PKISIGNING"}], "redirectSettings": {"success": "https://evil.example/", "cancel": OTHER, "error": OTHER}}]),
            "registered",
        ),
        (
            json!([{"documents": [{"documentId": mine}], "signingSetup": [{"signingFlow": "PKISIGNING"}], "redirectSettings": {"success": RP_CALLBACK, "cancel": OTHER, "error": OTHER}, "dueDate": "2000-01-01T00:00:00Z"}]),
            "dueDate",
        ),
        (
            json!([{"documents": [{"documentId": mine}], "signingSetup": [{"signingFlow": "PKISIGNING"}], "redirectSettings": {"success": RP_CALLBACK, "cancel": OTHER, "error": OTHER}, "shoeSize": 44}]),
            "shoeSize",
        ),
    ] {
        let d = problem(create(&app, &token, body).await, StatusCode::BAD_REQUEST).await;
        assert!(d.contains(needle), "{needle}: {d}");
    }
    // A document an unfinished session uses cannot be deleted.
    create_ok(&app, &token, session("PKISIGNING", &[&mine], None)).await;
    let resp = reqwest::Client::new()
        .delete(app.url(&format!("/sign/documents/{mine}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    // A forged signer form: 403 page, nothing moves.
    let s = create_ok(
        &app,
        &token,
        session("AUTHENTICATION_BASED", &[&mine], None),
    )
    .await;
    let resp = app
        .browser()
        .post(s["signatureUrl"].as_str().expect("url"))
        .form(&[("token", "forged"), ("decision", "sign"), ("agree", "yes")])
        .send()
        .await
        .expect("forged");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_qualified_signature_signs_every_document_in_one_approval() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let (pdf1, pdf2) = (sample_pdf("Mortgage deed"), sample_pdf("Insurance"));
    let xml = b"<contract><amount>250000</amount></contract>".to_vec();
    let d1 = upload_ok(&app, &token, "application/pdf", pdf1.clone()).await;
    let d2 = upload_ok(&app, &token, "application/pdf", pdf2.clone()).await;
    let d3 = upload_ok(&app, &token, "application/xml", xml.clone()).await;
    let s = create_ok(
        &app,
        &token,
        session("PKISIGNING", &[&d1, &d2, &d3], Some(JAN.1)),
    )
    .await;
    let id = s["id"].as_str().expect("id");
    let back = sign_as(&app, s["signatureUrl"].as_str().expect("url"), JAN.0).await;
    assert_eq!(
        back,
        format!("{RP_CALLBACK}?sessionId={id}&externalReference=order-42")
    );
    let done = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(done["lifecycle"]["state"], "SIGNED", "{done}");
    let signatures = done["output"]["signatures"].as_array().expect("signatures");
    let roots = trust(&app).await;
    let mut certificates = Vec::new();
    for (sig, (original, kind)) in
        signatures
            .iter()
            .zip([(&pdf1, "PADES"), (&pdf2, "PADES"), (&xml, "CADES")])
    {
        assert_eq!(sig["signatureType"], kind);
        let signed = download(&app, &token, sig["resultDocumentId"].as_str().expect("id")).await;
        let report = if kind == "PADES" {
            assert_valid_pdf(&signed, original, &roots);
            passerelle_sign::verify::pdf(&signed, &roots)
                .expect("verify")
                .remove(0)
        } else {
            assert_valid_cades(&signed, original, &roots);
            passerelle_sign::verify::detached(&signed, original, &roots).expect("verify")
        };
        certificates.push(report.signer);
    }
    // One person, one certificate from the sandbox's qualified CA: serialNumber is the
    // national number (as itsme's certificates have it).
    assert!(
        certificates.iter().all(|c| c == &certificates[0]),
        "{certificates:?}"
    );
    assert!(
        certificates[0].contains("85073001744"),
        "{}",
        certificates[0]
    );
    assert!(certificates[0].contains("Peeters"), "{}", certificates[0]);
}

#[tokio::test]
async fn a_qualified_signature_refused_in_the_app_rejects_and_a_wrong_person_signs_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let d = upload_ok(&app, &token, "application/pdf", sample_pdf("Deed")).await;
    let s = create_ok(&app, &token, session("PKISIGNING", &[&d], None)).await;
    let id = s["id"].as_str().expect("id");
    let back = sign_as(&app, s["signatureUrl"].as_str().expect("url"), SOPHIE).await;
    assert!(
        back.starts_with(&format!("{OTHER}?sessionId={id}")),
        "{back}"
    );
    let v = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(v["lifecycle"]["state"], "REJECTED");
    // Marie's certificate does not carry Jan's national number: refused before the second
    // approval, nothing signed, the session still open for Jan.
    let s = create_ok(&app, &token, session("PKISIGNING", &[&d], Some(JAN.1))).await;
    let id = s["id"].as_str().expect("id");
    let url = s["signatureUrl"].as_str().expect("url");
    assert_eq!(sign_as(&app, url, "+32470000002").await, "page:403");
    let v = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(v["lifecycle"]["state"], "READY");
    assert!(sign_as(&app, url, JAN.0).await.starts_with(RP_CALLBACK));
}

/// Like [`walk`], but stops before following a URL that `stop` picks, and returns it.
async fn walk_until(
    app: &TestApp,
    browser: &reqwest::Client,
    mut url: String,
    phone: &str,
    stop: impl Fn(&str) -> bool,
) -> String {
    for _ in 0..20 {
        if stop(&url) {
            return url;
        }
        let resp = browser.get(app.url(&url)).send().await.expect("hop");
        if resp.status().is_redirection() {
            url = location(&resp);
            continue;
        }
        let html = resp.text().await.expect("html");
        assert!(html.contains("name=\"phone\""), "unexpected page at {url}");
        let form = html_attr(&html, "<form method=\"post\"", "action");
        let resp = browser
            .post(app.url(&form))
            .form(&[("phone", phone)])
            .send()
            .await
            .expect("phone");
        url = location(&resp);
    }
    panic!("never reached the stop");
}

#[tokio::test]
async fn a_restart_between_the_approvals_loses_nothing_and_a_replayed_approval_signs_once() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let pdf = sample_pdf("Lease");
    let d = upload_ok(&app, &token, "application/pdf", pdf.clone()).await;
    let s = create_ok(&app, &token, session("PKISIGNING", &[&d], None)).await;
    let id = s["id"].as_str().expect("id").to_string();
    let browser = app.browser();
    let resp = decide(
        &app,
        &browser,
        s["signatureUrl"].as_str().expect("url"),
        "sign",
    )
    .await;
    // Up to the second approval (the documents' hashes are bound to it): then the server
    // restarts.
    let second = walk_until(&app, &browser, location(&resp), JAN.0, |u| {
        u.contains("/csc/v1/oauth2/authorize") && u.contains("scope=credential")
    })
    .await;
    let app = app.restart().await;
    // The signer opens the signing link again meanwhile (a second tab, or Back): the pending
    // approval still comes back to this browser.
    let page = browser
        .get(s["signatureUrl"].as_str().expect("url"))
        .send()
        .await
        .expect("reopen");
    assert_eq!(page.status(), StatusCode::OK);
    // The approval's answer, twenty times at once: one signs, the others sign nothing.
    let answer = browser
        .get(app.url(&second))
        .send()
        .await
        .expect("authorize");
    let answer = if answer.status().is_redirection() {
        location(&answer)
    } else {
        walk_until(&app, &browser, second.clone(), JAN.0, |u| {
            u.contains("/sign/signer/callback")
        })
        .await
    };
    let answer = walk_until(&app, &browser, answer, JAN.0, |u| {
        u.contains("/sign/signer/callback")
    })
    .await;
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (b, u) = (browser.clone(), app.url(&answer));
        tries.spawn(async move {
            let r = b.get(u).send().await.expect("callback");
            (
                r.status(),
                r.headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap_or("").to_string()),
            )
        });
    }
    let outcomes = tries.join_all().await;
    let successes = outcomes
        .iter()
        .filter(|(_, l)| l.as_deref().is_some_and(|l| l.starts_with(RP_CALLBACK)))
        .count();
    assert_eq!(successes, 1, "{outcomes:?}");
    let done = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(done["lifecycle"]["state"], "SIGNED");
    let signatures = done["output"]["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1);
    let signed = download(
        &app,
        &token,
        signatures[0]["resultDocumentId"].as_str().expect("id"),
    )
    .await;
    assert_valid_pdf(&signed, &pdf, &trust(&app).await);
    // Once more, later: nothing happens.
    let again = browser.get(app.url(&answer)).send().await.expect("replay");
    assert!(!again.status().is_redirection());
}

#[tokio::test]
async fn events_reach_the_clients_webhook_signed_by_the_broker() {
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, String)>();
    let hook = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let tx = tx.clone();
            async move {
                let sig = headers
                    .get("passerelle-signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let _ = tx.send((sig, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, hook).await });

    let app = TestApp::spawn().await;
    let (client, token) = signing_client(&app).await;
    app.set_signing_webhook(&client, Some(&hook_url)).await;
    let d = upload_ok(&app, &token, "application/pdf", sample_pdf("Hooked")).await;
    let s = create_ok(&app, &token, session("AUTHENTICATION_BASED", &[&d], None)).await;
    let id = s["id"].as_str().expect("id");
    assert!(
        sign_as(&app, s["signatureUrl"].as_str().expect("url"), JAN.0)
            .await
            .starts_with(RP_CALLBACK)
    );
    let jwks: Value = reqwest::get(app.url("/auth/open/.well-known/openid-configuration/jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let keys = passerelle_jose::PublicKeys::from_jwks_json(&jwks.to_string()).expect("keys");
    let mut names = Vec::new();
    while names.len() < 2 {
        let (sig, body) = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("an event within 20 s")
            .expect("event");
        let event: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(event["eventData"]["signingSessionId"], id);
        assert_eq!(event["accountId"], client.id);
        // The signature: by the broker's key, over this body, for this client.
        let claims = keys
            .verify(&sig.expect("signed"), &[passerelle_jose::SigAlg::Rs256])
            .expect("verifies with the issuer's JWKS");
        use base64::Engine as _;
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(passerelle_sign::sha256(body.as_bytes()));
        assert_eq!(claims["sha256"], digest);
        assert_eq!(claims["aud"], client.id);
        names.push(event["eventName"].as_str().expect("name").to_string());
    }
    names.sort();
    assert_eq!(names, ["signing-session.created", "signing-session.signed"]);
}

#[tokio::test]
async fn a_timeout_in_the_app_signs_nothing_and_leaves_the_session_open() {
    const PIERRE: &str = "+32470000005"; // never answers (3 s)
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let d = upload_ok(&app, &token, "application/pdf", sample_pdf("Slow")).await;
    for flow in ["PKISIGNING", "AUTHENTICATION_BASED"] {
        let s = create_ok(&app, &token, session(flow, &[&d], None)).await;
        let id = s["id"].as_str().expect("id");
        let browser = app.browser();
        let resp = decide(
            &app,
            &browser,
            s["signatureUrl"].as_str().expect("url"),
            "sign",
        )
        .await;
        // Up to the sandbox's waiting page, where nothing happens; then the app times out.
        let wait = walk_until(&app, &browser, location(&resp), PIERRE, |u| {
            u.contains("/wait")
        })
        .await;
        app.clock.advance(4);
        let back = walk(&app, &browser, wait, PIERRE).await;
        assert!(
            back.starts_with(&format!("{OTHER}?sessionId={id}")),
            "{flow}: {back}"
        );
        assert!(back.contains("error="), "{back}");
        let v = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
        assert_eq!(
            v["lifecycle"]["state"], "READY",
            "{flow}: a timeout is not a refusal"
        );
        assert_eq!(v["output"]["signatures"], json!([]));
    }
}

#[tokio::test]
async fn signed_documents_go_after_their_retention_once_downloaded() {
    let app = TestApp::spawn().await;
    let (client, token) = signing_client(&app).await;
    let original = upload_ok(&app, &token, "application/pdf", sample_pdf("Kept briefly")).await;
    let s = create_ok(
        &app,
        &token,
        session("AUTHENTICATION_BASED", &[&original], None),
    )
    .await;
    let id = s["id"].as_str().expect("id");
    assert!(
        sign_as(&app, s["signatureUrl"].as_str().expect("url"), JAN.0)
            .await
            .starts_with(RP_CALLBACK)
    );
    let v = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    let result = v["output"]["signatures"][0]["resultDocumentId"]
        .as_str()
        .expect("id")
        .to_string();
    // Not downloaded: kept (an hour later it is still there).
    app.clock.advance(3600);
    let token = api_token(&app, &client).await;
    let meta = get_json(&app, &token, &format!("/sign/documents/{result}/metadata")).await;
    assert!(meta.get("downloadedAt").is_none());
    download(&app, &token, &result).await;
    // Downloaded: it and its original go after the retention (10 minutes by default).
    app.clock.advance(599);
    download(&app, &token, &result).await;
    app.clock.advance(2);
    let token = api_token(&app, &client).await;
    for doc in [&result, &original] {
        let resp = reqwest::Client::new()
            .get(app.url(&format!("/sign/documents/{doc}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("download");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_collection_is_packaged_into_a_sealed_pades_container_once_all_its_sessions_are_signed() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let d1 = upload_ok(&app, &token, "application/pdf", sample_pdf("Part one")).await;
    let d2 = upload_ok(&app, &token, "application/pdf", sample_pdf("Part two")).await;
    let resp = reqwest::Client::new()
        .post(app.url("/sign/document-collections"))
        .bearer_auth(&token)
        .json(&json!({"documents": [{"documentId": d1}, {"documentId": d2}], "packageTo": ["PADES_CONTAINER"]}))
        .send()
        .await
        .expect("collection");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let collection: Value = resp.json().await.expect("json");
    let cid = collection["id"].as_str().expect("id");
    // Two signers, one session each, over the same collection.
    let mut sessions = Vec::new();
    for flow in ["AUTHENTICATION_BASED", "PKISIGNING"] {
        let mut body = session(flow, &[], None);
        body["documents"] = json!([{"action": "SIGN", "documentCollectionId": cid}]);
        sessions.push(create_ok(&app, &token, body).await);
    }
    assert!(
        sign_as(
            &app,
            sessions[0]["signatureUrl"].as_str().expect("url"),
            JAN.0
        )
        .await
        .starts_with(RP_CALLBACK)
    );
    let first = get_json(
        &app,
        &token,
        &format!(
            "/sign/signing-sessions/{}",
            sessions[0]["id"].as_str().expect("id")
        ),
    )
    .await;
    assert_eq!(
        first["output"]["packages"],
        json!([]),
        "not while the other session is open"
    );
    assert!(
        sign_as(
            &app,
            sessions[1]["signatureUrl"].as_str().expect("url"),
            "+32470000002"
        )
        .await
        .starts_with(RP_CALLBACK)
    );
    let mut package = None;
    for s in &sessions {
        let v = get_json(
            &app,
            &token,
            &format!("/sign/signing-sessions/{}", s["id"].as_str().expect("id")),
        )
        .await;
        let packages = v["output"]["packages"].as_array().expect("packages");
        assert_eq!(packages.len(), 1, "{v}");
        assert_eq!(packages[0]["packageType"], "PADES_CONTAINER");
        assert_eq!(packages[0]["packageId"], cid);
        package = packages[0]["resultDocumentId"].as_str().map(str::to_string);
        assert_eq!(
            v["output"]["signatures"]
                .as_array()
                .expect("signatures")
                .len(),
            2
        );
    }
    let container = download(&app, &token, &package.expect("package")).await;
    let roots = trust(&app).await;
    let reports = passerelle_sign::verify::pdf(&container, &roots).expect("verify");
    assert_eq!(reports.len(), 1);
    assert!(
        reports[0].valid && reports[0].covers_whole_file,
        "{:?}",
        reports[0]
    );
    if let Some(ok) = pyhanko_valid(&container, &roots) {
        assert!(ok, "pyHanko says the container's seal is valid");
    }
    // Four signed PDFs inside (two documents, two signers).
    let text = String::from_utf8_lossy(&container);
    assert_eq!(text.matches("/Filespec").count(), 4, "four attachments");
}

#[tokio::test]
async fn a_download_keeps_an_original_that_an_open_session_still_signs() {
    let app = TestApp::spawn().await;
    let (client, token) = signing_client(&app).await;
    let original = upload_ok(&app, &token, "application/pdf", sample_pdf("Shared")).await;
    let first = create_ok(
        &app,
        &token,
        session("AUTHENTICATION_BASED", &[&original], None),
    )
    .await;
    let mut later = session("AUTHENTICATION_BASED", &[&original], None);
    later["subsequentTo"] = json!([first["id"]]);
    let second = create_ok(&app, &token, later).await;
    assert_eq!(second["lifecycle"]["state"], "BLOCKED");
    assert!(
        sign_as(&app, first["signatureUrl"].as_str().expect("url"), JAN.0)
            .await
            .starts_with(RP_CALLBACK)
    );
    let v = get_json(
        &app,
        &token,
        &format!(
            "/sign/signing-sessions/{}",
            first["id"].as_str().expect("id")
        ),
    )
    .await;
    download(
        &app,
        &token,
        v["output"]["signatures"][0]["resultDocumentId"]
            .as_str()
            .expect("id"),
    )
    .await;
    app.clock.advance(601);
    let token = api_token(&app, &client).await;
    // The second session opens now, and its document is still there to sign.
    let v = get_json(
        &app,
        &token,
        &format!(
            "/sign/signing-sessions/{}",
            second["id"].as_str().expect("id")
        ),
    )
    .await;
    assert_eq!(v["lifecycle"]["state"], "READY");
    download(&app, &token, &original).await;
    assert!(
        sign_as(
            &app,
            second["signatureUrl"].as_str().expect("url"),
            "+32470000002"
        )
        .await
        .starts_with(RP_CALLBACK)
    );
}

#[tokio::test]
async fn an_approval_answer_carried_to_another_browser_signs_nothing() {
    let app = TestApp::spawn().await;
    let (_, token) = signing_client(&app).await;
    let d = upload_ok(&app, &token, "application/pdf", sample_pdf("Stolen")).await;
    let s = create_ok(&app, &token, session("PKISIGNING", &[&d], None)).await;
    let id = s["id"].as_str().expect("id");
    let signer = app.browser();
    let resp = decide(
        &app,
        &signer,
        s["signatureUrl"].as_str().expect("url"),
        "sign",
    )
    .await;
    // The first approval's answer, taken by a stranger's browser (no signer cookie): refused,
    // and the signer's own browser still goes on with it.
    let answer = walk_until(&app, &signer, location(&resp), JAN.0, |u| {
        u.contains("/sign/signer/callback")
    })
    .await;
    let stranger = app
        .browser()
        .get(app.url(&answer))
        .send()
        .await
        .expect("stranger");
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);
    // A forged state is nobody's step.
    let forged = app
        .browser()
        .get(app.url("/sign/signer/callback?state=forged&code=x"))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let back = walk(&app, &signer, answer, JAN.0).await;
    assert!(back.starts_with(RP_CALLBACK), "{back}");
    let v = get_json(&app, &token, &format!("/sign/signing-sessions/{id}")).await;
    assert_eq!(v["lifecycle"]["state"], "SIGNED");
}
