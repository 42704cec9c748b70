//! `sportello`: one binary, one subcommand per role. The kiosk build (the default feature,
//! `kiosk`) has the kiosk's commands, the hub build (`--no-default-features --features hub`)
//! the hub's; the developer's build has both. This file only reads the command line and
//! hands each command to the crate that does it.

#[cfg(not(any(feature = "kiosk", feature = "hub")))]
compile_error!("build with the `kiosk` feature, the `hub` feature, or both");

#[cfg(feature = "kiosk")]
mod kiosk_commands;
mod telemetry;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use config::{Config, LogFormat};

#[cfg(feature = "kiosk")]
use kiosk_commands::*;

/// Self-service kiosk for INPS branch offices.
#[derive(Debug, Parser)]
#[command(name = "sportello", version, about, long_about = None)]
struct Cli {
    /// Configuration file (TOML); see docs/configuration.md.
    #[arg(long, global = true, env = "SPORTELLO_CONFIG")]
    config: Option<PathBuf>,
    /// The hub's PostgreSQL URL, overriding `hub.database_url`.
    #[cfg(feature = "hub")]
    #[arg(long, global = true, env = "SPORTELLO_DATABASE_URL")]
    database_url: Option<String>,
    /// Log format, overriding the configuration.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    /// Runs the kiosk's clock from this instant (RFC 3339, e.g. 2026-03-10T10:00:00+01:00)
    /// instead of the system's time: a demo at a chosen hour, and tests that must not depend
    /// on when they run.
    #[cfg(feature = "kiosk")]
    #[arg(long, global = true, value_parser = parse_instant)]
    clock_from: Option<chrono::DateTime<chrono::Utc>>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[cfg(feature = "kiosk")]
    /// Runs the kiosk. Reads scanned codes (one per line) from the scanner, or standard input in
    /// demo mode; a single service letter takes a walk-in ticket.
    Kiosk {
        /// Demo mode: a demo store with today's demo appointments, created if missing.
        #[arg(long)]
        demo: bool,
        /// Without the touchscreen UI: scans on standard input, answers as text.
        #[arg(long)]
        headless: bool,
        /// Demo data folder, overriding `demo.data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address of the LAN server (staff console, hall display), overriding `lan.listen`;
        /// port 0 picks a free one.
        #[arg(long, env = "SPORTELLO_LAN_LISTEN")]
        lan_listen: Option<String>,
    },
    /// Runs the sede's branch node without a screen: the sequencer of its queue, the LAN
    /// server of its staff consoles, hall displays and kiosks, and its sync with the hub.
    #[cfg(feature = "kiosk")]
    Node {
        /// Address of the LAN server, overriding `lan.listen`; port 0 picks a free one.
        #[arg(long, env = "SPORTELLO_LAN_LISTEN")]
        lan_listen: Option<String>,
        /// A node that replaces the sede's previous one (dead for good, revoked at the hub):
        /// before numbering today, go on from what the hub holds of the sede's day — numbers
        /// after the last given, the kiosks' leases, the open tickets in their places.
        #[arg(long)]
        take_over: bool,
    },
    /// Renders kiosk screens to PNG without a display.
    #[cfg(feature = "kiosk")]
    Screenshot {
        /// Screen name (home, checkin, walkin, cassetto, contatti, booking, privacy,
        /// accessibility), or `all` for the gallery (OUT is then a folder).
        #[arg(long, default_value = "home")]
        screen: String,
        /// Language: it, en, de.
        #[arg(long, default_value = "it")]
        lang: String,
        /// WIDTHxHEIGHT.
        #[arg(long, default_value = "1920x1080")]
        size: String,
        /// `high` for the high-contrast theme.
        #[arg(long)]
        contrast: Option<String>,
        /// Large-text mode.
        #[arg(long)]
        large_text: bool,
        /// Seated layout.
        #[arg(long)]
        seated: bool,
        /// PNG file (a folder with `--screen all`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Administration from the command line.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    #[cfg(feature = "kiosk")]
    /// Writes demo data into the kiosk store and the appointments' QR codes as PNG files.
    DemoData {
        /// Demo data folder, overriding `demo.data_dir`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Generator seed, overriding `demo.seed`.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Runs the hub: the central store and the sync API kiosks enrol with and sync to.
    #[cfg(feature = "hub")]
    Hub {
        /// Address and port, overriding `hub.listen`.
        #[arg(long)]
        listen: Option<String>,
    },
    #[cfg(feature = "kiosk")]
    /// Enrols this kiosk with its hub using a one-time code from an administrator; the kiosk
    /// generates its key here and pins the hub's certificate.
    Enroll {
        /// The hub, `https://host:port`.
        #[arg(long)]
        hub: String,
        /// The one-time enrolment code.
        #[arg(long)]
        code: String,
        /// The hub's key pin in hex (`Hub key pin:` as the hub prints it at start: the SHA-256
        /// of its public key), or the SHA-256 of its certificate; without it the key the hub
        /// presents now is trusted. Either way the kiosk pins the hub's key.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Store file, overriding `store.path`.
        #[arg(long)]
        db: Option<PathBuf>,
    },
    #[cfg(feature = "kiosk")]
    /// Prints a test ticket on the configured printer (installers: check the code page, the
    /// QR code and the cut) and writes a picture of what was sent.
    PrintTest {
        /// PNG file of the preview.
        #[arg(long, default_value = "print-test.png")]
        preview: PathBuf,
    },
    #[cfg(feature = "kiosk")]
    /// Whether this kiosk may be updated now: exits 0 when the sede is closed and nobody
    /// waits, 1 saying why not (the ExecCondition of sportello-update.service).
    UpdateWindow {
        /// Store file, overriding `store.path`.
        #[arg(long)]
        db: Option<PathBuf>,
    },
    #[cfg(feature = "kiosk")]
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

/// `--log-format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormatArg {
    /// Readable lines.
    Human,
    /// One JSON object a line.
    Json,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    #[cfg(feature = "kiosk")]
    /// Creates (or resets) a local staff account for the branch console: the break-glass
    /// account until accounts come from the hub. The password is read from standard input.
    AddStaff {
        /// Login name.
        #[arg(long)]
        username: String,
        /// `operator` or `supervisor`.
        #[arg(long, default_value = "operator")]
        role: String,
        /// Store file, overriding `store.path`.
        #[arg(long)]
        db: Option<PathBuf>,
    },
    /// Creates (or resets) a hub account: the first administrator, then anyone. The password is
    /// read from standard input.
    #[cfg(feature = "hub")]
    CreateUser {
        /// Login name.
        #[arg(long)]
        username: String,
        /// `admin`, `supervisor`, `backoffice` or `counter`.
        #[arg(long)]
        role: String,
        /// The sede (4 digits) of a non-administrator.
        #[arg(long)]
        branch: Option<u16>,
    },
    /// Sets a new password for a hub account (read from standard input); a counter or
    /// supervisor account reaches its branch's console with it.
    #[cfg(feature = "hub")]
    ResetPassword {
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// Makes a one-time code that enrols one kiosk into a branch (valid 24 hours).
    #[cfg(feature = "hub")]
    EnrolmentCode {
        /// The sede (4 digits).
        #[arg(long)]
        branch: u16,
        /// A kiosk that issues tickets through the sede's node, instead of the node itself
        /// (the node is a kiosk with the node inside, the only kiosk of a small sede, or a
        /// headless `sportello node`).
        #[arg(long)]
        kiosk: bool,
    },
    /// Seeds the demo branch into the hub: its configuration and today's demo appointments
    /// (the kiosks of the branch receive them through the feed).
    #[cfg(feature = "hub")]
    SeedDemo {
        /// Generator seed, overriding `demo.seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// The demo day around this instant (RFC 3339) instead of now.
        #[arg(long, value_parser = parse_instant)]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Starts every branch's feed over: each kiosk pulls its branch again from the start. Run
    /// it after restoring the hub's database from a backup, before starting the hub.
    #[cfg(feature = "hub")]
    NewFeedEpoch,
    /// Revokes a kiosk: its next request to the hub is refused.
    #[cfg(feature = "hub")]
    RevokeDevice {
        /// Device id.
        #[arg(long)]
        device: String,
    },
    /// A new booking signing key from now on (the hub also rotates it every 90 days); QR
    /// codes already given keep working until their appointments are past.
    #[cfg(feature = "hub")]
    RotateKeys,
    /// Seals the hub's signing keys under a new key-encryption key (made in FILE if absent);
    /// then point `hub.key_encryption_key` at it and restart every hub instance.
    #[cfg(feature = "hub")]
    ResealKeys {
        /// The new key-encryption key's file.
        #[arg(long, value_name = "FILE")]
        new: std::path::PathBuf,
    },
}

fn parse_instant(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{e}: an instant like 2026-03-10T10:00:00+01:00"))
}

fn main() -> std::process::ExitCode {
    give_big_blocks_back();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sportello: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Blocks of 1 MiB and more are mapped on their own and given back to the system when freed.
/// By default glibc raises that threshold after the first such block is freed, and from then
/// on keeps every freed argon2 block (19 MiB), TLS buffer and SQLite page cache in its arenas:
/// the kiosk sat at 64 MiB at rest and grew by 84–103 MiB under a burst of logins; with a
/// fixed threshold, 26 MiB and 46 MiB (tests/abuse.rs). On a Raspberry Pi that is the margin.
fn give_big_blocks_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; called first thing in main,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = match &cli.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(format) = cli.log_format {
        config.log.format = match format {
            LogFormatArg::Human => LogFormat::Human,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    #[cfg(feature = "hub")]
    if let Some(url) = cli.database_url.clone() {
        config.hub.database_url = url;
    }
    telemetry::init(&config.log);
    #[cfg(feature = "kiosk")]
    let clock = || match cli.clock_from {
        Some(start) => domain::SystemClock::starting_at(start),
        None => domain::SystemClock::untrusted(),
    };
    match cli.command {
        #[cfg(feature = "kiosk")]
        Command::Kiosk {
            demo,
            headless,
            data_dir,
            lan_listen,
        } => {
            if let Some(dir) = data_dir {
                config.demo.data_dir = dir;
            }
            if demo {
                // A demo has a known password: it stays on this machine unless configured.
                if config.lan.listen == config::LanConfig::default().listen {
                    config.lan.listen = "127.0.0.1:8443".into();
                }
                config.lan.tls_dir = config.demo.data_dir.join("tls");
            }
            if let Some(listen) = lan_listen {
                config.lan.listen = listen;
            }
            kiosk(&config, demo, headless, clock())
        }
        #[cfg(feature = "kiosk")]
        Command::Node {
            lan_listen,
            take_over,
        } => {
            if let Some(listen) = lan_listen {
                config.lan.listen = listen;
            }
            kiosk_commands::node(&config, clock(), take_over)
        }
        #[cfg(feature = "kiosk")]
        Command::Screenshot {
            screen,
            lang,
            size,
            contrast,
            large_text,
            seated,
            out,
        } => screenshot(
            &config,
            &screen,
            &lang,
            &size,
            contrast.as_deref(),
            large_text,
            seated,
            &out,
        ),
        #[cfg(feature = "kiosk")]
        Command::Admin {
            command: AdminCommand::AddStaff { username, role, db },
        } => {
            let path = db.unwrap_or_else(|| config.store.path.clone());
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            add_staff(
                &path,
                &store_options(&config),
                &username,
                &role,
                password.trim_end_matches(['\r', '\n']),
            )?;
            println!(
                "staff account {username} ({role}) saved in {}",
                path.display()
            );
            Ok(())
        }
        #[cfg(feature = "kiosk")]
        Command::DemoData { data_dir, seed } => {
            if let Some(dir) = data_dir {
                config.demo.data_dir = dir;
            }
            if let Some(seed) = seed {
                config.demo.seed = seed;
            }
            let store = demo_data(&config, &clock())?;
            println!("demo store: {}", store.path().display());
            println!("QR codes:   {}", config.demo.data_dir.join("qr").display());
            Ok(())
        }
        #[cfg(feature = "kiosk")]
        Command::StressTickets { db, count } => stress_tickets(&db, count, clock()),
        #[cfg(feature = "kiosk")]
        Command::PrintTest { preview } => print_test(&config, &preview),
        #[cfg(feature = "kiosk")]
        Command::UpdateWindow { db } => {
            let path = db.unwrap_or_else(|| config.store.path.clone());
            update_window(&config, &path, &clock(), cli.clock_from.is_some())
        }
        #[cfg(feature = "kiosk")]
        Command::Enroll {
            hub,
            code,
            fingerprint,
            db,
        } => {
            let path = db.unwrap_or_else(|| config.store.path.clone());
            enroll(
                &path,
                &store_options(&config),
                &hub,
                &code,
                fingerprint.as_deref(),
            )
        }
        #[cfg(feature = "hub")]
        Command::Hub { listen } => {
            if let Some(l) = listen {
                config.hub.listen = l;
            }
            hub::cli::serve(&config.hub)
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command:
                AdminCommand::CreateUser {
                    username,
                    role,
                    branch,
                },
        } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            hub::cli::create_user(
                &config.hub,
                &username,
                &role,
                branch,
                password.trim_end_matches(['\r', '\n']),
            )?;
            println!("hub account {username} ({role}) saved");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::ResetPassword { username },
        } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            hub::cli::reset_password(
                &config.hub,
                &username,
                password.trim_end_matches(['\r', '\n']),
            )?;
            println!("password of {username} changed");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::SeedDemo { seed, at },
        } => {
            let seed = seed.unwrap_or(config.demo.seed);
            let now = at
                .unwrap_or_else(chrono::Utc::now)
                .with_timezone(&domain::TIME_ZONE)
                .naive_local();
            let demo = demo::DemoBranch::generate(seed, now);
            hub::cli::seed(
                &config.hub,
                &demo::hub::branch_seed(&demo, seed, now.date()),
            )?;
            println!(
                "demo branch seeded: {} appointments",
                demo.appointments.len()
            );
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::EnrolmentCode { branch, kiosk },
        } => {
            let role = if kiosk {
                protocol::wire::DeviceRole::Kiosk
            } else {
                protocol::wire::DeviceRole::Node
            };
            let code = hub::cli::enrolment_code(&config.hub, branch, role)?;
            println!("{code}");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::NewFeedEpoch,
        } => {
            let n = hub::cli::new_feed_epoch(&config.hub)?;
            println!("feed restarted for {n} branches: their kiosks pull it again from the start");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::RevokeDevice { device },
        } => {
            hub::cli::revoke_device(&config.hub, &device)?;
            println!("device {device} revoked");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::RotateKeys,
        } => {
            let key = hub::cli::rotate_keys(&config.hub)?;
            println!("booking key {key} signs from now on");
            Ok(())
        }
        #[cfg(feature = "hub")]
        Command::Admin {
            command: AdminCommand::ResealKeys { new },
        } => {
            let n = hub::cli::reseal_keys(&config.hub, &new)?;
            println!(
                "{n} keys sealed under {}: set hub.key_encryption_key to it and restart every hub",
                new.display()
            );
            Ok(())
        }
    }
}
