//! `queue/call_next`: *chiama il prossimo* with 5,000 tickets waiting across 8 services at 8
//! counters with different weights — the engine alone, then through the branch node with the
//! SQLite commit (event log, read model, outbox; `synchronous=FULL`) against a bare fsync'd
//! commit on the same file, interleaved so both see the same disk.
//!
//! `cargo bench --bench queue` (`BENCH_N` calls, default 2000). Numbers in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use branch::node::Branch;
use chrono::{NaiveTime, TimeZone, Utc};
use domain::{
    Counter, CounterNumber, ManualClock, OpeningHours, Sede, Service, ServiceLetter, ServiceLevel,
    TicketPriority, sedi,
};
use protocol::replica::Replica;
use queue::{Calendar, Command, EventKind, Now, Queue, QueueRules};
use store::{Store, StoreOptions};

const LETTERS: [&str; 8] = ["A", "B", "C", "D", "E", "F", "G", "H"];
const WAITING: usize = 5000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn letter(i: usize) -> ServiceLetter {
    ServiceLetter::parse(LETTERS[i % LETTERS.len()]).unwrap()
}

fn config() -> (Vec<Service>, Vec<Counter>, Vec<OpeningHours>) {
    let services: Vec<Service> = (0..8)
        .map(|i| Service {
            letter: letter(i),
            name: format!("Servizio {i}"),
            level: ServiceLevel::First,
            appointment_only: false,
            slot_minutes: 10,
        })
        .collect();
    // Each counter serves every service, its own two with weight 3 and 2.
    let counters = (0..8)
        .map(|c| Counter {
            number: CounterNumber::new(c as u8 + 1).unwrap(),
            label: format!("Sportello {}", c + 1),
            services: (0..8)
                .map(|s| {
                    let w = if s == c {
                        3
                    } else if s == (c + 1) % 8 {
                        2
                    } else {
                        1
                    };
                    (letter(s), w)
                })
                .collect(),
        })
        .collect();
    let hours = services
        .iter()
        .flat_map(|s| {
            (1..=7).map(|weekday| OpeningHours {
                service: s.letter,
                weekday,
                opens: NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
                closes: NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
                appointment_only: false,
            })
        })
        .collect();
    (services, counters, hours)
}

fn priority(i: usize) -> TicketPriority {
    if i.is_multiple_of(10) {
        TicketPriority::Priority(domain::PriorityCategory::Disability)
    } else {
        TicketPriority::WalkIn
    }
}

fn report(name: &str, mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let (p50, p99) = (percentile(&v, 0.5), percentile(&v, 0.99));
    println!(
        "{name:<28} n={:<5} p50 {p50:>10.1?}  p99 {p99:>10.1?}  max {:>10.1?}",
        v.len(),
        v.last().unwrap()
    );
    (p50, p99)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20 } else { 2000 });
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 7, 0, 0).unwrap();
    let (services, counters, hours) = config();

    // Engine alone.
    let mut q = Queue::new(
        QueueRules::default(),
        Calendar::new(hours.clone()),
        services.clone(),
        counters.clone(),
    );
    let mut t = start;
    let mut now = || {
        t += chrono::Duration::seconds(1);
        Now::at(t, true)
    };
    q.roll_day(now());
    for c in &counters {
        q.handle(
            Command::OpenCounter {
                counter: c.number,
                services: vec![],
                operator: "bench".into(),
            },
            now(),
        )
        .unwrap();
    }
    let issue = |q: &mut Queue, i: usize, at: Now| {
        q.handle(
            Command::Issue {
                service: letter(i),
                priority: priority(i),
                booking: None,
                kiosk: None,
            },
            at,
        )
        .unwrap();
    };
    for i in 0..WAITING {
        issue(&mut q, i, now());
    }
    let mut engine = Vec::with_capacity(n);
    for i in 0..n {
        let counter = CounterNumber::new((i % 8) as u8 + 1).unwrap();
        let at = now();
        let t0 = Instant::now();
        let events = q.handle(Command::CallNext { counter }, at).unwrap();
        engine.push(t0.elapsed());
        let EventKind::TicketCalled { ticket, .. } = events[0].kind else {
            unreachable!()
        };
        q.handle(Command::Serve { counter, ticket }, now()).unwrap();
        // Keep 5,000 waiting.
        issue(&mut q, WAITING + i, now());
    }
    assert_eq!(
        q.waiting_counts().values().sum::<u32>() as usize,
        WAITING,
        "the queue stayed at 5,000"
    );
    report("engine call_next", engine);

    // Through the branch node, with the commit.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.sqlite");
    let mut store = Store::open(&path, &StoreOptions::default()).expect("store");
    let code = domain::SedeCode::parse("7001").unwrap();
    let sede: Sede = sedi::with_code(code).next().unwrap();
    store
        .apply_replica(&Replica {
            sede: Some(sede),
            services,
            counters: counters.clone(),
            hours,
            ..Replica::default()
        })
        .expect("replica");
    let clock = Arc::new(ManualClock::new(start));
    let branch = Branch::open(store, clock.clone()).expect("branch");
    for c in &counters {
        branch
            .execute(Command::OpenCounter {
                counter: c.number,
                services: vec![],
                operator: "bench".into(),
            })
            .unwrap();
    }
    let waiting = if quick { 200 } else { WAITING };
    for i in 0..waiting {
        clock.advance(chrono::Duration::milliseconds(200));
        branch.issue_ticket(letter(i), priority(i)).unwrap();
    }
    let bare = rusqlite::Connection::open(&path).expect("second connection");
    bare.pragma_update(None, "synchronous", "FULL").unwrap();
    // Like the node's connection: checkpoints are the node's background task's job.
    bare.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    bare.execute_batch("CREATE TABLE bench_bare (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .unwrap();
    let mut node = Vec::with_capacity(n);
    let mut plain = Vec::with_capacity(n);
    for i in 0..n {
        let counter = CounterNumber::new((i % 8) as u8 + 1).unwrap();
        clock.advance(chrono::Duration::seconds(1));
        let t0 = Instant::now();
        let events = branch.execute(Command::CallNext { counter }).unwrap();
        node.push(t0.elapsed());
        let EventKind::TicketCalled { ticket, .. } = events[0].event.kind else {
            unreachable!()
        };
        let t0 = Instant::now();
        bare.execute_batch("BEGIN; INSERT INTO bench_bare (payload) VALUES ('x'); COMMIT;")
            .unwrap();
        plain.push(t0.elapsed());
        branch.execute(Command::Serve { counter, ticket }).unwrap();
        branch
            .issue_ticket(letter(waiting + i), priority(i))
            .unwrap();
    }
    let (n50, n99) = report("node call_next + commit", node);
    let (b50, b99) = report("bare insert + commit", plain);
    println!(
        "ratio call_next/bare: p50 {:.2}x  p99 {:.2}x",
        n50.as_secs_f64() / b50.as_secs_f64(),
        n99.as_secs_f64() / b99.as_secs_f64()
    );
}
