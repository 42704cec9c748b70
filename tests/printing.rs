//! What reaches paper from the kiosk's own texts and data.

use ticket::cp1252;

/// Every text the kiosk shows or prints — the UI catalogues in every language, the
/// services and sedi — encodes to Windows-1252, so any of them can reach paper.
#[test]
fn every_kiosk_text_and_service_name_encodes_to_the_printer_code_page() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for lang in ["en", "de"] {
        let po =
            std::fs::read_to_string(root.join(format!("lang/{lang}/LC_MESSAGES/sportello.po")))
                .unwrap();
        for (id, text) in sportello::i18n::parse_po(&po) {
            for s in [id, text] {
                cp1252(&s).unwrap_or_else(|e| panic!("{lang}: {e}"));
                checked += 1;
            }
        }
    }
    let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let demo = sportello::demo::DemoBranch::generate(1, now);
    for s in &demo.services {
        cp1252(&s.name).unwrap();
        checked += 1;
    }
    for sede in sportello::domain::sedi::all() {
        cp1252(&sede.name).unwrap_or_else(|e| panic!("sede {}: {e}", sede.code));
        checked += 1;
    }
    assert!(checked > 300, "{checked} texts");
}
