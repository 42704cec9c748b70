//! Area Contatti: requests from the kiosk and from the phone with attachments, replies and notifications.

use crate::helpers::*;
use domain::contatti::{Direction, RequestState};

/// Area Contatti: an identified delegate sends a request about a matricola from the kiosk
/// (checked: a topic, a subject, a text; only for their own matricole) and gets its protocol;
/// the sede's reply takes it in charge and comes back in its history; once closed it takes no
/// more replies; after the session the history is not readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn area_contatti_requests_reach_the_sede_and_its_replies_come_back() {
    use hub::contatti;
    use protocol::wire::{ContactRequest, NewContactRequest};
    let hub = Hub::start(1).await;
    let Visitor {
        person,
        mine,
        theirs,
        kiosk,
        base,
        started,
        ..
    } = Visitor::identified(&hub).await;

    let send = |req: NewContactRequest| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("/v1/handoff/{}/requests", started.id);
        async move { kiosk.signed_json(&base, &path, &req).await }
    };
    let request = |matricola: &domain::Matricola, topic: &str, subject: &str| NewContactRequest {
        matricola: *matricola,
        topic: topic.into(),
        subject: subject.into(),
        body: "Chiedo la verifica del versamento di marzo, pagato con F24 il 16/04.".into(),
    };
    let bad = send(request(&mine, "altro", "Versamento")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("argomento"));
    let long = "x".repeat(contatti::MAX_SUBJECT + 1);
    assert_eq!(
        send(request(&mine, "f24", &long)).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(request(&theirs, "f24", "Versamento")).await.status(),
        StatusCode::NOT_FOUND,
        "not for a matricola they are not delegated for"
    );
    let sent = send(request(&mine, "f24", "Versamento di marzo")).await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let protocol = sent.json::<serde_json::Value>().await.unwrap()["protocol"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(protocol.starts_with("INPS.7001."), "{protocol}");

    let history = || {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("/v1/handoff/{}/requests/{mine}", started.id);
        async move { kiosk.signed(&base, "GET", &path).await }
    };
    let list: Vec<ContactRequest> = history().await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].protocol.as_str(), list[0].state),
        (protocol.as_str(), RequestState::Aperta)
    );
    assert_eq!(list[0].messages.len(), 1);
    assert_eq!(list[0].messages[0].direction, Direction::In);

    // The sede's back office, in the console: the request with its text (the visitor shown
    // as such, not by codice fiscale), a reply that takes it in charge.
    hub.staff(&[
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
        ("banco", hub::accounts::Role::Counter, Some(SEDE)),
    ])
    .await;
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    let (status, page) = office.get("/console/sedi/7001/richieste").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&protocol) && page.contains("pagato con F24 il 16/04"),
        "{page}"
    );
    assert!(!page.contains(person.cf.as_str()), "{page}");
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", protocol.as_str()),
                ("action", "rispondi"),
                ("body", "Il versamento risulta: chiudiamo la pratica."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", protocol.as_str()),
                ("action", "rispondi"),
                ("body", " "),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an empty reply");
    assert!(page.contains("La risposta va da 1"), "{page}");
    let forged = hub
        .client
        .post(format!(
            "{}/console/sedi/7001/richieste/azione",
            hub.base(0)
        ))
        .header("cookie", &office.cookie)
        .form(&[
            ("csrf", "x"),
            ("protocol", protocol.as_str()),
            ("action", "chiudi"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a form without the session's token"
    );
    let banco = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    assert_eq!(
        banco.get("/console/sedi/7001/richieste").await.0,
        StatusCode::FORBIDDEN
    );
    let list: Vec<ContactRequest> = history().await.json().await.unwrap();
    assert_eq!(list[0].state, RequestState::PresaInCarico);
    assert_eq!(list[0].messages.len(), 2);
    assert_eq!(list[0].messages[1].direction, Direction::Out);
    let mut c = hub.pool.get().await.unwrap();
    contatti::set_state(&mut c, "ufficio", 7001, &protocol, "chiusa")
        .await
        .unwrap();
    assert!(
        contatti::reply(&mut c, "ufficio", 7001, &protocol, "ancora")
            .await
            .is_err()
    );
    let list: Vec<ContactRequest> = history().await.json().await.unwrap();
    assert_eq!(list[0].state, RequestState::Chiusa);

    // Another sede's office cannot touch it; after the session, nothing is readable.
    assert!(
        contatti::reply(&mut c, "altri", 5105, &protocol, "no")
            .await
            .is_err()
    );
    kiosk
        .signed(&base, "POST", &format!("/v1/handoff/{}/end", started.id))
        .await;
    assert_eq!(history().await.status(), StatusCode::NOT_FOUND);
}

/// Area Contatti from the phone: the kiosk asks the identified visitor's phone for the form;
/// the phone sends the request with three attachments (PDF, JPEG, PNG by content), stored once
/// by hash; a fourth file, a renamed executable, an oversized file, a forged form and a phone
/// without the session are refused, each with its reason and nothing filed; the kiosk sees the
/// protocol and the attachments; the sede downloads them in the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_sends_a_request_with_three_attachments() {
    use protocol::wire::{ContactRequest, DeskTask, HandoffState};
    let hub = Hub::start(1).await;
    let Visitor {
        demo,
        person,
        mine,
        theirs,
        kiosk,
        base,
        started,
        phone,
        ..
    } = Visitor::identified(&hub).await;
    let desk = || async {
        let r = phone.get(format!("{base}/h/desk")).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let (status, page) = desk().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("http-equiv=\"refresh\""), "waits: {page}");
    assert!(!page.contains("<form"), "{page}");

    // The kiosk asks for the form: only for a matricola the visitor acts for.
    let task_path = format!("/v1/handoff/{}/task", started.id);
    let ask = |m: &domain::Matricola| DeskTask::Richiesta { matricola: *m };
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask(&theirs))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask(&mine))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let status_path = format!("/v1/handoff/{}", started.id);
    let kiosk_sees = || async {
        match kiosk
            .signed(&base, "GET", &status_path)
            .await
            .json::<HandoffState>()
            .await
            .unwrap()
        {
            HandoffState::Bound { task, sent, .. } => (task, sent),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(kiosk_sees().await, (Some(ask(&mine)), None));
    let (status, page) = desk().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&demo.companies[person.companies[0]].name) && page.contains("<form"),
        "{page}"
    );
    let (email, mobile) = demo::hub::contacts(&person);
    assert!(
        page.contains(&format!("Per e-mail a {email}")) && page.contains("name=\"notify_email\""),
        "the provider's e-mail is offered: {page}"
    );
    assert!(
        !page.contains("type=\"email\""),
        "no address of the visitor's choosing: {page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("matricola".to_owned(), mine.to_string()),
            ("topic".to_owned(), "f24".to_owned()),
            ("subject".to_owned(), "Versamento di marzo".to_owned()),
            (
                "body".to_owned(),
                "Allego la quietanza dell'F24 del 16/04 e le ricevute.".to_owned(),
            ),
            ("notify_email".to_owned(), "1".to_owned()),
            ("notify_mobile".to_owned(), "1".to_owned()),
            // Fields the page does not have, as a relay would post them: ignored.
            ("email".to_owned(), "chiunque@altrove.test".to_owned()),
            ("mobile".to_owned(), "+39 333 0000000".to_owned()),
        ]
    };
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let jpeg = [
        &b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"[..],
        &[0u8; 64][..],
        &b"\xff\xd9"[..],
    ]
    .concat();
    let png = png_bytes(16);
    let post = |fields: Vec<(String, String)>, files: Vec<(&'static str, Vec<u8>)>| {
        let phone = phone.clone();
        let base = base.clone();
        async move {
            let f: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = phone
                .post(format!("{base}/h/desk/richiesta"))
                .multipart(desk_form(&f, &files))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let filed = || async { count(&hub.pool, "SELECT count(*) FROM contact_request").await };

    // Refusals, each with its reason, the text kept, nothing filed.
    let four = vec![
        ("a.pdf", pdf.clone()),
        ("b.jpg", jpeg.clone()),
        ("c.png", png.clone()),
        ("d.png", png_bytes(17)),
    ];
    let (status, page) = post(fields(&csrf), four).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("al massimo 3 documenti"), "{page}");
    assert!(
        page.contains("Allego la quietanza"),
        "the text is kept: {page}"
    );
    let exe = [
        &b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"[..],
        &[0; 200],
    ]
    .concat();
    let (status, page) = post(fields(&csrf), vec![("quietanza.pdf", exe)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("«quietanza.pdf» non è un PDF, un JPEG o un PNG"),
        "{page}"
    );
    let mut big = pdf.clone();
    big.resize(3 * 1024 * 1024 + 1, b' ');
    let (status, page) = post(fields(&csrf), vec![("grande.pdf", big)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("«grande.pdf» supera i 3 MB"), "{page}");
    let (status, _) = post(fields("falso"), vec![("a.pdf", pdf.clone())]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form from elsewhere");
    let stranger = hub
        .phone()
        .post(format!("{base}/h/desk/richiesta"))
        .multipart(desk_form(&[("csrf", &csrf)], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED, "another phone");
    assert_eq!(filed().await, 0);

    // Sent: three files by content; the kiosk sees the protocol, the task is done.
    let three = vec![
        ("quietanza F24.pdf", pdf.clone()),
        ("ricevuta.jpg", jpeg.clone()),
        ("C:\\scansioni\\estratto.png", png.clone()),
    ];
    let (status, page) = post(fields(&csrf), three).await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let protocol = between(&page, "protocollo <strong>", "</strong>").to_owned();
    assert!(protocol.starts_with("INPS.7001."), "{protocol}");
    // The receipt carries the sede's promise (the default: 20 working days).
    let today = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .date_naive();
    let due = domain::working_days::add_working_days(today, 20, None);
    assert!(
        page.contains(&format!(
            "La sede si impegna a rispondere entro il {} (20 giorni lavorativi).",
            due.format("%d/%m/%Y")
        )),
        "{page}"
    );
    assert_eq!(kiosk_sees().await, (None, Some(protocol.clone())));
    let list: Vec<ContactRequest> = kiosk
        .signed(
            &base,
            "GET",
            &format!("/v1/handoff/{}/requests/{mine}", started.id),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0].protocol, protocol);
    let got: Vec<(&str, &str, u32)> = list[0]
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.mime.as_str(), a.size))
        .collect();
    assert_eq!(
        got,
        [
            ("quietanza F24.pdf", "application/pdf", pdf.len() as u32),
            ("ricevuta.jpg", "image/jpeg", jpeg.len() as u32),
            ("estratto.png", "image/png", png.len() as u32),
        ]
    );
    // The form is gone from the phone; sending it again is refused.
    let (status, page) = desk().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&protocol) && !page.contains("<form"),
        "{page}"
    );
    let (status, _) = post(fields(&csrf), vec![]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Stored once by content: a second request with the same PDF adds no blob.
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM blob").await, 3);
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask(&mine))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = post(fields(&csrf), vec![("ancora.pdf", pdf.clone())]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM blob").await, 3);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM contact_attachment").await,
        4
    );

    // The sede's back office downloads them as they were sent; counter staff cannot.
    hub.staff(&[
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
        ("banco", hub::accounts::Role::Counter, Some(SEDE)),
    ])
    .await;
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    let (status, page) = office.get("/console/sedi/7001/richieste").await;
    assert_eq!(status, StatusCode::OK);
    let link = format!(
        "/console/sedi/7001/allegati/{}",
        wire::hex(&<sha2::Sha256 as sha2::Digest>::digest(&png))
    );
    assert!(
        page.contains(&link) && page.contains("estratto.png"),
        "{page}"
    );
    let r = office
        .client
        .get(format!("{base}{link}"))
        .header("cookie", &office.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), png.as_slice());
    let counter = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    assert_eq!(counter.get(&link).await.0, StatusCode::FORBIDDEN);

    // The sede replies to the first request and closes it. The visitor hears of each event
    // (received, reply, closed) by e-mail and SMS from the job table, through a real SMTP
    // server and an SMS provider on loopback, both failing once: retried, sent once each.
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", protocol.as_str()),
                ("action", "rispondi"),
                ("body", "Il versamento risulta: nessuna differenza."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[("protocol", protocol.as_str()), ("action", "chiudi")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mail = smtp::SmtpSink::start().await;
    let sms = SmsSink::start().await;
    *mail.fail_next.lock().unwrap() = true;
    *sms.fail_next.lock().unwrap() = true;
    let notifier = hub::notify::Notifier::from_config(&config::HubConfig {
        smtp_url: Some(mail.url()),
        sms_url: Some(sms.url()),
        sms_token: Some("token-di-prova".into()),
        ..Default::default()
    })
    .unwrap();
    let (sent_ok, failed) = run_jobs(&hub.pool, &notifier).await;
    assert_eq!((sent_ok, failed), (6, 2), "one e-mail and one SMS failed");
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("UPDATE job SET run_at = now() WHERE state = 'pending'", &[])
        .await
        .unwrap();
    assert_eq!(run_jobs(&hub.pool, &notifier).await, (2, 0), "retried");
    assert_eq!(
        run_jobs(&hub.pool, &notifier).await,
        (0, 0),
        "nothing twice"
    );
    let mails = mail.messages();
    assert_eq!(mails.len(), 4, "received ×2, reply, closed");
    let texts: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            assert_eq!(m.to, [format!("<{email}>")]);
            assert_eq!(m.from, "<noreply@sportello.invalid>");
            (header_text(&m.data, "Subject"), body_text(&m.data))
        })
        .collect();
    let about = |event: &str| {
        texts
            .iter()
            .filter(|(subject, body)| {
                subject.contains(&protocol) && subject.contains(event) && body.contains(&protocol)
            })
            .count()
    };
    assert_eq!(about("è stata ricevuta"), 1, "{texts:#?}");
    assert_eq!(about("ha una risposta della sede"), 1, "{texts:#?}");
    assert_eq!(about("è stata chiusa"), 1, "{texts:#?}");
    for (_, body) in &texts {
        assert!(
            !body.contains("nessuna differenza")
                && !body.contains("quietanza dell'F24")
                && !body.contains("Versamento di marzo"),
            "what was written stays at the hub: {body}"
        );
    }
    let texts = sms.received();
    assert_eq!(texts.len(), 4);
    let digits: String = mobile
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    for (auth, body) in &texts {
        assert_eq!(auth, "Bearer token-di-prova");
        assert_eq!(body["to"], digits.as_str());
        assert_eq!(body["from"], "INPS");
        let text = body["text"].as_str().unwrap();
        assert!(text.chars().count() <= 160, "one SMS: {text}");
        assert!(!text.contains("nessuna differenza"), "{text}");
    }
    assert!(
        texts.iter().any(|(_, b)| b["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{protocol} ha una risposta della sede"))),
        "{texts:?}"
    );

    // After the kiosk ends the session the phone's desk is closed.
    assert_eq!(
        kiosk
            .signed(&base, "POST", &format!("/v1/handoff/{}/end", started.id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(desk().await.0, StatusCode::UNAUTHORIZED);
}

/// Answered on time: the sede's supervisor sets its promise in the console (working days per
/// topic, its city's patron saint, the margin, the mailbox that hears of escalations); every
/// request carries its clock to the kiosk and the console, which lists the overdue first; the
/// hourly sweep escalates a request late by the margin — once — to the mailbox and offers the
/// visitor the Agenda's first free slot; an answer stops the clock and the offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_sedes_promise_is_escalated_and_offers_an_appointment() {
    use domain::contatti::{ResponseClock, ResponseTargets};
    use domain::working_days::DayOfYear;
    use protocol::wire::{AgendaView, ContactRequest, NewContactRequest};
    let hub = Hub::start(1).await;
    let Visitor {
        mine,
        kiosk,
        base,
        started,
        ..
    } = Visitor::identified(&hub).await;
    hub.staff(&[
        ("responsabile", hub::accounts::Role::Supervisor, Some(SEDE)),
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
    ])
    .await;
    let boss = ConsoleSession::login(&hub, 0, "responsabile", STAFF_PASSWORD).await;
    let mut form = vec![
        ("default_days", "10"),
        ("giorni_f24", "5"),
        ("escalate_after", "2"),
        ("patron", "31/06"),
        ("escalate_to", "direzione.sede@example.it"),
    ];
    let (status, _, page) = boss.post("/console/sedi/7001/risposte", &form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no 31 June");
    assert!(page.contains("si scrive come 29/06"), "{page}");
    form[3] = ("patron", "29/06");
    let (status, _, _) = boss.post("/console/sedi/7001/risposte", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = boss.get("/console/sedi/7001").await;
    assert!(
        page.contains("value=\"29/06\"") && page.contains("direzione.sede@example.it"),
        "the form shows what was saved: {page}"
    );
    let targets = ResponseTargets {
        default_days: 10,
        by_topic: [("f24".to_owned(), 5)].into(),
        escalate_after: 2,
        patron: DayOfYear::parse("29/06"),
        escalate_to: Some("direzione.sede@example.it".into()),
    };

    // Two requests from the kiosk; each answer carries its clock as it starts.
    let mut protocols = Vec::new();
    for (topic, subject) in [("f24", "Versamento di marzo"), ("generica", "Sgravio")] {
        let req = NewContactRequest {
            matricola: mine,
            topic: topic.into(),
            subject: subject.into(),
            body: "Chiedo una verifica.".into(),
        };
        let sent = kiosk
            .signed_json(&base, &format!("/v1/handoff/{}/requests", started.id), &req)
            .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
        let sent: serde_json::Value = sent.json().await.unwrap();
        let clock: ResponseClock = serde_json::from_value(sent["clock"].clone()).unwrap();
        let today = chrono::Utc::now()
            .with_timezone(&domain::TIME_ZONE)
            .date_naive();
        assert_eq!(clock, targets.clock(topic, today, None, today), "{topic}");
        protocols.push(sent["protocol"].as_str().unwrap().to_owned());
    }
    let (late, fresh) = (&protocols[0], &protocols[1]);
    // The F24 request arrived six weeks ago; the visitor left an e-mail address with it.
    let c = hub.pool.get().await.unwrap();
    c.execute(
        "UPDATE contact_request SET created_at = now() - interval '42 days',
             email = 'studio@example.it' WHERE protocol = $1",
        &[late],
    )
    .await
    .unwrap();
    let history = || async {
        kiosk
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/requests/{mine}", started.id),
            )
            .await
            .json::<Vec<ContactRequest>>()
            .await
            .unwrap()
    };
    let find =
        |list: &[ContactRequest], p: &str| list.iter().find(|r| r.protocol == p).cloned().unwrap();
    let list = history().await;
    let clock = find(&list, late).clock.unwrap();
    assert!(
        clock.is_overdue() && clock.needs_escalation(&targets),
        "{clock:?}"
    );
    assert_eq!(find(&list, late).offered_slot, None, "not escalated yet");
    assert!(!find(&list, fresh).clock.unwrap().is_overdue());

    // The hourly sweep, through the job table: escalated once, however often it runs.
    let mail = smtp::SmtpSink::start().await;
    let notifier = hub::notify::Notifier::from_config(&config::HubConfig {
        smtp_url: Some(mail.url()),
        ..Default::default()
    })
    .unwrap();
    run_jobs(&hub.pool, &notifier).await;
    let before = mail.messages().len();
    hub::contatti::schedule_escalation(&c).await.unwrap();
    hub::contatti::schedule_escalation(&c).await.unwrap();
    assert_eq!(
        run_jobs(&hub.pool, &notifier).await,
        (3, 0),
        "the sweep and two e-mails"
    );
    assert_eq!(
        hub::contatti::escalate(&hub.pool, chrono::Utc::now())
            .await
            .unwrap(),
        0,
        "nothing twice"
    );
    let escalated: Vec<String> = c
        .query(
            "SELECT protocol FROM contact_request WHERE escalated_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(escalated, std::slice::from_ref(late));
    let audited: i64 = c
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'contatti.escalate'
               AND detail->>'protocol' = $1",
            &[late],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);

    // The offer is the Agenda's first free slot, live.
    let agenda: AgendaView = kiosk
        .signed(
            &base,
            "GET",
            &format!("/v1/handoff/{}/agenda/{mine}", started.id),
        )
        .await
        .json()
        .await
        .unwrap();
    let list = history().await;
    assert_eq!(
        find(&list, late).offered_slot,
        agenda.slots.first().copied()
    );
    assert!(
        find(&list, late).offered_slot.is_some(),
        "the demo sede has free slots"
    );
    assert_eq!(find(&list, fresh).offered_slot, None);

    // The supervisor's mailbox hears the protocol and the clock, never what was written; the
    // visitor hears of the offer.
    let mails = &mail.messages()[before..];
    let to = |address: &str| {
        mails
            .iter()
            .filter(|m| m.to == [format!("<{address}>")])
            .map(|m| body_text(&m.data))
            .collect::<Vec<_>>()
    };
    let boss_mail = to("direzione.sede@example.it");
    assert_eq!(boss_mail.len(), 1, "{mails:#?}");
    assert!(
        boss_mail[0].contains(late.as_str())
            && boss_mail[0].contains("Versamenti F24")
            && !boss_mail[0].contains("Versamento di marzo")
            && !boss_mail[0].contains("Chiedo una verifica"),
        "{}",
        boss_mail[0]
    );
    let visitor_mail = to("studio@example.it");
    assert_eq!(visitor_mail.len(), 1, "{mails:#?}");
    let slot = domain::italian_when(agenda.slots[0]);
    assert!(
        visitor_mail[0].contains(&slot),
        "{slot} in {}",
        visitor_mail[0]
    );

    // The back office sees the late one first, marked, with the count on top.
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    let (_, page) = office.get("/console/sedi/7001/richieste").await;
    let (at_late, at_fresh) = (
        page.find(late.as_str()).unwrap(),
        page.find(fresh.as_str()).unwrap(),
    );
    assert!(at_late < at_fresh, "the overdue request first");
    assert!(
        page.contains("1 richiesta è oltre il termine di risposta"),
        "{page}"
    );
    assert!(
        page.contains("di cui 1 segnalata al responsabile"),
        "{page}"
    );
    assert!(page.contains("In ritardo"), "{page}");

    // The reply stops the clock (late, as it was) and the offer.
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", late.as_str()),
                ("action", "rispondi"),
                ("body", "Verificato."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let list = history().await;
    let answered = find(&list, late);
    let clock = answered.clock.unwrap();
    assert!(clock.answered.is_some() && !clock.is_overdue() && clock.late_by() > 0);
    assert_eq!(answered.offered_slot, None);
    let (_, page) = office.get("/console/sedi/7001/richieste").await;
    assert!(
        !page.contains("oltre il termine di risposta</strong>"),
        "{page}"
    );
}
