//! Kiosk UI figures (x86, not run in CI):
//! - `ui/first_frame`: from an empty process to the first rendered home screen (platform,
//!   window, fonts, first software render), median of `BENCH_N` runs in fresh child processes;
//! - `ui/render_home`: one full-screen software render of the home screen at 1920×1080;
//! - `ui/rss`: resident memory during `BENCH_UI_MINUTES` (default 10) of scripted use — screens,
//!   languages, modes, walk-in tickets, a frame every 100 ms — sampled every minute.
//!
//! `cargo bench --bench ui`. Numbers in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use branch::node::Branch;
use demo::DemoBranch;
use domain::{Clock, SystemClock};
use kiosk::Kiosk;
use kiosk::screenshot::{Renderer, Shot};
use kiosk::ui::{Dispatch, KioskUi, Screen, SessionAdapter, Theme, WalkInAdapter};
use slint::ComponentHandle;
use store::{Store, StoreOptions};

fn ui(dir: &std::path::Path) -> KioskUi {
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let mut store = Store::open(&dir.join("k.sqlite"), &StoreOptions::default()).unwrap();
    store
        .apply_replica(&DemoBranch::generate(1, clock.local_now().naive_local()).replica())
        .unwrap();
    let branch = Branch::open(store, clock).unwrap();
    KioskUi::with_dispatch(Kiosk::new(branch).unwrap(), Dispatch::Inline).unwrap()
}

fn home(width: u32, height: u32) -> Shot {
    Shot {
        screen: Screen::Home,
        lang: "it".into(),
        width,
        height,
        high_contrast: false,
        large_text: false,
        seated: false,
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--test");
    let dir = tempfile::tempdir().unwrap();

    // A child run: render one frame and report how long since the process began.
    if let Ok(started) = std::env::var("BENCH_UI_CHILD") {
        let started: u128 = started.parse().unwrap();
        let renderer = Renderer::install().unwrap();
        let ui = ui(dir.path());
        let png = renderer.render(&ui, &home(1920, 1080)).unwrap();
        assert!(png.len() > 1000);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros();
        println!("{}", now - started);
        return;
    }

    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 15 });
    let mut first = Vec::new();
    for _ in 0..n {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros();
        let out = std::process::Command::new(&args[0])
            .env("BENCH_UI_CHILD", started.to_string())
            .output()
            .unwrap();
        let micros: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        first.push(Duration::from_micros(micros));
    }
    println!(
        "ui/first_frame      n={n:<4} median {:>10.1?}",
        median(first)
    );

    let renderer = Renderer::install().unwrap();
    let ui = ui(dir.path());
    renderer.render(&ui, &home(1920, 1080)).unwrap();
    let frames = if quick { 3 } else { 60 };
    let mut render = Vec::new();
    for _ in 0..frames {
        let t = Instant::now();
        let pixels = renderer.draw(&ui, &home(1920, 1080)).unwrap();
        render.push(t.elapsed());
        // The frame was really drawn: the home screen is mostly white, the buffer starts black.
        let lit = pixels.iter().filter(|p| p.r > 200 && p.g > 200).count();
        assert!(lit > pixels.len() / 2, "a full frame each time");
    }
    println!(
        "ui/render_home      n={frames:<4} median {:>10.1?} (1920x1080, software renderer, full frame)",
        median(render)
    );

    let minutes: u64 = std::env::var("BENCH_UI_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 0 } else { 10 });
    let w = ui.window();
    let start = Instant::now();
    let mut samples = vec![(0u64, rss_kib())];
    let screens = [
        Screen::Home,
        Screen::Checkin,
        Screen::Walkin,
        Screen::Cassetto,
        Screen::Privacy,
        Screen::Accessibility,
    ];
    let mut i = 0usize;
    while start.elapsed() < Duration::from_secs(minutes * 60) {
        let a = w.global::<SessionAdapter>();
        a.invoke_navigate(screens[i % screens.len()]);
        if i.is_multiple_of(7) {
            a.invoke_select_language(["it", "en", "de"][i % 3].into());
        }
        if i.is_multiple_of(11) {
            w.global::<Theme>().set_large_text(i.is_multiple_of(2));
        }
        if i.is_multiple_of(5) {
            w.global::<WalkInAdapter>()
                .invoke_take_ticket(["P", "R", "F", "V"][i % 4].into());
        }
        if i.is_multiple_of(50) {
            a.invoke_exit();
        }
        slint::platform::update_timers_and_animations();
        let mut shot = home(1280, 800);
        shot.screen = a.get_screen();
        renderer.draw(&ui, &shot).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        i += 1;
        let minute = start.elapsed().as_secs() / 60;
        if minute > samples.last().unwrap().0 {
            samples.push((minute, rss_kib()));
            println!("ui/rss minute {minute:>2}: {} KiB", rss_kib());
        }
    }
    if minutes > 0 {
        println!("ui/rss samples (minute, KiB): {samples:?}; {i} scripted steps");
    }
}
