//! `store/checkin_tx`: one check-in through the branch node (queue event, ticket row, appointment
//! state, outbox row in one transaction) with `synchronous=FULL`, against a
//! bare `INSERT` + commit on the same file, interleaved so both see the same disk.
//!
//! `cargo bench --bench store` (`BENCH_N` sets the number of check-ins, default 1000). It reports
//! p50/p99 of each and their ratios; numbers in docs/benchmarks.md.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use demo::DemoBranch;
use std::sync::Arc;

use branch::node::Branch;
use domain::{BookingId, Clock, ManualClock};
use store::{Store, StoreOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo test --benches` runs bench targets too: keep that quick.
    let quick = std::env::args().any(|a| a == "--test");
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20 } else { 1000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.sqlite");
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let mut store = Store::open(&path, &StoreOptions::default()).expect("store");
    let branch = DemoBranch::generate(1, clock.local_now().naive_local());
    let mut replica = branch.replica();
    let template = replica.appointments[0].clone();
    replica.appointments = (0..n as u32)
        .map(|i| {
            let mut a = template.clone();
            a.id = BookingId::new(2026, 10_000 + i).unwrap();
            // Spread over the services: one service has 999 numbers a day.
            a.service = branch.services[i as usize % branch.services.len()].letter;
            a
        })
        .collect();
    store.apply_replica(&replica).expect("replica");
    let node = Branch::open(store, clock.clone()).expect("branch");

    let bare = rusqlite::Connection::open(&path).expect("second connection");
    bare.pragma_update(None, "synchronous", "FULL").unwrap();
    // Like the node's connection: checkpoints are the node's background task's job.
    bare.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    bare.execute_batch("CREATE TABLE bench_bare (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .unwrap();

    let mut checkin = Vec::with_capacity(n);
    let mut insert = Vec::with_capacity(n);
    for a in &replica.appointments {
        let t = Instant::now();
        node.check_in(a.id, a.person_key).expect("check-in");
        checkin.push(t.elapsed());
        let t = Instant::now();
        bare.execute_batch("BEGIN; INSERT INTO bench_bare (payload) VALUES ('x'); COMMIT;")
            .unwrap();
        insert.push(t.elapsed());
    }
    checkin.sort();
    insert.sort();
    let (c50, c99) = (percentile(&checkin, 0.5), percentile(&checkin, 0.99));
    let (i50, i99) = (percentile(&insert, 0.5), percentile(&insert, 0.99));
    println!("store/checkin_tx   n={n}  p50 {c50:>10.1?}  p99 {c99:>10.1?}");
    println!("bare insert+commit n={n}  p50 {i50:>10.1?}  p99 {i99:>10.1?}");
    println!(
        "ratio checkin/bare: p50 {:.2}x  p99 {:.2}x",
        c50.as_secs_f64() / i50.as_secs_f64(),
        c99.as_secs_f64() / i99.as_secs_f64()
    );
}
