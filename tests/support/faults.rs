//! What the fault harnesses share (`tests/sync_faults.rs`, `tests/branch_faults.rs`): the
//! program as a process with nothing of the caller's environment, the hub as a process, a
//! round's own hub database holding the demo sede open around the clock, and what the checkers
//! read of the devices' stores and of the hub. The including test has `mod pg`
//! (`support/pg.rs`) at its root.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::pg::PgCluster;

/// The program, with none of the caller's configuration or test switches.
pub fn sportello() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sportello"));
    cmd.env_remove("RUST_LOG")
        .env_remove("SPORTELLO_CONFIG")
        .env_remove("SPORTELLO_DATABASE_URL")
        .env_remove("SPORTELLO_HUB_BROKEN_APPLY")
        .env_remove("SPORTELLO_NODE_BROKEN_LEASE");
    cmd
}

/// A log file a process started again goes on writing.
pub fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// A hub process; killed when dropped.
pub struct HubProcess(Child);

impl HubProcess {
    /// Starts a hub as its service manager would (one that exits at start, the database
    /// restarting under it, is started again, up to three times) and reads where it listens.
    /// `broken`: a hub whose apply loses events, for a harness's negative control.
    pub fn start(config: &Path, broken: bool) -> (HubProcess, SocketAddr) {
        let log = config.with_extension("log");
        for _ in 0..3 {
            let mut cmd = sportello();
            if broken {
                cmd.env("SPORTELLO_HUB_BROKEN_APPLY", "1");
            }
            let mut child = cmd
                .arg("--config")
                .arg(config)
                .arg("hub")
                .stdout(Stdio::piped())
                .stderr(append(&log))
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            if let Some(addr) = line.trim().strip_prefix("Hub: https://") {
                return (HubProcess(child), addr.parse().unwrap());
            }
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!(
            "the hub did not start three times: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A round's hub: a fresh database `name` in `cluster`, migrated, with the demo sede around
/// now, open around the clock (tickets at any hour); and the hub's configuration file in `dir`.
pub struct RoundHub {
    pub pool: deadpool_postgres::Pool,
    pub demo: demo::DemoBranch,
    pub replica: protocol::replica::Replica,
    pub config: PathBuf,
}

impl RoundHub {
    pub async fn new(cluster: &PgCluster, name: &str, dir: &Path) -> RoundHub {
        let (c, conn) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        // One statement each: a multi-statement string runs as one transaction block.
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = cluster.url(name);
        let pool = hub::db::pool(&url, 4).unwrap();
        hub::db::migrate(&pool).await.unwrap();
        let now = domain::Clock::local_now(&domain::SystemClock::untrusted()).naive_local();
        let demo = demo::hub::seed_demo(&mut pool.get().await.unwrap(), 2026, now)
            .await
            .unwrap();
        let mut replica = demo.replica();
        open_around_the_clock(&mut replica);
        hub::branch_data::put_config(
            &pool.get().await.unwrap(),
            7001,
            &hub::branch_data::config_of(&replica).unwrap(),
        )
        .await
        .unwrap();
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "[hub]\ndatabase_url = {url:?}\nlisten = \"127.0.0.1:0\"\npool_size = 4\ntls_dir = {:?}\n\
                 key_encryption_key = {:?}\n",
                dir.join("hub-tls").to_str().unwrap(),
                dir.join("kek").to_str().unwrap()
            ),
        )
        .unwrap();
        RoundHub {
            pool,
            demo,
            replica,
            config,
        }
    }
}

/// Every service open every day from midnight to 23:59, walk-ins to the end, no holidays.
pub fn open_around_the_clock(replica: &mut protocol::replica::Replica) {
    replica.hours = replica
        .services
        .iter()
        .flat_map(|s| {
            (1..=7).map(|weekday| domain::OpeningHours {
                service: s.letter,
                weekday,
                opens: chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
                closes: chrono::NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
                appointment_only: false,
            })
        })
        .collect();
    replica.rules.walk_in_stop_min = 0;
    replica.rules.holidays.clear();
}

/// A store opened read-only beside the process that writes it.
pub fn open_ro(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    c
}

/// One number from a store; -1 when the query fails.
pub fn count(c: &rusqlite::Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
}

/// What a device's store holds that the checkers compare with the hub.
pub struct DeviceView {
    pub name: String,
    pub log_id: String,
    pub events: BTreeSet<i64>,
    /// Operations not yet acknowledged by the hub.
    pub pending: i64,
    /// Tickets printed from a lease and not yet taken by the node.
    pub unhanded: i64,
    pub cursor: i64,
    pub appointments: BTreeMap<i64, String>,
}

pub fn read_device(name: &str, path: &Path) -> DeviceView {
    let c = open_ro(path);
    let log_id: String = c
        .query_row(
            "SELECT coalesce(log_id, incarnation) FROM device_identity",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let events = c
        .prepare("SELECT seq FROM queue_event")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let appointments = c
        .prepare("SELECT booking_id, state FROM appointment")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    DeviceView {
        name: name.to_owned(),
        log_id,
        events,
        pending: count(&c, "SELECT count(*) FROM outbox WHERE state = 'pending'"),
        unhanded: count(
            &c,
            "SELECT count(*) FROM offline_ticket WHERE handed_at IS NULL",
        ),
        cursor: count(&c, "SELECT coalesce(max(after_seq), 0) FROM sync_cursor"),
        appointments,
    }
}

/// The hub's side of the demo sede: its events by log, its feed's head, its appointments.
pub struct HubView {
    pub events: BTreeMap<String, BTreeSet<i64>>,
    pub head: i64,
    pub appointments: BTreeMap<i64, String>,
}

impl HubView {
    pub async fn read(c: &deadpool_postgres::Object) -> HubView {
        let mut events: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for row in c
            .query("SELECT log_id, event_seq FROM queue_event", &[])
            .await
            .unwrap()
        {
            events.entry(row.get(0)).or_default().insert(row.get(1));
        }
        let head = c
            .query_one(
                "SELECT last_seq FROM branch_feed_head WHERE branch_id = 7001",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let appointments = c
            .query(
                "SELECT booking_id, state FROM appointment WHERE branch_id = 7001",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        HubView {
            events,
            head,
            appointments,
        }
    }

    /// Every device's log at the hub exactly (nothing lost, nothing it never logged), its
    /// outbox empty and its feed cursor at the head; no events from a log nobody has.
    pub fn check_logs(&self, devices: &[DeviceView], wrong: &mut Vec<String>) {
        let mut unknown: BTreeSet<&String> = self.events.keys().collect();
        for d in devices {
            unknown.remove(&d.log_id);
            let none = BTreeSet::new();
            let at_hub = self.events.get(&d.log_id).unwrap_or(&none);
            let lost: Vec<_> = d.events.difference(at_hub).collect();
            let extra: Vec<_> = at_hub.difference(&d.events).collect();
            if !lost.is_empty() {
                wrong.push(format!(
                    "{}: {} events lost at the hub: {lost:?}",
                    d.name,
                    lost.len()
                ));
            }
            if !extra.is_empty() {
                wrong.push(format!(
                    "{}: events at the hub it never logged: {extra:?}",
                    d.name
                ));
            }
            if d.pending != 0 {
                wrong.push(format!(
                    "{}: {} operations still pending",
                    d.name, d.pending
                ));
            }
            if d.cursor != self.head {
                wrong.push(format!(
                    "{}: feed cursor {} of {}",
                    d.name, d.cursor, self.head
                ));
            }
        }
        if !unknown.is_empty() {
            wrong.push(format!("events from unknown logs: {unknown:?}"));
        }
    }
}
