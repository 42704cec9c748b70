//! The hub over a real PostgreSQL (a database per test, in the server `scripts/pg` starts) and
//! real HTTPS on loopback: migrations, enrolment and signed requests, idempotent pushes with
//! stored answers, gaps and lost state, and a change feed whose cursor never skips a late
//! commit.

#[path = "support/pg.rs"]
mod pg;
#[path = "support/smtp.rs"]
mod smtp;
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use hub::{self, HubState, accounts, db, devices, feed};
use pg::TestDb;
use protocol::Op;
use protocol::wire::{
    self, EnrolRequest, EnrolResponse, OpStatus, PullResponse, PushOp, PushRefusal, PushRequest,
    PushResponse,
};
use queue::{Event, EventKind};
use reqwest::StatusCode;

const SEDE: u16 = 7001;
/// The password of the accounts tests make with [`Hub::staff`].
const STAFF_PASSWORD: &str = "una password lunga";

struct Hub {
    // Dropped last: the database outlives the servers.
    _db: TestDb,
    pool: deadpool_postgres::Pool,
    servers: Vec<hub::HubServer>,
    client: reqwest::Client,
    cert: String,
}

impl Hub {
    /// Console accounts with [`STAFF_PASSWORD`]: name, role, sede.
    async fn staff(&self, users: &[(&str, hub::accounts::Role, Option<u16>)]) {
        let mut c = self.pool.get().await.unwrap();
        for (user, role, sede) in users {
            hub::accounts::create_user(&mut c, "cli", user, STAFF_PASSWORD, *role, *sede)
                .await
                .unwrap();
        }
    }

    /// A visitor's phone: a browser that keeps cookies and does not follow redirects.
    fn phone(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.cert.as_bytes()).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap()
    }

    /// `instances` hub servers over one database.
    async fn start(instances: usize) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let db = TestDb::new().await;
        let pool = db::pool(&db.url, 8).unwrap();
        db::migrate(&pool).await.unwrap();
        let tls = web::tls::self_signed().unwrap();
        let mut servers = Vec::new();
        for _ in 0..instances {
            let state = HubState::new(db::pool(&db.url, 8).unwrap())
                .with_person_key_secret(Some(demo::DEMO_PERSON_KEY_SECRET));
            let identity = state.identity.clone();
            let server = hub::start(state, "127.0.0.1:0", &tls).await.unwrap();
            // Each instance identifies visitors through the built-in provider at its own
            // address, as a hub without SPID configured does.
            identity
                .set(
                    hub::handoff::IdentityConfig::builtin(
                        &format!("https://127.0.0.1:{}", server.addr.port()),
                        &tls.cert,
                        "segreto di prova",
                    )
                    .unwrap(),
                )
                .unwrap();
            servers.push(server);
        }
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Hub {
            _db: db,
            pool,
            servers,
            client,
            cert: String::from_utf8_lossy(&tls.cert).into_owned(),
        }
    }

    fn base(&self, i: usize) -> String {
        format!("https://127.0.0.1:{}", self.servers[i].addr.port())
    }

    async fn code(&self) -> String {
        let mut c = self.pool.get().await.unwrap();
        devices::create_code(&mut c, "admin", SEDE).await.unwrap()
    }

    /// Enrols a kiosk's branch node as `sportello enroll` does (the hub's certificate trusted
    /// on first use) and records the link in its store.
    async fn enrol_branch(&self, branch: &branch::node::Branch) -> store::HubLink {
        let base = self.base(0);
        let enrolled = branch::sync::client::enrol(&base, &self.code().await, None, "test")
            .await
            .unwrap();
        let link = enrolled.link(&base);
        branch
            .with_store(|s| s.set_hub_link(&link, chrono::Utc::now()))
            .unwrap();
        link
    }

    async fn enrol(&self) -> Kiosk {
        let key = SigningKey::from_bytes(&rand_seed());
        let r = self
            .client
            .post(format!("{}/v1/enrol", self.base(0)))
            .json(&EnrolRequest {
                code: self.code().await,
                public_key: wire::hex(key.verifying_key().as_bytes()),
                client_version: "test".into(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let e: EnrolResponse = r.json().await.unwrap();
        assert_eq!(e.branch, SEDE);
        Kiosk {
            id: e.device_id,
            key,
            client: self.client.clone(),
        }
    }
}

/// A kiosk store with nothing in it yet, and its branch node.
fn empty_kiosk(clock: &Arc<domain::SystemClock>) -> (tempfile::TempDir, Arc<branch::node::Branch>) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(
        &dir.path().join("kiosk.sqlite"),
        &store::StoreOptions::default(),
    )
    .unwrap();
    let branch = branch::node::Branch::open(store, clock.clone()).unwrap();
    (dir, branch)
}

fn rand_seed() -> [u8; 32] {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s
}

struct Kiosk {
    id: String,
    key: SigningKey,
    client: reqwest::Client,
}

impl Kiosk {
    fn sign(&self, method: &str, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let time = chrono::Utc::now().timestamp();
        let sig = self
            .key
            .sign(&wire::signing_message(method, path, &self.id, time, body));
        vec![
            (wire::DEVICE_HEADER, self.id.clone()),
            (wire::TIME_HEADER, time.to_string()),
            (wire::SIGNATURE_HEADER, wire::hex(&sig.to_bytes())),
        ]
    }

    async fn push_raw(&self, base: &str, body: Vec<u8>) -> reqwest::Response {
        let mut r = self.client.post(format!("{base}/v1/sync/push"));
        for (h, v) in self.sign("POST", "/v1/sync/push", &body) {
            r = r.header(h, v);
        }
        r.header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A signed POST of `value` as JSON.
    async fn signed_json(
        &self,
        base: &str,
        path: &str,
        value: &impl serde::Serialize,
    ) -> reqwest::Response {
        let body = serde_json::to_vec(value).unwrap();
        let mut r = self.client.post(format!("{base}{path}"));
        for (h, v) in self.sign("POST", path, &body) {
            r = r.header(h, v);
        }
        r.header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A signed request with an empty body.
    async fn signed(&self, base: &str, method: &str, path: &str) -> reqwest::Response {
        let mut r = self
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"));
        for (h, v) in self.sign(method, path, b"") {
            r = r.header(h, v);
        }
        r.send().await.unwrap()
    }

    async fn push(&self, base: &str, req: &PushRequest) -> reqwest::Response {
        self.push_raw(base, serde_json::to_vec(req).unwrap()).await
    }

    async fn pull(&self, base: &str, after: i64, epoch: Option<&str>) -> reqwest::Response {
        let mut path = format!("/v1/sync/pull?after={after}");
        if let Some(e) = epoch {
            path += &format!("&epoch={e}");
        }
        let mut r = self.client.get(format!("{base}{path}"));
        for (h, v) in self.sign("GET", &path, b"") {
            r = r.header(h, v);
        }
        r.send().await.unwrap()
    }
}

fn queue_op(seq: i64, event_seq: i64) -> PushOp {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let op = Op::Queue {
        seq: event_seq,
        business_day: day,
        event: Event {
            at: chrono::Utc::now(),
            kind: EventKind::DayOpened { day },
        },
    };
    PushOp {
        seq,
        op_id: uuid::Uuid::now_v7().to_string(),
        kind: op.kind().into(),
        payload: serde_json::to_value(&op).unwrap(),
    }
}

fn batch(incarnation: &str, ops: Vec<PushOp>) -> PushRequest {
    PushRequest {
        incarnation: incarnation.into(),
        log_id: "log-a".into(),
        client_version: "test".into(),
        schema_version: protocol::OP_SCHEMA_VERSION,
        ops,
        status: Default::default(),
    }
}

async fn count(pool: &deadpool_postgres::Pool, sql: &str) -> i64 {
    pool.get()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_when_two_instances_start_together_and_a_newer_schema_is_refused() {
    let db = TestDb::new().await;
    let (a, b) = (db::pool(&db.url, 2).unwrap(), db::pool(&db.url, 2).unwrap());
    let (ra, rb) = tokio::join!(db::migrate(&a), db::migrate(&b));
    let applied = (ra.unwrap(), rb.unwrap());
    let all = db::schema_version() as usize;
    assert!(
        applied == (all, 0) || applied == (0, all),
        "one of them applied them all: {applied:?}"
    );
    assert_eq!(
        count(&a, "SELECT count(*) FROM schema_migration").await,
        all as i64
    );
    assert_eq!(db::migrate(&a).await.unwrap(), 0);
    a.get()
        .await
        .unwrap()
        .execute(
            "INSERT INTO schema_migration (version, name) VALUES (99, 'future')",
            &[],
        )
        .await
        .unwrap();
    let err = db::migrate(&b).await.unwrap_err().to_string();
    assert!(err.contains("newer than this build"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_code_works_once_and_only_signed_requests_of_live_devices_pass() {
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let kiosk = hub.enrol().await;
    assert!(kiosk.id.starts_with("kiosk-7001-"), "{}", kiosk.id);

    // The same code again, or a made-up one: one refusal for both.
    let code = hub.code().await;
    let enrol = |code: String| {
        hub.client
            .post(format!("{base}/v1/enrol"))
            .json(&EnrolRequest {
                code,
                public_key: wire::hex(
                    SigningKey::from_bytes(&rand_seed())
                        .verifying_key()
                        .as_bytes(),
                ),
                client_version: "test".into(),
            })
            .send()
    };
    assert_eq!(
        enrol(code.to_lowercase()).await.unwrap().status(),
        StatusCode::OK,
        "case and dashes do not matter"
    );
    assert_eq!(enrol(code).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        enrol("AAAA-BBBB-CCCC-DDDD".into()).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let ok = batch("inc-1", vec![queue_op(1, 1)]);
    assert_eq!(kiosk.push(&base, &ok).await.status(), StatusCode::OK);
    // Unsigned, signed by another key, or a body other than the one signed.
    let unsigned = hub
        .client
        .post(format!("{base}/v1/sync/push"))
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    let impostor = Kiosk {
        id: kiosk.id.clone(),
        key: SigningKey::from_bytes(&rand_seed()),
        client: hub.client.clone(),
    };
    assert_eq!(
        impostor.push(&base, &ok).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let body = serde_json::to_vec(&ok).unwrap();
    let mut r = hub.client.post(format!("{base}/v1/sync/push"));
    for (h, v) in kiosk.sign("POST", "/v1/sync/push", &body) {
        r = r.header(h, v);
    }
    let tampered = r
        .body(serde_json::to_vec(&batch("inc-1", vec![queue_op(2, 2)])).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);

    // Revoked: refused at its very next request.
    devices::revoke(&hub.pool.get().await.unwrap(), "admin", &kiosk.id)
        .await
        .unwrap();
    let r = kiosk
        .push(&base, &batch("inc-1", vec![queue_op(2, 2)]))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("revoked"));
    assert_eq!(
        kiosk.pull(&base, 0, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let audit: Vec<String> = hub
        .pool
        .get()
        .await
        .unwrap()
        .query("SELECT action FROM audit_log ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(audit.contains(&"device.enrol".to_string()), "{audit:?}");
    assert!(audit.contains(&"device.revoke".to_string()), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_applies_once_and_a_retry_at_either_instance_gets_the_same_answer() {
    let hub = Hub::start(2).await;
    let kiosk = hub.enrol().await;
    let mut ops: Vec<PushOp> = (1..=5).map(|i| queue_op(i, 100 + i)).collect();
    // An operation this hub cannot read: acknowledged as rejected, never blocking the rest.
    ops[2].payload = serde_json::json!({ "op": "from_the_future" });
    let req = batch("inc-1", ops);
    let first: PushResponse = kiosk.push(&hub.base(0), &req).await.json().await.unwrap();
    assert_eq!(first.acked_through, 5);
    let statuses: Vec<OpStatus> = first.results.iter().map(|r| r.status).collect();
    use OpStatus::*;
    assert_eq!(statuses, [Applied, Applied, Rejected, Applied, Applied]);
    // The kiosk never heard the answer and sends it all again, to the other instance.
    let again: PushResponse = kiosk.push(&hub.base(1), &req).await.json().await.unwrap();
    assert_eq!(again, first, "the stored answers");
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        4
    );
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM applied_op").await, 5);
    // The same fact through another stream (a second incarnation) has one effect.
    let other = batch("inc-2", vec![queue_op(1, 101)]);
    let r: PushResponse = kiosk.push(&hub.base(0), &other).await.json().await.unwrap();
    assert_eq!(r.results[0].status, Duplicate);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        4
    );
    // Concurrent pushes of the same batch to both instances: the cursor row serialises them.
    let next = batch("inc-1", (6..=30).map(|i| queue_op(i, 100 + i)).collect());
    let (b0, b1) = (hub.base(0), hub.base(1));
    let (a, b) = tokio::join!(kiosk.push(&b0, &next), kiosk.push(&b1, &next));
    let (a, b): (PushResponse, PushResponse) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        4 + 25
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_refused_and_a_reused_sequence_starts_a_new_incarnation_not_a_silent_drop() {
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let kiosk = hub.enrol().await;
    let ok: PushResponse = kiosk
        .push(&base, &batch("inc-1", vec![queue_op(1, 1), queue_op(2, 2)]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok.acked_through, 2);
    let r = kiosk
        .push(&base, &batch("inc-1", vec![queue_op(5, 5)]))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<PushRefusal>().await.unwrap(),
        PushRefusal::Gap { expected_seq: 3 }
    );
    // The kiosk lost state (restored from an old copy) and numbers a new operation 2 again.
    let r = kiosk
        .push(&base, &batch("inc-1", vec![queue_op(2, 7)]))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<PushRefusal>().await.unwrap(),
        PushRefusal::IncarnationConflict { seq: 2 }
    );
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        2
    );
    // Under a new incarnation it goes through.
    let r: PushResponse = kiosk
        .push(&base, &batch("inc-2", vec![queue_op(1, 7)]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        3
    );
    // Out of order within a batch is a bad request, not a partial apply.
    let r = kiosk
        .push(&base, &batch("inc-2", vec![queue_op(3, 9), queue_op(2, 8)]))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// Writers publishing to one branch's feed while some of their transactions stall, a reader
/// pulling all along: the reader sees every sequence, in order, none skipped. The same run over
/// a plain `bigserial` column (the pitfall of `sync.md` §2.4) must be caught skipping, or the
/// checker proves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_cursor_never_skips_a_row_that_commits_late() {
    let hub = Hub::start(1).await;
    let kiosk = hub.enrol().await;
    let base = hub.base(0);
    {
        let c = hub.pool.get().await.unwrap();
        c.batch_execute("CREATE TABLE naive_feed (seq bigserial PRIMARY KEY, writer int NOT NULL)")
            .await
            .unwrap();
    }
    const WRITERS: usize = 4;
    const EACH: usize = 15;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let pool = hub.pool.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let mut c = pool.get().await.unwrap();
                let tx = c.transaction().await.unwrap();
                feed::publish(
                    &tx,
                    i32::from(SEDE),
                    &[feed::Change {
                        entity: "test".into(),
                        entity_id: format!("{w}-{i}"),
                        payload: Some(serde_json::json!({ "w": w, "i": i })),
                    }],
                )
                .await
                .unwrap();
                // Some transactions stall after taking their place.
                if (w + i) % 3 == 0 {
                    tx.execute("SELECT pg_sleep(0.03)", &[]).await.unwrap();
                }
                tx.commit().await.unwrap();
                // The same shape over a bigserial, in a transaction of its own.
                let tx = c.transaction().await.unwrap();
                tx.execute(
                    "INSERT INTO naive_feed (writer) VALUES ($1)",
                    &[&(w as i32)],
                )
                .await
                .unwrap();
                if (w + i) % 3 == 0 {
                    tx.execute("SELECT pg_sleep(0.03)", &[]).await.unwrap();
                }
                tx.commit().await.unwrap();
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }));
    }
    let total = (WRITERS * EACH) as i64;
    let (mut after, mut epoch, mut seen) = (0i64, None::<String>, Vec::new());
    let (mut naive_after, mut naive_seen) = (0i64, Vec::new());
    let reader = hub.pool.get().await.unwrap();
    loop {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst) == WRITERS;
        let r: PullResponse = kiosk
            .pull(&base, after, epoch.as_deref())
            .await
            .json()
            .await
            .unwrap();
        epoch = Some(r.epoch.clone());
        seen.extend(r.changes.iter().map(|c| c.seq));
        after = r.next_after;
        for row in reader
            .query(
                "SELECT seq FROM naive_feed WHERE seq > $1 ORDER BY seq",
                &[&naive_after],
            )
            .await
            .unwrap()
        {
            let s: i64 = row.get(0);
            naive_seen.push(s);
            naive_after = s;
        }
        if finished && after == total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "every row, in order");
    // Under the same load the bigserial reader usually skips some (it is timing: not asserted).
    eprintln!("bigserial reader saw {} of {total}", naive_seen.len());
    // The negative control, step by step: over a bigserial, a row that commits late behind a
    // cursor is skipped — the checker above would see it.
    let c = hub.pool.get().await.unwrap();
    let before: i64 = c
        .query_one("SELECT max(seq) FROM naive_feed", &[])
        .await
        .unwrap()
        .get(0);
    let mut slow_conn = hub.pool.get().await.unwrap();
    let slow = slow_conn.transaction().await.unwrap();
    slow.execute("INSERT INTO naive_feed (writer) VALUES (99)", &[])
        .await
        .unwrap();
    c.execute("INSERT INTO naive_feed (writer) VALUES (98)", &[])
        .await
        .unwrap();
    let cursor: i64 = c
        .query_one("SELECT max(seq) FROM naive_feed WHERE seq > $1", &[&before])
        .await
        .unwrap()
        .get(0);
    slow.commit().await.unwrap();
    let missed: i64 = c
        .query_one("SELECT count(*) FROM naive_feed WHERE seq > $1", &[&cursor])
        .await
        .unwrap()
        .get(0);
    assert_eq!(missed, 0, "the late row sits behind the cursor: never read");
    assert_eq!(
        c.query_one("SELECT count(*) FROM naive_feed WHERE seq > $1", &[&before])
            .await
            .unwrap()
            .get::<_, i64>(0),
        2
    );
    // The same steps on the feed: the second writer waits for the first's commit.
    let mut first_conn = hub.pool.get().await.unwrap();
    let first = first_conn.transaction().await.unwrap();
    let change = |id: &str| feed::Change {
        entity: "test".into(),
        entity_id: id.into(),
        payload: Some(serde_json::json!({})),
    };
    let a = feed::publish(&first, i32::from(SEDE), &[change("late")])
        .await
        .unwrap();
    let pool = hub.pool.clone();
    let second = tokio::spawn(async move {
        let c = pool.get().await.unwrap();
        feed::publish(&c, i32::from(SEDE), &[change("quick")])
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r: PullResponse = kiosk
        .pull(&base, after, epoch.as_deref())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        r.changes.is_empty(),
        "nothing visible while the first is open: {:?}",
        r.changes
    );
    assert!(
        !second.is_finished(),
        "the second writer waits for the first"
    );
    first.commit().await.unwrap();
    let b = second.await.unwrap();
    assert_eq!((a, b), (total + 1, total + 2));
    // A cursor from another epoch starts over.
    let r = kiosk
        .pull(&base, after, Some("00000000-0000-0000-0000-000000000000"))
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
}

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

/// A kiosk's branch node on a real SQLite file, with tickets issued (each an outbox row).
fn kiosk_branch(dir: &std::path::Path, tickets: usize) -> Arc<branch::node::Branch> {
    use domain::{Clock, ServiceLetter, SystemClock, TicketPriority};
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let mut store =
        store::Store::open(&dir.join("kiosk.sqlite"), &store::StoreOptions::default()).unwrap();
    let demo = demo::DemoBranch::generate(7, clock.local_now().naive_local());
    store.apply_replica(&demo.replica()).unwrap();
    let branch = branch::node::Branch::open(store, clock).unwrap();
    for _ in 0..tickets {
        // Walk-ins at a service that takes them (the clock is real: it may be closed now, and
        // then the refusal is not a ticket; retry another letter).
        let ok = ["P", "R", "F", "A"].iter().any(|l| {
            branch
                .issue_ticket(ServiceLetter::parse(l).unwrap(), TicketPriority::WalkIn)
                .is_ok()
        });
        if !ok {
            // Closed for the day: staff alerts still make outbox rows.
            branch
                .execute(queue::Command::RaiseAlert {
                    alert: queue::DeviceAlert::ScannerGone,
                })
                .unwrap();
            branch
                .execute(queue::Command::ClearAlert {
                    alert: queue::DeviceAlert::ScannerGone,
                })
                .unwrap();
        }
    }
    branch
}

/// The kiosk's own agent, end to end: enrolment pins the hub's certificate (a wrong fingerprint
/// is refused before the code is even sent), the outbox drains in batches, a lost
/// acknowledgement is answered from the stored results with no duplicate, and revocation stops
/// the kiosk at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_agent_enrols_pins_the_hub_and_drains_its_outbox_exactly_once() {
    use branch::sync::agent::Agent;
    use branch::sync::client::{self, SyncError};
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let dir = tempfile::tempdir().unwrap();
    let branch = kiosk_branch(dir.path(), 150);
    let depth = branch.read(|_, s| s.outbox_depth().unwrap());
    assert!(
        depth as usize > branch::sync::agent::BATCH,
        "{depth} outbox rows: more than a batch"
    );

    let wrong = client::enrol(&base, &hub.code().await, Some([7; 32]), "test").await;
    assert!(
        matches!(&wrong, Err(SyncError::Network(m)) if m.contains("pinned")),
        "{wrong:?}"
    );
    let code = hub.code().await;
    let enrolled = client::enrol(&base, &code, None, "test").await.unwrap();
    let link = enrolled.link(&base);
    branch
        .with_store(|s| s.set_hub_link(&link, chrono::Utc::now()))
        .unwrap();
    assert_eq!(
        branch.read(|_, s| s.device().unwrap().device_id),
        enrolled.device_id
    );
    // The pinned certificate is the one the hub serves: enrolling again with it passes.
    client::enrol(&base, &hub.code().await, Some(enrolled.cert_sha256), "test")
        .await
        .unwrap();

    let agent = Agent::new(branch.clone(), &link).unwrap();
    let mut pushed = 0;
    loop {
        let n = agent.push_once().await.unwrap();
        if n == 0 {
            break;
        }
        pushed += n;
    }
    assert_eq!(pushed as u64, depth);
    assert_eq!(branch.read(|_, s| s.outbox_depth().unwrap()), 0);
    let events = count(&hub.pool, "SELECT count(*) FROM queue_event").await;
    assert_eq!(events as u64, depth);

    // The acknowledgement was lost (the kiosk died between the hub's commit and its own):
    // the rows are pending again and go again; the hub answers from what it stored.
    branch.with_store(|s| s.outbox_resend_from(1)).unwrap();
    while agent.push_once().await.unwrap() > 0 {}
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        events
    );
    let status: serde_json::Value = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT status FROM device WHERE device_id = $1",
            &[&enrolled.device_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status["clock_trusted"], true, "{status}");
    assert_eq!(status["printer"], "ready", "{status}");

    devices::revoke(&hub.pool.get().await.unwrap(), "admin", &enrolled.device_id)
        .await
        .unwrap();
    branch
        .execute(queue::Command::RaiseAlert {
            alert: queue::DeviceAlert::PrinterOutOfPaper,
        })
        .unwrap();
    let r = agent.push_once().await;
    assert!(
        matches!(&r, Err(SyncError::Refused(m)) if m.contains("revoked")),
        "{r:?}"
    );
    assert_eq!(
        branch.read(|_, s| s.outbox_depth().unwrap()),
        1,
        "kept for later"
    );
}

fn sportello() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
    cmd.env_remove("RUST_LOG")
        .env_remove("SPORTELLO_CONFIG")
        .env_remove("SPORTELLO_DATABASE_URL");
    cmd
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
            // With a public address: identification through the built-in provider is on.
            "[hub]\ndatabase_url = {:?}\ntls_dir = {:?}\nlisten = \"127.0.0.1:0\"\n\
             public_url = \"https://hub.example\"\n",
            db.url,
            dir.path().join("tls").to_str().unwrap()
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
    let code = admin(&["enrolment-code", "--branch", "7001"], "");
    assert!(
        code.status.success(),
        "{}",
        String::from_utf8_lossy(&code.stderr)
    );
    let code = String::from_utf8(code.stdout).unwrap().trim().to_owned();
    assert_eq!(code.len(), 19, "{code}");

    let mut hub = Child(
        sportello()
            .arg("--config")
            .arg(&config)
            .arg("hub")
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

    let data = dir.path().join("demo");
    let out = sportello()
        .args(["demo-data", "--data-dir"])
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
    drop(hub);
}

/// A new kiosk with an empty store, enrolled: one pull gives it the branch (sede, services,
/// counters, hours, rules, verifying keys, appointments) and it checks in a booking. The hub
/// withdraws an appointment: the next pull makes its QR a cancelled booking. The feed starts
/// over (a new epoch): the kiosk pulls everything again and ends in the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kiosk_gets_its_branch_from_the_feed_and_follows_changes() {
    use branch::sync::agent::Agent;
    use domain::Clock;
    use hub::branch_data;
    use kiosk::{Answer, Kiosk};
    let hub = Hub::start(1).await;
    let clock = Arc::new(support::morning_clock());
    clock.mark_trusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        11,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();

    let (_dir, branch) = empty_kiosk(&clock);
    assert!(
        Kiosk::new(branch.clone()).is_err(),
        "nothing to work with yet"
    );
    let link = hub.enrol_branch(&branch).await;
    let agent = Agent::new(branch.clone(), &link).unwrap();
    let applied = agent.pull_once().await.unwrap();
    assert_eq!(applied, 1 + demo.appointments.len());
    assert_eq!(agent.pull_once().await.unwrap(), 0, "up to date");

    let mut kiosk = Kiosk::new(branch.clone()).unwrap();
    assert_eq!(kiosk.sede().code, demo.sede.code);

    // A counter account made at the hub reaches the branch console through the feed, and so
    // does its password reset; administrators and back office stay at the hub.
    {
        let mut c = hub.pool.get().await.unwrap();
        use hub::accounts::{self, Role};
        accounts::create_user(
            &mut c,
            "root",
            "mario.rossi",
            STAFF_PASSWORD,
            Role::Counter,
            Some(SEDE),
        )
        .await
        .unwrap();
        accounts::create_user(
            &mut c,
            "root",
            "ufficio",
            STAFF_PASSWORD,
            Role::Backoffice,
            Some(SEDE),
        )
        .await
        .unwrap();
    }
    assert_eq!(agent.pull_once().await.unwrap(), 1);
    let staff = branch
        .read(|_, s| s.staff("mario.rossi").unwrap())
        .expect("pulled");
    assert_eq!(staff.role.name(), "operator");
    assert!(web::auth::verify_password(
        STAFF_PASSWORD,
        &staff.password_hash
    ));
    assert!(branch.read(|_, s| s.staff("ufficio").unwrap()).is_none());
    hub::accounts::reset_password(
        &mut hub.pool.get().await.unwrap(),
        "root",
        "mario.rossi",
        "un'altra password lunga",
    )
    .await
    .unwrap();
    agent.pull_once().await.unwrap();
    let staff = branch.read(|_, s| s.staff("mario.rossi").unwrap()).unwrap();
    assert!(web::auth::verify_password(
        "un'altra password lunga",
        &staff.password_hash
    ));
    let ticket = kiosk.scan(&demo.appointments[1].token);
    assert!(matches!(ticket, Answer::Ticket { .. }), "{ticket:?}");

    // The hub cancels appointment 2.
    let mut cancelled = demo.appointments[2].appointment.clone();
    cancelled.state = domain::AppointmentState::CancelledBySede;
    {
        let mut c = hub.pool.get().await.unwrap();
        let tx = c.transaction().await.unwrap();
        branch_data::put_appointments(&tx, i32::from(SEDE), &[cancelled])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(agent.pull_once().await.unwrap(), 1);
    match kiosk.scan(&demo.appointments[2].token) {
        Answer::Refused { key, .. } => assert_eq!(key, "booking-cancelled"),
        other => panic!("{other:?}"),
    }

    // The feed starts over.
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("UPDATE branch_feed_head SET epoch = gen_random_uuid()", &[])
        .await
        .unwrap();
    let again = agent.pull_once().await.unwrap();
    assert_eq!(
        again,
        1 + demo.appointments.len() + 2 + 1,
        "everything, from the start"
    );
    let (cursor, _) = branch.read(|_, s| s.sync_cursor("branch").unwrap().unwrap());
    assert_eq!(cursor, again as i64);
    match kiosk.scan(&demo.appointments[2].token) {
        Answer::Refused { key, .. } => assert_eq!(key, "booking-cancelled"),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            kiosk.scan(&demo.appointments[1].token),
            Answer::Ticket { reprint: true, .. }
        ),
        "the check-in made here survives"
    );

    // The hub rotates its signing key: the running kiosk takes the new key with the pull,
    // without a restart, and the withdrawn one stops working at once.
    let new_signer = domain::token::TokenSigner::from_seed(demo.signer.key_id() + 1, &[5; 32]);
    let mut rotated = demo.replica();
    rotated.verifying_keys = vec![(new_signer.key_id(), new_signer.verifying_key())];
    branch_data::put_config(
        &hub.pool.get().await.unwrap(),
        i32::from(SEDE),
        &branch_data::config_of(&rotated).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(agent.pull_once().await.unwrap(), 1);
    let a = &demo.appointments[3].appointment;
    let fresh = new_signer
        .sign(&domain::token::BookingClaims {
            booking: a.id,
            sede: a.sede,
            starts_at: a.starts_at,
            service: a.service,
            person: a.person_key.unwrap(),
        })
        .unwrap();
    assert!(
        matches!(kiosk.scan(&fresh), Answer::Ticket { .. }),
        "the new key"
    );
    match kiosk.scan(&demo.appointments[5].token) {
        Answer::Refused { key, .. } => assert_eq!(key, "token-unknown-key"),
        other => panic!("the withdrawn key: {other:?}"),
    }
}

/// Background jobs shared by two hub instances through the job table: 200 jobs, each run once
/// (the `FOR UPDATE SKIP LOCKED` claim), a failing one retried later, daily scheduling
/// idempotent across instances, and a job orphaned by a dead instance taken back after its
/// lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_run_once_across_instances() {
    use hub::jobs;
    let hub = Hub::start(1).await;
    let c = hub.pool.get().await.unwrap();
    c.batch_execute("CREATE TABLE ran (job_id bigint NOT NULL, worker text NOT NULL)")
        .await
        .unwrap();
    for i in 0..200 {
        jobs::enqueue(
            &c,
            "count",
            None,
            serde_json::json!({ "i": i }),
            chrono::Utc::now(),
            None,
        )
        .await
        .unwrap();
    }
    jobs::enqueue(
        &c,
        "flaky",
        None,
        serde_json::json!({}),
        chrono::Utc::now(),
        None,
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for w in ["instance-a", "instance-b"] {
        let pool = hub.pool.clone();
        let p2 = pool.clone();
        workers.push(tokio::spawn(jobs::run(
            pool,
            w.to_string(),
            Duration::from_millis(20),
            stopped.clone(),
            move |job| {
                let pool = p2.clone();
                let w = w.to_string();
                async move {
                    if job.kind == "flaky" {
                        return Err("the provider is down".into());
                    }
                    let c = pool.get().await.map_err(|e| e.to_string())?;
                    c.execute(
                        "INSERT INTO ran (job_id, worker) VALUES ($1, $2)",
                        &[&job.id, &w],
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                    Ok(())
                }
            },
        )));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(
        &hub.pool,
        "SELECT count(*) FROM job WHERE kind = 'count' AND state = 'done'",
    )
    .await
        < 200
    {
        assert!(std::time::Instant::now() < deadline, "jobs did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM ran").await, 200);
    assert_eq!(
        count(&hub.pool, "SELECT count(DISTINCT job_id) FROM ran").await,
        200,
        "each once"
    );
    let by_worker = count(&hub.pool, "SELECT count(DISTINCT worker) FROM ran").await;
    eprintln!("jobs shared by {by_worker} instance(s)");
    let flaky = c
        .query_one(
            "SELECT state, attempts, last_error, run_at > now() FROM job WHERE kind = 'flaky'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(flaky.get::<_, String>(0), "pending", "retried later");
    assert_eq!(flaky.get::<_, i32>(1), 1);
    assert_eq!(
        flaky.get::<_, Option<String>>(2).as_deref(),
        Some("the provider is down")
    );
    assert!(flaky.get::<_, bool>(3), "backed off");

    // Scheduling the daily jobs from two instances makes one job.
    jobs::schedule_daily(&c).await.unwrap();
    jobs::schedule_daily(&hub.pool.get().await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM job WHERE kind = 'purge'").await,
        1
    );

    // An instance died mid-job: after the lease, another takes it back.
    c.execute(
        "UPDATE job SET state = 'running', locked_by = 'dead', locked_at = now() - interval '1 hour'
         WHERE kind = 'purge'",
        &[],
    )
    .await
    .unwrap();
    let job = jobs::claim(&c, "alive").await.unwrap().expect("the orphan");
    assert_eq!(job.kind, "purge");
    // What the purge removes, and what it keeps: audit entries younger than 13 months (the
    // rules ask for 6), live sessions, failures still counting.
    c.batch_execute(
        "INSERT INTO hub_user (username, role, password_hash) VALUES ('old', 'admin', 'x');
         INSERT INTO audit_log (at, actor, action) VALUES
             (now() - interval '14 months', 'old', 'ancient'),
             (now() - interval '7 months', 'old', 'kept');
         INSERT INTO hub_session (token_hash, username, csrf, expires_at) VALUES
             ('\\x01', 'old', 'c', now() - interval '1 hour'),
             ('\\x02', 'old', 'c', now() + interval '1 hour');
         INSERT INTO login_failure (key, at) VALUES
             ('user:old', now() - interval '2 days'), ('user:old', now());",
    )
    .await
    .unwrap();
    c.batch_execute(
        "INSERT INTO job (kind, state, done_at) VALUES
             ('notify_email', 'done', now() - interval '2 months'),
             ('notify_email', 'done', now());",
    )
    .await
    .unwrap();
    jobs::work(&hub.pool, &Default::default(), &job)
        .await
        .unwrap();
    jobs::done(&c, job.id).await.unwrap();
    for (sql, left) in [
        ("SELECT count(*) FROM audit_log WHERE actor = 'old'", 1),
        ("SELECT count(*) FROM job WHERE kind = 'notify_email'", 1),
        ("SELECT count(*) FROM audit_log WHERE action = 'kept'", 1),
        ("SELECT count(*) FROM hub_session WHERE username = 'old'", 1),
        (
            "SELECT count(*) FROM login_failure WHERE key = 'user:old'",
            1,
        ),
    ] {
        assert_eq!(count(&hub.pool, sql).await, left, "{sql}");
    }
    assert!(
        jobs::claim(&c, "alive").await.unwrap().is_none(),
        "nothing else due"
    );
}

/// The served OpenAPI description matches the hub: every route the router declares is
/// described with its method and every described one answers (not 404/405); and each schema's
/// properties are exactly the fields the Rust wire types write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_matches_the_routes_and_the_wire_types() {
    use protocol::wire::*;
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let served: serde_json::Value = hub
        .client
        .get(format!("{base}/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = served["paths"].as_object().unwrap();
    let mut described: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    // The routes, read from the routers' source (both ways: none missing, none extra): every
    // `.route("path", get(a).post(b))`, however rustfmt wrapped it.
    let mut routed = BTreeSet::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/hub/src");
    let files = ["", "/console"].iter().flat_map(|sub| {
        std::fs::read_dir(format!("{dir}{sub}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
    });
    for file in files {
        let source = std::fs::read_to_string(file).unwrap();
        for call in source.split(".route(").skip(1) {
            let path = call.split('"').nth(1).unwrap().to_string();
            let rest = call.split('"').nth(2).unwrap();
            // The method chain runs to the call's closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .unwrap()
                .0;
            for method in ["get", "post", "put", "delete"] {
                if rest[..end].contains(&format!("{method}(")) {
                    routed.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    assert!(routed.len() >= 20, "{routed:?}");
    assert_eq!(described, routed, "docs/openapi.json against the routers");
    for (method, path) in &described {
        let r = hub
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert!(
            ![StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED].contains(&r.status()),
            "{method} {path}: {}",
            r.status()
        );
    }
    // Schemas against the types.
    let schemas = &served["components"]["schemas"];
    let keys = |v: serde_json::Value| -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    };
    let props = |name: &str| -> BTreeSet<String> { keys(schemas[name]["properties"].clone()) };
    let op = queue_op(1, 1);
    let samples: Vec<(&str, serde_json::Value)> = vec![
        (
            "EnrolRequest",
            serde_json::to_value(EnrolRequest {
                code: "c".into(),
                public_key: "k".into(),
                client_version: "v".into(),
            })
            .unwrap(),
        ),
        (
            "EnrolResponse",
            serde_json::to_value(EnrolResponse {
                device_id: "d".into(),
                branch: 1,
            })
            .unwrap(),
        ),
        (
            "DeviceStatus",
            serde_json::to_value(DeviceStatus::default()).unwrap(),
        ),
        ("PushOp", serde_json::to_value(&op).unwrap()),
        (
            "PushRequest",
            serde_json::to_value(batch("i", vec![op.clone()])).unwrap(),
        ),
        (
            "OpResult",
            serde_json::to_value(OpResult {
                seq: 1,
                status: OpStatus::Applied,
                detail: None,
            })
            .unwrap(),
        ),
        (
            "PushResponse",
            serde_json::to_value(PushResponse {
                acked_through: 1,
                results: vec![],
            })
            .unwrap(),
        ),
        (
            "FeedChange",
            serde_json::to_value(FeedChange {
                seq: 1,
                entity: "e".into(),
                entity_id: "i".into(),
                op: "put".into(),
                schema_version: 1,
                payload: None,
            })
            .unwrap(),
        ),
        (
            "PullResponse",
            serde_json::to_value(PullResponse {
                epoch: "e".into(),
                changes: vec![],
                next_after: 0,
                up_to_date: true,
            })
            .unwrap(),
        ),
    ];
    let mut samples = samples;
    let company = CompanyChoice {
        matricola: "m".into(),
        company_cf: "c".into(),
        denominazione: "d".into(),
        role: "03".into(),
    };
    samples.push((
        "HandoffStarted",
        serde_json::to_value(HandoffStarted {
            id: "i".into(),
            url: "u".into(),
            expires_at: chrono::Utc::now(),
        })
        .unwrap(),
    ));
    samples.push(("CompanyChoice", serde_json::to_value(&company).unwrap()));
    let message = ContactMessage {
        at: chrono::Utc::now(),
        direction: "in".into(),
        body: "b".into(),
    };
    samples.push(("ContactMessage", serde_json::to_value(&message).unwrap()));
    let attachment = AttachmentInfo {
        name: "f24.pdf".into(),
        mime: "application/pdf".into(),
        size: 1,
    };
    let task = DeskTask::Richiesta {
        matricola: "m".into(),
    };
    samples.push((
        "ContactRequest",
        serde_json::to_value(ContactRequest {
            protocol: "p".into(),
            topic: "f24".into(),
            subject: "s".into(),
            state: "aperta".into(),
            created_at: chrono::Utc::now(),
            messages: vec![message],
            attachments: vec![attachment.clone()],
        })
        .unwrap(),
    ));
    samples.push(("AttachmentInfo", serde_json::to_value(&attachment).unwrap()));
    // Both variants' fields together are the schema's properties.
    let mut desk = serde_json::to_value(&task).unwrap();
    desk.as_object_mut().unwrap().extend(
        serde_json::to_value(DeskTask::Istanza {
            matricola: "m".into(),
            modulo: "rimborso".into(),
        })
        .unwrap()
        .as_object()
        .unwrap()
        .clone(),
    );
    samples.push(("DeskTask", desk));
    let availability = ModuloAvailability {
        code: "rimborso".into(),
        available: false,
        reason: Some("r".into()),
    };
    let istanza = IstanzaInfo {
        protocol: "p".into(),
        code: "rimborso".into(),
        state: "respinta".into(),
        esito: Some("e".into()),
        created_at: chrono::Utc::now(),
    };
    samples.push((
        "ModuloAvailability",
        serde_json::to_value(&availability).unwrap(),
    ));
    samples.push(("IstanzaInfo", serde_json::to_value(&istanza).unwrap()));
    let booked = AgendaBooking {
        booking: "APP-2026-100001".into(),
        starts_at: chrono::Utc::now().naive_utc(),
        service: "A".into(),
        state: "confirmed".into(),
        token: "t".into(),
    };
    samples.push(("AgendaBooking", serde_json::to_value(&booked).unwrap()));
    samples.push((
        "AgendaView",
        serde_json::to_value(AgendaView {
            sede: "s".into(),
            service: "A".into(),
            service_name: "n".into(),
            slots: vec![booked.starts_at],
            bookings: vec![booked.clone()],
        })
        .unwrap(),
    ));
    samples.push((
        "NewBooking",
        serde_json::to_value(NewBooking {
            starts_at: booked.starts_at,
        })
        .unwrap(),
    ));
    samples.push((
        "IstanzeView",
        serde_json::to_value(IstanzeView {
            moduli: vec![availability],
            sent: vec![istanza],
        })
        .unwrap(),
    ));
    samples.push((
        "NewContactRequest",
        serde_json::to_value(NewContactRequest {
            matricola: "m".into(),
            topic: "f24".into(),
            subject: "s".into(),
            body: "b".into(),
        })
        .unwrap(),
    ));
    // Every variant's fields together are the schema's properties.
    let mut state = serde_json::Map::new();
    for v in [
        HandoffState::Pending { opened: true },
        HandoffState::Bound {
            name: "n".into(),
            companies: vec![company],
            until: chrono::Utc::now(),
            task: Some(task),
            sent: Some("p".into()),
        },
        HandoffState::Expired,
    ] {
        state.extend(
            serde_json::to_value(v)
                .unwrap()
                .as_object()
                .unwrap()
                .clone(),
        );
    }
    samples.push(("HandoffState", serde_json::Value::Object(state)));
    for (name, sample) in samples {
        assert_eq!(props(name), keys(sample), "schema {name}");
    }
    let refusals: BTreeSet<String> = [
        serde_json::to_value(PushRefusal::Gap { expected_seq: 1 }).unwrap(),
        serde_json::to_value(PushRefusal::IncarnationConflict { seq: 1 }).unwrap(),
    ]
    .into_iter()
    .flat_map(keys)
    .collect();
    assert_eq!(props("PushRefusal"), refusals);
}

/// *Segui la coda*: the page a ticket's QR opens, fed by the events the kiosk pushed: the
/// ticket's band and estimate while it waits, its counter once called; unknown tickets and
/// malformed addresses get their own answers; no personal data on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follow_page_shows_the_tickets_place_from_pushed_events() {
    use branch::sync::agent::Agent;
    use domain::{Clock, ServiceLetter, SystemClock, TicketPriority};
    use hub::branch_data;
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        11,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    // Open around the clock, so the test does not depend on the hour it runs.
    let mut replica = demo.replica();
    for h in replica.hours.iter_mut() {
        h.opens = chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap();
        h.closes = chrono::NaiveTime::from_hms_opt(23, 59, 0).unwrap();
        h.appointment_only = false;
    }
    replica.hours.extend(replica.services.iter().flat_map(|s| {
        (1..=7).map(|weekday| domain::OpeningHours {
            service: s.letter,
            weekday,
            opens: chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
            closes: chrono::NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
            appointment_only: false,
        })
    }));
    replica.hours.sort_by_key(|h| (h.service, h.weekday));
    replica.hours.dedup_by_key(|h| (h.service, h.weekday));
    replica.rules.walk_in_stop_min = 0;
    replica.rules.holidays.clear();
    branch_data::put_config(
        &hub.pool.get().await.unwrap(),
        i32::from(SEDE),
        &branch_data::config_of(&replica).unwrap(),
    )
    .await
    .unwrap();

    let (_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    let agent = Agent::new(branch.clone(), &link).unwrap();
    agent.pull_once().await.unwrap();
    let p = ServiceLetter::parse("P").unwrap();
    let tickets: Vec<_> = (0..8)
        .map(|_| branch.issue_ticket(p, TicketPriority::WalkIn).unwrap())
        .collect();
    while agent.push_once().await.unwrap() > 0 {}
    let day = tickets[0].business_day;
    let page = |t: &str| {
        let url = format!("{base}/coda/7001/{day}/{t}");
        let client = hub.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = page(&tickets[7].number.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&tickets[7].number.to_string()), "{html}");
    assert!(html.contains("Da 6 a 10 persone prima di lei"), "{html}");
    if let Ok(out) = std::env::var("SPORTELLO_FOLLOW_HTML") {
        std::fs::write(out, &html).unwrap();
    }
    assert!(html.contains("Attesa stimata"), "{html}");
    for secret in demo.sensitive_strings() {
        assert!(
            !html.contains(&secret),
            "personal data on a public page: {secret}"
        );
    }
    // A counter calls the first ticket; the kiosk pushes; its page says where to go.
    let counter = replica
        .counters
        .iter()
        .find(|c| c.services.iter().any(|(s, _)| *s == p))
        .unwrap()
        .number;
    branch
        .execute(queue::Command::OpenCounter {
            counter,
            services: vec![],
            operator: "operatore".into(),
        })
        .unwrap();
    branch
        .execute(queue::Command::CallNext { counter })
        .unwrap();
    while agent.push_once().await.unwrap() > 0 {}
    let (_, html) = page(&tickets[0].number.to_string()).await;
    assert!(
        html.contains(&format!("È il suo turno: sportello {counter}")),
        "{html}"
    );
    assert_eq!(page("Z999").await.0, StatusCode::NOT_FOUND);
    assert_eq!(page("not-a-ticket").await.0, StatusCode::BAD_REQUEST);
}

/// A long poll: a pull with nothing new waits, holding no database connection, and returns as
/// soon as the branch's feed moves (whichever instance wrote); with nothing new it returns
/// empty when its wait is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_pull_returns_when_the_feed_moves_and_holds_no_connection() {
    let hub = Hub::start(2).await;
    let kiosk = hub.enrol().await;
    let (b0, b1) = (hub.base(0), hub.base(1));
    let first: PullResponse = kiosk.pull(&b0, 0, None).await.json().await.unwrap();
    let after = first.next_after;
    let epoch = first.epoch.clone();
    let pull_wait = |base: String, wait: u64| {
        let path = format!("/v1/sync/pull?after={after}&epoch={epoch}&wait={wait}");
        let mut r = kiosk.client.get(format!("{base}{path}"));
        for (h, v) in kiosk.sign("GET", &path, b"") {
            r = r.header(h, v);
        }
        r.send()
    };
    // Nothing new: back empty after its wait.
    let t = std::time::Instant::now();
    let empty: PullResponse = pull_wait(b0.clone(), 1)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(empty.changes.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // Twenty kiosks' worth of waiting pulls at instance 1; the change is written elsewhere.
    let waiting: Vec<_> = (0..20)
        .map(|_| tokio::spawn(pull_wait(b1.clone(), 10)))
        .collect();
    let waiting = tokio::spawn(async move {
        let mut out = Vec::new();
        for w in waiting {
            out.push(
                w.await
                    .unwrap()
                    .unwrap()
                    .json::<PullResponse>()
                    .await
                    .unwrap(),
            );
        }
        out
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Twenty pulls wait at an instance whose pool has 8 connections: had each held one, this
    // ordinary pull would queue behind them until their waits ran out.
    let t = std::time::Instant::now();
    let r = kiosk.pull(&b1, after, Some(&epoch)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "an ordinary pull waited {:?} behind the long polls",
        t.elapsed()
    );
    let t = std::time::Instant::now();
    {
        let c = hub.pool.get().await.unwrap();
        feed::publish(
            &c,
            i32::from(SEDE),
            &[feed::Change {
                entity: "test".into(),
                entity_id: "1".into(),
                payload: Some(serde_json::json!({})),
            }],
        )
        .await
        .unwrap();
    }
    let answers = waiting.await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    for a in answers {
        assert_eq!(a.changes.len(), 1);
        assert_eq!(a.next_after, after + 1);
    }
}

/// The console over real HTTPS: login (a strict cookie; wrong passwords limited), the fleet
/// with each kiosk's reported health, enrolment codes and revocation by administrators with
/// the session's CSRF token, supervisors limited to their sede.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_lists_kiosks_with_their_health_and_lets_administrators_act() {
    use hub::accounts::{self, Role};
    use protocol::wire::DeviceStatus;
    let hub = Hub::start(1).await;
    let base = hub.base(0);
    {
        let mut c = hub.pool.get().await.unwrap();
        accounts::create_user(&mut c, "cli", "root", STAFF_PASSWORD, Role::Admin, None)
            .await
            .unwrap();
        accounts::create_user(
            &mut c,
            "root",
            "capo",
            STAFF_PASSWORD,
            Role::Supervisor,
            Some(5105),
        )
        .await
        .unwrap();
    }
    let kiosk = hub.enrol().await;
    let mut req = batch("inc-1", vec![queue_op(1, 1)]);
    req.status = DeviceStatus {
        outbox_depth: 3,
        oldest_pending_age_s: Some(1800),
        printer: "paper_out".into(),
        scanner: "present".into(),
        clock_trusted: true,
        ..DeviceStatus::default()
    };
    assert_eq!(kiosk.push(&base, &req).await.status(), StatusCode::OK);

    let client = &hub.client;
    let login = |user: &str, password: &str| {
        client
            .post(format!("{base}/console/login"))
            .form(&[("username", user), ("password", password)])
            .send()
    };
    let get = |cookie: Option<String>| {
        let mut r = client.get(format!("{base}/console"));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console/login");

    let wrong = login("root", "sbagliata").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("non corretti"));
    let ok = login("root", STAFF_PASSWORD).await.unwrap();
    if ok.status() != StatusCode::SEE_OTHER {
        panic!("{}: {}", ok.status(), ok.text().await.unwrap());
    }
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in [
        "__Host-hub_session=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    // Today's queue at the branch, as its kiosks pushed it.
    hub.pool
        .get()
        .await
        .unwrap()
        .batch_execute(
            "INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
             SELECT 7001, 'today', s, (now() AT TIME ZONE 'Europe/Rome')::date,
                    CASE WHEN s <= 3 THEN 'ticket_issued' ELSE 'ticket_served' END, '{}', 'k'
             FROM generate_series(1, 4) s",
        )
        .await
        .unwrap();
    let page = get(Some(cookie.clone()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<tr><td>7001</td><td>3</td><td>0</td><td>1</td><td>0</td></tr>"),
        "{page}"
    );
    assert!(page.contains(&kiosk.id), "{page}");
    assert!(page.contains("senza carta"), "{page}");
    assert!(page.contains("3 (da 30 min)"), "{page}");
    if let Ok(out) = std::env::var("SPORTELLO_CONSOLE_HTML") {
        std::fs::write(out, &page).unwrap();
    }
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let post = |path: &str, form: Vec<(&str, String)>, cookie: &str| {
        client
            .post(format!("{base}{path}"))
            .header("cookie", cookie)
            .form(&form)
            .send()
    };
    // Without the session's CSRF token, nothing happens.
    let forged = post(
        "/console/enrolment-codes",
        vec![("csrf", "x".into()), ("branch", "7001".into())],
        &cookie,
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let made = post(
        "/console/enrolment-codes",
        vec![("csrf", csrf.clone()), ("branch", "7001".into())],
        &cookie,
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let code = made
        .split("id=\"enrolment-code\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let enrolled = hub
        .client
        .post(format!("{base}/v1/enrol"))
        .json(&EnrolRequest {
            code,
            public_key: wire::hex(
                SigningKey::from_bytes(&rand_seed())
                    .verifying_key()
                    .as_bytes(),
            ),
            client_version: "test".into(),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(
        enrolled.status(),
        StatusCode::OK,
        "the console's code enrols a kiosk"
    );
    let revoked = post(
        &format!("/console/devices/{}/revoke", kiosk.id),
        vec![("csrf", csrf.clone())],
        &cookie,
    )
    .await
    .unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        kiosk
            .push(&base, &batch("inc-1", vec![queue_op(2, 2)]))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // A supervisor of another sede sees none of these kiosks and cannot enrol.
    let sup = login("capo", STAFF_PASSWORD).await.unwrap();
    let sup_cookie = sup.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let sup_page = get(Some(sup_cookie.clone()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!sup_page.contains(&kiosk.id));
    assert!(!sup_page.contains("Registra un nuovo chiosco"));
    let sup_csrf = sup_page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let refused = post(
        "/console/enrolment-codes",
        vec![("csrf", sup_csrf), ("branch", "5105".into())],
        &sup_cookie,
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Five wrong passwords for an account block it for a while.
    for _ in 0..5 {
        login("capo", "sbagliata").await.unwrap();
    }
    assert_eq!(
        login("capo", STAFF_PASSWORD).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The running agent hears a change at the hub through its long poll, not its timer: with a
/// one-minute interval, an appointment the hub cancels is cancelled at the kiosk within
/// seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_agent_hears_hub_changes_through_its_long_poll() {
    use branch::sync::agent::Agent;
    use domain::{AppointmentState, Clock, SystemClock};
    use hub::branch_data;
    let hub = Hub::start(1).await;
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        11,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    let (_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let agent = Agent::new(branch.clone(), &link).unwrap();
    let task = tokio::spawn(agent.run(Duration::from_secs(60), Duration::from_secs(60), stopped));
    let booking = demo.appointments[4].appointment.id;
    let state = || branch.read(|_, s| s.appointment(booking).unwrap().map(|a| a.state));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while state().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pull never came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the agent settle into its long poll, then change the appointment at the hub.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut cancelled = demo.appointments[4].appointment.clone();
    cancelled.state = AppointmentState::CancelledBySede;
    let t = std::time::Instant::now();
    {
        let mut c = hub.pool.get().await.unwrap();
        let tx = c.transaction().await.unwrap();
        branch_data::put_appointments(&tx, i32::from(SEDE), &[cancelled])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    while state() != Some(AppointmentState::CancelledBySede) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the change did not arrive through the long poll"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("hub change reached the kiosk in {:?}", t.elapsed());
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

/// An old kiosk is told to update (426) and keeps its operations; once updated, they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_older_than_the_minimum_is_told_to_update_and_keeps_its_outbox() {
    let hub = Hub::start(1).await;
    let kiosk = hub.enrol().await;
    let tls = web::tls::self_signed().unwrap();
    let strict = hub::start(
        HubState::new(hub.pool.clone()).with_min_client_version(Some("0.2.0".into())),
        "127.0.0.1:0",
        &tls,
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
        .build()
        .unwrap();
    let kiosk = Kiosk { client, ..kiosk };
    let base = format!("https://127.0.0.1:{}", strict.addr.port());
    let mut old = batch("inc-1", vec![queue_op(1, 1)]);
    old.client_version = "0.1.9".into();
    let r = kiosk.push(&base, &old).await;
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["min_client_version"], "0.2.0");
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        0
    );
    old.client_version = "0.2.0".into();
    assert_eq!(kiosk.push(&base, &old).await.status(), StatusCode::OK);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM queue_event").await,
        1
    );
    strict.stop().await;
}

/// One browser's session at one hub instance, over real HTTPS.
struct ConsoleSession {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl ConsoleSession {
    async fn try_login(
        hub: &Hub,
        instance: usize,
        user: &str,
        password: &str,
    ) -> reqwest::Response {
        hub.client
            .post(format!("{}/console/login", hub.base(instance)))
            .form(&[("username", user), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    async fn login(hub: &Hub, instance: usize, user: &str, password: &str) -> ConsoleSession {
        let r = Self::try_login(hub, instance, user, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{user} logs in");
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut s = ConsoleSession {
            client: hub.client.clone(),
            base: hub.base(instance),
            cookie,
            csrf: String::new(),
        };
        let (status, page) = s.get("/console/account").await;
        assert_eq!(status, StatusCode::OK);
        s.csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        s
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts a form with the session's CSRF token; the status, the redirect and the page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf", &self.csrf));
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (r.status(), location, r.text().await.unwrap())
    }
}

fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    page.split(start)
        .nth(1)
        .unwrap_or_else(|| panic!("no {start} in {page}"))
        .split(end)
        .next()
        .unwrap()
}

/// The console's sede pages: a supervisor changes services, counters, hours and rules (bad
/// values refused with the reason, nothing lost), the kiosk receives each change through its
/// feed; bookings are listed against the day's slots and cancelled by the sede; accounts are
/// made and reset with a temporary password shown once, and disabled; every role sees and
/// changes only what it may; the login limit holds across two hub instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_runs_a_sede_its_bookings_and_accounts_and_kiosks_follow() {
    use branch::sync::agent::Agent;
    use domain::{AppointmentState, Clock, SystemClock};
    use hub::accounts::{self, Role};
    let hub = Hub::start(2).await;
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let now = clock.local_now().naive_local();
    let demo = demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 5, now)
        .await
        .unwrap();
    {
        let mut c = hub.pool.get().await.unwrap();
        for (user, role, branch) in [
            ("root", Role::Admin, None),
            ("capo", Role::Supervisor, Some(SEDE)),
            ("banco", Role::Counter, Some(SEDE)),
        ] {
            accounts::create_user(&mut c, "cli", user, STAFF_PASSWORD, role, branch)
                .await
                .unwrap();
        }
    }
    let (_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    let agent = Agent::new(branch.clone(), &link).unwrap();
    agent.pull_once().await.unwrap();

    // The supervisor, on the second instance, changes the sede.
    let capo = ConsoleSession::login(&hub, 1, "capo", STAFF_PASSWORD).await;
    let sede = "/console/sedi/7001";
    let (status, page) = capo.get(sede).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Sede 7001"), "{page}");
    let (status, to, _) = capo
        .post(
            &format!("{sede}/servizi"),
            &[
                ("letter", "z"),
                ("name", " Zeta di prova "),
                ("level", "2"),
                ("slot_minutes", "20"),
                ("appointment_only", "on"),
            ],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sedi/7001?salvato=servizi")
    );
    let (_, page) = capo.get(&to).await;
    assert!(
        page.contains("Servizi salvati.") && page.contains("Zeta di prova"),
        "{page}"
    );
    let (status, _, _) = capo
        .post(
            &format!("{sede}/sportelli"),
            &[("number", "9"), ("label", "Sportello 9"), ("peso_Z", "2")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let hours = [
        ("service", "Z"),
        ("weekday", "1"),
        ("opens", "09:00"),
        ("closes", "11:00"),
    ];
    assert_eq!(
        capo.post(&format!("{sede}/orari"), &hours).await.0,
        StatusCode::SEE_OTHER
    );
    // Refusals say why and change nothing.
    for (path, form, reason) in [
        (
            "orari",
            vec![
                ("service", "Z"),
                ("weekday", "1"),
                ("opens", "10:00"),
                ("closes", "12:00"),
            ],
            "Si sovrappone alla fascia 09:00–11:00",
        ),
        (
            "servizi-rimuovi",
            vec![("letter", "Z")],
            "Lo sportello 9 serve ancora il servizio Z",
        ),
        (
            "sportelli",
            vec![("number", "100"), ("label", "x"), ("peso_Z", "1")],
            "da 1 a 99",
        ),
        (
            "regole",
            vec![
                ("priority_factor", "3"),
                ("priority_max_advance_min", "20"),
                ("priority_calls", "5"),
                ("priority_window", "2"),
                ("weight_step_min", "5"),
                ("appointment_late_min", "15"),
                ("max_recalls", "2"),
                ("reactivate_within_min", "30"),
                ("walk_in_stop_min", "15"),
                ("daily_cap", "300"),
                ("holidays", ""),
            ],
            "Regole non valide",
        ),
    ] {
        let (status, _, page) = capo.post(&format!("{sede}/{path}"), &form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(page.contains(reason), "{path}: {page}");
    }
    let rules = [
        ("priority_factor", "3"),
        ("priority_max_advance_min", "20"),
        ("priority_calls", "1"),
        ("priority_window", "3"),
        ("weight_step_min", "5"),
        ("appointment_late_min", "15"),
        ("max_recalls", "2"),
        ("reactivate_within_min", "30"),
        ("walk_in_stop_min", "15"),
        ("daily_cap", "321"),
        ("holidays", "25/12/2026\r\n2026-12-26"),
    ];
    assert_eq!(
        capo.post(&format!("{sede}/regole"), &rules).await.0,
        StatusCode::SEE_OTHER
    );

    // The kiosk follows: the new service, its counter and hours, the rules.
    assert!(agent.pull_once().await.unwrap() >= 1);
    let z = domain::ServiceLetter::parse("Z").unwrap();
    let (services, counters) = branch.read(|_, s| (s.services().unwrap(), s.counters().unwrap()));
    let service = services
        .iter()
        .find(|s| s.letter == z)
        .expect("the kiosk has Z");
    assert_eq!(
        (service.name.as_str(), service.slot_minutes),
        ("Zeta di prova", 20)
    );
    assert!(
        counters
            .iter()
            .any(|k| k.number.get() == 9 && k.services == vec![(z, 2)])
    );
    let stored: serde_json::Value = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one(
            "SELECT payload FROM branch_config WHERE branch_id = 7001",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["rules"]["daily_cap"], 321);
    assert_eq!(stored["rules"]["holidays"].as_array().unwrap().len(), 2);
    assert!(
        count(
            &hub.pool,
            "SELECT count(*) FROM audit_log WHERE actor = 'capo' AND action LIKE 'sede.%'"
        )
        .await
            >= 4
    );

    // Not another sede, and not counter staff.
    assert_eq!(
        capo.get("/console/sedi/5105").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        capo.post("/console/sedi/5105/servizi", &[("letter", "Q")])
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let banco = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    let (status, page) = banco.get(sede).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Zeta di prova") && !page.contains("Salva il servizio"));
    assert_eq!(
        banco.post(&format!("{sede}/orari-rimuovi"), &hours).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(banco.get("/console/sedi").await.0, StatusCode::SEE_OTHER);

    // Bookings against the day's slots; the sede cancels one and the kiosk hears of it.
    let booked = &demo.appointments[3].appointment;
    let day = booked.starts_at.date().format("%Y-%m-%d").to_string();
    let list = format!(
        "{sede}/appuntamenti?giorno={day}&servizio={}",
        booked.service
    );
    let (status, page) = capo.get(&list).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&booked.id.to_string()), "{page}");
    assert!(page.contains("fasce libere"), "{page}");
    let cancel = format!("{sede}/appuntamenti/{}/annulla", booked.id);
    let form = [
        ("giorno", day.as_str()),
        ("servizio", &booked.service.to_string()),
    ];
    let (status, to, _) = banco.post(&cancel, &form).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "counter staff do not cancel: {to}"
    );
    let (status, to, _) = capo.post(&cancel, &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(capo.get(&to).await.1.contains("annullata dalla sede"));
    let (_, to, _) = capo.post(&cancel, &form).await;
    assert!(capo.get(&to).await.1.contains("non si può più annullare"));
    assert_eq!(agent.pull_once().await.unwrap(), 1);
    let at_kiosk = branch.read(|_, s| s.appointment(booked.id).unwrap().unwrap());
    assert_eq!(at_kiosk.state, AppointmentState::CancelledBySede);

    // Accounts: a supervisor makes counter staff of the sede, never an administrator.
    let (status, _, page) = capo
        .post(
            "/console/account",
            &[("username", "nuovo.banco"), ("role", "counter")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first = between(&page, "id=\"temporary-password\">", "<").to_owned();
    assert!(first.len() >= 16, "{first}");
    let (status, _, page) = capo
        .post(
            "/console/account",
            &[("username", "nuovo.banco"), ("role", "counter")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("già in uso"),
        "an account is never taken over: {page}"
    );
    assert_eq!(
        capo.post(
            "/console/account",
            &[("username", "boss"), ("role", "admin")]
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        capo.post("/console/account/root/password", &[]).await.0,
        StatusCode::FORBIDDEN
    );
    let newcomer = ConsoleSession::login(&hub, 0, "nuovo.banco", &first).await;
    let (_, _, page) = capo
        .post("/console/account/nuovo.banco/password", &[])
        .await;
    let second = between(&page, "id=\"temporary-password\">", "<").to_owned();
    assert_ne!(first, second);
    assert_eq!(
        newcomer.get("/console").await.0,
        StatusCode::SEE_OTHER,
        "a reset logs the old session out"
    );
    assert_eq!(
        ConsoleSession::try_login(&hub, 1, "nuovo.banco", &first)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    ConsoleSession::login(&hub, 1, "nuovo.banco", &second).await;
    let (status, _, _) = capo
        .post("/console/account/nuovo.banco/stato", &[("disabled", "1")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        ConsoleSession::try_login(&hub, 0, "nuovo.banco", &second)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    agent.pull_once().await.unwrap();
    let staff = branch
        .read(|_, s| s.staff("nuovo.banco").unwrap())
        .expect("the account reached the branch");
    assert!(staff.disabled, "and so did its disabling");

    // An administrator adds a sede: it gets its first configuration. A sede first registered
    // by an account made for it is configured from empty; one never registered is not found.
    let root = ConsoleSession::login(&hub, 0, "root", STAFF_PASSWORD).await;
    assert_eq!(
        root.get("/console/sedi/5105").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _, _) = root
        .post(
            "/console/account",
            &[
                ("username", "altro"),
                ("role", "counter"),
                ("branch", "5105"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root.get("/console/sedi/5105").await.0, StatusCode::OK);
    let (status, _, page) = root
        .post(
            "/console/sedi/5105/servizi",
            &[
                ("letter", "P"),
                ("name", "Pensioni"),
                ("slot_minutes", "10"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let (_, page) = root.get("/console/sedi").await;
    assert!(page.contains("/console/sedi/7001"), "{page}");
    let (status, to, _) = root.post("/console/sedi", &[("branch", "5105")]).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/console/sedi/5105")
    );
    let (_, page) = root.get(&to).await;
    assert!(
        page.contains("Pensioni"),
        "adding keeps what was there: {page}"
    );
    let (status, _, page) = root.post("/console/sedi", &[("branch", "0000")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("4 cifre"), "{page}");

    // Five wrong passwords at one instance block the account at the other: the counts are
    // in the database, not in either process. (The address's earlier failures are
    // forgotten first: they count too.)
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("DELETE FROM login_failure", &[])
        .await
        .unwrap();
    for _ in 0..5 {
        ConsoleSession::try_login(&hub, 0, "capo", "sbagliata").await;
    }
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM login_failure WHERE key = 'user:capo'"
        )
        .await,
        5
    );
    assert_eq!(
        ConsoleSession::try_login(&hub, 1, "capo", STAFF_PASSWORD)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The built-in provider's login form, as the phone's browser would send it back: its hidden
/// fields (unescaped), to which the chosen identity is added.
fn login_form(page: &str) -> Vec<(String, String)> {
    page.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|f| {
            let name = f.split('"').next().unwrap().to_owned();
            let value = f
                .split("value=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            // The page escapes what it repeats; the form sends it back as typed.
            (name, value.replace("&#38;", "&").replace("&amp;", "&"))
        })
        .collect()
}

/// Follows one redirect by hand: its target, as a path on the hub or a full URL.
fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a redirect");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Identification by phone hand-off through a real OpenID Connect flow: the kiosk asks for a
/// QR code; the "phone" opens it, is sent to the built-in provider (PKCE and a nonce in the
/// request), logs in as a demo person and comes back; the hub exchanges the code, checks the
/// ID token and binds the person to that kiosk session, whose companies the kiosk then reads.
/// A QR code opened twice, an expired one, a replayed provider answer, a code exchanged twice,
/// another kiosk asking, and a session the kiosk ended are all refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_identifies_the_visitor_for_the_kiosk_through_openid_connect() {
    use domain::{Clock, SystemClock};
    use protocol::wire::{HandoffStarted, HandoffState};
    let hub = Hub::start(2).await;
    let clock = SystemClock::untrusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        9,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    let kiosk = hub.enrol().await;
    let base = hub.base(0);
    let started: HandoffStarted = kiosk
        .signed(&base, "POST", "/v1/handoff")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        started.url.starts_with(&format!("{base}/h/")),
        "{}",
        started.url
    );
    let status = |id: String| {
        let kiosk = &kiosk;
        let base = base.clone();
        async move {
            let r = kiosk
                .signed(&base, "GET", &format!("/v1/handoff/{id}"))
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<HandoffState>().await.unwrap()
        }
    };
    assert_eq!(
        status(started.id.clone()).await,
        HandoffState::Pending { opened: false }
    );

    // The phone: the QR code, the provider's page, the choice of identity, back to the hub.
    let phone = &hub.client;
    let to_idp = location(&phone.get(&started.url).send().await.unwrap());
    assert!(to_idp.contains("/idp/authorize?"), "{to_idp}");
    assert!(to_idp.contains("code_challenge_method=S256") && to_idp.contains("nonce="));
    assert_eq!(
        status(started.id.clone()).await,
        HandoffState::Pending { opened: true }
    );
    let again = phone.get(&started.url).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT, "a QR code opens once");
    assert!(again.text().await.unwrap().contains("già stato usato"));
    let page = phone
        .get(&to_idp)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let person = demo
        .people
        .iter()
        .find(|p| !p.companies.is_empty())
        .unwrap();
    let full_name = format!("{} {}", person.given_name, person.surname);
    assert!(page.contains(&full_name), "{page}");
    let mut form = login_form(&page);
    form.push(("cf".into(), person.cf.as_str().to_owned()));
    let back = location(
        &phone
            .post(format!("{base}/idp/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    );
    assert!(
        back.starts_with(&format!("{base}/h/callback?code=")),
        "{back}"
    );
    let done = phone.get(&back).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Identificazione riuscita")
    );

    // The kiosk reads who it is and the companies they may act for.
    match status(started.id.clone()).await {
        HandoffState::Bound {
            name, companies, ..
        } => {
            assert_eq!(name, full_name);
            let expected: BTreeSet<String> = person
                .companies
                .iter()
                .flat_map(|&i| demo.companies[i].matricole.iter().map(|m| m.to_string()))
                .collect();
            let got: BTreeSet<String> = companies.iter().map(|c| c.matricola.clone()).collect();
            assert_eq!(got, expected);
            assert!(companies.iter().all(|c| c.role == person.role.code()));
        }
        other => panic!("{other:?}"),
    }
    // The summary of a delegated matricola is the dataset's; another company's is not there.
    let delegated = &demo.companies[person.companies[0]];
    let m = delegated.matricole[0].as_str();
    let r = kiosk
        .signed(
            &base,
            "GET",
            &format!("/v1/handoff/{}/companies/{m}", started.id),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let got: protocol::cassetto::CompanySummary = r.json().await.unwrap();
    let reps: Vec<(String, &'static str)> = demo
        .people
        .iter()
        .filter(|p| {
            p.companies.contains(&person.companies[0]) && p.role == domain::TipoDelegato::Azienda
        })
        .map(|p| {
            (
                format!("{} {}", p.given_name, p.surname),
                "Legale rappresentante",
            )
        })
        .collect();
    assert_eq!(
        got,
        demo::cassetto::summary(
            9,
            delegated,
            m,
            &demo.sede,
            &reps,
            clock.local_now().date_naive()
        )
    );
    let stranger = demo
        .companies
        .iter()
        .enumerate()
        .find(|(i, _)| !person.companies.contains(i))
        .map(|(_, c)| c.matricole[0].as_str())
        .unwrap();
    for other in [stranger, "7099999999"] {
        let r = kiosk
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/companies/{other}", started.id),
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{other} is not theirs");
    }
    // The provider's answer replayed: refused, and the binding stays.
    let replay = phone.get(&back).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    // Another kiosk cannot read this one's session.
    let other = hub.enrol().await;
    assert_eq!(
        other
            .signed(&base, "GET", &format!("/v1/handoff/{}", started.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/companies/{m}", started.id)
            )
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "another kiosk never reads this visitor's companies"
    );
    // The kiosk ends it (logout, timeout, a new visitor): nothing more to read.
    let ended = kiosk
        .signed(&base, "POST", &format!("/v1/handoff/{}/end", started.id))
        .await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(status(started.id.clone()).await, HandoffState::Ended);
    assert_eq!(
        kiosk
            .signed(
                &base,
                "GET",
                &format!("/v1/handoff/{}/companies/{m}", started.id)
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // An expired QR code is refused, and says so.
    let late: HandoffStarted = kiosk
        .signed(&base, "POST", "/v1/handoff")
        .await
        .json()
        .await
        .unwrap();
    hub.pool
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE handoff SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&uuid::Uuid::parse_str(&late.id).unwrap()],
        )
        .await
        .unwrap();
    let r = phone.get(&late.url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(r.text().await.unwrap().contains("non è più valido"));
    assert_eq!(status(late.id.clone()).await, HandoffState::Expired);

    // The provider's token endpoint: a code works once, only with its PKCE verifier and the
    // hub's secret.
    let token = |code: &str, verifier: &str, secret: &str| {
        phone
            .post(format!("{base}/idp/token"))
            .basic_auth("sportello-hub", Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &format!("{base}/h/callback")),
                ("code_verifier", verifier),
            ])
            .send()
    };
    let used_code = back
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let r = token(used_code, "x", "segreto di prova").await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a code is used once");
    let r = token(used_code, "x", "sbagliato").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The kiosk's *Il mio Cassetto* screen, headless, against a real hub, PostgreSQL and the
/// built-in provider: the QR code drawn on the screen is read back from its pixels and opened
/// by the "phone"; after the login, the screen greets the visitor and lists their companies
/// with masked matricole; leaving the screen ends the session at the hub. Screenshots of both
/// states go to `docs/screenshots/` with `SPORTELLO_SCREENSHOTS=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cassetto_screen_identifies_the_visitor_by_phone_and_lists_their_companies() {
    use branch::sync::agent::Agent;
    use domain::{Clock, SystemClock};
    use kiosk::screenshot::{Renderer, Shot};
    use kiosk::ui::{CassettoAdapter, CassettoPhase, Dispatch, KioskUi, Screen};
    use slint::{ComponentHandle, Model};
    let hub = Hub::start(1).await;
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        9,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    let (kiosk_dir, branch) = empty_kiosk(&clock);
    let link = hub.enrol_branch(&branch).await;
    Agent::new(branch.clone(), &link)
        .unwrap()
        .pull_once()
        .await
        .unwrap();
    let person = demo
        .people
        .iter()
        .find(|p| !p.companies.is_empty())
        .unwrap()
        .clone();
    let first_company = demo.companies[person.companies[0]].name.clone();
    let person_cf = person.cf.as_str().to_owned();
    let person_cf_for_ui = person_cf.clone();
    // What must not rest at the kiosk afterwards.
    let mut secrets: Vec<String> = vec![person_cf];
    for c in &demo.companies {
        secrets.push(c.cf.to_string());
        secrets.push(c.name.clone());
        secrets.extend(c.matricole.iter().map(|m| m.as_str().to_owned()));
    }
    let phone = hub.phone();
    let base = hub.base(0);
    let handle = tokio::runtime::Handle::current();
    let pool = hub.pool.clone();
    tokio::task::spawn_blocking(move || {
        let renderer = Renderer::install().unwrap();
        let ident =
            kiosk::identify::HubIdentification::new(&link, handle.clone()).unwrap();
        let paper_dir = tempfile::tempdir().unwrap();
        let paper = paper_dir.path().join("printer.bin");
        let replica_branch = branch.clone();
        let agent_link = link.clone();
        let kiosk = kiosk::Kiosk::new(branch)
            .unwrap()
            .with_identification(Arc::new(ident))
            .with_printer(
                Box::new(hardware::printer::SimulatedPrinter::new(paper.clone())),
                ticket::PrintOptions::default(),
            );
        let ui = KioskUi::with_dispatch(kiosk, Dispatch::Inline).unwrap();
        let shot = Shot {
            screen: Screen::Cassetto,
            lang: "it".into(),
            width: 1280,
            height: 800,
            high_contrast: false,
            large_text: false,
            seated: false,
        };
        let screen = |name: &str| {
            let png = renderer.render(&ui, &shot).unwrap();
            if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
                let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots")
                    .join(name);
                std::fs::write(out, &png).unwrap();
            }
            png
        };
        // Opening the screen asks the hub for a code.
        renderer.render(&ui, &shot).unwrap();
        let a = ui.window().global::<CassettoAdapter>();
        assert_eq!(a.get_phase(), CassettoPhase::Qr);
        let png = screen("cassetto-qr.png");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let grey: Vec<u8> = buf[..w * h * 3]
            .chunks_exact(3)
            .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2])) / 3) as u8)
            .collect();
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| grey[y * w + x]);
        let url = img
            .detect_grids()
            .into_iter()
            .find_map(|g| g.decode().ok().map(|d| d.1))
            .expect("a readable QR code on the screen");
        assert!(url.starts_with(&format!("{base}/h/")), "{url}");

        // The phone, meanwhile.
        handle.block_on(phone_login(&phone, &base, &url, person.cf.as_str()));

        // The screen's next half-second step finds the visitor identified.
        ui.cassetto_step();
        assert_eq!(a.get_phase(), CassettoPhase::Bound);
        assert_eq!(
            a.get_person().as_str(),
            format!("{} {}", person.given_name, person.surname)
        );
        let companies = a.get_companies();
        assert!(companies.row_count() >= 1);
        let names: Vec<String> = companies.iter().map(|c| c.name.to_string()).collect();
        assert!(names.contains(&first_company), "{names:?}");
        for c in companies.iter() {
            assert!(c.masked.contains('•') && c.masked != c.matricola, "{c:?}");
            assert_eq!(c.masked.chars().count(), c.matricola.chars().count());
        }
        screen("cassetto-companies.png");

        // The first company's summary: its figures are the dataset's.
        let row = companies.row_data(0).unwrap();
        let company = demo
            .companies
            .iter()
            .find(|c| c.name == row.name.as_str())
            .unwrap();
        let reps: Vec<(String, &'static str)> = demo
            .people
            .iter()
            .filter(|p| {
                p.role == domain::TipoDelegato::Azienda
                    && p.companies
                        .iter()
                        .any(|&i| demo.companies[i].name == company.name)
            })
            .map(|p| {
                (
                    format!("{} {}", p.given_name, p.surname),
                    "Legale rappresentante",
                )
            })
            .collect();
        let expected = demo::cassetto::summary(
            9,
            company,
            row.matricola.as_str(),
            &demo.sede,
            &reps,
            clock.local_now().date_naive(),
        );
        // A request about it, answered by the sede, shows with the reply.
        handle.block_on(async {
            let mut c = pool.get().await.unwrap();
            c.execute(
                "INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic, subject)
                 VALUES (7001, 'INPS.7001.TEST.0000001', $1, $2, 'f24', 'Versamento di marzo')",
                &[&row.matricola.as_str(), &person_cf_for_ui.as_str()],
            )
            .await
            .unwrap();
            hub::contatti::reply(
                &mut c,
                "ufficio",
                7001,
                "INPS.7001.TEST.0000001",
                "Il versamento risulta regolare.",
            )
            .await
            .unwrap();
        });
        a.invoke_open_company(0);
        assert!(a.get_summary_shown());
        let requests = a.get_requests();
        assert_eq!(requests.row_count(), 1);
        let r = requests.row_data(0).unwrap();
        assert_eq!(r.state.as_str(), "presa in carico");
        assert!(r.from_sede && r.last.as_str() == "Il versamento risulta regolare.");
        let view = a.get_summary();
        assert_eq!(view.name.as_str(), company.name);
        assert_eq!(
            view.debt.as_str(),
            protocol::cassetto::euro(expected.debito_aperto())
        );
        assert_eq!(view.notes_count as usize, expected.note_rettifica.len());
        assert_eq!(
            view.durc,
            match expected.durc {
                protocol::cassetto::Durc::Regolare { .. } => 0,
                protocol::cassetto::Durc::InVerifica { .. } => 1,
                protocol::cassetto::Durc::NonRegolare { .. } => 2,
            }
        );
        assert!(view.matricola.contains('•'), "masked on the summary too");
        screen("cassetto-summary.png");
        // Each card opens its section, whole: the months of UniEmens against F24, newest
        // first, those not balanced marked; in English, months and outcomes too.
        a.invoke_open_section(3);
        assert!(a.get_section_shown());
        let section = a.get_section();
        assert_eq!(section.rows.row_count(), expected.mesi.len());
        let newest = expected.mesi.last().unwrap();
        assert_eq!(
            section.rows.row_data(0).unwrap().label.as_str(),
            newest.period.text()
        );
        assert_eq!(
            section.rows.iter().filter(|r| r.alert).count(),
            expected
                .mesi
                .iter()
                .filter(|m| !matches!(m.esito(), "Quadrato" | "A credito"))
                .count()
        );
        screen("cassetto-uniemens.png");
        let session = ui.window().global::<kiosk::ui::SessionAdapter>();
        session.set_language("en".into());
        a.invoke_open_section(3);
        let month = chrono::Month::try_from(newest.period.month as u8).unwrap().name();
        assert_eq!(
            a.get_section().rows.row_data(0).unwrap().label.as_str(),
            format!("{month} {}", newest.period.year)
        );
        session.set_language("it".into());
        // The notes with their arithmetic; the registry with the linked persons by name.
        a.invoke_open_section(4);
        let notes = a.get_section().rows;
        assert_eq!(notes.row_count(), expected.note_rettifica.len().max(1));
        for (row, n) in notes.iter().zip(&expected.note_rettifica) {
            assert!(row.detail.contains(&n.calcolo()), "{row:?}");
        }
        a.invoke_open_section(0);
        let registry: Vec<String> = a
            .get_section()
            .rows
            .iter()
            .map(|r| r.value.to_string())
            .collect();
        for p in &expected.soggetti {
            assert!(registry.contains(&p.nome), "{registry:?}");
        }
        for linked in &expected.aziende_collegate {
            assert!(registry.contains(&linked.denominazione), "{registry:?}");
        }
        assert!(
            !registry.iter().any(|v| v.contains(row.matricola.as_str())),
            "the matricola stays masked"
        );
        a.set_section_shown(false);
        // Stampa fascicolo: the figures on paper, the matricola masked, no linked persons.
        a.invoke_print_summary();
        assert!(
            a.get_print_status().contains("stampato"),
            "{}",
            a.get_print_status()
        );
        let opts = ticket::PrintOptions::default();
        let preview =
            ticket::preview::preview(&std::fs::read(&paper).unwrap(), opts.paper, opts.code_page)
                .unwrap();
        if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::write(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/cassetto-fascicolo.png"),
                preview.png(),
            )
            .unwrap();
        }
        let printed = preview.transcript;
        assert!(
            printed.contains(&protocol::cassetto::euro(expected.debito_aperto())),
            "{printed}"
        );
        assert!(!printed.contains(row.matricola.as_str()), "{printed}");
        for (name, _) in &reps {
            assert!(
                !printed.contains(name.as_str()),
                "{name} printed: {printed}"
            );
        }

        // Scrivi alla sede: the form opens on the phone, which sends it with three files;
        // the kiosk's next step shows the protocol and the request with its attachments.
        a.invoke_write_to_sede();
        assert!(
            a.get_phone_status().contains("Continui sul suo telefono"),
            "{}",
            a.get_phone_status()
        );
        let (status, page) = handle.block_on(send_from_phone(
            &phone,
            &base,
            "Quietanze di marzo",
            vec![
                ("quietanza.pdf", b"%PDF-1.4\n%%EOF\n".to_vec()),
                ("ricevuta.png", png_bytes(8)),
                ("estratto.png", png_bytes(9)),
            ],
        ));
        assert_eq!(status, StatusCode::CREATED, "{page}");
        ui.cassetto_step();
        assert!(
            a.get_phone_status().contains("protocollo INPS.7001."),
            "{}",
            a.get_phone_status()
        );
        let requests = a.get_requests();
        assert_eq!(requests.row_count(), 2);
        let newest = requests.row_data(0).unwrap();
        assert_eq!(newest.subject.as_str(), "Quietanze di marzo");
        assert_eq!((newest.attachments, newest.state.as_str()), (3, "aperta"));
        screen("cassetto-sent.png");
        // Its history, both ways, with the files.
        a.invoke_open_request(1);
        let history = a.get_section();
        assert!(history.title.contains("Versamento di marzo"), "{history:?}");
        let said: Vec<String> = history.rows.iter().map(|r| r.value.to_string()).collect();
        assert_eq!(said, ["Il versamento risulta regolare."], "the reply");
        a.invoke_open_request(0);
        let files: Vec<String> = a
            .get_section()
            .rows
            .iter()
            .filter(|r| r.label == "Allegato")
            .map(|r| r.value.to_string())
            .collect();
        assert_eq!(files, ["quietanza.pdf", "ricevuta.png", "estratto.png"]);
        screen("cassetto-request.png");
        a.set_section_shown(false);

        // Comunicazioni on-line: the eleven listed, the closed ones with their reason; one
        // chosen at the kiosk is filled in on the phone and shows with its state.
        let moduli = a.get_moduli();
        assert_eq!(moduli.row_count(), 11);
        let closed: Vec<String> = moduli
            .iter()
            .filter(|m| !m.available)
            .map(|m| m.code.to_string())
            .collect();
        assert_eq!(closed.len(), domain::istanze::DEFAULT_UNAVAILABLE.len());
        assert!(moduli.iter().all(|m| m.available || !m.reason.is_empty()));
        let ferie = moduli
            .iter()
            .position(|m| m.code == "ferie_collettive")
            .unwrap();
        a.invoke_choose_istanza(ferie as i32);
        assert!(
            a.get_phone_status().contains("l'istanza «Richiesta di differimento"),
            "{}",
            a.get_phone_status()
        );
        let (status, page) = handle.block_on(async {
            let page = phone
                .get(format!("{base}/h/desk"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let value =
                |name: &str| between(&page, &format!("name=\"{name}\" value=\""), "\"").to_owned();
            let r = phone
                .post(format!("{base}/h/desk/istanza"))
                .form(&[
                    ("csrf", value("csrf")),
                    ("matricola", value("matricola")),
                    ("modulo", value("modulo")),
                    ("mese_ferie", "2026-08".into()),
                    ("motivazione", "Chiusura estiva dello stabilimento.".into()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        });
        assert_eq!(status, StatusCode::CREATED, "{page}");
        ui.cassetto_step();
        assert!(
            a.get_phone_status().contains("Istanza inviata alla sede: protocollo INPS.7001.COL."),
            "{}",
            a.get_phone_status()
        );
        let istanze = a.get_istanze();
        assert_eq!(istanze.row_count(), 1);
        assert_eq!(istanze.row_data(0).unwrap().state.as_str(), "inviata");

        // Agenda: the free slots, one booked at once with its confirmation printed (its QR
        // is the hub's token, which the kiosk accepts once its feed brings the key); then
        // cancelled.
        let printed_before = std::fs::read(&paper).unwrap().len();
        a.invoke_show_slots();
        let slots = a.get_slots();
        assert!((1..=8).contains(&slots.row_count()), "{}", slots.row_count());
        let label = slots.row_data(0).unwrap().label.to_string();
        assert!(a.get_slots_shown(), "the slots have a screen of their own");
        screen("cassetto-slots.png");
        a.invoke_book_slot(0);
        assert!(!a.get_slots_shown(), "back to the summary, the booking on it");
        let status = a.get_agenda_status().to_string();
        assert!(
            status.contains("prenotato per") && status.contains("Ritiri la conferma stampata"),
            "{status}"
        );
        assert!(status.contains(&label), "{status} / {label}");
        let bookings = a.get_bookings();
        assert_eq!(bookings.row_count(), 1);
        let booked = bookings.row_data(0).unwrap();
        assert!(booked.cancellable);
        let paper_bytes = std::fs::read(&paper).unwrap();
        let confirmation = ticket::preview::preview(
            &paper_bytes[printed_before..],
            opts.paper,
            opts.code_page,
        )
        .unwrap();
        assert!(
            confirmation.transcript.contains("Conferma di appuntamento")
                && confirmation.transcript.contains(booked.booking.as_str()),
            "{}",
            confirmation.transcript
        );
        let png = confirmation.png();
        if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::write(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/agenda-conferma.png"),
                &png,
            )
            .unwrap();
        }
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (pw, ph) = (info.width as usize, info.height as usize);
        let bytes_per_pixel = buf.len() / (pw * ph);
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(pw, ph, |x, y| {
            buf[(y * pw + x) * bytes_per_pixel]
        });
        let token = img
            .detect_grids()
            .into_iter()
            .find_map(|g| g.decode().ok().map(|d| d.1))
            .expect("a readable QR code on the confirmation");
        handle.block_on(async {
            Agent::new(replica_branch.clone(), &agent_link)
                .unwrap()
                .pull_once()
                .await
                .unwrap();
        });
        let mut verifier = domain::token::TokenVerifier::new();
        let keys = replica_branch
            .read(|_, s| s.verifying_keys())
            .unwrap();
        for (id, key) in keys {
            verifier.add_key(id, &key).unwrap();
        }
        let claims = verifier.verify(&token).expect("the kiosk accepts the hub's token");
        assert_eq!(claims.booking.to_string(), booked.booking.as_str());
        let tall = Shot {
            height: 3000,
            ..shot.clone()
        };
        let png = renderer.render(&ui, &tall).unwrap();
        if std::env::var("SPORTELLO_SCREENSHOTS").as_deref() == Ok("1") {
            std::fs::write(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("docs/screenshots/cassetto-agenda-istanze.png"),
                &png,
            )
            .unwrap();
        }
        // Deflection: before a ticket, the DURC and the open requests, and the ways to settle
        // without queueing.
        a.invoke_take_ticket();
        assert!(a.get_deflecting());
        assert_eq!(a.get_open_requests(), 2, "the two requests are not closed");
        screen("cassetto-deflection.png");
        a.set_deflecting(false);
        a.invoke_cancel_booking(0);
        assert!(
            a.get_agenda_status().contains("annullato"),
            "{}",
            a.get_agenda_status()
        );
        let after = a.get_bookings().row_data(0).unwrap();
        assert!(!after.cancellable, "{after:?}");

        a.invoke_close_company();
        assert!(!a.get_summary_shown());

        // Leaving the screen ends the session at the hub and forgets the visitor here.
        ui.window()
            .global::<kiosk::ui::SessionAdapter>()
            .set_screen(Screen::Home);
        ui.cassetto_step();
        assert_eq!(a.get_companies().row_count(), 0);
        assert_eq!(a.get_person(), "");
        let ended: i64 = handle.block_on(async {
            pool.get()
                .await
                .unwrap()
                .query_one(
                    "SELECT count(*) FROM handoff WHERE ended_at IS NOT NULL",
                    &[],
                )
                .await
                .unwrap()
                .get(0)
        });
        assert_eq!(ended, 1);
    })
    .await
    .unwrap();
    // Nothing of the visitor or their companies rests in the kiosk's files (database, WAL).
    for entry in std::fs::read_dir(kiosk_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for secret in &secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} found in {}",
                path.display()
            );
        }
    }
}

/// A delegate identified at a kiosk of the demo sede through the built-in provider, with one
/// of their matricole and one of a company they do not act for.
struct Visitor {
    demo: demo::DemoBranch,
    person: demo::DemoPerson,
    mine: String,
    theirs: String,
    kiosk: Kiosk,
    base: String,
    started: protocol::wire::HandoffStarted,
    phone: reqwest::Client,
    now: chrono::NaiveDateTime,
}

impl Visitor {
    async fn identified(hub: &Hub) -> Visitor {
        use domain::{Clock, SystemClock};
        let now = SystemClock::untrusted().local_now().naive_local();
        let demo = demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 4, now)
            .await
            .unwrap();
        let person = demo
            .people
            .iter()
            .find(|p| !p.companies.is_empty())
            .unwrap()
            .clone();
        let mine = demo.companies[person.companies[0]].matricole[0]
            .as_str()
            .to_owned();
        let theirs = demo
            .companies
            .iter()
            .enumerate()
            .find(|(i, _)| !person.companies.contains(i))
            .map(|(_, c)| c.matricole[0].as_str().to_owned())
            .unwrap();
        let kiosk = hub.enrol().await;
        let base = hub.base(0);
        let started: protocol::wire::HandoffStarted = kiosk
            .signed(&base, "POST", "/v1/handoff")
            .await
            .json()
            .await
            .unwrap();
        let phone = hub.phone();
        phone_login(&phone, &base, &started.url, person.cf.as_str()).await;
        Visitor {
            demo,
            person,
            mine,
            theirs,
            kiosk,
            base,
            started,
            phone,
            now,
        }
    }
}

/// The phone's whole login for a kiosk's hand-off URL, as `cf`, at the hub at `base`.
async fn phone_login(phone: &reqwest::Client, base: &str, url: &str, cf: &str) {
    let to_idp = location(&phone.get(url).send().await.unwrap());
    let page = phone
        .get(&to_idp)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = login_form(&page);
    form.push(("cf".into(), cf.to_owned()));
    let back = location(
        &phone
            .post(format!("{base}/idp/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(
        phone.get(&back).send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// Area Contatti: an identified delegate sends a request about a matricola from the kiosk
/// (checked: a topic, a subject, a text; only for their own matricole) and gets its protocol;
/// the sede's reply takes it in charge and comes back in its history; once closed it takes no
/// more replies; after the session the history is not readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn area_contatti_requests_reach_the_sede_and_its_replies_come_back() {
    use hub::contatti;
    use protocol::wire::{ContactRequest, NewContactRequest};
    let hub = Hub::start(1).await;
    let Visitor {
        person,
        mine,
        theirs,
        kiosk,
        base,
        started,
        ..
    } = Visitor::identified(&hub).await;

    let send = |req: NewContactRequest| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("/v1/handoff/{}/requests", started.id);
        async move { kiosk.signed_json(&base, &path, &req).await }
    };
    let request = |matricola: &str, topic: &str, subject: &str| NewContactRequest {
        matricola: matricola.into(),
        topic: topic.into(),
        subject: subject.into(),
        body: "Chiedo la verifica del versamento di marzo, pagato con F24 il 16/04.".into(),
    };
    let bad = send(request(&mine, "altro", "Versamento")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("argomento"));
    let long = "x".repeat(contatti::MAX_SUBJECT + 1);
    assert_eq!(
        send(request(&mine, "f24", &long)).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(request(&theirs, "f24", "Versamento")).await.status(),
        StatusCode::NOT_FOUND,
        "not for a matricola they are not delegated for"
    );
    let sent = send(request(&mine, "f24", "Versamento di marzo")).await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let protocol = sent.json::<serde_json::Value>().await.unwrap()["protocol"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(protocol.starts_with("INPS.7001."), "{protocol}");

    let history = || {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("/v1/handoff/{}/requests/{mine}", started.id);
        async move { kiosk.signed(&base, "GET", &path).await }
    };
    let list: Vec<ContactRequest> = history().await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].protocol.as_str(), list[0].state.as_str()),
        (protocol.as_str(), "aperta")
    );
    assert_eq!(list[0].messages.len(), 1);
    assert_eq!(list[0].messages[0].direction, "in");

    // The sede's back office, in the console: the request with its text (the visitor shown
    // as such, not by codice fiscale), a reply that takes it in charge.
    hub.staff(&[
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
        ("banco", hub::accounts::Role::Counter, Some(SEDE)),
    ])
    .await;
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    let (status, page) = office.get("/console/sedi/7001/richieste").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&protocol) && page.contains("pagato con F24 il 16/04"),
        "{page}"
    );
    assert!(!page.contains(person.cf.as_str()), "{page}");
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", protocol.as_str()),
                ("action", "rispondi"),
                ("body", "Il versamento risulta: chiudiamo la pratica."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, page) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", protocol.as_str()),
                ("action", "rispondi"),
                ("body", " "),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an empty reply");
    assert!(page.contains("La risposta va da 1"), "{page}");
    let forged = hub
        .client
        .post(format!(
            "{}/console/sedi/7001/richieste/azione",
            hub.base(0)
        ))
        .header("cookie", &office.cookie)
        .form(&[
            ("csrf", "x"),
            ("protocol", protocol.as_str()),
            ("action", "chiudi"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a form without the session's token"
    );
    let banco = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    assert_eq!(
        banco.get("/console/sedi/7001/richieste").await.0,
        StatusCode::FORBIDDEN
    );
    let list: Vec<ContactRequest> = history().await.json().await.unwrap();
    assert_eq!(list[0].state, "presa_in_carico");
    assert_eq!(list[0].messages.len(), 2);
    assert_eq!(list[0].messages[1].direction, "out");
    let mut c = hub.pool.get().await.unwrap();
    contatti::set_state(&mut c, "ufficio", 7001, &protocol, "chiusa")
        .await
        .unwrap();
    assert!(
        contatti::reply(&mut c, "ufficio", 7001, &protocol, "ancora")
            .await
            .is_err()
    );
    let list: Vec<ContactRequest> = history().await.json().await.unwrap();
    assert_eq!(list[0].state, "chiusa");

    // Another sede's office cannot touch it; after the session, nothing is readable.
    assert!(
        contatti::reply(&mut c, "altri", 5105, &protocol, "no")
            .await
            .is_err()
    );
    kiosk
        .signed(&base, "POST", &format!("/v1/handoff/{}/end", started.id))
        .await;
    assert_eq!(history().await.status(), StatusCode::NOT_FOUND);
}

/// A small valid PNG, `w` pixels wide.
fn png_bytes(w: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, w, 1);
        e.set_color(png::ColorType::Grayscale);
        e.set_depth(png::BitDepth::Eight);
        let mut w_ = e.write_header().unwrap();
        w_.write_image_data(&vec![0x80; w as usize]).unwrap();
    }
    out
}

/// The phone fills in the request form the kiosk opened on it and sends it with `files`.
async fn send_from_phone(
    phone: &reqwest::Client,
    base: &str,
    subject: &str,
    files: Vec<(&str, Vec<u8>)>,
) -> (StatusCode, String) {
    let page = phone
        .get(format!("{base}/h/desk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| between(&page, &format!("name=\"{name}\" value=\""), "\"").to_owned();
    let (csrf, matricola) = (value("csrf"), value("matricola"));
    let r = phone
        .post(format!("{base}/h/desk/richiesta"))
        .multipart(desk_form(
            &[
                ("csrf", &csrf),
                ("matricola", &matricola),
                ("topic", "f24"),
                ("subject", subject),
                ("body", "Allego le quietanze dei versamenti."),
            ],
            &files,
        ))
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A form the phone posts: the text fields and the files (name, bytes).
fn desk_form(fields: &[(&str, &str)], files: &[(&str, Vec<u8>)]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (name, bytes) in files {
        form = form.part(
            "allegato",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
        );
    }
    form
}

/// Area Contatti from the phone: the kiosk asks the identified visitor's phone for the form;
/// the phone sends the request with three attachments (PDF, JPEG, PNG by content), stored once
/// by hash; a fourth file, a renamed executable, an oversized file, a forged form and a phone
/// without the session are refused, each with its reason and nothing filed; the kiosk sees the
/// protocol and the attachments; the sede downloads them in the console.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_sends_a_request_with_three_attachments() {
    use protocol::wire::{ContactRequest, DeskTask, HandoffState};
    let hub = Hub::start(1).await;
    let Visitor {
        demo,
        person,
        mine,
        theirs,
        kiosk,
        base,
        started,
        phone,
        ..
    } = Visitor::identified(&hub).await;
    let desk = || async {
        let r = phone.get(format!("{base}/h/desk")).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let (status, page) = desk().await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("http-equiv=\"refresh\""), "waits: {page}");
    assert!(!page.contains("<form"), "{page}");

    // The kiosk asks for the form: only for a matricola the visitor acts for.
    let task_path = format!("/v1/handoff/{}/task", started.id);
    let ask = |m: &str| DeskTask::Richiesta {
        matricola: m.to_owned(),
    };
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask(&theirs))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask(&mine))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let status_path = format!("/v1/handoff/{}", started.id);
    let kiosk_sees = || async {
        match kiosk
            .signed(&base, "GET", &status_path)
            .await
            .json::<HandoffState>()
            .await
            .unwrap()
        {
            HandoffState::Bound { task, sent, .. } => (task, sent),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(kiosk_sees().await, (Some(ask(&mine)), None));
    let (status, page) = desk().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&demo.companies[person.companies[0]].name) && page.contains("<form"),
        "{page}"
    );
    let (email, mobile) = demo::hub::contacts(&person);
    assert!(
        page.contains(&format!("value=\"{email}\"")),
        "the provider's e-mail is offered: {page}"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let fields = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("matricola".to_owned(), mine.clone()),
            ("topic".to_owned(), "f24".to_owned()),
            ("subject".to_owned(), "Versamento di marzo".to_owned()),
            (
                "body".to_owned(),
                "Allego la quietanza dell'F24 del 16/04 e le ricevute.".to_owned(),
            ),
            ("email".to_owned(), email.clone()),
            ("mobile".to_owned(), mobile.clone()),
        ]
    };
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let jpeg = [
        &b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"[..],
        &[0u8; 64][..],
        &b"\xff\xd9"[..],
    ]
    .concat();
    let png = png_bytes(16);
    let post = |fields: Vec<(String, String)>, files: Vec<(&'static str, Vec<u8>)>| {
        let phone = phone.clone();
        let base = base.clone();
        async move {
            let f: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = phone
                .post(format!("{base}/h/desk/richiesta"))
                .multipart(desk_form(&f, &files))
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let filed = || async { count(&hub.pool, "SELECT count(*) FROM contact_request").await };

    // Refusals, each with its reason, the text kept, nothing filed.
    let four = vec![
        ("a.pdf", pdf.clone()),
        ("b.jpg", jpeg.clone()),
        ("c.png", png.clone()),
        ("d.png", png_bytes(17)),
    ];
    let (status, page) = post(fields(&csrf), four).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("al massimo 3 documenti"), "{page}");
    assert!(
        page.contains("Allego la quietanza"),
        "the text is kept: {page}"
    );
    let exe = [
        &b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"[..],
        &[0; 200],
    ]
    .concat();
    let (status, page) = post(fields(&csrf), vec![("quietanza.pdf", exe)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("«quietanza.pdf» non è un PDF, un JPEG o un PNG"),
        "{page}"
    );
    let mut big = pdf.clone();
    big.resize(3 * 1024 * 1024 + 1, b' ');
    let (status, page) = post(fields(&csrf), vec![("grande.pdf", big)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("«grande.pdf» supera i 3 MB"), "{page}");
    let (status, _) = post(fields("falso"), vec![("a.pdf", pdf.clone())]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a form from elsewhere");
    let stranger = hub
        .phone()
        .post(format!("{base}/h/desk/richiesta"))
        .multipart(desk_form(&[("csrf", &csrf)], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED, "another phone");
    assert_eq!(filed().await, 0);

    // Sent: three files by content; the kiosk sees the protocol, the task is done.
    let three = vec![
        ("quietanza F24.pdf", pdf.clone()),
        ("ricevuta.jpg", jpeg.clone()),
        ("C:\\scansioni\\estratto.png", png.clone()),
    ];
    let (status, page) = post(fields(&csrf), three).await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let protocol = between(&page, "protocollo <strong>", "</strong>").to_owned();
    assert!(protocol.starts_with("INPS.7001."), "{protocol}");
    assert_eq!(kiosk_sees().await, (None, Some(protocol.clone())));
    let list: Vec<ContactRequest> = kiosk
        .signed(
            &base,
            "GET",
            &format!("/v1/handoff/{}/requests/{mine}", started.id),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0].protocol, protocol);
    let got: Vec<(&str, &str, u32)> = list[0]
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.mime.as_str(), a.size))
        .collect();
    assert_eq!(
        got,
        [
            ("quietanza F24.pdf", "application/pdf", pdf.len() as u32),
            ("ricevuta.jpg", "image/jpeg", jpeg.len() as u32),
            ("estratto.png", "image/png", png.len() as u32),
        ]
    );
    // The form is gone from the phone; sending it again is refused.
    let (status, page) = desk().await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&protocol) && !page.contains("<form"),
        "{page}"
    );
    let (status, _) = post(fields(&csrf), vec![]).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Stored once by content: a second request with the same PDF adds no blob.
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM blob").await, 3);
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask(&mine))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, _) = post(fields(&csrf), vec![("ancora.pdf", pdf.clone())]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM blob").await, 3);
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM contact_attachment").await,
        4
    );

    // The sede's back office downloads them as they were sent; counter staff cannot.
    hub.staff(&[
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
        ("banco", hub::accounts::Role::Counter, Some(SEDE)),
    ])
    .await;
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    let (status, page) = office.get("/console/sedi/7001/richieste").await;
    assert_eq!(status, StatusCode::OK);
    let link = format!(
        "/console/sedi/7001/allegati/{}",
        wire::hex(&<sha2::Sha256 as sha2::Digest>::digest(&png))
    );
    assert!(
        page.contains(&link) && page.contains("estratto.png"),
        "{page}"
    );
    let r = office
        .client
        .get(format!("{base}{link}"))
        .header("cookie", &office.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), png.as_slice());
    let counter = ConsoleSession::login(&hub, 0, "banco", STAFF_PASSWORD).await;
    assert_eq!(counter.get(&link).await.0, StatusCode::FORBIDDEN);

    // The sede replies to the first request and closes it. The visitor hears of each event
    // (received, reply, closed) by e-mail and SMS from the job table, through a real SMTP
    // server and an SMS provider on loopback, both failing once: retried, sent once each.
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[
                ("protocol", protocol.as_str()),
                ("action", "rispondi"),
                ("body", "Il versamento risulta: nessuna differenza."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = office
        .post(
            "/console/sedi/7001/richieste/azione",
            &[("protocol", protocol.as_str()), ("action", "chiudi")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let mail = smtp::SmtpSink::start().await;
    let sms = SmsSink::start().await;
    *mail.fail_next.lock().unwrap() = true;
    *sms.fail_next.lock().unwrap() = true;
    let notifier = hub::notify::Notifier::from_config(&config::HubConfig {
        smtp_url: Some(mail.url()),
        sms_url: Some(sms.url()),
        sms_token: Some("token-di-prova".into()),
        ..Default::default()
    })
    .unwrap();
    let (sent_ok, failed) = run_jobs(&hub.pool, &notifier).await;
    assert_eq!((sent_ok, failed), (6, 2), "one e-mail and one SMS failed");
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("UPDATE job SET run_at = now() WHERE state = 'pending'", &[])
        .await
        .unwrap();
    assert_eq!(run_jobs(&hub.pool, &notifier).await, (2, 0), "retried");
    assert_eq!(
        run_jobs(&hub.pool, &notifier).await,
        (0, 0),
        "nothing twice"
    );
    let mails = mail.messages();
    assert_eq!(mails.len(), 4, "received ×2, reply, closed");
    let texts: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            assert_eq!(m.to, [format!("<{email}>")]);
            assert_eq!(m.from, "<noreply@sportello.invalid>");
            (header_text(&m.data, "Subject"), body_text(&m.data))
        })
        .collect();
    let about = |event: &str| {
        texts
            .iter()
            .filter(|(subject, body)| {
                subject.contains(&protocol) && subject.contains(event) && body.contains(&protocol)
            })
            .count()
    };
    assert_eq!(about("è stata ricevuta"), 1, "{texts:#?}");
    assert_eq!(about("ha una risposta della sede"), 1, "{texts:#?}");
    assert_eq!(about("è stata chiusa"), 1, "{texts:#?}");
    for (_, body) in &texts {
        assert!(
            !body.contains("nessuna differenza") && !body.contains("quietanza dell'F24"),
            "what was written stays at the hub: {body}"
        );
    }
    let texts = sms.received();
    assert_eq!(texts.len(), 4);
    let digits: String = mobile
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    for (auth, body) in &texts {
        assert_eq!(auth, "Bearer token-di-prova");
        assert_eq!(body["to"], digits.as_str());
        assert_eq!(body["from"], "INPS");
        let text = body["text"].as_str().unwrap();
        assert!(text.chars().count() <= 160, "one SMS: {text}");
        assert!(!text.contains("nessuna differenza"), "{text}");
    }
    assert!(
        texts.iter().any(|(_, b)| b["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{protocol} ha una risposta della sede"))),
        "{texts:?}"
    );

    // After the kiosk ends the session the phone's desk is closed.
    assert_eq!(
        kiosk
            .signed(&base, "POST", &format!("/v1/handoff/{}/end", started.id))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(desk().await.0, StatusCode::UNAUTHORIZED);
}

/// Runs the due jobs as a hub instance would: how many ended well and how many failed.
async fn run_jobs(
    pool: &deadpool_postgres::Pool,
    notifier: &hub::notify::Notifier,
) -> (usize, usize) {
    use hub::jobs;
    let (mut ok, mut failed) = (0, 0);
    let c = pool.get().await.unwrap();
    while let Some(job) = jobs::claim(&c, "test").await.unwrap() {
        match jobs::work(pool, notifier, &job).await {
            Ok(()) => {
                jobs::done(&c, job.id).await.unwrap();
                ok += 1;
            }
            Err(e) => {
                jobs::failed(&c, &job, &e).await.unwrap();
                failed += 1;
            }
        }
    }
    (ok, failed)
}

/// An SMS provider on loopback: keeps each message's `Authorization` and JSON body; with
/// `fail_next`, answers the next one 503.
#[derive(Clone, Default)]
struct SmsSink {
    port: u16,
    received: Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    fail_next: Arc<std::sync::Mutex<bool>>,
}

impl SmsSink {
    async fn start() -> SmsSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = SmsSink {
            port: listener.local_addr().unwrap().port(),
            ..SmsSink::default()
        };
        let shared = sink.clone();
        let app = axum::Router::new().route(
            "/v1/messages",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| {
                    let shared = shared.clone();
                    async move {
                        if std::mem::take(&mut *shared.fail_next.lock().unwrap()) {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let auth = headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default();
                        shared.received.lock().unwrap().push((auth, body.0));
                        StatusCode::ACCEPTED
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        sink
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/messages", self.port)
    }

    fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.received.lock().unwrap().clone()
    }
}

/// A header of a received message, unfolded and its RFC 2047 words decoded.
fn header_text(data: &str, name: &str) -> String {
    use base64::Engine;
    let head = data.split("\r\n\r\n").next().unwrap();
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let raw = unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {head}"));
    // Space between two encoded words is folding, not text (RFC 2047 §6.2).
    let mut out = String::new();
    let mut last_encoded = false;
    for w in raw.split(' ').filter(|w| !w.is_empty()) {
        let decoded = w
            .strip_prefix("=?utf-8?b?")
            .or_else(|| w.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="))
            .map(|b| {
                String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap())
                    .unwrap()
            });
        let adjacent_words = last_encoded && decoded.is_some();
        if !out.is_empty() && !adjacent_words {
            out.push(' ');
        }
        last_encoded = decoded.is_some();
        out.push_str(&decoded.unwrap_or_else(|| w.to_owned()));
    }
    out
}

/// The text body of a received single-part message, its transfer encoding undone.
fn body_text(data: &str) -> String {
    use base64::Engine;
    let (_, body) = data.split_once("\r\n\r\n").unwrap();
    let encoding = data
        .lines()
        .find_map(|l| l.strip_prefix("Content-Transfer-Encoding: "))
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    match encoding.as_str() {
        "quoted-printable" => String::from_utf8(
            quoted_printable::decode(body, quoted_printable::ParseMode::Robust).unwrap(),
        )
        .unwrap(),
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.replace("\r\n", ""))
                .unwrap(),
        )
        .unwrap(),
        _ => body.to_owned(),
    }
}

/// A valid value for a field of an istanza, by its kind.
fn valid_value(kind: domain::istanze::Kind) -> String {
    use domain::istanze::Kind;
    match kind {
        Kind::Period => "2026-03".into(),
        Kind::Date => "2026-02-10".into(),
        Kind::Amount => "1.234,56".into(),
        Kind::Iban => "IT60 X054 2811 1010 0000 0123 456".into(),
        Kind::WorkerCf => "RSSMRA80A01H501U".into(),
        Kind::Count { min, .. } => min.to_string(),
        Kind::Choice(o) => o[0].into(),
        Kind::Text(_) => "Chiusura estiva dello stabilimento.".into(),
    }
}

/// Comunicazioni on-line: the hub says which istanze can be sent (four closed at first, with
/// their reasons); a closed one is refused with its reason; the administrator reopens them;
/// each of the eleven is filled in on the phone with its own typed fields and filed with a
/// protocol the kiosk sees; wrong fields are refused with their reasons and the typing kept;
/// the back office moves one forward to a reasoned rejection, which the kiosk reads back;
/// outcomes are final; a delegate never reaches another company's istanze.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_of_the_eleven_istanze_is_filed_from_the_phone_and_moves_through_its_states() {
    use domain::istanze::{DEFAULT_UNAVAILABLE, MODULI};
    use protocol::wire::{DeskTask, HandoffState, IstanzeView};
    let hub = Hub::start(1).await;
    let Visitor {
        mine,
        theirs,
        kiosk,
        base,
        started,
        phone,
        ..
    } = Visitor::identified(&hub).await;
    let view = |m: String| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("/v1/handoff/{}/istanze/{m}", started.id);
        async move { kiosk.signed(&base, "GET", &path).await }
    };
    assert_eq!(view(theirs.clone()).await.status(), StatusCode::NOT_FOUND);
    let v: IstanzeView = view(mine.clone()).await.json().await.unwrap();
    assert_eq!(v.moduli.len(), 11);
    assert!(v.sent.is_empty());
    let closed: Vec<(String, String)> = v
        .moduli
        .iter()
        .filter(|m| !m.available)
        .map(|m| (m.code.clone(), m.reason.clone().unwrap()))
        .collect();
    let expected: Vec<(String, String)> = DEFAULT_UNAVAILABLE
        .iter()
        .map(|(c, r)| (c.to_string(), r.to_string()))
        .collect();
    assert_eq!(
        closed, expected,
        "the migration's closed list is the catalogue's"
    );

    let task_path = format!("/v1/handoff/{}/task", started.id);
    let ask = |modulo: &str| DeskTask::Istanza {
        matricola: mine.clone(),
        modulo: modulo.to_owned(),
    };
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask("non_esiste"))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let desk_csrf = || async {
        let page = phone
            .get(format!("{base}/h/desk"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (
            between(&page, "name=\"csrf\" value=\"", "\"").to_owned(),
            page,
        )
    };
    let submit = |code: &'static str, fields: Vec<(String, String)>| {
        let phone = phone.clone();
        let base = base.clone();
        let mine = mine.clone();
        async move {
            let page = phone
                .get(format!("{base}/h/desk"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let csrf = between(&page, "name=\"csrf\" value=\"", "\"").to_owned();
            let mut form = vec![
                ("csrf".to_owned(), csrf),
                ("matricola".to_owned(), mine),
                ("modulo".to_owned(), code.to_owned()),
                ("email".to_owned(), "studio@esempio.test".to_owned()),
            ];
            form.extend(fields);
            let r = phone
                .post(format!("{base}/h/desk/istanza"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let valid = |code: &str| -> Vec<(String, String)> {
        domain::istanze::modulo(code)
            .unwrap()
            .fields
            .iter()
            .map(|f| (f.name.to_owned(), valid_value(f.kind)))
            .collect()
    };

    // A closed istanza: the form opens, sending it is refused with the reason.
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask("giovani_genitori"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, page) = submit("giovani_genitori", valid("giovani_genitori")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Fondi esauriti."), "{page}");

    // The administrator reopens the four in the console.
    hub.staff(&[
        ("capo", hub::accounts::Role::Admin, None),
        ("ufficio", hub::accounts::Role::Backoffice, Some(SEDE)),
    ])
    .await;
    let admin = ConsoleSession::login(&hub, 0, "capo", STAFF_PASSWORD).await;
    let office = ConsoleSession::login(&hub, 0, "ufficio", STAFF_PASSWORD).await;
    assert_eq!(
        office.get("/console/istanze").await.0,
        StatusCode::FORBIDDEN
    );
    for (code, _) in DEFAULT_UNAVAILABLE {
        let (status, to, _) = admin
            .post(
                "/console/istanze/disponibilita",
                &[("code", code), ("action", "apri")],
            )
            .await;
        assert_eq!(
            (status, to.as_str()),
            (StatusCode::SEE_OTHER, "/console/istanze")
        );
    }

    // Wrong fields: each reason, the typing kept, nothing filed.
    assert_eq!(
        kiosk
            .signed_json(&base, &task_path, &ask("rimborso"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let mut wrong = valid("rimborso");
    for (k, v) in &mut wrong {
        match k.as_str() {
            "iban" => *v = "IT61X0542811101000000123456".into(),
            "periodo_dal" => *v = "2026-09".into(),
            "importo" => *v = "mille euro".into(),
            _ => {}
        }
    }
    let (status, page) = submit("rimborso", wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for reason in ["IBAN non è valido", "«Importo (euro)»", "viene prima"] {
        assert!(page.contains(reason), "{reason}: {page}");
    }
    assert!(page.contains("value=\"mille euro\""), "kept: {page}");
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM istanza").await, 0);

    // Each of the eleven, filed with its own protocol; the kiosk sees each.
    let status_path = format!("/v1/handoff/{}", started.id);
    let mut protocols = Vec::new();
    for m in &MODULI {
        assert_eq!(
            kiosk
                .signed_json(&base, &task_path, &ask(m.code))
                .await
                .status(),
            StatusCode::NO_CONTENT
        );
        let (_, page) = desk_csrf().await;
        let title = m.title.replace('\'', "&#39;");
        assert!(page.contains(&title), "{}: {page}", m.code);
        for f in m.fields {
            assert!(page.contains(&format!("name=\"{}\"", f.name)), "{}", f.name);
        }
        let (status, page) = submit(m.code, valid(m.code)).await;
        assert_eq!(status, StatusCode::CREATED, "{}: {page}", m.code);
        let protocol = between(&page, "protocollo <strong>", "</strong>").to_owned();
        assert!(protocol.starts_with("INPS.7001.COL."), "{protocol}");
        match kiosk
            .signed(&base, "GET", &status_path)
            .await
            .json::<HandoffState>()
            .await
            .unwrap()
        {
            HandoffState::Bound { sent, task, .. } => {
                assert_eq!((sent.as_deref(), task), (Some(protocol.as_str()), None));
            }
            other => panic!("{other:?}"),
        }
        protocols.push((m.code, protocol));
    }
    let v: IstanzeView = view(mine.clone()).await.json().await.unwrap();
    assert_eq!(v.sent.len(), 11);
    assert!(v.sent.iter().all(|i| i.state == "inviata"));
    let stored: serde_json::Value = hub
        .pool
        .get()
        .await
        .unwrap()
        .query_one("SELECT fields FROM istanza WHERE code = 'dilazione'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored["iban"], "IT60X0542811101000000123456", "normal form");
    assert_eq!(stored["importo"], "1234.56");

    // The back office moves the rimborso to a reasoned rejection; outcomes are final.
    let (_, rimborso) = protocols.iter().find(|(c, _)| *c == "rimborso").unwrap();
    let act = |state: &'static str, esito: &'static str| {
        let office = &office;
        let rimborso = rimborso.clone();
        async move {
            office
                .post(
                    "/console/sedi/7001/istanze/azione",
                    &[
                        ("protocol", rimborso.as_str()),
                        ("state", state),
                        ("esito", esito),
                    ],
                )
                .await
        }
    };
    let (status, page) = office.get("/console/sedi/7001/istanze").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(rimborso.as_str()) && page.contains("IT60X0542811101000000123456"),
        "{page}"
    );
    assert_eq!(act("protocollata", "").await.0, StatusCode::SEE_OTHER);
    assert_eq!(act("in_istruttoria", "").await.0, StatusCode::SEE_OTHER);
    let (status, _, page) = act("respinta", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("motivazioni"), "{page}");
    assert_eq!(
        act("respinta", "Il credito risulta già compensato.")
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    let (status, _, page) = act("accolta", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("non può passare"), "{page}");
    assert_eq!(
        act("protocollata", "").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let v: IstanzeView = view(mine.clone()).await.json().await.unwrap();
    let seen = v.sent.iter().find(|i| &i.protocol == rimborso).unwrap();
    assert_eq!(
        (seen.state.as_str(), seen.esito.as_deref()),
        ("respinta", Some("Il credito risulta già compensato."))
    );
    // Every change was told to the visitor's e-mail: 11 received, 3 changes.
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM job WHERE kind = 'notify_email'"
        )
        .await,
        14
    );

    // The administrator closes one again: a reason is needed, and the kiosk shows it.
    let (status, _, page) = admin
        .post(
            "/console/istanze/disponibilita",
            &[
                ("code", "riduzione_edilizia"),
                ("action", "chiudi"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("scriva il motivo"), "{page}");
    let (status, _, _) = admin
        .post(
            "/console/istanze/disponibilita",
            &[
                ("code", "riduzione_edilizia"),
                ("action", "chiudi"),
                ("reason", "Termini chiusi per il 2026."),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let v: IstanzeView = view(mine).await.json().await.unwrap();
    let edil = v
        .moduli
        .iter()
        .find(|m| m.code == "riduzione_edilizia")
        .unwrap();
    assert_eq!(
        (edil.available, edil.reason.as_deref()),
        (false, Some("Termini chiusi per il 2026."))
    );
}

/// Agenda appuntamenti: the hub offers the free slots of the sede di competenza (none within
/// two hours, none past two weeks), books one in a single request — refusing a slot that is
/// not free, and a full one once its counters are taken — and answers a token it signed with
/// its own key, whose verifying half reaches the kiosks in the branch feed; the confirmation
/// and, the day before, the reminder are queued; cancelling frees the slot, tells the kiosks,
/// and stops the reminder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agenda_books_a_slot_with_a_token_the_kiosks_accept_and_cancels_it() {
    use protocol::wire::{AgendaBooking, AgendaView, NewBooking};
    let hub = Hub::start(1).await;
    let Visitor {
        demo,
        person,
        mine,
        theirs,
        kiosk,
        base,
        started,
        now,
        ..
    } = Visitor::identified(&hub).await;
    let agenda = |m: &str| format!("/v1/handoff/{}/agenda/{m}", started.id);
    assert_eq!(
        kiosk.signed(&base, "GET", &agenda(&theirs)).await.status(),
        StatusCode::NOT_FOUND
    );
    let view = || async {
        kiosk
            .signed(&base, "GET", &agenda(&mine))
            .await
            .json::<AgendaView>()
            .await
            .unwrap()
    };
    let v = view().await;
    let replica = demo.replica();
    let service = replica
        .services
        .iter()
        .find(|s| s.appointment_only)
        .unwrap();
    assert_eq!(v.service, service.letter.to_string());
    assert!(!v.slots.is_empty());
    assert!(v.bookings.is_empty());
    for t in &v.slots {
        assert!(*t >= now + chrono::Duration::hours(2), "{t}");
        assert!(*t <= now + chrono::Duration::days(15), "{t}");
    }
    let slot = v.slots[0];

    // A time that is not a free slot is refused; the chosen one is booked until full.
    let book = |t: chrono::NaiveDateTime| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = agenda(&mine);
        async move {
            kiosk
                .signed_json(&base, &path, &NewBooking { starts_at: t })
                .await
        }
    };
    let odd = slot + chrono::Duration::minutes(1);
    let r = book(odd).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("non è più libero"));
    let capacity = replica
        .counters
        .iter()
        .filter(|c| c.services.iter().any(|(l, _)| *l == service.letter))
        .count()
        .max(1);
    let mut made: Vec<AgendaBooking> = Vec::new();
    loop {
        let r = book(slot).await;
        if r.status() == StatusCode::CONFLICT {
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
        made.push(r.json().await.unwrap());
        assert!(made.len() <= capacity, "more bookings than counters");
    }
    assert_eq!(made.len(), capacity);
    assert!(
        !view().await.slots.contains(&slot),
        "a full slot is not offered"
    );
    let first = &made[0];
    // The hub's numbers are its own range, past imports and the demo.
    assert!(
        first.booking[9..].parse::<u32>().unwrap() >= 100_000,
        "{}",
        first.booking
    );

    // The token is the hub's: the kiosk's feed carries its verifying key, and it verifies to
    // the booking, the slot and the visitor's pseudonymous key.
    let pulled: PullResponse = kiosk.pull(&base, 0, None).await.json().await.unwrap();
    let config: wire::BranchConfigPayload = pulled
        .changes
        .iter()
        .rev()
        .find(|c| c.entity == wire::ENTITY_BRANCH_CONFIG)
        .map(|c| serde_json::from_value(c.payload.clone().unwrap()).unwrap())
        .unwrap();
    assert!(config.verifying_keys.iter().any(|(id, _)| *id == 100));
    let mut verifier = domain::token::TokenVerifier::new();
    for (id, hex) in &config.verifying_keys {
        let key: [u8; 32] = wire::unhex(hex).unwrap().try_into().unwrap();
        verifier.add_key(*id, &key).unwrap();
    }
    let claims = verifier.verify(&first.token).unwrap();
    assert_eq!(claims.booking.to_string(), first.booking);
    assert_eq!((claims.starts_at, claims.service), (slot, service.letter));
    assert_eq!(
        claims.person,
        demo::DemoBranch::keyer().key(&domain::CodiceFiscale::Personal(person.cf))
    );
    assert!(
        pulled
            .changes
            .iter()
            .any(|c| c.entity == wire::ENTITY_APPOINTMENT
                && c.payload.as_ref().unwrap()["state"] == "confirmed"
                && c.entity_id == claims.booking.get().to_string()),
        "the appointment reaches the kiosks"
    );
    let v = view().await;
    assert_eq!(v.bookings.len(), capacity);
    assert_eq!(v.bookings[0].token, first.token);

    // Confirmations queued to the provider's contacts; the reminder the day before at 10:00.
    let (email, _) = demo::hub::contacts(&person);
    let c = hub.pool.get().await.unwrap();
    let confirmations: i64 = c
        .query_one(
            "SELECT count(*) FROM job WHERE kind = 'notify_email'
               AND payload->>'to' = $1 AND payload->>'subject' LIKE '%confermato'",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(confirmations as usize, capacity);
    let reminder_at: Option<chrono::DateTime<chrono::Utc>> = c
        .query_opt(
            "SELECT run_at FROM job WHERE kind = 'agenda_reminder' AND dedup_key = $1",
            &[&format!("reminder:{}", claims.booking.get())],
        )
        .await
        .unwrap()
        .map(|r| r.get(0));
    let expected = (slot.date() - chrono::Duration::days(1))
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_local_timezone(domain::TIME_ZONE)
        .unwrap()
        .with_timezone(&chrono::Utc);
    if expected > chrono::Utc::now() {
        assert_eq!(reminder_at, Some(expected));
    } else {
        assert_eq!(
            reminder_at, None,
            "no reminder for tomorrow morning's slot after 10:00"
        );
    }

    // Cancelled: the slot is offered again, the kiosks learn it, and the reminder says nothing.
    let cancel = |b: &str| {
        let kiosk = &kiosk;
        let base = base.clone();
        let path = format!("{}/{b}/annulla", agenda(&mine));
        async move {
            kiosk
                .signed_json(&base, &path, &serde_json::json!({}))
                .await
        }
    };
    assert_eq!(cancel(&first.booking).await.status(), StatusCode::OK);
    let r = cancel(&first.booking).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("non si può più annullare"));
    assert_eq!(
        cancel("APP-2026-999999").await.status(),
        StatusCode::NOT_FOUND
    );
    let v = view().await;
    assert!(v.slots.contains(&slot), "the place is free again");
    assert_eq!(
        v.bookings
            .iter()
            .find(|b| b.booking == first.booking)
            .unwrap()
            .state,
        "cancelled_by_user"
    );
    let pulled: PullResponse = kiosk.pull(&base, 0, None).await.json().await.unwrap();
    assert!(
        pulled
            .changes
            .iter()
            .any(|c| c.entity == wire::ENTITY_APPOINTMENT
                && c.entity_id == claims.booking.get().to_string()
                && c.payload.as_ref().unwrap()["state"] == "cancelled_by_user")
    );
    c.execute(
        "UPDATE job SET run_at = now() WHERE kind = 'agenda_reminder'",
        &[],
    )
    .await
    .unwrap();
    let before = count(
        &hub.pool,
        "SELECT count(*) FROM job WHERE payload->>'subject' LIKE '%promemoria%'",
    )
    .await;
    run_jobs(&hub.pool, &Default::default()).await;
    let reminders = count(
        &hub.pool,
        "SELECT count(*) FROM job WHERE payload->>'subject' LIKE '%promemoria%'",
    )
    .await;
    // Each booking still live is reminded once; the cancelled one is not.
    let live_with_reminder = if expected > chrono::Utc::now() {
        capacity - 1
    } else {
        0
    };
    assert_eq!((reminders - before) as usize, live_with_reminder);
}
