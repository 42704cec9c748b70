//! The session driven by hand: no Slint, no hub, no thread.

use super::*;
use chrono::{NaiveDate, TimeZone};
use domain::TipoDelegato;
use domain::contatti::{Direction, RequestState};
use protocol::wire::ContactMessage;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap()
}

fn company() -> (CompanyChoice, CompanySummary) {
    let demo = demo::DemoBranch::generate(7, now().naive_utc());
    let c = &demo.companies[0];
    let summary = demo::cassetto::summary(
        7,
        c,
        c.matricole[0],
        &demo.sede,
        &[("Maria Rossi".into(), "Legale rappresentante")],
        now().date_naive(),
    );
    let choice = CompanyChoice {
        matricola: c.matricole[0],
        company_cf: c.cf.clone(),
        denominazione: c.name.clone(),
        role: TipoDelegato::Azienda,
    };
    (choice, summary)
}

fn started(url: &str, seconds: i64) -> Reply {
    Reply::Started(Ok(HandoffStarted {
        id: "h1".into(),
        url: url.into(),
        expires_at: now() + chrono::Duration::seconds(seconds),
        code: "0427".into(),
    }))
}

/// The hub's answer once the visitor is identified, with what the phone sent last.
fn bound(company: CompanyChoice, sent: Option<&str>) -> Reply {
    Reply::Status(Ok(HandoffState::Bound {
        name: "Maria Rossi".into(),
        companies: vec![company],
        until: now() + chrono::Duration::seconds(300),
        task: None,
        sent: sent.map(str::to_owned),
    }))
}

/// The one job the session asked for, with its generation.
fn one(jobs: Vec<Job>) -> Job {
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.into_iter().next().unwrap()
}

fn request(state: RequestState) -> ContactRequest {
    ContactRequest {
        protocol: format!("AC-{}", state.name()),
        topic: "generica".into(),
        subject: "Rimborso".into(),
        state,
        created_at: now(),
        messages: vec![ContactMessage {
            at: now(),
            direction: Direction::In,
            body: "Buongiorno".into(),
        }],
        attachments: Vec::new(),
        clock: None,
        offered_slot: None,
    }
}

fn agenda(slots: usize) -> AgendaView {
    let day = NaiveDate::from_ymd_opt(2026, 12, 9).unwrap();
    AgendaView {
        sede: "7001".into(),
        service: "A".into(),
        service_name: "Aziende".into(),
        slots: (0..slots)
            .map(|i| day.and_hms_opt(9, 0, 0).unwrap() + chrono::Duration::minutes(20 * i as i64))
            .collect(),
        bookings: Vec::new(),
    }
}

/// A visitor identified, the company chosen and its summary on screen.
fn on_summary(slots: usize) -> (Session, Matricola) {
    let mut s = Session::new();
    let start = one(s.handle(Event::Open { now: now() }));
    assert_eq!(start.effect, Effect::Start);
    assert_eq!(s.phase(), Phase::Connecting);
    s.handle(Event::Reply(
        start.generation,
        started("https://hub.example/h/secret", 300),
    ));
    let (choice, summary) = company();
    let status = one(s.handle(Event::Tick {
        on_screen: true,
        now: now(),
    }));
    s.handle(Event::Reply(status.generation, bound(choice.clone(), None)));
    let read = one(s.handle(Event::ChooseCompany(0)));
    s.handle(Event::Reply(
        read.generation,
        Reply::Company(Ok(Some(Box::new(CompanyFile {
            summary,
            requests: vec![request(RequestState::Aperta), request(RequestState::Chiusa)],
            istanze: None,
            agenda: Some(agenda(slots)),
        })))),
    ));
    assert_eq!(s.view(), View::Summary);
    s.take_changed();
    (s, choice.matricola)
}

#[test]
fn a_code_then_the_companies_then_the_summary() {
    let mut s = Session::new();
    let start = one(s.handle(Event::Open { now: now() }));
    s.handle(Event::Reply(
        start.generation,
        started("https://hub.example/h/secret", 125),
    ));
    assert_eq!(s.phase(), Phase::Qr);
    assert_eq!(s.code(), Some("https://hub.example/h/secret"));
    assert_eq!(s.confirm_code(), "0427", "the phone asks for it");
    assert_eq!(s.valid_for().as_deref(), Some("2:05"));

    let ask = one(s.handle(Event::Tick {
        on_screen: true,
        now: now() + chrono::Duration::seconds(5),
    }));
    assert_eq!(ask.effect, Effect::Status { id: "h1".into() });
    assert_eq!(s.valid_for().as_deref(), Some("2:00"));
    assert!(
        s.handle(Event::Tick {
            on_screen: true,
            now: now()
        })
        .is_empty(),
        "one status question at a time"
    );
    s.handle(Event::Reply(
        ask.generation,
        Reply::Status(Ok(HandoffState::Pending { opened: true })),
    ));
    assert_eq!(s.phase(), Phase::Opened);
    assert_eq!(s.code(), Some("https://hub.example/h/secret"));

    let (choice, _) = company();
    let ask = one(s.handle(Event::Tick {
        on_screen: true,
        now: now(),
    }));
    s.handle(Event::Reply(ask.generation, bound(choice.clone(), None)));
    assert_eq!(s.phase(), Phase::Bound);
    assert_eq!(s.code(), None, "the code leaves the screen once used");
    assert_eq!(s.confirm_code(), "");
    assert_eq!(s.person(), "Maria Rossi");
    assert_eq!(s.view(), View::Companies);
    let read = one(s.handle(Event::ChooseCompany(0)));
    assert_eq!(
        read.effect,
        Effect::Company {
            id: "h1".into(),
            matricola: choice.matricola
        }
    );
    assert!(
        s.handle(Event::ChooseCompany(5)).is_empty(),
        "no such company"
    );
}

#[test]
fn the_hub_unreachable_says_offline_and_a_new_code_starts_over() {
    let mut s = Session::new();
    let start = one(s.handle(Event::Open { now: now() }));
    s.handle(Event::Reply(
        start.generation,
        Reply::Started(Err("connection refused".into())),
    ));
    assert_eq!(s.phase(), Phase::Offline);
    assert_eq!(s.code(), None);
    let again = one(s.handle(Event::Open { now: now() }));
    assert_eq!(again.effect, Effect::Start);
    assert!(again.generation > start.generation);
    assert_eq!(s.phase(), Phase::Connecting);
}

#[test]
fn answers_for_a_visitor_who_left_are_dropped() {
    let (mut s, _) = on_summary(3);
    let old = s.generation();
    // The visitor walks away: the screen changes, the hand-off ends at the hub.
    let end = one(s.handle(Event::Tick {
        on_screen: false,
        now: now(),
    }));
    assert_eq!(end.effect, Effect::End { id: "h1".into() });
    assert!(s.summary().is_none() && s.companies().is_empty() && s.person().is_empty());
    assert!(s.requests().is_empty() && s.agenda().is_none());
    assert_eq!(s.view(), View::Companies);
    // The next visitor opens the screen; the first one's late answers find nothing to fill.
    s.handle(Event::Open { now: now() });
    let (_, summary) = company();
    s.handle(Event::Reply(
        old,
        Reply::Company(Ok(Some(Box::new(CompanyFile {
            summary,
            requests: vec![request(RequestState::Aperta)],
            istanze: None,
            agenda: None,
        })))),
    ));
    s.handle(Event::Reply(old, Reply::Status(Ok(HandoffState::Expired))));
    assert!(s.summary().is_none());
    assert!(s.requests().is_empty());
    assert_eq!(s.phase(), Phase::Connecting, "not expired by an old answer");
}

#[test]
fn a_tick_redraws_the_codes_clock_and_nothing_else() {
    let mut s = Session::new();
    let start = one(s.handle(Event::Open { now: now() }));
    s.handle(Event::Reply(start.generation, started("u", 60)));
    s.take_changed();
    s.handle(Event::Tick {
        on_screen: true,
        now: now(),
    });
    assert_eq!(
        s.take_changed(),
        Changed {
            clock: true,
            ..Changed::default()
        }
    );
    let (mut s, _) = on_summary(2);
    let ask = one(s.handle(Event::Tick {
        on_screen: true,
        now: now(),
    }));
    s.handle(Event::Reply(ask.generation, bound(company().0, None)));
    assert_eq!(
        s.take_changed(),
        Changed::default(),
        "the summary being read is not redrawn every half second"
    );
}

#[test]
fn before_a_ticket_the_visitor_is_offered_what_needs_no_queue() {
    let (mut s, matricola) = on_summary(3);
    assert!(s.handle(Event::TakeTicket).is_empty());
    assert_eq!(s.view(), View::Deflecting);
    assert_eq!(s.open_requests(), 1, "the closed request is not counted");
    let ask = one(s.handle(Event::WriteToSede));
    assert_eq!(s.view(), View::Summary);
    let task = DeskTask::Richiesta { matricola };
    assert_eq!(
        ask.effect,
        Effect::AskPhone {
            id: "h1".into(),
            task: task.clone()
        }
    );
    s.handle(Event::Reply(
        ask.generation,
        Reply::PhoneAsked {
            task: task.clone(),
            result: Ok(true),
        },
    ));
    assert_eq!(s.phone_status(), Some(&PhoneStatus::Opened(task)));

    // The phone sends it: the kiosk says so once and reads the lists again.
    let ask = one(s.handle(Event::Tick {
        on_screen: true,
        now: now(),
    }));
    let reread = one(s.handle(Event::Reply(
        ask.generation,
        bound(company().0, Some("AC-2026-1")),
    )));
    assert_eq!(
        reread.effect,
        Effect::Lists {
            id: "h1".into(),
            matricola
        }
    );
    assert_eq!(
        s.phone_status(),
        Some(&PhoneStatus::Sent {
            protocol: "AC-2026-1".into(),
            istanza: false
        })
    );
    let ask = one(s.handle(Event::Tick {
        on_screen: true,
        now: now(),
    }));
    assert!(
        s.handle(Event::Reply(
            ask.generation,
            bound(company().0, Some("AC-2026-1"))
        ))
        .is_empty(),
        "the same protocol is not announced twice"
    );
}

#[test]
fn a_slot_is_booked_printed_and_the_agenda_read_again() {
    let (mut s, matricola) = on_summary(12);
    assert_eq!(
        s.slots().len(),
        SLOTS_SHOWN,
        "the soonest, one screen of them"
    );
    s.handle(Event::ShowSlots);
    assert_eq!(s.view(), View::Slots);
    assert!(
        s.handle(Event::BookSlot(SLOTS_SHOWN)).is_empty(),
        "not offered"
    );
    let book = one(s.handle(Event::BookSlot(1)));
    let starts_at = s.slots()[1];
    let Effect::Book {
        matricola: m,
        starts_at: t,
        service,
        ..
    } = &book.effect
    else {
        panic!("{book:?}");
    };
    assert_eq!(
        (m, *t, service.as_str()),
        (&matricola, starts_at, "Aziende")
    );
    let reload = one(s.handle(Event::Reply(
        book.generation,
        Reply::Booked {
            result: Ok(Booked::Done(AgendaBooking {
                booking: "APP-2026-000042".into(),
                starts_at,
                service: "A".into(),
                state: domain::AppointmentState::Booked,
                token: "t".into(),
            })),
            printed: false,
        },
    )));
    assert_eq!(s.view(), View::Summary);
    assert_eq!(
        s.agenda_status(),
        Some(&AgendaStatus::Booked {
            booking: "APP-2026-000042".into(),
            starts_at,
            printed: false
        })
    );
    assert!(matches!(reload.effect, Effect::Agenda { .. }));
}

#[test]
fn no_free_slot_is_said_and_a_session_gone_at_the_hub_expires() {
    let (mut s, _) = on_summary(0);
    s.handle(Event::ShowSlots);
    assert_eq!(s.view(), View::Summary);
    assert_eq!(s.agenda_status(), Some(&AgendaStatus::NoSlots));

    let (mut s, _) = on_summary(2);
    let book = one(s.handle(Event::BookSlot(0)));
    s.handle(Event::Reply(
        book.generation,
        Reply::Booked {
            result: Ok(Booked::Gone),
            printed: false,
        },
    ));
    assert_eq!(s.phase(), Phase::Expired);
    assert!(s.summary().is_none() && s.companies().is_empty());
    assert!(
        s.handle(Event::Tick {
            on_screen: true,
            now: now()
        })
        .is_empty(),
        "no hand-off left to ask about"
    );
}

#[test]
fn sections_open_from_the_summary_and_go_back_to_it() {
    let (mut s, _) = on_summary(1);
    s.handle(Event::OpenSection(3));
    assert_eq!(s.view(), View::Section(Section::Card(3)));
    s.handle(Event::Back);
    assert_eq!(s.view(), View::Summary);
    s.handle(Event::OpenRequest(1));
    assert_eq!(s.view(), View::Section(Section::Request(1)));
    s.handle(Event::OpenRequest(9));
    assert_eq!(
        s.view(),
        View::Section(Section::Request(1)),
        "no such request"
    );
    s.handle(Event::CloseCompany);
    assert_eq!(s.view(), View::Companies);
    assert!(s.summary().is_none() && s.requests().is_empty());
    s.handle(Event::Back);
    assert_eq!(s.view(), View::Companies, "back goes nowhere from the list");
    let print = s.handle(Event::PrintSummary);
    assert!(print.is_empty(), "nothing to print without a summary");
}
