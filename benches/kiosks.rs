//! Several kiosks, one queue: a check-in at a kiosk of the sede's node, through the node over
//! HTTPS on loopback (the request signed, the node's key pinned, the check-in committed at the
//! node with `synchronous=FULL`), beside the same check-in at the node's own kiosk; and a
//! ticket from a leased block while the node is gone (the number taken and the ticket
//! recorded in one fsync'd transaction at the kiosk). Printing excluded; interleaved, so the
//! ratios hold on a noisy machine.
//!
//! `cargo bench --bench kiosks` (`BENCH_N` of each, default 400, at most 450: a service
//! numbers 999 tickets a day). Numbers in docs/benchmarks.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use branch::lan::AppState;
use branch::node::Branch;
use branch::remote::{NodeClient, NodeLink, node_address};
use branch::speech::EspeakNg;
use chrono::{TimeZone, Utc};
use demo::DemoBranch;
use domain::{Appointment, AppointmentState, BookingId, Clock, ManualClock};
use kiosk::remote::RemoteNode;
use kiosk::{Answer, Kiosk};
use protocol::lan::{Block, CheckInRequest};
use protocol::wire::{self, DevicePayload, DeviceRole, ENTITY_DEVICE, FeedChange, LanEndpoint};
use store::{Store, StoreOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut d: Vec<Duration>) -> Duration {
    d.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<44} n={:<5} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        d.len(),
        ms(percentile(&d, 0.5)),
        ms(percentile(&d, 0.99)),
        ms(*d.last().unwrap())
    );
    percentile(&d, 0.99)
}

fn open(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    appointments: &[Appointment],
) -> Arc<Branch> {
    let mut store = Store::open(&dir.join("kiosk.sqlite"), &StoreOptions::default()).unwrap();
    let demo = DemoBranch::generate(7, clock.local_now().naive_local());
    let mut replica = demo.replica();
    replica.appointments = appointments.to_vec();
    store.apply_replica(&replica).unwrap();
    Branch::open(store, clock.clone()).unwrap()
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
        // Two check-ins a round, of one service: a service numbers 999 tickets a day.
        .min(450);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Thursday 10:00 in Rome.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let starts = clock.local_now().naive_local();
    let demo = DemoBranch::generate(7, starts);
    let template = demo.appointments[1].appointment.clone();
    // Two bookings per round (one at each kiosk), all of service A at 10:00.
    let appointments: Vec<Appointment> = (0..2 * n as u32)
        .map(|i| Appointment {
            id: BookingId::new(2026, 100_000 + i).unwrap(),
            starts_at: starts,
            state: AppointmentState::Booked,
            ..template.clone()
        })
        .collect();
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node = open(dirs.0.path(), &clock, &appointments);
    let kbranch = open(dirs.1.path(), &clock, &appointments);
    let tls = web::tls::self_signed().unwrap();
    let state = AppState::new(node.clone(), Arc::new(EspeakNg::default()), 8);
    let server = rt
        .block_on(branch::lan::start(state, "127.0.0.1:0", &tls))
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let kiosk_id = "kiosk-7001-02-bench0".to_owned();
    let listing = [
        DevicePayload {
            device_id: "kiosk-7001-01-node00".into(),
            public_key: wire::hex(&[9; 32]),
            role: DeviceRole::Node,
            lan: Some(LanEndpoint {
                url: format!("https://{}", server.addr),
                key: web::tls::key_pin_of_pem(&tls.cert).unwrap(),
            }),
        },
        DevicePayload {
            device_id: kiosk_id.clone(),
            public_key: wire::hex(key.verifying_key().as_bytes()),
            role: DeviceRole::Kiosk,
            lan: None,
        },
    ];
    let changes: Vec<FeedChange> = listing
        .iter()
        .enumerate()
        .map(|(i, d)| FeedChange {
            seq: 1 + i as i64,
            entity: ENTITY_DEVICE.into(),
            entity_id: d.device_id.clone(),
            op: "put".into(),
            schema_version: 1,
            payload: Some(serde_json::to_value(d).unwrap()),
        })
        .collect();
    for b in [&node, &kbranch] {
        b.apply_feed("branch", &changes, 2, "e").unwrap();
    }
    let client = NodeClient::new(
        node_address(&kbranch).unwrap().unwrap(),
        &kiosk_id,
        &key.to_bytes(),
    )
    .unwrap();
    // A first request opens the connection; the kiosk keeps it open.
    let warm = rt.block_on(client.check_in(&CheckInRequest {
        booking: appointments[0].id,
        person: None,
    }));
    assert!(matches!(warm, Ok(Ok(_))), "{warm:?}");

    let (mut local, mut remote) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 1..n {
        let a = &appointments[2 * i];
        let start = Instant::now();
        let c = node.check_in(a.id, a.person_key).unwrap();
        let _ = node.estimate(&c.ticket);
        local.push(start.elapsed());
        let b = &appointments[2 * i + 1];
        let start = Instant::now();
        let r = rt.block_on(client.check_in(&CheckInRequest {
            booking: b.id,
            person: None,
        }));
        remote.push(start.elapsed());
        assert!(matches!(r, Ok(Ok(_))), "{r:?}");
    }
    let p_local = report("check-in at the node's own kiosk", local);
    let p_remote = report("check-in at a kiosk, through the node", remote);
    println!(
        "  through the node / at the node, p99: {:.1}x",
        p_remote.as_secs_f64() / p_local.as_secs_f64()
    );

    // The node is gone: tickets from a lease, through the kiosk's own flow (the refused
    // connection to the node included). How the lease came does not change what a ticket from
    // it costs, so the kiosk holds one block of `n` numbers.
    rt.block_on(server.shutdown());
    let walk_in = kbranch
        .read(|q, _| q.services().find(|s| !s.appointment_only).map(|s| s.letter))
        .unwrap();
    let block = Block {
        service: walk_in,
        first: 500,
        last: 500 + n as u16 - 1,
    };
    kbranch
        .with_store(|s| s.add_leases(clock.today(), &[block]))
        .unwrap();
    let remote_node = Arc::new(RemoteNode::new(
        rt.handle().clone(),
        &kiosk_id,
        key.to_bytes(),
        Arc::new(NodeLink::default()),
        Arc::new(tokio::sync::Notify::new()),
    ));
    let mut k = Kiosk::new(kbranch.clone()).unwrap().with_node(remote_node);
    let mut offline = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let a = k.walk_in(walk_in);
        offline.push(start.elapsed());
        assert!(matches!(a, Answer::Ticket { estimate: None, .. }), "{a:?}");
    }
    report("ticket from a leased block, the node gone", offline);
}
