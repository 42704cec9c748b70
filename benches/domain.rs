//! Identifier parsing and booking-token verification throughput (one core).
//!
//! `cargo bench --bench domain`; numbers in docs/benchmarks.md.

use std::sync::LazyLock;

use chrono::NaiveDate;
use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use domain::token::{BookingClaims, TokenSigner, TokenVerifier};
use domain::{BookingId, PartitaIva, PersonKey, PersonalCf, SedeCode, ServiceLetter};

fn main() {
    divan::main();
}

/// 1,000 distinct valid codes, one in ten an omocode, so branch prediction cannot learn one.
static CODES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut rng = fastrand::Rng::with_seed(1);
    (0..1000)
        .map(|i| {
            let letters: String = (0..6).map(|_| rng.uppercase()).collect();
            let first15 = format!(
                "{letters}{:02}{}{:02}{}{:03}",
                rng.u8(..100),
                "ABCDEHLMPRST".as_bytes()[rng.usize(..12)] as char,
                rng.u8(1..=28) + if rng.bool() { 40 } else { 0 },
                rng.uppercase(),
                rng.u16(..1000)
            );
            let cf = PersonalCf::from_first15(&first15).unwrap();
            let cf = if i % 10 == 0 {
                cf.next_omocode().unwrap()
            } else {
                cf
            };
            cf.as_str().to_owned()
        })
        .collect()
});

static PIVAS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut rng = fastrand::Rng::with_seed(2);
    (0..1000)
        .map(|_| {
            PartitaIva::from_parts(rng.u32(1..8_000_000), rng.u16(1..=100))
                .unwrap()
                .to_string()
        })
        .collect()
});

#[divan::bench]
fn parse_codice_fiscale(bencher: Bencher) {
    bencher.counter(ItemsCount::new(CODES.len())).bench(|| {
        for code in CODES.iter() {
            black_box(PersonalCf::parse(black_box(code)).unwrap());
        }
    });
}

#[divan::bench]
fn parse_partita_iva(bencher: Bencher) {
    bencher.counter(ItemsCount::new(PIVAS.len())).bench(|| {
        for code in PIVAS.iter() {
            black_box(PartitaIva::parse(black_box(code)).unwrap());
        }
    });
}

#[divan::bench]
fn verify_booking_token(bencher: Bencher) {
    let signer = TokenSigner::from_seed(1, &[7; 32]);
    let mut verifier = TokenVerifier::new();
    verifier.add_key(1, &signer.verifying_key()).unwrap();
    let token = signer
        .sign(&BookingClaims {
            booking: BookingId::new(2026, 123).unwrap(),
            sede: SedeCode::parse("7001").unwrap(),
            starts_at: NaiveDate::from_ymd_opt(2026, 11, 26)
                .unwrap()
                .and_hms_opt(10, 40, 0)
                .unwrap(),
            service: ServiceLetter::parse("A").unwrap(),
            person: PersonKey([9; 8]),
        })
        .unwrap();
    bencher
        .counter(ItemsCount::new(1usize))
        .bench(|| black_box(verifier.verify(black_box(&token)).unwrap()));
}

/// The worst a scanner can send: 4 KB of base45 behind the prefix (decoded in full, then
/// refused by length), and 4 KB of noise. Time and memory stay bounded by the input.
#[divan::bench(args = ["base45", "noise"])]
fn verify_4_kb_garbage(bencher: Bencher, kind: &str) {
    let verifier = TokenVerifier::new();
    let text = match kind {
        "base45" => format!("SP1:{}", "A0".repeat(2046)),
        _ => (0..4096u32)
            .map(|i| char::from(b' ' + (i * 7919 % 90) as u8))
            .collect(),
    };
    bencher.bench(|| black_box(verifier.verify(black_box(&text)).unwrap_err()));
}

/// Ticket rendering alone (layout, strict Windows-1252 encoding, ESC/POS bytes): goal < 1 ms.
#[divan::bench(args = ["native", "raster"])]
fn render_ticket(bencher: Bencher, qr: &str) {
    use ticket::{PrintOptions, QrMode, TicketLayout, render};
    let layout = TicketLayout {
        sede: "INPS – Sede di Roma Eur".into(),
        number: "A042".into(),
        service: "Aziende, consulenti e intermediari".into(),
        issued: "26/11/2026 09:41".into(),
        ahead: Some(3),
        wait: Some("10–25 minuti".into()),
        follow_url: "https://sportello.example/coda/7001/2026-11-26/A042".into(),
    };
    let options = PrintOptions {
        qr: if qr == "raster" {
            QrMode::Raster
        } else {
            QrMode::Native
        },
        ..PrintOptions::default()
    };
    bencher.bench(|| black_box(render(black_box(&layout), &options).unwrap()));
}
