//! `sportello`: one binary, one subcommand per role.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sportello::config::{Config, LogFormat};
use sportello::demo::{DemoBranch, write_qr_pngs};
use sportello::domain::{Clock, ServiceLetter, SystemClock, TicketPriority};
use sportello::kiosk::Kiosk;
use sportello::node::Branch;
use sportello::store::{Store, StoreOptions};

/// Self-service kiosk for INPS branch offices.
#[derive(Debug, Parser)]
#[command(name = "sportello", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML); see docs/configuration.md.
    #[arg(long, global = true, env = "SPORTELLO_CONFIG")]
    config: Option<PathBuf>,
    /// Log format, overriding the configuration.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the kiosk. Reads scanned codes (one per line) from the scanner, or standard input in
    /// demo mode; a single service letter takes a walk-in ticket.
    Kiosk {
        /// Demo mode: a demo store with today's demo appointments, created if missing.
        #[arg(long)]
        demo: bool,
        /// Without the touchscreen UI (the only mode until the UI lands).
        #[arg(long)]
        headless: bool,
        /// Demo data folder, overriding `demo.data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Writes demo data into the kiosk store and the appointments' QR codes as PNG files.
    DemoData {
        /// Demo data folder, overriding `demo.data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Generator seed, overriding `demo.seed`.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Issues tickets in a loop, printing each number after its commit (crash tests, load).
    #[command(hide = true)]
    StressTickets {
        /// Store file.
        #[arg(long)]
        db: PathBuf,
        /// How many tickets.
        #[arg(long, default_value_t = 1000)]
        count: u32,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sportello: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(format) = cli.log_format {
        config.log.format = format;
    }
    sportello::telemetry::init(&config.log);
    match cli.command {
        Command::Kiosk {
            demo,
            headless: _,
            data_dir,
        } => {
            if let Some(dir) = data_dir {
                config.demo.data_dir = dir;
            }
            kiosk(&config, demo)
        }
        Command::DemoData { data_dir, seed } => {
            if let Some(dir) = data_dir {
                config.demo.data_dir = dir;
            }
            if let Some(seed) = seed {
                config.demo.seed = seed;
            }
            let clock = SystemClock::untrusted();
            let store = demo_data(&config, &clock)?;
            println!("demo store: {}", store.path().display());
            println!("QR codes:   {}", config.demo.data_dir.join("qr").display());
            Ok(())
        }
        Command::StressTickets { db, count } => stress_tickets(&db, count),
    }
}

fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        busy_timeout: std::time::Duration::from_millis(config.store.busy_timeout_ms),
        device_id: config.branch.device_id.clone(),
    }
}

/// Writes the kiosk's share of the demo branch and the QR PNGs; returns the store.
fn demo_data(config: &Config, clock: &dyn Clock) -> anyhow::Result<Store> {
    let dir = &config.demo.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut store = Store::open(&dir.join("kiosk.sqlite"), &store_options(config))?;
    let branch = DemoBranch::generate(config.demo.seed, clock.local_now().naive_local());
    store.apply_replica(&branch.replica())?;
    let written = write_qr_pngs(&branch, &dir.join("qr"))
        .with_context(|| format!("cannot write QR codes into {}", dir.join("qr").display()))?;
    tracing::info!(
        appointments = branch.appointments.len(),
        qr_files = written.len(),
        "demo data written"
    );
    Ok(store)
}

fn kiosk(config: &Config, demo: bool) -> anyhow::Result<()> {
    let clock = Arc::new(SystemClock::untrusted());
    if demo {
        // Demo machines have no NTP check yet; their clock is taken as right.
        clock.mark_trusted();
    }
    let store = if demo {
        let store = demo_data(config, clock.as_ref())?;
        let today = clock.today();
        println!(
            "Sportello demo – {} appointments today; QR codes in {}",
            store.appointments_on(today)?.len(),
            config.demo.data_dir.join("qr").display()
        );
        store
    } else {
        config.person_key_secret()?;
        Store::open(&config.store.path, &store_options(config))?
    };
    let branch = Branch::open(store, clock)?;
    let mut kiosk = Kiosk::new(branch.clone())?;
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        println!(
            "Sede {} – scan a booking QR code (or paste its text), or type a service letter ({}) for a walk-in ticket; Ctrl-D to quit.",
            kiosk.sede(),
            branch
                .read(|q, _| q.services().map(|s| s.letter).collect::<Vec<_>>())
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut scanner = hardware::scanner::LineScanner::new(stdin.lock());
    kiosk.run_headless(&mut scanner, &mut std::io::stdout().lock())?;
    Ok(())
}

fn stress_tickets(db: &Path, count: u32) -> anyhow::Result<()> {
    use std::io::Write;
    let clock = SystemClock::untrusted();
    clock.mark_trusted();
    let mut store = Store::open(db, &StoreOptions::default())?;
    if store.services()?.is_empty() {
        let branch = DemoBranch::generate(1, clock.local_now().naive_local());
        store.apply_replica(&branch.replica())?;
    }
    // Round-robin over the walk-in services, so long runs stay below the 999 numbers of a
    // service's day.
    let letters: Vec<ServiceLetter> = store
        .services()?
        .iter()
        .filter(|s| !s.appointment_only)
        .map(|s| s.letter)
        .collect();
    let branch = Branch::open(store, Arc::new(clock))?;
    let mut out = std::io::stdout().lock();
    for i in 0..count as usize {
        let ticket = branch.issue_ticket(letters[i % letters.len()], TicketPriority::WalkIn)?;
        // Printed only after the commit: whatever the parent reads was durable first.
        writeln!(out, "{}", ticket.number)?;
        out.flush()?;
    }
    Ok(())
}
