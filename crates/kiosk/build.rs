//! Compiles the Slint UI of `ui/` with the bundled translations of `lang/`, both at the
//! workspace's root.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=../../ui");
    println!("cargo:rerun-if-changed=../../lang");
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_bundled_translations(catalogues())
        // One entry per text in the catalogues, wherever the text is used.
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    slint_build::compile_with_config("../../ui/app.slint", config).expect("the Slint UI compiles");
}

/// The catalogues are `lang/<code>/LC_MESSAGES/sportello.po`, one set for the UI and the
/// Rust-side texts alike; slint-build looks for `<package name>.po`, so it gets copies under
/// this package's name.
fn catalogues() -> PathBuf {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("lang");
    let package = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    for entry in std::fs::read_dir("../../lang").expect("lang/ is readable") {
        let code = entry.expect("lang/ is readable").file_name();
        let source = PathBuf::from("../../lang")
            .join(&code)
            .join("LC_MESSAGES/sportello.po");
        if source.is_file() {
            let dir = out.join(&code).join("LC_MESSAGES");
            std::fs::create_dir_all(&dir).expect("OUT_DIR is writable");
            std::fs::copy(&source, dir.join(format!("{package}.po")))
                .expect("the catalogue copies into OUT_DIR");
        }
    }
    out
}
