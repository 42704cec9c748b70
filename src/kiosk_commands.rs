//! The kiosk build's commands: the kiosk itself, its demo data, enrolment, the printer test,
//! the UI's screenshots and the local staff account.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use branch::node::Branch;
use config::Config;
use demo::{DemoBranch, write_qr_pngs};
use domain::{Clock, ServiceLetter, SystemClock, TicketPriority};
use kiosk::Kiosk;
use store::{StaffAccount, StaffRole, Store, StoreOptions};

pub fn enroll(
    path: &Path,
    options: &StoreOptions,
    hub: &str,
    code: &str,
    fingerprint: Option<&str>,
) -> anyhow::Result<()> {
    let pin = fingerprint
        .map(|f| {
            protocol::wire::unhex(&f.replace(':', "").to_lowercase())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| anyhow::anyhow!("--fingerprint is 64 hex digits (SHA-256)"))
        })
        .transpose()?;
    let mut store = Store::open(path, options)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let enrolled = runtime.block_on(branch::sync::client::enrol(
        hub,
        code,
        pin,
        env!("CARGO_PKG_VERSION"),
    ))?;
    store.set_hub_link(&enrolled.link(hub), chrono::Utc::now())?;
    println!(
        "enrolled as {} in sede {:04}; hub key pinned: {}",
        enrolled.device_id,
        enrolled.branch,
        protocol::wire::hex(&enrolled.cert_sha256)
    );
    Ok(())
}

/// A ticket with every accented letter and the euro sign, on the configured printer.
pub fn print_test(config: &Config, preview: &Path) -> anyhow::Result<()> {
    let options = kiosk::devices::print_options(&config.printer);
    let layout = ticket::TicketLayout {
        sede: "INPS – Prova di stampa".into(),
        number: "T000".into(),
        service: "àèéìòù ÀÈÉÌÒÙ € – «prova»".into(),
        // The branch's time, whatever zone the machine is set to.
        issued: SystemClock::untrusted()
            .local_now()
            .format("%d/%m/%Y %H:%M")
            .to_string(),
        ahead: Some(0),
        wait: Some(format!(
            "carta {} mm, codepage ESC t {}",
            if options.paper == ticket::Paper::Mm58 {
                58
            } else {
                80
            },
            options.code_page
        )),
        follow_url: "https://sportello.example/prova-di-stampa".into(),
    };
    let bytes = ticket::render(&layout, &options)?;
    let picture = ticket::preview::preview(&bytes, options.paper, options.code_page)?;
    std::fs::write(preview, picture.png())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", preview.display()))?;
    println!("preview of the test ticket: {}", preview.display());
    let Some(mut printer) = kiosk::devices::printer(&config.printer, None)? else {
        anyhow::bail!("printer.kind is \"none\": there is no printer to test");
    };
    let status = printer.status()?;
    println!("printer status: {status:?}");
    match status {
        hardware::printer::PrinterStatus::Ready | hardware::printer::PrinterStatus::PaperLow => {
            printer.print(&bytes)?;
            println!(
                "test ticket sent: compare the accents, the euro sign and the QR code with the preview"
            );
            Ok(())
        }
        other => anyhow::bail!("the printer cannot print now: {other:?}"),
    }
}

/// Where systemd-timesyncd says the system clock has been synchronised since boot.
const TIME_SYNCHRONIZED: &str = "/run/systemd/timesync/synchronized";

/// Whether this kiosk may be updated now (the ExecCondition of `sportello-update.service`):
/// the clock is right, the sede is not at work — from an hour before its first opening to
/// half an hour after a closing, on any service — and nobody waits. Says why not as an error,
/// which exits with 1: systemd then skips the update until the timer's next round.
pub fn update_window(
    config: &Config,
    db: &Path,
    clock: &SystemClock,
    explicit_clock: bool,
) -> anyhow::Result<()> {
    // A Pi has no battery clock: until NTP has set it, the hour may be any.
    if !explicit_clock && !Path::new(TIME_SYNCHRONIZED).exists() {
        anyhow::bail!(
            "not now: the clock is not synchronised yet ({TIME_SYNCHRONIZED} is missing)"
        );
    }
    let store = Store::open(db, &store_options(config))?;
    let now = clock.local_now().naive_local();
    let calendar = queue::Calendar::new(store.opening_hours()?);
    if let Some((opens, closes)) = calendar.at_work(
        &store.queue_rules()?,
        now,
        chrono::Duration::minutes(60),
        chrono::Duration::minutes(30),
    ) {
        anyhow::bail!(
            "not now: the sede is at work ({} – {}, with an hour before and half an hour after)",
            opens.format("%H:%M"),
            closes.format("%H:%M")
        );
    }
    let waiting = store
        .tickets_on(clock.today())?
        .iter()
        .filter(|t| t.state == domain::TicketState::Issued)
        .count();
    if waiting > 0 {
        anyhow::bail!("not now: {waiting} tickets still wait");
    }
    println!(
        "yes: the sede is closed and nobody waits ({})",
        now.format("%d/%m/%Y %H:%M")
    );
    Ok(())
}

pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        busy_timeout: std::time::Duration::from_millis(config.store.busy_timeout_ms),
        device_id: config.branch.device_id.clone(),
    }
}

/// Writes the kiosk's share of the demo branch and the QR PNGs; returns the store.
pub fn demo_data(config: &Config, clock: &dyn Clock) -> anyhow::Result<Store> {
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

pub fn kiosk(
    config: &Config,
    demo: bool,
    headless: bool,
    clock: SystemClock,
) -> anyhow::Result<()> {
    let clock = Arc::new(clock);
    if demo {
        // Demo machines have no NTP check yet; their clock is taken as right.
        clock.mark_trusted();
    }
    let demo_db = config.demo.data_dir.join("kiosk.sqlite");
    let enrolled_demo = demo
        && demo_db.exists()
        && Store::open(&demo_db, &store_options(config))?
            .hub_link()?
            .is_some();
    let store = if enrolled_demo {
        // An enrolled demo kiosk takes its branch from the hub's feed, not from the generator.
        Store::open(&demo_db, &store_options(config))?
    } else if demo {
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
    let service = Arc::new(web::systemd::Service::from_env());
    if demo {
        for (name, role) in [("supervisore", "supervisor"), ("operatore", "operator")] {
            branch.with_store(|s| -> anyhow::Result<()> {
                // Kept across restarts: a new hash is a new password, which logs the console
                // out.
                if s.staff(name)?.is_some() {
                    return Ok(());
                }
                s.put_staff(&StaffAccount {
                    username: name.into(),
                    role: StaffRole::parse(role).expect("known role"),
                    password_hash: web::auth::hash_password(DEMO_STAFF_PASSWORD)
                        .map_err(anyhow::Error::msg)?,
                    disabled: false,
                })?;
                Ok(())
            })?;
        }
    }
    // The LAN server runs on a tokio runtime beside the blocking scanner loop.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let link = branch.read(|_, s| s.hub_link()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the hub enrolment");
        None
    });
    // A kiosk enrolled as one of several numbers at the sede's node: it serves no LAN.
    let client = link
        .as_ref()
        .is_some_and(|l| l.role == protocol::wire::DeviceRole::Kiosk);
    let services = serve_branch(config, &branch, &runtime, demo, !client)?;
    watch_branch(&service, &branch, &runtime)?;
    if client {
        // Its clock and devices reach staff through the node's view of it.
    } else if branch.clock().trust() == domain::ClockTrust::Untrusted {
        // Staff see it on the console until the clock is verified.
        branch.execute(queue::Command::RaiseAlert {
            alert: queue::DeviceAlert::ClockUntrusted,
        })?;
    } else {
        branch.execute(queue::Command::ClearAlert {
            alert: queue::DeviceAlert::ClockUntrusted,
        })?;
    }
    let keyer = if demo {
        DemoBranch::keyer()
    } else {
        domain::PersonKeyer::new(config.person_key_secret()?.as_bytes())
            .ok_or_else(|| anyhow::anyhow!("privacy.person_key_secret is too short"))?
    };
    // A device enrolled a moment ago has its branch from its first pull.
    let mut waited = false;
    let kiosk = loop {
        match Kiosk::new(branch.clone()) {
            Ok(k) => break k,
            Err(e) if link.is_some() && branch.read(|_, s| s.sede()).ok().flatten().is_none() => {
                if !waited {
                    tracing::info!(error = %e, "waiting for the branch's configuration from the hub");
                    waited = true;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut kiosk = kiosk.with_keyer(keyer);
    if let Some(base) = &config.branch.follow_base {
        kiosk = kiosk.with_follow_base(base);
    }
    // Il mio Cassetto identifies visitors through the hub; without one it says it needs it.
    if let Some(link) = &link {
        let pins = services
            .hub_pins
            .clone()
            .unwrap_or_else(|| branch::sync::client::HubPins::of(link));
        match kiosk::identify::HubIdentification::new(link, pins, runtime.handle().clone()) {
            Ok(ident) => kiosk = kiosk.with_identification(Arc::new(ident)),
            Err(e) => tracing::warn!(error = %e, "identification through the hub unavailable"),
        }
    }
    // The demo's simulated printer keeps the ESC/POS bytes of every ticket in its folder.
    let demo_printer = config.demo.data_dir.join("printer.bin");
    if let Some(printer) =
        kiosk::devices::printer(&config.printer, demo.then_some(demo_printer.as_path()))?
    {
        kiosk = kiosk.with_printer(printer, kiosk::devices::print_options(&config.printer));
    }
    let scanner_present = Arc::new(std::sync::atomic::AtomicBool::new(true));
    if let (true, Some(link)) = (client, &link) {
        let node_link = Arc::new(branch::remote::NodeLink::default());
        let nudge = Arc::new(tokio::sync::Notify::new());
        let remote = kiosk::remote::RemoteNode::new(
            runtime.handle().clone(),
            &link.device_id,
            link.secret_key,
            node_link.clone(),
            nudge.clone(),
        );
        kiosk = kiosk.with_node(Arc::new(remote));
        let (printer, scanner, clock) = (
            kiosk.printer_state(),
            scanner_present.clone(),
            branch.clock().clone(),
        );
        let health = move || protocol::lan::KioskHealth {
            printer: (*printer.lock().unwrap_or_else(|p| p.into_inner())).to_owned(),
            scanner: if scanner.load(std::sync::atomic::Ordering::Acquire) {
                "present"
            } else {
                "gone"
            }
            .into(),
            clock_trusted: clock.trust() == domain::ClockTrust::Trusted,
            version: env!("CARGO_PKG_VERSION").into(),
        };
        runtime.spawn(branch::remote::run(
            branch.clone(),
            std::time::Duration::from_millis(config.lan.node_sync_ms.max(100)),
            link.device_id.clone(),
            link.secret_key,
            node_link,
            health,
            nudge,
        ));
        tracing::info!(device = %link.device_id, "a kiosk of the sede's node: tickets are numbered there");
    }
    let alerts = (!client).then(|| branch.clone());
    let present = scanner_present.clone();
    let scanner = kiosk::devices::scanner(
        &config.scanner,
        Box::new(move |is_present| {
            present.store(is_present, std::sync::atomic::Ordering::Release);
            let Some(alerts) = &alerts else { return };
            let present = is_present;
            let alert = queue::DeviceAlert::ScannerGone;
            let command = if present {
                queue::Command::ClearAlert { alert }
            } else {
                tracing::warn!("QR scanner gone");
                queue::Command::RaiseAlert { alert }
            };
            if let Err(e) = alerts.execute(command) {
                tracing::warn!(error = %e, "scanner alert not recorded");
            }
        }),
    )?;
    let panel = kiosk::devices::panel(&config.panel).map(|p| Panel {
        panel: p,
        printer: kiosk.printer_state(),
        branch: branch.clone(),
    });
    if !headless {
        return run_ui(kiosk, scanner, panel, &service, &runtime);
    }
    if let Some(panel) = panel {
        // Without a screen only the light, the buzzer and the call button mean anything.
        let (calls, device) = (
            (!client).then(|| branch.clone()),
            branch
                .read(|_, s| s.device().map(|d| d.device_id))
                .unwrap_or_else(|_| "chiosco".into()),
        );
        panel.start(kiosk::panel::PanelHooks {
            call_staff: Box::new(move || {
                calls.as_ref().is_some_and(|b| {
                    b.execute(queue::Command::RequestAssistance {
                        kiosk: device.clone(),
                    })
                    .is_ok()
                })
            }),
            wake: Box::new(|| {}),
            speech: Box::new(|_| {}),
        })?;
    }
    {
        // Nothing to close here but standard input: a stop asked for ends the process, as a
        // power cut would, and every committed ticket is already on disk.
        let service = service.clone();
        runtime.spawn(async move {
            terminated().await;
            service.stopping();
            std::process::exit(0);
        });
    }
    service.ready(&format!("kiosk of sede {} ready (no screen)", kiosk.sede()));
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        println!(
            "Sede {} – scan a booking QR code (or paste its text), type a service letter ({}) for a walk-in ticket, or ? to call a member of staff; Ctrl-D to quit.",
            kiosk.sede(),
            branch
                .read(|q, _| q.services().map(|s| s.letter).collect::<Vec<_>>())
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut scanner = scanner;
    kiosk.run_headless(scanner.as_mut(), &mut std::io::stdout().lock())?;
    service.stopping();
    drop(services);
    Ok(())
}

/// The panel the configuration names, with what its light follows.
pub struct Panel {
    panel: Box<dyn hardware::panel::Panel>,
    printer: Arc<std::sync::Mutex<&'static str>>,
    branch: Arc<Branch>,
}

/// What the kiosk made and has not reached the hub after this long: the light says offline.
const OFFLINE_AFTER_S: i64 = 120;

impl Panel {
    /// Runs the panel on a thread of its own for the life of the process.
    fn start(self, hooks: kiosk::panel::PanelHooks) -> anyhow::Result<()> {
        let Panel {
            panel,
            printer,
            branch,
        } = self;
        // Only an enrolled kiosk has a hub to lose.
        let offline = move || {
            branch.read(|_, s| {
                s.hub_link().ok().flatten().is_some()
                    && s.outbox_oldest_pending()
                        .ok()
                        .flatten()
                        .is_some_and(|t| (chrono::Utc::now() - t).num_seconds() > OFFLINE_AFTER_S)
            })
        };
        std::thread::Builder::new()
            .name("panel".into())
            .spawn(move || {
                static NEVER: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                kiosk::panel::run(panel, printer, offline, hooks, &NEVER)
            })
            .context("cannot start the panel's thread")?;
        Ok(())
    }
}

/// Until the service manager (SIGTERM) or someone at the terminal (SIGINT) asks the process to
/// stop.
async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The loops a branch's process lives by, each with its heart for the watchdog: the branch
/// itself (its lock taken, as every command takes it, so a command stuck on a dead disk stops
/// the beat) and the runtime of its LAN server and sync.
fn watch_branch(
    service: &web::systemd::Service,
    branch: &Arc<Branch>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let every = service.beat_every();
    let heart = service.heart("branch");
    let watched = branch.clone();
    std::thread::Builder::new()
        .name("branch-heart".into())
        .spawn(move || {
            loop {
                watched.read(|_, _| ());
                heart.beat();
                std::thread::sleep(every);
            }
        })
        .context("cannot start the branch's heartbeat")?;
    let heart = service.heart("runtime");
    runtime.spawn(async move {
        loop {
            heart.beat();
            tokio::time::sleep(every).await;
        }
    });
    // Debug builds only: the branch stuck for good on SIGUSR1 (its lock held, as by a write
    // that never returns), to show the watchdog stops being fed.
    #[cfg(debug_assertions)]
    if std::env::var_os("SPORTELLO_DEBUG_WEDGE_ON_SIGUSR1").is_some() {
        let usr1 = {
            let _in = runtime.enter();
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?
        };
        let wedged = branch.clone();
        runtime.spawn(async move {
            let mut usr1 = usr1;
            usr1.recv().await;
            tracing::warn!("SIGUSR1: the branch is stuck from now on");
            std::thread::spawn(move || {
                wedged.with_store(|_| {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                    }
                })
            });
        });
    }
    Ok(())
}

/// What runs beside a branch's flows: the LAN server of a node, and the sync agent of an
/// enrolled device. Dropping it stops the agent.
struct Services {
    _lan: Option<branch::lan::LanServer>,
    _sync: Option<tokio::sync::watch::Sender<bool>>,
    hub_pins: Option<Arc<branch::sync::client::HubPins>>,
}

/// Starts the LAN server (for a node, `serve_lan`) and, once enrolled, the sync agent, which
/// reports to the hub where the node serves the sede's kiosks.
fn serve_branch(
    config: &Config,
    branch: &Arc<Branch>,
    runtime: &tokio::runtime::Runtime,
    demo: bool,
    serve_lan: bool,
) -> anyhow::Result<Services> {
    let mut endpoint = None;
    let lan = if serve_lan && config.lan.enabled {
        let tls = branch::lan::tls::certificate(&config.lan, &config.lan.tls_dir)?;
        let state = branch::lan::AppState::new(
            branch.clone(),
            Arc::new(branch::speech::EspeakNg::default()),
            config.lan.session_hours,
        )
        .with_metrics_token(config.lan.metrics_token.clone());
        let server = runtime.block_on(branch::lan::start(state, &config.lan.listen, &tls))?;
        say(&format!(
            "Console operatori: https://{}/console",
            server.addr
        ));
        say(&format!("Tabellone di sala: https://{}/hall", server.addr));
        if demo {
            println!(
                "Accesso demo: supervisore / {DEMO_STAFF_PASSWORD}, operatore / {DEMO_STAFF_PASSWORD}"
            );
        }
        match config.lan.advertised(server.addr) {
            Some(url) => {
                endpoint = Some(protocol::wire::LanEndpoint {
                    url,
                    key: web::tls::key_pin_of_pem(&tls.cert).map_err(anyhow::Error::msg)?,
                });
            }
            None => tracing::info!(
                "lan.advertise is not set and lan.listen is every address: the sede's other kiosks cannot be told where this node is"
            ),
        }
        Some(server)
    } else {
        None
    };
    // Enrolled devices push their outbox to the hub in the background; nothing waits for it
    // (the branch works through a WAN outage).
    let mut hub_pins = None;
    let sync = match branch.read(|_, s| s.hub_link()) {
        Ok(Some(link)) => {
            let mut agent = branch::sync::agent::Agent::new(branch.clone(), &link)?;
            if let Some(endpoint) = endpoint {
                agent = agent.with_lan(endpoint);
            }
            hub_pins = Some(agent.pins());
            let (stop, stopped) = tokio::sync::watch::channel(false);
            runtime.spawn(agent.run(
                std::time::Duration::from_millis(config.sync.interval_ms),
                std::time::Duration::from_millis(config.sync.max_backoff_ms),
                stopped,
            ));
            tracing::info!(hub = %link.hub_url, device = %link.device_id, "sync agent started");
            Some(stop)
        }
        Ok(None) => {
            tracing::info!("not enrolled with a hub: working on the branch alone");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the hub enrolment");
            None
        }
    };
    Ok(Services {
        _lan: lan,
        _sync: sync,
        hub_pins,
    })
}

/// `sportello node`: the sede's branch node without a screen — the sequencer of its queue,
/// the LAN server of its consoles, hall displays and kiosks, and its sync with the hub — until
/// stopped (SIGINT or SIGTERM).
pub fn node(config: &Config, clock: SystemClock, take_over: bool) -> anyhow::Result<()> {
    let clock = Arc::new(clock);
    let store = Store::open(&config.store.path, &store_options(config))?;
    let branch = Branch::open(store, clock)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if take_over {
        take_over_day(&branch, &runtime)?;
    }
    let service = web::systemd::Service::from_env();
    let services = serve_branch(config, &branch, &runtime, false, true)?;
    anyhow::ensure!(
        services._lan.is_some(),
        "a branch node serves the LAN: set lan.enabled = true"
    );
    watch_branch(&service, &branch, &runtime)?;
    service.ready("branch node ready");
    runtime.block_on(terminated());
    service.stopping();
    tracing::info!("branch node stopping");
    drop(services);
    Ok(())
}

/// Before a replacing node numbers: the branch's configuration from the hub's feed, then what
/// the hub holds of the sede's day, taken over. Nothing is served meanwhile, so no number is
/// given before the node knows the last one given.
fn take_over_day(branch: &Arc<Branch>, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let link = branch
        .read(|_, s| s.hub_link())?
        .context("--take-over needs a node enrolled with the hub (sportello enroll)")?;
    anyhow::ensure!(
        link.role == protocol::wire::DeviceRole::Node,
        "--take-over is for a node; this device is enrolled as a kiosk"
    );
    // A node with a log of its own has numbered before: the flag left in its unit file does
    // nothing, and it starts without the hub.
    if branch.read(|_, s| s.has_queue_events())? {
        tracing::info!("this node has numbered before: nothing to take over");
        return Ok(());
    }
    // One pull at a time, in the foreground: no sync agent runs until the node serves (a
    // background one would still be pushing when the node's own starts).
    let agent = branch::sync::agent::Agent::new(branch.clone(), &link)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Err(e) = runtime.block_on(agent.pull_once()) {
            tracing::warn!(error = %e, "the sede's configuration not pulled yet");
        }
        if branch.read(|_, s| s.sede())?.is_some() {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no branch configuration from the hub within 2 minutes: a node taking over needs the hub"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let client = branch::sync::client::HubClient::with_pins(
        &link.hub_url,
        &link.device_id,
        &link.secret_key,
        agent.pins(),
    )?;
    let today = branch.clock().today();
    let log = runtime
        .block_on(client.day_log(today))
        .context("cannot read the sede's day from the hub")?;
    match branch.take_over(&log) {
        Ok(Some(day)) => {
            let last: Vec<String> = day.last.iter().map(|(s, n)| format!("{s}{n:03}")).collect();
            say(&format!(
                "Giornata ripresa dal nodo {}: ultimi numeri {}; {} blocchi dei chioschi; {} biglietti ancora in attesa",
                day.from,
                last.join(", "),
                day.leases.len(),
                day.open.len()
            ));
            tracing::info!(from = %day.from, open = day.open.len(), "day taken over");
        }
        Ok(None) => say("Nessun biglietto di oggi da riprendere presso l'hub."),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The touchscreen UI; scans arrive from the scanner on a thread of their own.
pub fn run_ui(
    kiosk: Kiosk,
    mut scanner: Box<dyn hardware::scanner::Scanner + Send>,
    panel: Option<Panel>,
    service: &Arc<web::systemd::Service>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let sede = kiosk.sede().to_string();
    let voice = Arc::new(kiosk::guide::Speaker::new(Arc::new(
        branch::speech::EspeakNg::default(),
    )));
    let mut ui = kiosk::ui::KioskUi::build(
        kiosk,
        kiosk::ui::Dispatch::Worker,
        voice,
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the kiosk window ({e}); on a machine without a display run `sportello kiosk --headless`"
        )
    })?;
    let scans = ui.scan_handle();
    std::thread::spawn(move || {
        loop {
            match scanner.next_scan() {
                Ok(Some(line)) if !line.trim().is_empty() => scans.scanned(line.trim()),
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, "the scanner stopped");
                    return;
                }
            }
        }
    });
    if let Some(panel) = panel {
        panel.start(ui.panel_hooks())?;
    }
    if let Some(backlight) =
        hardware::screen::SysfsBacklight::find(std::path::Path::new("/sys/class/backlight"))
    {
        ui = ui.with_backlight(Box::new(backlight));
    }
    let heart = service.heart("ui");
    ui.every(service.beat_every(), move || heart.beat());
    {
        let (service, close) = (service.clone(), ui.closer());
        runtime.spawn(async move {
            terminated().await;
            service.stopping();
            close();
        });
    }
    ui.refresh();
    service.ready(&format!("kiosk of sede {sede} ready"));
    ui.run()?;
    service.stopping();
    Ok(())
}

/// Renders screens to PNG without a display, over a throwaway demo branch.
#[allow(clippy::too_many_arguments)]
pub fn screenshot(
    config: &Config,
    screen: &str,
    lang: &str,
    size: &str,
    contrast: Option<&str>,
    large_text: bool,
    seated: bool,
    out: &Path,
) -> anyhow::Result<()> {
    use kiosk::screenshot::{Renderer, SCREENS, Shot, screen_named};
    let (width, height) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| (320..=4096).contains(w) && (320..=4096).contains(h))
        .ok_or_else(|| anyhow::anyhow!("--size is WIDTHxHEIGHT, e.g. 1920x1080, not {size}"))?;
    let high_contrast = match contrast {
        None | Some("normal") => false,
        Some("high") => true,
        Some(other) => anyhow::bail!("--contrast is `normal` or `high`, not {other}"),
    };
    let dir = std::env::temp_dir().join(format!("sportello-screenshot-{}", std::process::id()));
    let mut demo_config = config.clone();
    demo_config.demo.data_dir = dir.clone();
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let store = demo_data(&demo_config, clock.as_ref())?;
    let branch = Branch::open(store, clock)?;
    let renderer = Renderer::install().map_err(anyhow::Error::msg)?;
    let ui = kiosk::ui::KioskUi::new(Kiosk::new(branch)?)?;
    let shots: Vec<(Shot, PathBuf)> = if screen == "all" {
        std::fs::create_dir_all(out)?;
        SCREENS
            .iter()
            .flat_map(|(name, s)| {
                ["it", "en"].map(|l| {
                    (
                        Shot {
                            screen: *s,
                            lang: l.into(),
                            width,
                            height,
                            high_contrast,
                            large_text,
                            seated,
                        },
                        out.join(format!("kiosk-{name}-{l}.png")),
                    )
                })
            })
            .collect()
    } else {
        let s = screen_named(screen).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown screen {screen}; one of: all, {}",
                SCREENS.map(|(n, _)| n).join(", ")
            )
        })?;
        vec![(
            Shot {
                screen: s,
                lang: lang.into(),
                width,
                height,
                high_contrast,
                large_text,
                seated,
            },
            out.to_owned(),
        )]
    };
    for (shot, path) in shots {
        let png = renderer.render(&ui, &shot).map_err(anyhow::Error::msg)?;
        std::fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    drop(ui);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Password of the demo staff accounts (demo mode listens on this machine only by default).
pub const DEMO_STAFF_PASSWORD: &str = "sportello-demo";

pub fn add_staff(
    path: &Path,
    options: &StoreOptions,
    username: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<()> {
    let role = StaffRole::parse(role)
        .ok_or_else(|| anyhow::anyhow!("role must be `operator` or `supervisor`, not `{role}`"))?;
    let username = username.trim();
    web::auth::check_username(username).map_err(anyhow::Error::msg)?;
    web::auth::check_password_strength(password)
        .map_err(|e| anyhow::anyhow!("{e} (read from standard input)"))?;
    let mut store = Store::open(path, options)?;
    store.put_staff(&StaffAccount {
        username: username.into(),
        role,
        password_hash: web::auth::hash_password(password).map_err(anyhow::Error::msg)?,
        disabled: false,
    })?;
    Ok(())
}

pub fn stress_tickets(db: &Path, count: u32, clock: SystemClock) -> anyhow::Result<()> {
    use std::io::Write;
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

/// A line for whoever started the node: if its standard output is gone (a closed pipe), the
/// line is lost, and the sede's queue goes on — `println!` would panic.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
