//! The kiosk's check-in rules over a real store and real signed tokens: the window (30 minutes
//! before to 15 after), reprints at any time, and the untrusted clock's day of slack.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use sportello::demo::DemoBranch;
use sportello::domain::{Clock, ClockTrust, ManualClock};
use sportello::kiosk::{Answer, Kiosk};
use sportello::node::Branch;
use sportello::store::{Store, StoreOptions};

fn kiosk(dir: &std::path::Path, clock: &Arc<ManualClock>) -> (Kiosk, DemoBranch) {
    let mut store = Store::open(&dir.join("k.sqlite"), &StoreOptions::default()).unwrap();
    let demo = DemoBranch::generate(4, clock.local_now().naive_local());
    store.apply_replica(&demo.replica()).unwrap();
    let branch = Branch::open(store, clock.clone()).unwrap();
    (
        Kiosk::new(branch).unwrap().with_keyer(DemoBranch::keyer()),
        demo,
    )
}

fn key(a: &Answer) -> &'static str {
    match a {
        Answer::Ticket { reprint: false, .. } => "ticket",
        Answer::Ticket { reprint: true, .. } => "reprint",
        Answer::Refused { key, .. } => key,
        Answer::Assistance => "assistance",
    }
}

#[test]
fn check_in_opens_30_minutes_before_and_closes_15_after_but_reprints_always() {
    let dir = tempfile::tempdir().unwrap();
    // Thursday 10:00 in Rome.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (mut k, demo) = kiosk(dir.path(), &clock);
    let late = &demo.appointments[0];
    let early = &demo.appointments[11];
    let ok = &demo.appointments[1];
    let refused = k.scan(&late.token);
    assert_eq!(key(&refused), "checkin-too-late");
    assert!(refused_text(&refused).contains("biglietto senza appuntamento"));
    let refused = k.scan(&early.token);
    assert_eq!(key(&refused), "checkin-too-early");
    assert_eq!(
        refused_text(&refused),
        "è presto: la registrazione per l'appuntamento delle 11:30 apre alle 11:00"
    );
    assert_eq!(key(&k.scan(&ok.token)), "ticket");
    // An hour later the window has closed, but the same QR reprints the same ticket.
    clock.advance(Duration::hours(1));
    assert_eq!(key(&k.scan(&ok.token)), "reprint");
    // The early one's window is open now.
    assert_eq!(key(&k.scan(&early.token)), "ticket");
}

#[test]
fn an_untrusted_clock_accepts_a_day_either_side_and_skips_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (mut k, demo) = kiosk(dir.path(), &clock);
    clock.set_trust(ClockTrust::Untrusted);
    clock.advance(Duration::days(-1));
    assert_eq!(
        key(&k.scan(&demo.appointments[0].token)),
        "ticket",
        "no window"
    );
    clock.advance(Duration::days(3));
    assert_eq!(
        key(&k.scan(&demo.appointments[2].token)),
        "checkin-not-today"
    );
}

fn refused_text(a: &Answer) -> String {
    match a {
        Answer::Refused { message, .. } => message.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_same_input_twice_within_2_s_never_issues_a_second_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (mut k, demo) = kiosk(dir.path(), &clock);
    let first = k.handle_input("P");
    assert_eq!(first, k.handle_input("P"), "a double read");
    assert_eq!(first, k.handle_input(" P "));
    let token = &demo.appointments[1].token;
    assert_eq!(key(&k.handle_input(token)), "ticket");
    assert_eq!(
        key(&k.handle_input(token)),
        "ticket",
        "the first answer, repeated"
    );
    let issued = k.branch().read(|q, _| q.tickets().count());
    assert_eq!(issued, 2, "one walk-in, one check-in");
    // Another input in between: the next P is a new visitor.
    assert_eq!(key(&k.handle_input("R")), "ticket");
    assert_eq!(key(&k.handle_input("P")), "ticket");
    assert_eq!(k.branch().read(|q, _| q.tickets().count()), 4);
}

#[test]
fn a_typed_booking_code_needs_the_matching_codice_fiscale_and_failures_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (mut k, demo) = kiosk(dir.path(), &clock);
    let a = &demo.appointments[2];
    let code = a.appointment.id.to_string();
    let cf = demo.people[a.person].cf.as_str().to_lowercase();
    let other = demo
        .people
        .iter()
        .find(|p| p.cf != demo.people[a.person].cf)
        .unwrap()
        .cf
        .as_str()
        .to_owned();
    assert_eq!(key(&k.typed_code(&code)), "checkin-typed-code-needs-cf");
    assert_eq!(
        key(&k.typed_code(&format!("{code} RSSMRA80A01H501X"))),
        "checkin-typed-cf-invalid"
    );
    assert_eq!(
        key(&k.typed_code(&format!("{code} {other}"))),
        "checkin-typed-mismatch"
    );
    // The right pair (typed in lower case) checks in, like the QR would.
    assert_eq!(key(&k.typed_code(&format!("{code} {cf}"))), "ticket");
    assert_eq!(key(&k.typed_code(&format!("{code} {cf}"))), "reprint");
    // One wrong pair so far; four more and even the right pair waits.
    for _ in 0..4 {
        assert_eq!(
            key(&k.typed_code(&format!("{code} {other}"))),
            "checkin-typed-mismatch"
        );
    }
    assert_eq!(
        key(&k.typed_code(&format!("{code} {cf}"))),
        "checkin-typed-too-many"
    );
    assert_eq!(key(&k.scan(&a.token)), "reprint", "the QR still works");
}

#[test]
fn tickets_print_after_the_commit_and_a_printer_fault_shows_the_number_and_alerts_staff() {
    use hardware::printer::{SimulatedPrinter, SimulatedState};
    use sportello::queue::DeviceAlert;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (k, demo) = kiosk(dir.path(), &clock);
    let paper = dir.path().join("printer.bin");
    let printer = SimulatedPrinter::new(paper.clone());
    let control = printer.control();
    let mut k = k.with_printer(Box::new(printer), ticket::PrintOptions::default());
    let printed = |a: &Answer| matches!(a, Answer::Ticket { printed: true, .. });
    assert!(printed(&k.scan(&demo.appointments[1].token)));
    let bytes = std::fs::read(&paper).unwrap();
    let text = encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned();
    assert!(text.contains("A001"), "{text}");
    assert!(text.contains("Roma Eur"));
    *control.lock().unwrap() = SimulatedState::PaperOut;
    let answer = k.handle_input("P");
    assert!(
        matches!(answer, Answer::Ticket { printed: false, .. }),
        "{answer:?}"
    );
    assert!(k.render(&answer).contains("mostri questo numero"));
    let branch = k.branch().clone();
    let alerts = || branch.read(|q, _| q.alerts().collect::<Vec<_>>());
    assert_eq!(alerts(), vec![DeviceAlert::PrinterOutOfPaper]);
    assert_eq!(
        std::fs::read(&paper).unwrap(),
        bytes,
        "nothing printed meanwhile"
    );
    *control.lock().unwrap() = SimulatedState::Ready;
    assert!(printed(&k.handle_input("R")));
    assert!(
        alerts().is_empty(),
        "the alert clears when the printer prints again"
    );
}
