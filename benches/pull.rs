//! `hub/pull`: latency of a 500-row page of the branch feed while 100 enrolled kiosks pull at
//! once, through the hub's HTTPS API on loopback (signed requests, pinned TLS, PostgreSQL).
//!
//! `export SPORTELLO_PG_URL=$(scripts/pg)`, then `cargo bench --features hub --bench pull`
//! (`BENCH_PULLS` per kiosk, default 20). Numbers in docs/benchmarks.md.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use branch::sync::client::{self, HubClient, PullOutcome};
use hub::{self, HubState, branch_data, devices};

const KIOSKS: usize = 100;
const ROWS: usize = 5000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(name: &str, times: &[Duration]) {
    println!(
        "hub/pull: {name}: {} pulls of 500 rows by {KIOSKS} kiosks: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        times.len(),
        ms(percentile(times, 0.5)),
        ms(percentile(times, 0.99)),
        ms(*times.last().unwrap())
    );
}

/// Every kiosk pulls `pulls` pages, `every` apart at a phase of its own, or back to back.
async fn run(kiosks: &[Arc<HubClient>], pulls: usize, every: Option<Duration>) -> Vec<Duration> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, k) in kiosks.iter().enumerate() {
        let k = k.clone();
        tasks.spawn(async move {
            if let Some(every) = every {
                tokio::time::sleep(every * i as u32 / KIOSKS as u32).await;
            }
            let mut times = Vec::with_capacity(pulls);
            for j in 0..pulls {
                let after = ((i * 37 + j * 101) % (ROWS - 500)) as i64;
                let t = Instant::now();
                match k.pull(after, None).await.unwrap() {
                    PullOutcome::Page(p) => assert_eq!(p.changes.len(), 500),
                    PullOutcome::StartOver => panic!("start over"),
                }
                times.push(t.elapsed());
                if let Some(every) = every {
                    tokio::time::sleep(every.saturating_sub(t.elapsed())).await;
                }
            }
            times
        });
    }
    let mut times: Vec<Duration> = tasks.join_all().await.into_iter().flatten().collect();
    times.sort();
    times
}

fn main() {
    let pulls: usize = support::env_count("BENCH_PULLS", 20);
    let rt = support::runtime();
    rt.block_on(async {
        let (bench_db, pool) = support::BenchDb::migrated("pull", 16).await;
        // A branch whose feed holds 5,000 appointment rows.
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let demo = demo::hub::seed_demo(&mut pool.get().await.unwrap(), 1, now)
            .await
            .unwrap();
        let template = demo.appointments[1].appointment.clone();
        let mut client = pool.get().await.unwrap();
        let tx = client.transaction().await.unwrap();
        let many: Vec<_> = (0..ROWS as u32)
            .map(|i| domain::Appointment {
                id: domain::BookingId::new(2026, 100_000 + i).unwrap(),
                ..template.clone()
            })
            .collect();
        branch_data::put_appointments(&tx, 7001, &many)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        drop(client);

        let tls = web::tls::self_signed().unwrap();
        let server = hub::start(HubState::new(pool.clone()), "127.0.0.1:0", &tls)
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", server.addr.port());
        let mut kiosks = Vec::new();
        for _ in 0..KIOSKS {
            let code = devices::create_code(
                &mut pool.get().await.unwrap(),
                "bench",
                7001,
                protocol::wire::DeviceRole::Node,
            )
            .await
            .unwrap();
            let e = client::enrol(&base, &code, None, "bench").await.unwrap();
            kiosks.push(Arc::new(
                HubClient::new(&base, &e.device_id, &e.secret_key, e.cert_sha256).unwrap(),
            ));
        }
        // One pull each first, so every kiosk has its connection open, as running ones do.
        for k in &kiosks {
            k.pull(0, None).await.unwrap();
        }
        // One kiosk alone: what a page costs end to end.
        let mut alone = Vec::new();
        for j in 0..50 {
            let t = Instant::now();
            kiosks[0]
                .pull((j * 83 % (ROWS - 500)) as i64, None)
                .await
                .unwrap();
            alone.push(t.elapsed());
        }
        alone.sort();
        println!(
            "hub/pull: one kiosk alone, 500-row pages: p50 {:.1} ms  p99 {:.1} ms",
            ms(percentile(&alone, 0.5)),
            ms(percentile(&alone, 0.99))
        );
        // Paced: every kiosk pulls once a second at its own phase (5x the default interval
        // of 5 s, 100 pages a second in all).
        let times = run(&kiosks, pulls, Some(Duration::from_secs(1))).await;
        report("paced, each kiosk once a second", &times);
        // Burst: every kiosk pulls back to back, all at once (100 requests in flight).
        let times = run(&kiosks, pulls, None).await;
        report("burst, 100 in flight", &times);
        server.stop().await;
        drop(pool);
        tokio::time::sleep(Duration::from_millis(100)).await;
        bench_db.drop().await;
    });
}
