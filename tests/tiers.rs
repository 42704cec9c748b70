//! The tiers of ARCHITECTURE.md as Cargo sees them: which of our crates each crate may depend
//! on, and what each build that ships may link.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Each crate of ours and the crates of ours it may depend on (normal dependencies, optional
/// ones included). A crate may only use crates below it; this is the arrow's direction.
const ALLOWED: &[(&str, &[&str])] = &[
    ("i18n", &[]),
    ("config", &[]),
    ("web", &[]),
    ("hardware", &[]),
    ("ticket", &[]),
    ("domain", &["i18n"]),
    ("queue", &["domain", "i18n"]),
    ("protocol", &["domain", "queue", "i18n"]),
    ("store", &["protocol", "queue", "domain"]),
    (
        "branch",
        &[
            "store", "protocol", "queue", "domain", "i18n", "config", "web",
        ],
    ),
    (
        "kiosk",
        &[
            "branch", "store", "protocol", "queue", "domain", "i18n", "config", "hardware",
            "ticket",
        ],
    ),
    (
        "hub",
        &["protocol", "queue", "domain", "i18n", "config", "web"],
    ),
    // The demo generators stand above the hub: they seed it (feature `hub`), it never calls them.
    ("demo", &["protocol", "queue", "domain", "hub"]),
    (
        "sportello",
        &[
            "kiosk", "branch", "store", "hub", "demo", "protocol", "queue", "domain", "config",
            "web", "hardware", "ticket",
        ],
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cargo(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Our crates and the crates of ours each one depends on (normal dependencies).
fn workspace_edges() -> BTreeMap<String, BTreeSet<String>> {
    let meta: serde_json::Value = serde_json::from_str(&cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))
    .unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let ours: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .filter(|n| ours.contains(n))
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// Whether the arrows hold; each violation as a sentence.
fn violations(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut out = Vec::new();
    for (krate, deps) in edges {
        let Some(may) = allowed.get(krate.as_str()) else {
            out.push(format!(
                "{krate} has no place in the tiers (tests/tiers.rs)"
            ));
            continue;
        };
        for d in deps {
            if !may.contains(&d.as_str()) {
                out.push(format!("{krate} depends on {d}, which is not below it"));
            }
        }
    }
    out
}

#[test]
fn no_crate_depends_on_one_above_it() {
    let edges = workspace_edges();
    assert!(edges.len() >= 14, "the workspace was read: {edges:?}");
    let found = violations(&edges);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_planted_upward_dependency_is_found() {
    let mut edges = workspace_edges();
    edges.get_mut("hub").unwrap().insert("store".into());
    edges.get_mut("domain").unwrap().insert("queue".into());
    assert_eq!(
        violations(&edges),
        [
            "domain depends on queue, which is not below it",
            "hub depends on store, which is not below it",
        ]
    );
}

/// The packages a build of the `sportello` binary links, one per line.
fn build(features: &str) -> BTreeSet<String> {
    cargo(&[
        "tree",
        "--offline",
        "-e",
        "normal",
        "-p",
        "sportello",
        "--prefix",
        "none",
        "--format",
        "{p}",
        "--no-default-features",
        "--features",
        features,
    ])
    .lines()
    .filter_map(|l| l.split_whitespace().next())
    .map(str::to_owned)
    .collect()
}

#[test]
fn the_kiosk_build_has_no_postgresql_client() {
    let kiosk = build("kiosk");
    for needed in ["kiosk", "branch", "store", "rusqlite", "slint"] {
        assert!(kiosk.contains(needed), "the kiosk build lacks {needed}");
    }
    for banned in [
        "hub",
        "tokio-postgres",
        "postgres-protocol",
        "deadpool-postgres",
        "sqlx",
    ] {
        assert!(!kiosk.contains(banned), "the kiosk build links {banned}");
    }
}

#[test]
fn the_hub_build_has_no_sqlite_slint_kiosk_or_lan_server() {
    let hub = build("hub");
    for needed in ["hub", "tokio-postgres", "demo"] {
        assert!(hub.contains(needed), "the hub build lacks {needed}");
    }
    for banned in [
        "rusqlite",
        "libsqlite3-sys",
        "slint",
        "kiosk",
        "branch",
        "store",
        "hardware",
    ] {
        assert!(!hub.contains(banned), "the hub build links {banned}");
    }
}

/// The modules of the crate whose sources are under `src` (`""` is the crate root), with
/// their files.
fn modules(src: &Path) -> BTreeMap<String, std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("lib" | "main" | "mod")
            ) {
                parts.pop();
            }
            (parts.join("::"), file)
        })
        .collect()
}

/// A module's code as the compiler sees it outside tests: comments and every `#[cfg(test)]`
/// item (up to its closing brace) left out.
fn code_of(text: &str) -> String {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = String::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{') else {
            return out;
        };
        let mut depth = 0;
        let end = after[open..]
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(after.len(), |(i, _)| open + i + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The paths named after `crate::` or `super::` in `code` (brace groups expanded), each as
/// its segments, with the prefix that starts it.
fn paths(code: &str) -> Vec<(bool, Vec<String>)> {
    fn group(s: &str) -> (Vec<Vec<String>>, usize) {
        // `s` starts just after `{`; returns the paths inside and the bytes consumed.
        let mut out = Vec::new();
        let mut current = Vec::new();
        let mut word = String::new();
        let mut i = 0;
        let bytes = s.as_bytes();
        while i < bytes.len() {
            let c = bytes[i] as char;
            match c {
                '{' => {
                    let (inner, used) = group(&s[i + 1..]);
                    for p in inner {
                        let mut full = current.clone();
                        full.extend(p);
                        out.push(full);
                    }
                    current.clear();
                    i += used + 1;
                }
                '}' | ',' => {
                    if !word.is_empty() {
                        current.push(std::mem::take(&mut word));
                    }
                    if !current.is_empty() {
                        out.push(std::mem::take(&mut current));
                    }
                    if c == '}' {
                        return (out, i + 1);
                    }
                }
                ':' => {
                    if !word.is_empty() {
                        current.push(std::mem::take(&mut word));
                    }
                }
                c if c.is_alphanumeric() || c == '_' => word.push(c),
                _ => {
                    if !word.is_empty() && word != "as" {
                        current.push(std::mem::take(&mut word));
                    } else {
                        word.clear();
                    }
                }
            }
            i += 1;
        }
        (out, i)
    }
    let mut out = Vec::new();
    for (start, _) in code.match_indices("::") {
        let before = &code[..start];
        let from_crate = before.ends_with("crate") && !before.ends_with("$crate");
        if !(from_crate || before.ends_with("super")) {
            continue;
        }
        // Both `crate` and `super` are five letters long.
        let preceded = before[..before.len() - 5]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if preceded {
            // `super::super::x` is walked from its first `super`; `a::crate` is no path.
            continue;
        }
        let rest = &code[start + 2..];
        let mut segs = Vec::new();
        let mut s = rest;
        loop {
            if let Some(inner) = s.strip_prefix('{') {
                for p in group(inner).0 {
                    let mut full = segs.clone();
                    full.extend(p);
                    out.push((from_crate, full));
                }
                break;
            }
            let word: String = s
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if word.is_empty() {
                out.push((from_crate, segs));
                break;
            }
            s = &s[word.len()..];
            segs.push(word);
            match s.strip_prefix("::") {
                Some(next) => s = next,
                None => {
                    out.push((from_crate, segs));
                    break;
                }
            }
        }
    }
    out
}

/// The module graph of one crate: which modules each module names (through `crate::`,
/// `super::`, the crate root's re-exports, or a child named from its parent).
fn module_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let root = code_of(&std::fs::read_to_string(&mods[""]).unwrap());
    // `pub use error::HubError;` at the root: `crate::HubError` is the `error` module's.
    let mut reexported = BTreeMap::new();
    for line in root
        .lines()
        .filter(|l| l.trim_start().starts_with("pub use "))
    {
        let line = line
            .trim()
            .trim_start_matches("pub use ")
            .trim_end_matches(';');
        let Some((module, names)) = line.split_once("::") else {
            continue;
        };
        for name in names.trim_matches(['{', '}']).split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or_default();
            reexported.insert(name.to_owned(), module.to_owned());
        }
    }
    let resolve = |segs: &[String]| -> Option<String> {
        (1..=segs.len())
            .rev()
            .map(|k| segs[..k].join("::"))
            .find(|m| mods.contains_key(m))
            .or_else(|| segs.first().and_then(|s| reexported.get(s).cloned()))
    };
    mods.iter()
        .map(|(module, file)| {
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            let here: Vec<String> = module
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            let mut named = BTreeSet::new();
            for (from_crate, segs) in paths(&code) {
                let mut full: Vec<String> = if from_crate {
                    Vec::new()
                } else {
                    here[..here.len().saturating_sub(1)].to_vec()
                };
                let mut segs = segs.into_iter().peekable();
                while segs.next_if(|s| s == "super").is_some() {
                    full.pop();
                }
                full.extend(segs.filter(|s| s != "self"));
                if let Some(target) = resolve(&full)
                    && target != *module
                {
                    named.insert(target);
                }
            }
            // A parent naming a child (`sedi::router()`, `use sedi::X`).
            let prefix = if module.is_empty() {
                String::new()
            } else {
                format!("{module}::")
            };
            for child in mods.keys() {
                let Some(name) = child.strip_prefix(&prefix) else {
                    continue;
                };
                if name.is_empty() || name.contains("::") {
                    continue;
                }
                let named_here = code.match_indices(&format!("{name}::")).any(|(i, _)| {
                    !code[..i]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if named_here {
                    named.insert(child.clone());
                }
            }
            (module.clone(), named)
        })
        .collect()
}

/// A cycle in `edges`, if there is one, as the modules along it.
fn a_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, edges, done, path) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut done, &mut Vec::new()))
}

/// Every crate of ours, by its sources.
fn crate_sources() -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .collect();
    out.push(root().join("hardware/src"));
    out.push(root().join("src"));
    out.sort();
    out
}

#[test]
fn no_module_imports_one_that_imports_it() {
    let mut found = Vec::new();
    for src in crate_sources() {
        let edges = module_edges(&src);
        if let Some(cycle) = a_cycle(&edges) {
            found.push(format!("{}: {}", src.display(), cycle.join(" → ")));
        }
    }
    assert!(found.is_empty(), "module cycles: {found:#?}");
}

#[test]
fn the_module_graph_is_read_and_a_planted_cycle_is_found() {
    let mut edges = module_edges(&root().join("crates/hub/src"));
    for (from, to) in [
        ("handoff", "extract"),
        ("extract", "devices"),
        ("server", "agenda"),
        ("agenda", "jobs"),
        ("console", "console::sedi"),
        ("console::sedi", "console::session"),
    ] {
        assert!(
            edges[from].contains(to),
            "{from} → {to} was not read: {:?}",
            edges[from]
        );
    }
    assert!(
        !edges.values().any(|e| e.contains("")),
        "nothing names the root itself: re-exports are followed to their module"
    );
    assert_eq!(a_cycle(&edges), None);
    // The job table calling back into a feature, as it once did.
    edges.get_mut("jobs").unwrap().insert("agenda".into());
    assert_eq!(
        a_cycle(&edges),
        Some(vec!["agenda".into(), "jobs".into(), "agenda".into()])
    );
}
