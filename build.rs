//! Compiles the Slint UI (kiosk builds only) with the bundled translations of `lang/`.

fn main() {
    println!("cargo:rerun-if-changed=ui");
    println!("cargo:rerun-if-changed=lang");
    if std::env::var_os("CARGO_FEATURE_KIOSK").is_none() {
        return;
    }
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent".into())
        .with_bundled_translations("lang")
        // One entry per text in the catalogues, wherever the text is used.
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    slint_build::compile_with_config("ui/app.slint", config).expect("the Slint UI compiles");
}
