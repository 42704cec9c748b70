//! What the internet can throw at the hub's console login, against the real server on
//! loopback: a burst of wrong passwords, and fields far over any sensible size.

use std::collections::BTreeMap;

use crate::helpers::*;

/// 60 wrong passwords at once for one account: no more are checked than the limit allows,
/// and a name of 3 KB is a clear refusal that still counts against the address (it used to
/// break the failure's insert, so nothing was counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_logins_are_limited_before_hashing_and_oversized_fields_are_counted() {
    use hub::accounts::Role;
    let hub = Hub::start(1).await;
    hub.staff(&[("capo", Role::Supervisor, Some(5105))]).await;
    let attempts: Vec<_> = (0..60)
        .map(|i| {
            let (c, base) = (hub.client.clone(), hub.base(0));
            tokio::spawn(async move {
                c.post(format!("{base}/console/login"))
                    .form(&[
                        ("username", "capo".to_owned()),
                        ("password", format!("tentativo-{i}")),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut answers = BTreeMap::<u16, usize>::new();
    for a in attempts {
        *answers
            .entry(a.await.unwrap().expect("answered"))
            .or_default() += 1;
    }
    assert!(
        answers.get(&401).copied().unwrap_or(0) <= web::auth::MAX_FAILURES,
        "guesses checked: {answers:?}"
    );
    assert!(
        answers.keys().all(|s| [401, 429, 503].contains(s)),
        "{answers:?}"
    );

    // Another address's counters are the database's: start from none.
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("DELETE FROM login_failure", &[])
        .await
        .unwrap();
    // Not repetitive, so PostgreSQL cannot compress it under the index's row size.
    let mut rng = fastrand::Rng::with_seed(5);
    let long: String = (0..3000).map(|_| rng.alphanumeric()).collect();
    let r = ConsoleSession::try_login(&hub, 0, &long, "sbagliata").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Nome utente o password non corretti")
    );
    let r = ConsoleSession::try_login(&hub, 0, "capo", &"p".repeat(100_000)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM login_failure WHERE key LIKE 'ip:%'"
        )
        .await,
        2,
        "both oversized attempts count against the address"
    );
}

/// Behind the load balancer every visitor reaches the hub from its address: with it named in
/// `hub.trusted_proxies`, the login limit counts the client `X-Forwarded-For` names, so one
/// person's wrong guesses do not lock out the rest of the country; without it, the header is
/// the client's own words and is ignored, so writing it does not escape the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_balancer_each_client_has_its_own_login_limit() {
    use hub::accounts::Role;
    let users = [
        ("capo", Role::Supervisor, Some(5105)),
        ("altro", Role::Supervisor, Some(5105)),
    ];
    let login = |hub: &Hub, user: &str, password: &str, client: &str| {
        let r = hub
            .client
            .post(format!("{}/console/login", hub.base(0)))
            .header("x-forwarded-for", client.to_owned())
            .form(&[("username", user), ("password", password)]);
        async move { r.send().await.unwrap().status() }
    };
    let behind = Hub::start_with(1, |s| {
        s.with_trusted_proxies(&["127.0.0.0/8".into()]).unwrap()
    })
    .await;
    behind.staff(&users).await;
    for i in 0..web::auth::MAX_FAILURES {
        let status = login(&behind, "capo", &format!("tentativo-{i}"), "203.0.113.5").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login(&behind, "altro", "sbagliata", "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser's address is blocked"
    );
    assert_eq!(
        login(&behind, "altro", STAFF_PASSWORD, "198.51.100.20").await,
        StatusCode::SEE_OTHER,
        "another client behind the same balancer is not"
    );

    let direct = Hub::start(1).await;
    direct.staff(&users).await;
    for i in 0..web::auth::MAX_FAILURES {
        let client = format!("203.0.113.{}", 10 + i);
        let status = login(&direct, "capo", &format!("tentativo-{i}"), &client).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login(&direct, "altro", STAFF_PASSWORD, "198.51.100.20").await,
        StatusCode::TOO_MANY_REQUESTS,
        "a header from an untrusted peer names nobody"
    );
}

/// Every answer of the hub carries the security headers: pages may not be framed, run no
/// script, leak no referrer and are not cached; browsers keep to HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let hub = Hub::start(1).await;
    for path in [
        "/console/login",
        "/health",
        "/v1/openapi.json",
        "/h/0000000000000000",
        "/no-such-page",
    ] {
        let r = hub
            .client
            .get(format!("{}{path}", hub.base(0)))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{name} on {path}: {h:?}"))
                .to_owned()
        };
        let csp = get("content-security-policy");
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} on {path}: {csp}");
        }
        assert!(!csp.contains("script-src"), "no script anywhere: {csp}");
        assert!(get("strict-transport-security").starts_with("max-age="));
        assert_eq!(get("x-content-type-options"), "nosniff");
        assert_eq!(get("referrer-policy"), "same-origin");
        assert!(get("cache-control").contains("no-store"), "{path}");
    }
}

/// PostgreSQL frozen (SIGSTOP on the server and every process of it, connections left open):
/// every request is a 503 within the hub's deadline instead of hanging, `/health` says why,
/// and after SIGCONT the hub serves again by itself, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_is_a_prompt_503_and_the_hub_recovers_by_itself() {
    use std::time::Instant;
    let cluster = crate::pg::PgCluster::start();
    let (admin, conn) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin.batch_execute("CREATE DATABASE hub").await.unwrap();
    let hub = Hub::over(&cluster.url("hub"), 1).await;
    let base = hub.base(0);
    let kiosk = hub.enrol().await;
    let statement_timeout: String = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        statement_timeout, "10s",
        "every pooled connection is bounded"
    );
    let health = |client: reqwest::Client, base: String| async move {
        let r = client.get(format!("{base}/health")).send().await.unwrap();
        let status = r.status();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    let (status, body) = health(hub.client.clone(), base.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(kiosk.pull(&base, 0, None).await.status(), StatusCode::OK);

    let frozen = cluster.freeze();
    // More requests than the pool has connections: some hang on a frozen connection, the
    // others wait for one. A client that gave up at 40 s would mean the hub never answered.
    let patient = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(hub.cert.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(40))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut asked = Vec::new();
    for i in 0..24 {
        let (client, base) = (patient.clone(), base.clone());
        let kiosk = Kiosk {
            id: kiosk.id.clone(),
            key: SigningKey::from_bytes(&kiosk.key.to_bytes()),
            client: patient.clone(),
        };
        asked.push(tokio::spawn(async move {
            let r = if i % 2 == 0 {
                client
                    .get(format!("{base}/coda/{SEDE}/2026-12-03/P{:03}", i + 1))
                    .send()
                    .await
            } else {
                Ok(kiosk.pull(&base, 0, None).await)
            };
            r.map(|r| r.status()).map_err(|e| e.to_string())
        }));
    }
    let (status, body) = health(patient.clone(), base.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let why = body["database"].as_str().unwrap();
    assert!(why.contains("within 3s"), "health says why: {body}");
    for a in asked {
        assert_eq!(
            a.await.unwrap(),
            Ok(StatusCode::SERVICE_UNAVAILABLE),
            "a frozen database is a 503"
        );
    }
    let waited = started.elapsed();
    assert!(
        waited < hub::server::REQUEST_DEADLINE + Duration::from_secs(5),
        "answered within the deadline: {waited:?}"
    );

    drop(frozen);
    let thawed = Instant::now();
    loop {
        let (status, body) = health(patient.clone(), base.clone()).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            thawed.elapsed() < Duration::from_secs(30),
            "the hub came back by itself: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(kiosk.pull(&base, 0, None).await.status(), StatusCode::OK);
    eprintln!(
        "frozen database: 24 requests and /health answered 503 in {waited:?}; serving again {:?} after SIGCONT",
        thawed.elapsed()
    );
}

/// QR phishing: someone at a kiosk sends its link to a victim elsewhere and hopes to read the
/// victim's Cassetto on his own screen. Relaying the provider's link after confirming at the
/// kiosk binds no one, and ends the hand-off so the victim's answer cannot be replayed in the
/// attacker's browser; guessing the kiosk's code ends it after three tries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_hand_off_binds_no_one_and_guessing_its_code_ends_it() {
    use protocol::wire::HandoffState;
    let hub = Hub::start(1).await;
    let now = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .naive_local();
    let demo = demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 3, now)
        .await
        .unwrap();
    let victim_cf = demo
        .people
        .iter()
        .find(|p| !p.companies.is_empty())
        .unwrap()
        .cf
        .as_str()
        .to_owned();
    let kiosk = hub.enrol().await;
    let base = hub.base(0);

    let (started, status) = start_handoff(&kiosk, &base).await;
    let (attacker, victim) = (hub.phone(), hub.phone());
    let to_idp = confirm_at(&attacker, &started.url, &started.code).await;
    let back = choose_identity(&victim, &base, &to_idp, &victim_cf).await;
    let r = victim.get(&back).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("da un altro telefono"));
    assert_eq!(status().await, HandoffState::Ended);
    let r = attacker.get(&back).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the answer replayed where it began"
    );
    assert_eq!(status().await, HandoffState::Ended);
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM handoff WHERE person_cf IS NOT NULL"
        )
        .await,
        0,
        "no one bound"
    );

    let (started, status) = start_handoff(&kiosk, &base).await;
    let guesser = hub.phone();
    let wrong: Vec<String> = (0..10_000)
        .map(|n| format!("{n:04}"))
        .filter(|c| *c != started.code)
        .take(3)
        .collect();
    for (i, code) in wrong.iter().enumerate() {
        let r = guesser
            .post(&started.url)
            .form(&[("code", code.as_str())])
            .send()
            .await
            .unwrap();
        let expected = if i < 2 {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::GONE
        };
        assert_eq!(r.status(), expected, "try {}", i + 1);
    }
    let r = guesser
        .post(&started.url)
        .form(&[("code", started.code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::GONE,
        "the right code comes too late"
    );
    assert_eq!(status().await, HandoffState::Ended);
}

/// Opening a QR link (a link preview does), a wrong secret and a wrong code reach no one: the
/// identity provider is called only once the kiosk's code is typed right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_kiosks_code_calls_the_identity_provider() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let provider = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider_port = provider.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    tokio::spawn({
        let calls = calls.clone();
        async move {
            while let Ok((socket, _)) = provider.accept().await {
                calls.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "dato dal broker").unwrap();
    let hub = Hub::start_with(1, move |state| {
        let settings = config::IdentitySettings {
            mode: Some(config::IdentityMode::Broker),
            issuer: Some(format!("https://127.0.0.1:{provider_port}")),
            client_id: Some("sportello".into()),
            client_auth: config::ClientAuth::ClientSecretBasic,
            client_secret_file: Some(secret.clone()),
            ..Default::default()
        };
        let identity =
            hub::identity::IdentityConfig::outside("https://hub.example", &settings).unwrap();
        state.identity.set(identity).unwrap();
        state
    })
    .await;
    let now = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .naive_local();
    demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 3, now)
        .await
        .unwrap();
    let kiosk = hub.enrol().await;
    let base = hub.base(0);
    let (started, _) = start_handoff(&kiosk, &base).await;
    // The QR holds the public address; this hub answers on loopback.
    let url = started.url.replace("https://hub.example", &base);
    let phone = hub.phone();
    assert_eq!(
        phone.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    let forged = format!("{base}/h/{}", "0".repeat(48));
    assert_eq!(
        phone.get(&forged).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let r = phone
        .post(&forged)
        .form(&[("code", started.code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    let wrong = if started.code == "0000" {
        "1111"
    } else {
        "0000"
    };
    let r = phone
        .post(&url)
        .form(&[("code", wrong)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no call to the provider yet"
    );

    let r = phone
        .post(&url)
        .form(&[("code", started.code.as_str())])
        .send()
        .await
        .unwrap();
    // This provider hangs up: the visitor is told, and it was called.
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(calls.load(Ordering::SeqCst) >= 1);
}

/// Runs the futures at once, each as its own task.
async fn all<T: Send + 'static>(
    futures: impl IntoIterator<Item = impl Future<Output = T> + Send + 'static>,
) -> Vec<T> {
    let mut set = tokio::task::JoinSet::new();
    for f in futures {
        set.spawn(f);
    }
    let mut done = Vec::new();
    while let Some(r) = set.join_next().await {
        done.push(r.unwrap());
    }
    done
}

/// The follow page's two public forms flooded: 120 different numbers at once for one waiting
/// ticket, one number at once for 40 tickets, 120 answers at once for one served visit, and a
/// 3 MB form. Each bound holds under the race (one number per ticket, three tickets per
/// number, one answer per visit), every request is answered (no 5xx), the page of another
/// ticket still answers during it, and the oversized form is refused before it is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follow_pages_forms_hold_their_bounds_under_a_flood() {
    use domain::{ServiceLetter, TicketPriority};
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
    let tickets: Vec<_> = (0..42)
        .map(|_| branch.issue_ticket(p, TicketPriority::WalkIn).unwrap())
        .collect();
    // The first is served: its visitor may say how it went.
    let counter = open_counter_for(&branch, &replica, p);
    branch
        .execute(queue::Command::CallNext { counter })
        .unwrap();
    branch
        .execute(queue::Command::Serve {
            counter,
            ticket: tickets[0].number,
        })
        .unwrap();
    while agent.push_once().await.unwrap() > 0 {}
    let url = |i: usize| {
        let (path, tag) = follow_address(&branch, &tickets[i]);
        format!("{base}{path}?c={tag}")
    };
    let post = |url: String, form: Vec<(&'static str, String)>| {
        let request = hub.client.post(url).form(&form);
        async move { request.send().await.map(|r| r.status().as_u16()) }
    };
    let tally = |answers: Vec<Result<u16, reqwest::Error>>| {
        let mut by: std::collections::BTreeMap<u16, usize> = Default::default();
        for a in answers {
            *by.entry(a.expect("every request is answered")).or_default() += 1;
        }
        by
    };

    // 120 numbers race for ticket 1, while someone reads ticket 2's page.
    let flood = all((0..120).map(|i| post(url(1), vec![("cellulare", format!("333 100 {i:04}"))])));
    let reader = async {
        let started = std::time::Instant::now();
        let r = hub.client.get(url(2)).send().await.unwrap();
        (r.status(), started.elapsed())
    };
    let (answers, (status, took)) = tokio::join!(flood, reader);
    assert_eq!(status, StatusCode::OK);
    assert!(
        took < std::time::Duration::from_secs(10),
        "the page took {took:?} during the flood"
    );
    let by = tally(answers);
    assert_eq!(by.get(&303), Some(&1), "one number per ticket: {by:?}");
    assert_eq!(by.get(&422), Some(&119), "{by:?}");
    // One number races for 40 tickets.
    let answers =
        all((2..42).map(|i| post(url(i), vec![("cellulare", "347 222 3333".into())]))).await;
    let by = tally(answers);
    assert_eq!(by.get(&303), Some(&3), "three tickets per number: {by:?}");
    assert_eq!(by.get(&422), Some(&37), "{by:?}");
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM follow_alert").await,
        4,
        "ticket 1's and the three of the one number"
    );
    // 120 answers race for the served visit.
    let answers = all((0..120).map(|i| {
        let (path, tag) = follow_address(&branch, &tickets[0]);
        post(
            format!("{base}{path}/giudizio?c={tag}"),
            vec![("voto", (1 + i % 5).to_string())],
        )
    }))
    .await;
    let by = tally(answers);
    assert_eq!(by.get(&303), Some(&1), "one answer per visit: {by:?}");
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM visit_feedback").await,
        1
    );
    // A 3 MB form is refused unread.
    let big = "3".repeat(3 << 20);
    let status = post(url(3), vec![("cellulare", big)]).await.unwrap();
    assert_eq!(status, 413);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM follow_alert").await,
        4
    );
}
