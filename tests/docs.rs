//! Documents that must stay true: the configuration reference and the architecture code map.

use std::collections::BTreeSet;
use std::path::Path;

use config::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn toml_block(doc: &str) -> String {
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    doc[start..][..doc[start..].find("```").unwrap()].to_owned()
}

fn keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(t) = value {
        for (k, v) in t {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_table() {
                keys(v, &name, out);
            } else {
                out.insert(name);
            }
        }
    }
}

#[test]
fn the_configuration_reference_matches_the_code() {
    let doc = read("docs/configuration.md");
    let block = toml_block(&doc);
    // As written (optional keys commented out), the example is exactly the defaults.
    assert_eq!(Config::parse(&block).unwrap(), Config::default());
    // With every optional key switched on, it still parses (unknown keys are refused)…
    let all_on: String = block
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let full = Config::parse(&all_on).expect("documented optional keys exist");
    // …and every key the struct serialises is in the example and in the table.
    let mut code_keys = BTreeSet::new();
    keys(&toml::Value::try_from(&full).unwrap(), "", &mut code_keys);
    let mut doc_keys = BTreeSet::new();
    keys(&toml::from_str(&all_on).unwrap(), "", &mut doc_keys);
    assert_eq!(code_keys, doc_keys);
    for key in &code_keys {
        assert!(
            doc.contains(&format!("| `{key}` |")),
            "{key} is missing from the table"
        );
    }
}

fn names_in(dir: &Path, files_too: bool) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| files_too || e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n != "target" && n != "demo-data")
        .collect();
    out.sort();
    out
}

#[test]
fn the_architecture_code_map_names_every_crate_and_folder() {
    let arch = read("ARCHITECTURE.md");
    for krate in names_in(&root().join("crates"), false) {
        assert!(
            arch.contains(&format!("`crates/{krate}`")),
            "crates/{krate} is missing from ARCHITECTURE.md"
        );
    }
    for folder in names_in(root(), false) {
        assert!(
            arch.contains(&format!("`{folder}/")),
            "{folder}/ is missing from ARCHITECTURE.md"
        );
    }
}

#[test]
fn the_domain_does_no_io() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::process",
        "rusqlite",
        "tokio",
        "tracing",
        "std::io::",
    ];
    for entry in std::fs::read_dir(root().join("crates/domain/src")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for word in forbidden {
                assert!(!text.contains(word), "{} uses {word}", path.display());
            }
        }
    }
}
