//! Documents that must stay true: the configuration reference and the architecture code map.

use std::collections::BTreeSet;
use std::path::Path;

use sportello::config::Config;

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
fn the_architecture_code_map_names_every_module_and_folder() {
    let arch = read("ARCHITECTURE.md");
    for module in names_in(&root().join("src"), true) {
        let name = module.trim_end_matches(".rs");
        if name == "lib" || name == "main" {
            continue;
        }
        assert!(
            arch.contains(&format!("`src/{name}")),
            "src/{name} is missing from ARCHITECTURE.md"
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
    for entry in std::fs::read_dir(root().join("src/domain")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for word in forbidden {
                assert!(!text.contains(word), "{} uses {word}", path.display());
            }
        }
    }
}

#[test]
fn the_kiosk_build_has_no_postgres_client_and_the_hub_build_no_slint() {
    let tree = |features: &[&str]| {
        let out = std::process::Command::new(env!("CARGO"))
            .current_dir(root())
            .args([
                "tree",
                "--offline",
                "-e",
                "normal",
                "-p",
                "sportello",
                "--prefix",
                "none",
                "--no-default-features",
            ])
            .args(features.iter().flat_map(|f| ["--features", f]))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let kiosk = tree(&["kiosk"]);
    let hub = tree(&["hub"]);
    assert!(kiosk.contains("rusqlite"), "the tree was read");
    for pg in ["tokio-postgres ", "postgres-protocol ", "sqlx "] {
        assert!(!kiosk.contains(pg), "the kiosk build pulls in {pg}");
    }
    assert!(kiosk.contains("slint "), "the kiosk build has its UI");
    assert!(!hub.contains("slint "), "the hub build pulls in Slint");
}
