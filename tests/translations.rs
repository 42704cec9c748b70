//! One set of catalogues: every text the UI marks with `@tr` has an
//! English and a German translation, and the catalogues hold nothing the UI no longer uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn slint_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            slint_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "slint") {
            out.push(p);
        }
    }
}

/// Reads a double-quoted string literal starting after its opening quote.
fn literal(s: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, i + 1),
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    out.push(match n {
                        'n' => '\n',
                        other => other,
                    });
                }
            }
            c => out.push(c),
        }
    }
    panic!("unterminated string");
}

fn ui_texts() -> Vec<String> {
    let mut files = Vec::new();
    slint_files(&root().join("ui"), &mut files);
    let mut texts = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find("@tr(\"") {
            let (text, used) = literal(&rest[at + 5..]);
            texts.push(text);
            rest = &rest[at + 5 + used..];
        }
    }
    texts.sort();
    texts.dedup();
    texts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The templates of `msg!` in the Rust sources.
fn rust_texts() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates"), &mut files);
    let mut texts = Vec::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find("msg!(") {
            rest = &rest[at + 5..];
            let trimmed = rest.trim_start();
            if let Some(body) = trimmed.strip_prefix('"') {
                texts.push(literal(body).0);
            }
        }
    }
    texts.sort();
    texts.dedup();
    texts
}

fn catalogue(lang: &str) -> BTreeMap<String, String> {
    let path = root().join(format!("lang/{lang}/LC_MESSAGES/sportello.po"));
    i18n::parse_po(&std::fs::read_to_string(&path).unwrap())
        .into_iter()
        .collect()
}

#[test]
fn every_ui_and_rust_text_is_translated_into_english_and_german() {
    let mut texts = ui_texts();
    assert!(texts.len() > 40, "the UI texts were read: {}", texts.len());
    let rust = rust_texts();
    assert!(rust.len() > 40, "the Rust texts were read: {}", rust.len());
    texts.extend(rust);
    texts.sort();
    texts.dedup();
    for lang in ["en", "de"] {
        let cat = catalogue(lang);
        for t in &texts {
            let tr = cat
                .get(t)
                .unwrap_or_else(|| panic!("{lang}: no entry for {t:?}"));
            assert!(!tr.is_empty(), "{lang}: empty translation of {t:?}");
            assert_eq!(
                t.matches("{}").count(),
                tr.matches("{}").count(),
                "{lang}: placeholders of {t:?}"
            );
        }
        for id in cat.keys() {
            assert!(texts.contains(id), "{lang}: {id:?} is no longer used");
        }
    }
}
