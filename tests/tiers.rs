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
