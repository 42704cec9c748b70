//! The branch LAN server over real HTTPS on loopback: login and its rate limit, cookies, CSRF
//! and origin checks, console commands (concurrent and stale), escaping, server-sent events
//! with resumption, the hall display's data, the supervisor's CSV and the spoken call.

mod support;

use std::time::Duration;

use branch::speech::Pcm;
use domain::{ServiceLetter, TicketPriority};
use queue::Command;
use store::{StaffAccount, StaffRole};
use support::{PASSWORD, Session, client, start};

fn walk_in(lan: &support::Lan, s: &str) -> String {
    lan.branch
        .issue_ticket(ServiceLetter::parse(s).unwrap(), TicketPriority::WalkIn)
        .unwrap()
        .number
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_strict_cookie_and_failures_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let c = client(&lan.tls);
    // Plain pages need a login.
    let r = c.get(format!("{}/console", lan.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");
    let r = c
        .post(format!("{}/login", lan.base))
        .form(&[("username", "operatore1"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    for flag in [
        "__Host-sportello=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    let page = c.get(format!("{}/login", lan.base)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    // Five wrong passwords, then even the right one waits.
    for _ in 0..5 {
        let r = c
            .post(format!("{}/login", lan.base))
            .form(&[("username", "operatore2"), ("password", "sbagliata")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Nome utente o password non corretti")
        );
    }
    let r = c
        .post(format!("{}/login", lan.base))
        .form(&[("username", "operatore2"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Troppi tentativi"));
    lan.server.shutdown().await;
}

/// A password reset or a withdrawn account that reaches the kiosk in the hub's feed ends the
/// account's sessions at the console; the same account sent again (a feed replayed from a
/// new epoch) ends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_or_withdrawn_account_from_the_feed_ends_its_sessions() {
    use protocol::wire::{ENTITY_STAFF, FeedChange, StaffPayload};
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let reset = Session::login(&lan, "operatore1").await;
    let withdrawn = Session::login(&lan, "operatore2").await;
    let unchanged = Session::login(&lan, "supervisore").await;
    let same_hash = lan
        .branch
        .with_store(|s| s.staff("supervisore"))
        .unwrap()
        .unwrap()
        .password_hash;
    let change = |seq, user: &str, payload: Option<StaffPayload>| FeedChange {
        seq,
        entity: ENTITY_STAFF.into(),
        entity_id: user.into(),
        op: if payload.is_some() { "put" } else { "remove" }.into(),
        schema_version: 1,
        payload: payload.map(|p| serde_json::to_value(p).unwrap()),
    };
    let page = [
        change(
            1,
            "operatore1",
            Some(StaffPayload {
                role: "operator".into(),
                password_hash: web::auth::hash_password("una password nuova").unwrap(),
                disabled: false,
            }),
        ),
        change(2, "operatore2", None),
        change(
            3,
            "supervisore",
            Some(StaffPayload {
                role: "supervisor".into(),
                password_hash: same_hash,
                disabled: false,
            }),
        ),
    ];
    lan.branch
        .with_store(|s| s.apply_feed("branch", &page, 3, "epoch-1"))
        .unwrap();
    for (who, session) in [("operatore1", &reset), ("operatore2", &withdrawn)] {
        let r = session.get("/console").await;
        assert_eq!(r.status(), 303, "{who} is logged out");
        assert_eq!(r.headers()["location"], "/login");
    }
    assert_eq!(unchanged.get("/supervisor").await.status(), 200);
    // The old password no longer opens a session; the new one does.
    let r = client(&lan.tls)
        .post(format!("{}/login", lan.base))
        .form(&[("username", "operatore1"), ("password", support::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    Session::login_at(
        client(&lan.tls),
        &lan.base,
        "operatore1",
        "una password nuova",
    )
    .await;
    lan.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_need_the_csrf_token_and_the_same_origin() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let s = Session::login(&lan, "operatore1").await;
    let open = [("action", "open"), ("counter", "3")];
    let r = s
        .client
        .post(format!("{}/console/command", s.base))
        .header("cookie", &s.cookie)
        .header("accept", "application/json")
        .form(&open)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token");
    let r = s
        .client
        .post(format!("{}/console/command", s.base))
        .header("cookie", &s.cookie)
        .header("origin", "https://evil.example")
        .form(&[
            ("csrf", s.csrf.as_str()),
            ("action", "open"),
            ("counter", "3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another origin");
    assert_eq!(
        lan.branch.read(|_, st| st.last_event_seq().unwrap()),
        0,
        "nothing happened"
    );
    let (status, ok, message) = s.command(&open).await;
    assert_eq!((status, ok), (200, true), "{message}");
    assert_eq!(message, "Sportello 3 aperto");
    lan.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_calling_at_once_get_different_tickets_and_stale_pages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let a = Session::login(&lan, "operatore1").await;
    let b = Session::login(&lan, "operatore2").await;
    // Counters 3 (P, F) and 5 (V, P) both call P.
    assert!(a.command(&[("action", "open"), ("counter", "3")]).await.1);
    assert!(
        b.command(&[("action", "open"), ("counter", "5"), ("svc_P", "on")])
            .await
            .1
    );
    let first = walk_in(&lan, "P");
    let second = walk_in(&lan, "P");
    let (ra, rb) = tokio::join!(
        a.command(&[("action", "call_next"), ("counter", "3")]),
        b.command(&[("action", "call_next"), ("counter", "5")]),
    );
    assert!(ra.1 && rb.1, "{ra:?} {rb:?}");
    let called: std::collections::BTreeSet<String> = [&ra.2, &rb.2]
        .iter()
        .map(|m| m.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(
        called,
        [first.clone(), second.clone()].into_iter().collect()
    );
    // Counter 5's page still shows counter 3's ticket: its recall is refused, with the reason.
    let at3 = ra.2.split_whitespace().nth(1).unwrap().to_string();
    let (status, ok, message) = b
        .command(&[("action", "recall"), ("counter", "5"), ("ticket", &at3)])
        .await;
    assert_eq!((status, ok), (409, false));
    assert_eq!(
        message,
        format!("Operazione non più valida: il biglietto {at3} è chiamato allo sportello 3")
    );
    let (status, _, message) = a
        .command(&[("action", "call_next"), ("counter", "3")])
        .await;
    assert_eq!(status, 409);
    assert!(message.contains("ha già il biglietto"), "{message}");
    assert!(
        a.command(&[("action", "serve"), ("counter", "3"), ("ticket", &at3)])
            .await
            .1
    );
    let (_, ok, message) = a.command(&[("action", "close_day")]).await;
    assert!(!ok && message.contains("supervisore"), "{message}");
    lan.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_is_escaped_in_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let evil = "<script>alert(1)</script>";
    lan.branch
        .with_store(|s| {
            s.put_staff(&StaffAccount {
                username: evil.into(),
                role: StaffRole::Operator,
                password_hash: web::auth::hash_password(PASSWORD).unwrap(),
                disabled: false,
            })
        })
        .unwrap();
    let s = Session::login(&lan, evil).await;
    assert!(s.command(&[("action", "open"), ("counter", "1")]).await.1);
    lan.branch
        .execute(Command::RequestAssistance {
            kiosk: "<img src=x onerror=alert(2)>".into(),
        })
        .unwrap();
    let console = s.get("/console?counter=1").await.text().await.unwrap();
    let panel = s
        .get("/console/panel?counter=1")
        .await
        .text()
        .await
        .unwrap();
    for page in [&console, &panel] {
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(!page.contains("<img src=x"), "{page}");
    }
    assert!(
        console.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || console.contains("&lt;script&gt;"),
        "{console}"
    );
    assert!(
        panel.contains("onerror=alert(2)"),
        "the text is there, escaped"
    );
    lan.server.shutdown().await;
}

/// Reads server-sent events until `n` events with an id have arrived.
async fn read_events(r: reqwest::Response, n: usize) -> Vec<(String, String, String)> {
    read_blocks(r, n, true).await
}

/// The first `n` named events of a stream, those without an id (`hello`, `resync`) too.
async fn read_named_events(r: reqwest::Response, n: usize) -> Vec<(String, String, String)> {
    read_blocks(r, n, false).await
}

async fn read_blocks(
    mut r: reqwest::Response,
    n: usize,
    with_id_only: bool,
) -> Vec<(String, String, String)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(5), r.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            let wanted = if with_id_only {
                !field("id").is_empty()
            } else {
                !field("event").is_empty()
            };
            if wanted && out.len() < n {
                out.push((field("id"), field("event"), field("data")));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_resume_from_the_last_event_id_and_the_hall_sees_numbers_only() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let s = Session::login(&lan, "operatore1").await;
    let c = client(&lan.tls);
    let r = c
        .get(format!("{}/console/events", lan.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the console stream needs a login");
    assert!(s.command(&[("action", "open"), ("counter", "3")]).await.1);
    let t = walk_in(&lan, "P");
    assert!(
        s.command(&[("action", "call_next"), ("counter", "3")])
            .await
            .1
    );
    // Day opened (1), counter opened (2), ticket issued (3), called (4). A console that saw
    // event 2 reconnects and gets 3 and 4 from the log, then live events.
    let r = s
        .client
        .get(format!("{}/console/events", lan.base))
        .header("cookie", &s.cookie)
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let hall = c
        .get(format!("{}/hall/events?after=3", lan.base))
        .send()
        .await
        .unwrap();
    let live = tokio::spawn(read_events(r, 3));
    let hall_live = tokio::spawn(read_events(hall, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        s.command(&[("action", "recall"), ("counter", "3"), ("ticket", &t)])
            .await
            .1
    );
    let events = live.await.unwrap();
    let ids: Vec<_> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(ids, ["3", "4", "5"]);
    assert_eq!(events[1].1, "queue");
    let hall_events = hall_live.await.unwrap();
    assert!(hall_events.iter().all(|e| e.1 == "call"));
    let call: serde_json::Value = serde_json::from_str(&hall_events[1].2).unwrap();
    assert_eq!(call["ticket"], t);
    assert_eq!(call["counter"], 3);
    assert_eq!(call["fresh"], true);
    // The hall's state: ticket numbers, counters and service names, nothing about people.
    let state: serde_json::Value = c
        .get(format!("{}/hall/state", lan.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["current"]["ticket"], t);
    assert!(
        state["fairness"]
            .as_str()
            .unwrap()
            .starts_with("1 chiamata prioritaria ogni 3")
    );
    let text = state.to_string();
    for secret in lan.demo.sensitive_strings() {
        assert!(!text.contains(&secret));
    }
    lan.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisors_export_the_day_as_csv_and_operators_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let op = Session::login(&lan, "operatore1").await;
    let sup = Session::login(&lan, "supervisore").await;
    assert!(op.command(&[("action", "open"), ("counter", "3")]).await.1);
    let t = walk_in(&lan, "P");
    assert!(
        op.command(&[("action", "call_next"), ("counter", "3")])
            .await
            .1
    );
    assert!(
        op.command(&[("action", "serve"), ("counter", "3"), ("ticket", &t)])
            .await
            .1
    );
    assert_eq!(op.get("/supervisor/figures.csv").await.status(), 403);
    assert_eq!(op.get("/supervisor").await.status(), 403);
    let r = sup.get("/supervisor/figures.csv").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("sportello-7001-")
    );
    let csv = r.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("giorno,tipo,codice,emessi,serviti")
    );
    assert!(csv.contains(",servizio,P,1,1,0,0,0,"), "{csv}");
    assert!(csv.contains(",sportello,3,,1,0,"), "{csv}");
    let page = sup.get("/supervisor").await.text().await.unwrap();
    assert!(page.contains("Dati del giorno"));
    lan.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hall_gets_a_spoken_italian_call_that_is_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    let s = Session::login(&lan, "operatore1").await;
    assert!(s.command(&[("action", "open"), ("counter", "3")]).await.1);
    let first = walk_in(&lan, "P");
    assert!(
        s.command(&[("action", "call_next"), ("counter", "3")])
            .await
            .1
    );
    let seq = lan.branch.read(|_, st| st.last_event_seq().unwrap());
    let c = client(&lan.tls);
    let r = c
        .get(format!("{}/hall/audio/{seq}", lan.base))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "{} (espeak-ng must be installed: apt-get install espeak-ng)",
        String::from_utf8_lossy(&body)
    );
    let pcm = Pcm::parse(&body).unwrap();
    assert!(pcm.seconds() > 2.0, "chime and words: {} s", pcm.seconds());
    // The spoken part alone, after the 1.1 s chime, carries sound.
    let voice = Pcm {
        samples: pcm.samples[(pcm.rate as usize * 11 / 10)..].to_vec(),
        ..pcm.clone()
    };
    assert!(voice.rms() > 300.0, "rms {}", voice.rms());
    let r = c
        .get(format!("{}/hall/audio/1", lan.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "only calls have audio");

    // A call the hall can no longer play costs no synthesis: anyone on the LAN could ask for
    // every call of the day.
    s.serve("3", &first).await;
    walk_in(&lan, "P");
    assert!(
        s.command(&[("action", "call_next"), ("counter", "3")])
            .await
            .1
    );
    let old = lan.branch.read(|_, st| st.last_event_seq().unwrap());
    let hour_ago = lan
        .branch
        .read(|_, st| st.events_after(old - 1, 1).unwrap())[0]
        .event
        .at
        - chrono::Duration::hours(1);
    rusqlite::Connection::open(dir.path().join("kiosk.sqlite"))
        .unwrap()
        .execute(
            "UPDATE queue_event SET payload = json_set(payload, '$.at', ?1) WHERE seq = ?2",
            rusqlite::params![
                serde_json::to_value(hour_ago).unwrap().as_str().unwrap(),
                old
            ],
        )
        .unwrap();
    let r = c
        .get(format!("{}/hall/audio/{old}", lan.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410, "an old call is not spoken again");
    lan.server.shutdown().await;
}

/// The hall needs no login: its stream replays at most its latest events (a page further
/// behind is told to reload its state), and only so many streams are open at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_halls_stream_replays_little_and_its_streams_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let lan = start(dir.path()).await;
    for _ in 0..60 {
        walk_in(&lan, "P");
    }
    let c = client(&lan.tls);
    let events = read_named_events(
        c.get(format!("{}/hall/events?after=0", lan.base))
            .send()
            .await
            .unwrap(),
        2,
    )
    .await;
    let kinds: Vec<&str> = events.iter().map(|(_, kind, _)| kind.as_str()).collect();
    assert_eq!(kinds, ["hello", "resync"], "{events:?}");
    let last = lan.branch.read(|_, st| st.last_event_seq().unwrap());
    assert!(
        events[0].2.contains(&format!("\"last\":{last}")),
        "{events:?}"
    );
    // A page a few events behind gets them.
    let events = read_named_events(
        c.get(format!("{}/hall/events?after={}", lan.base, last - 3))
            .send()
            .await
            .unwrap(),
        4,
    )
    .await;
    assert_eq!(
        events.iter().filter(|e| e.1 == "update").count(),
        3,
        "{events:?}"
    );

    let mut open = Vec::new();
    for _ in 0..branch::lan::HALL_STREAMS {
        let r = c
            .get(format!("{}/hall/events", lan.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        open.push(r);
    }
    let r = c
        .get(format!("{}/hall/events", lan.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "one stream over the cap");
    assert!(r.headers().contains_key("retry-after"));
    drop(open);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = c
            .get(format!("{}/hall/events", lan.base))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "places come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lan.server.shutdown().await;
}

/// `/metrics` for a sede's own Prometheus: the queue, the node's alerts and outbox, each kiosk
/// of the sede as it last reported; only with the bearer token, and not at all without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_serves_its_metrics_to_the_token_only() {
    const TOKEN: &str = "metriche-della-sede-0123";
    let dir = tempfile::tempdir().unwrap();
    let lan = support::start_configured(
        dir.path(),
        "127.0.0.1:0",
        web::tls::self_signed().unwrap(),
        |s| s.with_metrics_token(Some(TOKEN.into())),
    )
    .await;
    walk_in(&lan, "P");
    walk_in(&lan, "P");
    lan.branch
        .execute(Command::RaiseAlert {
            alert: queue::DeviceAlert::PrinterOutOfPaper,
        })
        .unwrap();
    let http = client(&lan.tls);
    let get = |token: &str| {
        http.get(format!("{}/metrics", lan.base))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get("").await.unwrap().status(), 401);
    assert_eq!(get("metriche-della-sede-0124").await.unwrap().status(), 401);
    let r = get(TOKEN).await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    for line in [
        "sportello_node_waiting{service=\"P\"} 2",
        "sportello_node_alert{alert=\"printer_paper_out\"} 1",
        "sportello_node_alert{alert=\"printer_paper_low\"} 0",
        &format!(
            "sportello_node_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    // Prometheus itself scrapes it.
    let prometheus = support::Prometheus::scraping(
        &format!("localhost:{}", lan.server.addr.port()),
        &lan.tls.cert,
        TOKEN,
    );
    let waiting = prometheus
        .query("sportello_node_waiting{service=\"P\"}")
        .await;
    assert_eq!(waiting[0].1, 2.0, "{waiting:?}");
    drop(prometheus);
    lan.server.shutdown().await;

    let quiet_dir = tempfile::tempdir().unwrap();
    let quiet = support::start(quiet_dir.path()).await;
    let r = client(&quiet.tls)
        .get(format!("{}/metrics", quiet.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    quiet.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_called_visitor_gets_their_grace_and_one_call_from_the_node_and_pauses_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let start = chrono::DateTime::parse_from_rfc3339(support::MORNING).unwrap();
    let clock = std::sync::Arc::new(domain::ManualClock::new(start.to_utc()));
    let lan = support::start_on(dir.path(), clock.clone()).await;
    let op = Session::login(&lan, "operatore1").await;
    let sup = Session::login(&lan, "supervisore").await;
    assert!(op.command(&[("action", "open"), ("counter", "3")]).await.1);
    let t = walk_in(&lan, "P");
    assert!(
        op.command(&[("action", "call_next"), ("counter", "3")])
            .await
            .1
    );
    // The console says until when the visitor has, and the absence waits for it.
    let panel = op.get("/console?counter=3").await.text().await.unwrap();
    assert!(
        panel.contains("Ha tempo fino alle <strong>10:03</strong>"),
        "{panel}"
    );
    assert!(panel.contains(r#"id="btn-no_show" disabled aria-describedby="grace""#));
    let (status, ok, message) = op
        .command(&[("action", "no_show"), ("counter", "3"), ("ticket", &t)])
        .await;
    assert_eq!((status, ok), (409, false), "{message}");
    assert!(message.contains("ha tempo fino alle 10:03"), "{message}");
    // The grace runs out: the node calls the visitor once more by itself.
    clock.advance(chrono::Duration::seconds(181));
    let number = domain::TicketNumber::parse(&t).unwrap();
    let mut recalled = false;
    for _ in 0..50 {
        recalled = lan
            .branch
            .read(|q, _| q.ticket(number).is_some_and(|x| x.grace_recalled));
        if recalled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recalled,
        "no call from the node within 10 s of the grace's end"
    );
    let last = lan.branch.read(|q, _| q.recent_calls().next().copied());
    assert_eq!(last.map(|c| c.ticket), Some(number), "the hall hears it");
    let panel = op.get("/console?counter=3").await.text().await.unwrap();
    assert!(!panel.contains("Ha tempo fino"), "{panel}");
    let (_, ok, message) = op
        .command(&[("action", "no_show"), ("counter", "3"), ("ticket", &t)])
        .await;
    assert!(ok, "{message}");
    // A pause needs one of the sede's reasons.
    let (_, ok, message) = op.command(&[("action", "pause"), ("counter", "3")]).await;
    assert!(!ok && message.contains("motivo"), "{message}");
    let (_, ok, message) = op
        .command(&[("action", "pause"), ("counter", "3"), ("reason", "Caffè")])
        .await;
    assert!(
        !ok && message.contains("non è tra i motivi di pausa"),
        "{message}"
    );
    let panel = op.get("/console?counter=3").await.text().await.unwrap();
    assert!(panel.contains("<option>Back office</option>"), "{panel}");
    let (_, ok, message) = op
        .command(&[
            ("action", "pause"),
            ("counter", "3"),
            ("reason", "Back office"),
        ])
        .await;
    assert!(ok, "{message}");
    assert_eq!(message, "Sportello 3 in pausa: Back office");
    let console = op.get("/console?counter=3").await.text().await.unwrap();
    assert!(console.contains("in pausa · Back office"), "{console}");
    clock.advance(chrono::Duration::minutes(10));
    assert!(op.command(&[("action", "open"), ("counter", "3")]).await.1);
    // The supervisor's day: the recall, the absence and the pause by its reason.
    let page = sup.get("/supervisor").await.text().await.unwrap();
    assert!(page.contains(r#"<table id="pauses">"#), "{page}");
    assert!(
        page.contains("<th scope=\"row\">Back office</th><td>1</td><td>10</td>"),
        "{page}"
    );
    let csv = sup
        .get("/supervisor/figures.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains(",pausa,\"Back office\",,,,,,,,,,,,1,600\r\n"),
        "{csv}"
    );
    let p = csv
        .lines()
        .find(|l| l.contains(",servizio,P,"))
        .unwrap()
        .split(',')
        .collect::<Vec<_>>();
    assert_eq!((p[5], p[12]), ("1", "1"), "one absent, one recall: {p:?}");
    lan.server.shutdown().await;
}
