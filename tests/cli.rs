//! The `sportello` binary as users and operators run it: demo flows, logs, crashes.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

use demo::DemoBranch;
use domain::Clock;
use store::{Store, StoreOptions};

/// The program, its kiosk clock at the tests' morning: what the demo generates depends on the
/// hour.
fn sportello() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sportello"));
    cmd.env_remove("RUST_LOG").env_remove("SPORTELLO_CONFIG");
    cmd.args(["--clock-from", support::MORNING]);
    cmd
}

#[test]
fn help_and_version() {
    let out = sportello().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sportello "));
    let out = sportello().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["kiosk", "demo-data"] {
        assert!(help.contains(cmd), "{help}");
    }
    assert!(
        !help.contains("stress-tickets"),
        "internal commands stay hidden"
    );
}

#[test]
fn a_bad_configuration_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[store]\npaht = \"/tmp/x\"\n").unwrap();
    let out = sportello()
        .args(["--config"])
        .arg(&cfg)
        .arg("demo-data")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("paht") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn demo_flows_leave_no_personal_data_in_logs_or_kiosk_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = sportello()
        .args(["--log-format", "json", "demo-data", "--data-dir"])
        .arg(&data)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut logs =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let qr_files = std::fs::read_dir(data.join("qr")).unwrap().count();
    assert_eq!(qr_files, 12);

    // The same generator, seed and key: tokens for the same bookings.
    let clock = support::morning_clock();
    let branch = DemoBranch::generate(2026, clock.local_now().naive_local());
    let mut input: Vec<String> = branch
        .appointments
        .iter()
        .map(|a| a.token.clone())
        .collect();
    input.push(branch.appointments[1].token.clone());
    input.extend(["P", "A", "SP1:NOTBASE45!!", "https://example.org/x", "?"].map(String::from));
    let mut child = sportello()
        .args([
            "--log-format",
            "json",
            "kiosk",
            "--demo",
            "--headless",
            "--lan-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all((input.join("\n") + "\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    logs += &stdout;
    assert_eq!(
        std::fs::read_dir(data.join("qr")).unwrap().count(),
        12,
        "no stale QR codes"
    );
    logs += &String::from_utf8_lossy(&out.stderr);

    // The flows really ran: each appointment got a ticket, the repeat was a reprint, the walk-in
    // got a number, the appointment-only service and the garbage were refused.
    // Ten appointments inside their check-in window, a reprint, a walk-in; the one past its
    // window and the one not yet open are refused with their reasons.
    assert_eq!(stdout.matches("BIGLIETTO").count(), 10 + 1 + 1, "{stdout}");
    assert!(stdout.contains("scaduto da più di 15 minuti"), "{stdout}");
    assert!(stdout.contains("è presto"), "{stdout}");
    assert_eq!(stdout.matches("ristampa").count(), 1, "{stdout}");
    assert!(stdout.contains("solo su appuntamento"), "{stdout}");
    assert!(stdout.contains("illeggibile"), "{stdout}");
    assert!(stdout.contains("non è una prenotazione INPS"), "{stdout}");
    assert!(
        stdout.contains("Un operatore è stato avvisato"),
        "the call for staff reached the console: {stdout}"
    );
    assert!(
        logs.contains("\"level\":\"INFO\""),
        "JSON logs were captured"
    );

    let mut kiosk_files = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            kiosk_files.push(std::fs::read(&path).unwrap());
        }
    }
    for secret in branch.sensitive_strings() {
        assert!(
            !logs.contains(&secret),
            "logs contain demo identifier {secret}"
        );
        for bytes in &kiosk_files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a kiosk file contains demo identifier {secret}"
            );
        }
    }
}

/// Kills a child issuing tickets at random moments, 50 times, and checks that every number it
/// reported (printed only after its commit) is stored, that no number is reused or skipped,
/// and that the event log and the outbox have one row per event with no gap.
#[test]
fn kill_9_while_issuing_tickets_loses_and_reuses_no_number() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.sqlite");
    let mut reported: Vec<String> = Vec::new();
    let mut rng = fastrand::Rng::with_seed(50);
    for _ in 0..50 {
        let mut child = sportello()
            .args(["stress-tickets", "--count", "100000", "--db"])
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.u64(20..120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reported.extend(reader.join().unwrap());
    }
    assert!(
        reported.len() > 50,
        "the children issued tickets ({})",
        reported.len()
    );
    check_numbering(&db, &reported);
}

fn check_numbering(db: &Path, reported: &[String]) {
    let store = Store::open(db, &StoreOptions::default()).unwrap();
    let day = store.current_day_events().unwrap()[0].business_day;
    let stored: Vec<String> = store
        .tickets_on(day)
        .unwrap()
        .iter()
        .map(|t| t.number.to_string())
        .collect();
    for number in reported {
        assert!(
            stored.contains(number),
            "ticket {number} was reported but is not stored"
        );
    }
    let mut by_service: std::collections::BTreeMap<char, Vec<u16>> = Default::default();
    for n in &stored {
        by_service
            .entry(n.chars().next().unwrap())
            .or_default()
            .push(n[1..].parse().unwrap());
    }
    for (service, numbers) in by_service {
        let expected: Vec<u16> = (1..=numbers.len() as u16).collect();
        assert_eq!(
            numbers, expected,
            "service {service}: numbers reused or skipped"
        );
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    let (count, min, max): (i64, i64, i64) = conn
        .query_row("SELECT count(*), min(seq), max(seq) FROM outbox", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(
        count as usize,
        stored.len() + 1,
        "one outbox row per event: the day opened, then one per ticket"
    );
    assert_eq!((min, max), (1, count), "outbox sequence without gaps");
    let events: i64 = conn
        .query_row("SELECT count(*) FROM queue_event", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        events, count,
        "the event log and the outbox commit together"
    );
}

#[test]
fn admin_add_staff_stores_an_argon2_hash_and_refuses_weak_input() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite");
    let run = |args: &[&str], password: &str| {
        let mut child = sportello()
            .args(["admin", "add-staff", "--db"])
            .arg(&db)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(
        &["--username", "mrossi", "--role", "supervisor"],
        "una password lunga",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let store = Store::open(&db, &StoreOptions::default()).unwrap();
    let account = store.staff("mrossi").unwrap().expect("saved");
    assert_eq!(account.role, store::StaffRole::Supervisor);
    assert!(account.password_hash.starts_with("$argon2id$"));
    assert!(web::auth::verify_password(
        "una password lunga",
        &account.password_hash
    ));
    drop(store);
    let short = run(&["--username", "mrossi"], "corta");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 10 characters"));
    let bad_role = run(
        &["--username", "x1", "--role", "admin"],
        "una password lunga",
    );
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("`operator` or `supervisor`"));
    let bad_name = run(&["--username", "<b>"], "una password lunga");
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("user name"));
}

/// The update timer's gate (`sportello-update.service`'s ExecCondition): never while the
/// sede is at work, nor while a visitor waits; yes at night with the queue empty.
#[test]
fn updates_wait_for_the_sede_to_close_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    // The evening of the tests' morning.
    let night = format!("{}T23:00:00+01:00", &support::MORNING[..10]);
    let window = |at: &str| {
        Command::new(env!("CARGO_BIN_EXE_sportello"))
            .env_remove("RUST_LOG")
            .env_remove("SPORTELLO_CONFIG")
            .args(["--clock-from", at, "update-window", "--db"])
            .arg(data.join("kiosk.sqlite"))
            .output()
            .unwrap()
    };
    let out = sportello()
        .args(["demo-data", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());

    let morning = window(support::MORNING);
    assert_eq!(morning.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&morning.stderr).contains("not now: the sede is at work"),
        "{}",
        String::from_utf8_lossy(&morning.stderr)
    );
    let empty_night = window(&night);
    assert!(
        empty_night.status.success(),
        "{}",
        String::from_utf8_lossy(&empty_night.stderr)
    );
    assert!(String::from_utf8_lossy(&empty_night.stdout).starts_with("yes: the sede is closed"));

    // A visitor took a ticket in the morning and nobody served it: it still waits at night.
    let mut kiosk = sportello()
        .args(support::HEADLESS_DEMO_KIOSK)
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kiosk.stdin.take().unwrap().write_all(b"P\n").unwrap();
    assert!(kiosk.wait().unwrap().success());
    let waited = window(&night);
    assert_eq!(waited.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&waited.stderr).contains("not now: 1 tickets still wait"),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
}
