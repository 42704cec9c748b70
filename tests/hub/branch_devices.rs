//! Several kiosks, one queue, as the hub sees it: devices enrolled as the sede's node or as
//! kiosks that use it, listed in the branch's feed with where the node serves them.

use crate::helpers::*;
use protocol::wire::{DevicePayload, DeviceRole, DeviceStatus, ENTITY_DEVICE, LanEndpoint};

async fn devices_in_feed(kiosk: &Kiosk, base: &str) -> Vec<(String, Option<DevicePayload>)> {
    let pulled: PullResponse = kiosk.pull(base, 0, None).await.json().await.unwrap();
    let mut last = std::collections::BTreeMap::new();
    for c in pulled.changes.iter().filter(|c| c.entity == ENTITY_DEVICE) {
        last.insert(
            c.entity_id.clone(),
            c.payload
                .clone()
                .map(|p| serde_json::from_value::<DevicePayload>(p).unwrap()),
        );
    }
    last.into_iter().collect()
}

fn status_with(lan: Option<LanEndpoint>) -> PushRequest {
    PushRequest {
        status: DeviceStatus {
            lan,
            ..DeviceStatus::default()
        },
        ..batch("inc-1", vec![])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_lists_the_sedes_devices_and_only_its_node_says_where_it_serves() {
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let node = hub.enrol_as(DeviceRole::Node).await;
    let kiosk = hub.enrol_as(DeviceRole::Kiosk).await;
    let listed = devices_in_feed(&kiosk, &base).await;
    let roles: Vec<_> = listed
        .iter()
        .map(|(id, d)| (id.clone(), d.as_ref().unwrap().role))
        .collect();
    assert!(
        roles.contains(&(node.id.clone(), DeviceRole::Node)),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(kiosk.id.clone(), DeviceRole::Kiosk)),
        "{roles:?}"
    );
    let key_of = |id: &str| {
        listed
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, d)| d.as_ref())
            .map(|d| d.public_key.clone())
            .unwrap()
    };
    assert_eq!(
        key_of(&kiosk.id),
        protocol::wire::hex(kiosk.key.verifying_key().as_bytes())
    );

    // The node says where it serves the kiosks; a kiosk saying the same is not heard.
    let lan = LanEndpoint {
        url: "https://10.0.0.2:8443".into(),
        key: "ab".repeat(32),
    };
    assert_eq!(
        node.push(&base, &status_with(Some(lan.clone())))
            .await
            .status(),
        200
    );
    let rogue = LanEndpoint {
        url: "https://10.0.0.66:8443".into(),
        key: "cd".repeat(32),
    };
    assert_eq!(
        kiosk.push(&base, &status_with(Some(rogue))).await.status(),
        200
    );
    let listed = devices_in_feed(&kiosk, &base).await;
    let lan_of = |id: &str| {
        listed
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, d)| d.as_ref())
            .and_then(|d| d.lan.clone())
    };
    assert_eq!(lan_of(&node.id), Some(lan.clone()));
    assert_eq!(lan_of(&kiosk.id), None);
    // The same report again publishes nothing new.
    let head = count(&hub.pool, "SELECT last_seq FROM branch_feed_head").await;
    assert_eq!(
        node.push(&base, &status_with(Some(lan))).await.status(),
        200
    );
    assert_eq!(
        count(&hub.pool, "SELECT last_seq FROM branch_feed_head").await,
        head
    );
    // The fleet page shows the sede's node, where it serves, before its kiosks.
    hub.staff(&[("admin", hub::accounts::Role::Admin, None)])
        .await;
    let admin = ConsoleSession::login(&hub, 0, "admin", STAFF_PASSWORD).await;
    let (status, page) = admin.get("/console").await;
    assert_eq!(status, StatusCode::OK);
    let node_at = page.find("nodo della sede (https://10.0.0.2:8443)");
    let kiosk_at = page.find("chiosco (usa il nodo)");
    assert!(
        matches!((node_at, kiosk_at), (Some(n), Some(k)) if n < k),
        "{page}"
    );
    // A report that is not an https URL and a key is not heard, and stops no push.
    let bad = LanEndpoint {
        url: "http://10.0.0.2".into(),
        key: "ab".repeat(32),
    };
    assert_eq!(
        node.push(&base, &status_with(Some(bad))).await.status(),
        200
    );
    assert_eq!(
        count(&hub.pool, "SELECT last_seq FROM branch_feed_head").await,
        head
    );

    // Where kiosks share the node, a second node is refused: the sede would number twice.
    let (status, body, _) = hub.try_enrol(&hub.code_for(DeviceRole::Node).await).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("promote"), "{body}");

    // A revoked kiosk leaves the branch's list.
    devices::revoke(&hub.pool.get().await.unwrap(), "admin", &kiosk.id)
        .await
        .unwrap();
    let listed = devices_in_feed(&node, &base).await;
    assert!(
        listed.iter().any(|(id, d)| id == &kiosk.id && d.is_none()),
        "{listed:?}"
    );
}

/// Reads a child's standard output line by line on a thread of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_node_reads_its_sedes_day_and_never_another_sedes() {
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let dead = hub.enrol_as(DeviceRole::Node).await;
    assert_eq!(
        dead.push(&base, &batch("inc-1", vec![queue_op(1, 1)]))
            .await
            .status(),
        200
    );
    hub::devices::revoke(&hub.pool.get().await.unwrap(), "admin", &dead.id)
        .await
        .unwrap();
    let node = hub.enrol_as(DeviceRole::Node).await;
    let kiosk = hub.enrol_as(DeviceRole::Kiosk).await;
    // Another sede's day, the same date: never in the answer.
    hub.pool
        .get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
             VALUES (9999, 'elsewhere', 1, '2026-11-26', 'day_opened', '{}', 'kiosk-9999-01-000000')",
            &[],
        )
        .await
        .unwrap();
    let path = |day: &str| format!("{}?day={day}", protocol::wire::DAY_LOG);
    let r = node.signed(&base, "GET", &path("2026-11-26")).await;
    assert_eq!(r.status(), 200);
    let log: protocol::wire::DayLog = r.json().await.unwrap();
    assert_eq!(log.events.len(), 1, "{log:?}");
    assert_eq!(log.events[0].device, dead.id);
    let r = node.signed(&base, "GET", &path("2026-11-27")).await;
    assert!(
        r.json::<protocol::wire::DayLog>()
            .await
            .unwrap()
            .events
            .is_empty()
    );
    assert_eq!(
        kiosk
            .signed(&base, "GET", &path("2026-11-26"))
            .await
            .status(),
        403,
        "a kiosk does not read the day"
    );
    assert_eq!(
        dead.signed(&base, "GET", &path("2026-11-26"))
            .await
            .status(),
        401,
        "nor does the revoked node"
    );
}

/// `sportello enroll` of the store `db` with a code for `role`.
async fn enroll(hub: &Hub, role: DeviceRole, db: &std::path::Path) {
    let out = sportello()
        .args([
            "enroll",
            "--hub",
            &hub.base(0),
            "--code",
            &hub.code_for(role).await,
            "--db",
        ])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "enroll as {role:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Types `input` at the kiosk until its answer contains `want`, or gives up after `within`.
fn ask_until(
    kiosk: &mut Child,
    answers: &std::sync::mpsc::Receiver<String>,
    input: &str,
    want: &str,
    within: Duration,
    log: impl Fn() -> String,
) -> String {
    use std::io::Write;
    let deadline = std::time::Instant::now() + within;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        if let Err(e) = writeln!(kiosk.0.stdin.as_mut().unwrap(), "{input}") {
            panic!("the kiosk is gone ({e}); its log: {}", log());
        }
        if let Ok(answer) = answers.recv_timeout(Duration::from_secs(5)) {
            if answer.contains(want) {
                return answer;
            }
            last = answer;
        }
        // Past the scanner's 2-second window for the same input.
        std::thread::sleep(Duration::from_millis(2100));
    }
    panic!(
        "no answer with {want:?} from the kiosk; the last: {last:?}; its log: {}",
        log()
    );
}

/// The number of a kiosk's answer `BIGLIETTO <number> …`.
fn ticket_of(answer: &str) -> String {
    answer
        .split_whitespace()
        .nth(1)
        .expect("BIGLIETTO <number>")
        .to_owned()
}

async fn wait_for(pool: &deadpool_postgres::Pool, sql: &str, what: &str, log: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while count(pool, sql).await < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never reached the hub; the logs: {}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_node_and_a_kiosk_as_processes_share_one_queue_through_an_outage_and_a_new_node_takes_the_day_over()
 {
    let hub = Hub::start(1).await;
    let now = domain::Clock::local_now(&support::morning_clock()).naive_local();
    demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 2026, now)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (node_db, kiosk_dir) = (dir.path().join("node.sqlite"), dir.path().join("kiosk"));
    std::fs::create_dir_all(&kiosk_dir).unwrap();
    for (role, db) in [
        (DeviceRole::Node, node_db.clone()),
        (DeviceRole::Kiosk, kiosk_dir.join("kiosk.sqlite")),
    ] {
        enroll(&hub, role, &db).await;
    }
    let config = |name: &str, body: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let node_config = config(
        "node.toml",
        format!(
            "[store]\npath = {:?}\n[lan]\nlisten = \"127.0.0.1:0\"\ntls_dir = {:?}\n[sync]\ninterval_ms = 300\nmax_backoff_ms = 1000\n",
            node_db,
            dir.path().join("tls")
        ),
    );
    let kiosk_config = config(
        "kiosk.toml",
        "[sync]\ninterval_ms = 300\nmax_backoff_ms = 1000\n".into(),
    );
    let start_node = || {
        Child(
            sportello()
                .args(["--clock-from", support::MORNING, "--config"])
                .arg(&node_config)
                .arg("node")
                .stdout(std::process::Stdio::null())
                .stderr(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(dir.path().join("node.log"))
                        .unwrap(),
                )
                .spawn()
                .unwrap(),
        )
    };
    let mut node = start_node();
    let mut kiosk = Child(
        sportello()
            .args(["--clock-from", support::MORNING, "--config"])
            .arg(&kiosk_config)
            .args(["kiosk", "--demo", "--headless", "--data-dir"])
            .arg(&kiosk_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("kiosk.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let answers = lines(&mut kiosk.0);
    let log = || {
        let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
        format!("{}\n--- node:\n{}", read("kiosk.log"), read("node.log"))
    };
    let kiosk_id = store::Store::open(&kiosk_dir.join("kiosk.sqlite"), &Default::default())
        .unwrap()
        .hub_link()
        .unwrap()
        .unwrap()
        .device_id;

    // Once the node has told the hub where it serves and the kiosk has heard, the kiosk's
    // tickets are numbered there, with the people ahead.
    let online = ask_until(
        &mut kiosk,
        &answers,
        "P",
        "persone prima di lei",
        Duration::from_secs(40),
        log,
    );
    assert!(online.contains("BIGLIETTO P0"), "{online}");
    wait_for(
        &hub.pool,
        &format!(
            "SELECT count(*) FROM queue_event WHERE kind = 'ticket_issued'
             AND payload->>'kiosk' = '{kiosk_id}'"
        ),
        "the node's push of the kiosk's ticket",
        log,
    )
    .await;

    // The node dies: the kiosk numbers from its lease, and says the wait is not known.
    let leased = || {
        store::Store::open(&kiosk_dir.join("kiosk.sqlite"), &Default::default())
            .unwrap()
            .leases_left(now.date())
            .unwrap()
            .get(&domain::ServiceLetter::parse("P").unwrap())
            .copied()
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while leased() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no lease reached the kiosk"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = node.0.kill();
    let _ = node.0.wait();
    let offline = ask_until(
        &mut kiosk,
        &answers,
        "P",
        "attesa non nota",
        Duration::from_secs(20),
        log,
    );
    let number = ticket_of(&offline);

    // Back: the ticket printed while the node was gone reaches the node and, once, the hub.
    node = start_node();
    wait_for(
        &hub.pool,
        &format!(
            "SELECT count(*) FROM queue_event WHERE kind = 'ticket_issued'
             AND payload->>'ticket' = '{number}' AND payload ? 'offline_at'"
        ),
        "the ticket printed offline",
        log,
    )
    .await;
    assert_eq!(
        count(
            &hub.pool,
            &format!(
                "SELECT count(*) FROM queue_event WHERE kind = 'ticket_issued'
                 AND payload->>'ticket' = '{number}'"
            )
        )
        .await,
        1,
        "no number twice"
    );

    // The node's machine dies for good. The kiosk goes on from its lease; the sede revokes the
    // dead node, enrols a new one, which takes the day over from the hub's copy before it
    // numbers anything.
    let _ = node.0.kill();
    let _ = node.0.wait();
    let stranded = ask_until(
        &mut kiosk,
        &answers,
        "R",
        "attesa non nota",
        Duration::from_secs(20),
        log,
    );
    let stranded = ticket_of(&stranded);
    let dead: String = store::Store::open(&node_db, &Default::default())
        .unwrap()
        .hub_link()
        .unwrap()
        .unwrap()
        .device_id;
    hub::devices::revoke(&hub.pool.get().await.unwrap(), "supervisore", &dead)
        .await
        .unwrap();
    let new_db = dir.path().join("node-2.sqlite");
    // A new node where the old one is revoked.
    enroll(&hub, DeviceRole::Node, &new_db).await;
    let new_config = config(
        "node-2.toml",
        format!(
            "[store]\npath = {:?}\n[lan]\nlisten = \"127.0.0.1:0\"\ntls_dir = {:?}\n[sync]\ninterval_ms = 300\nmax_backoff_ms = 1000\n",
            new_db,
            dir.path().join("tls-2")
        ),
    );
    let mut replacing = Child(
        sportello()
            .args(["--clock-from", support::MORNING, "--config"])
            .arg(&new_config)
            .args(["node", "--take-over"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("node-2.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // Kept to the end: a node whose standard output is closed cannot print where it serves.
    let replacing_says = lines(&mut replacing.0);
    let said = replacing_says
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "the new node said nothing: {}",
                std::fs::read_to_string(dir.path().join("node-2.log")).unwrap_or_default()
            )
        });
    assert!(said.starts_with("Giornata ripresa dal nodo"), "{said}");
    assert!(said.contains(&dead), "{said}");
    // What the kiosk printed while no node was there reaches the new one (it knows the lease)
    // and the hub; its next tickets are numbered there, after every number given before.
    wait_for(
        &hub.pool,
        &format!(
            "SELECT count(*) FROM queue_event WHERE kind = 'ticket_issued'
             AND payload->>'ticket' = '{stranded}' AND device_id <> '{dead}'"
        ),
        "the ticket printed with no node, handed to the new one",
        || {
            format!(
                "{:?}\n{}\n--- new node:\n{}",
                store::Store::open(&kiosk_dir.join("kiosk.sqlite"), &Default::default())
                    .unwrap()
                    .branch_devices()
                    .unwrap(),
                log(),
                std::fs::read_to_string(dir.path().join("node-2.log")).unwrap_or_default()
            )
        },
    )
    .await;
    let next = ask_until(
        &mut kiosk,
        &answers,
        "P",
        "persone prima di lei",
        Duration::from_secs(40),
        log,
    );
    let next = ticket_of(&next);
    let given: Vec<String> = hub
        .pool
        .get()
        .await
        .unwrap()
        .query(
            "SELECT payload->>'ticket' FROM queue_event
             WHERE kind = 'ticket_issued' AND payload->>'ticket' LIKE 'P%' AND device_id = $1",
            &[&dead],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!given.is_empty());
    assert!(
        given.iter().all(|g| *g < next),
        "{next} comes after every number the dead node gave: {given:?}"
    );
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM (SELECT payload->>'ticket' FROM queue_event
             WHERE kind = 'ticket_issued' GROUP BY 1 HAVING count(*) > 1) twice"
        )
        .await,
        0,
        "no number given twice across the two nodes"
    );
}
