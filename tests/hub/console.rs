//! The hub console: the fleet of kiosks, a sede with its bookings and accounts.

use crate::helpers::*;

/// The console over real HTTPS: login (a strict cookie; wrong passwords limited), the fleet
/// with each kiosk's reported health, enrolment codes and revocation by administrators with
/// the session's CSRF token, supervisors limited to their sede.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_kiosks_with_their_health_and_lets_administrators_act() {
    use hub::accounts::{self, Role};
    use protocol::wire::DeviceStatus;
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    {
        let mut c = hub.pool.get().await.unwrap();
        accounts::create_user(&mut c, "cli", "root", STAFF_PASSWORD, Role::Admin, None)
            .await
            .unwrap();
        accounts::create_user(
            &mut c,
            "root",
            "capo",
            STAFF_PASSWORD,
            Role::Supervisor,
            Some(5105),
        )
        .await
        .unwrap();
    }
    let kiosk = hub.enrol().await;
    let mut req = batch("inc-1", vec![queue_op(1, 1)]);
    req.status = DeviceStatus {
        outbox_depth: 3,
        oldest_pending_age_s: Some(1800),
        printer: "paper_out".into(),
        scanner: "present".into(),
        clock_trusted: true,
        ..DeviceStatus::default()
    };
    assert_eq!(kiosk.push(&base, &req).await.status(), StatusCode::OK);

    let client = &hub.client;
    let login = |user: &str, password: &str| {
        client
            .post(format!("{base}/console/login"))
            .form(&[("username", user), ("password", password)])
            .send()
    };
    let get = |cookie: Option<String>| {
        let mut r = client.get(format!("{base}/console"));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console/login");

    let wrong = login("root", "sbagliata").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("non corretti"));
    let ok = login("root", STAFF_PASSWORD).await.unwrap();
    if ok.status() != StatusCode::SEE_OTHER {
        panic!("{}: {}", ok.status(), ok.text().await.unwrap());
    }
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in [
        "__Host-hub_session=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    // Today's queue at the branch, as its kiosks pushed it.
    hub.pool
        .get()
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
             SELECT 7001, 'today', s, (now() AT TIME ZONE 'Europe/Rome')::date,
                    CASE WHEN s <= 3 THEN 'ticket_issued' ELSE 'ticket_served' END, '{}', 'k'
             FROM generate_series(1, 4) s",
        )
        .await
        .unwrap();
    let page = get(Some(cookie.clone()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<tr><td>7001</td><td>3</td><td>0</td><td>1</td><td>0</td></tr>"),
        "{page}"
    );
    assert!(page.contains(&kiosk.id), "{page}");
    assert!(page.contains("senza carta"), "{page}");
    assert!(page.contains("3 (da 30 min)"), "{page}");
    // The kiosk reported a version older than the hub's: it lags, and says to which one.
    let expected = env!("CARGO_PKG_VERSION");
    assert!(
        page.contains(&format!(
            "Versione attesa: {expected}; <strong>1 da aggiornare</strong>"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!("test – da aggiornare alla {expected}")),
        "{page}"
    );
    if let Ok(out) = std::env::var("SPORTELLO_CONSOLE_HTML") {
        std::fs::write(out, &page).unwrap();
    }
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let post = |path: &str, form: Vec<(&str, String)>, cookie: &str| {
        client
            .post(format!("{base}{path}"))
            .header("cookie", cookie)
            .form(&form)
            .send()
    };
    // Without the session's CSRF token, nothing happens.
    let forged = post(
        "/console/enrolment-codes",
        vec![("csrf", "x".into()), ("branch", "7001".into())],
        &cookie,
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let made = post(
        "/console/enrolment-codes",
        vec![("csrf", csrf.clone()), ("branch", "7001".into())],
        &cookie,
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let code = made
        .split("id=\"enrolment-code\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let enrolled = hub
        .client
        .post(format!("{base}/v1/enrol"))
        .json(&EnrolRequest {
            code,
            public_key: wire::hex(
                SigningKey::from_bytes(&rand_seed())
                    .verifying_key()
                    .as_bytes(),
            ),
            client_version: "test".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(
        enrolled.status(),
        StatusCode::OK,
        "the console's code enrols a kiosk"
    );
    let revoked = post(
        &format!("/console/devices/{}/revoke", kiosk.id),
        vec![("csrf", csrf.clone())],
        &cookie,
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        kiosk
            .push(&base, &batch("inc-1", vec![queue_op(2, 2)]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A supervisor of another sede sees none of these kiosks and cannot enrol.
    let sup = login("capo", STAFF_PASSWORD).await.unwrap();
    let sup_cookie = sup.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let sup_page = get(Some(sup_cookie.clone()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!sup_page.contains(&kiosk.id));
    assert!(!sup_page.contains("Registra un nuovo chiosco"));
    let sup_csrf = sup_page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let refused = post(
        "/console/enrolment-codes",
        vec![("csrf", sup_csrf), ("branch", "5105".into())],
        &sup_cookie,
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Five wrong passwords for an account block it for a while.
    for _ in 0..5 {
        login("capo", "sbagliata").await.unwrap();
    }
    assert_eq!(
        login("capo", STAFF_PASSWORD).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The console's sede pages: a supervisor changes services, counters, hours and rules (bad
/// values refused with the reason, nothing lost), the kiosk receives each change through its
/// feed; bookings are listed against the day's slots and cancelled by the sede; accounts are
/// made and reset with a temporary password shown once, and disabled; every role sees and
/// changes only what it may; the login limit holds across two hub instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_runs_a_sede_its_bookings_and_accounts_and_kiosks_follow() {
    use branch::sync::agent::Agent;
    use domain::{AppointmentState, Clock, SystemClock};
    use hub::accounts::{self, Role};
    let hub = Hub::start(2).await;
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let now = clock.local_now().naive_local();
    let demo = demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 5, now)
        .await
        .unwrap();
    {
        let mut c = hub.pool.get().await.unwrap();
        for (user, role, branch) in [
            ("root", Role::Admin, None),
            ("capo", Role::Supervisor, Some(SEDE)),
            ("banco", Role::Counter, Some(SEDE)),
        ] {
            accounts::create_user(&mut c, "cli", user, STAFF_PASSWORD, role, branch)
                .await
                .unwrap();
        }
    }
    let (_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    let agent = Agent::new(branch.clone(), &link).unwrap();
    agent.pull_once().await.unwrap();

    // The supervisor, on the second instance, changes the sede.
    let capo = ConsoleSession::login(&hub, 1, "capo", STAFF_PASSWORD).await;
    let sede = "/console/sedi/7001";
    let (status, page) = capo.get(sede).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sede 7001"), "{page}");
    let (status, to, _) = capo
        .post(
            &format!("{sede}/servizi"),
            &[
                ("letter", "z"),
                ("name", " Zeta di prova "),
                ("level", "2"),
                ("slot_minutes", "20"),
                ("appointment_only", "on"),
            ],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sedi/7001?salvato=servizi")
    );
    let (_, page) = capo.get(&to).await;
    assert!(
        page.contains("Servizi salvati.") && page.contains("Zeta di prova"),
        "{page}"
    );
    let (status, _, _) = capo
        .post(
            &format!("{sede}/sportelli"),
            &[("number", "9"), ("label", "Sportello 9"), ("peso_Z", "2")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let hours = [
        ("service", "Z"),
        ("weekday", "1"),
        ("opens", "09:00"),
        ("closes", "11:00"),
    ];
    assert_eq!(
        capo.post(&format!("{sede}/orari"), &hours).await.0,
        StatusCode::SEE_OTHER
    );
    // Refusals say why and change nothing.
    for (path, form, reason) in [
        (
            "orari",
            vec![
                ("service", "Z"),
                ("weekday", "1"),
                ("opens", "10:00"),
                ("closes", "12:00"),
            ],
            "Si sovrappone alla fascia 09:00–11:00",
        ),
        (
            "servizi-rimuovi",
            vec![("letter", "Z")],
            "Lo sportello 9 serve ancora il servizio Z",
        ),
        (
            "sportelli",
            vec![("number", "100"), ("label", "x"), ("peso_Z", "1")],
            "da 1 a 99",
        ),
        (
            "regole",
            rules(&[("priority_calls", "5"), ("priority_window", "2")]),
            "Regole non valide",
        ),
        (
            "regole",
            rules(&[("recall_grace_min", "45")]),
            "al più di 30 minuti",
        ),
        (
            "regole",
            rules(&[("pause_reasons", " \r\n")]),
            "i motivi di pausa sono da 1 a 8",
        ),
    ] {
        let (status, _, page) = capo.post(&format!("{sede}/{path}"), &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(page.contains(reason), "{path}: {page}");
    }
    let saved_rules = rules(&[
        ("daily_cap", "321"),
        ("holidays", "25/12/2026\r\n2026-12-26"),
        ("recall_grace_min", "4"),
        ("grazia_Z", "8"),
        ("pause_reasons", "Pausa\r\nSportello sociale\r\n"),
    ]);
    assert_eq!(
        capo.post(&format!("{sede}/regole"), &saved_rules).await.0,
        StatusCode::SEE_OTHER
    );

    // The kiosk follows: the new service, its counter and hours, the rules.
    assert!(agent.pull_once().await.unwrap() >= 1);
    let z = domain::ServiceLetter::parse("Z").unwrap();
    let (services, counters) = branch.read(|_, s| (s.services().unwrap(), s.counters().unwrap()));
    let service = services
        .iter()
        .find(|s| s.letter == z)
        .expect("the kiosk has Z");
    assert_eq!(
        (service.name.as_str(), service.slot_minutes),
        ("Zeta di prova", 20)
    );
    assert!(
        counters
            .iter()
            .any(|k| k.number.get() == 9 && k.services == vec![(z, 2)])
    );
    let stored: serde_json::Value = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT payload FROM branch_config WHERE branch_id = 7001",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["rules"]["daily_cap"], 321);
    // The node calls a visitor of Z once more after 8 minutes, others after 4; its counters
    // pause for the sede's two reasons.
    let (grace_z, grace_other, reasons) = branch.read(|q, _| {
        let other = q.services().find(|s| s.letter != z).unwrap().letter;
        (
            q.rules().recall_grace(z).num_minutes(),
            q.rules().recall_grace(other).num_minutes(),
            q.rules().pause_reasons.clone(),
        )
    });
    assert_eq!((grace_z, grace_other), (8, 4));
    assert_eq!(reasons, ["Pausa", "Sportello sociale"]);
    assert_eq!(stored["rules"]["holidays"].as_array().unwrap().len(), 2);
    assert!(
        count(
            &hub.pool,
            "SELECT count(*) FROM audit_log WHERE actor = 'capo' AND action LIKE 'sede.%'"
        )
        .await
            >= 4
    );

    // Not another sede, and not counter staff.
    assert_eq!(
        capo.get("/console/sedi/5105").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        capo.post("/console/sedi/5105/servizi", &[("letter", "Q")])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let banco = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    let (status, page) = banco.get(sede).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Zeta di prova") && !page.contains("Salva il servizio"));
    assert_eq!(
        banco.post(&format!("{sede}/orari-rimuovi"), &hours).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(banco.get("/console/sedi").await.0, StatusCode::SEE_OTHER);

    // Bookings against the day's slots; the sede cancels one and the kiosk hears of it.
    let booked = &demo.appointments[3].appointment;
    let day = booked.starts_at.date().format("%Y-%m-%d").to_string();
    let list = format!(
        "{sede}/appuntamenti?giorno={day}&servizio={}",
        booked.service
    );
    let (status, page) = capo.get(&list).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&booked.id.to_string()), "{page}");
    assert!(page.contains("fasce libere"), "{page}");
    let cancel = format!("{sede}/appuntamenti/{}/annulla", booked.id);
    let form = [
        ("giorno", day.as_str()),
        ("servizio", &booked.service.to_string()),
    ];
    let (status, to, _) = banco.post(&cancel, &form).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "counter staff do not cancel: {to}"
    );
    let (status, to, _) = capo.post(&cancel, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(capo.get(&to).await.1.contains("annullata dalla sede"));
    let (_, to, _) = capo.post(&cancel, &form).await;
    assert!(capo.get(&to).await.1.contains("non si può più annullare"));
    assert_eq!(agent.pull_once().await.unwrap(), 1);
    let at_kiosk = branch.read(|_, s| s.appointment(booked.id).unwrap().unwrap());
    assert_eq!(at_kiosk.state, AppointmentState::CancelledBySede);

    // Accounts: a supervisor makes counter staff of the sede, never an administrator.
    let (status, _, page) = capo
        .post(
            "/console/account",
            &[("username", "nuovo.banco"), ("role", "counter")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first = between(&page, "id=\"temporary-password\">", "<").to_owned();
    assert!(first.len() >= 16, "{first}");
    let (status, _, page) = capo
        .post(
            "/console/account",
            &[("username", "nuovo.banco"), ("role", "counter")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("già in uso"),
        "an account is never taken over: {page}"
    );
    assert_eq!(
        capo.post(
            "/console/account",
            &[("username", "boss"), ("role", "admin")]
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        capo.post("/console/account/root/password", &[]).await.0,
        StatusCode::FORBIDDEN
    );
    let newcomer = ConsoleSession::login(&hub, 0, "nuovo.banco", &first).await;
    let (_, _, page) = capo
        .post("/console/account/nuovo.banco/password", &[])
        .await;
    let second = between(&page, "id=\"temporary-password\">", "<").to_owned();
    assert_ne!(first, second);
    assert_eq!(
        newcomer.get("/console").await.0,
        StatusCode::SEE_OTHER,
        "a reset logs the old session out"
    );
    assert_eq!(
        ConsoleSession::try_login(&hub, 1, "nuovo.banco", &first)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    ConsoleSession::login(&hub, 1, "nuovo.banco", &second).await;
    let (status, _, _) = capo
        .post("/console/account/nuovo.banco/stato", &[("disabled", "1")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        ConsoleSession::try_login(&hub, 0, "nuovo.banco", &second)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    agent.pull_once().await.unwrap();
    let staff = branch
        .read(|_, s| s.staff("nuovo.banco").unwrap())
        .expect("the account reached the branch");
    assert!(staff.disabled, "and so did its disabling");

    // An administrator adds a sede: it gets its first configuration. A sede first registered
    // by an account made for it is configured from empty; one never registered is not found.
    let root = ConsoleSession::login(&hub, 0, "root", STAFF_PASSWORD).await;
    assert_eq!(
        root.get("/console/sedi/5105").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _, _) = root
        .post(
            "/console/account",
            &[
                ("username", "altro"),
                ("role", "counter"),
                ("branch", "5105"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root.get("/console/sedi/5105").await.0, StatusCode::OK);
    let (status, _, page) = root
        .post(
            "/console/sedi/5105/servizi",
            &[
                ("letter", "P"),
                ("name", "Pensioni"),
                ("slot_minutes", "10"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (_, page) = root.get("/console/sedi").await;
    assert!(page.contains("/console/sedi/7001"), "{page}");
    let (status, to, _) = root.post("/console/sedi", &[("branch", "5105")]).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sedi/5105")
    );
    let (_, page) = root.get(&to).await;
    assert!(
        page.contains("Pensioni"),
        "adding keeps what was there: {page}"
    );
    let (status, _, page) = root.post("/console/sedi", &[("branch", "0000")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("4 cifre"), "{page}");

    // Five wrong passwords at one instance block the account at the other: the counts are
    // in the database, not in either process. (The address's earlier failures are
    // forgotten first: they count too.)
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("DELETE FROM login_failure", &[])
        .await
        .unwrap();
    for _ in 0..5 {
        ConsoleSession::try_login(&hub, 0, "capo", "sbagliata").await;
    }
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM login_failure WHERE key = 'user:capo'"
        )
        .await,
        5
    );
    assert_eq!(
        ConsoleSession::try_login(&hub, 1, "capo", STAFF_PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The calling rules' form as the console sends it: valid values, `changes` over them.
fn rules(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut form = vec![
        ("priority_factor", "3"),
        ("priority_max_advance_min", "20"),
        ("priority_calls", "1"),
        ("priority_window", "3"),
        ("weight_step_min", "5"),
        ("appointment_late_min", "15"),
        ("max_recalls", "2"),
        ("reactivate_within_min", "30"),
        ("walk_in_stop_min", "15"),
        ("daily_cap", "300"),
        ("holidays", ""),
        ("recall_grace_min", "3"),
        ("pause_reasons", "Pausa"),
    ];
    for &(name, value) in changes {
        match form.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => form.push((name, value)),
        }
    }
    form
}
