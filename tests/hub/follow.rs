//! *Segui la coda* with the SMS opt-in, through a day of a real branch node pushing to the hub.

use crate::helpers::*;

/// Called back when near: a visitor leaves a mobile number on their ticket's follow page; as
/// the counter calls the tickets ahead and the node pushes, the SMS provider (on loopback)
/// receives exactly one message when the sede's threshold is reached and one when the ticket
/// is called, none after; the number is gone from the database once the ticket reached its
/// counter. Malformed numbers are refused with the reason, a number follows at most three
/// tickets at a time, and the page never shows the number. Once served, the page asks how the
/// visit went, once, and keeps the answer by sede, service and day only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_comes_when_the_turn_is_near_and_when_called_and_the_number_goes() {
    use domain::{ServiceLetter, TicketPriority};
    use protocol::wire::{FollowAlerts, NearThreshold};
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let clock = trusted_clock();
    let PulledNode {
        _dir,
        branch,
        agent,
        replica,
    } = pulled_node(&hub, &clock).await;
    let p = ServiceLetter::parse("P").unwrap();
    // The sede's threshold for P: two people ahead (or one minute, that is: next).
    hub::sede::edit(
        &mut hub.pool.get().await.unwrap(),
        "test",
        SEDE,
        &hub::sede::ConfigEdit::SetFollowAlerts(FollowAlerts {
            by_service: [(
                p,
                NearThreshold {
                    ahead: 2,
                    minutes: 1,
                },
            )]
            .into(),
            ..FollowAlerts::default()
        }),
    )
    .await
    .unwrap();

    let tickets: Vec<_> = (0..8)
        .map(|_| branch.issue_ticket(p, TicketPriority::WalkIn).unwrap())
        .collect();
    while agent.push_once().await.unwrap() > 0 {}
    let url = |i: usize| {
        let (path, tag) = follow_address(&branch, &tickets[i]);
        format!("{base}{path}?c={tag}")
    };
    let read = |url: String| {
        let client = hub.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let opt_in = |i: usize, mobile: &str| {
        let request = hub.client.post(url(i)).form(&[("cellulare", mobile)]);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (status, location, r.text().await.unwrap())
        }
    };
    let (status, _, html) = opt_in(5, "06 1234 5678").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a landline");
    assert!(html.contains("numero di cellulare italiano"), "{html}");
    assert!(
        html.contains("06 1234 5678"),
        "what was typed is kept: {html}"
    );
    let (status, location, _) = opt_in(5, "+39 333 123 4567").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.unwrap();
    let page = read(format!("{base}{location}")).await;
    assert!(page.contains("Avviso SMS attivo"), "{page}");
    assert!(
        page.contains("2 persone o meno"),
        "the sede's threshold: {page}"
    );
    assert!(
        !page.contains("333") && !page.contains("4567"),
        "never shown: {page}"
    );
    assert!(!page.contains("<form"), "one number per ticket");
    let (status, _, html) = opt_in(5, "347 000 1111").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("già attivo"), "{html}");
    // Another number follows three tickets; a fourth is refused.
    let other = "347 000 1111";
    for i in [0, 1, 2] {
        assert_eq!(opt_in(i, other).await.0, StatusCode::SEE_OTHER, "{i}");
    }
    let (status, _, html) = opt_in(3, other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("tre biglietti"), "{html}");

    let sms = SmsSink::start().await;
    let notifier = hub::notify::Notifier::from_config(&config::HubConfig {
        sms_url: Some(sms.url()),
        sms_token: Some("token-di-prova".into()),
        ..Default::default()
    })
    .unwrap();
    let to = |number: &str| {
        sms.received()
            .into_iter()
            .filter(|(_, body)| body["to"] == number)
            .map(|(_, body)| body["text"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    run_jobs(&hub.pool, &notifier).await;
    assert_eq!(
        to("+393331234567"),
        Vec::<String>::new(),
        "five ahead: not yet"
    );

    // A day at one counter: each ticket called, started and served, the node pushing after
    // every step.
    let counter = open_counter_for(&branch, &replica, p);
    let mut seen = Vec::new();
    for (i, t) in tickets.iter().enumerate() {
        branch
            .execute(queue::Command::CallNext { counter })
            .unwrap();
        while agent.push_once().await.unwrap() > 0 {}
        run_jobs(&hub.pool, &notifier).await;
        seen.push(to("+393331234567").len());
        for command in [
            queue::Command::Start {
                counter,
                ticket: t.number,
            },
            queue::Command::Serve {
                counter,
                ticket: t.number,
            },
        ] {
            branch.execute(command).unwrap();
        }
        while agent.push_once().await.unwrap() > 0 {}
        run_jobs(&hub.pool, &notifier).await;
        let left: i64 = hub
            .pool
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT count(*) FROM follow_alert WHERE ticket = $1",
                &[&tickets[5].number.to_string()],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            left,
            i64::from(i < 5),
            "after ticket {i}: the number kept until its turn"
        );
    }
    // Ticket 5 has two ahead once ticket 2 is called (3 and 4 wait): the "near" SMS then, the
    // call at its own turn, nothing after.
    assert_eq!(seen, [0, 0, 1, 1, 1, 2, 2, 2], "messages after each call");
    let texts = to("+393331234567");
    let number = tickets[5].number.to_string();
    assert!(
        texts[0].contains(&number) && texts[0].contains("sarà chiamato presto"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains(&number) && texts[1].contains(&format!("sportello {counter}")),
        "{texts:?}"
    );
    for text in &texts {
        assert!(text.chars().count() <= 160, "{text}");
    }
    // The other number: its three tickets, each near (or next) and called, once each.
    assert_eq!(to("+393470001111").len(), 6, "{:?}", to("+393470001111"));
    let c = hub.pool.get().await.unwrap();
    let left: i64 = c
        .query_one("SELECT count(*) FROM follow_alert", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "no number outlives its ticket");
    let jobs_after: i64 = c
        .query_one(
            "SELECT count(*) FROM job WHERE kind = 'notify_sms' AND state = 'pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(jobs_after, 0);

    // Heard after: the served ticket's page asks how it went, once; the answer is kept by
    // sede, service and day, with nothing that leads back to the ticket or the counter.
    let page = read(url(5)).await;
    assert!(page.contains("Com'è andata la visita di oggi?"), "{page}");
    let answer = |fields: Vec<(&'static str, String)>| {
        let (path, tag) = follow_address(&branch, &tickets[5]);
        let request = hub
            .client
            .post(format!("{base}{path}/giudizio?c={tag}"))
            .form(&fields);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = answer(vec![("voto", "6".into())]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("da 1 a 5"), "{html}");
    let (status, html) = answer(vec![("voto", "4".into()), ("commento", "x".repeat(501))]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("500 caratteri"), "{html}");
    let (status, _) = answer(vec![
        ("voto", "4".into()),
        ("commento", "Attesa lunga, ma spiegazioni chiare.".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = read(url(5)).await;
    assert!(!page.contains("Com'è andata"), "asked once: {page}");
    let (status, html) = answer(vec![("voto", "1".into())]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("già risposto"), "{html}");
    let columns: Vec<String> = c
        .query(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_name = 'visit_feedback' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        columns,
        ["branch_id", "business_day", "service", "score", "comment"]
    );
    let rows = c
        .query("SELECT service, score, comment FROM visit_feedback", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].get::<_, String>(0), rows[0].get::<_, i16>(1)),
        ("P".to_owned(), 4)
    );
}

/// A visitor following by SMS who is away when called: the call's SMS, then, when their
/// grace to reach the counter runs out and the node calls them once more, the last call's
/// SMS; once marked absent, nothing more and the number gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_away_hears_the_last_call_when_their_grace_ends() {
    use domain::{ManualClock, ServiceLetter, TicketPriority};
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let PulledNode {
        _dir,
        branch,
        agent,
        replica,
    } = pulled_node(&hub, &clock).await;
    let p = ServiceLetter::parse("P").unwrap();
    let ticket = branch.issue_ticket(p, TicketPriority::WalkIn).unwrap();
    while agent.push_once().await.unwrap() > 0 {}
    let (path, tag) = follow_address(&branch, &ticket);
    let url = format!("{base}{path}?c={tag}");
    let r = hub
        .client
        .post(&url)
        .form(&[("cellulare", "333 765 4321")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sms = SmsSink::start().await;
    let notifier = hub::notify::Notifier::from_config(&config::HubConfig {
        sms_url: Some(sms.url()),
        sms_token: Some("token-di-prova".into()),
        ..Default::default()
    })
    .unwrap();
    let texts = || {
        sms.received()
            .into_iter()
            .map(|(_, body)| body["text"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let step = async || {
        while agent.push_once().await.unwrap() > 0 {}
        run_jobs(&hub.pool, &notifier).await;
    };
    let counter = open_counter_for(&branch, &replica, p);
    branch
        .execute(queue::Command::CallNext { counter })
        .unwrap();
    step().await;
    // Nobody was ahead: "near" came with the opt-in's first evaluation; now the call.
    let called = texts();
    assert!(called.last().unwrap().contains("è il turno"), "{called:?}");
    let n = called.len();
    // Not yet: nothing from the node, no new SMS.
    clock.advance(chrono::Duration::minutes(2));
    assert!(branch.recall_due().unwrap().is_empty());
    step().await;
    assert_eq!(texts().len(), n);
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(branch.recall_due().unwrap().len(), 1, "the node's call");
    step().await;
    let all = texts();
    assert_eq!(all.len(), n + 1, "{all:?}");
    let last = &all[n];
    assert!(
        last.contains("ultima chiamata")
            && last.contains(&ticket.number.to_string())
            && last.contains(&format!("sportello {counter}")),
        "{all:?}"
    );
    assert!(last.chars().count() <= 160, "{last}");
    branch
        .execute(queue::Command::NoShow {
            counter,
            ticket: ticket.number,
        })
        .unwrap();
    step().await;
    assert_eq!(texts().len(), n + 1, "nothing after the end");
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM follow_alert").await,
        0,
        "the number is gone"
    );
}

/// The follow page's address can be guessed (numbers run in order), so its forms take only the
/// address the ticket's QR carries: a kiosk enrolled with the hub prints it tagged with the
/// sede's key; the page opened without it shows where the ticket stands and offers no form,
/// and a form posted to it — or with another ticket's tag — is refused and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_printed_qrs_address_opens_the_follow_pages_forms() {
    use domain::ServiceLetter;
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let clock = trusted_clock();
    let PulledNode {
        _dir,
        branch,
        agent,
        ..
    } = pulled_node(&hub, &clock).await;
    let p = ServiceLetter::parse("P").unwrap();
    // The kiosk prints two tickets; their QR codes are read back from the paper.
    let paper_dir = tempfile::tempdir().unwrap();
    let paper = paper_dir.path().join("printer.bin");
    let (printed, qrs) = {
        let branch = branch.clone();
        let paper = paper.clone();
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            let mut kiosk = kiosk::Kiosk::new(branch)
                .unwrap()
                .with_follow_base(&format!("{base}/coda"))
                .with_printer(
                    Box::new(hardware::printer::SimulatedPrinter::new(paper.clone())),
                    ticket::PrintOptions::default(),
                );
            let tickets: Vec<domain::Ticket> = (0..2)
                .map(|_| match kiosk.walk_in(p) {
                    kiosk::Answer::Ticket { ticket, .. } => ticket,
                    other => panic!("{other:?}"),
                })
                .collect();
            let bytes = std::fs::read(&paper).unwrap();
            let p = ticket::preview::preview(&bytes, ticket::Paper::Mm80, 16).unwrap();
            if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
                std::fs::write(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("docs/screenshots/ticket-80mm-tagged.png"),
                    p.png(),
                )
                .unwrap();
            }
            let mut img =
                rqrr::PreparedImage::prepare_from_greyscale(p.width, p.height(), |x, y| {
                    p.pixels[y * p.width + x]
                });
            let qrs: Vec<String> = img
                .detect_grids()
                .into_iter()
                .map(|g| g.decode().expect("a readable QR code").1)
                .collect();
            (tickets, qrs)
        })
        .await
        .unwrap()
    };
    while agent.push_once().await.unwrap() > 0 {}
    assert_eq!(qrs.len(), 2, "{qrs:?}");
    let tagged: Vec<String> = printed
        .iter()
        .map(|t| {
            let (path, tag) = follow_address(&branch, t);
            format!("{base}{path}?c={tag}")
        })
        .collect();
    assert_eq!(qrs, tagged, "the QR is the tagged address");
    let untagged = tagged[0].split('?').next().unwrap().to_owned();
    let other_tag = tagged[1].split("?c=").nth(1).unwrap().to_owned();
    // The guessed address: where the ticket stands, no form, and why.
    let page = text_of(&hub.client, &untagged).await;
    assert!(!page.contains("<form"), "{page}");
    assert!(
        page.contains("apra questa pagina dal QR stampato"),
        "{page}"
    );
    let post = |url: String| {
        let request = hub.client.post(url).form(&[("cellulare", "333 444 5555")]);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    for url in [
        untagged.clone(),
        format!("{untagged}?c={other_tag}"),
        format!("{untagged}?c=0000000000000000"),
        format!("{untagged}?c=%3Cscript%3E"),
    ] {
        let (status, html) = post(url.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}");
        assert!(html.contains("QR stampato sul biglietto"), "{html}");
        assert!(!html.contains("<form"), "{html}");
    }
    let r = hub
        .client
        .post(format!("{untagged}/giudizio"))
        .form(&[("voto", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM follow_alert").await,
        0
    );
    // The printed address: its form, which takes the number and keeps the tag.
    let page = text_of(&hub.client, &tagged[0]).await;
    assert!(page.contains("<form"), "{page}");
    let r = hub
        .client
        .post(&tagged[0])
        .form(&[("cellulare", "333 444 5555")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.ends_with(&format!("&c={}", tagged[0].split("?c=").nth(1).unwrap())),
        "{location}"
    );
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM follow_alert").await,
        1
    );
}
