//! A PAdES container: one PDF that carries a collection's signed documents as embedded files
//! (ISO 32000-1 §7.11.4, the catalog's `/EmbeddedFiles` name tree), with a cover page listing
//! them. Sealed like any PDF ([`crate::pdf::prepare`]), it keeps the set together: nothing can
//! be added, removed or changed without breaking the seal.

use lopdf::{Dictionary, Document, Object, Stream, StringFormat, dictionary};

use crate::Result;

/// One file of a container.
#[derive(Debug, Clone)]
pub struct ContainerFile {
    /// The file name shown by PDF readers (made unique by the caller).
    pub name: String,
    /// Its media type (`application/pdf`, `application/pkcs7-signature`…).
    pub mime_type: String,
    /// A line shown on the cover page beside the name.
    pub description: Option<String>,
    pub bytes: Vec<u8>,
}

/// Text for the cover page's Type 1 Helvetica: printable ASCII, parentheses and backslashes
/// escaped by lopdf's literal strings, anything else as `?`.
fn ascii(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(max)
        .collect()
}

fn text(s: &str) -> Object {
    // UTF-16BE with a BOM, hex: any name survives.
    let mut bytes = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        bytes.extend_from_slice(&u.to_be_bytes());
    }
    Object::String(bytes, StringFormat::Hexadecimal)
}

/// A PDF holding `files` as attachments, with a cover page titled `title`.
pub fn pdf_container(title: &str, files: &[ContainerFile]) -> Result<Vec<u8>> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
    });
    // The cover page: the title, then one line per file.
    let mut lines = vec![(16, ascii(title, 80)), (10, String::new())];
    lines.push((
        10,
        format!(
            "This PDF carries {} signed file(s) as attachments:",
            files.len()
        ),
    ));
    for f in files.iter().take(60) {
        let mut line = format!("- {}", ascii(&f.name, 70));
        if let Some(d) = &f.description {
            line.push_str(&format!(" ({})", ascii(d, 40)));
        }
        lines.push((10, line));
    }
    let mut content = String::from("BT\n72 740 Td\n");
    for (size, line) in &lines {
        let escaped = line
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        content.push_str(&format!(
            "/F1 {size} Tf\n({escaped}) Tj\n0 -{} Td\n",
            size + 6
        ));
    }
    content.push_str("ET\n");
    let content_id = doc.add_object(Stream::new(Dictionary::new(), content.into_bytes()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => vec![page_id.into()],
            "Count" => 1,
        }),
    );
    // The attachments, in a name tree sorted by name.
    let mut sorted: Vec<&ContainerFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut names = Vec::new();
    let mut specs = Vec::new();
    for f in sorted {
        let subtype = f.mime_type.replace('/', "#2F");
        let mut stream = Stream::new(
            dictionary! {
                "Type" => "EmbeddedFile",
                "Subtype" => Object::Name(subtype.into_bytes()),
                "Params" => dictionary! { "Size" => f.bytes.len() as i64 },
            },
            f.bytes.clone(),
        );
        // Compressed: smaller, and a signed PDF inside does not show its `/ByteRange` to a
        // reader of the container's bytes (which would take the container for signed).
        stream
            .compress()
            .map_err(|e| crate::Error::Encoding(format!("cannot compress an attachment: {e}")))?;
        let stream_id = doc.add_object(stream);
        let mut spec = dictionary! {
            "Type" => "Filespec",
            "F" => Object::string_literal(ascii(&f.name, 120)),
            "UF" => text(&f.name),
            "EF" => dictionary! { "F" => stream_id, "UF" => stream_id },
            "AFRelationship" => "Data",
        };
        if let Some(d) = &f.description {
            spec.set("Desc", text(d));
        }
        let spec_id = doc.add_object(spec);
        names.push(text(&f.name));
        names.push(spec_id.into());
        specs.push(Object::Reference(spec_id));
    }
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
        "Names" => dictionary! { "EmbeddedFiles" => dictionary! { "Names" => names } },
        "AF" => specs,
        "PageMode" => "UseAttachments",
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| crate::Error::Encoding(format!("the container cannot be written: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_a_pdf_that_can_be_signed() {
        let files = vec![
            ContainerFile {
                name: "contract-signed.pdf".into(),
                mime_type: "application/pdf".into(),
                description: Some("Contract".into()),
                bytes: b"%PDF-1.7 not really".to_vec(),
            },
            ContainerFile {
                name: "annex (é).p7s".into(),
                mime_type: "application/pkcs7-signature".into(),
                description: None,
                bytes: vec![0, 1, 2, 3],
            },
        ];
        let pdf = pdf_container("Loan (2026)", &files).expect("container");
        let info = crate::pdf::inspect(&pdf).expect("a signable PDF");
        assert_eq!(info.pages, 1);
        let doc = Document::load_mem(&pdf).expect("load");
        let catalog = doc.catalog().expect("catalog");
        assert!(catalog.get(b"Names").is_ok());
        assert!(String::from_utf8_lossy(&pdf).contains("/EmbeddedFile"));
    }
}
