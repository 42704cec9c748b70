//! `ui/cassetto_summary`: from the company summary's arrival at the kiosk to its screen
//! rendered: the figures written out for the cards (24 months of history), the properties
//! set, and one full software render at 1920×1080. The hub is replaced by an answer already
//! in memory, so what is timed is the kiosk's share alone. Goal: < 200 ms.
//!
//! `cargo bench --bench cassetto` (`BENCH_N`, default 30). Numbers in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use branch::node::Branch;
use branch::sync::client::SyncError;
use chrono::NaiveDate;
use demo::DemoBranch;
use domain::ManualClock;
use kiosk::Kiosk;
use kiosk::identify::Identification;
use kiosk::screenshot::{Renderer, Shot};
use kiosk::ui::{CassettoAdapter, CassettoPhase, CassettoView, Dispatch, KioskUi, Screen};
use protocol::cassetto::CompanySummary;
use protocol::wire::{CompanyChoice, HandoffStarted, HandoffState};
use slint::ComponentHandle;
use store::{Store, StoreOptions};

/// The hub's answers, already known.
struct Answers {
    summary: CompanySummary,
}

impl Identification for Answers {
    fn start(&self) -> Result<HandoffStarted, SyncError> {
        Ok(HandoffStarted {
            id: "bench".into(),
            url: "https://hub.example/h/0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(3),
            code: "0427".into(),
        })
    }
    fn status(&self, _: &str) -> Result<HandoffState, SyncError> {
        Ok(HandoffState::Bound {
            name: "Maria Rossi".into(),
            companies: vec![CompanyChoice {
                matricola: self.summary.anagrafica.matricola,
                company_cf: self.summary.anagrafica.codice_fiscale.clone(),
                denominazione: self.summary.anagrafica.denominazione.clone(),
                role: domain::TipoDelegato::Azienda,
            }],
            until: chrono::Utc::now() + chrono::Duration::minutes(5),
            task: None,
            sent: None,
        })
    }
    fn end(&self, _: &str) -> Result<(), SyncError> {
        Ok(())
    }
    fn company(&self, _: &str, _: &str) -> Result<Option<CompanySummary>, SyncError> {
        Ok(Some(self.summary.clone()))
    }
}

fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let now = NaiveDate::from_ymd_opt(2026, 11, 26)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    let demo = DemoBranch::generate(1, now);
    let mut store = Store::open(&dir.path().join("k.sqlite"), &StoreOptions::default()).unwrap();
    store.apply_replica(&demo.replica()).unwrap();
    let clock = Arc::new(ManualClock::new(now.and_utc()));
    let branch = Branch::open(store, clock).unwrap();
    let company = &demo.companies[0];
    let summary = demo::cassetto::summary(
        1,
        company,
        company.matricole[0],
        &demo.sede,
        &[("Maria Rossi".into(), "Legale rappresentante")],
        now.date(),
    );
    assert_eq!(summary.mesi.len(), 23, "two years of history");
    let renderer = Renderer::install().unwrap();
    let kiosk = Kiosk::new(branch)
        .unwrap()
        .with_identification(Arc::new(Answers { summary }));
    let ui = KioskUi::with_dispatch(kiosk, Dispatch::Inline).unwrap();
    let shot = Shot {
        screen: Screen::Cassetto,
        lang: "it".into(),
        width: 1920,
        height: 1080,
        high_contrast: false,
        large_text: false,
        seated: false,
    };
    renderer.draw(&ui, &shot).unwrap();
    ui.cassetto_step();
    let a = ui.window().global::<CassettoAdapter>();
    assert_eq!(a.get_phase(), CassettoPhase::Bound);
    renderer.draw(&ui, &shot).unwrap();
    let mut times = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        a.invoke_open_company(0);
        renderer.draw(&ui, &shot).unwrap();
        times.push(t.elapsed());
        assert_eq!(a.get_view(), CassettoView::Summary);
        a.invoke_close_company();
        renderer.draw(&ui, &shot).unwrap();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "ui/cassetto_summary: {n} runs, summary arrived → rendered at 1920×1080: median {:.1} ms  max {:.1} ms (goal < 200 ms)",
        ms(times[n / 2]),
        ms(*times.last().unwrap())
    );
}
