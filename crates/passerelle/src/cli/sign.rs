//! `passerelle sign verify`: the operator's validator, the same checks as the test suite's
//! (passerelle-sign's verifier), with the sandbox's TEST ONLY roots by default.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use passerelle_sign::verify::SignatureReport;
use passerelle_store::Store;
use serde_json::json;

/// DER certificates from PEM or DER files.
pub fn read_roots(files: &[std::path::PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut roots = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        let found = pem_certificates(&bytes);
        if found.is_empty() {
            // Not PEM: a DER certificate.
            roots.push(bytes);
        } else {
            roots.extend(found);
        }
    }
    Ok(roots)
}

fn pem_certificates(bytes: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    text.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|b| b.split("-----END CERTIFICATE-----").next())
        .filter_map(|b| {
            let b64: String = b.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .collect()
}

/// The roots of what this Passerelle's sandbox signs: its qualified CA's root and the root of
/// its TEST ONLY seal, as its database holds them (none if it never signed).
pub async fn sandbox_roots(store: &Store) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut roots = Vec::new();
    // `{"key", "cert"}` (base64 DER) under the root's purpose.
    if let Some((_, material)) = store.find_key(passerelle_sandbox::signing::ROOT).await? {
        let v: serde_json::Value = serde_json::from_str(&material)?;
        if let Some(cert) = v["cert"].as_str() {
            roots.push(base64::engine::general_purpose::STANDARD.decode(cert)?);
        }
    }
    if let Some((_, material)) = store.find_key("sign-test-seal").await? {
        let v: serde_json::Value = serde_json::from_str(&material)?;
        if let Some(root) = v["chain"]
            .as_array()
            .and_then(|c| c.last())
            .and_then(|r| r.as_str())
        {
            roots.push(base64::engine::general_purpose::STANDARD.decode(root)?);
        }
    }
    if roots.is_empty() {
        anyhow::bail!(
            "this Passerelle's sandbox has no signing roots yet (nothing was signed); name the roots to trust with --trust FILE"
        );
    }
    Ok(roots)
}

/// Checks `file` and prints the verdict; `true` when every signature is valid.
pub fn verify(
    file: &Path,
    content: Option<&Path>,
    roots: &[Vec<u8>],
    as_json: bool,
) -> anyhow::Result<bool> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let reports = match content {
        Some(c) => {
            let doc = std::fs::read(c).with_context(|| format!("cannot read {}", c.display()))?;
            vec![passerelle_sign::verify::detached(&bytes, &doc, roots)?]
        }
        None => passerelle_sign::verify::pdf(&bytes, roots)?,
    };
    let valid = !reports.is_empty()
        && reports
            .iter()
            .all(|r| r.valid && (content.is_some() || r.covers_whole_file));
    if as_json {
        let list: Vec<_> = reports.iter().map(report_json).collect();
        crate::out!(
            "{}",
            serde_json::to_string_pretty(&json!({"valid": valid, "signatures": list}))?
        );
    } else {
        if reports.is_empty() {
            crate::out!("{}: no signature found", file.display());
        }
        for r in &reports {
            crate::out!(
                "{}: {} — signed by {}{}{}",
                r.field,
                if r.valid { "VALID" } else { "INVALID" },
                r.signer,
                r.timestamp
                    .and_then(|t| t
                        .format(&time::format_description::well_known::Rfc3339)
                        .ok())
                    .map(|t| format!(", time-stamped {t}"))
                    .unwrap_or_default(),
                if content.is_none() && !r.covers_whole_file {
                    " (the file was changed after this signature)"
                } else {
                    ""
                }
            );
            for p in &r.problems {
                crate::out!("  - {p}");
            }
        }
    }
    Ok(valid)
}

fn report_json(r: &SignatureReport) -> serde_json::Value {
    json!({
        "field": r.field,
        "signer": r.signer,
        "valid": r.valid,
        "timestamp": r.timestamp.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
        "coversWholeFile": r.covers_whole_file,
        "problems": r.problems,
    })
}
