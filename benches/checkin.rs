//! `checkin/scan`: a booking QR scanned → token verified → check-in committed (ticket, event
//! log, outbox; SQLite `synchronous=FULL`) → the ticket's ESC/POS bytes ready, the printer
//! excluded (a printer that takes the bytes and notes when they came). 10,000 scans, in rounds of 2,000
//! fresh bookings on a fresh store (a service numbers at most 999 tickets a day), with a bare
//! fsync'd commit on the same disk as the yardstick.
//!
//! `cargo bench --bench checkin` (`BENCH_N` scans, default 10000). Numbers in
//! docs/benchmarks.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use branch::node::Branch;
use chrono::{TimeZone, Utc};
use demo::DemoBranch;
use domain::token::BookingClaims;
use domain::{Appointment, AppointmentState, BookingId, Clock, ManualClock, PersonKey};
use hardware::printer::{Printer, PrinterError, PrinterStatus};
use kiosk::{Answer, Kiosk};
use store::{Store, StoreOptions};

const ROUND: usize = 2000;

/// Takes the bytes and returns, noting when they arrived: what is measured ends where the
/// printer would start.
struct Sink(Arc<Mutex<(usize, Option<Instant>)>>);

impl Printer for Sink {
    fn status(&mut self) -> Result<PrinterStatus, PrinterError> {
        Ok(PrinterStatus::Ready)
    }
    fn print(&mut self, bytes: &[u8]) -> Result<(), PrinterError> {
        let mut s = self.0.lock().unwrap();
        s.0 += bytes.len();
        s.1 = Some(Instant::now());
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    // Thursday 10:00 in Rome: every booking below starts within its check-in window.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let demo = DemoBranch::generate(7, clock.local_now().naive_local());
    let bytes = Arc::new(Mutex::new((0, None)));
    let mut scans = Vec::with_capacity(n);
    let mut whole = Vec::with_capacity(n);
    let mut commits = Vec::with_capacity(n);
    let mut round = 0;
    while scans.len() < n {
        let path = dir.path().join(format!("round-{round}.sqlite"));
        let mut store = Store::open(&path, &StoreOptions::default()).unwrap();
        let mut replica = demo.replica();
        let template = &demo.appointments[1].appointment;
        let services: Vec<_> = demo.services.iter().map(|s| s.letter).collect();
        let mut tokens = Vec::with_capacity(ROUND);
        for i in 0..ROUND.min(n - scans.len()) {
            let a = Appointment {
                id: BookingId::new(2026, (round * ROUND + i + 1) as u32).unwrap(),
                service: services[i % services.len()],
                person_key: Some(PersonKey((i as u64).to_be_bytes())),
                state: AppointmentState::Confirmed,
                ..template.clone()
            };
            tokens.push(
                demo.signer
                    .sign(&BookingClaims {
                        booking: a.id,
                        sede: a.sede,
                        starts_at: a.starts_at,
                        service: a.service,
                        person: a.person_key.unwrap(),
                    })
                    .unwrap(),
            );
            replica.appointments.push(a);
        }
        store.apply_replica(&replica).unwrap();
        let branch = Branch::open(store, clock.clone()).unwrap();
        let mut kiosk = Kiosk::new(branch).unwrap().with_printer(
            Box::new(Sink(bytes.clone())),
            ticket::PrintOptions::default(),
        );
        // The yardstick: a one-row insert committed with fsync on a file beside the store.
        let bare =
            rusqlite::Connection::open(dir.path().join(format!("bare-{round}.sqlite"))).unwrap();
        bare.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(x INTEGER);",
        )
        .unwrap();
        for token in &tokens {
            let start = Instant::now();
            let answer = kiosk.scan(token);
            whole.push(start.elapsed());
            let ready = bytes.lock().unwrap().1.take().expect("bytes sent");
            scans.push(ready - start);
            assert!(
                matches!(
                    answer,
                    Answer::Ticket {
                        printed: true,
                        reprint: false,
                        ..
                    }
                ),
                "{answer:?}"
            );
            let start = Instant::now();
            bare.execute("INSERT INTO t VALUES (1)", []).unwrap();
            commits.push(start.elapsed());
        }
        round += 1;
    }
    scans.sort();
    whole.sort();
    commits.sort();
    let printed = bytes.lock().unwrap().0;
    println!(
        "checkin/scan: {} scans, {} bytes of tickets ({} a ticket)",
        scans.len(),
        printed,
        printed / scans.len()
    );
    println!(
        "  scan → bytes ready: p50 {}  p99 {}  max {}",
        ms(percentile(&scans, 0.5)),
        ms(percentile(&scans, 0.99)),
        ms(*scans.last().unwrap())
    );
    println!(
        "  whole scan, with the printed-ticket record after the printer: p50 {}  p99 {}",
        ms(percentile(&whole, 0.5)),
        ms(percentile(&whole, 0.99))
    );
    println!(
        "  bare fsync'd commit: p50 {}  p99 {}",
        ms(percentile(&commits, 0.5)),
        ms(percentile(&commits, 0.99))
    );
    println!(
        "  ratio p50 {:.1}×  p99 {:.1}×",
        percentile(&scans, 0.5).as_secs_f64() / percentile(&commits, 0.5).as_secs_f64(),
        percentile(&scans, 0.99).as_secs_f64() / percentile(&commits, 0.99).as_secs_f64()
    );
}
