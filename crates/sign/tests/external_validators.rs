//! The acceptance gate: validators nobody here wrote must accept what this crate signs.
//!
//! - pyHanko (`sign validate`), when `PASSERELLE_PYHANKO` names its executable (CI sets it, and
//!   `PASSERELLE_REQUIRE_VALIDATORS=1` makes its absence a failure): every test PDF, B-T, must
//!   be VALID with its time stamp seen, and a copy with one byte changed INVALID.
//! - `openssl cms -verify`, always: a detached CAdES signature verifies, and fails once the
//!   content changes.
//!
//! Set `PASSERELLE_SIGN_KEEP` to a directory to keep the files and the validators' output.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Pki, temp_dir, test_pdfs, write_pem};
use passerelle_sign::verify;

fn pyhanko() -> Option<PathBuf> {
    match std::env::var_os("PASSERELLE_PYHANKO") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var("PASSERELLE_REQUIRE_VALIDATORS").as_deref() != Ok("1"),
                "PASSERELLE_REQUIRE_VALIDATORS=1 but PASSERELLE_PYHANKO does not name a pyhanko executable \
                 (python3 -m venv /tmp/pyh && /tmp/pyh/bin/pip install pyhanko==0.38.0 pyhanko-cli==0.6.0)"
            );
            eprintln!("pyHanko not run: set PASSERELLE_PYHANKO to a pyhanko executable");
            None
        }
    }
}

fn work_dir(name: &str) -> PathBuf {
    match std::env::var_os("PASSERELLE_SIGN_KEEP") {
        Some(dir) => {
            let dir = PathBuf::from(dir).join(name);
            std::fs::create_dir_all(&dir).expect("keep dir");
            dir
        }
        None => temp_dir(name),
    }
}

fn cleanup(dir: &Path) {
    if std::env::var_os("PASSERELLE_SIGN_KEEP").is_none() {
        std::fs::remove_dir_all(dir).ok();
    }
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn run_pyhanko(pyhanko: &Path, mode: &str, root: &Path, pdf: &Path, extra: &[&str]) -> Output {
    Command::new(pyhanko)
        .args(["sign", "validate", mode])
        .args(extra)
        .arg("--trust")
        .arg(root)
        .args(["--trust-replace", "--no-revocation-check"])
        .arg(pdf)
        .output()
        .expect("pyhanko runs")
}

#[test]
fn pyhanko_says_valid_with_a_timestamp_and_invalid_once_a_byte_changes() {
    let Some(pyhanko) = pyhanko() else { return };
    let pki = Pki::new();
    let dir = work_dir("pyhanko");
    let root = dir.join("root.pem");
    write_pem(&root, &[&pki.root.cert_der]);
    for (name, original) in test_pdfs() {
        let signed = pki.sign_pdf(&original, true);
        let path = dir.join(format!("{name}-signed.pdf"));
        std::fs::write(&path, &signed).expect("write");

        let summary = run_pyhanko(&pyhanko, "--executive-summary", &root, &path, &[]);
        std::fs::write(dir.join(format!("{name}-summary.txt")), text(&summary)).ok();
        let stdout = String::from_utf8_lossy(&summary.stdout);
        assert!(
            summary.status.success()
                && stdout.contains("Signature1:")
                && stdout.trim_end().ends_with(":VALID"),
            "{name}: pyHanko does not say VALID\n{}",
            text(&summary)
        );

        // The default one-line status names the time stamp token and its verdict.
        let status = run_pyhanko(&pyhanko, "--no-diff-analysis", &root, &path, &[]);
        assert!(
            status.status.success()
                && String::from_utf8_lossy(&status.stdout)
                    .contains(":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,UNTOUCHED"),
            "{name}: {}",
            text(&status)
        );

        let pretty = run_pyhanko(&pyhanko, "--pretty-print", &root, &path, &[]);
        let report = text(&pretty);
        std::fs::write(dir.join(format!("{name}-pretty.txt")), &report).ok();
        assert!(pretty.status.success(), "{name}: {report}");
        for needle in [
            "The signer's certificate is trusted.",
            "The signature is cryptographically sound.",
            "The digest algorithm used was 'sha256'.",
            "The timestamp token is cryptographically sound.",
            "The TSA certificate is trusted.",
            "The signature covers the entire file.",
            "The signature is judged VALID.",
        ] {
            assert!(
                report.contains(needle),
                "{name}: pyHanko's report lacks {needle:?}\n{report}"
            );
        }
        assert!(!report.to_lowercase().contains("weak"), "{name}: {report}");

        let mut tampered = signed.clone();
        let i = original.len() / 2;
        tampered[i] ^= 0x01;
        let tampered_path = dir.join(format!("{name}-tampered.pdf"));
        std::fs::write(&tampered_path, &tampered).expect("write");
        let summary = run_pyhanko(&pyhanko, "--executive-summary", &root, &tampered_path, &[]);
        std::fs::write(
            dir.join(format!("{name}-tampered-summary.txt")),
            text(&summary),
        )
        .ok();
        assert!(
            !summary.status.success()
                && String::from_utf8_lossy(&summary.stdout).contains("INVALID"),
            "{name}: pyHanko accepts a changed byte\n{}",
            text(&summary)
        );
    }
    // A signer whose certificate lacks nonRepudiation (the issuing CA's) is refused, as it is
    // by our verifier.
    let by_ca = pki.sign_pdf_by(
        &pki.issuing_ca,
        std::slice::from_ref(&pki.issuing_ca.cert_der),
        &common::lopdf_pdf(false),
        false,
    );
    let path = dir.join("signed-by-a-ca.pdf");
    std::fs::write(&path, &by_ca).expect("write");
    let summary = run_pyhanko(&pyhanko, "--executive-summary", &root, &path, &[]);
    assert!(!summary.status.success(), "{}", text(&summary));
    cleanup(&dir);
}

#[test]
fn pyhanko_accepts_a_detached_cades_signature() {
    let Some(pyhanko) = pyhanko() else { return };
    let pki = Pki::new();
    let dir = work_dir("pyhanko-detached");
    let root = dir.join("root.pem");
    write_pem(&root, &[&pki.root.cert_der]);
    let content = b"TEST ONLY: a document that is not a PDF\n".to_vec();
    let cms = pki.cms(&passerelle_sign::sha256(&content), true);
    std::fs::write(dir.join("doc.bin"), &content).expect("write");
    std::fs::write(dir.join("sig.der"), &cms).expect("write");
    let sig = dir.join("sig.der");
    let sig = sig.to_str().expect("utf-8 path");
    let output = run_pyhanko(
        &pyhanko,
        "--pretty-print",
        &root,
        &dir.join("doc.bin"),
        &["--detached", sig],
    );
    let report = text(&output);
    std::fs::write(dir.join("detached-pretty.txt"), &report).ok();
    assert!(output.status.success(), "{report}");
    assert!(report.contains("judged VALID"), "{report}");

    std::fs::write(
        dir.join("doc.bin"),
        b"TEST ONLY: a document that is not a PDF!\n",
    )
    .expect("write");
    let output = run_pyhanko(
        &pyhanko,
        "--pretty-print",
        &root,
        &dir.join("doc.bin"),
        &["--detached", sig],
    );
    assert!(!output.status.success(), "{}", text(&output));
    cleanup(&dir);
}

/// A one-thread HTTP/1.1 server on 127.0.0.1:0 answering time-stamp queries with the test TSA
/// (`POST`, `application/timestamp-query`), for pyHanko's RFC 3161 client.
fn serve_tsa(pki: &'static Pki) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/tsa", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for (serial, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let reply = pki
                .tsa
                .respond(&body, serial as u128 + 1, time::OffsetDateTime::now_utc());
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                passerelle_sign::tsp::REPLY_CONTENT_TYPE,
                reply.len()
            );
            stream.write_all(head.as_bytes()).ok();
            stream.write_all(&reply).ok();
        }
    });
    url
}

#[test]
fn our_verifier_and_tsa_work_with_pyhanko_as_the_signer() {
    let Some(pyhanko) = pyhanko() else { return };
    let pki: &'static Pki = Box::leak(Box::new(Pki::new()));
    let tsa_url = serve_tsa(pki);
    let dir = work_dir("pyhanko-signer");
    let key = openssl::pkey::PKey::private_key_from_pkcs8(&pki.person.key_pkcs8).expect("key");
    std::fs::write(
        dir.join("key.pem"),
        key.private_key_to_pem_pkcs8().expect("pem"),
    )
    .expect("write");
    write_pem(&dir.join("cert.pem"), &[&pki.person.cert_der]);
    write_pem(&dir.join("chain.pem"), &[&pki.issuing_ca.cert_der]);
    write_pem(&dir.join("root.pem"), &[&pki.root.cert_der]);
    for (name, original) in test_pdfs() {
        let input = dir.join(format!("{name}.pdf"));
        let output = dir.join(format!("{name}-by-pyhanko.pdf"));
        std::fs::write(&input, &original).expect("write");
        let signed = Command::new(&pyhanko)
            .args([
                "sign",
                "addsig",
                "--field",
                "Sig1",
                "--use-pades",
                "--timestamp-url",
                &tsa_url,
            ])
            .args(["pemder", "--no-pass", "--key"])
            .arg(dir.join("key.pem"))
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--chain")
            .arg(dir.join("chain.pem"))
            .arg(&input)
            .arg(&output)
            .output()
            .expect("pyhanko runs");
        assert!(signed.status.success(), "{name}: {}", text(&signed));
        let bytes = std::fs::read(&output).expect("read");
        let reports = verify::pdf(&bytes, &pki.trust()).expect("verify");
        assert_eq!(reports.len(), 1, "{name}");
        let report = &reports[0];
        assert_eq!(report.field, "Sig1");
        assert!(report.valid, "{name}: {:?}", report.problems);
        assert!(
            report.covers_whole_file && report.timestamp.is_some(),
            "{name}"
        );

        let mut tampered = bytes.clone();
        tampered[original.len() / 3] ^= 0x01;
        assert!(
            verify::pdf(&tampered, &pki.trust())
                .expect("verify")
                .iter()
                .all(|r| !r.valid)
        );
    }
    cleanup(&dir);
}

#[test]
fn our_verifier_accepts_a_cades_signature_made_by_openssl() {
    let pki = Pki::new();
    let dir = work_dir("openssl-signer");
    let key = openssl::pkey::PKey::private_key_from_pkcs8(&pki.person.key_pkcs8).expect("key");
    std::fs::write(
        dir.join("key.pem"),
        key.private_key_to_pem_pkcs8().expect("pem"),
    )
    .expect("write");
    write_pem(&dir.join("cert.pem"), &[&pki.person.cert_der]);
    write_pem(&dir.join("intermediate.pem"), &[&pki.issuing_ca.cert_der]);
    let content = b"TEST ONLY: signed by openssl cms -sign -cades\n";
    std::fs::write(dir.join("doc.bin"), content).expect("write");
    let output = Command::new("openssl")
        .args([
            "cms", "-sign", "-binary", "-cades", "-md", "sha256", "-outform", "DER", "-in",
        ])
        .arg(dir.join("doc.bin"))
        .arg("-signer")
        .arg(dir.join("cert.pem"))
        .arg("-inkey")
        .arg(dir.join("key.pem"))
        .arg("-certfile")
        .arg(dir.join("intermediate.pem"))
        .arg("-out")
        .arg(dir.join("sig.der"))
        .output()
        .expect("openssl runs");
    assert!(output.status.success(), "{}", text(&output));
    let cms = std::fs::read(dir.join("sig.der")).expect("read");
    let report = verify::detached(&cms, content, &pki.trust()).expect("verify");
    assert!(report.valid, "{:?}", report.problems);
    assert!(report.timestamp.is_none());
    assert!(
        !verify::detached(&cms, b"other", &pki.trust())
            .expect("verify")
            .valid
    );
    cleanup(&dir);
}

fn openssl_cms_verify(dir: &Path, content: &Path) -> Output {
    Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(dir.join("sig.der"))
        .arg("-content")
        .arg(content)
        .arg("-CAfile")
        .arg(dir.join("root.pem"))
        .arg("-certfile")
        .arg(dir.join("intermediate.pem"))
        .args(["-purpose", "any", "-out"])
        .arg(dir.join("out.bin"))
        .output()
        .expect("openssl runs")
}

#[test]
fn openssl_verifies_a_detached_cades_signature_and_refuses_a_changed_byte() {
    let pki = Pki::new();
    let dir = work_dir("openssl");
    write_pem(&dir.join("root.pem"), &[&pki.root.cert_der]);
    write_pem(&dir.join("intermediate.pem"), &[&pki.issuing_ca.cert_der]);
    let content = b"TEST ONLY: a document that is not a PDF\n".to_vec();
    std::fs::write(dir.join("doc.bin"), &content).expect("write");
    for with_timestamp in [false, true] {
        let cms = pki.cms(&passerelle_sign::sha256(&content), with_timestamp);
        std::fs::write(dir.join("sig.der"), &cms).expect("write");

        let output = openssl_cms_verify(&dir, &dir.join("doc.bin"));
        let report = text(&output);
        assert!(
            output.status.success() && report.contains("Verification successful"),
            "{report}"
        );

        let mut changed = content.clone();
        changed[5] ^= 0x01;
        std::fs::write(dir.join("changed.bin"), &changed).expect("write");
        let output = openssl_cms_verify(&dir, &dir.join("changed.bin"));
        let report = text(&output);
        assert!(
            !output.status.success() && !report.contains("Verification successful"),
            "{report}"
        );

        // Our own verifier agrees, from DER and from PEM.
        let ours = verify::detached(&cms, &content, &pki.trust()).expect("verify");
        assert!(ours.valid, "{:?}", ours.problems);
        assert_eq!(ours.timestamp.is_some(), with_timestamp);
        let pem = format!(
            "-----BEGIN CMS-----\n{}\n-----END CMS-----\n",
            openssl::base64::encode_block(&cms)
        );
        assert!(
            verify::detached(pem.as_bytes(), &content, &pki.trust())
                .expect("verify")
                .valid
        );
        let ours = verify::detached(&cms, &changed, &pki.trust()).expect("verify");
        assert!(!ours.valid);
        assert!(
            ours.problems.iter().any(|p| p.contains("messageDigest")),
            "{:?}",
            ours.problems
        );
    }
    cleanup(&dir);
}
