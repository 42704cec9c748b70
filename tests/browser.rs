//! End to end in Debian's Chromium, headless, driven over WebDriver (chromedriver): an operator
//! logs in, opens a counter, calls, recalls and serves, while the hall display in a second
//! browser shows each call within a second; three calls in one second are spoken one after
//! another; the console resumes by itself after the server restarts. Screenshots of both pages
//! are written to `docs/screenshots/` when `SPORTELLO_SCREENSHOTS=1`.
//!
//! Needs `chromium` and `chromium-driver` (`scripts/system-deps` installs them) and espeak-ng.

mod support;

#[cfg(feature = "hub")]
#[path = "support/pg.rs"]
mod pg;

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use domain::{CounterNumber, ServiceLetter, TicketPriority};
use fantoccini::{Client, ClientBuilder, Locator};
use queue::{Command, EventKind};
use serde_json::json;
use support::{Lan, PASSWORD, start, start_at};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: install Debian's chromium and chromium-driver (scripts/system-deps does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Process::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver, width: u32, height: u32, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), json!(true));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

async fn text(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Polls until `css` shows `expected`; returns how long it took.
async fn wait_text(c: &Client, css: &str, expected: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if text(c, css).await.trim() == expected {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{css} did not show {expected} within {limit:?} (shows {:?})",
            text(c, css).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_for(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"));
}

/// Types each value into the field its CSS selector finds.
async fn fill(c: &Client, fields: &[(&str, &str)]) {
    for (field, value) in fields {
        c.find(Locator::Css(field))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
}

/// Fills the login form and waits for the console.
async fn log_in(c: &Client, username: &str) {
    fill(c, &[("#username", username), ("#password", PASSWORD)]).await;
    click(c, "button[type=submit]").await;
    wait_for(c, "#counters-title").await;
}

/// Clicks `css`; live updates may replace the element between finding and clicking it, so a
/// stale element is found again.
async fn click(c: &Client, css: &str) {
    let mut last = None;
    for _ in 0..20 {
        match c.find(Locator::Css(css)).await {
            Ok(e) => match e.click().await {
                Ok(()) => return,
                Err(err) => last = Some(err.to_string()),
            },
            Err(err) => last = Some(err.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{css}: {last:?}");
}

/// The sede's feed lists two kiosks besides this node; `reporting` has told the node how it is.
fn other_kiosks(lan: &Lan, reporting: &str, silent: &str) {
    use protocol::wire::{DevicePayload, DeviceRole};
    let listing: Vec<_> = [reporting, silent]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let payload = DevicePayload {
                device_id: (*id).into(),
                public_key: protocol::wire::hex(&[i as u8 + 1; 32]),
                role: DeviceRole::Kiosk,
                lan: None,
            };
            ((*id).to_owned(), Some(payload))
        })
        .collect();
    support::list_devices(&lan.branch, 1000, &listing);
    kiosk_reports(lan, reporting);
}

/// `kiosk` tells the node how it is (as its sync rounds do; a restarted node has heard
/// nothing yet).
fn kiosk_reports(lan: &Lan, kiosk: &str) {
    lan.kiosks.lock().unwrap().insert(
        kiosk.into(),
        branch::lan::KioskReport {
            at: domain::Clock::now(lan.branch.clock().as_ref()),
            health: protocol::lan::KioskHealth {
                printer: "paper_low".into(),
                scanner: "present".into(),
                clock_trusted: true,
                version: "1.0".into(),
            },
            left: [(ServiceLetter::parse("P").unwrap(), 12)]
                .into_iter()
                .collect(),
            refused: 0,
        },
    );
}

fn walk_in(lan: &Lan, s: &str) -> String {
    lan.branch
        .issue_ticket(ServiceLetter::parse(s).unwrap(), TicketPriority::WalkIn)
        .unwrap()
        .number
        .to_string()
}

/// Every visible control has a name a screen reader can read, and buttons and fields are at
/// least 44 px high (links inside text are exempt, as WCAG allows).
async fn assert_accessible_controls(c: &Client) {
    let bad = c
        .execute(
            r#"const bad = [];
            for (const el of document.querySelectorAll('button, input, select, a')) {
              const r = el.getBoundingClientRect();
              if (r.width === 0 || el.type === 'hidden') continue;
              const label = el.labels && el.labels.length ? el.labels[0].textContent.trim() : '';
              const name = el.getAttribute('aria-label') || el.textContent.trim() || label || el.value;
              if (!name) bad.push('no name: ' + el.outerHTML.slice(0, 80));
              if (el.tagName !== 'A' && el.type !== 'checkbox' && r.height < 44)
                bad.push('under 44 px: ' + el.outerHTML.slice(0, 80));
            }
            return bad;"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(bad, json!([]), "inaccessible controls");
}

async fn screenshot(c: &Client, name: &str) {
    screenshot_at(c, name, "body").await;
}

/// The same, scrolled so that `css` is in view (the top of the page for `body`).
async fn screenshot_at(c: &Client, name: &str, css: &str) {
    c.execute(
        "if (arguments[0] === 'body') { window.scrollTo(0, 0); } \
         else { document.querySelector(arguments[0]).scrollIntoView({block: 'center'}); } \
         document.activeElement.blur();",
        vec![json!(css)],
    )
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_calls_and_the_hall_shows_and_speaks_each_call_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("branch");
    std::fs::create_dir_all(&data).unwrap();
    let lan = start(&data).await;
    let driver = chromedriver();
    let console = browser(&driver, 1280, 900, &dir.path().join("p1")).await;
    let hall = browser(&driver, 1920, 1080, &dir.path().join("p2")).await;

    // The hall display, with its one-time "attiva audio" step.
    hall.goto(&format!("{}/hall", lan.base)).await.unwrap();
    click(&hall, "#enable-audio").await;

    // The operator logs in, opens counter 3 and waits for visitors.
    console.goto(&format!("{}/login", lan.base)).await.unwrap();
    log_in(&console, "operatore1").await;
    console
        .goto(&format!("{}/console?counter=3", lan.base))
        .await
        .unwrap();
    wait_for(&console, "#btn-open").await;
    click(&console, "#btn-open").await;
    wait_text(
        &console,
        "#status",
        "Sportello 3 aperto",
        Duration::from_secs(5),
    )
    .await;

    // Tickets come from the kiosk; the console lists them without a reload.
    let first = walk_in(&lan, "P");
    let second = walk_in(&lan, "P");
    wait_text(
        &console,
        "table.waiting tbody tr:nth-child(2) td.mono",
        &second,
        Duration::from_secs(3),
    )
    .await;
    // The sede's two other kiosks: one numbers here and printed one ticket from its lease while
    // cut off; the other has not reached the node since it started. The console says which
    // kiosk issued each ticket and which was printed without the node.
    let (reporting, silent) = ("kiosk-7001-02-5e1f0a", "kiosk-7001-03-9c2b77");
    other_kiosks(&lan, reporting, silent);
    let r_online = lan
        .branch
        .issue_for(
            reporting,
            ServiceLetter::parse("F").unwrap(),
            TicketPriority::WalkIn,
        )
        .unwrap()
        .number
        .to_string();
    let lease = lan
        .branch
        .top_up_leases(reporting, &Default::default())
        .unwrap()
        .into_iter()
        .find(|l| l.service == ServiceLetter::parse("F").unwrap())
        .unwrap();
    let printed = domain::TicketNumber::new(lease.service, lease.first).unwrap();
    lan.branch
        .adopt(
            queue::OfflineTicket {
                kiosk: reporting.into(),
                ticket: printed,
                priority: TicketPriority::WalkIn,
                booking: None,
                issued_at: domain::Clock::now(lan.branch.clock().as_ref()),
                clock_trusted: true,
                unanswered: false,
            },
            None,
        )
        .unwrap();
    wait_text(
        &console,
        "table.waiting tbody tr:nth-child(4) td.mono",
        &printed.to_string(),
        Duration::from_secs(3),
    )
    .await;
    let waiting = text(&console, "table.waiting").await;
    assert!(waiting.contains(reporting), "{waiting}");
    assert!(waiting.contains(&r_online), "{waiting}");
    assert!(waiting.contains("senza rete"), "{waiting}");
    screenshot(&console, "console.png").await;
    screenshot_at(&console, "console-kiosks.png", "table.waiting").await;
    assert_accessible_controls(&console).await;

    click(&console, "#btn-call-next").await;
    let shown = wait_text(&hall, "#now-ticket", &first, Duration::from_secs(1)).await;
    wait_text(&hall, "#now-counter", "3", Duration::from_secs(1)).await;
    wait_text(&console, "#current-ticket", &first, Duration::from_secs(2)).await;
    // The visitor's grace to reach the counter, and the absence held until it ends.
    let grace = text(&console, "#grace").await;
    assert!(grace.contains("Ha tempo fino alle"), "{grace}");
    let absent = console
        .find(Locator::Css("#btn-no_show"))
        .await
        .unwrap()
        .attr("disabled")
        .await
        .unwrap();
    assert!(absent.is_some(), "Assente waits for the grace");
    screenshot_at(&console, "console-grace.png", "#grace").await;
    click(&console, "#btn-recall").await;
    wait_text(
        &console,
        "#status",
        &format!("Richiamato {first} (1ª volta)"),
        Duration::from_secs(3),
    )
    .await;
    click(&console, "#btn-serve").await;
    wait_text(
        &console,
        "#status",
        &format!("{first} servito"),
        Duration::from_secs(3),
    )
    .await;
    click(&console, "#btn-call-next").await;
    let shown2 = wait_text(&hall, "#now-ticket", &second, Duration::from_secs(1)).await;
    wait_text(
        &hall,
        "#recent li:first-child .mono",
        &first,
        Duration::from_secs(1),
    )
    .await;
    println!("hall showed the calls after {shown:?} and {shown2:?}");

    // Three calls within one second at three counters: spoken one after another.
    for (counter, service) in [(2u8, "V"), (4, "R"), (5, "P")] {
        lan.branch
            .execute(Command::OpenCounter {
                counter: CounterNumber::new(counter).unwrap(),
                services: vec![ServiceLetter::parse(service).unwrap()],
                operator: "operatore2".into(),
            })
            .unwrap();
        walk_in(&lan, service);
    }
    let burst = Instant::now();
    let mut called = Vec::new();
    for counter in [2u8, 4, 5] {
        let events = lan
            .branch
            .execute(Command::CallNext {
                counter: CounterNumber::new(counter).unwrap(),
            })
            .unwrap();
        let EventKind::TicketCalled { ticket, .. } = events[0].event.kind else {
            panic!("{events:?}")
        };
        called.push(ticket.to_string());
    }
    assert!(burst.elapsed() < Duration::from_secs(1));
    wait_text(&hall, "#now-ticket", &called[2], Duration::from_secs(1)).await;
    screenshot(&hall, "hall.png").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = loop {
        let log = hall
            .execute("return window.hallAudioLog;", vec![])
            .await
            .unwrap();
        let entries = log.as_array().cloned().unwrap_or_default();
        let done = entries.iter().filter(|e| !e["end"].is_null()).count();
        // The first call, its recall, the second call, then the three of the burst.
        if done >= 6 {
            break entries;
        }
        assert!(Instant::now() < deadline, "audio did not finish: {log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(log.len(), 6, "{log:?}");
    for pair in log.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (a_end, b_start) = (a["end"].as_f64().unwrap(), b["start"].as_f64());
        let b_start = b_start.unwrap_or_else(|| panic!("{b} never played"));
        assert!(b_start >= a_end, "overlap: {a} then {b}");
        assert!(a["start"].as_f64().unwrap() < a_end, "{a} played");
    }
    for (entry, ticket) in log[3..].iter().zip(&called) {
        let seq: i64 = entry["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let event = lan.branch.read(|_, s| s.events_after(seq - 1, 1).unwrap());
        assert_eq!(
            event[0].event.kind.announcement().unwrap().0.to_string(),
            *ticket,
            "calls spoken in order"
        );
    }

    // The kiosk process restarts: the console reconnects by itself and resumes from the last
    // event id, so the next ticket appears without a reload.
    let listen = lan.server.addr.to_string();
    let tls = lan.tls.clone();
    let base = lan.base.clone();
    lan.server.shutdown().await;
    drop(lan.branch);
    let lan = start_at(&data, &listen, tls).await;
    assert_eq!(lan.base, base);
    let after_restart = walk_in(&lan, "P");
    wait_text(
        &console,
        "table.waiting tbody tr:first-child td.mono",
        &after_restart,
        Duration::from_secs(10),
    )
    .await;
    assert!(
        console.find(Locator::Css("#offline[hidden]")).await.is_ok(),
        "the banner is gone"
    );

    // A pause, for one of the sede's reasons.
    console
        .find(Locator::Css("#pause-reason option:nth-child(3)"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&console, "#btn-pause").await;
    wait_text(
        &console,
        "#status",
        "Sportello 3 in pausa: Formazione",
        Duration::from_secs(3),
    )
    .await;
    screenshot(&console, "console-pause.png").await;
    click(&console, "#btn-open").await;
    wait_text(
        &console,
        "#status",
        "Sportello 3 aperto",
        Duration::from_secs(3),
    )
    .await;

    // The supervisor's figures of the day.
    click(&console, "nav form button").await;
    wait_for(&console, "#username").await;
    log_in(&console, "supervisore").await;
    console
        .goto(&format!("{}/supervisor", lan.base))
        .await
        .unwrap();
    wait_for(&console, "a[href='/supervisor/figures.csv']").await;
    let served = text(&console, "tbody tr:nth-child(3) td:nth-child(3)").await;
    assert_eq!(served, "1", "P: one ticket served");
    // Each kiosk of the sede with its health, the silent one too.
    kiosk_reports(&lan, reporting);
    console.refresh().await.unwrap();
    wait_for(&console, "a[href='/supervisor/figures.csv']").await;
    let kiosks = text(&console, "main").await;
    assert!(kiosks.contains("Chioschi della sede"), "{kiosks}");
    assert!(kiosks.contains("carta in esaurimento"), "{kiosks}");
    assert!(kiosks.contains(silent), "{kiosks}");
    assert!(kiosks.contains("mai dall'avvio del nodo"), "{kiosks}");
    let pauses = text(&console, "#pauses").await;
    assert!(pauses.contains("Formazione"), "{pauses}");
    let flow = text(&console, "#flow").await;
    assert!(flow.contains("P –"), "{flow}");
    screenshot(&console, "supervisor.png").await;
    screenshot_at(&console, "supervisor-flow.png", "#flow").await;
    screenshot_at(&console, "supervisor-kiosks.png", "#kiosks").await;
    assert_accessible_controls(&console).await;

    console.close().await.unwrap();
    hall.close().await.unwrap();
    lan.server.shutdown().await;
}

/// A hub on a fresh database with an administrator `root` (password [`PASSWORD`]),
/// identification through the built-in provider, and one kiosk enrolled at sede 7001.
#[cfg(feature = "hub")]
struct TestHub {
    _db: pg::TestDb,
    pool: deadpool_postgres::Pool,
    server: hub::HubServer,
    base: String,
    kiosk: branch::sync::client::HubClient,
    device_id: String,
}

#[cfg(feature = "hub")]
impl TestHub {
    async fn start() -> TestHub {
        use branch::sync::client::{self, HubClient};
        use hub::{self, HubState, accounts, db, devices};
        support::install_crypto();
        let test_db = pg::TestDb::new().await;
        let pool = db::pool(&test_db.url, 4).unwrap();
        db::migrate(&pool).await.unwrap();
        accounts::create_user(
            &mut pool.get().await.unwrap(),
            "cli",
            "root",
            PASSWORD,
            accounts::Role::Admin,
            None,
        )
        .await
        .unwrap();
        let tls = web::tls::self_signed().unwrap();
        let kek = std::sync::Arc::new(hub::keys::Kek::generate().unwrap());
        hub::keys::prepare(&mut pool.get().await.unwrap(), &kek)
            .await
            .unwrap();
        let state = HubState::new(pool.clone()).with_kek(kek);
        let identity = state.identity.clone();
        let server = hub::start(state, "127.0.0.1:0", &tls).await.unwrap();
        let base = format!("https://127.0.0.1:{}", server.addr.port());
        identity
            .set(hub::identity::IdentityConfig::builtin(&base, &tls.cert).unwrap())
            .unwrap();
        let code = devices::create_code(
            &mut pool.get().await.unwrap(),
            "cli",
            7001,
            protocol::wire::DeviceRole::Node,
        )
        .await
        .unwrap();
        let e = client::enrol(&base, &code, None, "1.0-test").await.unwrap();
        let kiosk = HubClient::new(&base, &e.device_id, &e.secret_key, e.cert_sha256).unwrap();
        TestHub {
            _db: test_db,
            pool,
            server,
            base,
            kiosk,
            device_id: e.device_id,
        }
    }
}

/// Logs `root` in to the hub console at `base`.
#[cfg(feature = "hub")]
async fn console_login(c: &Client, base: &str) {
    c.goto(&format!("{base}/console")).await.unwrap();
    wait_for(c, "#username").await;
    fill(c, &[("#username", "root"), ("#password", PASSWORD)]).await;
    click(c, "button[type=submit]").await;
    wait_for(c, "table").await;
}

/// The hub's console in Chromium: an administrator logs in, sees the kiosk with what it last
/// reported, and makes an enrolment code; every control is named and at least 44 px.
#[cfg(feature = "hub")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_uses_the_hub_console_in_a_browser() {
    use protocol::wire::{DeviceStatus, PushRequest};
    let TestHub {
        _db: _test_db,
        pool,
        server,
        base,
        kiosk,
        device_id,
    } = TestHub::start().await;
    kiosk
        .push(&PushRequest {
            incarnation: "i".into(),
            log_id: "i".into(),
            client_version: "1.0-test".into(),
            schema_version: protocol::OP_SCHEMA_VERSION,
            ops: vec![],
            status: DeviceStatus {
                printer: "cover_open".into(),
                scanner: "present".into(),
                clock_trusted: true,
                ..DeviceStatus::default()
            },
        })
        .await
        .unwrap();

    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, 1280, 720, profile.path()).await;
    console_login(&c, &base).await;
    wait_for(&c, "table tbody tr").await;
    let row = text(&c, "table tbody tr").await;
    assert!(row.contains(&device_id), "{row}");
    assert!(row.contains("coperchio aperto"), "{row}");
    assert!(row.contains("1.0-test"), "{row}");
    assert_accessible_controls(&c).await;
    c.find(Locator::Css("#branch"))
        .await
        .unwrap()
        .send_keys("7001")
        .await
        .unwrap();
    click(&c, "form[action='/console/enrolment-codes'] button").await;
    wait_for(&c, "#enrolment-code").await;
    let new_code = text(&c, "#enrolment-code").await;
    assert_eq!(new_code.len(), 19, "{new_code}");
    screenshot(&c, "hub-console.png").await;

    // The sede's page: a new service through its form, confirmed in words.
    let now = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .naive_local();
    let demo = demo::hub::seed_demo(&mut pool.get().await.unwrap(), 3, now)
        .await
        .unwrap();
    c.goto(&format!("{base}/console/sedi/7001")).await.unwrap();
    wait_for(&c, "#svc-letter").await;
    assert_accessible_controls(&c).await;
    fill(&c, &[("#svc-letter", "Z"), ("#svc-name", "Zeta di prova")]).await;
    click(&c, "form[action$='/servizi'] button[type=submit]").await;
    wait_for(&c, "p.saved").await;
    assert!(text(&c, "main").await.contains("Zeta di prova"));
    screenshot(&c, "hub-sede.png").await;
    // The sede's promises: when the SMS of the follow page goes, how soon requests are
    // answered (Rome's patron saint, a tighter term for F24).
    let saved = |what: &'static str| {
        let c = c.clone();
        async move {
            let start = Instant::now();
            while !text(&c, "p.saved").await.contains(what) {
                assert!(start.elapsed() < Duration::from_secs(5), "never {what}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    c.execute("document.querySelector('#f-ah').value = ''", vec![])
        .await
        .unwrap();
    fill(&c, &[("#f-ah", "2")]).await;
    click(&c, "form[action$='/avvisi'] button[type=submit]").await;
    saved("Avvisi SMS salvati").await;
    assert_eq!(
        c.find(Locator::Css("#f-ah"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    fill(&c, &[("#t-f24", "5"), ("#t-pa", "29/06")]).await;
    click(&c, "form[action$='/risposte'] button[type=submit]").await;
    saved("Tempi di risposta salvati").await;
    assert_accessible_controls(&c).await;
    screenshot_at(&c, "hub-sede-promesse.png", "#avvisi").await;
    // The calling rules: eight minutes for Z's visitors to reach the counter, and a reason
    // of the sede's own to pause for.
    fill(&c, &[("#r-gr-Z", "8")]).await;
    c.execute(
        "document.querySelector('#r-pause').value += '\\nSportello sociale';",
        vec![],
    )
    .await
    .unwrap();
    click(&c, "form[action$='/regole'] button[type=submit]").await;
    saved("Regole salvate").await;
    let reasons = c
        .find(Locator::Css("#r-pause"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        reasons.ends_with("Problema tecnico\nSportello sociale"),
        "{reasons:?}"
    );
    screenshot_at(&c, "hub-sede-regole.png", "#r-gr").await;

    // The day's slots and bookings.
    let booked = &demo.appointments[4].appointment;
    c.goto(&format!(
        "{base}/console/sedi/7001/appuntamenti?giorno={}&servizio={}",
        booked.starts_at.date().format("%Y-%m-%d"),
        booked.service
    ))
    .await
    .unwrap();
    wait_for(&c, "#day").await;
    assert!(text(&c, "main").await.contains(&booked.id.to_string()));
    assert_accessible_controls(&c).await;
    screenshot(&c, "hub-bookings.png").await;

    // A new account, its temporary password shown once.
    c.goto(&format!("{base}/console/account")).await.unwrap();
    wait_for(&c, "#acc-user").await;
    fill(&c, &[("#acc-user", "mario.rossi"), ("#acc-branch", "7001")]).await;
    click(&c, "form[action='/console/account'] button[type=submit]").await;
    wait_for(&c, "#temporary-password").await;
    assert_eq!(text(&c, "#temporary-password").await.len(), 19);
    assert_accessible_controls(&c).await;
    screenshot(&c, "hub-accounts.png").await;

    // Area Contatti: a request with the sede's first reply, and the forms to answer it.
    let mut db = pool.get().await.unwrap();
    db.execute(
        "INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic, subject)
         VALUES (7001, 'INPS.7001.26/11/2026.0000001', $1, 'RSSMRA80A01H501U', 'f24',
                 'Versamento di marzo')",
        &[&demo.companies[0].matricole[0].as_str()],
    )
    .await
    .unwrap();
    hub::contatti::reply(
        &mut db,
        "root",
        7001,
        "INPS.7001.26/11/2026.0000001",
        "Il versamento risulta: ci mandi la quietanza.",
    )
    .await
    .unwrap();
    // A second request, six weeks without an answer: escalated by the hourly sweep.
    db.execute(
        "INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic, subject,
                                     created_at)
         VALUES (7001, 'INPS.7001.22/10/2026.0000002', $1, 'RSSMRA80A01H501U', 'generica',
                 'Sgravio contributivo', now() - interval '42 days')",
        &[&demo.companies[0].matricole[0].as_str()],
    )
    .await
    .unwrap();
    assert_eq!(
        hub::contatti::escalate(&pool, chrono::Utc::now())
            .await
            .unwrap(),
        1
    );
    c.goto(&format!("{base}/console/sedi/7001/richieste"))
        .await
        .unwrap();
    wait_for(&c, "textarea").await;
    let main = text(&c, "main").await;
    assert!(main.contains("ci mandi la quietanza"));
    assert!(
        main.contains("1 richiesta è oltre il termine di risposta, di cui 1 segnalata"),
        "{main}"
    );
    assert!(
        main.find("Sgravio contributivo") < main.find("Versamento di marzo"),
        "the overdue request first: {main}"
    );
    assert_accessible_controls(&c).await;
    screenshot(&c, "hub-requests.png").await;

    // The figures: twelve weeks of 7001's days, compared and charted in the browser.
    db.batch_execute(
        "INSERT INTO day_figures (branch_id, business_day, issued, served, no_show, recalls, waits)
         SELECT 7001, d::date, 200, 185, 9, 14,
                (SELECT array_agg(CASE WHEN m BETWEEN 5 AND 20 + (extract(doy FROM d)::int % 40)
                                       THEN 3 ELSE 0 END ORDER BY m)
                 FROM generate_series(0, 180) m)
         FROM generate_series(current_date - 83, current_date - 1, interval '1 day') d
         WHERE extract(isodow FROM d) < 6",
    )
    .await
    .unwrap();
    c.goto(&format!("{base}/console/cifre?sede=7001&settimane=12"))
        .await
        .unwrap();
    wait_for(&c, "figure svg").await;
    assert_accessible_controls(&c).await;
    // Drawn: the two waits' lines have a size on the page, the target's line is flat.
    let drawn = c
        .execute(
            "return [...document.querySelectorAll('figure svg polyline[stroke-width=\"3\"]')]
                 .map(l => { const b = l.getBBox(); return [l.points.numberOfItems, b.width, b.height]; })",
            vec![],
        )
        .await
        .unwrap();
    let drawn = drawn.as_array().unwrap();
    assert_eq!(drawn.len(), 2, "{drawn:?}");
    for line in drawn {
        assert!(line[0].as_u64().unwrap() >= 11, "a point a week: {line:?}");
        assert!(
            line[1].as_f64().unwrap() > 500.0,
            "across the chart: {line:?}"
        );
    }
    assert!(text(&c, "table").await.contains("7001"));
    screenshot_at(&c, "hub-figures.png", "figure").await;
    // The sede's last day, its flow per service and its pauses by reason.
    let service = |letter: &str, walk: u32, service: u32, open: u8, no_show: u32, recalls: u32| {
        json!({
            "service": letter, "issued": 60, "served": 55, "no_show": no_show, "cancelled": 1,
            "waiting": 0, "wait_mean_s": 1200, "wait_p90_s": 2400, "service_mean_s": service,
            "walk_mean_s": walk, "recalls": recalls, "counters_open_pct": open
        })
    };
    let flow = json!({
        "day": "2026-12-03",
        "services": [
            service("P", 95, 660, 82, 4, 9),
            service("R", 70, 540, 100, 1, 2),
            service("F", 160, 900, 64, 3, 7),
            service("V", 80, 420, 91, 1, 1),
        ],
        "counters": [],
        "pauses": [
            {"reason": "Pausa", "seconds": 3600, "pauses": 5},
            {"reason": "Back office", "seconds": 5400, "pauses": 3},
            {"reason": "Problema tecnico", "seconds": 1200, "pauses": 1},
        ],
    });
    db.execute(
        "UPDATE day_figures SET flow = $1 WHERE branch_id = 7001
             AND business_day = (SELECT max(business_day) FROM day_figures WHERE branch_id = 7001)",
        &[&flow],
    )
    .await
    .unwrap();
    c.goto(&format!("{base}/console/cifre?sede=7001&settimane=12"))
        .await
        .unwrap();
    wait_for(&c, "#flow").await;
    let shown = text(&c, "#flow").await;
    assert!(shown.contains("2.7 min"), "F's walk: {shown}");
    assert!(shown.contains("64 %"), "{shown}");
    assert!(text(&c, "#pauses").await.contains("Back office"));
    assert_accessible_controls(&c).await;
    screenshot_at(&c, "hub-figures-flow.png", "#flow").await;
    c.close().await.unwrap();
    server.stop().await;
}

/// The visitor's phone, as Chromium at a phone's size: identification at the built-in
/// provider, then the forms the kiosk opens on it — a request with three files chosen from
/// the phone, and an istanza with amounts and an IBAN — each sent and seen by the kiosk; the
/// sede's istanze and the administrators' list of istanze in the console.
#[cfg(feature = "hub")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_fills_the_kiosks_forms_on_their_phone_in_a_browser() {
    use protocol::wire::{DeskTask, HandoffState};
    let TestHub {
        _db: _test_db,
        pool,
        server,
        base,
        kiosk,
        ..
    } = TestHub::start().await;
    let now = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .naive_local();
    let demo = demo::hub::seed_demo(&mut pool.get().await.unwrap(), 5, now)
        .await
        .unwrap();
    let person = demo
        .people
        .iter()
        .find(|p| !p.companies.is_empty())
        .unwrap();
    let mine = demo.companies[person.companies[0]].matricole[0];
    let started = kiosk.start_handoff().await.unwrap();

    // The phone opens the kiosk's code and logs in.
    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, 390, 844, profile.path()).await;
    c.goto(&started.url).await.unwrap();
    // The QR's page names the sede and asks for the code beside the QR on the kiosk.
    wait_for(&c, "#code").await;
    assert!(text(&c, "h1").await.contains("chiosco della sede di"));
    assert_accessible_controls(&c).await;
    screenshot(&c, "phone-confirm.png").await;
    fill(&c, &[("#code", started.code.as_str())]).await;
    click(&c, "button[type=submit]").await;
    let choice = format!("input[value='{}']", person.cf.as_str());
    wait_for(&c, &choice).await;
    click(&c, &choice).await;
    click(&c, "button[type=submit]").await;
    wait_for(&c, "h1").await;
    assert_eq!(text(&c, "h1").await, "Identificazione riuscita");
    assert!(matches!(
        kiosk.handoff(&started.id).await.unwrap(),
        HandoffState::Bound { .. }
    ));

    // Scrivi alla sede: the form comes to the phone, with three files from it.
    assert!(
        kiosk
            .desk_task(&started.id, &DeskTask::Richiesta { matricola: mine },)
            .await
            .unwrap()
    );
    c.goto(&format!("{base}/h/desk")).await.unwrap();
    wait_for(&c, "#subject").await;
    assert_accessible_controls(&c).await;
    let files = tempfile::tempdir().unwrap();
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 4, 1);
        enc.set_color(png::ColorType::Grayscale);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0, 80, 160, 240]).unwrap();
    }
    let jpeg = [
        &b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01"[..],
        &[0u8; 32],
        b"\xff\xd9",
    ]
    .concat();
    for (name, bytes) in [
        ("quietanza.pdf", b"%PDF-1.4\n%%EOF\n".to_vec()),
        ("ricevuta.jpg", jpeg),
        ("estratto.png", png),
    ] {
        std::fs::write(files.path().join(name), bytes).unwrap();
    }
    fill(
        &c,
        &[
            ("#subject", "Versamento di marzo"),
            ("#body", "Allego la quietanza e le ricevute."),
            (
                "#file-1",
                files.path().join("quietanza.pdf").to_str().unwrap(),
            ),
            (
                "#file-2",
                files.path().join("ricevuta.jpg").to_str().unwrap(),
            ),
            (
                "#file-3",
                files.path().join("estratto.png").to_str().unwrap(),
            ),
        ],
    )
    .await;
    screenshot(&c, "phone-request.png").await;
    // Notifications go only to the contacts the identity provider vouched for, both ticked
    // at first; no address of the visitor's choosing can be typed.
    let offered = c
        .execute(
            "return [...document.querySelectorAll('input[type=checkbox]')]
               .map(b => [b.name, b.checked, b.labels[0].textContent.trim()]);",
            vec![],
        )
        .await
        .unwrap();
    let (email, mobile) = demo::hub::contacts(person);
    assert_eq!(
        offered,
        json!([
            ["notify_email", true, format!("Per e-mail a {email}")],
            ["notify_mobile", true, format!("Per SMS al {mobile}")]
        ])
    );
    assert!(c.find(Locator::Css("input[type=email]")).await.is_err());
    screenshot_at(&c, "phone-request-notify.png", "input[name=notify_email]").await;
    click(&c, "form button[type=submit]").await;
    wait_for(&c, "p.ok").await;
    let sent = text(&c, "p.ok strong").await;
    assert!(sent.starts_with("INPS.7001."), "{sent}");
    let list = kiosk
        .requests(&started.id, mine.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(list[0].protocol, sent);
    assert_eq!(list[0].attachments.len(), 3);

    // An istanza: typed fields, the IBAN checked at the hub.
    assert!(
        kiosk
            .desk_task(
                &started.id,
                &DeskTask::Istanza {
                    matricola: mine,
                    modulo: "dilazione".into(),
                },
            )
            .await
            .unwrap()
    );
    c.goto(&format!("{base}/h/desk")).await.unwrap();
    wait_for(&c, "#f-iban").await;
    assert_accessible_controls(&c).await;
    // Month pickers take their value as the browser would give it.
    c.execute(
        "document.querySelector('#f-periodo_dal').value = '2025-01';
         document.querySelector('#f-periodo_al').value = '2025-06';",
        vec![],
    )
    .await
    .unwrap();
    fill(
        &c,
        &[
            ("#f-importo", "12.450,00"),
            ("#f-rate", "12"),
            ("#f-iban", "IT60 X054 2811 1010 0000 0123 456"),
        ],
    )
    .await;
    screenshot(&c, "phone-istanza.png").await;
    click(&c, "form button[type=submit]").await;
    wait_for(&c, "p.ok").await;
    let filed = text(&c, "p.ok strong").await;
    assert!(filed.starts_with("INPS.7001.COL."), "{filed}");
    let v = kiosk
        .istanze(&started.id, mine.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.sent[0].protocol, filed);

    // The console: the sede's istanze with their fields, and the list of the eleven.
    let admin = browser(&driver, 1280, 720, tempfile::tempdir().unwrap().path()).await;
    console_login(&admin, &base).await;
    admin
        .goto(&format!("{base}/console/sedi/7001/istanze"))
        .await
        .unwrap();
    wait_for(&admin, "textarea").await;
    assert!(
        text(&admin, "main")
            .await
            .contains("IT60X0542811101000000123456")
    );
    assert_accessible_controls(&admin).await;
    screenshot(&admin, "hub-istanze.png").await;
    admin
        .goto(&format!("{base}/console/istanze"))
        .await
        .unwrap();
    wait_for(&admin, "table").await;
    assert!(text(&admin, "main").await.contains("Fondi esauriti."));
    assert_accessible_controls(&admin).await;
    screenshot(&admin, "hub-istanze-catalogo.png").await;
    admin.close().await.unwrap();
    c.close().await.unwrap();
    server.stop().await;
}
