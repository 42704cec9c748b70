//! The kiosk's check-in rules over a real store and real signed tokens: the window (30 minutes
//! before to 15 after), reprints at any time, and the untrusted clock's day of slack.

use std::sync::Arc;

use branch::node::Branch;
use chrono::{Duration, TimeZone, Utc};
use demo::DemoBranch;
use domain::{Clock, ClockTrust, ManualClock};
use kiosk::{Answer, Kiosk};
use store::{Store, StoreOptions};

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
        "checkin-expired",
        "two days late"
    );
    clock.advance(Duration::days(-5));
    assert_eq!(
        key(&k.scan(&demo.appointments[2].token)),
        "checkin-not-today",
        "two days early"
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
    use queue::DeviceAlert;
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

/// Every way a visitor can be turned away at the scanner, each with its own catalogue key and
/// text, and none of them issues or prints anything: not today, expired, too early, too late,
/// another sede (named), cancelled, unreadable, not a booking, signed with an unknown key,
/// altered by one bit, outside opening hours, daily cap reached.
#[test]
fn every_refusal_has_its_own_message_and_prints_nothing() {
    use domain::AppointmentState;
    use domain::token::{BookingClaims, TokenSigner};
    use hardware::printer::SimulatedPrinter;
    let dir = tempfile::tempdir().unwrap();
    // Thursday 10:00 in Rome.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let mut store = Store::open(&dir.path().join("k.sqlite"), &StoreOptions::default()).unwrap();
    let demo = DemoBranch::generate(4, clock.local_now().naive_local());
    let mut replica = demo.replica();
    let cancelled = demo.appointments[3].appointment.id;
    replica
        .appointments
        .iter_mut()
        .find(|a| a.id == cancelled)
        .unwrap()
        .state = AppointmentState::CancelledByUser;
    replica.rules.daily_cap = 1;
    store.apply_replica(&replica).unwrap();
    let branch = Branch::open(store, clock.clone()).unwrap();
    let paper = dir.path().join("printer.bin");
    let mut k = Kiosk::new(branch).unwrap().with_printer(
        Box::new(SimulatedPrinter::new(paper.clone())),
        ticket::PrintOptions::default(),
    );

    let ok = &demo.appointments[2];
    let base = BookingClaims {
        booking: ok.appointment.id,
        sede: demo.sede.code,
        starts_at: ok.appointment.starts_at,
        service: ok.appointment.service,
        person: ok.appointment.person_key.unwrap(),
    };
    let signed = |c: &BookingClaims| demo.signer.sign(c).unwrap();
    let day = chrono::Duration::days(1);
    let other_sede = domain::sedi::all()
        .into_iter()
        .find(|s| s.code != demo.sede.code)
        .unwrap();
    let flipped = {
        let token = &ok.token;
        let mut bytes = base45::decode(&token["SP1:".len()..]).unwrap();
        bytes[10] ^= 0x04;
        format!("SP1:{}", base45::encode(&bytes))
    };
    let foreign = TokenSigner::from_seed(77, &[9; 32]).sign(&base).unwrap();
    let cases: Vec<(String, &str, String)> = vec![
        (
            signed(&BookingClaims {
                starts_at: base.starts_at + day * 2,
                ..base
            }),
            "checkin-not-today",
            "28/11/2026".into(),
        ),
        (
            signed(&BookingClaims {
                starts_at: base.starts_at - day * 2,
                ..base
            }),
            "checkin-expired",
            "scaduta".into(),
        ),
        (
            demo.appointments[11].token.clone(),
            "checkin-too-early",
            "apre alle".into(),
        ),
        (
            demo.appointments[0].token.clone(),
            "checkin-too-late",
            "15 minuti".into(),
        ),
        (
            signed(&BookingClaims {
                sede: other_sede.code,
                ..base
            }),
            "checkin-other-sede",
            other_sede.name.clone(),
        ),
        (
            demo.appointments[3].token.clone(),
            "booking-cancelled",
            "annullata".into(),
        ),
        (
            ok.token[..20].to_owned(),
            "token-malformed",
            "illeggibile".into(),
        ),
        (
            "WIFI:S:lobby;;".into(),
            "token-not-a-booking",
            "non è una prenotazione".into(),
        ),
        (foreign, "token-unknown-key", "chiave sconosciuta".into()),
        (flipped, "token-bad-signature", "alterato".into()),
    ];
    let mut keys = std::collections::BTreeSet::new();
    let mut texts = std::collections::BTreeSet::new();
    for (input, want, fragment) in &cases {
        let a = k.scan(input);
        assert_eq!(key(&a), *want, "{input}: {a:?}");
        let text = refused_text(&a);
        assert!(text.contains(fragment.as_str()), "{want}: {text}");
        keys.insert(key(&a));
        texts.insert(text);
    }
    assert_eq!(keys.len(), cases.len(), "one key per case");
    assert_eq!(texts.len(), cases.len(), "one text per case");
    assert!(!paper.exists(), "nothing printed");

    // Walk-ins: the first takes the day's only place; the second finds the cap.
    assert_eq!(key(&k.walk_in("P".parse().unwrap())), "ticket");
    let printed = std::fs::read(&paper).unwrap();
    let capped = k.walk_in("P".parse().unwrap());
    assert_eq!(key(&capped), "queue-daily-cap", "{capped:?}");
    // At 22:00 the service is closed.
    clock.advance(chrono::Duration::hours(12));
    let closed = k.walk_in("R".parse().unwrap());
    assert_eq!(key(&closed), "queue-closed-hours", "{closed:?}");
    assert!(refused_text(&closed).contains("chiuso"));
    assert_eq!(
        std::fs::read(&paper).unwrap(),
        printed,
        "nothing more printed"
    );
}

/// The hub rotates its signing key: while both verifying keys are pulled, tokens of either
/// pass; once the old key is withdrawn, its tokens are refused as signed with an unknown key.
#[test]
fn key_rotation_accepts_both_keys_then_only_the_new_one() {
    use domain::token::TokenSigner;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let demo = DemoBranch::generate(4, clock.local_now().naive_local());
    let new = TokenSigner::from_seed(demo.signer.key_id() + 1, &[42; 32]);
    let claims = |i: usize| {
        let a = &demo.appointments[i].appointment;
        domain::token::BookingClaims {
            booking: a.id,
            sede: demo.sede.code,
            starts_at: a.starts_at,
            service: a.service,
            person: a.person_key.unwrap(),
        }
    };
    let mut replica = demo.replica();
    replica
        .verifying_keys
        .push((new.key_id(), new.verifying_key()));
    let path = dir.path().join("k.sqlite");
    let mut store = Store::open(&path, &StoreOptions::default()).unwrap();
    store.apply_replica(&replica).unwrap();
    let branch = Branch::open(store, clock.clone()).unwrap();
    let mut k = Kiosk::new(branch.clone()).unwrap();
    assert_eq!(
        key(&k.scan(&demo.appointments[1].token)),
        "ticket",
        "old key"
    );
    assert_eq!(
        key(&k.scan(&new.sign(&claims(2)).unwrap())),
        "ticket",
        "new key"
    );

    replica.verifying_keys.retain(|(id, _)| *id == new.key_id());
    branch.with_store(|s| s.apply_replica(&replica)).unwrap();
    let mut k = Kiosk::new(branch).unwrap();
    assert_eq!(
        key(&k.scan(&demo.appointments[4].token)),
        "token-unknown-key",
        "the withdrawn key"
    );
    assert_eq!(key(&k.scan(&new.sign(&claims(5)).unwrap())), "ticket");
}

/// A power cut between a ticket's commit and its printing: after the restart the kiosk offers
/// that ticket again (same number), not tickets that reached paper nor ones too old to matter,
/// and never issues a second number.
#[test]
fn after_a_crash_between_commit_and_print_the_same_ticket_is_offered_again() {
    use domain::{ServiceLetter, TicketPriority};
    use hardware::printer::SimulatedPrinter;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let paper = dir.path().join("printer.bin");
    let printer = || {
        (
            Box::new(SimulatedPrinter::new(paper.clone())) as Box<dyn hardware::printer::Printer>,
            ticket::PrintOptions::default(),
        )
    };
    let (k, demo) = kiosk(dir.path(), &clock);
    let (p, o) = printer();
    let mut k = k.with_printer(p, o);
    assert!(k.pending_reprints().is_empty());
    // Printed: never offered again.
    assert_eq!(key(&k.scan(&demo.appointments[1].token)), "ticket");
    let branch = k.branch().clone();
    // Committed long ago and never printed: its visitor is at the front desk by now.
    let old = branch
        .issue_ticket(ServiceLetter::parse("R").unwrap(), TicketPriority::WalkIn)
        .unwrap();
    clock.advance(Duration::minutes(20));
    // Committed, then the power went: the kiosk never reached the printer.
    let lost = branch
        .issue_ticket(ServiceLetter::parse("P").unwrap(), TicketPriority::WalkIn)
        .unwrap();
    let lost_booking = branch
        .check_in(
            demo.appointments[2].appointment.id,
            demo.appointments[2].appointment.person_key,
        )
        .unwrap()
        .ticket;
    let before = std::fs::read(&paper).unwrap();
    drop(k);
    drop(branch);

    // The restart.
    let store = Store::open(&dir.path().join("k.sqlite"), &StoreOptions::default()).unwrap();
    let branch = Branch::open(store, clock.clone()).unwrap();
    let (p, o) = printer();
    let mut k = Kiosk::new(branch.clone()).unwrap().with_printer(p, o);
    let offered: Vec<String> = k
        .pending_reprints()
        .iter()
        .map(|t| t.number.to_string())
        .collect();
    assert_eq!(
        offered,
        [lost.number.to_string(), lost_booking.number.to_string()],
        "not {} (printed) nor {} (too old)",
        "A001",
        old.number
    );
    let tickets = branch.read(|q, _| q.tickets().count());
    let answers = k.reprint_pending();
    assert_eq!(answers.len(), 2);
    for (a, want) in answers.iter().zip(&offered) {
        match a {
            Answer::Ticket {
                ticket,
                reprint: true,
                printed: true,
                ..
            } => assert_eq!(&ticket.number.to_string(), want),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        branch.read(|q, _| q.tickets().count()),
        tickets,
        "no new number"
    );
    let after = std::fs::read(&paper).unwrap();
    let text = encoding_rs::WINDOWS_1252
        .decode(&after[before.len()..])
        .0
        .into_owned();
    for n in &offered {
        assert!(text.contains(n.as_str()), "{n} on paper");
    }
    assert!(k.pending_reprints().is_empty());
    drop(k);
    drop(branch);
    let store = Store::open(&dir.path().join("k.sqlite"), &StoreOptions::default()).unwrap();
    let branch = Branch::open(store, clock.clone()).unwrap();
    let (p, o) = printer();
    let mut k = Kiosk::new(branch).unwrap().with_printer(p, o);
    assert!(
        k.pending_reprints().is_empty(),
        "printed now: not offered again"
    );
    let mut out = Vec::new();
    k.run_headless(
        &mut hardware::scanner::LineScanner::new(&b"RISTAMPA\n"[..]),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Nessun biglietto da ristampare.\n"
    );
}

/// Scanner noise: a code read in two halves, read twice in a row, or typed through the wrong
/// keyboard layout (a US-layout scanner on an Italian keymap) — at most the one ticket the
/// booking is owed, and the garbage gets a refusal, not a crash.
#[test]
fn scanner_noise_never_issues_two_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (mut k, demo) = kiosk(dir.path(), &clock);
    let token = demo.appointments[1].token.clone();
    let (head, tail) = token.split_at(token.len() / 2);
    // What an Italian keymap makes of a US scanner's keystrokes for these characters.
    let italian: String = token
        .chars()
        .map(|c| match c {
            ':' => 'Ç',
            '/' => '-',
            '-' => '\'',
            '*' => '(',
            '+' => '*',
            '$' => '$',
            '%' => '%',
            other => other,
        })
        .collect();
    let mut tickets = std::collections::BTreeSet::new();
    for input in [
        head.to_owned(),
        tail.to_owned(),
        italian.clone(),
        italian.to_lowercase(),
        format!("{token}{token}"),
        token.clone(),
        token.clone(),
        format!("  {token}\r"),
        head.to_owned(),
        token.clone(),
    ] {
        match k.handle_input(&input) {
            Answer::Ticket { ticket, .. } => {
                tickets.insert(ticket.number.to_string());
            }
            Answer::Refused { key, .. } => assert!(
                key.starts_with("token-"),
                "{input:?} refused as {key}, a token error"
            ),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    assert_eq!(
        k.branch().read(|q, _| q.tickets().count()),
        1,
        "one ticket in the queue"
    );
}
