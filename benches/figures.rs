//! `hub/figures`: the national figures of a year — 50 sedi, 250 working days each, with the
//! answers after the visits and the Area Contatti requests — added up by sede and week as the
//! console and its CSV do. Goal: < 2 s.
//!
//! `export SPORTELLO_PG_URL=$(scripts/pg)`, then `cargo bench --features hub --bench figures`
//! (`BENCH_SEDI`, default 50). Numbers in docs/benchmarks.md.

mod support;

use std::time::{Duration, Instant};

use chrono::NaiveDate;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let sedi: i32 = support::env_count("BENCH_SEDI", 50);
    let rt = support::runtime();
    rt.block_on(async {
        let (bench_db, pool) = support::BenchDb::migrated("figures", 4).await;
        let first = NaiveDate::from_ymd_opt(2025, 12, 1).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let demo = demo::hub::seed_demo(
            &mut pool.get().await.unwrap(),
            1,
            first.and_hms_opt(9, 0, 0).unwrap(),
        )
        .await
        .unwrap();
        let template = hub::branch_data::config_of(&demo.replica()).unwrap();
        let codes: Vec<domain::Sede> = domain::sedi::all().take(sedi as usize).collect();
        let c = pool.get().await.unwrap();
        for sede in &codes {
            let b = i32::from(sede.code.get());
            hub::accounts::ensure_branch(&c, sede.code.get()).await.unwrap();
            let config = protocol::wire::BranchConfigPayload {
                sede: sede.clone(),
                ..template.clone()
            };
            hub::branch_data::put_config(&c, b, &config).await.unwrap();
        }
        // A year of days: a sede's day has 150 to 400 tickets, waits spread over two hours;
        // 20 answers after visits; 4 requests, most answered within days.
        let started = Instant::now();
        c.batch_execute(&format!(
            "INSERT INTO day_figures (branch_id, business_day, issued, served, no_show, recalls, waits)
             SELECT b.branch_id, d::date, 150 + (b.branch_id * 7 + extract(doy FROM d)::int) % 250,
                    140, 8, 12,
                    (SELECT array_agg(((b.branch_id + m * 13 + extract(doy FROM d)::int) % 9)
                                      * CASE WHEN m < 120 THEN 1 ELSE 0 END ORDER BY m)
                     FROM generate_series(0, 180) m)
             FROM branch b, generate_series('{first}'::date, '{today}'::date, '1 day') d
             WHERE extract(isodow FROM d) < 6;
             INSERT INTO visit_feedback (branch_id, business_day, service, score)
             SELECT f.branch_id, f.business_day, 'A', 1 + (f.branch_id + k) % 5
             FROM day_figures f, generate_series(1, 20) k;
             INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic,
                                          subject, state, created_at, answered_at)
             SELECT f.branch_id, 'B' || f.branch_id || '-' || f.business_day || '-' || k,
                    '5124776507', 'cf', 'f24', 's', 'chiusa',
                    f.business_day + interval '10 hours',
                    f.business_day + interval '10 hours' + (k * 3 || ' days')::interval
             FROM day_figures f, generate_series(1, 4) k;"
        ))
        .await
        .unwrap();
        let rows: i64 = c
            .query_one("SELECT count(*) FROM day_figures", &[])
            .await
            .unwrap()
            .get(0);
        let requests: i64 = c
            .query_one("SELECT count(*) FROM contact_request", &[])
            .await
            .unwrap()
            .get(0);
        eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
        let mut times = Vec::new();
        let mut weeks = 0;
        let mut compared = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let w = hub::figures::weekly(&c, None, first, today, today)
                .await
                .unwrap();
            let totals = hub::figures::totals(&w);
            let csv = hub::figures::csv(&w);
            let mine: Vec<_> = w.iter().filter(|x| x.branch == w[0].branch).cloned().collect();
            let svg = hub::figures::wait_chart(&mine, "bench").unwrap();
            times.push(t.elapsed());
            assert!(totals.len() >= sedi as usize, "{}", totals.len());
            assert!(csv.lines().count() > w.len() && svg.starts_with("<svg"));
            weeks = w.len();
            compared = totals.len();
        }
        times.sort();
        println!(
            "hub/figures: {compared} sedi, {rows} sede-days ({} to {}), {requests} requests, 20 answers a day: \
             {weeks} sede-weeks, comparison, CSV and one chart in p50 {:.0} ms  max {:.0} ms (goal < 2000 ms)",
            first,
            today,
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap())
        );
        drop(c);
        drop(pool);
        bench_db.drop().await;
    });
}
