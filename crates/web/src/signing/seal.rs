//! Making the signatures: each signed document's signature is prepared (a PDF gets its
//! placeholder, every document its signed attributes), signed elsewhere (itsme's CSC service) or
//! here (the sealing key), checked, time-stamped and assembled into PAdES or CAdES.

use base64::Engine as _;
use passerelle_core::login::Scheme;
use passerelle_sign::cades::{self, SignedAttributes};
use passerelle_sign::{pdf, tsp};
use passerelle_store::{
    ORIGIN_SIGNED, Prepared, SignDocument, SignSession, SignedResult, random_token,
};
use serde_json::{Value, json};

use super::KeyAndChain;
use crate::Broker;

/// Why a signature could not be made.
#[derive(Debug)]
pub(crate) enum SignError {
    /// A document of the session is gone or cannot be signed (the API client's doing).
    Document(String),
    /// The scheme or the time-stamping authority cannot be reached: try again later.
    Unavailable(String),
    /// The signer is not the person the session names.
    WrongPerson,
    /// Configuration is missing: refused (fail closed).
    NotConfigured(&'static str),
    /// Anything else (logged, never shown).
    Internal(String),
}

impl From<passerelle_store::StoreError> for SignError {
    fn from(e: passerelle_store::StoreError) -> Self {
        if e.is_unavailable() {
            SignError::Unavailable(e.to_string())
        } else {
            SignError::Internal(e.to_string())
        }
    }
}

impl From<passerelle_sign::Error> for SignError {
    fn from(e: passerelle_sign::Error) -> Self {
        match e {
            passerelle_sign::Error::Pdf(p) => SignError::Document(p.to_string()),
            other => SignError::Internal(other.to_string()),
        }
    }
}

/// A session's documents to sign, with their bytes, in order.
pub(crate) async fn documents(
    b: &Broker,
    s: &SignSession,
) -> Result<Vec<(SignDocument, Vec<u8>)>, SignError> {
    let now = b.clock.now();
    let mut out = Vec::new();
    for id in super::api::signed_document_ids(s) {
        let doc = b
            .store
            .find_sign_document(&id, &s.client_id, now)
            .await?
            .ok_or_else(|| SignError::Document("a document of this session was deleted".into()))?;
        let content = b
            .store
            .sign_document_content(&id, &s.client_id, now)
            .await?
            .ok_or_else(|| SignError::Document("a document of this session was deleted".into()))?;
        out.push((doc, content));
    }
    Ok(out)
}

/// What a signature says of its signer (in a PDF's signature dictionary, covered by it).
pub(crate) struct Statement {
    pub name: Option<String>,
    pub reason: String,
    pub signing_time: time::OffsetDateTime,
}

/// Prepares every document's signature for the certificate `signer_cert`.
pub(crate) fn prepare(
    docs: &[(SignDocument, Vec<u8>)],
    signer_cert: &[u8],
    statement: &Statement,
) -> Result<Vec<Prepared>, SignError> {
    let mut out = Vec::new();
    for (i, (doc, content)) in docs.iter().enumerate() {
        let (prepared, digest) = if doc.mime_type == "application/pdf" {
            let p = pdf::prepare(
                content,
                &pdf::SignatureFields {
                    field_name: "Signature1".into(),
                    name: statement.name.clone(),
                    reason: Some(statement.reason.clone()),
                    location: None,
                    contact_info: None,
                    signing_time: statement.signing_time,
                },
            )?;
            (Some(p.bytes), p.content_digest)
        } else {
            (None, passerelle_sign::sha256(content))
        };
        let attrs = SignedAttributes::new(&digest, signer_cert)?;
        out.push(Prepared {
            document_id: doc.id.clone(),
            position: i as i64,
            prepared,
            signed_attributes: attrs.der().to_vec(),
        });
    }
    Ok(out)
}

/// The hashes the signer approves: one per prepared signature, in order.
pub(crate) fn hashes(prepared: &[Prepared]) -> Result<Vec<[u8; 32]>, SignError> {
    prepared
        .iter()
        .map(|p| Ok(SignedAttributes::from_der(&p.signed_attributes)?.digest()))
        .collect()
}

/// A time stamp over a signature value from the scheme's TSA.
async fn time_stamp(b: &Broker, url: &str, signature: &[u8]) -> Result<Vec<u8>, SignError> {
    let imprint = cades::signature_imprint(signature);
    let nonce: u64 = rand::random();
    let reply = b
        .signing
        .outbound
        .time_stamp(url, tsp::request(&imprint, nonce))
        .await
        .map_err(|e| match e {
            passerelle_itsme::ConnectorError::Unavailable(d) => SignError::Unavailable(d),
            passerelle_itsme::ConnectorError::Protocol(d) => SignError::Internal(d),
        })?;
    Ok(tsp::token_from_response(&reply, &imprint, nonce)?)
}

/// Turns the signatures of `prepared` into signed documents: each is checked against the
/// signer's certificate, time-stamped, and assembled (PAdES for a PDF, CAdES otherwise). Returns
/// the results to store and the session's `output`.
pub(crate) async fn finish(
    b: &Broker,
    scheme: Scheme,
    s: &SignSession,
    prepared: &[Prepared],
    signatures: &[Vec<u8>],
    chain: &[Vec<u8>],
) -> Result<(Vec<SignedResult>, Value), SignError> {
    let tsa = b
        .signing
        .for_scheme(scheme)
        .tsa_url
        .clone()
        .ok_or(SignError::NotConfigured(
            "no time-stamping authority is configured",
        ))?;
    if signatures.len() != prepared.len() {
        return Err(SignError::Internal(format!(
            "{} signatures for {} documents",
            signatures.len(),
            prepared.len()
        )));
    }
    let leaf = chain
        .first()
        .ok_or_else(|| SignError::Internal("no signer certificate".into()))?;
    let now = b.clock.now();
    let request: Value = serde_json::from_str(&s.request).unwrap_or_default();
    let mut results = Vec::new();
    let mut signatures_out = Vec::new();
    for (p, signature) in prepared.iter().zip(signatures) {
        let attrs = SignedAttributes::from_der(&p.signed_attributes)?;
        cades::check_signature(&attrs, signature, leaf).map_err(|e| {
            SignError::Internal(format!("the signature returned does not verify: {e}"))
        })?;
        let token = time_stamp(b, &tsa, signature).await?;
        let cms = cades::assemble(&attrs, signature, chain, Some(&token))?;
        let original = b
            .store
            .find_sign_document(&p.document_id, &s.client_id, now)
            .await?
            .ok_or_else(|| SignError::Document("a document of this session was deleted".into()))?;
        let (content, mime, kind) = match &p.prepared {
            Some(pdf_bytes) => (pdf::embed(pdf_bytes, &cms)?, "application/pdf", "PADES"),
            None => (cms, "application/pkcs7-signature", "CADES"),
        };
        let id = random_token(18);
        let collection = request["documents"].as_array().and_then(|d| {
            d.iter()
                .find(|d| d["documentId"] == json!(p.document_id))
                .and_then(|d| d.get("documentCollectionId").cloned())
        });
        let mut sig = json!({
            "signatureType": kind,
            "resultDocumentId": id,
            "originalDocumentId": p.document_id,
        });
        if let Some(c) = collection {
            sig["documentCollectionId"] = c;
        }
        signatures_out.push(sig);
        results.push(SignedResult {
            document: SignDocument {
                id,
                client_id: s.client_id.clone(),
                mime_type: mime.into(),
                sha256: passerelle_sign::sha256(&content)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                size: content.len() as i64,
                title: original.title.clone(),
                description: original.description.clone(),
                filename: original.filename.clone(),
                origin: ORIGIN_SIGNED.into(),
                source_document_id: Some(p.document_id.clone()),
                session_id: Some(s.id.clone()),
                downloaded_at: None,
                created_at: now,
                expires_at: now + b.signing.document_lifetime,
            },
            content,
        });
    }
    Ok((
        results,
        json!({"signatures": signatures_out, "packages": []}),
    ))
}

/// The key that seals advanced signatures for clients of `scheme`: the operator's, or for the
/// sandbox a TEST ONLY one made once per database. Refused when neither is there.
pub(crate) async fn seal_for(b: &Broker, scheme: Scheme) -> Result<KeyAndChain, SignError> {
    let conf = b.signing.for_scheme(scheme);
    if let Some(seal) = &conf.seal {
        return Ok(seal.clone());
    }
    if !conf.test_seal {
        return Err(SignError::NotConfigured(
            "no sealing key is configured for advanced signatures",
        ));
    }
    b.signing
        .test_seal
        .get_or_try_init(|| async {
            let now = b.clock.now();
            let (_, material) = b
                .store
                .find_or_insert_key("sign-test-seal", now, make_test_seal)
                .await?;
            parse_seal(&material)
        })
        .await
        .cloned()
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A TEST ONLY root and a seal it issued, as stored (JSON of base64 DER).
fn make_test_seal() -> Result<(String, String), String> {
    use passerelle_sign::ca::{Authority, Profile};
    use time::Duration;
    let root = Authority::generate_root(
        "Passerelle Sandbox Seal Root CA - TEST ONLY",
        "Passerelle Sandbox - TEST ONLY",
        Duration::days(3650),
    )
    .map_err(|e| e.to_string())?;
    let ca = Authority::from_issued(&root).map_err(|e| e.to_string())?;
    let key = passerelle_sign::keys::generate_rsa_2048().map_err(|e| e.to_string())?;
    let public = passerelle_sign::keys::public_key_der(&key).map_err(|e| e.to_string())?;
    let cert = ca
        .issue(
            &Profile::Seal {
                common_name: "Passerelle Sandbox Seal - TEST ONLY".into(),
                organization: "Passerelle Sandbox - TEST ONLY".into(),
                country: "BE".into(),
            },
            &public,
            time::OffsetDateTime::now_utc() - Duration::minutes(5),
            Duration::days(1825),
        )
        .map_err(|e| e.to_string())?;
    let material = json!({
        "key": B64.encode(&key),
        "chain": [B64.encode(&cert), B64.encode(&root.cert_der)],
    });
    Ok((random_token(8), material.to_string()))
}

fn parse_seal(material: &str) -> Result<KeyAndChain, SignError> {
    let v: Value = serde_json::from_str(material)
        .map_err(|e| SignError::Internal(format!("stored seal: {e}")))?;
    let decode = |s: &Value| {
        s.as_str()
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| SignError::Internal("stored seal is not base64".into()))
    };
    Ok(KeyAndChain {
        key_pkcs8: decode(&v["key"])?,
        chain: v["chain"]
            .as_array()
            .ok_or_else(|| SignError::Internal("stored seal has no chain".into()))?
            .iter()
            .map(decode)
            .collect::<Result<_, _>>()?,
    })
}

/// The collections a signed session names whose packaging it may complete.
fn collections_of(s: &SignSession) -> Vec<String> {
    let request: Value = serde_json::from_str(&s.request).unwrap_or_default();
    let mut ids: Vec<String> = request["documents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["documentCollectionId"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// After a session is signed: every collection it names that asks for a PAdES container, and
/// whose sessions are now all signed, is packaged — once, whichever node gets there first — and
/// the container's id goes into the output of each of those sessions. A failure is logged; the
/// signatures stand.
pub(crate) async fn package_collections(b: &Broker, scheme: Scheme, s: &SignSession) {
    for id in collections_of(s) {
        if let Err(e) = package(b, scheme, &s.client_id, &id).await {
            tracing::error!(error = ?e, "a collection could not be packaged");
        }
    }
}

/// The package type Signicat names a PAdES container.
pub(crate) const PADES_CONTAINER: &str = "PADES_CONTAINER";

async fn package(
    b: &Broker,
    scheme: Scheme,
    client_id: &str,
    collection: &str,
) -> Result<(), SignError> {
    let now = b.clock.now();
    let Some((body, _)) = b
        .store
        .find_sign_collection(collection, client_id, now)
        .await?
    else {
        return Ok(());
    };
    let mut v: Value = serde_json::from_str(&body)
        .map_err(|e| SignError::Internal(format!("sign_collections.body: {e}")))?;
    let wanted = v["packageTo"]
        .as_array()
        .is_some_and(|p| p.iter().any(|x| x == PADES_CONTAINER));
    if !wanted || v.get("package").is_some() {
        return Ok(());
    }
    let sessions = b
        .store
        .sign_sessions_of_collection(client_id, collection)
        .await?;
    if sessions.is_empty()
        || sessions
            .iter()
            .any(|s| s.state != passerelle_core::signing::State::Signed)
    {
        return Ok(());
    }
    // Claimed by this node: the body says so.
    v["package"] = json!("pending");
    let claimed = v.to_string();
    if !b
        .store
        .swap_sign_collection(collection, &body, &claimed)
        .await?
    {
        return Ok(());
    }
    let mut files = Vec::new();
    let mut names = std::collections::HashSet::new();
    for s in &sessions {
        let output: Value = s
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default();
        for sig in output["signatures"].as_array().into_iter().flatten() {
            if sig["documentCollectionId"] != json!(collection) {
                continue;
            }
            let Some(id) = sig["resultDocumentId"].as_str() else {
                continue;
            };
            let (Some(doc), Some(bytes)) = (
                b.store.find_sign_document(id, client_id, now).await?,
                b.store.sign_document_content(id, client_id, now).await?,
            ) else {
                return Err(SignError::Document(
                    "a signed document of the collection is gone".into(),
                ));
            };
            let mut name = super::api::download_name(&doc);
            let mut n = 2;
            while !names.insert(name.clone()) {
                name = format!("{n}-{}", super::api::download_name(&doc));
                n += 1;
            }
            files.push(passerelle_sign::container::ContainerFile {
                name,
                mime_type: doc.mime_type.clone(),
                description: doc.title.clone(),
                bytes,
            });
        }
    }
    let title = format!("Signed documents ({} files)", files.len());
    let container = passerelle_sign::container::pdf_container(&title, &files)?;
    // Sealed by Passerelle like an advanced signature, time-stamped.
    let seal = seal_for(b, scheme).await?;
    let tsa = b
        .signing
        .for_scheme(scheme)
        .tsa_url
        .clone()
        .ok_or(SignError::NotConfigured(
            "no time-stamping authority is configured",
        ))?;
    let leaf = seal
        .chain
        .first()
        .ok_or_else(|| SignError::Internal("the seal has no certificate".into()))?;
    let p = pdf::prepare(
        &container,
        &pdf::SignatureFields {
            field_name: "Seal".into(),
            name: Some("Passerelle".into()),
            reason: Some(format!(
                "PAdES container of {} signed files, sealed by Passerelle",
                files.len()
            )),
            location: None,
            contact_info: None,
            signing_time: time::OffsetDateTime::from_unix_timestamp(now)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        },
    )?;
    let attrs = SignedAttributes::new(&p.content_digest, leaf)?;
    let signature = cades::sign_locally(&attrs, &seal.key_pkcs8)?;
    let token = time_stamp(b, &tsa, &signature).await?;
    let cms = cades::assemble(&attrs, &signature, &seal.chain, Some(&token))?;
    let sealed = pdf::embed(&p.bytes, &cms)?;
    let id = random_token(18);
    let doc = SignDocument {
        id: id.clone(),
        client_id: client_id.to_string(),
        mime_type: "application/pdf".into(),
        sha256: passerelle_sign::sha256(&sealed)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        size: sealed.len() as i64,
        title: Some(title),
        description: None,
        filename: Some(format!(
            "package-{}.pdf",
            &collection[..8.min(collection.len())]
        )),
        origin: passerelle_store::ORIGIN_PACKAGE.into(),
        source_document_id: None,
        session_id: None,
        downloaded_at: None,
        created_at: now,
        expires_at: now + b.signing.document_lifetime,
    };
    b.store.insert_sign_document(&doc, &sealed).await?;
    v["package"] = json!(id);
    b.store
        .swap_sign_collection(collection, &claimed, &v.to_string())
        .await?;
    let package =
        json!({"packageId": collection, "packageType": PADES_CONTAINER, "resultDocumentId": id});
    for s in &sessions {
        let mut output: Value = s
            .output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_else(|| json!({"signatures": [], "packages": []}));
        match output["packages"].as_array_mut() {
            Some(p) => p.push(package.clone()),
            None => output["packages"] = json!([package.clone()]),
        }
        b.store
            .set_sign_session_output(&s.id, &output.to_string())
            .await?;
    }
    tracing::info!(client.id = %client_id, files = files.len(), "collection packaged into a sealed PAdES container");
    Ok(())
}
