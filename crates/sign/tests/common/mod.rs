//! What the signing tests share: a TEST ONLY PKI shaped like itsme's (root → issuing CA →
//! person, and a TSA under the same root), test PDFs, and the whole deferred PAdES sequence.

#![allow(dead_code)]

use lopdf::{Document, Object, Stream, dictionary};
use passerelle_sign::ca::{self, Authority, Issued, PersonSubject, Profile};
use passerelle_sign::{cades, keys, pdf, tsp};
use time::{Duration, OffsetDateTime};

pub struct Pki {
    pub root: Issued,
    pub issuing_ca: Issued,
    pub person: Issued,
    pub tsa: tsp::Authority,
    pub tsa_cert: Vec<u8>,
}

impl Pki {
    pub fn new() -> Self {
        let now = OffsetDateTime::now_utc() - Duration::minutes(5);
        let root = Authority::generate_root(
            "Passerelle TEST ONLY Root CA",
            "Passerelle TEST ONLY",
            Duration::days(3650),
        )
        .expect("root");
        let root_ca = Authority::from_issued(&root).expect("root CA");

        let issuing_key = keys::generate_rsa_2048().expect("key");
        let issuing_cert = root_ca
            .issue(
                &Profile::IssuingCa {
                    common_name: "Passerelle TEST ONLY Issuing CA".into(),
                },
                &keys::public_key_der(&issuing_key).expect("spki"),
                now,
                Duration::days(1000),
            )
            .expect("issuing CA");
        let issuing_ca = Issued {
            key_pkcs8: issuing_key,
            cert_der: issuing_cert,
        };
        let issuing = Authority::from_issued(&issuing_ca).expect("issuing CA");

        let person_key = keys::generate_rsa_2048().expect("key");
        let person_cert = issuing
            .issue(
                &Profile::Person(PersonSubject {
                    given_name: "Stéphane".into(),
                    family_name: "TEST ONLY".into(),
                    country: "BE".into(),
                    locality: Some("Brussel".into()),
                    serial_number: "89112433518".into(),
                }),
                &keys::public_key_der(&person_key).expect("spki"),
                now,
                Duration::days(210),
            )
            .expect("person");
        let person = Issued {
            key_pkcs8: person_key,
            cert_der: person_cert,
        };

        let tsa_key = keys::generate_rsa_2048().expect("key");
        let tsa_cert = root_ca
            .issue(
                &Profile::TimeStamping {
                    common_name: "Passerelle TEST ONLY TSA".into(),
                },
                &keys::public_key_der(&tsa_key).expect("spki"),
                now,
                Duration::days(1000),
            )
            .expect("TSA");
        let tsa = tsp::Authority::new(&tsa_key, vec![tsa_cert.clone()]).expect("TSA");
        Self {
            root,
            issuing_ca,
            person,
            tsa,
            tsa_cert,
        }
    }

    pub fn trust(&self) -> Vec<Vec<u8>> {
        vec![self.root.cert_der.clone()]
    }

    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![
            self.person.cert_der.clone(),
            self.issuing_ca.cert_der.clone(),
        ]
    }

    /// The CMS over `content_digest`, signed the deferred way (the hash of the signed
    /// attributes goes to a "CSC service"), optionally with a time stamp from the TSA.
    pub fn cms(&self, content_digest: &[u8; 32], with_timestamp: bool) -> Vec<u8> {
        self.cms_by(&self.person, &self.chain(), content_digest, with_timestamp)
    }

    /// The same with any signer and chain.
    pub fn cms_by(
        &self,
        signer: &Issued,
        chain: &[Vec<u8>],
        content_digest: &[u8; 32],
        with_timestamp: bool,
    ) -> Vec<u8> {
        let attrs = cades::SignedAttributes::new(content_digest, &signer.cert_der).expect("attrs");
        let kept = cades::SignedAttributes::from_der(attrs.der()).expect("attrs read back");
        assert_eq!(kept.message_digest().expect("digest"), *content_digest);
        let signature = keys::sign_sha256_prehash(&signer.key_pkcs8, &kept.digest()).expect("sign");
        cades::check_signature(&kept, &signature, &signer.cert_der).expect("the signature checks");
        let token = with_timestamp.then(|| {
            let imprint = cades::signature_imprint(&signature);
            let nonce = 0x0123_4567_89ab_cdef;
            let reply = self.tsa.respond(
                &tsp::request(&imprint, nonce),
                u128::from(nonce) << 3,
                OffsetDateTime::now_utc(),
            );
            tsp::token_from_response(&reply, &imprint, nonce).expect("token")
        });
        cades::assemble(&kept, &signature, chain, token.as_deref()).expect("assemble")
    }

    /// Prepare, sign and embed: the whole PAdES sequence.
    pub fn sign_pdf(&self, original: &[u8], with_timestamp: bool) -> Vec<u8> {
        self.sign_pdf_by(&self.person, &self.chain(), original, with_timestamp)
    }

    pub fn sign_pdf_by(
        &self,
        signer: &Issued,
        chain: &[Vec<u8>],
        original: &[u8],
        with_timestamp: bool,
    ) -> Vec<u8> {
        let prepared = pdf::prepare(original, &fields()).expect("prepare");
        assert!(
            prepared.bytes.starts_with(original),
            "the original bytes are the prefix"
        );
        let cms = self.cms_by(signer, chain, &prepared.content_digest, with_timestamp);
        pdf::embed(&prepared.bytes, &cms).expect("embed")
    }
}

pub fn fields() -> pdf::SignatureFields {
    pdf::SignatureFields {
        field_name: "Signature1".into(),
        name: Some("Stéphane TEST ONLY".into()),
        reason: Some("TEST ONLY: I agree (/ByteRange [0 1 2 3])".into()),
        location: Some("Brussel".into()),
        contact_info: Some("test-only@example.invalid".into()),
        signing_time: OffsetDateTime::now_utc(),
    }
}

/// A two-page PDF written by lopdf: with a classic cross-reference table, or (`modern`) with
/// object streams and a cross-reference stream.
pub fn lopdf_pdf(modern: bool) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for text in ["TEST ONLY - a document to sign (lopdf)", "second page"] {
        let content = format!("BT /F1 18 Tf 72 760 Td ({text}) Tj ET");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        });
        kids.push(Object::Reference(page_id));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Count" => 2,
            "Kids" => kids,
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    if modern {
        doc.save_modern(&mut out).expect("save");
    } else {
        doc.save_to(&mut out).expect("save");
    }
    out
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every PDF the tests sign: (name, bytes).
pub fn test_pdfs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("lopdf-classic", lopdf_pdf(false)),
        ("lopdf-objstm", lopdf_pdf(true)),
        ("pypdf-classic", fixture("pypdf-classic.pdf")),
        ("qpdf-objstm", fixture("qpdf-objstm.pdf")),
        ("pypdf-indirect-form", fixture("pypdf-indirect-form.pdf")),
    ]
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "passerelle-sign-{name}-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn write_pem(path: &std::path::Path, ders: &[&[u8]]) {
    let pem: String = ders.iter().map(|der| ca::to_pem(der)).collect();
    std::fs::write(path, pem).expect("write PEM");
}
