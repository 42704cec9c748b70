//! The hub installed from the command line: the first administrator, a kiosk enrolled with the CLI.

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_administrator_is_created_with_a_strong_password_and_audited() {
    let hub = Hub::start(1).await;
    let mut c = hub.pool.get().await.unwrap();
    let weak =
        accounts::create_user(&mut c, "cli", "root", "short", accounts::Role::Admin, None).await;
    assert!(weak.is_err());
    let branchless = accounts::create_user(
        &mut c,
        "cli",
        "sup",
        STAFF_PASSWORD,
        accounts::Role::Supervisor,
        None,
    )
    .await;
    assert!(branchless.unwrap_err().to_string().contains("--branch"));
    accounts::create_user(
        &mut c,
        "cli",
        "root",
        STAFF_PASSWORD,
        accounts::Role::Admin,
        None,
    )
    .await
    .unwrap();
    accounts::create_user(
        &mut c,
        "root",
        "sup",
        STAFF_PASSWORD,
        accounts::Role::Supervisor,
        Some(SEDE),
    )
    .await
    .unwrap();
    let row = c
        .query_one(
            "SELECT password_hash FROM hub_user WHERE username = 'root'",
            &[],
        )
        .await
        .unwrap();
    let hash: String = row.get(0);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM audit_log WHERE action = 'user.create'"
        )
        .await,
        2
    );
}

/// Everything as real processes, the way an installer goes: the first administrator, an
/// enrolment code, the hub, `sportello enroll` on the kiosk, then the kiosk running: the ticket
/// it issues reaches the hub through its agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installing_a_hub_and_enrolling_a_kiosk_with_the_cli() {
    use std::io::{BufRead, Write};
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        format!(
            // With a public address (the built-in provider is asked for below).
            "[hub]\ndatabase_url = {:?}\ntls_dir = {:?}\nlisten = \"127.0.0.1:0\"\n\
             public_url = \"https://hub.example\"\nkey_encryption_key = {:?}\n",
            db.url,
            dir.path().join("tls").to_str().unwrap(),
            dir.path().join("keys/kek").to_str().unwrap(),
        ),
    )
    .unwrap();
    let admin = |args: &[&str], stdin: &str| {
        let mut child = sportello()
            .arg("--config")
            .arg(&config)
            .arg("admin")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = admin(
        &["create-user", "--username", "root", "--role", "admin"],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 10 characters"));
    let ok = admin(
        &["create-user", "--username", "root", "--role", "admin"],
        "una password lunga\n",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let reset = admin(
        &["reset-password", "--username", "root"],
        "un'altra password lunga\n",
    );
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let unknown = admin(
        &["reset-password", "--username", "nessuno"],
        "un'altra password lunga\n",
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account nessuno"));
    let seeded = admin(&["seed-demo", "--at", support::MORNING], "");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    assert!(String::from_utf8_lossy(&seeded.stdout).contains("12 appointments"));
    let restarted = admin(&["new-feed-epoch"], "");
    assert!(
        restarted.status.success(),
        "{}",
        String::from_utf8_lossy(&restarted.stderr)
    );
    assert!(String::from_utf8_lossy(&restarted.stdout).contains("feed restarted for 1 branches"));
    let code = admin(&["enrolment-code", "--branch", "7001"], "");
    assert!(
        code.status.success(),
        "{}",
        String::from_utf8_lossy(&code.stderr)
    );
    let code = String::from_utf8(code.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 19, "{code}");

    // A public address and no provider: the hub does not fall back to demo identities.
    let refused = sportello()
        .arg("--config")
        .arg(&config)
        .arg("hub")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("hub.demo_identity = true"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("demo_identity = true\n");
    std::fs::write(&config, text).unwrap();
    // Its service manager's notification socket, as systemd gives a Type=notify unit.
    let notify = std::os::unix::net::UnixDatagram::bind(dir.path().join("notify")).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut hub = Child(
        sportello()
            .arg("--config")
            .arg(&config)
            .arg("hub")
            .env("NOTIFY_SOCKET", dir.path().join("notify"))
            .env("WATCHDOG_USEC", "400000")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(hub.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().strip_prefix("Hub: ").unwrap().to_owned();
    // The built-in provider answers, under the public address.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hub_cert = std::fs::read(dir.path().join("tls/hub.crt")).unwrap();
    let discovery: serde_json::Value = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&hub_cert).unwrap()])
        .build()
        .unwrap()
        .get(format!("{url}/idp/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], "https://hub.example/idp");

    // The key-encryption key was made at first start, for its owner's eyes only; the booking
    // key rotates on demand.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("keys/kek"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    for expected in ["booking key 101 signs", "booking key 102 signs"] {
        let rotated = admin(&["rotate-keys"], "");
        assert!(
            String::from_utf8_lossy(&rotated.stdout).contains(expected),
            "{}{}",
            String::from_utf8_lossy(&rotated.stdout),
            String::from_utf8_lossy(&rotated.stderr)
        );
    }

    // A reset from the command line logs out whoever was in with the old password.
    let browser = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&hub_cert).unwrap()])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser
        .post(format!("{url}/console/login"))
        .form(&[
            ("username", "root"),
            ("password", "un'altra password lunga"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let console = || {
        browser
            .get(format!("{url}/console"))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(console().await.unwrap().status(), StatusCode::OK);
    let reset = admin(
        &["reset-password", "--username", "root"],
        "una terza password lunga\n",
    );
    assert!(reset.status.success());
    let r = console().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old session is over");
    assert_eq!(r.headers()["location"], "/console/login");

    let data = dir.path().join("demo");
    // The demo's appointments are the morning's, whatever the hour the test runs at.
    let out = sportello()
        .args(["--clock-from", support::MORNING, "demo-data", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = sportello()
        .args(["enroll", "--hub", &url, "--code", &code, "--db"])
        .arg(data.join("kiosk.sqlite"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("enrolled as kiosk-7001-"));
    // The code is spent.
    let again = sportello()
        .args(["enroll", "--hub", &url, "--code", &code, "--db"])
        .arg(data.join("kiosk.sqlite"))
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not valid"));

    let mut kiosk = Child(
        sportello()
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
            .arg(&data)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let demo = demo::DemoBranch::generate(
        2026,
        domain::Clock::local_now(&support::morning_clock()).naive_local(),
    );
    writeln!(
        kiosk.0.stdin.as_mut().unwrap(),
        "{}",
        demo.appointments[1].token
    )
    .unwrap();
    let pool = db::pool(&db.url, 2).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let checked_in = count(
            &pool,
            "SELECT count(*) FROM queue_event WHERE kind = 'ticket_issued'",
        )
        .await;
        if checked_in >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the check-in never reached the hub"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(kiosk);

    // Ready once it listened, the watchdog fed, and a clean stop on the manager's SIGTERM.
    let heard = |until: &str| {
        let mut buf = [0u8; 512];
        let mut all = String::new();
        while !all.lines().any(|l| l == until) {
            let n = notify
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no {until} from the hub ({e}); heard {all:?}"));
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            all.push('\n');
        }
        all
    };
    let started = heard("READY=1");
    assert!(started.contains("STATUS=hub on "), "{started}");
    heard("WATCHDOG=1");
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(
        unsafe { libc::kill(hub.0.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    heard("STOPPING=1");
    let status = hub.0.wait().unwrap();
    assert!(status.success(), "the hub stopped with {status}");
}
