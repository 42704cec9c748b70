//! Figures across the country: the nightly figures of past days from the queue's events, the
//! console's comparison, chart and CSV, each seen only by whom it is for.

use crate::helpers::*;

/// Seen across the country: the night's job turns a past day's queue events (made by the
/// queue engine itself) into the sede's day in figures, once; the console adds the weeks up
/// with the answers after the visits and the requests answered by the sede's promise —
/// administrators compare every sede, a supervisor sees their own and no other, counter staff
/// none; the CSV carries the same numbers, the chart the same weeks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_of_the_sedi_add_up_the_days_and_are_seen_by_whom_they_are_for() {
    use domain::{TicketPriority, TicketState};
    use queue::{Calendar, Command, Now, Queue};
    let hub = Hub::start(1).await;
    let today = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .date_naive();
    // Last week's Tuesday, mid-morning.
    let monday = hub::figures::monday(today) - chrono::Duration::weeks(1);
    let day = monday + chrono::Duration::days(1);
    let start = day.and_hms_opt(9, 0, 0).unwrap();
    let demo = demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 1, start)
        .await
        .unwrap();
    hub.staff(&[
        ("capo", hub::accounts::Role::Supervisor, Some(SEDE)),
        (
            "capo-monteverde",
            hub::accounts::Role::Supervisor,
            Some(7002),
        ),
        ("banco", hub::accounts::Role::Counter, Some(SEDE)),
        ("root", hub::accounts::Role::Admin, None),
    ])
    .await;
    let mut config = hub::branch_data::config_of(&demo.replica()).unwrap();
    let c = hub.pool.get().await.unwrap();
    hub::branch_data::put_config(&c, i32::from(SEDE), &config)
        .await
        .unwrap();
    config.sede = domain::sedi::with_code(domain::SedeCode::from_u16(7002).unwrap())
        .next()
        .unwrap();
    hub::branch_data::put_config(&c, 7002, &config)
        .await
        .unwrap();

    // The day at 7001: twenty walk-ins, the first twelve called (one absent), by the engine.
    let mut q = Queue::new(
        config.rules.clone(),
        Calendar::new(config.hours.clone()),
        config.services.clone(),
        config.counters.clone(),
    );
    let at = |minutes: i64| {
        Now::at(
            queue::local_to_utc(start + chrono::Duration::minutes(minutes)),
            true,
        )
    };
    let service = config
        .services
        .iter()
        .find(|s| !s.appointment_only)
        .unwrap()
        .letter;
    let counter = config
        .counters
        .iter()
        .find(|k| k.services.iter().any(|(l, _)| *l == service))
        .unwrap()
        .number;
    let mut events = q.roll_day(at(0));
    events.extend(
        q.handle(
            Command::OpenCounter {
                counter,
                services: vec![],
                operator: "o".into(),
            },
            at(0),
        )
        .unwrap(),
    );
    for i in 0..20 {
        events.extend(
            q.handle(
                Command::Issue {
                    service,
                    priority: TicketPriority::WalkIn,
                    booking: None,
                    kiosk: None,
                },
                at(i),
            )
            .unwrap(),
        );
    }
    for i in 0..12 {
        events.extend(
            q.handle(Command::CallNext { counter }, at(20 + 4 * i))
                .unwrap(),
        );
        let ticket = q
            .tickets()
            .find(|t| t.state == TicketState::Called(counter))
            .unwrap()
            .number;
        // One visitor never comes: called once more when their 3 minutes run out, then absent.
        let (end, when) = if i == 3 {
            (
                vec![Command::RecallDue, Command::NoShow { counter, ticket }],
                at(23 + 4 * i),
            )
        } else {
            (
                vec![
                    Command::Start { counter, ticket },
                    Command::Serve { counter, ticket },
                ],
                at(22 + 4 * i),
            )
        };
        for command in end {
            events.extend(q.handle(command, when).unwrap());
        }
        // A minute's training after the sixth visitor.
        if i == 5 {
            for (command, minute) in [
                (
                    Command::PauseCounter {
                        counter,
                        reason: "Formazione".into(),
                    },
                    42,
                ),
                (
                    Command::OpenCounter {
                        counter,
                        services: vec![],
                        operator: "o".into(),
                    },
                    43,
                ),
            ] {
                events.extend(q.handle(command, at(minute)).unwrap());
            }
        }
    }
    for (seq, e) in events.iter().enumerate() {
        c.execute(
            "INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
             VALUES (7001, 'test', $1, $2, $3, $4, 'test')",
            &[&(seq as i64 + 1), &day, &e.kind.name(), &serde_json::to_value(e).unwrap()],
        )
        .await
        .unwrap();
    }
    let mut waits: Vec<i64> = q
        .tickets()
        .filter_map(|t| Some((t.first_called_at? - t.eligible_at).num_minutes()))
        .collect();
    waits.sort();
    assert_eq!(waits.len(), 12);
    let no_shows = q
        .tickets()
        .filter(|t| t.state == TicketState::NoShow)
        .count();
    assert_eq!(no_shows, 1, "{events:?}");

    // The night: recorded once.
    assert_eq!(
        hub::figures::record_days(&hub.pool, today).await.unwrap(),
        1
    );
    assert_eq!(
        hub::figures::record_days(&hub.pool, today).await.unwrap(),
        0
    );
    // The day's flow: two minutes from each call to the counter, the absent visitor's call at
    // the end of their grace, the minute of training; no row per counter.
    let flow = hub::figures::flow_of(&c, 7001, day).await.unwrap().unwrap();
    let f = flow.services.iter().find(|f| f.service == service).unwrap();
    assert_eq!(
        (f.walk_mean_s, f.recalls, f.no_show, f.served),
        (Some(120), 1, 1, 11)
    );
    assert!(f.counters_open_pct.is_some_and(|p| p > 0), "{f:?}");
    assert_eq!(flow.pauses.len(), 1);
    assert_eq!(
        (
            flow.pauses[0].reason.as_str(),
            flow.pauses[0].pauses,
            flow.pauses[0].seconds
        ),
        ("Formazione", 1, 60)
    );
    assert!(flow.counters.is_empty(), "never per counter");
    // Answers after visits (7001: 5, 4, 2; 7002: 3) and requests: at 7001 one answered in
    // time, one answered late, one not due yet.
    c.batch_execute(&format!(
        "INSERT INTO visit_feedback (branch_id, business_day, service, score) VALUES
             (7001, '{day}', 'A', 5), (7001, '{day}', 'A', 4), (7001, '{day}', 'A', 2),
             (7002, '{day}', 'A', 3);
         INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic, subject,
                                      created_at, answered_at) VALUES
             (7001, 'R1', '5124776507', 'cf', 'f24', 's', '{day} 10:00+01', '{day} 16:00+01'),
             (7001, 'R2', '5124776507', 'cf', 'f24', 's', '{day} 10:00+01', NULL),
             (7001, 'R3', '5124776507', 'cf', 'f24', 's', '{day} 11:00+01', NULL);"
    ))
    .await
    .unwrap();
    // R2 answered 25 working days after it arrived (the default target is 20); R3 is not
    // due yet if its due date is still ahead — it is counted only once it is.
    c.execute(
        "UPDATE contact_request SET answered_at = created_at + interval '40 days' WHERE protocol = 'R2'",
        &[],
    )
    .await
    .unwrap();
    let r3_due = domain::working_days::add_working_days(day, 20, None) < today;
    let weeks = hub::figures::weekly(&c, Some(7001), monday, today, today)
        .await
        .unwrap();
    assert_eq!(weeks.len(), 1, "{weeks:?}");
    let w = &weeks[0];
    assert_eq!((w.week, w.issued, w.no_show), (monday, 20, 1));
    assert_eq!(w.served, 11);
    let rank = |p: f64| waits[((p * 12.0_f64).ceil() as usize).max(1) - 1] as u32;
    assert_eq!(
        (w.wait_p50(), w.wait_p90()),
        (Some(rank(0.5)), Some(rank(0.9)))
    );
    let within = waits.iter().filter(|&&m| m < 30).count() as f64 / 12.0;
    assert_eq!(w.within_target(), Some(within));
    assert_eq!(w.satisfaction(), Some(11.0 / 3.0));
    assert_eq!(
        (w.requests_due, w.requests_on_time),
        (2 + i64::from(r3_due), 1)
    );

    // The console: the administrator compares both sedi and charts the one asked for.
    let root = ConsoleSession::login(&hub, 0, "root", STAFF_PASSWORD).await;
    let (status, page) = root.get("/console/cifre?settimane=4&sede=7001").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("7001") && page.contains("Roma Monteverde"),
        "{page}"
    );
    assert!(
        page.contains("<svg") && page.contains("obiettivo: 30 minuti"),
        "{page}"
    );
    assert!(page.contains("3.7 su 5 (3 risposte)"), "{page}");
    assert!(page.contains(r#"<table id="flow">"#), "{page}");
    assert!(
        page.contains(&format!(
            "<td>2.0 min</td><td>{}</td>",
            f.service_mean_s
                .map(|s| format!("{:.1} min", f64::from(s) / 60.0))
                .unwrap()
        )),
        "{page}"
    );
    assert!(
        page.contains("<th scope=\"row\">Formazione</th><td>1</td><td>1 min</td>"),
        "{page}"
    );
    let (status, csv) = root.get("/console/cifre.csv?settimane=4").await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and a week of each sede: {csv}");
    let fields: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(&fields[..5], ["7001", &monday.to_string(), "20", "11", "1"]);
    assert_eq!(fields[6], rank(0.5).to_string());
    assert_eq!(fields[12], "3.67");
    assert!(
        lines[2].starts_with(&format!("7002,{monday},0,0,0,0,,,30,,,1,3.00,")),
        "{csv}"
    );

    // A supervisor sees their own sede only; counter staff no figures.
    let capo = ConsoleSession::login(&hub, 0, "capo", STAFF_PASSWORD).await;
    let (status, page) = capo.get("/console/cifre").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("Roma Monteverde"), "{page}");
    assert_eq!(
        capo.get("/console/cifre?sede=7002").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        capo.get("/console/cifre.csv?sede=7002").await.0,
        StatusCode::FORBIDDEN
    );
    let (_, csv) = capo.get("/console/cifre.csv").await;
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // The day as CSV, for their own sede only.
    let (status, csv) = capo
        .get(&format!("/console/cifre/giorno.csv?giorno={day}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        csv.contains(&format!("{day},pausa,\"Formazione\",,,,,,,,,,,,1,60\r\n")),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{day},servizio,{service},20,11,1,")),
        "{csv}"
    );
    assert!(!csv.contains(",sportello,"), "{csv}");
    assert_eq!(
        capo.get(&format!("/console/cifre/giorno.csv?sede=7002&giorno={day}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        capo.get("/console/cifre/giorno.csv?giorno=ieri").await.0,
        StatusCode::BAD_REQUEST
    );
    // The supervisor moves the sede's target wait: its share is counted against the new one.
    let (status, _, page) = capo
        .post("/console/sedi/7001/obiettivo", &[("target_wait_min", "2")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("da 5 a 240 minuti"), "{page}");
    let (status, _, _) = capo
        .post("/console/sedi/7001/obiettivo", &[("target_wait_min", "45")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, csv) = capo.get("/console/cifre.csv?settimane=4").await;
    let fields: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let within = waits.iter().filter(|&&m| m < 45).count() as f64 / 12.0;
    assert_eq!(
        (fields[8], fields[9]),
        ("45", format!("{within:.3}").as_str())
    );
    let banco = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    assert_eq!(banco.get("/console/cifre").await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        banco
            .get(&format!("/console/cifre/giorno.csv?giorno={day}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}
