//! The kiosk store over real SQLite files: numbering, check-ins, outbox, purge, and every way a
//! file or disk can refuse.

use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use sportello::demo::DemoBranch;
use sportello::domain::{
    AppointmentState, Clock, ClockTrust, ManualClock, PriorityCategory, ServiceLetter,
    TicketPriority, UserMessage,
};
use sportello::store::{Store, StoreError, StoreOptions};

fn clock() -> ManualClock {
    // 10:03 in Rome.
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 26, 9, 3, 0).unwrap())
}

fn open(path: &Path) -> Store {
    Store::open(path, &StoreOptions::default()).expect("store opens")
}

fn seeded(path: &Path, clock: &ManualClock) -> (Store, DemoBranch) {
    let mut store = open(path);
    let branch = DemoBranch::generate(5, clock.local_now().naive_local());
    store.apply_replica(&branch.replica()).unwrap();
    (store, branch)
}

fn letter(c: &str) -> ServiceLetter {
    ServiceLetter::parse(c).unwrap()
}

#[test]
fn pragmas_give_durability() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, sportello::store::APPLICATION_ID);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, sportello::store::schema_version());
    // Reopening is a no-op and keeps the identity.
    let a = open(&path).device().unwrap();
    let b = open(&path).device().unwrap();
    assert_eq!(a, b);
}

#[test]
fn replica_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (store, branch) = seeded(&dir.path().join("k.sqlite"), &clock);
    assert_eq!(store.sede().unwrap(), Some(branch.sede.clone()));
    assert_eq!(store.services().unwrap(), branch.services);
    assert_eq!(store.counters().unwrap(), branch.counters);
    assert_eq!(store.opening_hours().unwrap().len(), branch.hours.len());
    let today: Vec<_> = branch
        .appointments
        .iter()
        .map(|a| a.appointment.clone())
        .collect();
    assert_eq!(store.appointments_on(clock.today()).unwrap(), today);
    assert_eq!(
        store.verifying_keys().unwrap(),
        branch.replica().verifying_keys
    );
}

#[test]
fn ticket_numbers_are_per_service_per_day_and_gap_free() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (mut store, _) = seeded(&dir.path().join("k.sqlite"), &clock);
    let mut issued = vec![];
    for s in ["P", "P", "R", "P", "R"] {
        issued.push(
            store
                .issue_ticket(letter(s), TicketPriority::WalkIn, &clock)
                .unwrap()
                .number
                .to_string(),
        );
    }
    assert_eq!(issued, ["P001", "P002", "R001", "P003", "R002"]);
    let prio = store
        .issue_ticket(
            letter("P"),
            TicketPriority::Priority(PriorityCategory::Pregnancy),
            &clock,
        )
        .unwrap();
    assert_eq!(prio.number.to_string(), "P004");
    let day = store.tickets_on(clock.today()).unwrap();
    assert_eq!(
        day.last().unwrap().priority,
        TicketPriority::Priority(PriorityCategory::Pregnancy)
    );
    assert_eq!(store.waiting_count(letter("P"), &clock).unwrap(), 4);
    // A trusted clock rolls the day over: numbering restarts.
    clock.advance(Duration::days(1));
    assert_eq!(
        store
            .issue_ticket(letter("P"), TicketPriority::WalkIn, &clock)
            .unwrap()
            .number
            .to_string(),
        "P001"
    );
    // The outbox holds one row per ticket, numbered without gaps.
    let pending = store.outbox_pending(100).unwrap();
    assert_eq!(pending.len(), 7);
    assert!(pending.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(pending.iter().all(|r| r.kind == "ticket_issued"));
    assert_eq!(store.outbox_ack_through(pending[2].seq).unwrap(), 3);
    assert_eq!(store.outbox_depth().unwrap(), 4);
    assert!(matches!(
        store.issue_ticket(letter("Z"), TicketPriority::WalkIn, &clock),
        Err(StoreError::UnknownService(_))
    ));
}

#[test]
fn an_untrusted_clock_does_not_roll_the_day_over() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (mut store, _) = seeded(&dir.path().join("k.sqlite"), &clock);
    let first = store
        .issue_ticket(letter("V"), TicketPriority::WalkIn, &clock)
        .unwrap();
    // After a power cut the Pi may boot with yesterday's date, or jump ahead: while the clock is
    // untrusted, numbering continues on the day it was on.
    clock.set_trust(ClockTrust::Untrusted);
    clock.advance(Duration::days(-1));
    let second = store
        .issue_ticket(letter("V"), TicketPriority::WalkIn, &clock)
        .unwrap();
    assert_eq!(second.business_day, first.business_day);
    assert_eq!(second.number.number(), 2);
    assert!(!second.clock_trusted);
    clock.advance(Duration::days(3));
    assert_eq!(
        store
            .issue_ticket(letter("V"), TicketPriority::WalkIn, &clock)
            .unwrap()
            .number
            .number(),
        3
    );
    clock.set_trust(ClockTrust::Trusted);
    let after = store
        .issue_ticket(letter("V"), TicketPriority::WalkIn, &clock)
        .unwrap();
    assert_eq!(
        (after.business_day, after.number.number()),
        (clock.today(), 1)
    );
}

#[test]
fn check_in_is_idempotent_and_writes_the_outbox_in_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (mut store, branch) = seeded(&dir.path().join("k.sqlite"), &clock);
    let a = &branch.appointments[0].appointment;
    let first = store.check_in(a.id, a.person_key, &clock).unwrap();
    assert!(!first.already);
    assert_eq!(first.ticket.booking, Some(a.id));
    assert_eq!(first.ticket.priority, TicketPriority::Appointment);
    let again = store.check_in(a.id, a.person_key, &clock).unwrap();
    assert!(again.already);
    assert_eq!(
        again.ticket, first.ticket,
        "the same ticket, never a second"
    );
    assert_eq!(
        store.appointment(a.id).unwrap().unwrap().state,
        AppointmentState::CheckedIn
    );
    let outbox = store.outbox_pending(10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, "checked_in");
    let op: sportello::sync::Op = serde_json::from_str(&outbox[0].payload).unwrap();
    assert!(matches!(op, sportello::sync::Op::CheckedIn { booking, .. } if booking == a.id));
    // A replica refresh does not undo the check-in the branch node recorded.
    store.apply_replica(&branch.replica()).unwrap();
    assert_eq!(
        store.appointment(a.id).unwrap().unwrap().state,
        AppointmentState::CheckedIn
    );
    let unknown = sportello::domain::BookingId::new(2026, 999_999).unwrap();
    assert!(matches!(
        store.check_in(unknown, None, &clock),
        Err(StoreError::UnknownBooking(_))
    ));
}

#[test]
fn cancelled_appointments_cannot_be_checked_in() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut store = open(&dir.path().join("k.sqlite"));
    let branch = DemoBranch::generate(5, clock.local_now().naive_local());
    let mut replica = branch.replica();
    replica.appointments[1].state = AppointmentState::CancelledBySede;
    store.apply_replica(&replica).unwrap();
    let id = replica.appointments[1].id;
    let err = store.check_in(id, None, &clock).unwrap_err();
    assert!(matches!(
        err,
        StoreError::NotCheckInable {
            state: AppointmentState::CancelledBySede,
            ..
        }
    ));
    assert_eq!(err.message_key(), "booking-not-check-inable");
    assert_eq!(store.outbox_depth().unwrap(), 0);
}

#[test]
fn person_keys_are_purged_after_90_days_once_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let path = dir.path().join("k.sqlite");
    let (mut store, branch) = seeded(&path, &clock);
    let a = &branch.appointments[0].appointment;
    store.check_in(a.id, a.person_key, &clock).unwrap();
    assert_eq!(store.run_daily_jobs(&clock).unwrap(), ["purge_person_keys"]);
    assert!(
        store.run_daily_jobs(&clock).unwrap().is_empty(),
        "once a day"
    );
    let keys = |path: &Path| -> (i64, i64) {
        let conn = rusqlite::Connection::open(path).unwrap();
        let c = conn
            .query_row("SELECT count(person_key) FROM ticket", [], |r| r.get(0))
            .unwrap();
        let a = conn
            .query_row("SELECT count(person_key) FROM appointment", [], |r| {
                r.get(0)
            })
            .unwrap();
        (c, a)
    };
    assert_eq!(keys(&path), (1, 12));
    clock.advance(Duration::days(89));
    store.run_daily_jobs(&clock).unwrap();
    assert_eq!(keys(&path), (1, 12), "89 days: kept");
    clock.advance(Duration::days(2));
    assert_eq!(store.run_daily_jobs(&clock).unwrap(), ["purge_person_keys"]);
    assert_eq!(keys(&path), (0, 0), "past 90 days: erased");
    // The facts stay: the check-in and its ticket are still there, without the key.
    assert!(
        store
            .appointment(a.id)
            .unwrap()
            .unwrap()
            .person_key
            .is_none()
    );
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_corrupt_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, just some bytes that look like nothing".repeat(100),
    )
    .unwrap();
    let before = file_bytes(&path);
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("left untouched"));
    assert_eq!(file_bytes(&path), before);
    assert!(!dir.path().join("k.sqlite-wal").exists());
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    drop(open(&path));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .unwrap();
    }
    let before = file_bytes(&path);
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("update Sportello"));
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
            .unwrap();
    }
    let before = file_bytes(&path);
    assert!(matches!(
        Store::open(&path, &StoreOptions::default()),
        Err(StoreError::Foreign { .. })
    ));
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn a_full_disk_fails_the_write_and_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let path = dir.path().join("k.sqlite");
    let (mut store, _) = seeded(&path, &clock);
    let mut committed = vec![];
    for _ in 0..5 {
        committed.push(
            store
                .issue_ticket(letter("P"), TicketPriority::WalkIn, &clock)
                .unwrap(),
        );
    }
    let pages: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    store.set_max_page_count(pages as u64).unwrap();
    let mut failure = None;
    for _ in 0..2000 {
        match store.issue_ticket(letter("R"), TicketPriority::WalkIn, &clock) {
            Ok(t) => committed.push(t),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("the capped file fills up");
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err}");
    assert!(err.to_string().contains("disk is full"));
    drop(store);
    let store = open(&path);
    assert_eq!(store.tickets_on(clock.today()).unwrap(), committed);
    assert_eq!(store.outbox_depth().unwrap() as usize, committed.len());
}

#[test]
fn a_read_only_store_fails_the_write_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (mut store, _) = seeded(&dir.path().join("k.sqlite"), &clock);
    let kept = store
        .issue_ticket(letter("P"), TicketPriority::WalkIn, &clock)
        .unwrap();
    store.set_query_only(true).unwrap();
    let err = store
        .issue_ticket(letter("P"), TicketPriority::WalkIn, &clock)
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert_eq!(err.message_key(), "store-read-only");
    store.set_query_only(false).unwrap();
    assert_eq!(store.tickets_on(clock.today()).unwrap(), vec![kept]);
}

#[test]
fn a_read_only_directory_is_refused_at_open() {
    // As root, file permissions do not stop writes; a file on a read-only mount does. A path
    // under /proc cannot be created by anyone: the store must say why it cannot open.
    let err = Store::open(
        Path::new("/proc/sportello-test/k.sqlite"),
        &StoreOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::Sqlite { .. } | StoreError::ReadOnly { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/proc/sportello-test/k.sqlite"));
}
