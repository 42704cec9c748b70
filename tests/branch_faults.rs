//! The fault harness of a sede with several kiosks: a branch node and three kiosks as real
//! processes, a real hub over a PostgreSQL cluster of the test's own, and two fault proxies —
//! one between the kiosks and the node (the node advertises the proxy's address to the hub, so
//! the kiosks find it there), one between every device and the hub. Each round, for a few
//! seconds, visitors take walk-in tickets and check in bookings (some at two kiosks) while the
//! proxies delay, refuse, drop, black-hole and reset connections, and the node, a kiosk or the
//! hub is killed with SIGKILL and started again. Then: heal, let every kiosk hand over what it
//! printed and every device sync, stop everything, and check, per sede and day —
//!
//! 1. no number printed twice: a walk-in number is on paper once, at the kiosk it was issued
//!    to (a booking's ticket may be printed again: that is a reprint of the same ticket);
//! 2. no printed ticket lost: every number on any kiosk's paper is a ticket in the node's log,
//!    and at the hub once;
//! 3. a booking waits once: at most one of its tickets is not cancelled, and it is one a
//!    visitor holds (printed), unless the kiosk it was issued to was killed before printing it;
//! 4. every kiosk handed over all it printed while cut off;
//! 5. every device's log is at the hub exactly (nothing lost, nothing extra), and every
//!    device's replica of the appointments equals the hub's, its feed cursor at the head.
//!
//! The checker is proven by a round against a node that leases numbers it also issues
//! (`SPORTELLO_NODE_BROKEN_LEASE=1`): it must fail. `SPORTELLO_FAULT_ROUNDS` (default 50) and
//! `SPORTELLO_FAULT_SEED` (default 1) choose the rounds; each prints its seed, and
//! `SPORTELLO_FAULT_ROUNDS=1 SPORTELLO_FAULT_SEED=<seed>` replays one. The longer soak:
//! `SPORTELLO_FAULT_ROUNDS=500 cargo test --all-features --test branch_faults -- --nocapture`.

#[path = "support/faults.rs"]
mod faults;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/proxy.rs"]
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use faults::{
    DeviceView, HubProcess, HubView, RoundHub, append, count, open_ro, read_device, sportello,
};
use hub::{branch_data, devices};
use pg::PgCluster;
use protocol::wire::DeviceRole;
use proxy::{Mode, Proxy};

const KIOSKS: usize = 3;
const FAULT_TIME: Duration = Duration::from_secs(7);
const SETTLE: Duration = Duration::from_secs(45);
const SERVICES: [&str; 3] = ["P", "R", "F"];

/// Waits while the sede's day is about to turn: a round numbers within one day.
async fn clear_of_midnight() {
    use chrono::Timelike;
    loop {
        let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome);
        let seconds = now.num_seconds_from_midnight();
        if (60..86_340).contains(&seconds) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Processes.

/// A kiosk or the node: started again with the same arguments, its output appended.
struct Device {
    name: String,
    config: PathBuf,
    db: PathBuf,
    /// The kiosk's data folder (demo printer's paper, stdout); `None` for the node.
    data: Option<PathBuf>,
    broken: bool,
    child: Option<Child>,
    /// Inputs written to this incarnation, and the answer lines it had when it started.
    sent: usize,
    answered_before: usize,
    /// Killed at least once this round.
    killed: bool,
}

impl Device {
    fn new(name: String, config: PathBuf, db: PathBuf, data: Option<PathBuf>) -> Device {
        Device {
            name,
            config,
            db,
            data,
            broken: false,
            child: None,
            sent: 0,
            answered_before: 0,
            killed: false,
        }
    }

    fn start(&mut self, dir: &Path) {
        let mut cmd = sportello();
        cmd.arg("--config")
            .arg(&self.config)
            .stderr(append(&dir.join(format!("{}.log", self.name))));
        if self.broken {
            cmd.env("SPORTELLO_NODE_BROKEN_LEASE", "1");
        }
        match &self.data {
            Some(data) => {
                self.answered_before = self.answers();
                cmd.args(["kiosk", "--demo", "--headless", "--data-dir"])
                    .arg(data)
                    .stdin(Stdio::piped())
                    .stdout(append(&data.join("answers.txt")));
            }
            None => {
                cmd.arg("node").stdin(Stdio::null()).stdout(Stdio::null());
            }
        }
        self.sent = 0;
        self.child = Some(cmd.spawn().unwrap());
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            self.killed = true;
        }
    }

    /// Stops it at the round's end (not a fault: `killed` stays as it was).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    fn answers(&self) -> usize {
        self.data
            .as_ref()
            .and_then(|d| std::fs::read(d.join("answers.txt")).ok())
            .map(|b| b.iter().filter(|c| **c == b'\n').count())
            .unwrap_or(0)
    }

    /// Whether the kiosk has answered everything it was given.
    fn idle(&self) -> bool {
        self.answers() >= self.answered_before + self.sent
    }

    fn input(&mut self, line: &str) {
        if let Some(stdin) = self.child.as_mut().and_then(|c| c.stdin.as_mut())
            && writeln!(stdin, "{line}").is_ok()
        {
            self.sent += 1;
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------------------------
// What the checker reads.

/// A ticket as the node's log tells it.
#[derive(Debug, Default)]
struct NodeTicket {
    issued: u32,
    booking: Option<i64>,
    kiosk: Option<String>,
    offline: bool,
    cancelled: Option<String>,
}

fn node_tickets(path: &Path) -> BTreeMap<String, NodeTicket> {
    let c = open_ro(path);
    let mut tickets: BTreeMap<String, NodeTicket> = BTreeMap::new();
    let mut stmt = c
        .prepare(
            "SELECT kind, payload FROM queue_event
             WHERE kind IN ('ticket_issued', 'ticket_cancelled') ORDER BY seq",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    for row in rows {
        let (kind, payload) = row.unwrap();
        let p: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let number = p["ticket"].as_str().unwrap_or_default().to_owned();
        let t = tickets.entry(number).or_default();
        if kind == "ticket_issued" {
            t.issued += 1;
            t.booking = p["booking"].as_i64();
            t.kiosk = p["kiosk"].as_str().map(str::to_owned);
            t.offline = !p["offline_at"].is_null();
        } else {
            t.cancelled = p["reason"].as_str().map(str::to_owned);
        }
    }
    tickets
}

/// The numbers on a kiosk's paper, in print order, read back from the ESC/POS bytes its
/// simulated printer received.
fn printed(paper: &Path) -> Vec<String> {
    let bytes = std::fs::read(paper).unwrap_or_default();
    let starts: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"\x1b@\x1bt")
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            let end = starts.get(k + 1).copied().unwrap_or(bytes.len());
            let preview = ticket::preview::preview(&bytes[start..end], ticket::Paper::Mm80, 16)
                .map(|p| p.transcript)
                .unwrap_or_default();
            preview
                .lines()
                .find_map(|l| l.strip_prefix("[CB4x4] "))
                .map(str::to_owned)
                .unwrap_or_else(|| format!("<unreadable ticket at byte {start}>"))
        })
        .collect()
}

struct Observed {
    /// Per kiosk: its device id, the numbers on its paper, whether it was killed.
    kiosks: Vec<(String, Vec<String>, bool)>,
    node: BTreeMap<String, NodeTicket>,
    /// The node was killed this round (what it kept in memory of its kiosks' requests is
    /// gone).
    node_killed: bool,
    devices: Vec<DeviceView>,
}

/// Checks the invariants; returns what is wrong.
async fn check(pool: &deadpool_postgres::Pool, seen: &Observed) -> Vec<String> {
    let mut wrong = Vec::new();
    let c = pool.get().await.unwrap();

    // 1. A number on paper more than once must be a booking's reprint, at the kiosk it was
    // issued to.
    let mut on_paper: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (kiosk, numbers, _) in &seen.kiosks {
        for n in numbers {
            on_paper.entry(n).or_default().push(kiosk);
        }
    }
    for (number, at) in &on_paper {
        if number.starts_with('<') {
            wrong.push(format!("{number} at kiosk {}", at[0]));
            continue;
        }
        let Some(t) = seen.node.get(*number) else {
            wrong.push(format!(
                "{number}, printed at {at:?}, is not in the node's log: a printed ticket lost"
            ));
            continue;
        };
        if t.issued != 1 {
            wrong.push(format!("{number} issued {} times by the node", t.issued));
        }
        if t.booking.is_none() && at.len() > 1 {
            wrong.push(format!(
                "walk-in number {number} printed {} times, at {at:?}",
                at.len()
            ));
        }
        if let Some(kiosk) = &t.kiosk
            && at.iter().any(|k| k != kiosk)
            && t.booking.is_none()
        {
            wrong.push(format!(
                "{number} issued to kiosk {kiosk} but printed at {at:?}"
            ));
        }
    }

    // 2. At the hub once.
    let at_hub: BTreeMap<String, i64> = c
        .query(
            "SELECT payload->>'ticket', count(*) FROM queue_event
             WHERE branch_id = 7001 AND kind = 'ticket_issued' GROUP BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    for number in on_paper.keys().filter(|n| !n.starts_with('<')) {
        match at_hub.get(*number) {
            Some(1) => {}
            Some(n) => wrong.push(format!("{number} at the hub {n} times")),
            None => wrong.push(format!("{number}, printed, never reached the hub")),
        }
    }

    // 3. A booking waits once, under a ticket its visitor holds.
    let killed: BTreeSet<&str> = seen
        .kiosks
        .iter()
        .filter(|(_, _, killed)| *killed)
        .map(|(id, _, _)| id.as_str())
        .collect();
    let mut bookings: BTreeMap<i64, Vec<(&str, &NodeTicket)>> = BTreeMap::new();
    for (number, t) in &seen.node {
        if let Some(b) = t.booking {
            bookings.entry(b).or_default().push((number, t));
        }
    }
    for (booking, tickets) in &bookings {
        let live: Vec<_> = tickets
            .iter()
            .filter(|(_, t)| t.cancelled.is_none())
            .collect();
        if live.len() > 1 {
            wrong.push(format!(
                "booking {booking} waits under {} tickets: {:?}",
                live.len(),
                live.iter().map(|(n, _)| n).collect::<Vec<_>>()
            ));
        }
        let held = tickets.iter().any(|(n, _)| on_paper.contains_key(n));
        if let [(number, t)] = live.as_slice()
            && held
            && !on_paper.contains_key(number)
            && !t.kiosk.as_deref().is_some_and(|k| killed.contains(k))
        {
            wrong.push(format!(
                "booking {booking} waits under {number}, which no visitor holds (printed: {:?})",
                tickets
                    .iter()
                    .filter(|(n, _)| on_paper.contains_key(n))
                    .map(|(n, t)| (n, t.cancelled.as_deref()))
                    .collect::<Vec<_>>()
            ));
        }
    }

    // 3b. A walk-in nobody holds does not wait: the kiosk that never had its answer named it
    // to the node, which withdrew it. (Both remember the request in memory only: a kiosk or
    // node killed meanwhile forgets, and the ticket ends as a no-show.)
    if !seen.node_killed {
        for (number, t) in &seen.node {
            if let Some(kiosk) = &t.kiosk
                && t.booking.is_none()
                && !t.offline
                && t.cancelled.is_none()
                && !on_paper.contains_key(number.as_str())
                && !killed.contains(kiosk.as_str())
            {
                wrong.push(format!(
                    "walk-in {number}, issued to kiosk {kiosk}, was never printed and still waits"
                ));
            }
        }
    }

    // 4 and 5: hand-overs, logs at the hub, cursors and replicas.
    let hub = HubView::read(&c).await;
    hub.check_logs(&seen.devices, &mut wrong);
    for d in &seen.devices {
        if d.unhanded != 0 {
            wrong.push(format!(
                "{}: {} tickets printed offline never handed to the node",
                d.name, d.unhanded
            ));
        }
        // A check-in is the node's own fact (the hub keeps it in the queue's log, not on the
        // appointment), and it stands over a change the sede made after it: the visitor is
        // in the building with a ticket.
        let same = |b: &i64, hub: &String| match d.appointments.get(b).map(String::as_str) {
            Some("checked_in") => d.name == "node",
            mine => mine == Some(hub.as_str()),
        };
        if d.appointments.len() != hub.appointments.len()
            || hub.appointments.iter().any(|(b, s)| !same(b, s))
        {
            let differ: Vec<_> = hub
                .appointments
                .iter()
                .filter(|(b, s)| !same(b, s))
                .map(|(b, s)| (b, s, d.appointments.get(b)))
                .take(5)
                .collect();
            wrong.push(format!(
                "{}: replica differs from the hub's: {differ:?}",
                d.name
            ));
        }
    }
    wrong
}

// ---------------------------------------------------------------------------------------------
// A round.

struct Round {
    dir: tempfile::TempDir,
    pool: deadpool_postgres::Pool,
    hub_config: PathBuf,
    hub: Option<HubProcess>,
    wan: Proxy,
    lan: Proxy,
    node: Device,
    kiosks: Vec<Device>,
    kiosk_ids: Vec<String>,
    tokens: Vec<String>,
    appointments: Vec<domain::Appointment>,
}

impl Round {
    async fn new(cluster: &PgCluster, seed: u64, broken: bool) -> Round {
        let dir = tempfile::tempdir().unwrap();
        let RoundHub {
            pool,
            demo,
            config: hub_config,
            ..
        } = RoundHub::new(
            cluster,
            &format!("branch_faults_{seed}_{}", u8::from(broken)),
            dir.path(),
        )
        .await;
        let (hub, hub_addr) = HubProcess::start(&hub_config, false);
        let wan = Proxy::start(vec![hub_addr]).await;
        let hub_url = format!("https://127.0.0.1:{}", wan.port);

        // The node listens on a port of its own, kept across restarts, and tells the hub to
        // send kiosks through the LAN proxy.
        let node_port = free_port();
        let lan = Proxy::start(vec![SocketAddr::from(([127, 0, 0, 1], node_port))]).await;
        let enrol = |role: DeviceRole, db: PathBuf| {
            let pool = pool.clone();
            let hub_url = hub_url.clone();
            async move {
                let code =
                    devices::create_code(&mut pool.get().await.unwrap(), "harness", 7001, role)
                        .await
                        .unwrap();
                let out = sportello()
                    .args(["enroll", "--hub", &hub_url, "--code", &code, "--db"])
                    .arg(&db)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "enroll: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        let node_db = dir.path().join("node.sqlite");
        enrol(DeviceRole::Node, node_db.clone()).await;
        let node_config = dir.path().join("node.toml");
        std::fs::write(
            &node_config,
            format!(
                "[store]\npath = {node_db:?}\n\
                 [lan]\nlisten = \"127.0.0.1:{node_port}\"\nadvertise = \"https://127.0.0.1:{}\"\ntls_dir = {:?}\n\
                 [sync]\ninterval_ms = 150\nmax_backoff_ms = 600\n[printer]\nkind = \"none\"\n",
                lan.port,
                dir.path().join("node-tls")
            ),
        )
        .unwrap();
        let mut node = Device::new("node".into(), node_config, node_db, None);
        node.broken = broken;

        let mut kiosks = Vec::new();
        let mut kiosk_ids = Vec::new();
        for k in 0..KIOSKS {
            let data = dir.path().join(format!("kiosk-{k}"));
            std::fs::create_dir_all(&data).unwrap();
            let db = data.join("kiosk.sqlite");
            enrol(DeviceRole::Kiosk, db.clone()).await;
            kiosk_ids.push(
                open_ro(&db)
                    .query_row("SELECT device_id FROM hub_link", [], |r| r.get(0))
                    .unwrap(),
            );
            let config = dir.path().join(format!("kiosk-{k}.toml"));
            std::fs::write(
                &config,
                "[sync]\ninterval_ms = 150\nmax_backoff_ms = 600\n[lan]\nnode_sync_ms = 400\n\
                 [printer]\nkind = \"simulated\"\n",
            )
            .unwrap();
            kiosks.push(Device::new(format!("kiosk-{k}"), config, db, Some(data)));
        }
        let mut appointments: Vec<_> = demo
            .appointments
            .iter()
            .map(|a| a.appointment.clone())
            .collect();
        appointments.sort_by_key(|a| a.id);
        Round {
            tokens: demo.appointments.iter().map(|a| a.token.clone()).collect(),
            appointments,
            dir,
            pool,
            hub_config,
            hub: Some(hub),
            wan,
            lan,
            node,
            kiosks,
            kiosk_ids,
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["node", "kiosk-0", "kiosk-1", "kiosk-2", "hub"] {
            let log = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            out.push_str(&format!("\n--- {name}:\n"));
            for l in tail.iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Starts the devices and waits until every kiosk holds leases for the walk-in services.
    async fn start(&mut self) {
        self.node.start(self.dir.path());
        for k in &mut self.kiosks {
            k.start(self.dir.path());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self.kiosks.iter().all(|k| {
                let c = open_ro(&k.db);
                count(
                    &c,
                    "SELECT count(DISTINCT service_letter) FROM lease
                     WHERE service_letter IN ('P', 'R', 'F')",
                ) == 3
            });
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the kiosks had no leases from the node within 60 s:{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn restart_hub(&mut self) {
        self.hub = None;
        let (hub, addr) = HubProcess::start(&self.hub_config, false);
        self.hub = Some(hub);
        self.wan.retarget(0, addr);
    }
}

/// One round; returns what the checker found wrong (empty: all invariants hold).
async fn round(cluster: &PgCluster, seed: u64, broken: bool) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    clear_of_midnight().await;
    let mut r = Round::new(cluster, seed, broken).await;
    r.start().await;

    let start = Instant::now();
    let mut next_fault = Duration::from_millis(rng.u64(200..600));
    let mut node_back: Option<Instant> = None;
    let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
    let mut letter = 0usize;
    while start.elapsed() < FAULT_TIME {
        // Visitors: a walk-in at each kiosk that is free, now and then a booking (sometimes
        // the same one at two kiosks).
        for k in 0..KIOSKS {
            if !r.kiosks[k].alive() || !r.kiosks[k].idle() {
                continue;
            }
            let input = if rng.u8(0..4) == 0 {
                r.tokens[rng.usize(0..r.tokens.len())].clone()
            } else {
                letter += 1;
                SERVICES[letter % SERVICES.len()].to_owned()
            };
            r.kiosks[k].input(&input);
        }
        // Now and then the sede changes an appointment at the hub.
        if rng.u8(0..40) == 0 {
            let mut a = r.appointments[rng.usize(0..r.appointments.len())].clone();
            a.state = domain::AppointmentState::CancelledBySede;
            if let Ok(mut c) = r.pool.get().await
                && let Ok(tx) = c.transaction().await
                && branch_data::put_appointments(&tx, 7001, &[a]).await.is_ok()
            {
                let _ = tx.commit().await;
            }
        }
        if node_back.is_some_and(|at| Instant::now() >= at) {
            r.node.start(r.dir.path());
            node_back = None;
        }
        if start.elapsed() >= next_fault {
            next_fault = start.elapsed() + Duration::from_millis(rng.u64(300..900));
            let fault = if broken {
                // The control round: a plain partition, so that kiosks print from the lease.
                if start.elapsed() < Duration::from_secs(5) {
                    "lan-partition"
                } else {
                    "heal"
                }
            } else {
                match rng.u8(0..100) {
                    0..28 => "heal",
                    28..40 => "lan-partition",
                    40..48 => "lan-flaky",
                    48..54 => "lan-delay",
                    54..60 => "lan-late",
                    60..66 => "lan-reset",
                    66..74 => "wan-partition",
                    74..78 => "wan-delay",
                    78..86 => "kill-node",
                    86..96 => "kill-kiosk",
                    _ => "kill-hub",
                }
            };
            *faults.entry(fault).or_default() += 1;
            match fault {
                "heal" => {
                    r.lan.set(Mode::Pass);
                    r.wan.set(Mode::Pass);
                }
                "lan-partition" => r.lan.partition(),
                "lan-flaky" => r.lan.set(Mode::Flaky(50)),
                // Sometimes longer than a visitor waits for the node: the node answers a
                // kiosk that has given up.
                "lan-delay" => r.lan.set(Mode::Delay(rng.u64(50..2500))),
                // The node issues, the answer comes after the kiosk has given up on it.
                "lan-late" => r.lan.set(Mode::LateReplies(rng.u64(1000..3000))),
                "lan-reset" => r.lan.reset_all(),
                "wan-partition" => r.wan.partition(),
                "wan-delay" => r.wan.set(Mode::Delay(rng.u64(50..800))),
                "kill-node" => {
                    if r.node.alive() {
                        r.node.kill();
                        node_back = Some(Instant::now() + Duration::from_millis(rng.u64(0..1500)));
                    }
                }
                "kill-kiosk" => {
                    let k = &mut r.kiosks[rng.usize(0..KIOSKS)];
                    k.kill();
                    k.start(r.dir.path());
                }
                _ => r.restart_hub(),
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(40..120))).await;
    }

    // Heal; every kiosk answers what it was given, hands over what it printed, and every
    // device syncs with the hub.
    r.lan.set(Mode::Pass);
    r.wan.set(Mode::Pass);
    r.lan.reset_all();
    r.wan.reset_all();
    if !r.node.alive() {
        r.node.start(r.dir.path());
    }
    // A broken node never takes what it leased twice: the control round does not wait long.
    let deadline = Instant::now() + if broken { SETTLE / 4 } else { SETTLE };
    let mut settled = false;
    while Instant::now() < deadline {
        let head: i64 = match r.pool.get().await {
            Ok(c) => c
                .query_one(
                    "SELECT last_seq FROM branch_feed_head WHERE branch_id = 7001",
                    &[],
                )
                .await
                .map(|row| row.get(0))
                .unwrap_or(-1),
            Err(_) => -1,
        };
        let views: Vec<DeviceView> = std::iter::once(&r.node)
            .chain(&r.kiosks)
            .map(|d| read_device(&d.name, &d.db))
            .collect();
        settled = r.kiosks.iter().all(Device::idle)
            && views
                .iter()
                .all(|v| v.pending == 0 && v.unhanded == 0 && v.cursor == head);
        if settled {
            // One more hand-over round's worth, for a ticket printed as the last input ended.
            tokio::time::sleep(Duration::from_millis(1000)).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !settled {
        eprintln!("round {seed}: did not settle within {SETTLE:?}");
    }
    r.node.stop();
    let mut killed = Vec::new();
    for k in &mut r.kiosks {
        killed.push(k.killed);
        k.stop();
    }
    let seen = Observed {
        kiosks: r
            .kiosks
            .iter()
            .zip(&r.kiosk_ids)
            .zip(killed)
            .map(|((k, id), killed)| {
                (
                    id.clone(),
                    printed(&k.data.as_ref().unwrap().join("printer.bin")),
                    killed,
                )
            })
            .collect(),
        node: node_tickets(&r.node.db),
        node_killed: r.node.killed,
        devices: std::iter::once(&r.node)
            .chain(&r.kiosks)
            .map(|d| read_device(&d.name, &d.db))
            .collect(),
    };
    let wrong = check(&r.pool, &seen).await;
    let printed_count: usize = seen.kiosks.iter().map(|(_, p, _)| p.len()).sum();
    let offline = seen.node.values().filter(|t| t.offline).count();
    let duplicates = seen
        .node
        .values()
        .filter(|t| t.cancelled.as_deref() == Some("duplicate"))
        .count();
    let unprinted = seen
        .node
        .iter()
        .filter(|(n, t)| {
            t.kiosk.is_some()
                && t.cancelled.is_none()
                && !seen.kiosks.iter().any(|(_, p, _)| p.contains(n))
        })
        .count();
    eprintln!(
        "round seed {seed}{}: {printed_count} printed ({offline} from leases, {duplicates} duplicate check-ins, \
         {unprinted} issued and never printed), faults {faults:?}, {:.1} s, {}",
        if broken { " (broken lease)" } else { "" },
        start.elapsed().as_secs_f64(),
        if wrong.is_empty() {
            "ok".to_string()
        } else {
            format!("{} problems", wrong.len())
        }
    );
    if !wrong.is_empty() && !broken {
        eprintln!("{}", r.logs());
    }
    assert!(
        printed_count > KIOSKS * 5,
        "round {seed}: too few tickets printed ({printed_count}) to test anything:{}",
        r.logs()
    );
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_and_three_kiosks_keep_one_queue_through_faults_and_the_checker_catches_a_reused_number()
 {
    let cluster = PgCluster::start();
    let rounds: u64 = std::env::var("SPORTELLO_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let first: u64 = std::env::var("SPORTELLO_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    // The negative control first: the checker must see the number printed twice.
    let wrong = round(&cluster, first, true).await;
    assert!(
        wrong
            .iter()
            .any(|w| w.contains("printed 2 times") || w.contains("printed 3 times")),
        "the checker missed a node that reuses numbers: {wrong:#?}"
    );
    for seed in first..first + rounds {
        let wrong = round(&cluster, seed, false).await;
        assert!(
            wrong.is_empty(),
            "round seed {seed} (replay: SPORTELLO_FAULT_ROUNDS=1 SPORTELLO_FAULT_SEED={seed}): {wrong:#?}"
        );
    }
}
