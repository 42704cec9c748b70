//! The real kiosk process, killed with SIGKILL while staff commands are in flight: every
//! command the console was told succeeded is in the store after a restart, and the event log
//! and the outbox stay gap-free and equal.

mod support;

use std::io::Write;
use std::time::Duration;

use support::KioskProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_staff_commands_loses_no_acknowledged_event() {
    support::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut served = Vec::new();
    let mut called: Vec<String> = Vec::new();
    let mut rng = fastrand::Rng::with_seed(9);
    for round in 0..5 {
        let mut kiosk = KioskProcess::start(&data);
        let staff = support::Session::login_at(
            kiosk.client.clone(),
            &kiosk.base,
            "supervisore",
            "sportello-demo",
        )
        .await;
        let stdin = kiosk.child.stdin.as_mut().unwrap();
        staff.command(&[("action", "open"), ("counter", "3")]).await;
        // Visitors take tickets at the kiosk (its scanner input); counter 3 calls P and F.
        for i in 0..150 {
            stdin
                .write_all(if i % 2 == 0 { b"P\n" } else { b"F\n" })
                .unwrap();
        }
        stdin.flush().unwrap();
        for _ in 0..150 {
            kiosk
                .tickets
                .recv_timeout(Duration::from_secs(20))
                .expect("the kiosk issues the tickets");
        }
        // A call acknowledged just before the previous kill is still at the counter.
        let page = staff
            .get("/console/panel?counter=3")
            .await
            .text()
            .await
            .unwrap();
        if let Some(rest) = page.split("id=\"current-ticket\">").nth(1)
            && let Some(ticket) = rest.split('<').next().filter(|t| t.len() == 4)
        {
            staff.serve("3", ticket).await;
            served.push(ticket.to_string());
        }
        // Some calls and serves, then one more command with SIGKILL sent while it is in flight.
        let before = served.len();
        for _ in 0..rng.usize(5..40) {
            served.push(staff.call_and_serve("3").await);
        }
        let staff = std::sync::Arc::new(staff);
        let in_flight = {
            let staff = staff.clone();
            tokio::spawn(async move {
                staff
                    .try_command(&[("action", "call_next"), ("counter", "3")])
                    .await
            })
        };
        tokio::time::sleep(Duration::from_micros(rng.u64(0..3000))).await;
        kill(kiosk.child.id());
        if let Ok(Ok((_, true, message))) = in_flight.await {
            // Acknowledged just before the kill: it must have been committed.
            called.push(message.split_whitespace().nth(1).unwrap().to_string());
        }
        kiosk.child.wait().unwrap();
        assert!(
            served.len() > before,
            "round {round}: commands ran before the kill"
        );
    }
    let conn = rusqlite::Connection::open(data.join("kiosk.sqlite")).unwrap();
    for t in &served {
        let state: String = conn
            .query_row(
                "SELECT state FROM ticket WHERE service_letter = ?1 AND number = ?2
                 ORDER BY business_day DESC LIMIT 1",
                rusqlite::params![&t[..1], t[1..].parse::<i64>().unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(state, "served", "{t} was acknowledged as served");
    }
    for t in &called {
        let first_call: Option<String> = conn
            .query_row(
                "SELECT first_called_at FROM ticket WHERE service_letter = ?1 AND number = ?2
                 ORDER BY business_day DESC LIMIT 1",
                rusqlite::params![&t[..1], t[1..].parse::<i64>().unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert!(first_call.is_some(), "{t} was acknowledged as called");
    }
    let (events, first, last): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), min(seq), max(seq) FROM queue_event",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((first, last), (1, events), "the event log has no gap");
    let outbox: i64 = conn
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outbox, events, "one outbox row per event");
    println!(
        "{} serves and {} in-flight calls acknowledged across 5 kills; {events} events",
        served.len(),
        called.len()
    );
}

fn kill(pid: u32) {
    // std has no way to signal a child by pid from another task; `kill -9` does.
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}
