//! The PAdES pipeline end to end: prepare, deferred signature, time stamp, embed, verify; and
//! what must be refused.

mod common;

use common::{Pki, fields, fixture, lopdf_pdf, test_pdfs};
use passerelle_sign::pdf::{self, PdfError};
use passerelle_sign::{Error, verify};

fn assert_one_valid(bytes: &[u8], pki: &Pki, with_timestamp: bool, name: &str) {
    let reports = verify::pdf(bytes, &pki.trust()).expect("verify");
    assert_eq!(reports.len(), 1, "{name}: {reports:?}");
    let report = &reports[0];
    assert!(report.valid, "{name}: {:?}", report.problems);
    assert!(report.problems.is_empty());
    assert!(report.covers_whole_file, "{name}");
    assert_eq!(report.field, "Signature1");
    assert!(
        report.signer.starts_with("CN=Stéphane TEST ONLY, "),
        "{}",
        report.signer
    );
    assert_eq!(report.timestamp.is_some(), with_timestamp, "{name}");
}

#[test]
fn a_signed_pdf_verifies_for_every_producer_and_xref_style() {
    let pki = Pki::new();
    for (name, original) in test_pdfs() {
        let info = pdf::inspect(&original).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            info.pages,
            if name == "pypdf-indirect-form" { 1 } else { 2 },
            "{name}"
        );
        for with_timestamp in [false, true] {
            let signed = pki.sign_pdf(&original, with_timestamp);
            assert!(signed.starts_with(&original), "{name}");
            assert_one_valid(&signed, &pki, with_timestamp, name);
            // lopdf reads the result back, with the field on the first page and in the form.
            let document =
                lopdf::Document::load_mem(&signed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(document.get_pages().len(), info.pages);
            assert!(
                matches!(pdf::inspect(&signed), Err(PdfError::AlreadySigned)),
                "{name}"
            );
        }
    }
}

#[test]
fn the_timestamp_is_the_tsa_time() {
    let pki = Pki::new();
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = pki.sign_pdf(&lopdf_pdf(false), true);
    let report = &verify::pdf(&signed, &pki.trust()).expect("verify")[0];
    let stamped = report.timestamp.expect("a timestamp").unix_timestamp();
    assert!(stamped >= before && stamped <= before + 60);
}

#[test]
fn one_changed_byte_anywhere_in_the_signed_range_invalidates_it() {
    let pki = Pki::new();
    for (name, original) in [
        ("lopdf-objstm", lopdf_pdf(true)),
        ("pypdf-classic", fixture("pypdf-classic.pdf")),
    ] {
        let signed = pki.sign_pdf(&original, true);
        let gap_start = signed
            .windows(10)
            .position(|w| w == b"/Contents<")
            .expect("contents")
            + 9;
        let gap_end = gap_start
            + signed[gap_start..]
                .iter()
                .position(|b| *b == b'>')
                .expect("end")
            + 1;
        let positions: Vec<usize> = (0..signed.len())
            .step_by(7)
            .chain([
                0,
                original.len() - 1,
                original.len(),
                gap_start - 1,
                gap_end,
                signed.len() - 1,
            ])
            .filter(|i| *i < gap_start || *i >= gap_end)
            .collect();
        for i in positions {
            let mut tampered = signed.clone();
            tampered[i] ^= 0x01;
            match verify::pdf(&tampered, &pki.trust()) {
                Ok(reports) => assert!(
                    reports.iter().all(|r| !r.valid),
                    "{name}: byte {i} ({:?}) changed and still valid",
                    signed[i] as char
                ),
                Err(Error::Pdf(PdfError::NotPdf)) => assert_eq!(i, 0),
                Err(e) => panic!("{name}: {e}"),
            }
        }
    }
}

#[test]
fn a_changed_signature_value_is_invalid() {
    let pki = Pki::new();
    let signed = pki.sign_pdf(&lopdf_pdf(false), false);
    let gap_start = signed
        .windows(10)
        .position(|w| w == b"/Contents<")
        .expect("contents")
        + 10;
    // Somewhere in the middle of the CMS hex (its signature value is near the end of the DER).
    for offset in [100, 1000, 3000, 4000] {
        let mut tampered = signed.clone();
        let i = gap_start + offset;
        tampered[i] = if tampered[i] == b'0' { b'1' } else { b'0' };
        let reports = verify::pdf(&tampered, &pki.trust()).expect("verify");
        assert!(!reports[0].valid, "offset {offset}");
    }
}

#[test]
fn appended_bytes_are_reported_as_not_covered() {
    let pki = Pki::new();
    let mut signed = pki.sign_pdf(&fixture("qpdf-objstm.pdf"), true);
    signed.extend_from_slice(b"\n% appended after signing\n");
    let reports = verify::pdf(&signed, &pki.trust()).expect("verify");
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].covers_whole_file);
    assert!(reports[0].valid, "the signed revision itself is intact");
}

#[test]
fn another_root_is_not_trusted() {
    let pki = Pki::new();
    let other = Pki::new();
    let signed = pki.sign_pdf(&lopdf_pdf(false), true);
    let report = &verify::pdf(&signed, &other.trust()).expect("verify")[0];
    assert!(!report.valid);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("signer's certificate is not trusted")),
        "{:?}",
        report.problems
    );
    assert!(
        report.problems.iter().any(|p| p.starts_with("time stamp:")),
        "{:?}",
        report.problems
    );
    // The intermediate alone can be a trust anchor for the signer (not for the TSA).
    let report =
        &verify::pdf(&signed, std::slice::from_ref(&pki.issuing_ca.cert_der)).expect("verify")[0];
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
}

#[test]
fn a_signer_without_non_repudiation_is_refused() {
    let pki = Pki::new();
    let signed = pki.sign_pdf_by(
        &pki.issuing_ca,
        std::slice::from_ref(&pki.issuing_ca.cert_der),
        &lopdf_pdf(false),
        false,
    );
    let report = &verify::pdf(&signed, &pki.trust()).expect("verify")[0];
    assert_eq!(
        report.problems,
        vec!["the signer's certificate lacks the key usage nonRepudiation"]
    );
}

#[test]
fn a_cms_too_large_for_the_placeholder_is_refused() {
    let prepared = pdf::prepare(&lopdf_pdf(false), &fields()).expect("prepare");
    let too_large = vec![0x30; pdf::RESERVED_CMS_BYTES + 1];
    assert!(matches!(
        pdf::embed(&prepared.bytes, &too_large),
        Err(Error::Pdf(PdfError::SignatureTooLarge))
    ));
    let fits = vec![0x30; pdf::RESERVED_CMS_BYTES];
    let embedded = pdf::embed(&prepared.bytes, &fits).expect("fits");
    assert_eq!(embedded.len(), prepared.bytes.len());
    assert!(
        pdf::embed(&embedded, &fits).is_err(),
        "the placeholder is used up"
    );
    assert!(
        pdf::embed(&lopdf_pdf(false), &fits).is_err(),
        "no placeholder"
    );
}

#[test]
fn the_byte_range_excludes_exactly_the_contents_and_the_digest_matches() {
    let original = lopdf_pdf(true);
    let prepared = pdf::prepare(&original, &fields()).expect("prepare");
    let bytes = &prepared.bytes;
    let start = bytes
        .windows(11)
        .position(|w| w == b"/ByteRange[")
        .expect("byte range")
        + 10;
    let end = start + bytes[start..].iter().position(|b| *b == b']').expect("]") + 1;
    let numbers: Vec<usize> = std::str::from_utf8(&bytes[start + 1..end - 1])
        .expect("ascii")
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    let [a, b, c, d] = numbers[..] else {
        panic!("{numbers:?}")
    };
    assert_eq!(a, 0);
    assert_eq!(c + d, bytes.len());
    assert_eq!(c - b, 2 * pdf::RESERVED_CMS_BYTES + 2);
    assert_eq!(bytes[b], b'<');
    assert_eq!(bytes[c - 1], b'>');
    assert!(bytes[b + 1..c - 1].iter().all(|x| *x == b'0'));
    assert!(bytes[..b].ends_with(b"/Contents"));
    let mut signed_bytes = bytes[..b].to_vec();
    signed_bytes.extend_from_slice(&bytes[c..]);
    assert_eq!(
        passerelle_sign::sha256(&signed_bytes),
        prepared.content_digest
    );
    // The dictionary says what the contract says.
    let text = String::from_utf8_lossy(&bytes[original.len()..]);
    for needle in [
        "/Type/Sig",
        "/Filter/Adobe.PPKLite",
        "/SubFilter/ETSI.CAdES.detached",
        "/SigFlags 3",
        "/FT/Sig",
        "/F 132",
        "/Rect[0 0 0 0]",
        "/Subtype/Widget",
        "/M(D:",
    ] {
        assert!(text.contains(needle), "{needle} missing");
    }
}

#[test]
fn what_cannot_be_signed_is_refused() {
    let pki = Pki::new();
    assert_eq!(pdf::inspect(b"").err(), Some(PdfError::NotPdf));
    assert_eq!(pdf::inspect(b"hello world").err(), Some(PdfError::NotPdf));
    assert!(matches!(
        pdf::inspect(b"%PDF-1.7\n garbage"),
        Err(PdfError::Malformed(_))
    ));
    assert_eq!(
        pdf::inspect(&fixture("qpdf-encrypted.pdf")).err(),
        Some(PdfError::Encrypted)
    );
    let signed = pki.sign_pdf(&lopdf_pdf(false), false);
    assert_eq!(pdf::inspect(&signed).err(), Some(PdfError::AlreadySigned));
    assert!(matches!(
        pdf::prepare(&signed, &fields()),
        Err(Error::Pdf(PdfError::AlreadySigned))
    ));
    let original = fixture("pypdf-indirect-form.pdf");
    let mut taken = fields();
    taken.field_name = "name".into();
    assert!(matches!(
        pdf::prepare(&original, &taken),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn hostile_bytes_never_panic() {
    let pki = Pki::new();
    let signed = pki.sign_pdf(&lopdf_pdf(true), true);
    let originals = [lopdf_pdf(false), fixture("qpdf-objstm.pdf")];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), b"%PDF-".to_vec(), b"%PDF-1.7\n%%EOF".to_vec()];
    for base in originals.iter().chain([&signed]) {
        for _ in 0..25 {
            let cut = (next() as usize) % base.len();
            inputs.push(base[..cut].to_vec());
            let mut mutated = base.clone();
            for _ in 0..1 + next() % 8 {
                let i = (next() as usize) % mutated.len();
                mutated[i] = next() as u8;
            }
            inputs.push(mutated);
        }
    }
    for _ in 0..50 {
        let mut random: Vec<u8> = (0..next() % 2000).map(|_| next() as u8).collect();
        if next() % 2 == 0 {
            random.splice(0..0, b"%PDF-1.4\n".iter().copied());
        }
        inputs.push(random);
    }
    // Crafted: deep nesting, and a page tree that is its own kid.
    let mut deep = b"%PDF-1.4\n1 0 obj\n".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 200_000));
    deep.extend_from_slice(b"\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF\n");
    inputs.push(deep);
    let mut deep_dict = b"%PDF-1.4\n1 0 obj\n".to_vec();
    deep_dict.extend(std::iter::repeat_n(&b"<</A "[..], 100_000).flatten());
    deep_dict.extend_from_slice(b"\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF\n");
    inputs.push(deep_dict);
    inputs.push(cyclic_page_tree());
    for input in &inputs {
        let _ = pdf::inspect(input);
        let _ = pdf::prepare(input, &fields());
        let _ = pdf::embed(input, &[0x30, 0x00]);
        let _ = verify::pdf(input, &pki.trust());
        let _ = verify::detached(input, b"content", &pki.trust());
    }
}

fn cyclic_page_tree() -> Vec<u8> {
    use lopdf::{Document, Object, dictionary};
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Count" => 1,
            "Kids" => vec![Object::Reference(pages_id)],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}
