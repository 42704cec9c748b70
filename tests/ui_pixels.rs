//! Pixel test: screens rendered by the real software renderer compared with reference PNGs in
//! `tests/golden/`, with a tolerance for the header clock (the only text that changes).
//! `SPORTELLO_UPDATE_GOLDEN=1 cargo test --test ui_pixels` rewrites the references; look at
//! them before committing.

use std::path::Path;
use std::sync::Arc;

use branch::node::Branch;
use demo::DemoBranch;
use domain::{Clock, ManualClock};
use kiosk::Kiosk;
use kiosk::screenshot::{Renderer, Shot};
use kiosk::ui::{Dispatch, KioskUi, Screen};
use store::{Store, StoreOptions};

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width, info.height, buf)
}

/// Share of pixels whose colour differs by more than `threshold` in some channel.
fn difference(a: &[u8], b: &[u8], threshold: u8) -> f64 {
    let differing = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .filter(|(p, q)| {
            p.iter()
                .zip(q.iter())
                .any(|(x, y)| x.abs_diff(*y) > threshold)
        })
        .count();
    differing as f64 / (a.len() / 3) as f64
}

/// The demo branch on a fixed day (the header clock still shows the real time).
fn demo_branch(dir: &Path) -> Arc<Branch> {
    let clock = Arc::new(ManualClock::new(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let mut store = Store::open(&dir.join("k.sqlite"), &StoreOptions::default()).unwrap();
    store
        .apply_replica(&DemoBranch::generate(3, clock.local_now().naive_local()).replica())
        .unwrap();
    Branch::open(store, clock).unwrap()
}

#[test]
fn screens_match_their_reference_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let branch = demo_branch(dir.path());
    let renderer = Renderer::install().unwrap();
    let ui = KioskUi::with_dispatch(Kiosk::new(branch).unwrap(), Dispatch::Inline).unwrap();
    let update = std::env::var("SPORTELLO_UPDATE_GOLDEN").as_deref() == Ok("1");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (name, screen, lang, contrast) in [
        ("home-it-1280x800", Screen::Home, "it", false),
        ("walkin-en-1280x800", Screen::Walkin, "en", false),
        (
            "accessibility-de-1280x800-high-contrast",
            Screen::Accessibility,
            "de",
            true,
        ),
    ] {
        let shot = Shot {
            screen,
            lang: lang.into(),
            width: 1280,
            height: 800,
            high_contrast: contrast,
            large_text: false,
            seated: false,
        };
        let png = renderer.render(&ui, &shot).unwrap();
        let path = golden.join(format!("{name}.png"));
        if update {
            std::fs::write(&path, &png).unwrap();
            continue;
        }
        let reference = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; SPORTELLO_UPDATE_GOLDEN=1 makes it",
                path.display()
            )
        });
        let (w, h, expected) = decode(&reference);
        let (w2, h2, actual) = decode(&png);
        assert_eq!((w, h), (w2, h2), "{name}: size");
        let diff = difference(&expected, &actual, 48);
        assert!(
            diff < 0.004,
            "{name}: {:.2} % of the pixels differ from {}",
            diff * 100.0,
            path.display()
        );
    }
}

/// Without paper the ticket stays on screen, large, with its QR code: rendered by the real
/// renderer, the code on the screen reads back (as a visitor's phone would) to the ticket's
/// follow-the-queue link.
#[test]
fn a_ticket_that_was_not_printed_shows_a_qr_code_a_phone_can_read() {
    use kiosk::ui::WalkInAdapter;
    use slint::ComponentHandle;
    let dir = tempfile::tempdir().unwrap();
    let branch = demo_branch(dir.path());
    let renderer = Renderer::install().unwrap();
    // No printer at all: every ticket is "not printed".
    let ui = KioskUi::with_dispatch(Kiosk::new(branch).unwrap(), Dispatch::Inline).unwrap();
    ui.window()
        .global::<WalkInAdapter>()
        .invoke_take_ticket("P".into());
    let shot = Shot {
        screen: Screen::Walkin,
        lang: "it".into(),
        width: 1280,
        height: 800,
        high_contrast: false,
        large_text: false,
        seated: false,
    };
    let png = renderer.render(&ui, &shot).unwrap();
    if std::env::var("SPORTELLO_UPDATE_GOLDEN").as_deref() == Ok("1") {
        let out =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots/ticket-not-printed.png");
        std::fs::write(out, &png).unwrap();
    }
    let (w, h, rgb) = decode(&png);
    let grey: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
        .collect();
    let (w, h) = (w as usize, h as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
    let found: Vec<String> = img
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|d| d.1))
        .collect();
    assert_eq!(
        found,
        [format!("{}/7001/2026-11-26/P001", kiosk::FOLLOW_BASE)]
    );
}
