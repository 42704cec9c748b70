//! Back-test of the wait estimate on generated history: ten weeks of a branch simulated through
//! the real queue engine (arrivals varying by weekday and hour, random service times, three
//! counters with weighted services), trained on the first eight weeks and tested on the last
//! two. At least 90 % of actual waits must be at or below the upper bound, and the median must
//! beat the naive "people ahead × mean service time".
//!
//! `cargo test --release --test estimate -- --nocapture` prints the figures kept in
//! docs/benchmarks.md.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Timelike};
use domain::{
    Counter, CounterNumber, OpeningHours, PriorityCategory, Service, ServiceLetter, ServiceLevel,
    TIME_ZONE, TicketPriority,
};
use queue::estimate::{Estimator, WaitSample};
use queue::{Calendar, Command, EventKind, Now, Queue, QueueRules, local_to_utc};

const SERVICES: [(&str, f64, f64); 3] = [
    // letter, arrivals per hour at the base rate, mean service minutes
    ("P", 9.0, 7.0),
    ("R", 5.0, 9.0),
    ("V", 8.0, 4.0),
];
const WEEKDAY_LOAD: [f64; 5] = [1.3, 1.0, 0.9, 1.0, 1.1];
const HOUR_LOAD: [(u32, f64); 4] = [(8, 1.4), (9, 1.2), (10, 0.9), (11, 0.6)];

fn letter(s: &str) -> ServiceLetter {
    ServiceLetter::parse(s).unwrap()
}

fn branch() -> Queue {
    let services: Vec<Service> = SERVICES
        .iter()
        .map(|(l, _, _)| Service {
            letter: letter(l),
            name: (*l).into(),
            level: ServiceLevel::First,
            appointment_only: false,
            slot_minutes: 15,
        })
        .collect();
    let c = |n, s: &[(&str, u8)]| Counter {
        number: CounterNumber::new(n).unwrap(),
        label: format!("Sportello {n}"),
        services: s.iter().map(|(l, w)| (letter(l), *w)).collect(),
    };
    let counters = vec![
        c(1, &[("P", 1), ("R", 1)]),
        c(2, &[("P", 2), ("V", 1)]),
        c(3, &[("R", 1), ("V", 2)]),
    ];
    let hours = services
        .iter()
        .flat_map(|s| {
            (1..=5).map(|weekday| OpeningHours {
                service: s.letter,
                weekday,
                opens: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                closes: NaiveTime::from_hms_opt(13, 0, 0).unwrap(),
                appointment_only: false,
            })
        })
        .collect();
    Queue::new(
        QueueRules::default(),
        Calendar::new(hours),
        services,
        counters,
    )
}

/// Exponential and log-normal draws from a seeded generator.
fn exp(rng: &mut fastrand::Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.f64()).ln()
}

fn lognormal(rng: &mut fastrand::Rng, mean: f64, sigma: f64) -> f64 {
    let z = (-2.0 * (1.0 - rng.f64()).ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos();
    mean * (sigma * z - sigma * sigma / 2.0).exp()
}

/// One simulated day; returns its samples (tickets that were called).
fn simulate_day(date: NaiveDate, rng: &mut fastrand::Rng) -> Vec<WaitSample> {
    let mut q = branch();
    let weekday = date.weekday().number_from_monday() as u8;
    let load = WEEKDAY_LOAD[usize::from(weekday - 1)];
    let start = local_to_utc(date.and_hms_opt(8, 0, 0).unwrap());
    q.roll_day(Now::at(start, true));
    // Arrivals for each service until 12:45, by a rate that varies through the morning.
    let mut arrivals: Vec<(chrono::DateTime<chrono::Utc>, ServiceLetter, bool)> = Vec::new();
    for (l, rate, _) in SERVICES {
        for (hour, factor) in HOUR_LOAD {
            let per_hour = rate * load * factor;
            let mut t = 0.0;
            loop {
                t += exp(rng, 3600.0 / per_hour);
                if t >= 3600.0 {
                    break;
                }
                let at = local_to_utc(date.and_hms_opt(hour, 0, 0).unwrap())
                    + Duration::seconds(t as i64);
                arrivals.push((at, letter(l), rng.f64() < 0.08));
            }
        }
    }
    arrivals.sort_by_key(|a| a.0);
    let mean_service: BTreeMap<ServiceLetter, f64> = SERVICES
        .iter()
        .map(|(l, _, m)| (letter(l), m * 60.0))
        .collect();
    let counters: Vec<CounterNumber> = (1..=3).map(|n| CounterNumber::new(n).unwrap()).collect();
    for c in &counters {
        q.handle(
            Command::OpenCounter {
                counter: *c,
                services: vec![],
                operator: "sim".into(),
            },
            Now::at(start, true),
        )
        .unwrap();
    }
    let mut busy_until = vec![start; counters.len()];
    let mut ahead_of = BTreeMap::new();
    let mut next_arrival = 0;
    let mut t = start;
    let end = local_to_utc(date.and_hms_opt(15, 0, 0).unwrap());
    while t < end {
        let now = Now::at(t, true);
        while next_arrival < arrivals.len() && arrivals[next_arrival].0 <= t {
            let (_, service, priority) = arrivals[next_arrival];
            let priority = if priority {
                TicketPriority::Priority(PriorityCategory::Disability)
            } else {
                TicketPriority::WalkIn
            };
            if let Ok(events) = q.handle(
                Command::Issue {
                    service,
                    priority,
                    booking: None,
                    kiosk: None,
                },
                now,
            ) && let EventKind::TicketIssued { ticket, ahead, .. } = events[0].kind
            {
                ahead_of.insert(ticket, ahead);
            }
            next_arrival += 1;
        }
        for (i, c) in counters.iter().enumerate() {
            if busy_until[i] > t {
                continue;
            }
            if let Some(current) = q.counter(*c).unwrap().current {
                q.handle(
                    Command::Serve {
                        counter: *c,
                        ticket: current,
                    },
                    now,
                )
                .unwrap();
            }
            if let Ok(events) = q.handle(Command::CallNext { counter: *c }, now)
                && let EventKind::TicketCalled { ticket, .. } = events[0].kind
            {
                let service = q.ticket(ticket).unwrap().service;
                let secs = lognormal(rng, mean_service[&service], 0.5).max(30.0);
                busy_until[i] = t + Duration::seconds(secs as i64);
            }
        }
        t += Duration::seconds(15);
    }
    q.tickets()
        .filter_map(|tk| {
            let called = tk.first_called_at?;
            let local = tk.issued_at.with_timezone(&TIME_ZONE);
            Some(WaitSample {
                service: tk.service,
                weekday,
                hour: local.hour() as u8,
                ahead: ahead_of[&tk.number],
                wait_s: (called - tk.eligible_at).num_seconds().max(0) as u32,
            })
        })
        .collect()
}

#[test]
fn the_upper_bound_covers_90_percent_of_held_out_waits_and_beats_the_naive_estimate() {
    let mut rng = fastrand::Rng::with_seed(2026);
    // Ten weeks of weekdays from Monday 2026-09-07.
    let first = NaiveDate::from_ymd_opt(2026, 9, 7).unwrap();
    let days: Vec<NaiveDate> = (0..70)
        .map(|i| first + Duration::days(i))
        .filter(|d| d.weekday().number_from_monday() <= 5)
        .collect();
    assert_eq!(days.len(), 50);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let samples = simulate_day(*d, &mut rng);
        if i < 40 {
            train.extend(samples);
        } else {
            test.extend(samples);
        }
    }
    let estimator = Estimator::train(&train);
    // The naive estimate: people ahead × the mean service time of the service (training).
    let mut service_time: BTreeMap<ServiceLetter, (f64, f64)> = BTreeMap::new();
    for (l, _, m) in SERVICES {
        service_time.insert(letter(l), (m * 60.0, 1.0));
    }
    let mut covered = 0usize;
    let mut err_ours = 0.0;
    let mut err_naive = 0.0;
    let mut under_naive = 0usize;
    for s in &test {
        let r = estimator.estimate(s.service, s.weekday, s.hour, s.ahead);
        assert!(r.learned, "ten weeks are enough history");
        let wait = f64::from(s.wait_s);
        if wait <= f64::from(r.high_min) * 60.0 {
            covered += 1;
        }
        err_ours += (f64::from(r.low_min) * 60.0 - wait).abs();
        let naive = f64::from(s.ahead) * service_time[&s.service].0;
        err_naive += (naive - wait).abs();
        if wait > naive {
            under_naive += 1;
        }
    }
    let n = test.len() as f64;
    let coverage = covered as f64 / n;
    let mae_ours = err_ours / n / 60.0;
    let mae_naive = err_naive / n / 60.0;
    println!(
        "back-test: train {} tickets, test {} tickets; upper bound covers {:.1} % of waits; \
         MAE median {:.1} min vs naive {:.1} min (naive under-promises {:.1} %)",
        train.len(),
        test.len(),
        coverage * 100.0,
        mae_ours,
        mae_naive,
        under_naive as f64 / n * 100.0
    );
    assert!(test.len() > 800, "enough held-out tickets: {}", test.len());
    assert!(coverage >= 0.90, "coverage {coverage:.3}");
    assert!(
        mae_ours < mae_naive,
        "{mae_ours:.1} vs naive {mae_naive:.1}"
    );
}
