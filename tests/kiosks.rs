//! Several kiosks, one queue, over real HTTPS on loopback: a kiosk numbers its tickets at the
//! branch's node, pinned by the key the hub's feed names; while the node is gone it numbers
//! from the blocks the node leased to it, and hands over what it printed when the node is
//! back, where each ticket waits by the time it was printed. Devices the feed does not list as
//! the branch's kiosks are refused.

mod support;

use std::path::Path;
use std::sync::Arc;

use branch::lan::AppState;
use branch::node::Branch;
use branch::remote::{NodeLink, sync_round};
use branch::speech::EspeakNg;
use chrono::{TimeZone, Utc};
use demo::DemoBranch;
use domain::{Clock, ManualClock, ServiceLetter};
use kiosk::remote::RemoteNode;
use kiosk::{Answer, Kiosk};
use protocol::lan::KioskHealth;
use protocol::wire::{self, DevicePayload, DeviceRole, LanEndpoint};
use store::{Store, StoreOptions};

fn open(dir: &Path, clock: &Arc<ManualClock>) -> (Arc<Branch>, DemoBranch) {
    let mut store = Store::open(&dir.join("kiosk.sqlite"), &StoreOptions::default()).unwrap();
    let demo = DemoBranch::generate(7, clock.local_now().naive_local());
    store.apply_replica(&demo.replica()).unwrap();
    store
        .put_staff(&store::StaffAccount {
            username: "supervisore".into(),
            role: store::StaffRole::Supervisor,
            password_hash: web::auth::hash_password(support::PASSWORD).unwrap(),
            disabled: false,
        })
        .unwrap();
    (Branch::open(store, clock.clone()).unwrap(), demo)
}

fn letter(s: &str) -> ServiceLetter {
    ServiceLetter::parse(s).unwrap()
}

fn number(a: &Answer) -> String {
    match a {
        Answer::Ticket { ticket, .. } => ticket.number.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_kiosk_numbers_at_its_node_and_from_its_lease_while_the_node_is_gone() {
    support::install_crypto();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Thursday 10:00 in Rome.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap(),
    ));
    let (node_dir, kiosk_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (node, demo) = open(node_dir.path(), &clock);
    let (kbranch, _) = open(kiosk_dir.path(), &clock);
    let tls = web::tls::self_signed().unwrap();
    let state = AppState::new(node.clone(), Arc::new(EspeakNg::default()), 8);
    let server = rt
        .block_on(branch::lan::start(state.clone(), "127.0.0.1:0", &tls))
        .unwrap();
    let listen = server.addr.to_string();

    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let kiosk_id = "kiosk-7001-02-abcdef".to_owned();
    let node_entry = DevicePayload {
        device_id: "kiosk-7001-01-000000".into(),
        public_key: wire::hex(&[9; 32]),
        role: DeviceRole::Node,
        lan: Some(LanEndpoint {
            url: format!("https://{listen}"),
            key: web::tls::key_pin_of_pem(&tls.cert).unwrap(),
        }),
    };
    let kiosk_entry = DevicePayload {
        device_id: kiosk_id.clone(),
        public_key: wire::hex(key.verifying_key().as_bytes()),
        role: DeviceRole::Kiosk,
        lan: None,
    };
    let listing = vec![
        (node_entry.device_id.clone(), Some(node_entry.clone())),
        (kiosk_id.clone(), Some(kiosk_entry.clone())),
    ];
    support::list_devices(&node, 1, &listing);
    support::list_devices(&kbranch, 1, &listing);

    let link = Arc::new(NodeLink::default());
    let nudge = Arc::new(tokio::sync::Notify::new());
    let remote = Arc::new(RemoteNode::new(
        rt.handle().clone(),
        &kiosk_id,
        key.to_bytes(),
        link.clone(),
        nudge,
    ));
    let mut k = Kiosk::new(kbranch.clone())
        .unwrap()
        .with_node(remote.clone());
    let client = || {
        branch::remote::NodeClient::new(
            branch::remote::node_address(&kbranch).unwrap().unwrap(),
            &kiosk_id,
            &key.to_bytes(),
        )
        .unwrap()
    };

    // Online: the node numbers, says who is ahead, and knows which kiosk issued it.
    let a = k.walk_in(letter("P"));
    assert_eq!(number(&a), "P001");
    assert!(matches!(
        a,
        Answer::Ticket {
            estimate: Some(_),
            ..
        }
    ));
    assert!(link.reachable());
    let t = node.read(|q, _| q.tickets().next().cloned()).unwrap();
    assert_eq!(t.kiosk.as_deref(), Some(kiosk_id.as_str()));
    assert!(
        kbranch.read(|q, _| q.tickets().count()) == 0,
        "the kiosk numbers nothing itself"
    );
    let ok = &demo.appointments[1];
    let checked = k.scan(&ok.token);
    assert!(
        matches!(checked, Answer::Ticket { reprint: false, .. }),
        "{checked:?}"
    );

    // A sync round leases the kiosk a block of every service.
    let health = KioskHealth {
        printer: "ready".into(),
        scanner: "present".into(),
        clock_trusted: true,
        version: "test".into(),
    };
    let answer = rt
        .block_on(sync_round(&kbranch, &client(), health.clone(), Vec::new()))
        .unwrap();
    assert_eq!(answer.day, Some(clock.today()));
    assert_eq!(
        answer.waiting,
        node.read(|q, _| q.waiting_counts()),
        "the kiosk's screens show the node's queue"
    );
    assert_eq!(answer.waiting[&letter("P")], 1);
    let left = kbranch.read(|_, s| s.leases_left(clock.today()).unwrap());
    assert_eq!(left[&letter("P")], branch::node::LEASE_MIN);
    let block = answer
        .leases
        .iter()
        .find(|b| b.service == letter("P"))
        .unwrap();
    assert_eq!(node.read(|q, _| q.leases().len()), answer.leases.len());
    assert!(state.kiosks.lock().unwrap().contains_key(&kiosk_id));
    // Staff see which kiosk issued a ticket, and how each kiosk is.
    let base = format!("https://{listen}");
    let supervisor = rt.block_on(support::Session::login_at(
        support::client(&tls),
        &base,
        "supervisore",
        support::PASSWORD,
    ));
    let page = rt
        .block_on(async { supervisor.get("/supervisor").await.text().await })
        .unwrap();
    assert!(page.contains("Chioschi della sede"), "{page}");
    assert!(page.contains(&kiosk_id), "{page}");
    assert!(
        page.contains(&format!("P {}", branch::node::LEASE_MIN)),
        "{page}"
    );

    // The node is gone: tickets come from the lease, honest about what is not known.
    rt.block_on(server.shutdown());
    clock.advance(chrono::Duration::minutes(2));
    let offline = k.walk_in(letter("P"));
    assert_eq!(number(&offline), format!("P{:03}", block.first));
    assert!(matches!(offline, Answer::Ticket { estimate: None, .. }));
    assert!(k.render(&offline).contains("attesa non nota"));
    assert!(!link.reachable());
    let second = k.walk_in(letter("P"));
    assert_eq!(number(&second), format!("P{:03}", block.first + 1));
    // The visitor checked in online scans again here: without the node the kiosk cannot know,
    // and prints a second ticket for the booking.
    let dup = k.scan(&ok.token);
    assert!(
        matches!(
            dup,
            Answer::Ticket {
                estimate: None,
                reprint: false,
                ..
            }
        ),
        "{dup:?}"
    );
    // Meanwhile the node's own kiosk goes on after the leased blocks.
    clock.advance(chrono::Duration::minutes(1));
    let at_node = node
        .issue_ticket(letter("P"), domain::TicketPriority::WalkIn)
        .unwrap();
    assert!(at_node.number.number() > block.last);

    // Back: the tickets printed while cut off are handed over and wait by their print time.
    let server = rt
        .block_on(branch::lan::start(state.clone(), &listen, &tls))
        .unwrap();
    rt.block_on(sync_round(&kbranch, &client(), health.clone(), Vec::new()))
        .unwrap();
    assert!(
        kbranch
            .read(|_, s| s.offline_pending(10).unwrap())
            .is_empty()
    );
    let p = |n: &str| {
        node.read(|q, _| q.ticket(domain::TicketNumber::parse(n).unwrap()).cloned())
            .unwrap()
    };
    let first = p(&number(&offline));
    assert!(first.offline);
    assert!(
        first.issued_at < at_node.issued_at,
        "printed before the node's own"
    );
    let waiting: Vec<String> = node.read(|q, _| {
        q.waiting(clock.now() + chrono::Duration::hours(1))
            .iter()
            .filter(|t| t.service == letter("P"))
            .map(|t| t.number.to_string())
            .collect()
    });
    assert_eq!(
        waiting,
        [
            "P001".to_owned(),
            number(&offline),
            number(&second),
            at_node.number.to_string()
        ]
    );
    // The booking waits once, under its first ticket; staff see the pair.
    let first_of_booking = number(&checked);
    assert_eq!(
        node.read(|q, _| q
            .ticket_of_booking(ok.appointment.id)
            .map(|t| t.number.to_string())),
        Some(first_of_booking.clone())
    );
    let panel = rt
        .block_on(async {
            supervisor
                .get("/console/panel?counter=1")
                .await
                .text()
                .await
        })
        .unwrap();
    assert!(panel.contains("Biglietti doppi"), "{panel}");
    assert!(
        panel.contains(&number(&dup)) && panel.contains(&first_of_booking),
        "{panel}"
    );
    // Handing over again (an answer lost on the way) takes nothing twice.
    let again = rt
        .block_on(sync_round(&kbranch, &client(), health.clone(), Vec::new()))
        .unwrap();
    assert!(again.taken.is_empty());

    // A walk-in the node issued whose answer the kiosk never had (it gave up): named at the
    // next round, it is withdrawn, since nobody holds its paper. A request id the node never
    // saw, or another kiosk's, changes nothing.
    let ask = |id: &str| protocol::lan::IssueRequest {
        service: letter("R"),
        priority: domain::TicketPriority::WalkIn,
        request: Some(id.to_owned()),
    };
    let lost = rt
        .block_on(client().issue(&ask("lost-1")))
        .unwrap()
        .unwrap()
        .ticket
        .number;
    let kept = rt
        .block_on(client().issue(&ask("kept-1")))
        .unwrap()
        .unwrap()
        .ticket
        .number;
    rt.block_on(sync_round(
        &kbranch,
        &client(),
        health.clone(),
        vec!["lost-1".into(), "never-sent".into()],
    ))
    .unwrap();
    let state = |n: domain::TicketNumber| node.read(|q, _| q.ticket(n).map(|t| t.state));
    assert_eq!(state(lost), Some(domain::TicketState::Cancelled));
    assert_eq!(state(kept), Some(domain::TicketState::Issued));
    let withdrawn = node
        .read(|_, s| s.current_day_events())
        .unwrap()
        .into_iter()
        .any(|e| {
            matches!(e.event.kind, queue::EventKind::TicketCancelled {
                ticket,
                reason: queue::CancelReason::Unanswered,
            } if ticket == lost)
        });
    assert!(withdrawn, "withdrawn as unanswered, in the log");

    // A device the feed does not list as this branch's kiosk is refused; a revoked kiosk too,
    // and then numbers from its lease.
    let stranger = branch::remote::NodeClient::new(
        branch::remote::node_address(&kbranch).unwrap().unwrap(),
        "kiosk-9999-01-ffffff",
        &[8; 32],
    )
    .unwrap();
    let refused = rt.block_on(stranger.issue(&protocol::lan::IssueRequest {
        service: letter("P"),
        priority: domain::TicketPriority::WalkIn,
        request: None,
    }));
    assert!(
        matches!(
            refused,
            Err(branch::remote::Unanswered {
                error: branch::sync::client::SyncError::Refused(_),
                maybe_done: false
            })
        ),
        "{refused:?}"
    );
    support::list_devices(&node, 3, &[(kiosk_id.clone(), None)]);
    let after = k.walk_in(letter("P"));
    assert!(
        matches!(after, Answer::Ticket { estimate: None, .. }),
        "{after:?}"
    );
    // A body past the limit is shed before anyone reads or checks it.
    let oversized = rt.block_on(async {
        support::client(&tls)
            .post(format!("{base}{}", protocol::lan::SYNC))
            .header("content-type", "application/json")
            .body(vec![b' '; protocol::lan::MAX_BODY + 1])
            .send()
            .await
    });
    match oversized {
        Ok(r) => assert_eq!(r.status(), 413),
        // The server may answer and close before the whole body is written.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    rt.block_on(server.shutdown());
}
