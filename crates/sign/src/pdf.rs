//! PDF signatures by incremental update: the original bytes stay the prefix of the signed file.
//!
//! [`prepare`] appends, with lopdf's `IncrementalDocument`, a signature dictionary (ISO 32000-1
//! §12.8.1, ETSI EN 319 142-1 PAdES) whose `/Contents` is a hex string of zeros and whose
//! `/ByteRange` is a fixed-width placeholder, an invisible widget field pointing at it, the
//! first page's `/Annots` and the AcroForm's `/Fields` (with `/SigFlags 3`). The placeholder is
//! then patched in place (same length) and the byte range hashed. [`embed`] writes the CMS into
//! the zeros.
//!
//! Every text string of the update is written as a hex string, so that the only `/ByteRange`
//! token in the appended bytes is the real one, whatever the caller puts in `/Reason`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::{
    Dictionary, Document, IncrementalDocument, LoadOptions, Object, ObjectId, StringFormat,
};
use time::OffsetDateTime;

use crate::{Error, Result};

/// Why a PDF cannot be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PdfError {
    #[error("the document is not a PDF")]
    NotPdf,
    #[error("the PDF cannot be read: {0}")]
    Malformed(String),
    #[error("the PDF is encrypted")]
    Encrypted,
    #[error("the PDF is already signed")]
    AlreadySigned,
    #[error("the signature does not fit in the space reserved for it")]
    SignatureTooLarge,
}

/// What a PDF looks like to a signer.
#[derive(Debug, Clone)]
pub struct PdfInfo {
    pub pages: usize,
}

/// The most a PDF's object streams may inflate to while loading (a zip bomb stops there).
const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// How deep inline dictionaries and arrays are searched for a signature.
const MAX_DEPTH: usize = 32;

/// Refuse what cannot be signed: not a PDF, malformed, encrypted, already signed.
pub fn inspect(bytes: &[u8]) -> Result<PdfInfo, PdfError> {
    let document = load(bytes)?;
    let pages = document.get_pages().len();
    if pages == 0 {
        return Err(PdfError::Malformed("the document has no pages".into()));
    }
    Ok(PdfInfo { pages })
}

/// Load a PDF that can be signed by an incremental update, or say why not.
fn load(bytes: &[u8]) -> Result<Document, PdfError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED),
        ..LoadOptions::default()
    };
    // lopdf parses hostile input; a panic in it must not take the caller down.
    let loaded = catch_unwind(AssertUnwindSafe(|| {
        Document::load_mem_with_options(bytes, options)
    }));
    let document = match loaded {
        Ok(Ok(document)) => document,
        Ok(Err(lopdf::Error::Decryption(_))) => return Err(PdfError::Encrypted),
        Ok(Err(_)) if contains(bytes, b"/Encrypt") => return Err(PdfError::Encrypted),
        Ok(Err(e)) => return Err(PdfError::Malformed(e.to_string())),
        Err(_) => return Err(PdfError::Malformed("the PDF parser gave up".into())),
    };
    if document.trailer.has(b"Encrypt") || document.encryption_state.is_some() {
        return Err(PdfError::Encrypted);
    }
    if document.xref_recovery == Some(lopdf::xref::XrefRecovery::Reconstructed) {
        return Err(PdfError::Malformed(
            "the cross-reference table is damaged (a repaired PDF cannot be updated incrementally)"
                .into(),
        ));
    }
    if contains(bytes, b"/ByteRange")
        || document
            .objects
            .values()
            .any(|object| is_signature_object(object, 0))
    {
        return Err(PdfError::AlreadySigned);
    }
    Ok(document)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A signature dictionary (`/Type /Sig` or `/DocTimeStamp`, or a `/ByteRange`), or a signature
/// field with a value, anywhere inside `object`.
fn is_signature_object(object: &Object, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match object {
        Object::Dictionary(dict) => is_signature_dict(dict, depth),
        Object::Stream(stream) => is_signature_dict(&stream.dict, depth),
        Object::Array(items) => items
            .iter()
            .any(|item| is_signature_object(item, depth + 1)),
        _ => false,
    }
}

fn is_signature_dict(dict: &Dictionary, depth: usize) -> bool {
    let name_is =
        |key: &[u8], value: &[u8]| matches!(dict.get(key), Ok(Object::Name(n)) if n == value);
    if dict.has(b"ByteRange") || name_is(b"Type", b"Sig") || name_is(b"Type", b"DocTimeStamp") {
        return true;
    }
    if name_is(b"FT", b"Sig") && dict.get(b"V").is_ok_and(|v| !v.is_null()) {
        return true;
    }
    dict.iter()
        .any(|(_, value)| is_signature_object(value, depth + 1))
}

/// The entries of the signature dictionary (all covered by the signature).
#[derive(Debug, Clone)]
pub struct SignatureFields {
    /// `/T` of the new invisible signature field, unique in the document (e.g. `Signature1`).
    pub field_name: String,
    /// `/Name`: the signer's name as the signer was identified.
    pub name: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/ContactInfo`.
    pub contact_info: Option<String>,
    /// `/M`.
    pub signing_time: OffsetDateTime,
}

/// A PDF with a signature placeholder, kept until the CMS is ready.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The whole file, `/Contents <00…>` included.
    pub bytes: Vec<u8>,
    /// SHA-256 over the `/ByteRange` (everything but the placeholder): the messageDigest.
    pub content_digest: [u8; 32],
}

/// Bytes reserved for the CMS (hex doubles it in the file): room for a B-T signature with a
/// three-certificate chain and a time stamp with its own chain.
pub const RESERVED_CMS_BYTES: usize = 16 * 1024;

/// The `/ByteRange` written before the offsets are known: ten digits per number, so the real
/// array (padded with spaces) fits in its place for files up to 9,999,999,999 bytes.
const BYTE_RANGE_PLACEHOLDER: i64 = 9_999_999_999;

/// Add an invisible signature field (`/FT /Sig`, widget with `/Rect [0 0 0 0]` on the first
/// page, `/SigFlags 3` in the AcroForm) and its signature dictionary (`/Filter /Adobe.PPKLite
/// /SubFilter /ETSI.CAdES.detached`), as an incremental update.
pub fn prepare(bytes: &[u8], fields: &SignatureFields) -> Result<Prepared> {
    let document = load(bytes)?;
    if fields.field_name.is_empty() || fields.field_name.contains('.') {
        return Err(Error::Invalid(
            "a signature field name is not empty and has no period (ISO 32000-1 §12.7.3.2)".into(),
        ));
    }
    let first_page = document
        .get_pages()
        .values()
        .next()
        .copied()
        .ok_or_else(|| PdfError::Malformed("the document has no pages".into()))?;
    let catalog_id = match document.trailer.get(b"Root") {
        Ok(Object::Reference(id)) => *id,
        _ => return Err(PdfError::Malformed("the trailer has no /Root reference".into()).into()),
    };
    if field_names(&document)
        .iter()
        .any(|name| name == fields.field_name.as_bytes())
    {
        return Err(Error::Invalid(format!(
            "the document already has a field named {}",
            fields.field_name
        )));
    }

    let mut update = IncrementalDocument::create_from(bytes.to_vec(), document);
    clean_trailer(&mut update.new_document.trailer);

    let signature_id = update
        .new_document
        .add_object(signature_dictionary(fields)?);
    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set("T", text_string(&fields.field_name));
    widget.set("V", Object::Reference(signature_id));
    widget.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    // Print (4) + Locked (128): ISO 32000-1 §12.5.3.
    widget.set("F", 132);
    widget.set("P", Object::Reference(first_page));
    let widget_id = update.new_document.add_object(widget);

    append_to_annots(&mut update, first_page, widget_id)?;
    append_to_acroform(&mut update, catalog_id, widget_id)?;

    let mut out = Vec::with_capacity(bytes.len() + 2 * RESERVED_CMS_BYTES + 4096);
    update
        .save_to(&mut out)
        .map_err(|e| Error::Encoding(format!("the PDF update cannot be written: {e}")))?;
    if !out.starts_with(bytes) {
        return Err(Error::Encoding(
            "the update does not keep the original bytes".into(),
        ));
    }
    let placeholder = find_placeholder(&out, bytes.len())?;
    let (a, b) = (placeholder.contents_start, placeholder.contents_end);
    let range = format!("[0 {a} {b} {}", out.len() - b);
    let width = placeholder.array_end - placeholder.array_start;
    if range.len() + 1 > width {
        return Err(Error::Encoding(
            "the file is too large for the byte range placeholder".into(),
        ));
    }
    let mut patched = range.into_bytes();
    patched.resize(width - 1, b' ');
    patched.push(b']');
    out[placeholder.array_start..placeholder.array_end].copy_from_slice(&patched);

    let content_digest = {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        hasher.update(&out[..a]);
        hasher.update(&out[b..]);
        hasher.finalize().into()
    };
    Ok(Prepared {
        bytes: out,
        content_digest,
    })
}

/// The `/T` of every field reachable from the AcroForm (top-level names only matter: a new
/// top-level field must not share its name with another).
fn field_names(document: &Document) -> Vec<Vec<u8>> {
    let Ok(catalog) = document.catalog() else {
        return Vec::new();
    };
    let Some(acroform) =
        resolve(document, catalog.get(b"AcroForm").ok()).and_then(|o| o.as_dict().ok())
    else {
        return Vec::new();
    };
    let Some(Object::Array(fields)) = resolve(document, acroform.get(b"Fields").ok()) else {
        return Vec::new();
    };
    fields
        .iter()
        .filter_map(|field| resolve(document, Some(field))?.as_dict().ok())
        .filter_map(|field| match field.get(b"T") {
            Ok(Object::String(name, _)) => Some(name.clone()),
            _ => None,
        })
        .collect()
}

fn resolve<'a>(document: &'a Document, object: Option<&'a Object>) -> Option<&'a Object> {
    match object? {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

/// The trailer of the update is the previous one with `/Prev`; entries that described the
/// previous cross-reference stream (or a hybrid file's `/XRefStm`) do not describe ours.
fn clean_trailer(trailer: &mut Dictionary) {
    for key in [
        &b"XRefStm"[..],
        b"DecodeParms",
        b"Filter",
        b"Length",
        b"W",
        b"Index",
        b"Type",
        b"F",
        b"FFilter",
        b"FDecodeParms",
        b"DL",
    ] {
        trailer.remove(key);
    }
}

fn signature_dictionary(fields: &SignatureFields) -> Result<Dictionary> {
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"Sig".to_vec()));
    dict.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    dict.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    // `/ByteRange` then `/Contents`, in this order: `find_placeholder` relies on it.
    dict.set(
        "ByteRange",
        Object::Array(vec![
            0.into(),
            BYTE_RANGE_PLACEHOLDER.into(),
            BYTE_RANGE_PLACEHOLDER.into(),
            BYTE_RANGE_PLACEHOLDER.into(),
        ]),
    );
    dict.set(
        "Contents",
        Object::String(vec![0; RESERVED_CMS_BYTES], StringFormat::Hexadecimal),
    );
    dict.set(
        "M",
        Object::String(
            pdf_date(fields.signing_time)?.into_bytes(),
            StringFormat::Literal,
        ),
    );
    for (key, value) in [
        ("Name", &fields.name),
        ("Reason", &fields.reason),
        ("Location", &fields.location),
        ("ContactInfo", &fields.contact_info),
    ] {
        if let Some(value) = value {
            dict.set(key, text_string(value));
        }
    }
    Ok(dict)
}

/// `D:YYYYMMDDHHmmSS+00'00'` in UTC (ISO 32000-1 §7.9.4).
fn pdf_date(time: OffsetDateTime) -> Result<String> {
    let utc = time.to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("D:[year][month][day][hour][minute][second]+00'00'");
    utc.format(&format)
        .map_err(|e| Error::Encoding(format!("the signing time cannot be written: {e}")))
}

/// A text string (ISO 32000-1 §7.9.2.2), always written in hex: the bytes themselves when they
/// are printable ASCII (PDFDocEncoding agrees), UTF-16BE with a byte order mark otherwise.
fn text_string(text: &str) -> Object {
    let bytes = if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.as_bytes().to_vec()
    } else {
        let mut utf16 = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            utf16.extend_from_slice(&unit.to_be_bytes());
        }
        utf16
    };
    Object::String(bytes, StringFormat::Hexadecimal)
}

/// Rewrite the first page with the widget added to its `/Annots` (inline or indirect).
fn append_to_annots(
    update: &mut IncrementalDocument,
    page_id: ObjectId,
    widget_id: ObjectId,
) -> Result<()> {
    update
        .opt_clone_object_to_new_document(page_id)
        .map_err(|e| PdfError::Malformed(format!("the first page cannot be read: {e}")))?;
    let annots = update
        .new_document
        .get_object(page_id)
        .and_then(Object::as_dict)
        .map_err(|_| PdfError::Malformed("the first page is not a dictionary".into()))?
        .get(b"Annots")
        .ok()
        .cloned();
    match annots {
        None | Some(Object::Null) => {
            page_dict(update, page_id)?
                .set("Annots", Object::Array(vec![Object::Reference(widget_id)]));
        }
        Some(Object::Array(_)) => {
            if let Ok(Object::Array(items)) = page_dict(update, page_id)?.get_mut(b"Annots") {
                items.push(Object::Reference(widget_id));
            }
        }
        Some(Object::Reference(array_id)) => {
            update
                .opt_clone_object_to_new_document(array_id)
                .map_err(|e| {
                    PdfError::Malformed(format!("the page's /Annots cannot be read: {e}"))
                })?;
            match update.new_document.get_object_mut(array_id) {
                Ok(Object::Array(items)) => items.push(Object::Reference(widget_id)),
                _ => {
                    return Err(
                        PdfError::Malformed("the page's /Annots is not an array".into()).into(),
                    );
                }
            }
        }
        Some(_) => {
            return Err(PdfError::Malformed("the page's /Annots is not an array".into()).into());
        }
    }
    Ok(())
}

fn page_dict(update: &mut IncrementalDocument, page_id: ObjectId) -> Result<&mut Dictionary> {
    Ok(update
        .new_document
        .get_object_mut(page_id)
        .and_then(Object::as_dict_mut)
        .map_err(|_| PdfError::Malformed("the first page is not a dictionary".into()))?)
}

/// Add the widget to the AcroForm's `/Fields` and set `/SigFlags 3` (SignaturesExist,
/// AppendOnly), creating the AcroForm if there is none; the AcroForm and its `/Fields` may be
/// inline or indirect.
fn append_to_acroform(
    update: &mut IncrementalDocument,
    catalog_id: ObjectId,
    widget_id: ObjectId,
) -> Result<()> {
    let malformed = |what: &str| Error::from(PdfError::Malformed(what.to_string()));
    update
        .opt_clone_object_to_new_document(catalog_id)
        .map_err(|_| malformed("the catalog cannot be read"))?;
    let acroform = update
        .new_document
        .get_object(catalog_id)
        .and_then(Object::as_dict)
        .map_err(|_| malformed("the catalog is not a dictionary"))?
        .get(b"AcroForm")
        .ok()
        .cloned();
    let acroform_id = match acroform {
        Some(Object::Reference(id)) => {
            update
                .opt_clone_object_to_new_document(id)
                .map_err(|_| malformed("the AcroForm cannot be read"))?;
            Some(id)
        }
        Some(Object::Dictionary(_)) => None,
        None | Some(Object::Null) => {
            let id = update.new_document.add_object(Dictionary::new());
            update
                .new_document
                .get_object_mut(catalog_id)
                .and_then(Object::as_dict_mut)
                .map_err(|_| malformed("the catalog is not a dictionary"))?
                .set("AcroForm", Object::Reference(id));
            Some(id)
        }
        Some(_) => return Err(malformed("the AcroForm is not a dictionary")),
    };
    let form_holder = acroform_id.unwrap_or(catalog_id);
    let form = {
        let object = update
            .new_document
            .get_object_mut(form_holder)
            .and_then(Object::as_dict_mut)
            .map_err(|_| malformed("the AcroForm is not a dictionary"))?;
        if acroform_id.is_some() {
            object
        } else {
            match object.get_mut(b"AcroForm") {
                Ok(Object::Dictionary(form)) => form,
                _ => return Err(malformed("the AcroForm is not a dictionary")),
            }
        }
    };
    form.set("SigFlags", 3);
    let fields_ref = match form.get_mut(b"Fields") {
        Ok(Object::Array(items)) => {
            items.push(Object::Reference(widget_id));
            None
        }
        Ok(Object::Reference(id)) => Some(*id),
        Ok(Object::Null) | Err(_) => {
            form.set("Fields", Object::Array(vec![Object::Reference(widget_id)]));
            None
        }
        Ok(_) => return Err(malformed("the AcroForm's /Fields is not an array")),
    };
    if let Some(fields_id) = fields_ref {
        update
            .opt_clone_object_to_new_document(fields_id)
            .map_err(|_| malformed("the AcroForm's /Fields cannot be read"))?;
        match update.new_document.get_object_mut(fields_id) {
            Ok(Object::Array(items)) => items.push(Object::Reference(widget_id)),
            _ => return Err(malformed("the AcroForm's /Fields is not an array")),
        }
    }
    Ok(())
}

/// Where a signature's `/ByteRange` array and `/Contents` hex string are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignatureLocation {
    /// The `[` of the `/ByteRange` array.
    pub array_start: usize,
    /// Just past its `]`.
    pub array_end: usize,
    /// The four numbers of the array.
    pub byte_range: [usize; 4],
}

/// The placeholder `prepare` wrote, found after the original bytes.
struct Placeholder {
    array_start: usize,
    array_end: usize,
    /// The `<` of the `/Contents` hex string.
    contents_start: usize,
    /// Just past its `>`.
    contents_end: usize,
}

fn find_placeholder(out: &[u8], original_len: usize) -> Result<Placeholder> {
    let lost = || Error::Encoding("the signature placeholder is not where it was written".into());
    let mut zeros = Vec::with_capacity(2 * RESERVED_CMS_BYTES + 2);
    zeros.push(b'<');
    zeros.resize(2 * RESERVED_CMS_BYTES + 1, b'0');
    zeros.push(b'>');
    let appended = &out[original_len..];
    let contents_start = original_len + find(appended, &zeros).ok_or_else(lost)?;
    let location = byte_range_locations(out)
        .into_iter()
        .find(|l| l.array_start > original_len && l.array_start < contents_start)
        .ok_or_else(lost)?;
    let between = &out[location.array_end..contents_start];
    let between = trim_pdf_whitespace(between);
    if between != b"/Contents" {
        return Err(lost());
    }
    Ok(Placeholder {
        array_start: location.array_start,
        array_end: location.array_end,
        contents_start,
        contents_end: contents_start + zeros.len(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_pdf_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn trim_pdf_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !is_pdf_whitespace(*b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_pdf_whitespace(*b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Every `/ByteRange [a b c d]` in the file (a raw scan: a signature dictionary is never in an
/// object stream, since its `/Contents` must be excluded by byte offsets).
pub(crate) fn byte_range_locations(bytes: &[u8]) -> Vec<SignatureLocation> {
    const KEY: &[u8] = b"/ByteRange";
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = find(&bytes[from..], KEY) {
        let key_end = from + offset + KEY.len();
        from = key_end;
        let mut i = key_end;
        while i < bytes.len() && is_pdf_whitespace(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'[') {
            continue;
        }
        let array_start = i;
        let Some(close) = bytes[i..].iter().take(200).position(|b| *b == b']') else {
            continue;
        };
        let array_end = i + close + 1;
        let inner = &bytes[array_start + 1..array_end - 1];
        let numbers: Vec<usize> = inner
            .split(|b| is_pdf_whitespace(*b))
            .filter(|part| !part.is_empty())
            .map_while(|part| std::str::from_utf8(part).ok()?.parse().ok())
            .collect();
        let parts = inner
            .split(|b| is_pdf_whitespace(*b))
            .filter(|p| !p.is_empty())
            .count();
        if let ([a, b, c, d], 4) = (numbers.as_slice(), parts) {
            found.push(SignatureLocation {
                array_start,
                array_end,
                byte_range: [*a, *b, *c, *d],
            });
        }
    }
    found
}

/// Write `cms` (DER) into the placeholder of `prepared` (the bytes of [`Prepared::bytes`]).
pub fn embed(prepared: &[u8], cms: &[u8]) -> Result<Vec<u8>> {
    let not_prepared = || {
        Error::from(PdfError::Malformed(
            "the PDF has no signature placeholder".into(),
        ))
    };
    let [location] = byte_range_locations(prepared)[..] else {
        return Err(not_prepared());
    };
    let [a, b, c, d] = location.byte_range;
    if a != 0 || c <= b || c.checked_add(d) != Some(prepared.len()) || b < 1 {
        return Err(not_prepared());
    }
    let gap = &prepared[b..c];
    let (Some(b'<'), Some(b'>')) = (gap.first(), gap.last()) else {
        return Err(not_prepared());
    };
    let hex_room = gap.len() - 2;
    if !gap[1..gap.len() - 1].iter().all(|x| *x == b'0') {
        return Err(Error::Invalid(
            "the placeholder already holds a signature".into(),
        ));
    }
    if cms.is_empty() {
        return Err(Error::Invalid("the CMS is empty".into()));
    }
    if cms.len() * 2 > hex_room {
        return Err(PdfError::SignatureTooLarge.into());
    }
    let mut out = prepared.to_vec();
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, byte) in cms.iter().enumerate() {
        out[b + 1 + 2 * i] = HEX[usize::from(byte >> 4)];
        out[b + 2 + 2 * i] = HEX[usize::from(byte & 0x0f)];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_are_in_utc() {
        let time = time::macros::datetime!(2026-03-04 05:06:07 +02:00);
        assert_eq!(pdf_date(time).expect("ok"), "D:20260304030607+00'00'");
    }

    #[test]
    fn text_strings_are_hex_and_utf16_when_not_ascii() {
        assert_eq!(
            text_string("A/B"),
            Object::String(b"A/B".to_vec(), StringFormat::Hexadecimal)
        );
        assert_eq!(
            text_string("é"),
            Object::String(vec![0xfe, 0xff, 0x00, 0xe9], StringFormat::Hexadecimal)
        );
    }

    #[test]
    fn byte_ranges_are_found_with_any_spacing() {
        let bytes = b"x/ByteRange [0 10 20 30]y/ByteRange[1 2 3]/ByteRange\n[ 0  5\n6 7 ]";
        let found = byte_range_locations(bytes);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].byte_range, [0, 10, 20, 30]);
        assert_eq!(
            &bytes[found[0].array_start..found[0].array_end],
            b"[0 10 20 30]"
        );
        assert_eq!(found[1].byte_range, [0, 5, 6, 7]);
    }
}
