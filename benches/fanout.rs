//! `lan/sse_fanout`: 200 staff consoles and hall displays connected over HTTPS on loopback (half
//! of each); a call is made through the branch node and the time until each client has read the
//! event is measured. Target: p99 under 100 ms.
//!
//! `cargo bench --bench fanout` (`BENCH_CLIENTS`, `BENCH_CALLS`). Numbers in docs/benchmarks.md.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::{CounterNumber, ServiceLetter, TicketPriority};
use queue::Command;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

type Arrivals = Arc<Mutex<Vec<(i64, Instant)>>>;

/// Reads events from one stream, recording when each call's id arrives.
async fn listen(mut r: reqwest::Response, wanted: &'static str, out: Arrivals) {
    let mut buf = String::new();
    while let Ok(Some(chunk)) = r.chunk().await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let at = Instant::now();
            if block.lines().any(|l| l == format!("event: {wanted}")) {
                let id = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.parse().ok());
                if let Some(id) = id {
                    out.lock().unwrap().push((id, at));
                }
            }
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let clients = env("BENCH_CLIENTS", if quick { 10 } else { 200 });
    let calls = env("BENCH_CALLS", if quick { 3 } else { 30 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let lan = support::start(dir.path()).await;
        let session = support::Session::login(&lan, "operatore1").await;
        let counter = CounterNumber::new(3).unwrap();
        lan.branch
            .execute(Command::OpenCounter {
                counter,
                services: vec![],
                operator: "bench".into(),
            })
            .unwrap();
        let arrivals: Arrivals = Arc::default();
        for i in 0..clients {
            let c = support::client(&lan.tls);
            let (path, wanted, cookie) = if i % 2 == 0 {
                ("/hall/events", "call", None)
            } else {
                ("/console/events", "queue", Some(session.cookie.clone()))
            };
            let mut req = c.get(format!("{}{path}", lan.base));
            if let Some(cookie) = cookie {
                req = req.header("cookie", cookie);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            tokio::spawn(listen(r, wanted, arrivals.clone()));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut sent = Vec::new();
        let p = ServiceLetter::parse("P").unwrap();
        for _ in 0..calls {
            let t = lan.branch.issue_ticket(p, TicketPriority::WalkIn).unwrap();
            let branch = lan.branch.clone();
            let t0 = Instant::now();
            let events = tokio::task::spawn_blocking(move || {
                branch.execute(Command::CallNext { counter }).unwrap()
            })
            .await
            .unwrap();
            sent.push((events[0].seq, t0));
            tokio::time::sleep(Duration::from_millis(100)).await;
            lan.branch
                .execute(Command::Serve {
                    counter,
                    ticket: t.number,
                })
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let arrivals = arrivals.lock().unwrap().clone();
        let mut latencies = Vec::new();
        for (seq, t0) in &sent {
            let got: Vec<_> = arrivals.iter().filter(|(s, _)| s == seq).collect();
            assert_eq!(got.len(), clients, "every client got call {seq}");
            latencies.extend(got.iter().map(|(_, at)| at.duration_since(*t0)));
        }
        latencies.sort();
        println!(
            "sse fan-out: {clients} clients x {calls} calls = {} deliveries; p50 {:.1?}  p99 {:.1?}  max {:.1?}",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().unwrap()
        );
        session.client.get(format!("{}/hall", lan.base)).send().await.unwrap();
        lan.server.shutdown().await;
    });
}
