//! The abuse harness against the real kiosk process on loopback: what someone on the lobby's
//! LAN can throw at it, each attack bounded in count and time. The figures are in
//! `docs/security.md`.

mod support;

use support::KioskProcess as Kiosk;

/// 300 wrong passwords at once for one account, from five addresses: no more guesses are
/// checked than the limit allows, and the hashing they cost does not push the kiosk's memory up (each
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

    // From five addresses of the LAN, 60 each: under the connection cap of one address, so
    // every attempt reaches the login, and the account's limit is what holds.
    let clients: Vec<reqwest::Client> = (0..5u8)
        .map(|k| {
            reqwest::Client::builder()
                .local_address(std::net::IpAddr::from([127, 0, 0, 10 + k]))
                .tls_certs_only([reqwest::Certificate::from_pem(&kiosk.cert).unwrap()])
                .build()
                .unwrap()
        })
        .collect();
    let burst: Vec<_> = (0..300)
        .map(|i| {
            let (c, base) = (clients[i % 5].clone(), kiosk.base.clone());
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

/// A TLS connection to the kiosk that completes its handshake and then says nothing, the way a
/// slow-loris client holds a server's connection open.
fn silent_tls(port: u16, cert: &[u8]) -> std::io::Result<std::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert).unwrap())
        .unwrap();
    let config = std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = rustls::ClientConnection::new(config, name).unwrap();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)?;
    }
    Ok(tcp)
}

/// 2,000 connections that send nothing from one address of the lobby LAN, a hundred of them
/// past the TLS handshake: the kiosk keeps no more than its cap of them, a page for another
/// address and a walk-in ticket still come within a second, and the silent ones are closed
/// once the first request is overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_do_not_starve_the_kiosk() {
    let dir = tempfile::tempdir().unwrap();
    let mut kiosk = Kiosk::start(&dir.path().join("demo"));
    let (port, cert) = (kiosk.port(), kiosk.cert.clone());
    let at_rest = kiosk.open_files();
    let flood = std::thread::spawn(move || {
        let mut held = Vec::new();
        for i in 0..2000 {
            let c = if i < 100 {
                silent_tls(port, &cert)
            } else {
                std::net::TcpStream::connect(("127.0.0.1", port))
            };
            if let Ok(c) = c {
                held.push(c);
            }
        }
        held
    });
    let held = tokio::task::spawn_blocking(move || flood.join().unwrap())
        .await
        .unwrap();
    // Give the kiosk the moment to take (and refuse) the backlog.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let during = kiosk.open_files();
    println!(
        "silent connections: {} opened, kiosk files {at_rest} at rest, {during} during",
        held.len()
    );
    assert!(
        during <= at_rest + web::limits::Limits::LAN.per_address + 16,
        "the kiosk holds {during} files (at rest {at_rest})"
    );
    // Another device of the LAN still gets its page, and the lobby its ticket.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .tls_certs_only([reqwest::Certificate::from_pem(&kiosk.cert).unwrap()])
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let page = other
        .get(format!("{}/login", kiosk.base))
        .send()
        .await
        .unwrap();
    let page_time = started.elapsed();
    assert_eq!(page.status(), 200);
    assert!(page_time.as_millis() < 1000, "login page in {page_time:?}");
    let ticket_time = kiosk.walk_in();
    assert!(ticket_time.as_millis() < 1000, "walk-in in {ticket_time:?}");
    // Past the first-request timeout the silent ones are gone.
    tokio::time::sleep(web::limits::Limits::LAN.first_request + std::time::Duration::from_secs(2))
        .await;
    let after = kiosk.open_files();
    assert!(
        after <= at_rest + 4,
        "silent connections still open: {after} files (at rest {at_rest})"
    );
    drop(held);
}

/// The hall display's endpoints need no login. A flood of them from four lobby addresses —
/// event streams held open and replaying, state reads, audio asked for every sequence — leaves
/// a walk-in ticket as quick as it was, and each endpoint holds its bound: streams over the cap
/// are a 503, not a thread or a lock taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hall_requests_does_not_slow_a_ticket() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let mut kiosk = Kiosk::start(&dir.path().join("demo"));
    let at_rest: Vec<_> = (0..3).map(|_| kiosk.walk_in()).collect();
    let client = |last: u8| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 20 + last]))
            .tls_certs_only([reqwest::Certificate::from_pem(&kiosk.cert).unwrap()])
            .build()
            .unwrap()
    };
    // Streams held open from every address, past the cap.
    let mut held = Vec::new();
    let mut refused = 0;
    for i in 0..(branch::lan::HALL_STREAMS + 14) {
        let r = client((i % 4) as u8)
            .get(format!("{}/hall/events?after=0", kiosk.base))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => held.push(r),
            503 => refused += 1,
            other => panic!("hall stream: {other}"),
        }
    }
    assert_eq!(held.len(), branch::lan::HALL_STREAMS);
    assert_eq!(refused, 14);
    // State reads and audio requests, as fast as four addresses can send them.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for i in 0..32u8 {
        let (c, base, stop, answered) = (
            client(i % 4),
            kiosk.base.clone(),
            stop.clone(),
            answered.clone(),
        );
        flood.push(tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let path = if n % 2 == 0 {
                    "/hall/state".to_owned()
                } else {
                    format!("/hall/audio/{n}")
                };
                if c.get(format!("{base}{path}")).send().await.is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let during: Vec<_> = (0..3)
        .map(|_| tokio::task::block_in_place(|| kiosk.walk_in()))
        .collect();
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        f.await.unwrap();
    }
    println!(
        "hall flood: {} requests answered, {} streams held, {refused} refused; walk-in at rest {at_rest:?}, during {during:?}",
        answered.load(Ordering::Relaxed),
        held.len()
    );
    for t in &during {
        assert!(t.as_millis() < 1000, "walk-in during the flood in {t:?}");
    }
    drop(held);
}
