//! The branch node over real SQLite files: tickets and check-ins through the queue engine, the
//! event log and outbox written in the same transaction, replay after a restart, the untrusted
//! clock, the purge, and full or read-only disks.

use std::path::Path;
use std::sync::Arc;

use branch::node::{Branch, NodeError};
use chrono::{Duration, TimeZone, Utc};
use demo::DemoBranch;
use domain::{
    AppointmentState, BookingId, Clock, ClockTrust, CounterNumber, ManualClock, PriorityCategory,
    ServiceLetter, TicketPriority, TicketState, UserMessage,
};
use queue::{Command, EventKind, QueueError};
use store::{Store, StoreError, StoreOptions};

fn clock() -> Arc<ManualClock> {
    // Thursday, 10:03 in Rome.
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 3, 0).unwrap(),
    ))
}

fn open(path: &Path) -> Store {
    Store::open(path, &StoreOptions::default()).expect("store opens")
}

fn node(path: &Path, clock: &Arc<ManualClock>) -> (Arc<Branch>, DemoBranch) {
    let mut store = open(path);
    let demo = DemoBranch::generate(5, clock.local_now().naive_local());
    store.apply_replica(&demo.replica()).unwrap();
    (Branch::open(store, clock.clone()).unwrap(), demo)
}

fn reopen(path: &Path, clock: &Arc<ManualClock>) -> Arc<Branch> {
    Branch::open(open(path), clock.clone()).unwrap()
}

fn letter(c: &str) -> ServiceLetter {
    ServiceLetter::parse(c).unwrap()
}

fn walk_in(b: &Branch, s: &str) -> String {
    b.issue_ticket(letter(s), TicketPriority::WalkIn)
        .unwrap()
        .number
        .to_string()
}

#[test]
fn ticket_numbers_are_per_service_per_day_and_the_outbox_is_gap_free() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (b, _) = node(&dir.path().join("k.sqlite"), &clock);
    let issued: Vec<_> = ["P", "P", "R", "P", "R"]
        .iter()
        .map(|s| walk_in(&b, s))
        .collect();
    assert_eq!(issued, ["P001", "P002", "R001", "P003", "R002"]);
    let prio = b
        .issue_ticket(
            letter("P"),
            TicketPriority::Priority(PriorityCategory::Pregnancy),
        )
        .unwrap();
    assert_eq!(prio.number.to_string(), "P004");
    let day = b.read(|_, s| s.tickets_on(clock.today()).unwrap());
    assert_eq!(day.len(), 6);
    assert_eq!(
        day.last().unwrap().priority,
        TicketPriority::Priority(PriorityCategory::Pregnancy)
    );
    assert_eq!(b.read(|q, _| q.waiting_counts()[&letter("P")]), 4);
    // A trusted clock rolls the day over (Friday): the old day closes, numbering restarts.
    clock.advance(Duration::days(1));
    assert_eq!(walk_in(&b, "P"), "P001");
    // One outbox row per event (day opened, 6 tickets, day closed, day opened, 1 ticket),
    // numbered without gaps.
    let pending = b.read(|_, s| s.outbox_pending(100).unwrap());
    let kinds: Vec<_> = pending.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds[0], "day_opened");
    assert_eq!(kinds.iter().filter(|k| **k == "ticket_issued").count(), 7);
    assert_eq!(kinds[7..9], ["day_closed", "day_opened"]);
    assert!(pending.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    b.with_store(|s| {
        assert_eq!(s.outbox_ack_through(pending[2].seq).unwrap(), 3);
        assert_eq!(s.outbox_depth().unwrap(), 7);
    });
    assert!(matches!(
        b.issue_ticket(letter("Z"), TicketPriority::WalkIn),
        Err(NodeError::Queue(QueueError::UnknownService(_)))
    ));
    // Yesterday's waiting tickets went to history as cancelled.
    let yesterday = b.read(|_, s| s.tickets_on(clock.today() - Duration::days(1)).unwrap());
    assert!(yesterday.iter().all(|t| t.state == TicketState::Cancelled));
}

#[test]
fn an_untrusted_clock_does_not_roll_the_day_over() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (b, _) = node(&dir.path().join("k.sqlite"), &clock);
    let first = b.issue_ticket(letter("V"), TicketPriority::WalkIn).unwrap();
    // After a power cut the Pi may boot with yesterday's date, or jump ahead: while the clock is
    // untrusted, numbering continues on the day it was on.
    clock.set_trust(ClockTrust::Untrusted);
    clock.advance(Duration::days(-1));
    let second = b.issue_ticket(letter("V"), TicketPriority::WalkIn).unwrap();
    assert_eq!(second.business_day, first.business_day);
    assert_eq!(second.number.number(), 2);
    assert!(!second.clock_trusted);
    clock.advance(Duration::days(3));
    let b = reopen(&dir.path().join("k.sqlite"), &clock);
    assert_eq!(walk_in(&b, "V"), "V003", "a restart replays the same day");
    // Monday, trusted again: a new day.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 30, 9, 3, 0).unwrap());
    clock.set_trust(ClockTrust::Trusted);
    let after = b.issue_ticket(letter("V"), TicketPriority::WalkIn).unwrap();
    assert_eq!(
        (after.business_day, after.number.number()),
        (clock.today(), 1)
    );
}

#[test]
fn check_in_is_idempotent_and_commits_with_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    let clock = clock();
    let (b, demo) = node(&path, &clock);
    let a = &demo.appointments[0].appointment;
    let first = b.check_in(a.id, a.person_key).unwrap();
    assert!(!first.already);
    assert_eq!(first.ticket.booking, Some(a.id));
    assert_eq!(first.ticket.priority, TicketPriority::Appointment);
    let again = b.check_in(a.id, a.person_key).unwrap();
    assert!(again.already);
    assert_eq!(
        again.ticket, first.ticket,
        "the same ticket, never a second"
    );
    // Also after a restart: the queue is rebuilt from the log.
    let b = reopen(&path, &clock);
    assert_eq!(b.check_in(a.id, a.person_key).unwrap().ticket, first.ticket);
    assert_eq!(
        b.read(|_, s| s.appointment(a.id).unwrap().unwrap().state),
        AppointmentState::CheckedIn
    );
    let outbox = b.read(|_, s| s.outbox_pending(10).unwrap());
    assert_eq!(outbox.len(), 2, "day opened, ticket issued");
    let op: protocol::Op = serde_json::from_str(&outbox[1].payload).unwrap();
    let protocol::Op::Queue { event, .. } = op;
    assert!(matches!(event.kind, EventKind::TicketIssued { booking: Some(id), .. } if id == a.id));
    assert!(
        !outbox[1].payload.contains("person"),
        "no person key leaves the branch"
    );
    // A replica refresh does not undo the check-in the branch node recorded.
    b.with_store(|s| s.apply_replica(&demo.replica())).unwrap();
    assert_eq!(
        b.read(|_, s| s.appointment(a.id).unwrap().unwrap().state),
        AppointmentState::CheckedIn
    );
    let unknown = BookingId::new(2026, 999_999).unwrap();
    assert!(matches!(
        b.check_in(unknown, None),
        Err(NodeError::UnknownBooking(_))
    ));
}

#[test]
fn cancelled_appointments_cannot_be_checked_in() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut store = open(&dir.path().join("k.sqlite"));
    let demo = DemoBranch::generate(5, clock.local_now().naive_local());
    let mut replica = demo.replica();
    replica.appointments[1].state = AppointmentState::CancelledBySede;
    store.apply_replica(&replica).unwrap();
    let b = Branch::open(store, clock.clone()).unwrap();
    let id = replica.appointments[1].id;
    let err = b.check_in(id, None).unwrap_err();
    assert!(matches!(
        err,
        NodeError::NotCheckInable {
            state: AppointmentState::CancelledBySede,
            ..
        }
    ));
    assert_eq!(err.message_key(), "booking-cancelled");
    assert!(err.to_string().contains("annullata dalla sede"));
    assert_eq!(b.read(|_, s| s.outbox_depth().unwrap()), 0);
}

#[test]
fn staff_commands_persist_and_a_restart_resumes_the_same_queue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    let clock = clock();
    let (b, _) = node(&path, &clock);
    let c3 = CounterNumber::new(3).unwrap();
    let mut live = b.subscribe();
    walk_in(&b, "P");
    walk_in(&b, "P");
    b.execute(Command::OpenCounter {
        counter: c3,
        services: vec![],
        operator: "mrossi".into(),
    })
    .unwrap();
    clock.advance(Duration::minutes(3));
    let called = b.execute(Command::CallNext { counter: c3 }).unwrap();
    let EventKind::TicketCalled { ticket, .. } = called[0].event.kind else {
        panic!("{called:?}")
    };
    assert_eq!(ticket.to_string(), "P001");
    // Subscribers hear every committed event, in log order.
    let mut seqs = vec![];
    while let Ok(e) = live.try_recv() {
        seqs.push(e.seq);
    }
    assert_eq!(seqs, (1..=5).collect::<Vec<_>>());
    let b = reopen(&path, &clock);
    let (state, current) = b.read(|q, _| {
        (
            q.ticket(ticket).unwrap().state,
            q.counter(c3).unwrap().current,
        )
    });
    assert_eq!(state, TicketState::Called(c3));
    assert_eq!(current, Some(ticket));
    let next = b.execute(Command::CallNext { counter: c3 }).unwrap_err();
    assert!(matches!(
        next,
        NodeError::Queue(QueueError::CounterBusy { .. })
    ));
    assert_eq!(
        b.read(|_, s| s.events_after(3, 10).unwrap())
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        vec![4, 5]
    );
}

#[test]
fn person_keys_are_purged_after_90_days_once_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let path = dir.path().join("k.sqlite");
    let (b, demo) = node(&path, &clock);
    let a = &demo.appointments[0].appointment;
    b.check_in(a.id, a.person_key).unwrap();
    let jobs = |b: &Branch| b.with_store(|s| s.run_daily_jobs(clock.as_ref()).unwrap());
    assert_eq!(jobs(&b), ["purge"]);
    assert!(jobs(&b).is_empty(), "once a day");
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
    jobs(&b);
    assert_eq!(keys(&path), (1, 12), "89 days: kept");
    clock.advance(Duration::days(2));
    assert_eq!(jobs(&b), ["purge"]);
    assert_eq!(keys(&path), (0, 0), "past 90 days: erased");
    // The facts stay: the check-in and its ticket are still there, without the key.
    assert!(
        b.read(|_, s| s.appointment(a.id).unwrap().unwrap().person_key)
            .is_none()
    );
}

/// The kiosk's file does not grow for ever: the daily purge forgets operations the hub
/// acknowledged a month ago (never one still to push), queue events and print records of days
/// more than 90 days past (never the current day's, which the queue is rebuilt from), and
/// tickets 13 months on.
#[test]
fn the_kiosk_forgets_what_it_pushed_and_its_past_days_once_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let path = dir.path().join("k.sqlite");
    let (b, _) = node(&path, &clock);
    let counts = |path: &Path| -> [i64; 4] {
        let conn = rusqlite::Connection::open(path).unwrap();
        [
            "SELECT count(*) FROM outbox WHERE state = 'acked'",
            "SELECT count(*) FROM outbox WHERE state = 'pending'",
            "SELECT count(*) FROM queue_event",
            "SELECT count(*) FROM ticket",
        ]
        .map(|sql| conn.query_row(sql, [], |r| r.get(0)).unwrap())
    };
    let jobs = |b: &Branch| b.with_store(|s| s.run_daily_jobs(clock.as_ref()).unwrap());
    for _ in 0..3 {
        b.issue_ticket(letter("P"), TicketPriority::WalkIn).unwrap();
    }
    // The hub acknowledged what there was; one more ticket waits to be pushed.
    let pushed = b.read(|_, s| s.outbox_pending(100).unwrap().last().unwrap().seq);
    b.with_store(|s| s.outbox_ack_through(pushed)).unwrap();
    b.issue_ticket(letter("P"), TicketPriority::WalkIn).unwrap();
    let [acked, pending, events, tickets] = counts(&path);
    assert!(acked >= 3 && pending >= 1 && events >= 5 && tickets == 4);
    jobs(&b);
    assert_eq!(
        counts(&path),
        [acked, pending, events, tickets],
        "a day on: all kept"
    );

    clock.advance(Duration::days(29));
    jobs(&b);
    assert_eq!(counts(&path)[0], acked, "29 days on: kept");
    clock.advance(Duration::days(2));
    jobs(&b);
    assert_eq!(
        counts(&path),
        [0, pending, events, tickets],
        "a month on: the acknowledged operations go, the one still to push stays"
    );

    // Four months on, with no new day opened, the last day's events stay: the queue is
    // rebuilt from them. The next day (a Friday) opens.
    clock.advance(Duration::days(88));
    jobs(&b);
    assert_eq!(counts(&path)[2], events);
    clock.advance(Duration::days(1));
    drop(b);
    let b = reopen(&path, &clock);
    b.issue_ticket(letter("P"), TicketPriority::WalkIn).unwrap();
    jobs(&b);
    let [_, _, events_now, tickets_now] = counts(&path);
    assert!(
        events_now < events,
        "the old day's {events} events went ({events_now} left)"
    );
    assert_eq!(tickets_now, tickets + 1, "tickets stay 13 months");
    // A restart rebuilds today's queue from what is left.
    drop(b);
    let b = reopen(&path, &clock);
    assert_eq!(b.read(|q, _| q.tickets().count()), 1);
    clock.advance(Duration::days(400));
    jobs(&b);
    assert_eq!(counts(&path)[3], 0, "13 months on, the tickets go too");
}

#[test]
fn a_full_disk_fails_the_write_and_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let path = dir.path().join("k.sqlite");
    let (b, _) = node(&path, &clock);
    let mut committed = vec![];
    for _ in 0..5 {
        committed.push(b.issue_ticket(letter("P"), TicketPriority::WalkIn).unwrap());
    }
    let pages: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    b.with_store(|s| s.set_max_page_count(pages as u64))
        .unwrap();
    let mut failure = None;
    for _ in 0..2000 {
        match b.issue_ticket(letter("R"), TicketPriority::WalkIn) {
            Ok(t) => committed.push(t),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("the capped file fills up");
    assert!(
        matches!(err, NodeError::Store(StoreError::DiskFull { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("disk is full"));
    // Memory went back to what the disk holds: with room again, the next number follows the
    // last committed one, with no gap and no reuse.
    let last_r = committed
        .iter()
        .filter(|t| t.number.letter() == letter("R"))
        .count();
    b.with_store(|s| s.set_max_page_count(1 << 30)).unwrap();
    let next = b.issue_ticket(letter("R"), TicketPriority::WalkIn).unwrap();
    assert_eq!(usize::from(next.number.number()), last_r + 1);
    committed.push(next);
    drop(b);
    let store = open(&path);
    assert_eq!(store.tickets_on(clock.today()).unwrap(), committed);
}

#[test]
fn a_read_only_store_fails_the_write_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (b, _) = node(&dir.path().join("k.sqlite"), &clock);
    let kept = b.issue_ticket(letter("P"), TicketPriority::WalkIn).unwrap();
    b.with_store(|s| s.set_query_only(true)).unwrap();
    let err = b
        .issue_ticket(letter("P"), TicketPriority::WalkIn)
        .unwrap_err();
    assert!(
        matches!(err, NodeError::Store(StoreError::ReadOnly { .. })),
        "{err}"
    );
    assert_eq!(err.message_key(), "store-read-only");
    b.with_store(|s| s.set_query_only(false)).unwrap();
    assert_eq!(
        b.read(|_, s| s.tickets_on(clock.today()).unwrap()),
        vec![kept]
    );
}

/// Tickets of the day written by an older build, before the event log existed: the queue
/// rebuilt from the log does not know them, and must still never give their numbers again.
#[test]
fn numbers_taken_outside_the_event_log_are_never_given_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    let clock = clock();
    let (b, _) = node(&path, &clock);
    assert_eq!(walk_in(&b, "P"), "P001");
    assert_eq!(walk_in(&b, "P"), "P002");
    drop(b);
    // What an older build left: the tickets, but no events for them.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("DELETE FROM queue_event WHERE kind <> 'day_opened'", [])
        .unwrap();
    drop(raw);
    let b = reopen(&path, &clock);
    assert_eq!(
        walk_in(&b, "P"),
        "P003",
        "after the numbers already on paper"
    );
}

#[test]
fn leases_top_up_and_tickets_printed_offline_are_taken_in_once_across_a_restart() {
    use branch::node::{Adopted, LEASE_MIN};
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.sqlite");
    let clock = clock();
    let (b, demo) = node(&path, &clock);
    walk_in(&b, "P");
    // A kiosk with nothing left gets a block of every service; one with enough gets none.
    let leases = b.top_up_leases("kiosk-2", &BTreeMap::new()).unwrap();
    let services = b.read(|q, _| q.services().count());
    assert_eq!(leases.len(), services);
    let p = leases.iter().find(|l| l.service == letter("P")).unwrap();
    assert_eq!((p.first, p.last), (2, 1 + LEASE_MIN));
    let enough: BTreeMap<_, _> = leases.iter().map(|l| (l.service, LEASE_MIN)).collect();
    assert!(b.top_up_leases("kiosk-2", &enough).unwrap().is_empty());
    assert_eq!(walk_in(&b, "P"), format!("P{:03}", p.last + 1));

    // kiosk-2 printed its first P and checked a booking in while cut off.
    let a = &demo.appointments[0].appointment;
    let a_lease = leases.iter().find(|l| l.service == a.service).unwrap();
    let offline = |ticket: String, booking: Option<(BookingId, chrono::NaiveDateTime)>| {
        queue::OfflineTicket {
            kiosk: "kiosk-2".into(),
            ticket: domain::TicketNumber::parse(&ticket).unwrap(),
            priority: if booking.is_some() {
                TicketPriority::Appointment
            } else {
                TicketPriority::WalkIn
            },
            booking,
            issued_at: clock.now() - Duration::minutes(3),
            clock_trusted: true,
            unanswered: false,
        }
    };
    let walk = offline(format!("P{:03}", p.first), None);
    let checked = offline(
        format!("{}{:03}", a.service, a_lease.first),
        Some((a.id, a.starts_at)),
    );
    assert_eq!(b.adopt(walk.clone(), None).unwrap(), Adopted::Taken);
    assert_eq!(
        b.adopt(checked.clone(), a.person_key).unwrap(),
        Adopted::Taken
    );
    assert_eq!(
        b.read(|_, s| s.appointment(a.id).unwrap().unwrap().state),
        AppointmentState::CheckedIn
    );
    // After a restart the node knows its leases and what it took in.
    let b = reopen(&path, &clock);
    assert_eq!(b.adopt(walk, None).unwrap(), Adopted::Already);
    assert_eq!(b.read(|q, _| q.leases().len()), services);
    let rows = b.read(|_, s| s.tickets_on(clock.today()).unwrap());
    let row = rows
        .iter()
        .find(|t| t.number.to_string() == format!("P{:03}", p.first))
        .unwrap();
    assert_eq!(row.issued_at, clock.now() - Duration::minutes(3));
    // The node's own kiosk checks the same booking in: the booking's ticket is kiosk-2's.
    let again = b.check_in(a.id, a.person_key).unwrap();
    assert!(again.already);
    assert_eq!(again.ticket.number, checked.ticket);
    let outbox = b.read(|_, s| s.outbox_pending(100).unwrap());
    assert!(
        outbox
            .iter()
            .any(|o| o.payload.contains(r#""kiosk":"kiosk-2""#) && o.payload.contains("offline_at")),
        "the hub hears which kiosk printed it, and when"
    );
}
