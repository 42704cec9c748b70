//! `hub/follow`: the *segui la coda* page of a waiting ticket on a busy day — 400 tickets
//! issued, 150 called and served at six counters — with 200 visitors following by SMS, through
//! the hub's real HTTPS on loopback; and the evaluation of those 200 alerts that runs after each
//! push of queue events. Goal: the page under 50 ms at the 99th percentile.
//!
//! `export SPORTELLO_PG_URL=$(scripts/pg)`, then `cargo bench --features hub --bench follow`
//! (`BENCH_ROUNDS` page requests, default 500). Numbers in docs/benchmarks.md.

mod support;

use std::time::{Duration, Instant};

use domain::{TicketNumber, TicketPriority, TicketState};
use hub::{self, HubState};
use queue::{Calendar, Command, Now, Queue};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let rounds: usize = support::env_count("BENCH_ROUNDS", 500);
    let rt = support::runtime();
    rt.block_on(async {
        let (bench_db, pool) = support::BenchDb::migrated("follow", 16).await;
        let start = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let demo = demo::hub::seed_demo(&mut pool.get().await.unwrap(), 1, start)
            .await
            .unwrap();
        let config = hub::branch_data::config_of(&demo.replica()).unwrap();
        let day = start.date();

        // The day, made by the queue engine itself: tickets through the morning, calls.
        let mut q = Queue::new(
            config.rules.clone(),
            Calendar::new(config.hours.clone()),
            config.services.clone(),
            config.counters.clone(),
        );
        let walk_in: Vec<_> = config
            .services
            .iter()
            .filter(|s| !s.appointment_only)
            .map(|s| s.letter)
            .collect();
        let at = |minutes: i64| {
            Now::at(
                queue::local_to_utc(start + chrono::Duration::minutes(minutes)),
                true,
            )
        };
        let mut events = q.roll_day(at(0));
        for k in &config.counters {
            events.extend(
                q.handle(
                    Command::OpenCounter {
                        counter: k.number,
                        services: vec![],
                        operator: "bench".into(),
                    },
                    at(0),
                )
                .unwrap(),
            );
        }
        let mut issued = 0;
        let mut served = 0;
        for i in 0..400i64 {
            let service = walk_in[i as usize % walk_in.len()];
            if let Ok(e) = q.handle(
                Command::Issue {
                    service,
                    priority: TicketPriority::WalkIn,
                    booking: None,
                    kiosk: None,
                },
                at(i / 2),
            ) {
                events.extend(e);
                issued += 1;
            }
            if i % 8 == 7 {
                for k in config.counters.iter().map(|k| k.number).collect::<Vec<_>>() {
                    if served >= 150 {
                        break;
                    }
                    let Ok(e) = q.handle(Command::CallNext { counter: k }, at(i / 2)) else {
                        continue;
                    };
                    let called = q
                        .tickets()
                        .find(|t| t.state == TicketState::Called(k))
                        .map(|t| t.number)
                        .unwrap();
                    events.extend(e);
                    for c in [
                        Command::Start { counter: k, ticket: called },
                        Command::Serve { counter: k, ticket: called },
                    ] {
                        events.extend(q.handle(c, at(i / 2)).unwrap());
                    }
                    served += 1;
                }
            }
        }
        let c = pool.get().await.unwrap();
        for (seq, e) in events.iter().enumerate() {
            c.execute(
                "INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
                 VALUES (7001, 'bench', $1, $2, $3, $4, 'bench')",
                &[&(seq as i64 + 1), &day, &e.kind.name(), &serde_json::to_value(e).unwrap()],
            )
            .await
            .unwrap();
        }
        let waiting: Vec<TicketNumber> = q
            .tickets()
            .filter(|t| t.state == TicketState::Issued)
            .map(|t| t.number)
            .collect();
        assert!(waiting.len() >= 200, "{} waiting", waiting.len());
        for (i, t) in waiting.iter().take(200).enumerate() {
            c.execute(
                "INSERT INTO follow_alert (branch_id, business_day, ticket, mobile)
                 VALUES (7001, $1, $2, $3)",
                &[&day, &t.to_string(), &format!("+39333{i:07}")],
            )
            .await
            .unwrap();
        }

        let tls = web::tls::self_signed().unwrap();
        let server = hub::start(HubState::new(pool.clone()), "127.0.0.1:0", &tls)
            .await
            .unwrap();
        let base = format!("https://127.0.0.1:{}", server.addr.port());
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
            .build()
            .unwrap();
        let mut times = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let url = format!("{base}/coda/7001/{day}/{}", waiting[i % waiting.len()]);
            let t = Instant::now();
            let r = client.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let page = r.text().await.unwrap();
            times.push(t.elapsed());
            assert!(page.contains("prima di lei"), "{page}");
        }
        times.sort();
        println!(
            "hub/follow: {issued} tickets, {served} served, {} waiting, 200 following by SMS; \
             {} page requests: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms (goal p99 < 50 ms)",
            waiting.len(),
            times.len(),
            ms(times[times.len() / 2]),
            ms(times[(times.len() - 1) * 99 / 100]),
            ms(*times.last().unwrap())
        );
        // What each push then costs: the first evaluation queues the SMS now due; the rest
        // find nothing new to send, as most pushes do.
        let t = Instant::now();
        let first = hub::follow::evaluate(&pool, 7001, day).await.unwrap();
        let first_time = t.elapsed();
        let mut evals = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            assert_eq!(hub::follow::evaluate(&pool, 7001, day).await.unwrap(), 0);
            evals.push(t.elapsed());
        }
        evals.sort();
        println!(
            "hub/follow: evaluating 200 alerts after a push: {:.1} ms the first time ({first} SMS queued), \
             then p50 {:.1} ms  max {:.1} ms",
            ms(first_time),
            ms(evals[evals.len() / 2]),
            ms(*evals.last().unwrap())
        );
        server.stop().await;
        drop(c);
        drop(pool);
        bench_db.drop().await;
    });
}
