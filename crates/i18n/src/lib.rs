//! The one translation layer: every word a person reads on Passerelle's and the sandbox's pages
//! comes from the Fluent files under `locales/`, embedded at build time.
//!
//! The language is negotiated from the OIDC `ui_locales` parameter first, then the browser's
//! `Accept-Language`, among the languages that have a directory in `locales/`: English (the
//! fallback), Dutch, French and German, each complete (a test checks that every language has
//! every English message).

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader as _};

/// The stylesheet every page inlines (the pages' CSP allows inline styles only), so the broker's
/// and the sandbox's pages look alike from one file.
pub const STYLESHEET: &str = include_str!("../style.css");

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// A chosen language and the lookups in it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Translator {
    lang: LanguageIdentifier,
}

impl Default for Translator {
    fn default() -> Self {
        Translator {
            lang: LOCALES.fallback().clone(),
        }
    }
}

impl Translator {
    /// Chooses the language: the first of `ui_locales` (space-separated, OIDC Core §3.1.2.1) that
    /// is available, else the best of `Accept-Language` (RFC 9110 §12.5.4), else English.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Translator {
        let available: Vec<&LanguageIdentifier> = LOCALES.locales().collect();
        let pick = |tag: &str| -> Option<LanguageIdentifier> {
            let wanted: LanguageIdentifier = tag.trim().parse().ok()?;
            available
                .iter()
                .find(|l| l.language == wanted.language)
                .map(|l| (*l).clone())
        };
        if let Some(ui) = ui_locales
            && let Some(lang) = ui.split(' ').find_map(pick)
        {
            return Translator { lang };
        }
        if let Some(header) = accept_language {
            let mut ranked: Vec<(f32, &str)> = header
                .split(',')
                .filter_map(|part| {
                    let mut it = part.split(';');
                    let tag = it.next()?.trim();
                    let q = it
                        .find_map(|p| {
                            p.trim()
                                .strip_prefix("q=")
                                .and_then(|q| q.parse::<f32>().ok())
                        })
                        .unwrap_or(1.0);
                    Some((q, tag))
                })
                .filter(|(q, _)| *q > 0.0)
                .collect();
            ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
            if let Some(lang) = ranked.iter().find_map(|(_, tag)| pick(tag)) {
                return Translator { lang };
            }
        }
        Translator::default()
    }

    /// The languages that have translations, as BCP 47 tags (for `ui_locales_supported`).
    pub fn languages() -> Vec<String> {
        let mut l: Vec<String> = LOCALES.locales().map(ToString::to_string).collect();
        l.sort();
        l
    }

    /// The BCP 47 tag of the chosen language, for `<html lang>`.
    pub fn lang(&self) -> String {
        self.lang.to_string()
    }

    /// The message `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(&self.lang, key)
    }

    /// The message `key` with named arguments.
    pub fn t_with(&self, key: &str, args: &[(&'static str, String)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
            .collect();
        LOCALES.lookup_with_args(&self.lang, key, &map)
    }

    /// The message `key` with named arguments and one numeric argument, for plurals.
    pub fn t_with_count(
        &self,
        key: &str,
        args: &[(&'static str, String)],
        name: &'static str,
        n: i64,
    ) -> String {
        let mut map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.clone())))
            .collect();
        map.insert(Cow::Borrowed(name), FluentValue::from(n));
        LOCALES.lookup_with_args(&self.lang, key, &map)
    }

    /// The message `key` with one numeric argument, for plurals.
    pub fn t_count(&self, key: &str, name: &'static str, n: i64) -> String {
        let mut map: HashMap<Cow<'static, str>, FluentValue> = HashMap::new();
        map.insert(Cow::Borrowed(name), FluentValue::from(n));
        LOCALES.lookup_with_args(&self.lang, key, &map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_the_fallback() {
        let t = Translator::negotiate(Some("xx yy"), Some("zz;q=0.9"));
        assert_eq!(t.lang(), "en");
        assert_eq!(t.t("phone-submit"), "Continue");
    }

    #[test]
    fn the_language_comes_from_ui_locales_then_accept_language() {
        assert_eq!(Translator::negotiate(Some("nl"), Some("fr")).lang(), "nl");
        assert_eq!(Translator::negotiate(Some("xx de"), None).lang(), "de");
        assert_eq!(
            Translator::negotiate(None, Some("fr-BE,fr;q=0.9,en;q=0.5")).lang(),
            "fr"
        );
        assert_eq!(
            Translator::negotiate(None, Some("es, nl;q=0.2")).lang(),
            "nl"
        );
        assert_eq!(Translator::negotiate(None, None).lang(), "en");
        let nl = Translator::negotiate(Some("nl"), None);
        assert_eq!(nl.t("phone-submit"), "Doorgaan");
        assert!(
            nl.t_count("app-wrong-code", "left", 2)
                .contains("2 pogingen")
        );
        assert_eq!(Translator::languages(), vec!["de", "en", "fr", "nl"]);
    }

    #[test]
    fn arguments_are_substituted_without_isolation_marks() {
        let t = Translator::default();
        let s = t.t_with("phone-intro", &[("client", "Demo Shop".into())]);
        assert!(s.contains("Demo Shop"));
        assert!(!s.contains('\u{2068}'));
        assert!(
            t.t_count("app-wrong-code", "left", 1)
                .contains("one attempt")
        );
        assert!(
            t.t_count("app-wrong-code", "left", 2)
                .contains("2 attempts")
        );
    }
}

#[cfg(test)]
mod coverage {
    fn english_keys() -> std::collections::HashSet<String> {
        keys_of("en")
    }

    /// The message ids of one language's files.
    fn keys_of(lang: &str) -> std::collections::HashSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("locales")
            .join(lang);
        let mut keys = std::collections::HashSet::new();
        for entry in std::fs::read_dir(dir).expect("locales dir").flatten() {
            let text = std::fs::read_to_string(entry.path()).expect("ftl");
            for line in text.lines() {
                if let Some((id, _)) = line.split_once(" =")
                    && !id.is_empty()
                    && id.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
                    })
                {
                    keys.insert(id.to_string());
                }
            }
        }
        keys
    }

    /// Every language has every English message, and nothing English does not have.
    #[test]
    fn every_language_is_complete() {
        let english = english_keys();
        for lang in ["nl", "fr", "de"] {
            let other = keys_of(lang);
            let missing: Vec<_> = english.difference(&other).collect();
            let extra: Vec<_> = other.difference(&english).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{lang}: missing {missing:?}, extra {extra:?}"
            );
        }
    }

    /// Every message key written literally in the code and templates exists in English.
    #[test]
    fn every_key_used_is_translated() {
        let english = english_keys();
        let has = |k: &str| english.contains(k);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut missing = Vec::new();
        let mut seen = 0;
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if !path.ends_with("target") {
                        stack.push(path);
                    }
                    continue;
                }
                let is_source = path.extension().is_some_and(|e| e == "rs" || e == "html");
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !is_source {
                    continue;
                }
                for call in ["t(\"", "t_with(\"", "t_count(\"", "t_with_count(\""] {
                    for (i, _) in text.match_indices(call) {
                        let rest = &text[i + call.len()..];
                        let key: String = rest.chars().take_while(|c| *c != '"').collect();
                        let preceded = text[..i]
                            .chars()
                            .last()
                            .is_some_and(|c| c == '.' || c == '_');
                        if !preceded || key.contains(['{', ' ']) || key.is_empty() {
                            continue;
                        }
                        seen += 1;
                        if !has(&key) {
                            missing.push(format!("{}: {key}", path.display()));
                        }
                    }
                }
                for (i, _) in text.match_indices("=> \"error-") {
                    let key: String = text[i + 4..].chars().take_while(|c| *c != '"').collect();
                    seen += 1;
                    if !has(&key) {
                        missing.push(format!("{}: {key}", path.display()));
                    }
                }
            }
        }
        assert!(seen > 40, "the scan found only {seen} keys");
        assert!(
            missing.is_empty(),
            "untranslated keys:\n{}",
            missing.join("\n")
        );
    }
}
