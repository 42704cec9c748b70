//! `hub/push`: push throughput with batches of 100 operations, through the hub's real HTTPS API
//! into PostgreSQL, beside `pgbench` running the same per-operation SQL in 100-operation
//! transactions on the same server in the same run (the ceiling the hub is measured against).
//!
//! Needs the server of the test command: `export SPORTELLO_PG_URL=$(scripts/pg)`, then
//! `cargo bench --features hub --bench push` (`BENCH_BATCHES` per kiosk, default 100).
//! Numbers in docs/benchmarks.md.

mod support;

use std::time::{Duration, Instant};

use branch::sync::client::{self, HubClient, PushOutcome};
use hub::{self, HubState, devices};
use protocol::wire::{PushOp, PushRequest};

const OPS: i64 = 100;

fn batch(incarnation: &str, first: i64) -> PushRequest {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let ops = (first..first + OPS)
        .map(|seq| {
            let op = protocol::Op::Queue {
                seq,
                business_day: day,
                event: queue::Event {
                    at: chrono::Utc::now(),
                    kind: queue::EventKind::DayOpened { day },
                },
            };
            PushOp {
                seq,
                op_id: uuid::Uuid::now_v7().to_string(),
                kind: op.kind().into(),
                payload: serde_json::to_value(&op).unwrap(),
            }
        })
        .collect();
    PushRequest {
        incarnation: incarnation.into(),
        log_id: incarnation.into(),
        client_version: "bench".into(),
        schema_version: protocol::OP_SCHEMA_VERSION,
        ops,
        status: Default::default(),
    }
}

/// The SQL a push of 100 new operations runs, as a pgbench script: the stream's cursor, the
/// 100 queue events and the 100 stored answers (one statement each, as the hub sends them),
/// the cursor and the device's status.
fn pgbench_script() -> String {
    "\\set stream random(1, 1000000000)\n\
     BEGIN;\n\
     INSERT INTO device_cursor (branch_id, device_id, incarnation, last_seq) VALUES (7001, 'pgbench', :stream, 0) ON CONFLICT DO NOTHING;\n\
     SELECT last_seq FROM device_cursor WHERE branch_id = 7001 AND device_id = 'pgbench' AND incarnation = ':stream' FOR UPDATE;\n\
     INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id) \
       SELECT 7001, ':stream', s, '2026-11-26', 'day_opened', jsonb_build_object('type', 'day_opened', 'day', '2026-11-26', 'at', now()), 'pgbench' \
       FROM generate_series(1, 100) s ON CONFLICT DO NOTHING RETURNING event_seq;\n\
     INSERT INTO applied_op (branch_id, device_id, incarnation, seq, op_id, op_hash, kind, status, detail) \
       SELECT 7001, 'pgbench', ':stream', s, md5(random()::text), sha256(random()::text::bytea), 'day_opened', 'applied', NULL \
       FROM generate_series(1, 100) s;\n\
     UPDATE device_cursor SET last_seq = 100 WHERE branch_id = 7001 AND device_id = 'pgbench' AND incarnation = ':stream';\n\
     UPDATE device SET last_seen = now(), client_version = 'bench', status = '{}' WHERE device_id = 'pgbench';\n\
     COMMIT;\n"
        .to_string()
}

fn pgbench(url: &str, clients: usize, seconds: u64, script: &std::path::Path) -> f64 {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin/pgbench"))
                .max()
        })
        .expect("pgbench comes with Debian's postgresql package");
    let out = std::process::Command::new(bin)
        .args(["-n", "-c", &clients.to_string(), "-j", &clients.to_string()])
        .args(["-T", &seconds.to_string(), "-f"])
        .arg(script)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no tps in {text}"));
    tps * OPS as f64
}

fn main() {
    let batches: i64 = support::env_count("BENCH_BATCHES", 100);
    let rt = support::runtime();
    rt.block_on(async {
        let (bench_db, pool) = support::BenchDb::migrated("push", 16).await;
        let tls = web::tls::self_signed().unwrap();
        let server = hub::start(HubState::new(pool.clone()), "127.0.0.1:0", &tls)
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", server.addr.port());
        let mut kiosks = Vec::new();
        for _ in 0..4 {
            let code = devices::create_code(&mut pool.get().await.unwrap(), "bench", 7001, protocol::wire::DeviceRole::Node)
                .await
                .unwrap();
            let e = client::enrol(&base, &code, None, "bench").await.unwrap();
            kiosks.push(std::sync::Arc::new(
                HubClient::new(&base, &e.device_id, &e.secret_key, e.cert_sha256).unwrap(),
            ));
        }
        // pgbench's device row, so its UPDATE touches a row as ours does.
        pool.get()
            .await
            .unwrap()
            .execute(
                "INSERT INTO device (branch_id, device_id, public_key) VALUES (7001, 'pgbench', $1)",
                &[&vec![0u8; 32]],
            )
            .await
            .unwrap();
        let script = std::env::temp_dir().join(format!("push-{}.sql", std::process::id()));
        std::fs::write(&script, pgbench_script()).unwrap();
        println!("hub/push: {batches} batches of {OPS} per kiosk over HTTPS (loopback)");
        for clients in [1usize, 4] {
            let start = Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for (k, kiosk) in kiosks.iter().take(clients).enumerate() {
                let inc = format!("bench-{clients}-{k}");
                let kiosk = kiosk.clone();
                tasks.spawn(async move {
                    for b in 0..batches {
                        match kiosk.push(&batch(&inc, 1 + b * OPS)).await.unwrap() {
                            PushOutcome::Done(r) => assert_eq!(r.acked_through, (b + 1) * OPS),
                            other => panic!("{other:?}"),
                        }
                    }
                });
            }
            tasks.join_all().await;
            let ours = (clients as i64 * batches * OPS) as f64 / start.elapsed().as_secs_f64();
            let secs = (start.elapsed().as_secs() + 1).clamp(5, 20);
            let script = script.clone();
            let url2 = bench_db.url.clone();
            let theirs = tokio::task::spawn_blocking(move || pgbench(&url2, clients, secs, &script))
                .await
                .unwrap();
            println!(
                "  {clients} client(s): hub {ours:.0} ops/s, pgbench {theirs:.0} ops/s, ratio {:.2}",
                ours / theirs
            );
        }
        server.stop().await;
        let _ = std::fs::remove_file(&script);
        drop(pool);
        tokio::time::sleep(Duration::from_millis(100)).await;
        bench_db.drop().await;
    });
}
