//! Printed tickets checked by reading their ESC/POS bytes back (the crate's preview, the test
//! oracle): transcripts and bytes against golden files, the QR code
//! decoded from the picture with `rqrr`, long texts kept within the paper.

use ticket::preview::{PreviewError, preview};
use ticket::{Paper, PrintOptions, QrMode, RenderError, TicketLayout, render};

/// The QR codes `rqrr` finds in a preview.
fn decode_qr(p: &ticket::preview::Preview) -> Vec<String> {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(p.width, p.height(), |x, y| {
        p.pixels[y * p.width + x]
    });
    img.detect_grids()
        .into_iter()
        .map(|g| g.decode().expect("a readable QR code").1)
        .collect()
}

fn golden(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn update() -> bool {
    std::env::var("SPORTELLO_UPDATE_GOLDEN").as_deref() == Ok("1")
}

fn sample() -> TicketLayout {
    TicketLayout {
        sede: "INPS – Sede di Roma Eur".into(),
        number: "A042".into(),
        service: "Aziende, consulenti e intermediari".into(),
        issued: "26/11/2026 09:41".into(),
        ahead: Some(3),
        wait: Some("10–25 minuti".into()),
        follow_url: "https://sportello.example/coda/7001/2026-11-26/A042".into(),
    }
}

const CASES: [(Paper, QrMode, &str); 4] = [
    (Paper::Mm80, QrMode::Native, "ticket-80mm"),
    (Paper::Mm58, QrMode::Native, "ticket-58mm"),
    (Paper::Mm80, QrMode::Raster, "ticket-80mm-raster"),
    (Paper::Mm58, QrMode::Raster, "ticket-58mm-raster"),
];

/// The transcript, the QR payload read back from the picture, and the exact bytes (which the
/// aarch64 build must reproduce under qemu: same golden files).
#[test]
fn the_ticket_reads_back_to_its_golden_transcript_and_bytes_with_a_readable_qr() {
    for (paper, qr, name) in CASES {
        let options = PrintOptions {
            paper,
            code_page: 16,
            qr,
        };
        let bytes = render(&sample(), &options).unwrap();
        let p = preview(&bytes, paper, 16).unwrap();
        assert!(p.overflow.is_empty(), "{name}: {:?}", p.overflow);
        assert_eq!(
            decode_qr(&p),
            [sample().follow_url],
            "{name}: the QR code on paper"
        );
        let (txt, bin) = (
            golden(&format!("{name}.txt")),
            golden(&format!("{name}.bin")),
        );
        if update() {
            std::fs::write(&txt, &p.transcript).unwrap();
            std::fs::write(&bin, &bytes).unwrap();
            // Kept beside the UI screenshots, to look at.
            let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../docs/screenshots/{name}.png"));
            std::fs::write(png, p.png()).unwrap();
        }
        let want =
            std::fs::read_to_string(&txt).unwrap_or_else(|e| panic!("{}: {e}", txt.display()));
        assert_eq!(p.transcript, want, "{name}");
        let want = std::fs::read(&bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
        assert!(
            bytes == want,
            "{name}: the bytes differ from {}",
            bin.display()
        );
    }
}

#[test]
fn an_unprintable_character_is_an_error_not_garbage() {
    let mut t = sample();
    t.service = "Servizio 😀".into();
    match render(&t, &PrintOptions::default()).unwrap_err() {
        RenderError::Unmappable(e) => assert_eq!(e.character, '😀'),
        other => panic!("{other}"),
    }
}

#[test]
fn long_texts_wrap_between_words_within_58_mm() {
    let mut t = sample();
    t.service = "Prestazioni a sostegno del reddito, ammortizzatori sociali e CIG".into();
    t.sede = "INPS – Direzione provinciale di Reggio nell'Emilia, agenzia complessa".into();
    let p = preview(
        &render(
            &t,
            &PrintOptions {
                paper: Paper::Mm58,
                ..PrintOptions::default()
            },
        )
        .unwrap(),
        Paper::Mm58,
        16,
    )
    .unwrap();
    assert!(p.overflow.is_empty(), "{:?}", p.overflow);
    assert!(
        p.transcript
            .contains("[C-1x2] Prestazioni a sostegno del\n[C-1x2] reddito, ammortizzatori"),
        "{}",
        p.transcript
    );
    assert_eq!(
        ticket::wrap("Aaaaaaaaaaaa bb", 5),
        ["Aaaaa", "aaaaa", "aa bb"],
        "a word longer than a line is cut"
    );
    assert_eq!(ticket::wrap("", 5), [""]);
}

#[test]
fn a_follow_link_too_long_for_a_qr_code_is_refused_before_printing() {
    let mut t = sample();
    t.follow_url = format!("https://x.example/{}", "a".repeat(ticket::MAX_QR_BYTES));
    for qr in [QrMode::Native, QrMode::Raster] {
        let options = PrintOptions {
            qr,
            ..PrintOptions::default()
        };
        assert!(matches!(
            render(&t, &options),
            Err(RenderError::QrTooLong(_))
        ));
    }
}

#[test]
fn the_reader_refuses_bytes_the_kiosk_never_sends() {
    let ok = render(&sample(), &PrintOptions::default()).unwrap();
    assert_eq!(
        preview(&ok[..ok.len() - 2], Paper::Mm80, 16).unwrap_err(),
        PreviewError::Truncated(ok.len() - 4)
    );
    assert!(matches!(
        preview(b"\x1b@\x1bt\x10\x1bZ\x00", Paper::Mm80, 16),
        Err(PreviewError::Unknown { .. })
    ));
    assert!(matches!(
        preview(b"\x1b@ciao\n", Paper::Mm80, 16),
        Err(PreviewError::CodePage { .. })
    ));
    assert!(matches!(
        preview(b"\x1b@\x1bt\x02ciao\n", Paper::Mm80, 16),
        Err(PreviewError::CodePage { page: 2, .. })
    ));
    assert_eq!(
        preview(b"\x1b@\x1bt\x10ciao", Paper::Mm80, 16).unwrap_err(),
        PreviewError::Unterminated
    );
}

#[test]
fn a_ticket_from_a_lease_says_the_wait_is_not_known_instead_of_figures() {
    let offline = TicketLayout {
        ahead: None,
        wait: None,
        ..sample()
    };
    let bytes = render(&offline, &PrintOptions::default()).unwrap();
    let p = preview(&bytes, Paper::Mm80, 16).unwrap();
    if let Ok(dir) = std::env::var("SPORTELLO_TICKET_PNG") {
        std::fs::write(format!("{dir}/ticket-offline.png"), p.png()).unwrap();
    }
    let text = p.transcript.replace('\n', " ");
    assert!(text.contains("attesa non nota"), "{text}");
    assert!(text.contains("Sarà chiamato secondo"), "{text}");
    assert!(!text.contains("Persone prima di lei"), "{text}");
    assert!(text.contains("A042"), "{text}");
}
