//! Shared by the LAN tests: a branch on a real SQLite file, its LAN server on loopback over real
//! TLS, and HTTPS clients that trust exactly that server's certificate.

#![allow(dead_code)]

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use branch::lan::{AppState, LanServer};
use branch::node::Branch;
use branch::speech::EspeakNg;
use demo::DemoBranch;
use domain::{Clock, SystemClock};
use store::{StaffAccount, StaffRole, Store, StoreOptions};
use web::auth;
use web::tls::{TlsPem, self_signed};

pub const PASSWORD: &str = "una password lunga";

/// A headless demo kiosk with its LAN server on a free port, its data in the folder that
/// follows these arguments.
#[allow(dead_code)]
pub const HEADLESS_DEMO_KIOSK: [&str; 6] = [
    "kiosk",
    "--demo",
    "--headless",
    "--lan-listen",
    "127.0.0.1:0",
    "--data-dir",
];

/// The instant the tests' kiosks start their clocks at: a Tuesday mid-morning, inside the
/// walk-in hours, with the demo's appointments all on the day. A test that read the wall clock
/// would pass or fail by the hour CI happens to run (late evening, the demo's appointments
/// spill into the next day).
pub const MORNING: &str = "2026-03-10T10:00:00+01:00";

/// A kiosk clock started at [`MORNING`].
pub fn morning_clock() -> SystemClock {
    let start = chrono::DateTime::parse_from_rfc3339(MORNING).unwrap();
    SystemClock::starting_at(start.to_utc())
}

pub struct Lan {
    pub branch: Arc<Branch>,
    /// What the sede's other kiosks last reported to this node.
    pub kiosks: branch::lan::KioskReports,
    pub server: LanServer,
    pub tls: TlsPem,
    pub base: String,
    pub demo: DemoBranch,
}

pub fn install_crypto() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn open_branch(dir: &Path) -> (Arc<Branch>, DemoBranch) {
    let clock = Arc::new(morning_clock());
    clock.mark_trusted();
    open_branch_on(dir, clock)
}

/// The branch of `dir` on a given clock.
pub fn open_branch_on(dir: &Path, clock: Arc<dyn Clock>) -> (Arc<Branch>, DemoBranch) {
    let mut store = Store::open(&dir.join("kiosk.sqlite"), &StoreOptions::default()).unwrap();
    let demo = DemoBranch::generate(7, clock.local_now().naive_local());
    store.apply_replica(&demo.replica()).unwrap();
    for (name, role) in [
        ("operatore1", StaffRole::Operator),
        ("operatore2", StaffRole::Operator),
        ("supervisore", StaffRole::Supervisor),
    ] {
        // A restart keeps the accounts: a new hash would be a new password, which ends the
        // account's sessions.
        if store.staff(name).unwrap().is_some() {
            continue;
        }
        store
            .put_staff(&StaffAccount {
                username: name.into(),
                role,
                password_hash: auth::hash_password(PASSWORD).unwrap(),
                disabled: false,
            })
            .unwrap();
    }
    (Branch::open(store, clock).unwrap(), demo)
}

pub async fn start(dir: &Path) -> Lan {
    start_at(dir, "127.0.0.1:0", self_signed().unwrap()).await
}

/// Starts (or, after a shutdown, restarts) the branch of `dir` on `listen` with `tls`.
pub async fn start_at(dir: &Path, listen: &str, tls: TlsPem) -> Lan {
    start_configured(dir, listen, tls, |s| s).await
}

/// The same, the server's state set up by `configure` as its configuration would.
pub async fn start_configured(
    dir: &Path,
    listen: &str,
    tls: TlsPem,
    configure: impl FnOnce(AppState) -> AppState,
) -> Lan {
    install_crypto();
    let (branch, demo) = open_branch(dir);
    serve(branch, demo, listen, tls, configure).await
}

/// The branch of `dir` on `clock` (a test that moves time itself), on a free port.
pub async fn start_on(dir: &Path, clock: Arc<dyn Clock>) -> Lan {
    install_crypto();
    let (branch, demo) = open_branch_on(dir, clock);
    serve(branch, demo, "127.0.0.1:0", self_signed().unwrap(), |s| s).await
}

async fn serve(
    branch: Arc<Branch>,
    demo: DemoBranch,
    listen: &str,
    tls: TlsPem,
    configure: impl FnOnce(AppState) -> AppState,
) -> Lan {
    let state = configure(AppState::new(
        branch.clone(),
        Arc::new(EspeakNg::default()),
        8,
    ));
    let kiosks = state.kiosks.clone();
    let server = branch::lan::start(state, listen, &tls).await.unwrap();
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    Lan {
        branch,
        kiosks,
        server,
        tls,
        base,
        demo,
    }
}

/// A client that trusts only the server's own certificate and follows no redirects.
pub fn client(tls: &TlsPem) -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A logged-in staff member.
pub struct Session {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    pub async fn login(lan: &Lan, username: &str) -> Session {
        Self::login_at(client(&lan.tls), &lan.base, username, PASSWORD).await
    }

    pub async fn login_at(
        client: reqwest::Client,
        base: &str,
        username: &str,
        password: &str,
    ) -> Session {
        let r = client
            .post(format!("{base}/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "login of {username}");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        let page = client
            .get(format!("{base}/console"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("data-csrf=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("the console carries the CSRF token")
            .to_string();
        Session {
            client,
            base: base.to_string(),
            cookie,
            csrf,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Posts a console command as the page's JavaScript does; returns (status, ok, message).
    pub async fn command(&self, fields: &[(&str, &str)]) -> (u16, bool, String) {
        self.try_command(fields).await.unwrap()
    }

    /// The same, with the transport error when the server is gone.
    pub async fn try_command(
        &self,
        fields: &[(&str, &str)],
    ) -> Result<(u16, bool, String), reqwest::Error> {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        form.extend_from_slice(fields);
        let r = self
            .client
            .post(format!("{}/console/command", self.base))
            .header("cookie", &self.cookie)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await?;
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await?;
        Ok((
            status,
            v["ok"].as_bool().unwrap(),
            v["message"].as_str().unwrap().to_string(),
        ))
    }

    /// Calls the next ticket at `counter` and serves it; returns its number.
    pub async fn call_and_serve(&self, counter: &str) -> String {
        let (_, ok, called) = self
            .command(&[("action", "call_next"), ("counter", counter)])
            .await;
        assert!(ok, "{called}");
        let ticket = called.split_whitespace().nth(1).unwrap().to_string();
        self.serve(counter, &ticket).await;
        ticket
    }

    /// Serves `ticket` at `counter`.
    pub async fn serve(&self, counter: &str, ticket: &str) {
        let (_, ok, message) = self
            .command(&[
                ("action", "serve"),
                ("counter", counter),
                ("ticket", ticket),
            ])
            .await;
        assert!(ok, "{message}");
    }
}

/// The real kiosk process, headless on the demo branch, with its LAN server on a free loopback
/// port; killed when dropped.
pub struct KioskProcess {
    pub child: std::process::Child,
    /// `https://127.0.0.1:port` of its LAN server.
    pub base: String,
    /// A client that trusts the LAN server's certificate.
    pub client: reqwest::Client,
    /// That certificate, PEM.
    pub cert: Vec<u8>,
    /// A line for each ticket the kiosk answers.
    pub tickets: std::sync::mpsc::Receiver<String>,
}

impl KioskProcess {
    pub fn start(data: &Path) -> KioskProcess {
        install_crypto();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"))
            .args([
                "--clock-from",
                MORNING,
                "kiosk",
                "--demo",
                "--headless",
                "--lan-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the kiosk prints its console address")
                .unwrap();
            if let Some(url) = line.strip_prefix("Console operatori: ") {
                break url.trim_end_matches("/console").to_string();
            }
        };
        // Keep reading so the kiosk never blocks on a full pipe; report each ticket.
        let (tx, tickets) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.starts_with("BIGLIETTO") {
                    let _ = tx.send(line);
                }
            }
        });
        let cert = std::fs::read(data.join("tls/lan.crt")).unwrap();
        let client = client(&web::tls::TlsPem {
            cert: cert.clone(),
            key: Vec::new(),
        });
        KioskProcess {
            child,
            base,
            client,
            cert,
            tickets,
        }
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// File descriptors the kiosk has open.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// A walk-in ticket taken at the kiosk (its scanner input), and how long it took.
    pub fn walk_in(&mut self) -> std::time::Duration {
        use std::io::Write;
        let started = std::time::Instant::now();
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(b"P\n").unwrap();
        stdin.flush().unwrap();
        self.tickets
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the kiosk answers the walk-in");
        started.elapsed()
    }

    /// A line of `/proc/<pid>/status`, in KiB.
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"))
    }
}

impl Drop for KioskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The branch's devices as the hub's feed would list them (`None`: removed), from feed
/// sequence `seq` on.
pub fn list_devices(
    branch: &Branch,
    seq: i64,
    devices: &[(String, Option<protocol::wire::DevicePayload>)],
) {
    let changes: Vec<protocol::wire::FeedChange> = devices
        .iter()
        .enumerate()
        .map(|(i, (id, d))| protocol::wire::FeedChange {
            seq: seq + i as i64,
            entity: protocol::wire::ENTITY_DEVICE.into(),
            entity_id: id.clone(),
            op: if d.is_some() { "put" } else { "remove" }.into(),
            schema_version: 1,
            payload: d.as_ref().map(|d| serde_json::to_value(d).unwrap()),
        })
        .collect();
    branch
        .apply_feed("branch", &changes, seq + devices.len() as i64, "epoch-1")
        .unwrap();
}

/// A real Prometheus server (Debian's `prometheus`) scraping one HTTPS target every second with
/// a bearer token, as a sede's or the fleet's monitoring would; killed when dropped.
#[allow(dead_code)]
pub struct Prometheus {
    child: std::process::Child,
    api: String,
    _dir: tempfile::TempDir,
}

#[allow(dead_code)]
impl Prometheus {
    /// Scrapes `https://{target}/metrics`, trusting `ca_pem`, with `token`.
    pub fn scraping(target: &str, ca_pem: &[u8], token: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        std::fs::write(dir.path().join("token"), token).unwrap();
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sportello\n    scheme: https\n\
                 \x20   tls_config:\n      ca_file: {ca}\n      server_name: localhost\n\
                 \x20   authorization:\n      credentials_file: {token}\n\
                 \x20   static_configs:\n      - targets: ['{target}']\n",
                ca = dir.path().join("ca.pem").display(),
                token = dir.path().join("token").display(),
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("prometheus ({e}): install Debian's prometheus (scripts/system-deps --test)")
            });
        Prometheus {
            child,
            api: format!("http://127.0.0.1:{port}/api/v1"),
            _dir: dir,
        }
    }

    /// The target's health and the samples of `query` once a scrape has them, within 30 s:
    /// each sample's labels (as JSON) and value.
    pub async fn query(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        let http = reqwest::Client::new();
        let json = |r: reqwest::RequestBuilder| async move {
            r.send().await.ok()?.json::<serde_json::Value>().await.ok()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut last = String::new();
        loop {
            if let Some(t) = json(http.get(format!("{}/targets", self.api))).await {
                last = t["data"]["activeTargets"][0]["lastError"].to_string();
            }
            let found = json(
                http.post(format!("{}/query", self.api))
                    .form(&[("query", query)]),
            )
            .await;
            if let Some(r) = found
                && let Some(samples) = r["data"]["result"].as_array()
                && !samples.is_empty()
            {
                return samples
                    .iter()
                    .map(|s| {
                        (
                            s["metric"].clone(),
                            s["value"][1].as_str().unwrap().parse().unwrap(),
                        )
                    })
                    .collect();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "Prometheus has no {query} after 30 s; the target's last error: {last}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
