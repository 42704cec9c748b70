//! The queue engine: calling rules, refusals, replay, and property tests of its two promises —
//! no ticket goes to two counters, and every ticket is called within the stated bound.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use domain::{
    BookingId, Counter, CounterNumber, OpeningHours, PriorityCategory, Service, ServiceLetter,
    ServiceLevel, TicketNumber, TicketPriority, TicketState, UserMessage,
};
use proptest::prelude::*;
use queue::{
    Calendar, CancelReason, Closed, Command, Event, EventKind, Now, OfflineTicket, Queue,
    QueueError, QueueRules, local_to_utc,
};

fn letter(s: &str) -> ServiceLetter {
    ServiceLetter::parse(s).unwrap()
}

fn counter(n: u8) -> CounterNumber {
    CounterNumber::new(n).unwrap()
}

fn service(l: &str, appointment_only: bool) -> Service {
    Service {
        letter: letter(l),
        name: format!("Servizio {l}"),
        level: ServiceLevel::First,
        appointment_only,
        slot_minutes: 15,
    }
}

/// Thursday 2026-11-26, local time.
fn local(h: u32, m: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 26)
        .unwrap()
        .and_hms_opt(h, m, 0)
        .unwrap()
}

fn at(h: u32, m: u32) -> Now {
    Now::at(local_to_utc(local(h, m)), true)
}

fn later(now: Now, seconds: i64) -> Now {
    Now::at(now.at + Duration::seconds(seconds), now.trusted)
}

fn all_day(services: &[Service]) -> Calendar {
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    Calendar::new(
        services
            .iter()
            .flat_map(|s| {
                (1..=7).map(move |weekday| OpeningHours {
                    service: s.letter,
                    weekday,
                    opens: t(0),
                    closes: NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
                    appointment_only: s.appointment_only,
                })
            })
            .collect(),
    )
}

/// A: appointments only; P and R walk-in. Counter 1: P, R. Counter 2: A, P (P weighted 2).
/// Counter 3: everything.
fn branch(rules: QueueRules) -> Queue {
    let services = vec![service("A", true), service("P", false), service("R", false)];
    let counters = vec![
        Counter {
            number: counter(1),
            label: "Sportello 1".into(),
            services: vec![(letter("P"), 1), (letter("R"), 1)],
        },
        Counter {
            number: counter(2),
            label: "Sportello 2".into(),
            services: vec![(letter("A"), 1), (letter("P"), 2)],
        },
        Counter {
            number: counter(3),
            label: "Sportello 3".into(),
            services: vec![(letter("A"), 1), (letter("P"), 1), (letter("R"), 1)],
        },
    ];
    let calendar = all_day(&services);
    Queue::new(rules, calendar, services, counters)
}

struct Run {
    q: Queue,
    log: Vec<Event>,
}

impl Run {
    fn new(rules: QueueRules, now: Now) -> Self {
        let mut q = branch(rules);
        let log = q.roll_day(now);
        Self { q, log }
    }

    fn cmd(&mut self, c: Command, now: Now) -> Result<Vec<Event>, QueueError> {
        let events = self.q.handle(c, now)?;
        self.log.extend(events.iter().cloned());
        Ok(events)
    }

    fn ok(&mut self, c: Command, now: Now) -> Vec<Event> {
        let what = format!("{c:?}");
        self.cmd(c, now).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    fn walk_in(&mut self, s: &str, now: Now) -> TicketNumber {
        self.issue(s, TicketPriority::WalkIn, now)
    }

    fn issue(&mut self, s: &str, priority: TicketPriority, now: Now) -> TicketNumber {
        let events = self.ok(
            Command::Issue {
                service: letter(s),
                priority,
                booking: None,
                kiosk: None,
            },
            now,
        );
        match events[0].kind {
            EventKind::TicketIssued { ticket, .. } => ticket,
            ref other => panic!("{other:?}"),
        }
    }

    fn open(&mut self, n: u8, now: Now) {
        self.ok(
            Command::OpenCounter {
                counter: counter(n),
                services: vec![],
                operator: "mrossi".into(),
            },
            now,
        );
    }

    fn call_next(&mut self, n: u8, now: Now) -> Result<TicketNumber, QueueError> {
        let events = self.cmd(
            Command::CallNext {
                counter: counter(n),
            },
            now,
        )?;
        match events[0].kind {
            EventKind::TicketCalled { ticket, .. } => Ok(ticket),
            ref other => panic!("{other:?}"),
        }
    }

    fn serve(&mut self, n: u8, t: TicketNumber, now: Now) {
        self.ok(
            Command::Serve {
                counter: counter(n),
                ticket: t,
            },
            now,
        );
    }
}

fn recall(r: &mut Run, n: u8, ticket: TicketNumber, now: Now) -> Result<EventKind, QueueError> {
    r.cmd(
        Command::Recall {
            counter: counter(n),
            ticket,
        },
        now,
    )
    .map(|e| e[0].kind.clone())
}

fn no_show(r: &mut Run, n: u8, ticket: TicketNumber, now: Now) -> Result<Vec<Event>, QueueError> {
    r.cmd(
        Command::NoShow {
            counter: counter(n),
            ticket,
        },
        now,
    )
}

#[test]
fn a_visitor_called_while_away_is_called_once_more_when_their_grace_ends_and_only_then_marked_absent()
 {
    let t0 = at(9, 0);
    // Five minutes for R, the sede's three for the others.
    let rules = QueueRules {
        recall_grace_by_service: [(letter("R"), 5)].into(),
        ..QueueRules::default()
    };
    let mut r = Run::new(rules, t0);
    r.open(1, t0);
    let p = r.walk_in("P", t0);
    let called = later(t0, 60);
    assert_eq!(r.call_next(1, called).unwrap(), p);
    let until = called.at + Duration::minutes(3);
    assert_eq!(r.q.recall_due(p), Some(until));
    assert_eq!(r.q.next_recall_due(), Some(until));
    // Before the grace ends: not absent, and staff's recalls up to the limit are only calls.
    let early = no_show(&mut r, 1, p, later(called, 30)).unwrap_err();
    assert_eq!(early, QueueError::GraceNotOver { ticket: p, until });
    assert_eq!(early.message_key(), "queue-grace-not-over");
    assert!(
        early.to_string().contains("ha tempo fino alle 09:04"),
        "{early}"
    );
    for n in 1..=2 {
        assert!(matches!(
            recall(&mut r, 1, p, later(called, 40)),
            Ok(EventKind::TicketRecalled { recalls, automatic: false, .. }) if recalls == n
        ));
    }
    assert_eq!(
        recall(&mut r, 1, p, later(called, 50)),
        Err(QueueError::GraceNotOver { ticket: p, until }),
        "the limit of recalls does not cut the grace short"
    );
    // Nothing due yet: the clock's tick makes no event.
    assert!(r.ok(Command::RecallDue, later(called, 179)).is_empty());
    let tick = r.ok(Command::RecallDue, later(called, 181));
    assert!(
        matches!(
            tick.as_slice(),
            [Event { kind: EventKind::TicketRecalled { ticket, automatic: true, .. }, .. }] if *ticket == p
        ),
        "{tick:?}"
    );
    assert_eq!(r.q.recall_due(p), None);
    assert_eq!(r.q.next_recall_due(), None);
    assert!(
        r.ok(Command::RecallDue, later(called, 240)).is_empty(),
        "once"
    );
    // Now the limit marks them absent, and so does staff.
    assert!(matches!(
        recall(&mut r, 1, p, later(called, 200)),
        Ok(EventKind::TicketNoShow {
            automatic: true,
            ..
        })
    ));
    // R's own grace; the ticket reaches the counter in time and is never recalled.
    let q = r.walk_in("R", later(called, 300));
    assert_eq!(r.call_next(1, later(called, 300)).unwrap(), q);
    assert_eq!(
        r.q.recall_due(q),
        Some(later(called, 300).at + Duration::minutes(5))
    );
    r.ok(
        Command::Start {
            counter: counter(1),
            ticket: q,
        },
        later(called, 400),
    );
    assert_eq!(r.q.recall_due(q), None, "at the counter");
    assert!(r.ok(Command::RecallDue, later(called, 3600)).is_empty());
    r.serve(1, q, later(called, 700));
    // A staff recall after the grace is the grace's call: absent right after it.
    let s = r.walk_in("P", later(called, 800));
    assert_eq!(r.call_next(1, later(called, 800)).unwrap(), s);
    assert!(no_show(&mut r, 1, s, later(called, 900)).is_err());
    recall(&mut r, 1, s, later(called, 800 + 181)).unwrap();
    no_show(&mut r, 1, s, later(called, 800 + 182)).unwrap();
    // The replayed log says the same.
    let mut replayed = branch(r.q.rules().clone());
    for e in &r.log {
        replayed.apply(e);
    }
    assert_eq!(replayed.ticket(p), r.q.ticket(p));
    let f = r.q.figures(later(called, 1000).at);
    let pf = f
        .services
        .iter()
        .find(|x| x.service == letter("P"))
        .unwrap();
    assert_eq!(
        pf.recalls, 4,
        "two by staff, the grace's, the one after it, and s's"
    );
    assert_eq!(pf.no_show, 2);
}

#[test]
fn a_counter_pauses_for_one_of_the_sedes_reasons_and_the_day_counts_its_time() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let pause = |r: &mut Run, reason: &str, now| {
        r.cmd(
            Command::PauseCounter {
                counter: counter(1),
                reason: reason.into(),
            },
            now,
        )
    };
    let refused = pause(&mut r, "Caffè", later(t0, 60)).unwrap_err();
    assert_eq!(refused, QueueError::UnknownPauseReason("Caffè".into()));
    assert!(refused.to_string().contains("non è tra i motivi di pausa"));
    assert_eq!(
        r.q.counter(counter(1)).unwrap().status,
        queue::CounterStatus::Open
    );
    // The sede's words, whatever the case typed.
    let events = pause(&mut r, "formazione", later(t0, 60 * 60)).unwrap();
    assert!(
        matches!(&events[0].kind, EventKind::CounterPaused { reason, .. } if reason == "Formazione")
    );
    assert_eq!(
        r.q.counter(counter(1)).unwrap().pause_reason.as_deref(),
        Some("Formazione")
    );
    assert!(
        pause(&mut r, "Pausa", later(t0, 61 * 60)).is_err(),
        "paused already"
    );
    r.open(1, later(t0, 90 * 60));
    pause(&mut r, "Pausa", later(t0, 120 * 60)).unwrap();
    r.ok(
        Command::CloseCounter {
            counter: counter(1),
        },
        later(t0, 135 * 60),
    );
    r.open(1, later(t0, 150 * 60));
    pause(&mut r, "Formazione", later(t0, 160 * 60)).unwrap();
    // Still paused at the figures' time: counted up to it.
    let f = r.q.figures(later(t0, 170 * 60).at);
    let by: BTreeMap<_, _> = f
        .pauses
        .iter()
        .map(|p| (p.reason.as_str(), (p.pauses, p.seconds)))
        .collect();
    assert_eq!(
        by,
        BTreeMap::from([("Formazione", (2, 40 * 60)), ("Pausa", (1, 15 * 60))])
    );
    let csv = f.to_csv();
    assert!(
        csv.contains(",pausa,\"Formazione\",,,,,,,,,,,,2,2400\r\n"),
        "{csv}"
    );
}

#[test]
fn the_share_of_counters_open_counts_only_the_services_opening_hours() {
    // P opens 9:00–13:00 on Thursdays; counters 1, 2 and 3 may serve it.
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    let services = vec![service("A", true), service("P", false), service("R", false)];
    let hours = services
        .iter()
        .map(|s| OpeningHours {
            service: s.letter,
            weekday: 4,
            opens: t(9),
            closes: t(13),
            appointment_only: s.appointment_only,
        })
        .collect();
    let counters = branch(QueueRules::default())
        .counters()
        .map(|c| c.config.clone())
        .collect();
    let mut q = Queue::new(
        QueueRules::default(),
        Calendar::new(hours),
        services,
        counters,
    );
    let mut r = Run {
        log: q.roll_day(at(8, 0)),
        q,
    };
    // Counter 1 from 8:00 (an hour before opening, not counted) to 13:00: 4 h of P's 12.
    r.open(1, at(8, 0));
    // Counter 3 for R only from 9:00 to 11:00: not P's.
    r.ok(
        Command::OpenCounter {
            counter: counter(3),
            services: vec![letter("R")],
            operator: "mbianchi".into(),
        },
        at(9, 0),
    );
    // Counter 2 for A and P from 10:00, paused 11:00–12:00: 2 h of P.
    r.open(2, at(10, 0));
    r.ok(
        Command::PauseCounter {
            counter: counter(2),
            reason: "Back office".into(),
        },
        at(11, 0),
    );
    r.open(2, at(12, 0));
    r.ok(
        Command::CloseCounter {
            counter: counter(3),
        },
        at(11, 0),
    );
    let f = r.q.figures(at(13, 0).at);
    let share = |l| {
        f.services
            .iter()
            .find(|s| s.service == letter(l))
            .unwrap()
            .counters_open_pct
    };
    // P: (4 + 2) of 3 × 4 hours = 50 %. R: counters 1 and 3, (4 + 2) of 2 × 4 = 75 %.
    assert_eq!(share("P"), Some(50));
    assert_eq!(share("R"), Some(75));
    // A: counter 2 open for it 2 h of counters 2 and 3 × 4 h.
    assert_eq!(share("A"), Some(25));
    // Mid-morning, of the hours so far: at 10:00 counter 1 has been open all of P's hour,
    // counters 2 and 3 not for P: a third.
    let early = r.q.figures(at(10, 0).at);
    let p = early
        .services
        .iter()
        .find(|s| s.service == letter("P"))
        .unwrap();
    assert_eq!(p.counters_open_pct, Some(33));
    let before = r.q.figures(at(8, 30).at);
    let p = before
        .services
        .iter()
        .find(|s| s.service == letter("P"))
        .unwrap();
    assert_eq!(p.counters_open_pct, None, "not open yet");
    assert_eq!(f.pauses.len(), 1);
    assert_eq!(f.pauses[0].seconds, 3600);
    // Left paused at closing time until the next morning: only the part within the hours.
    r.ok(
        Command::PauseCounter {
            counter: counter(1),
            reason: "Pausa".into(),
        },
        at(12, 30),
    );
    let next_morning = at(8, 0).at + Duration::days(1);
    let f = r.q.figures(next_morning);
    let pausa = f.pauses.iter().find(|p| p.reason == "Pausa").unwrap();
    assert_eq!(pausa.seconds, 30 * 60);
    let rolled = r.q.roll_day(Now::at(next_morning, true));
    let EventKind::DayClosed { figures } = &rolled[0].kind else {
        panic!("{rolled:?}")
    };
    assert_eq!(
        figures.pauses, f.pauses,
        "the day closes with the same figures"
    );
}

const PREGNANCY: TicketPriority = TicketPriority::Priority(PriorityCategory::Pregnancy);

#[test]
fn walk_ins_are_called_by_arrival_and_priority_ages_within_its_cap() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let p1 = r.walk_in("P", t0);
    let p2 = r.walk_in("P", later(t0, 60));
    // A priority ticket issued at 09:04. At 09:06 its 2 minutes count 4: P001 (6) leads.
    let prio = r.issue("P", PREGNANCY, later(t0, 240));
    assert_eq!(r.call_next(1, at(9, 6)).unwrap(), p1, "longest wait first");
    r.serve(1, p1, at(9, 6));
    let t = at(9, 10);
    assert_eq!(
        r.call_next(1, t).unwrap(),
        prio,
        "6 min of priority wait count 12, more than P002's 9"
    );
    r.serve(1, prio, t);
    assert_eq!(r.call_next(1, t).unwrap(), p2);
}

#[test]
fn the_cap_allows_one_priority_call_in_three_while_others_wait() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let regulars: Vec<_> = (0..4).map(|i| r.walk_in("R", later(t0, i))).collect();
    let prios: Vec<_> = (0..3)
        .map(|i| r.issue("R", PREGNANCY, later(t0, 10 + i)))
        .collect();
    let mut order = Vec::new();
    let mut now = at(9, 30);
    while let Ok(t) = r.call_next(1, now) {
        order.push(t);
        r.serve(1, t, now);
        now = later(now, 1);
    }
    // Priority tickets lead by aging, but at most one call in any three is a priority one.
    assert_eq!(
        order,
        vec![
            prios[0],
            regulars[0],
            regulars[1],
            prios[1],
            regulars[2],
            regulars[3],
            prios[2]
        ]
    );
}

#[test]
fn the_advance_of_priority_is_capped() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let early = r.walk_in("R", t0);
    // 25 minutes later: even doubled, the priority wait gains at most 20 minutes.
    let prio = r.issue("R", PREGNANCY, at(9, 25));
    let now = at(10, 30);
    assert_eq!(r.call_next(1, now).unwrap(), early);
    r.serve(1, early, now);
    assert_eq!(r.call_next(1, now).unwrap(), prio);
}

#[test]
fn appointments_are_called_from_their_booked_time_and_keep_it_when_late() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(2, t0);
    let booking = |n| BookingId::new(2026, n).unwrap();
    let early = r.ok(
        Command::Issue {
            service: letter("A"),
            priority: TicketPriority::Appointment,
            booking: Some((booking(1), local(9, 30))),
            kiosk: None,
        },
        t0,
    );
    let EventKind::TicketIssued { ticket: early, .. } = early[0].kind else {
        panic!()
    };
    let walk = r.walk_in("P", t0);
    assert_eq!(
        r.call_next(2, at(9, 10)).unwrap(),
        walk,
        "the appointment waits for 09:30"
    );
    r.serve(2, walk, at(9, 10));
    assert!(matches!(
        r.call_next(2, at(9, 20)),
        Err(QueueError::NobodyWaiting { .. })
    ));
    // A second walk-in at 09:25 and a late arrival for 09:20 (checked in at 09:31).
    let walk2 = r.walk_in("P", at(9, 25));
    let late = r.ok(
        Command::Issue {
            service: letter("A"),
            priority: TicketPriority::Appointment,
            booking: Some((booking(2), local(9, 20))),
            kiosk: None,
        },
        at(9, 31),
    );
    let EventKind::TicketIssued { ticket: late, .. } = late[0].kind else {
        panic!()
    };
    let now = at(9, 31);
    // Counter 2 weights P at 2 (+5 min): walk2 scores 6+5 = 11 min, the late appointment 11
    // min from 09:20, the 09:30 one 1 min. Ties go to the earlier eligible: walk2 (09:25).
    assert_eq!(r.call_next(2, now).unwrap(), walk2);
    r.serve(2, walk2, now);
    assert_eq!(r.call_next(2, now).unwrap(), late);
    r.serve(2, late, now);
    assert_eq!(r.call_next(2, now).unwrap(), early);
    // The same booking twice is the same ticket, never a second one.
    let again = r.cmd(
        Command::Issue {
            service: letter("A"),
            priority: TicketPriority::Appointment,
            booking: Some((booking(1), local(9, 30))),
            kiosk: None,
        },
        now,
    );
    assert_eq!(again, Err(QueueError::AlreadyCheckedIn { ticket: early }));
}

#[test]
fn recalls_end_in_an_automatic_no_show_that_can_be_reactivated_for_a_while() {
    let t0 = at(9, 0);
    // No grace to reach the counter here: the limit of recalls alone.
    let rules = QueueRules {
        recall_grace_min: 0,
        ..QueueRules::default()
    };
    let mut r = Run::new(rules, t0);
    r.open(1, t0);
    let a = r.walk_in("P", t0);
    let b = r.walk_in("P", later(t0, 5));
    assert_eq!(r.call_next(1, later(t0, 10)).unwrap(), a);
    let recall = |r: &mut Run| {
        r.cmd(
            Command::Recall {
                counter: counter(1),
                ticket: a,
            },
            later(t0, 10),
        )
        .unwrap()[0]
            .kind
            .clone()
    };
    assert!(matches!(
        recall(&mut r),
        EventKind::TicketRecalled { recalls: 1, .. }
    ));
    assert!(matches!(
        recall(&mut r),
        EventKind::TicketRecalled { recalls: 2, .. }
    ));
    assert!(matches!(
        recall(&mut r),
        EventKind::TicketNoShow {
            automatic: true,
            ..
        }
    ));
    assert_eq!(r.q.ticket(a).unwrap().state, TicketState::NoShow);
    assert_eq!(
        r.call_next(1, later(t0, 10)).unwrap(),
        b,
        "the counter is free again"
    );
    r.serve(1, b, later(t0, 10));
    // Back within 30 minutes: in its place again, ahead of anyone who came later.
    r.ok(Command::Reactivate { ticket: a }, later(t0, 20 * 60));
    let c = r.walk_in("P", later(t0, 21 * 60));
    assert_eq!(r.call_next(1, later(t0, 22 * 60)).unwrap(), a);
    r.ok(
        Command::NoShow {
            counter: counter(1),
            ticket: a,
        },
        later(t0, 22 * 60),
    );
    let err = r
        .cmd(Command::Reactivate { ticket: a }, later(t0, 53 * 60))
        .unwrap_err();
    assert_eq!(
        err,
        QueueError::ReactivationExpired {
            ticket: a,
            minutes: 30
        }
    );
    assert_eq!(err.message_key(), "queue-reactivation-expired");
    assert_eq!(r.call_next(1, later(t0, 53 * 60)).unwrap(), c);
}

#[test]
fn stale_and_impossible_commands_are_refused_with_a_message_and_change_nothing() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    r.open(3, t0);
    let a = r.walk_in("P", t0);
    let b = r.walk_in("P", t0);
    // Two operators press "call next" at the same instant: the sequencer gives two tickets.
    let first = r.call_next(1, t0).unwrap();
    let second = r.call_next(3, t0).unwrap();
    assert_eq!(BTreeSet::from([first, second]), BTreeSet::from([a, b]));
    let before = r.log.len();
    let busy = r.call_next(1, t0).unwrap_err();
    assert_eq!(
        busy,
        QueueError::CounterBusy {
            counter: counter(1),
            ticket: first
        }
    );
    assert!(busy.to_string().contains("ha già il biglietto"));
    // Counter 3's page is stale: it tries to recall the ticket counter 1 has.
    let stale = r
        .cmd(
            Command::Recall {
                counter: counter(3),
                ticket: first,
            },
            t0,
        )
        .unwrap_err();
    assert_eq!(
        stale.to_string(),
        format!("operazione non più valida: il biglietto {first} è chiamato allo sportello 1")
    );
    r.serve(1, first, t0);
    let again = r
        .cmd(
            Command::Serve {
                counter: counter(1),
                ticket: first,
            },
            t0,
        )
        .unwrap_err();
    assert!(again.to_string().contains("è già stato servito"));
    assert!(matches!(
        r.cmd(
            Command::CallNext {
                counter: counter(2)
            },
            t0
        ),
        Err(QueueError::CounterNotOpen { .. })
    ));
    assert!(matches!(
        r.cmd(
            Command::Issue {
                service: letter("A"),
                priority: TicketPriority::WalkIn,
                booking: None,
                kiosk: None,
            },
            t0
        ),
        Err(QueueError::AppointmentOnly(_))
    ));
    assert_eq!(r.log.len(), before + 2, "only the serve was recorded");
}

#[test]
fn transfer_keeps_the_place_and_the_number() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let a = r.walk_in("P", t0);
    assert_eq!(r.call_next(1, t0).unwrap(), a);
    let later_r = r.walk_in("R", later(t0, 60));
    r.ok(
        Command::Transfer {
            counter: counter(1),
            ticket: a,
            to: letter("R"),
        },
        later(t0, 120),
    );
    assert_eq!(r.q.ticket(a).unwrap().service, letter("R"));
    assert_eq!(r.q.waiting_counts()[&letter("R")], 2);
    assert_eq!(
        r.call_next(1, later(t0, 130)).unwrap(),
        a,
        "waited since 09:00"
    );
    r.serve(1, a, later(t0, 140));
    assert_eq!(r.call_next(1, later(t0, 150)).unwrap(), later_r);
}

#[test]
fn the_calendar_and_the_daily_cap_stop_walk_ins_with_their_reason() {
    let services = vec![service("P", false)];
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let calendar = Calendar::new(vec![
        OpeningHours {
            service: letter("P"),
            weekday: 4,
            opens: t(8, 30),
            closes: t(12, 30),
            appointment_only: false,
        },
        OpeningHours {
            service: letter("P"),
            weekday: 4,
            opens: t(15, 0),
            closes: t(18, 0),
            appointment_only: true,
        },
    ]);
    let rules = QueueRules {
        daily_cap: 2,
        ..QueueRules::default()
    };
    let mut q = Queue::new(rules, calendar, services, vec![]);
    q.roll_day(at(8, 0));
    let walk_in = |q: &mut Queue, now| {
        q.handle(
            Command::Issue {
                service: letter("P"),
                priority: TicketPriority::WalkIn,
                booking: None,
                kiosk: None,
            },
            now,
        )
    };
    let closed = |why| {
        Err(QueueError::ServiceClosed {
            service: letter("P"),
            why,
        })
    };
    assert_eq!(walk_in(&mut q, at(8, 0)), closed(Closed::OutsideHours));
    assert_eq!(walk_in(&mut q, at(12, 20)), closed(Closed::WalkInsStopped));
    assert_eq!(walk_in(&mut q, at(16, 0)), closed(Closed::AppointmentsOnly));
    assert!(walk_in(&mut q, at(9, 0)).is_ok());
    // Untrusted, the hour is unknown: the kiosk keeps issuing rather than refuse on a guess.
    let untrusted = Now::at(at(8, 0).at, false);
    assert!(walk_in(&mut q, untrusted).is_ok());
    let capped = walk_in(&mut q, at(9, 1)).unwrap_err();
    assert_eq!(
        capped,
        QueueError::DailyCapReached {
            service: letter("P"),
            cap: 2
        }
    );
    assert_eq!(
        capped.to_string(),
        "per oggi il servizio P ha esaurito i 2 biglietti disponibili"
    );
}

#[test]
fn the_day_closes_only_with_a_trusted_clock_and_rolls_over_only_then() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let a = r.walk_in("P", t0);
    let b = r.walk_in("P", t0);
    assert_eq!(r.call_next(1, at(9, 4)).unwrap(), a);
    r.ok(
        Command::Start {
            counter: counter(1),
            ticket: a,
        },
        at(9, 5),
    );
    r.serve(1, a, at(9, 13));
    let untrusted = Now::at(at(18, 0).at, false);
    assert_eq!(
        r.cmd(Command::CloseDay, untrusted),
        Err(QueueError::ClockUntrusted)
    );
    // The next day by an untrusted clock: numbering stays on the same day.
    let tomorrow_untrusted = Now::at(at(9, 0).at + Duration::days(1), false);
    assert!(r.q.roll_day(tomorrow_untrusted).is_empty());
    let events = r.ok(Command::CloseDay, at(19, 0));
    let EventKind::DayClosed { figures } = &events[0].kind else {
        panic!()
    };
    let p = figures
        .services
        .iter()
        .find(|s| s.service == letter("P"))
        .unwrap();
    assert_eq!((p.issued, p.served, p.waiting), (2, 1, 1));
    assert_eq!(p.wait_mean_s, Some(240));
    assert_eq!(p.service_mean_s, Some(8 * 60));
    assert_eq!(
        p.walk_mean_s,
        Some(60),
        "called at 9:04, at the counter at 9:05"
    );
    let csv = figures.to_csv();
    assert!(
        csv.contains("2026-11-26,servizio,P,2,1,0,0,1,240,240,480,60,0,"),
        "{csv}"
    );
    assert_eq!(
        r.q.ticket(b).unwrap().state,
        TicketState::Cancelled,
        "moved to history"
    );
    assert_eq!(
        r.cmd(
            Command::CallNext {
                counter: counter(1)
            },
            at(19, 1)
        ),
        Err(QueueError::DayClosed)
    );
    let next = r.q.roll_day(Now::at(at(8, 0).at + Duration::days(1), true));
    assert!(matches!(
        next[..],
        [Event {
            kind: EventKind::DayOpened { .. },
            ..
        }]
    ));
    let first = r.walk_in("P", Now::at(at(9, 0).at + Duration::days(1), true));
    assert_eq!(
        first.to_string(),
        "P001",
        "numbers start again on a new day"
    );
}

#[test]
fn events_round_trip_through_json_and_replay_to_the_same_state() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    let a = r.walk_in("P", t0);
    r.issue("R", PREGNANCY, t0);
    let called = r.call_next(1, at(9, 10)).unwrap();
    assert_ne!(called, a, "the priority ticket's 10 minutes count 20");
    r.ok(
        Command::Recall {
            counter: counter(1),
            ticket: called,
        },
        at(9, 11),
    );
    r.ok(
        Command::RequestAssistance {
            kiosk: "kiosk-1".into(),
        },
        at(9, 12),
    );
    let json: Vec<String> = r
        .log
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    assert!(json[2].contains(r#""type":"ticket_issued""#), "{}", json[2]);
    let mut replayed = branch(QueueRules::default());
    for line in &json {
        replayed.apply(&serde_json::from_str::<Event>(line).unwrap());
    }
    assert_same(&r.q, &replayed);
}

// ---- several kiosks: leased numbers and tickets taken in from a kiosk cut off ----

impl Run {
    fn lease(&mut self, kiosk: &str, s: &str, count: u16, now: Now) -> (u16, u16) {
        let events = self.ok(
            Command::Lease {
                kiosk: kiosk.into(),
                service: letter(s),
                count,
            },
            now,
        );
        match events[0].kind {
            EventKind::NumbersLeased { first, last, .. } => (first, last),
            ref other => panic!("{other:?}"),
        }
    }

    fn adopt(
        &mut self,
        kiosk: &str,
        ticket: &str,
        booking: Option<(BookingId, NaiveDateTime)>,
        printed: Now,
        now: Now,
    ) -> Result<Vec<Event>, QueueError> {
        let priority = if booking.is_some() {
            TicketPriority::Appointment
        } else {
            TicketPriority::WalkIn
        };
        self.cmd(
            Command::Adopt(OfflineTicket {
                kiosk: kiosk.into(),
                ticket: TicketNumber::parse(ticket).unwrap(),
                priority,
                booking,
                issued_at: printed.at,
                clock_trusted: true,
                unanswered: false,
            }),
            now,
        )
    }
}

#[test]
fn leased_numbers_are_never_given_by_the_node_and_a_ticket_printed_offline_waits_from_its_print() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(1, t0);
    assert_eq!(r.walk_in("P", t0).to_string(), "P001");
    assert_eq!(r.lease("kiosk-2", "P", 10, t0), (2, 11));
    assert_eq!(r.lease("kiosk-3", "P", 5, t0), (12, 16));
    assert_eq!(
        r.walk_in("P", at(9, 1)).to_string(),
        "P017",
        "the node goes on after the blocks"
    );
    // kiosk-2, cut off at 09:02, printed P002 at 09:05; the node hears of it at 09:20, after
    // P018 was issued at 09:10. P002 waited longer: it is called first.
    let p18 = r.walk_in("P", at(9, 10));
    let events = r
        .adopt("kiosk-2", "P002", None, at(9, 5), at(9, 20))
        .unwrap();
    let EventKind::TicketIssued {
        kiosk, offline_at, ..
    } = &events[0].kind
    else {
        panic!("{events:?}")
    };
    assert_eq!(kiosk.as_deref(), Some("kiosk-2"));
    assert_eq!(*offline_at, Some(at(9, 5).at));
    let p2 = r.q.ticket(TicketNumber::parse("P002").unwrap()).unwrap();
    assert_eq!(
        p2.issued_at,
        at(9, 5).at,
        "the printed time, not the merge's"
    );
    assert!(p2.offline);
    for first in ["P001", "P017"] {
        let t = TicketNumber::parse(first).unwrap();
        assert_eq!(r.call_next(1, at(9, 21)).unwrap(), t);
        r.serve(1, t, at(9, 21));
    }
    assert_eq!(
        r.call_next(1, at(9, 22)).unwrap().to_string(),
        "P002",
        "09:05 before 09:10"
    );
    r.serve(1, TicketNumber::parse("P002").unwrap(), at(9, 22));
    assert_eq!(r.call_next(1, at(9, 23)).unwrap(), p18);
    // The same ticket handed over again (the answer was lost) changes nothing.
    assert_eq!(
        r.adopt("kiosk-2", "P002", None, at(9, 5), at(9, 30)),
        Ok(vec![])
    );
    // Numbers never leased to the kiosk, or already given, are refused.
    assert_eq!(
        r.adopt("kiosk-2", "P012", None, at(9, 6), at(9, 30)),
        Err(QueueError::NotLeased {
            ticket: TicketNumber::parse("P012").unwrap(),
            kiosk: "kiosk-2".into()
        })
    );
    assert!(matches!(
        r.adopt("kiosk-3", "P017", None, at(9, 6), at(9, 30)),
        Err(QueueError::NotLeased { .. })
    ));
    assert_eq!(
        r.adopt("kiosk-9", "P001", None, at(9, 6), at(9, 30)),
        Err(QueueError::NotLeased {
            ticket: TicketNumber::parse("P001").unwrap(),
            kiosk: "kiosk-9".into()
        })
    );
    let mut replayed = branch(QueueRules::default());
    for e in &r.log {
        let json = serde_json::to_string(e).unwrap();
        replayed.apply(&serde_json::from_str::<Event>(&json).unwrap());
    }
    assert_same(&r.q, &replayed);
    assert_eq!(replayed.leases(), r.q.leases());
}

#[test]
fn a_booking_checked_in_on_both_sides_of_a_partition_is_called_once() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(2, t0);
    let booking = BookingId::new(2026, 7).unwrap();
    r.lease("kiosk-2", "A", 5, t0);
    // At the node's kiosk, then at kiosk-2 cut off (the visitor tried both).
    let first = r.ok(
        Command::Issue {
            service: letter("A"),
            priority: TicketPriority::Appointment,
            booking: Some((booking, local(9, 10))),
            kiosk: None,
        },
        at(9, 1),
    );
    let EventKind::TicketIssued { ticket: first, .. } = first[0].kind else {
        panic!()
    };
    assert_eq!(first.to_string(), "A006");
    let events = r
        .adopt(
            "kiosk-2",
            "A001",
            Some((booking, local(9, 10))),
            at(9, 2),
            at(9, 3),
        )
        .unwrap();
    assert!(
        matches!(
            events[1].kind,
            EventKind::TicketCancelled {
                reason: CancelReason::Duplicate,
                ..
            }
        ),
        "{events:?}"
    );
    assert_eq!(r.q.ticket_of_booking(booking).unwrap().number, first);
    assert_eq!(r.call_next(2, at(9, 10)).unwrap(), first);
    r.serve(2, first, at(9, 11));
    assert!(matches!(
        r.call_next(2, at(9, 12)),
        Err(QueueError::NobodyWaiting { .. })
    ));
}

#[test]
fn a_check_in_whose_answer_never_reached_its_kiosk_is_replaced_by_the_ticket_the_kiosk_printed() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.open(2, t0);
    let booking = BookingId::new(2026, 7).unwrap();
    r.lease("kiosk-2", "A", 5, t0);
    // kiosk-2 asked the node, which checked the booking in as A006; the answer was late, the
    // kiosk gave up and printed A001 from its lease. Only A001 is on paper.
    let online = r.ok(
        Command::Issue {
            service: letter("A"),
            priority: TicketPriority::Appointment,
            booking: Some((booking, local(9, 10))),
            kiosk: Some("kiosk-2".into()),
        },
        at(9, 1),
    );
    let EventKind::TicketIssued { ticket: unseen, .. } = online[0].kind else {
        panic!()
    };
    let events = r
        .cmd(
            Command::Adopt(OfflineTicket {
                kiosk: "kiosk-2".into(),
                ticket: TicketNumber::parse("A001").unwrap(),
                priority: TicketPriority::Appointment,
                booking: Some((booking, local(9, 10))),
                issued_at: at(9, 1).at,
                clock_trusted: true,
                unanswered: true,
            }),
            at(9, 2),
        )
        .unwrap();
    assert!(
        matches!(
            events[0].kind,
            EventKind::TicketCancelled {
                ticket,
                reason: CancelReason::Replaced,
            } if ticket == unseen
        ),
        "{events:?}"
    );
    let printed = TicketNumber::parse("A001").unwrap();
    assert_eq!(r.q.ticket_of_booking(booking).unwrap().number, printed);
    assert_eq!(r.call_next(2, at(9, 10)).unwrap(), printed);
    r.serve(2, printed, at(9, 11));
    assert!(
        matches!(
            r.call_next(2, at(9, 12)),
            Err(QueueError::NobodyWaiting { .. })
        ),
        "the booking is called once"
    );
    // Replayed from the log, the booking's ticket is the printed one.
    let mut replayed = branch(QueueRules::default());
    for e in &r.log {
        replayed.apply(e);
    }
    assert_same(&r.q, &replayed);
    assert_eq!(replayed.ticket_of_booking(booking).unwrap().number, printed);
}

#[test]
fn a_ticket_printed_offline_and_handed_over_after_the_day_closed_is_kept_as_closed() {
    let t0 = at(9, 0);
    let mut r = Run::new(QueueRules::default(), t0);
    r.lease("kiosk-2", "R", 5, t0);
    r.ok(Command::CloseDay, at(17, 0));
    let events = r
        .adopt("kiosk-2", "R003", None, at(16, 59), at(17, 5))
        .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    let t = r.q.ticket(TicketNumber::parse("R003").unwrap()).unwrap();
    assert_eq!(t.state, TicketState::Cancelled);
    // A closed day leases nothing more.
    assert_eq!(
        r.cmd(
            Command::Lease {
                kiosk: "kiosk-2".into(),
                service: letter("R"),
                count: 5
            },
            at(17, 6)
        ),
        Err(QueueError::DayClosed)
    );
}

#[test]
fn a_lease_is_cut_at_the_daily_cap_and_none_is_given_past_it() {
    let t0 = at(9, 0);
    let rules = QueueRules {
        daily_cap: 8,
        ..QueueRules::default()
    };
    let mut r = Run::new(rules, t0);
    r.walk_in("P", t0);
    assert_eq!(r.lease("kiosk-2", "P", 30, t0), (2, 8));
    assert!(matches!(
        r.cmd(
            Command::Lease {
                kiosk: "kiosk-3".into(),
                service: letter("P"),
                count: 5
            },
            t0
        ),
        Err(QueueError::DailyCapReached { .. })
    ));
    assert!(matches!(
        r.cmd(
            Command::Issue {
                service: letter("P"),
                priority: TicketPriority::WalkIn,
                booking: None,
                kiosk: None
            },
            t0
        ),
        Err(QueueError::DailyCapReached { .. })
    ));
}

fn assert_same(a: &Queue, b: &Queue) {
    assert_eq!(
        a.tickets().collect::<Vec<_>>(),
        b.tickets().collect::<Vec<_>>()
    );
    assert_eq!(
        a.counters().collect::<Vec<_>>(),
        b.counters().collect::<Vec<_>>()
    );
    assert_eq!(
        a.recent_calls().collect::<Vec<_>>(),
        b.recent_calls().collect::<Vec<_>>()
    );
    assert_eq!(
        a.assistance().collect::<Vec<_>>(),
        b.assistance().collect::<Vec<_>>()
    );
    assert_eq!(a.day(), b.day());
}

// ---- property: no ticket at two counters, whatever the interleaving ----

#[derive(Debug, Clone)]
enum Op {
    Issue(u8, u8),
    CallNext(u8),
    Call(u8, u8),
    Recall(u8),
    NoShow(u8),
    Serve(u8),
    Transfer(u8, u8),
    Reactivate(u8),
    Cancel(u8),
    Pause(u8),
    Open(u8),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..3, 0u8..3).prop_map(|(s, p)| Op::Issue(s, p)),
        4 => (1u8..=3).prop_map(Op::CallNext),
        1 => (1u8..=3, any::<u8>()).prop_map(|(c, t)| Op::Call(c, t)),
        1 => (1u8..=3).prop_map(Op::Recall),
        1 => (1u8..=3).prop_map(Op::NoShow),
        2 => (1u8..=3).prop_map(Op::Serve),
        1 => (1u8..=3, 0u8..3).prop_map(|(c, s)| Op::Transfer(c, s)),
        1 => any::<u8>().prop_map(Op::Reactivate),
        1 => any::<u8>().prop_map(Op::Cancel),
        1 => (1u8..=3).prop_map(Op::Pause),
        1 => (1u8..=3).prop_map(Op::Open),
        2 => (0u16..900).prop_map(Op::Wait),
    ]
}

fn check_invariants(q: &Queue) -> Result<(), TestCaseError> {
    let mut held = BTreeMap::new();
    for c in q.counters() {
        if let Some(t) = c.current {
            prop_assert!(held.insert(t, c.config.number).is_none(), "{t} held twice");
            let state = q.ticket(t).unwrap().state;
            prop_assert!(
                state == TicketState::Called(c.config.number)
                    || state == TicketState::InService(c.config.number),
                "{t} at counter {} but {state:?}",
                c.config.number
            );
        }
    }
    for t in q.tickets() {
        if let TicketState::Called(c) | TicketState::InService(c) = t.state {
            prop_assert_eq!(held.get(&t.number), Some(&c), "{} not held", t.number);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_ticket_is_ever_at_two_counters_and_replay_rebuilds_the_state(
        ops in prop::collection::vec(op(), 1..150)
    ) {
        let letters = ["A", "P", "R"];
        let mut now = at(9, 0);
        let mut r = Run::new(QueueRules::default(), now);
        for n in 1..=3 { r.open(n, now); }
        let mut booking = 0;
        for op in ops {
            let current = |r: &Run, c: u8| r.q.counter(counter(c)).unwrap().current;
            let nth = |r: &Run, i: u8| {
                let v: Vec<_> = r.q.tickets().map(|t| t.number).collect();
                (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
            };
            let cmd = match op {
                Op::Issue(s, p) => {
                    let service = letter(letters[usize::from(s)]);
                    if s == 0 {
                        booking += 1;
                        Some(Command::Issue {
                            service,
                            priority: TicketPriority::Appointment,
                            booking: Some((BookingId::new(2026, booking).unwrap(), now.local)),
                            kiosk: None,
                        })
                    } else {
                        let priority = if p == 0 { PREGNANCY } else { TicketPriority::WalkIn };
                        Some(Command::Issue { service, priority, booking: None, kiosk: None })
                    }
                }
                Op::CallNext(c) => Some(Command::CallNext { counter: counter(c) }),
                Op::Call(c, i) => nth(&r, i).map(|ticket| Command::Call { counter: counter(c), ticket }),
                Op::Recall(c) => current(&r, c).map(|ticket| Command::Recall { counter: counter(c), ticket }),
                Op::NoShow(c) => current(&r, c).map(|ticket| Command::NoShow { counter: counter(c), ticket }),
                Op::Serve(c) => current(&r, c).map(|ticket| Command::Serve { counter: counter(c), ticket }),
                Op::Transfer(c, s) => current(&r, c).map(|ticket| Command::Transfer {
                    counter: counter(c), ticket, to: letter(letters[usize::from(s)])
                }),
                Op::Reactivate(i) => nth(&r, i).map(|ticket| Command::Reactivate { ticket }),
                Op::Cancel(i) => nth(&r, i).map(|ticket| Command::Cancel { ticket }),
                Op::Pause(c) => Some(Command::PauseCounter { counter: counter(c), reason: "Pausa".into() }),
                Op::Open(c) => Some(Command::OpenCounter { counter: counter(c), services: vec![], operator: "op".into() }),
                Op::Wait(s) => { now = later(now, i64::from(s)); None }
            };
            if let Some(cmd) = cmd {
                let before = r.log.len();
                if r.cmd(cmd, now).is_err() {
                    prop_assert_eq!(r.log.len(), before);
                }
            }
            check_invariants(&r.q)?;
        }
        let mut replayed = branch(QueueRules::default());
        for e in &r.log { replayed.apply(e); }
        assert_same(&r.q, &replayed);
    }
}

// ---- property: every ticket is called within B calls of becoming eligible ----

#[derive(Debug, Clone)]
struct Arrival {
    after_s: u16,
    service: u8,
    kind: u8,
    late_s: u16,
}

fn arrival() -> impl Strategy<Value = Arrival> {
    (0u16..400, 0u8..3, 0u8..4, 0u16..900).prop_map(|(after_s, service, kind, late_s)| Arrival {
        after_s,
        service,
        kind,
        late_s,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// The bound stated in ARCHITECTURE.md: with A the largest head start (`max_advance_min`),
    /// k the priority window, p the priority calls allowed in it and N the counters serving
    /// the ticket's service, a ticket T is called within B(T) calls at those counters after it
    /// becomes eligible, where E(T) are the tickets those counters serve that became eligible
    /// no later than A after T and were not called before T became eligible, and
    /// `B(T) = |E(T)|` for a regular ticket, `|E(T)| + (k−1)·(|E_priority(T)| + p·N)` for a
    /// priority one.
    #[test]
    fn every_ticket_is_called_within_the_bound(
        arrivals in prop::collection::vec(arrival(), 1..120),
        calls in prop::collection::vec((1u8..=3, 0u16..300), 1..200),
    ) {
        let rules = QueueRules::default();
        let letters = ["A", "P", "R"];
        let start = at(9, 0);
        // Arrivals and calls merged on one timeline.
        let mut timeline: Vec<(DateTime<Utc>, Result<Arrival, u8>)> = Vec::new();
        let mut t = start.at;
        for a in &arrivals {
            t += Duration::seconds(i64::from(a.after_s));
            timeline.push((t, Ok(a.clone())));
        }
        let mut t = start.at;
        for (c, gap) in &calls {
            t += Duration::seconds(i64::from(*gap));
            timeline.push((t, Err(*c)));
        }
        // Then drain: keep calling until nobody waits.
        let end = timeline.iter().map(|(t, _)| *t).max().unwrap();
        for i in 0..(arrivals.len() as i64 * 3 + 10) {
            timeline.push((end + Duration::seconds(60 * (i + 1)), Err(1 + (i % 3) as u8)));
        }
        timeline.sort_by_key(|(t, _)| *t);

        let mut r = Run::new(rules.clone(), start);
        for n in 1..=3 { r.open(n, start); }
        let mut booking = 0;
        let mut call_log: Vec<(DateTime<Utc>, CounterNumber, TicketNumber)> = Vec::new();
        for (when, what) in timeline {
            let now = Now::at(when, true);
            match what {
                Ok(a) => {
                    let service = letter(letters[usize::from(a.service)]);
                    let cmd = if a.service == 0 {
                        booking += 1;
                        // Booked up to 15 min ago (late) or, for half of them, up to 15 min ahead.
                        let offset = if a.kind % 2 == 0 { -i64::from(a.late_s) } else { i64::from(a.late_s) };
                        let booked = now.local + Duration::seconds(offset);
                        Command::Issue {
                            service,
                            priority: TicketPriority::Appointment,
                            booking: Some((BookingId::new(2026, booking).unwrap(), booked)),
                            kiosk: None,
                        }
                    } else {
                        let priority = if a.kind == 0 { PREGNANCY } else { TicketPriority::WalkIn };
                        Command::Issue { service, priority, booking: None, kiosk: None }
                    };
                    r.ok(cmd, now);
                }
                Err(c) => {
                    if let Ok(ticket) = r.call_next(c, now) {
                        call_log.push((when, counter(c), ticket));
                        r.serve(c, ticket, now);
                    }
                }
            }
        }
        let max_weight = r.q.counters().flat_map(|c| c.services.iter().map(|(_, w)| *w)).max().unwrap();
        let a = Duration::minutes(i64::from(rules.max_advance_min(max_weight)));
        let k = usize::from(rules.priority_window);
        let p = usize::from(rules.priority_calls);
        let called_at: BTreeMap<TicketNumber, DateTime<Utc>> =
            call_log.iter().map(|(t, _, n)| (*n, *t)).collect();
        let tickets: Vec<_> = r.q.tickets().cloned().collect();
        for t in &tickets {
            let serving: BTreeSet<CounterNumber> = r.q.counters()
                .filter(|c| c.services.iter().any(|(s, _)| *s == t.service))
                .map(|c| c.config.number)
                .collect();
            let reachable: BTreeSet<ServiceLetter> = r.q.counters()
                .filter(|c| serving.contains(&c.config.number))
                .flat_map(|c| c.services.iter().map(|(s, _)| *s))
                .collect();
            let e: Vec<_> = tickets.iter().filter(|u| {
                u.number != t.number
                    && reachable.contains(&u.service)
                    && u.eligible_at <= t.eligible_at + a
                    && called_at.get(&u.number).is_none_or(|c| *c >= t.eligible_at)
            }).collect();
            let e_priority = e.iter().filter(|u| u.is_priority()).count();
            let bound = if t.is_priority() {
                e.len() + (k - 1) * (e_priority + p * serving.len())
            } else {
                e.len()
            };
            let called = called_at.get(&t.number);
            prop_assert!(called.is_some(), "{} never called", t.number);
            let calls_before = call_log.iter()
                .filter(|(when, c, n)| serving.contains(c) && *when >= t.eligible_at && *n != t.number
                    && *when <= *called.unwrap())
                .count();
            prop_assert!(calls_before <= bound, "{}: {} calls before it, bound {}", t.number, calls_before, bound);
        }
    }
}
