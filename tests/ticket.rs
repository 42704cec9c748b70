//! Printed tickets checked by decoding their ESC/POS bytes back (our own interpreter, the test
//! oracle of `hardware.md` §2.1) into a transcript compared with a golden file; and every text
//! the kiosk can print encodes to the printer's code page.

use sportello::ticket::{Paper, PrintOptions, TicketLayout, cp1252, render};

/// Bytes → transcript: one line a printed line with its size and style, the QR payload and its
/// settings, the cut. Unknown commands fail the test.
fn transcript(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    let (mut size, mut bold, mut center, mut page) = ((1u8, 1u8), false, false, 0u8);
    let mut qr_model = 0;
    let mut qr_module = 0;
    let mut qr_data: Vec<u8> = Vec::new();
    let mut text: Vec<u8> = Vec::new();
    let mut i = 0;
    let decode = |t: &[u8], page: u8| -> String {
        assert_eq!(page, 16, "text before the code page was selected");
        encoding_rs::WINDOWS_1252.decode(t).0.into_owned()
    };
    while i < bytes.len() {
        match bytes[i] {
            0x0A => {
                let line = decode(&text, page);
                let style = format!(
                    "{}{}{}",
                    if center { "C" } else { "L" },
                    if bold { "B" } else { "-" },
                    format_args!("{}x{}", size.0, size.1)
                );
                out.push(format!("[{style}] {line}"));
                text.clear();
                i += 1;
            }
            0x1B => {
                match bytes[i + 1] {
                    b'@' => {
                        (size, bold, center) = ((1, 1), false, false);
                        i += 2;
                        continue;
                    }
                    b't' => page = bytes[i + 2],
                    b'a' => center = bytes[i + 2] == 1,
                    b'E' => bold = bytes[i + 2] == 1,
                    b'd' => out.push(format!("<feed {}>", bytes[i + 2])),
                    other => panic!("unknown ESC {other:#x}"),
                }
                i += 3;
            }
            0x1D => match bytes[i + 1] {
                b'!' => {
                    let n = bytes[i + 2];
                    size = ((n >> 4) + 1, (n & 0x0F) + 1);
                    i += 3;
                }
                b'V' => {
                    let kind = match bytes[i + 2] {
                        66 | 1 | 49 => "partial",
                        65 | 0 | 48 => "full",
                        other => panic!("unknown cut {other}"),
                    };
                    out.push(format!("<{kind} cut>"));
                    i += 4;
                }
                b'(' => {
                    assert_eq!(bytes[i + 2], b'k');
                    let len = bytes[i + 3] as usize + 256 * bytes[i + 4] as usize;
                    let body = &bytes[i + 5..i + 5 + len];
                    assert_eq!(body[0], 49, "QR code function group");
                    match body[1] {
                        65 => qr_model = body[2] - 48,
                        67 => qr_module = body[2],
                        69 => assert_eq!(body[2], 49, "error correction M"),
                        80 => qr_data = body[3..].to_vec(),
                        81 => out.push(format!(
                            "<QR model {qr_model} module {qr_module}: {}>",
                            String::from_utf8_lossy(&qr_data)
                        )),
                        other => panic!("unknown GS ( k function {other}"),
                    }
                    i += 5 + len;
                }
                other => panic!("unknown GS {other:#x}"),
            },
            b => {
                text.push(b);
                i += 1;
            }
        }
    }
    assert!(text.is_empty(), "text left without a line feed");
    out.join("\n") + "\n"
}

fn sample() -> TicketLayout {
    TicketLayout {
        sede: "INPS – Sede di Roma Eur".into(),
        number: "A042".into(),
        service: "Aziende, consulenti e intermediari".into(),
        issued: "26/11/2026 09:41".into(),
        ahead: 3,
        wait: "10–25 minuti".into(),
        follow_url: "https://sportello.example/coda/7001/2026-11-26/A042".into(),
    }
}

#[test]
fn the_ticket_decodes_to_its_golden_transcript_on_both_papers() {
    for (paper, name) in [
        (Paper::Mm80, "ticket-80mm.txt"),
        (Paper::Mm58, "ticket-58mm.txt"),
    ] {
        let bytes = render(
            &sample(),
            &PrintOptions {
                paper,
                code_page: 16,
            },
        )
        .unwrap();
        let got = transcript(&bytes);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var("SPORTELLO_UPDATE_GOLDEN").as_deref() == Ok("1") {
            std::fs::write(&path, &got).unwrap();
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn an_unprintable_character_is_an_error_not_garbage() {
    let mut t = sample();
    t.service = "Servizio 😀".into();
    let err = render(&t, &PrintOptions::default()).unwrap_err();
    assert_eq!(err.character, '😀');
}

/// Every text the kiosk shows or prints — the UI catalogues in all three languages, the
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
