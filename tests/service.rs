//! The binary under a service manager: what it says on the notification socket systemd gives a
//! `Type=notify` unit (`READY=1`, `WATCHDOG=1`, `STOPPING=1`), here a socket of the test's own.
//! The watchdog is fed while the kiosk is busy and starves when its branch is stuck.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod support;

/// What the "manager" heard, and when.
struct Manager {
    _dir: tempfile::TempDir,
    heard: mpsc::Receiver<(Instant, String)>,
    socket: std::path::PathBuf,
}

impl Manager {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("notify");
        let sock = UnixDatagram::bind(&socket).unwrap();
        let (tx, heard) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = sock.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send((Instant::now(), text)).is_err() {
                    return;
                }
            }
        });
        Self {
            _dir: dir,
            heard,
            socket,
        }
    }

    /// The next message that has `line` among its lines, within `within`.
    fn wait_for(&self, line: &str, within: Duration) -> (Instant, String) {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.heard.recv_timeout(left) {
                Ok((at, m)) if m.lines().any(|l| l == line) => return (at, m),
                Ok(_) => {}
                Err(_) => panic!("no {line} within {within:?}"),
            }
        }
    }

    /// Every watchdog ping heard until `until`.
    fn pings_until(&self, until: Instant) -> Vec<Instant> {
        let mut pings = Vec::new();
        while let Ok((at, m)) = self
            .heard
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            if m.lines().any(|l| l == "WATCHDOG=1") {
                pings.push(at);
            }
        }
        pings
    }
}

/// A headless demo kiosk as systemd would start it, with a watchdog of `watchdog`.
fn kiosk(manager: &Manager, data: &std::path::Path, watchdog: Duration) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sportello"));
    cmd.env_remove("RUST_LOG")
        .env_remove("SPORTELLO_CONFIG")
        .env_remove("WATCHDOG_PID")
        .env("NOTIFY_SOCKET", &manager.socket)
        .env("WATCHDOG_USEC", watchdog.as_micros().to_string())
        .args(["--clock-from", support::MORNING])
        .args(support::HEADLESS_DEMO_KIOSK)
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

fn terminate(child: &Child) {
    // SAFETY: a plain kill(2) of our own child.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

fn largest_gap(from: Instant, pings: &[Instant], to: Instant) -> Duration {
    let mut last = from;
    let mut gap = Duration::ZERO;
    for &p in pings.iter().chain(std::iter::once(&to)) {
        gap = gap.max(p.saturating_duration_since(last));
        last = p;
    }
    gap
}

#[test]
fn ready_then_fed_while_busy_then_stopping_on_sigterm() {
    let manager = Manager::new();
    let dir = tempfile::tempdir().unwrap();
    // Fed every 500 ms; systemd would restart after 2 s without a ping.
    let watchdog = Duration::from_secs(2);
    let mut child = kiosk(&manager, &dir.path().join("demo"), watchdog)
        .spawn()
        .unwrap();
    let (_, ready) = manager.wait_for("READY=1", Duration::from_secs(60));
    assert!(
        ready.lines().any(|l| l.starts_with("STATUS=kiosk of sede")),
        "{ready}"
    );
    manager.wait_for("WATCHDOG=1", Duration::from_secs(5));

    // Busy: 200 walk-in tickets as fast as the kiosk takes them, each committed with an fsync.
    let start = Instant::now();
    let mut stdin = child.stdin.take().unwrap();
    let lines: String = ["P", "R", "F", "V"]
        .iter()
        .cycle()
        .take(200)
        .map(|l| format!("{l}\n"))
        .collect();
    stdin.write_all(lines.as_bytes()).unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let tickets = stdout
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.starts_with("BIGLIETTO "))
            .take(200)
            .count();
        let _ = done_tx.send((tickets, Instant::now()));
    });
    let (tickets, finished) = done.recv_timeout(Duration::from_secs(120)).unwrap();
    assert_eq!(tickets, 200);
    let pings = manager.pings_until(Instant::now() + Duration::from_millis(600));
    let busy: Vec<Instant> = pings.iter().copied().filter(|&p| p <= finished).collect();
    assert!(
        largest_gap(start, &busy, finished) < watchdog,
        "the watchdog went hungry while the kiosk was busy: pings at {:?} over {:?}",
        busy.iter().map(|p| *p - start).collect::<Vec<_>>(),
        finished - start
    );

    terminate(&child);
    manager.wait_for("STOPPING=1", Duration::from_secs(10));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    drop(stdin);
}

/// Debug builds only: with `SPORTELLO_DEBUG_WEDGE_ON_SIGUSR1`, SIGUSR1 makes the kiosk hold its
/// branch's lock for good, as a write stuck on a dead disk would.
#[cfg(debug_assertions)]
#[test]
fn a_stuck_branch_starves_the_watchdog() {
    let manager = Manager::new();
    let dir = tempfile::tempdir().unwrap();
    let watchdog = Duration::from_millis(400);
    let mut child = kiosk(&manager, &dir.path().join("demo"), watchdog)
        .env("SPORTELLO_DEBUG_WEDGE_ON_SIGUSR1", "1")
        .spawn()
        .unwrap();
    let (ready, _) = manager.wait_for("READY=1", Duration::from_secs(60));
    let fed = manager.pings_until(ready + Duration::from_millis(1000));
    assert!(
        fed.len() >= 3,
        "fed {} times before the branch stuck",
        fed.len()
    );
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) },
        0
    );
    // The pinger gives up half the watchdog time after the last beat; after that, for two
    // whole periods, nothing more may come.
    let _ = manager.pings_until(Instant::now() + watchdog);
    let after = manager.pings_until(Instant::now() + 2 * watchdog);
    assert!(
        after.is_empty(),
        "the watchdog was fed {} times by a kiosk whose branch is stuck",
        after.len()
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process is alive: restarting it is the manager's job"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
