//! Documents that must stay true: the configuration reference, the architecture code map, the
//! packaged configuration and the alert rules.

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

/// Every file of ours that carries comments, under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        // Not ours: what npm installs for the outside identity provider.
        if name.starts_with('.') || ["target", "demo-data", "node_modules"].contains(&&*name) {
            continue;
        }
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| {
            [
                "rs", "slint", "sql", "html", "toml", "sh", "css", "js", "mjs",
            ]
            .contains(&&*e.to_string_lossy())
        }) {
            out.push(path);
        }
    }
}

#[test]
fn comments_cite_only_documents_in_the_repository() {
    let mut files = Vec::new();
    for dir in [
        "crates",
        "src",
        "tests",
        "benches",
        "hardware",
        "ui",
        "migrations",
        "scripts",
    ] {
        sources(&root().join(dir), &mut files);
    }
    assert!(files.len() > 100, "the sources were read: {}", files.len());
    let mut found = Vec::new();
    // This test names what it looks for.
    for file in files.iter().filter(|f| !f.ends_with("tests/docs.rs")) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // A `name.md` must be a file of the repository; "(brief, …)" cites the design
            // brief, which is not.
            let cited = line
                .split(|c: char| !(c.is_alphanumeric() || "-_./".contains(c)))
                .filter(|w| w.ends_with(".md"))
                .any(|w| {
                    let w = w.trim_start_matches("./");
                    !root().join(w).exists() && !root().join("docs").join(w).exists()
                });
            if cited || line.contains("(brief") {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// The alert rules shipped for Prometheus load, and each fires when it should and not before
/// (`promtool test rules`, from Debian's `prometheus`).
#[test]
fn the_alert_rules_load_and_fire_when_they_should() {
    let dir = root().join("packaging/prometheus");
    for args in [
        &["check", "rules", "sportello-alerts.yml"][..],
        &["test", "rules", "sportello-alerts.test.yml"][..],
    ] {
        let out = std::process::Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("promtool ({e}): install Debian's prometheus (scripts/system-deps --test)")
            });
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What the packages install as configuration parses, with every key known.
#[test]
fn the_packaged_configuration_parses() {
    for file in ["packaging/etc/sportello.toml", "packaging/etc/hub.toml"] {
        let text = read(file);
        toml::from_str::<Config>(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
