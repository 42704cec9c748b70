//! The abuse harness against the real kiosk process on loopback: what someone on the lobby's
//! LAN can throw at it, each attack bounded in count and time. The figures are in
//! `docs/security.md`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

/// The kiosk, headless on the demo branch, with its LAN server on a free loopback port.
struct Kiosk {
    child: Child,
    base: String,
    client: reqwest::Client,
}

impl Kiosk {
    fn start(data: &Path) -> Kiosk {
        support::install_crypto();
        let mut child = Process::new(env!("CARGO_BIN_EXE_sportello"))
            .args([
                "--clock-from",
                support::MORNING,
                "kiosk",
                "--demo",
                "--headless",
                "--lan-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the kiosk prints its console address")
                .unwrap();
            if let Some(url) = line.strip_prefix("Console operatori: ") {
                break url.trim_end_matches("/console").to_string();
            }
        };
        // Keep reading so the kiosk never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        let cert = std::fs::read(data.join("tls/lan.crt")).unwrap();
        let client = support::client(&web::tls::TlsPem {
            cert,
            key: Vec::new(),
        });
        Kiosk {
            child,
            base,
            client,
        }
    }

    /// A line of `/proc/<pid>/status`, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"))
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 300 wrong passwords at once for one account, from one address: no more guesses are checked
/// than the limit allows, and the hashing they cost does not push the kiosk's memory up (each
/// argon2 check takes about 19 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_logins_checks_no_more_guesses_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let kiosk = Kiosk::start(&dir.path().join("demo"));
    // Warm up: the login page and one right login, so what follows is the burst's own cost.
    let r = kiosk
        .client
        .post(format!("{}/login", kiosk.base))
        .form(&[("username", "operatore"), ("password", "sportello-demo")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the demo operator logs in");
    let rest = kiosk.status_kib("VmRSS:");

    let burst: Vec<_> = (0..300)
        .map(|i| {
            let (c, base) = (kiosk.client.clone(), kiosk.base.clone());
            tokio::spawn(async move {
                c.post(format!("{base}/login"))
                    .form(&[
                        ("username", "supervisore".to_owned()),
                        ("password", format!("tentativo-{i}")),
                    ])
                    .timeout(std::time::Duration::from_secs(60))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for task in burst {
        let status = task.await.unwrap().expect("every attempt is answered");
        *answers.entry(status).or_default() += 1;
    }
    let peak = kiosk.status_kib("VmHWM:");
    let checked = answers.get(&401).copied().unwrap_or(0);
    let grown_mib = peak.saturating_sub(rest) / 1024;
    println!(
        "burst of 300: {answers:?}, peak RSS +{grown_mib} MiB over {} MiB",
        rest / 1024
    );
    assert!(
        checked <= web::auth::MAX_FAILURES,
        "guesses checked: {checked}, answers {answers:?}"
    );
    assert!(
        answers.keys().all(|s| [401, 429, 503].contains(s)),
        "{answers:?}"
    );
    assert!(
        grown_mib < 100,
        "peak RSS {} MiB over the rest's {} MiB",
        grown_mib,
        rest / 1024
    );
    // The account stays locked for the right password too.
    let r = kiosk
        .client
        .post(format!("{}/login", kiosk.base))
        .form(&[("username", "supervisore"), ("password", "sportello-demo")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}
