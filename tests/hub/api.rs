//! The public API description against the routes, and the public *segui la coda* page.

use crate::helpers::*;

/// The served OpenAPI description matches the hub: every route the router declares is
/// described with its method and every described one answers (not 404/405); and each schema's
/// properties are exactly the fields the Rust wire types write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_matches_the_routes_and_the_wire_types() {
    use protocol::wire::*;
    // With a metrics token, so that `/metrics` exists (it answers 401 here, not 404).
    let hub = Hub::start_with(1, |s| {
        s.with_metrics_token(Some("metriche-api-0123456789".into()))
    })
    .await;
    let base = hub.base(0);
    let served: serde_json::Value = hub
        .client
        .get(format!("{base}/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = served["paths"].as_object().unwrap();
    let mut described: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    // The routes, read from the routers' source (both ways: none missing, none extra): every
    // `.route("path", get(a).post(b))`, however rustfmt wrapped it.
    let mut routed = BTreeSet::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/hub/src");
    let files = ["", "/console"].iter().flat_map(|sub| {
        std::fs::read_dir(format!("{dir}{sub}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
    });
    for file in files {
        let source = std::fs::read_to_string(file).unwrap();
        for call in source.split(".route(").skip(1) {
            let path = call.split('"').nth(1).unwrap().to_string();
            let rest = call.split('"').nth(2).unwrap();
            // The method chain runs to the call's closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .unwrap()
                .0;
            for method in ["get", "post", "put", "delete"] {
                if rest[..end].contains(&format!("{method}(")) {
                    routed.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    assert!(routed.len() >= 20, "{routed:?}");
    assert_eq!(described, routed, "docs/openapi.json against the routers");
    for (method, path) in &described {
        // Served only by a hub in the federation: identity_providers.rs fetches it from one.
        if path == "/.well-known/openid-federation" {
            continue;
        }
        let r = hub
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status()),
            "{method} {path}: {}",
            r.status()
        );
    }
    // Schemas against the types.
    let schemas = &served["components"]["schemas"];
    let keys = |v: serde_json::Value| -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let props = |name: &str| -> BTreeSet<String> { keys(schemas[name]["properties"].clone()) };
    let op = queue_op(1, 1);
    let stuck = protocol::wire::FeedStuck {
        since: chrono::Utc::now(),
        after: 41,
        error: "feed staff: invalid type".into(),
    };
    let samples: Vec<(&str, serde_json::Value)> = vec![
        (
            "EnrolRequest",
            serde_json::to_value(EnrolRequest {
                code: "c".into(),
                public_key: "k".into(),
                client_version: "v".into(),
            })
            .unwrap(),
        ),
        (
            "EnrolResponse",
            serde_json::to_value(EnrolResponse {
                device_id: "d".into(),
                branch: 1,
                role: protocol::wire::DeviceRole::Kiosk,
            })
            .unwrap(),
        ),
        (
            "DeviceStatus",
            serde_json::to_value(DeviceStatus {
                feed_stuck: Some(stuck.clone()),
                lan: Some(protocol::wire::LanEndpoint {
                    url: "https://10.0.0.2:8443".into(),
                    key: "00".repeat(32),
                }),
                ..DeviceStatus::default()
            })
            .unwrap(),
        ),
        ("FeedStuck", serde_json::to_value(&stuck).unwrap()),
        ("PushOp", serde_json::to_value(&op).unwrap()),
        (
            "PushRequest",
            serde_json::to_value(batch("i", vec![op.clone()])).unwrap(),
        ),
        (
            "OpResult",
            serde_json::to_value(OpResult {
                seq: 1,
                status: OpStatus::Applied,
                detail: None,
            })
            .unwrap(),
        ),
        (
            "PushResponse",
            serde_json::to_value(PushResponse {
                acked_through: 1,
                results: vec![],
            })
            .unwrap(),
        ),
        (
            "FeedChange",
            serde_json::to_value(FeedChange {
                seq: 1,
                entity: "e".into(),
                entity_id: "i".into(),
                op: "put".into(),
                schema_version: 1,
                payload: None,
            })
            .unwrap(),
        ),
        (
            "PullResponse",
            serde_json::to_value(PullResponse {
                epoch: "e".into(),
                changes: vec![],
                next_after: 0,
                up_to_date: true,
                hub_keys: vec!["00".repeat(32)],
                follow_key: Some("00".repeat(32)),
            })
            .unwrap(),
        ),
    ];
    let mut samples = samples;
    let company = CompanyChoice {
        matricola: domain::Matricola::parse("5124776507").unwrap(),
        company_cf: domain::CodiceFiscale::parse("RSSMRA80A01H501U").unwrap(),
        denominazione: "d".into(),
        role: domain::TipoDelegato::ConsulenteCommercialista,
    };
    samples.push((
        "HandoffStarted",
        serde_json::to_value(HandoffStarted {
            id: "i".into(),
            url: "u".into(),
            expires_at: chrono::Utc::now(),
            code: "0427".into(),
        })
        .unwrap(),
    ));
    samples.push(("CompanyChoice", serde_json::to_value(&company).unwrap()));
    let message = ContactMessage {
        at: chrono::Utc::now(),
        direction: domain::contatti::Direction::In,
        body: "b".into(),
    };
    samples.push(("ContactMessage", serde_json::to_value(&message).unwrap()));
    let attachment = AttachmentInfo {
        name: "f24.pdf".into(),
        mime: "application/pdf".into(),
        size: 1,
    };
    let task = DeskTask::Richiesta {
        matricola: company.matricola,
    };
    samples.push((
        "ContactRequest",
        serde_json::to_value(ContactRequest {
            protocol: "p".into(),
            topic: "f24".into(),
            subject: "s".into(),
            state: domain::contatti::RequestState::Aperta,
            created_at: chrono::Utc::now(),
            messages: vec![message],
            attachments: vec![attachment.clone()],
            clock: Some(domain::contatti::ResponseTargets::default().clock(
                "f24",
                chrono::NaiveDate::from_ymd_opt(2026, 6, 19).unwrap(),
                None,
                chrono::NaiveDate::from_ymd_opt(2026, 6, 24).unwrap(),
            )),
            offered_slot: chrono::NaiveDate::from_ymd_opt(2026, 7, 1)
                .unwrap()
                .and_hms_opt(9, 30, 0),
        })
        .unwrap(),
    ));
    samples.push(("AttachmentInfo", serde_json::to_value(&attachment).unwrap()));
    samples.push((
        "ResponseClock",
        serde_json::to_value(domain::contatti::ResponseTargets::default().clock(
            "f24",
            chrono::NaiveDate::from_ymd_opt(2026, 6, 19).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2026, 6, 23),
            chrono::NaiveDate::from_ymd_opt(2026, 6, 24).unwrap(),
        ))
        .unwrap(),
    ));
    // Both variants' fields together are the schema's properties.
    let mut desk = serde_json::to_value(&task).unwrap();
    desk.as_object_mut().unwrap().extend(
        serde_json::to_value(DeskTask::Istanza {
            matricola: company.matricola,
            modulo: "rimborso".into(),
        })
        .unwrap()
        .as_object()
        .unwrap()
        .clone(),
    );
    samples.push(("DeskTask", desk));
    let availability = ModuloAvailability {
        code: "rimborso".into(),
        available: false,
        reason: Some("r".into()),
    };
    let istanza = IstanzaInfo {
        protocol: "p".into(),
        code: "rimborso".into(),
        state: domain::istanze::IstanzaState::Respinta,
        esito: Some("e".into()),
        created_at: chrono::Utc::now(),
    };
    samples.push((
        "ModuloAvailability",
        serde_json::to_value(&availability).unwrap(),
    ));
    samples.push(("IstanzaInfo", serde_json::to_value(&istanza).unwrap()));
    let booked = AgendaBooking {
        booking: "APP-2026-100001".into(),
        starts_at: chrono::Utc::now().naive_utc(),
        service: "A".into(),
        state: domain::AppointmentState::Confirmed,
        token: "t".into(),
    };
    samples.push(("AgendaBooking", serde_json::to_value(&booked).unwrap()));
    samples.push((
        "AgendaView",
        serde_json::to_value(AgendaView {
            sede: "s".into(),
            service: "A".into(),
            service_name: "n".into(),
            slots: vec![booked.starts_at],
            bookings: vec![booked.clone()],
        })
        .unwrap(),
    ));
    samples.push((
        "NewBooking",
        serde_json::to_value(NewBooking {
            starts_at: booked.starts_at,
        })
        .unwrap(),
    ));
    samples.push((
        "IstanzeView",
        serde_json::to_value(IstanzeView {
            moduli: vec![availability],
            sent: vec![istanza],
        })
        .unwrap(),
    ));
    samples.push((
        "NewContactRequest",
        serde_json::to_value(NewContactRequest {
            matricola: company.matricola,
            topic: "f24".into(),
            subject: "s".into(),
            body: "b".into(),
        })
        .unwrap(),
    ));
    // Every variant's fields together are the schema's properties.
    let mut state = serde_json::Map::new();
    for v in [
        HandoffState::Pending { opened: true },
        HandoffState::Bound {
            name: "n".into(),
            companies: vec![company],
            until: chrono::Utc::now(),
            task: Some(task),
            sent: Some("p".into()),
        },
        HandoffState::Expired,
    ] {
        state.extend(
            serde_json::to_value(v)
                .unwrap()
                .as_object()
                .unwrap()
                .clone(),
        );
    }
    samples.push(("HandoffState", serde_json::Value::Object(state)));
    for (name, sample) in samples {
        assert_eq!(props(name), keys(sample), "schema {name}");
    }
    let refusals: BTreeSet<String> = [
        serde_json::to_value(PushRefusal::Gap { expected_seq: 1 }).unwrap(),
        serde_json::to_value(PushRefusal::IncarnationConflict { seq: 1 }).unwrap(),
    ]
    .into_iter()
    .flat_map(keys)
    .collect();
    assert_eq!(props("PushRefusal"), refusals);
}

/// *Segui la coda*: the page a ticket's QR opens, fed by the events the kiosk pushed: the
/// ticket's band and estimate while it waits, its counter once called; unknown tickets and
/// malformed addresses get their own answers; no personal data on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follow_page_shows_the_tickets_place_from_pushed_events() {
    use branch::sync::agent::Agent;
    use domain::{ServiceLetter, SystemClock, TicketPriority};
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let (demo, replica) = open_around_the_clock(&hub, &clock).await;

    let (_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    let agent = Agent::new(branch.clone(), &link).unwrap();
    agent.pull_once().await.unwrap();
    let p = ServiceLetter::parse("P").unwrap();
    let tickets: Vec<_> = (0..8)
        .map(|_| branch.issue_ticket(p, TicketPriority::WalkIn).unwrap())
        .collect();
    while agent.push_once().await.unwrap() > 0 {}
    let day = tickets[0].business_day;
    let page = |t: &str| {
        let url = format!("{base}/coda/7001/{day}/{t}");
        let client = hub.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = page(&tickets[7].number.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&tickets[7].number.to_string()), "{html}");
    assert!(html.contains("Da 6 a 10 persone prima di lei"), "{html}");
    if let Ok(out) = std::env::var("SPORTELLO_FOLLOW_HTML") {
        // As the printed QR opens it, with its form.
        let (path, tag) = follow_address(&branch, &tickets[7]);
        let tagged = text_of(&hub.client, &format!("{base}{path}?c={tag}")).await;
        std::fs::write(out, &tagged).unwrap();
    }
    assert!(html.contains("Attesa stimata"), "{html}");
    for secret in demo.sensitive_strings() {
        assert!(
            !html.contains(&secret),
            "personal data on a public page: {secret}"
        );
    }
    // A counter calls the first ticket; the kiosk pushes; its page says where to go.
    let counter = open_counter_for(&branch, &replica, p);
    branch
        .execute(queue::Command::CallNext { counter })
        .unwrap();
    while agent.push_once().await.unwrap() > 0 {}
    let (_, html) = page(&tickets[0].number.to_string()).await;
    assert!(
        html.contains(&format!("È il suo turno: sportello {counter}")),
        "{html}"
    );
    assert_eq!(page("Z999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(page("not-a-ticket").await.0, StatusCode::BAD_REQUEST);
}

/// A node that took the day over from a dead one: the visitor's follow page, replayed at the
/// hub from both logs, shows what the new node did to a ticket the dead one issued; and the new
/// node numbers after the dead one's last number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_take_over_the_follow_page_follows_the_new_node() {
    use branch::sync::agent::Agent;
    use domain::{ServiceLetter, SystemClock, TicketPriority};
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let (_, replica) = open_around_the_clock(&hub, &clock).await;
    let p = ServiceLetter::parse("P").unwrap();

    let (_dead_dir, dead) = empty_kiosk(&clock);
    let dead_link = hub.enrol_branch(&dead).await;
    let dead_agent = Agent::new(dead.clone(), &dead_link).unwrap();
    dead_agent.pull_once().await.unwrap();
    let issued: Vec<_> = (0..3)
        .map(|_| dead.issue_ticket(p, TicketPriority::WalkIn).unwrap())
        .collect();
    while dead_agent.push_once().await.unwrap() > 0 {}
    drop(dead_agent);
    hub::devices::revoke(
        &hub.pool.get().await.unwrap(),
        "admin",
        &dead_link.device_id,
    )
    .await
    .unwrap();

    let (_dir, node) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&node).await;
    let agent = Agent::new(node.clone(), &link).unwrap();
    agent.pull_once().await.unwrap();
    let client = branch::sync::client::HubClient::with_pins(
        &base,
        &link.device_id,
        &link.secret_key,
        agent.pins(),
    )
    .unwrap();
    let log = client
        .day_log(domain::Clock::today(clock.as_ref()))
        .await
        .unwrap();
    let day = node.take_over(&log).unwrap().expect("a day to take over");
    assert_eq!(day.from, dead_link.device_id);
    assert_eq!(day.last.get(&p), Some(&issued[2].number.number()));
    assert_eq!(day.open.len(), 3);
    let next = node.issue_ticket(p, TicketPriority::WalkIn).unwrap();
    assert_eq!(next.number.number(), issued[2].number.number() + 1);
    // The new node's counter calls the first ticket the dead node issued.
    let counter = open_counter_for(&node, &replica, p);
    node.execute(queue::Command::CallNext { counter }).unwrap();
    while agent.push_once().await.unwrap() > 0 {}
    let page = |t: domain::TicketNumber| {
        let url = format!("{base}/coda/7001/{}/{t}", issued[0].business_day);
        let client = hub.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = page(issued[0].number).await;
    assert!(first.contains("È il suo turno"), "{first}");
    let second = page(issued[1].number).await;
    assert!(second.contains("prima di lei"), "{second}");
}
