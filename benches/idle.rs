//! `hub/idle`: 2,000 kiosks long-polling one hub instance (a `sportello hub` process): the
//! hub's memory per waiting connection, the database connections it holds meanwhile (none per
//! waiting kiosk), and how fast all of them hear a change.
//!
//! `export SPORTELLO_PG_URL=$(scripts/pg)`, then `cargo bench --features hub --bench idle`
//! (`BENCH_KIOSKS`, default 2000; the open-file limit is raised for the run). Numbers in
//! docs/benchmarks.md.

mod support;

use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant};

use branch::sync::client::{self, HubClient};
use hub::{devices, feed};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n: usize = support::env_count("BENCH_KIOSKS", 2000);
    // Each kiosk is a connection at both ends: the soft open-file limit goes up to the hard
    // one, and the hub inherits it.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointers to an rlimit for this process.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur as usize > 2 * n + 100,
        "the open-file limit {} is too low for {n} kiosks",
        limit.rlim_cur
    );
    let rt = support::runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let (bench_db, pool) = support::BenchDb::migrated("idle", 8).await;
        let url = bench_db.url.clone();
        let config = dir.path().join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "[hub]\ndatabase_url = {url:?}\nlisten = \"127.0.0.1:0\"\npool_size = 16\ntls_dir = {:?}\n\
                 key_encryption_key = {:?}\n",
                dir.path().join("tls").to_str().unwrap(),
                dir.path().join("kek").to_str().unwrap()
            ),
        )
        .unwrap();
        let mut hub = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"))
            .env_remove("RUST_LOG")
            .args(["--config"])
            .arg(&config)
            .arg("hub")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = hub.id();
        let mut line = String::new();
        std::io::BufReader::new(hub.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line.trim().strip_prefix("Hub: ").unwrap().to_owned();

        let mut kiosks = Vec::with_capacity(n);
        for _ in 0..n {
            let code = devices::create_code(&mut pool.get().await.unwrap(), "bench", 7001, protocol::wire::DeviceRole::Node)
                .await
                .unwrap();
            let e = client::enrol(&base, &code, None, "bench").await.unwrap();
            kiosks.push(Arc::new(
                HubClient::new(&base, &e.device_id, &e.secret_key, e.cert_sha256).unwrap(),
            ));
        }
        // Warm: one kiosk's pull, then the hub's memory at rest.
        let epoch = match kiosks[0].pull(0, None).await.unwrap() {
            client::PullOutcome::Page(p) => p.epoch,
            client::PullOutcome::StartOver => unreachable!(),
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (rss0, fds0) = (rss_kib(pid), fds(pid));

        let mut waiting = tokio::task::JoinSet::new();
        for k in &kiosks {
            let k = k.clone();
            let epoch = epoch.clone();
            waiting.spawn(async move {
                let r = k.pull_wait(0, Some(&epoch), 30).await.unwrap();
                (Instant::now(), r)
            });
        }
        // Let every pull arrive and settle into waiting.
        let deadline = Instant::now() + Duration::from_secs(60);
        while fds(pid) < fds0 + n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (rss1, fds1) = (rss_kib(pid), fds(pid));
        let connections: i64 = pool
            .get()
            .await
            .unwrap()
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        // The change: every waiting kiosk hears it.
        let written = Instant::now();
        feed::publish(
            &pool.get().await.unwrap(),
            7001,
            &[feed::Change {
                entity: "test".into(),
                entity_id: "1".into(),
                payload: Some(serde_json::json!({})),
            }],
        )
        .await
        .unwrap();
        let mut woke: Vec<Duration> = Vec::with_capacity(n);
        while let Some(r) = waiting.join_next().await {
            let (at, page) = r.unwrap();
            match page {
                client::PullOutcome::Page(p) => assert_eq!(p.changes.len(), 1),
                client::PullOutcome::StartOver => panic!("start over"),
            }
            woke.push(at - written);
        }
        woke.sort();
        println!("hub/idle: {n} kiosks long-polling one hub process");
        println!(
            "  hub memory {:.1} MiB at rest, {:.1} MiB with all waiting: {:.1} KiB per waiting kiosk; {} more open files",
            rss0 as f64 / 1024.0,
            rss1 as f64 / 1024.0,
            (rss1 - rss0) as f64 / n as f64,
            fds1 - fds0
        );
        println!(
            "  database connections open meanwhile (all clients of this database): {connections}"
        );
        println!(
            "  a change reached them all: p50 {:.0} ms  p99 {:.0} ms  last {:.0} ms",
            percentile(&woke, 0.5).as_secs_f64() * 1e3,
            percentile(&woke, 0.99).as_secs_f64() * 1e3,
            woke.last().unwrap().as_secs_f64() * 1e3
        );
        let _ = hub.kill();
        let _ = hub.wait();
        drop(pool);
        tokio::time::sleep(Duration::from_millis(100)).await;
        bench_db.drop().await;
    });
}
