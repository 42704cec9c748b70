//! The shared builder of the hub's tests — a hub over its own database, with its
//! administrator, staff, enrolled kiosks and identified visitors — and the readers of what
//! it answers. Every module of these tests starts with `use crate::helpers::*`.

pub(crate) use crate::pg::TestDb;
pub(crate) use crate::{smtp, support};
pub(crate) use ed25519_dalek::{Signer, SigningKey};
pub(crate) use hub::{self, HubState, accounts, db, devices, feed};
pub(crate) use protocol::Op;
pub(crate) use protocol::wire::{
    self, EnrolRequest, EnrolResponse, OpStatus, PullResponse, PushOp, PushRefusal, PushRequest,
    PushResponse,
};
pub(crate) use queue::{Event, EventKind};
pub(crate) use reqwest::StatusCode;
pub(crate) use std::collections::BTreeSet;
pub(crate) use std::sync::Arc;
pub(crate) use std::time::Duration;

pub(crate) const SEDE: u16 = 7001;

/// The `/metrics` token of the hubs [`Hub::start_identified`] makes.
pub(crate) const IDENTIFIED_METRICS_TOKEN: &str = "metriche-identita-0123456789";

/// The password of the accounts tests make with [`Hub::staff`].
pub(crate) const STAFF_PASSWORD: &str = "una password lunga";

pub(crate) struct Hub {
    // Dropped last: the database outlives the servers.
    pub(crate) _db: Option<TestDb>,
    pub(crate) pool: deadpool_postgres::Pool,
    /// The key-encryption key every instance was given.
    pub(crate) kek: Arc<hub::keys::Kek>,
    pub(crate) servers: Vec<hub::HubServer>,
    pub(crate) client: reqwest::Client,
    pub(crate) cert: String,
    /// The servers' certificate and key.
    pub(crate) tls: web::tls::TlsPem,
}

impl Hub {
    /// Console accounts with [`STAFF_PASSWORD`]: name, role, sede.
    pub(crate) async fn staff(&self, users: &[(&str, hub::accounts::Role, Option<u16>)]) {
        let mut c = self.pool.get().await.unwrap();
        for (user, role, sede) in users {
            hub::accounts::create_user(&mut c, "cli", user, STAFF_PASSWORD, *role, *sede)
                .await
                .unwrap();
        }
    }

    /// A visitor's phone: a browser that keeps cookies and does not follow redirects.
    pub(crate) fn phone(&self) -> reqwest::Client {
        self.phone_trusting(&[])
    }

    /// The same, trusting `others` too (PEM certificates: an identity provider's).
    pub(crate) fn phone_trusting(&self, others: &[&[u8]]) -> reqwest::Client {
        let mut certs = vec![reqwest::Certificate::from_pem(self.cert.as_bytes()).unwrap()];
        certs.extend(
            others
                .iter()
                .map(|pem| reqwest::Certificate::from_pem(pem).unwrap()),
        );
        reqwest::Client::builder()
            .tls_certs_only(certs)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap()
    }

    /// `instances` hub servers over one database.
    pub(crate) async fn start(instances: usize) -> Hub {
        Hub::start_with(instances, |s| s).await
    }

    /// The same, each instance's state set up by `configure` as its configuration would.
    pub(crate) async fn start_with(
        instances: usize,
        configure: impl Fn(HubState) -> HubState,
    ) -> Hub {
        let db = TestDb::new().await;
        let mut hub = Hub::over_with(&db.url, instances, configure).await;
        hub._db = Some(db);
        hub
    }

    /// `instances` hub servers over the empty database at `url`, which the caller keeps.
    pub(crate) async fn over(url: &str, instances: usize) -> Hub {
        Hub::over_with(url, instances, |s| s).await
    }

    async fn over_with(
        url: &str,
        instances: usize,
        configure: impl Fn(HubState) -> HubState,
    ) -> Hub {
        Hub::over_with_identity(url, instances, configure, None).await
    }

    /// One hub whose identification `identity` sets up from the hub's own address (its
    /// public URL and entity identifier).
    pub(crate) async fn start_identified(
        identity: impl Fn(&str) -> hub::identity::IdentityConfig,
    ) -> Hub {
        let db = TestDb::new().await;
        let mut hub = Hub::over_with_identity(
            &db.url,
            1,
            |s| s.with_metrics_token(Some(IDENTIFIED_METRICS_TOKEN.into())),
            Some(&identity),
        )
        .await;
        hub._db = Some(db);
        hub
    }

    async fn over_with_identity(
        url: &str,
        instances: usize,
        configure: impl Fn(HubState) -> HubState,
        make_identity: Option<&dyn Fn(&str) -> hub::identity::IdentityConfig>,
    ) -> Hub {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let pool = db::pool(url, 8).unwrap();
        db::migrate(&pool).await.unwrap();
        // One key-encryption key for all instances, as one file copied to each.
        let kek = Arc::new(hub::keys::Kek::generate().unwrap());
        hub::keys::prepare(&mut pool.get().await.unwrap(), &kek)
            .await
            .unwrap();
        let tls = web::tls::self_signed().unwrap();
        let mut servers = Vec::new();
        for _ in 0..instances {
            let state = configure(
                HubState::new(db::pool(url, 8).unwrap())
                    .with_kek(kek.clone())
                    .with_hub_keys(vec![web::tls::key_pin_of_pem(&tls.cert).unwrap()])
                    .with_person_key_secret(Some(demo::DEMO_PERSON_KEY_SECRET)),
            );
            let identity = state.identity.clone();
            let server = hub::start(state, "127.0.0.1:0", &tls).await.unwrap();
            // Each instance identifies visitors through the built-in provider at its own
            // address, as a demo hub does, unless the test set up another.
            let public_url = format!("https://127.0.0.1:{}", server.addr.port());
            if let Some(make) = make_identity {
                identity.set(make(&public_url)).unwrap();
            } else if identity.get().is_none() {
                identity
                    .set(hub::identity::IdentityConfig::builtin(&public_url, &tls.cert).unwrap())
                    .unwrap();
            }
            servers.push(server);
        }
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Hub {
            _db: None,
            kek,
            pool,
            servers,
            client,
            cert: String::from_utf8_lossy(&tls.cert).into_owned(),
            tls,
        }
    }

    pub(crate) fn base(&self, i: usize) -> String {
        format!("https://127.0.0.1:{}", self.servers[i].addr.port())
    }

    pub(crate) async fn code(&self) -> String {
        self.code_for(protocol::wire::DeviceRole::Node).await
    }

    pub(crate) async fn code_for(&self, role: protocol::wire::DeviceRole) -> String {
        let mut c = self.pool.get().await.unwrap();
        devices::create_code(&mut c, "admin", SEDE, role)
            .await
            .unwrap()
    }

    /// Enrols a kiosk's branch node as `sportello enroll` does (the hub's certificate trusted
    /// on first use) and records the link in its store.
    pub(crate) async fn enrol_branch(&self, branch: &branch::node::Branch) -> store::HubLink {
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

    pub(crate) async fn enrol(&self) -> Kiosk {
        self.enrol_as(protocol::wire::DeviceRole::Node).await
    }

    /// Enrols a device of `role` with a fresh key, as a kiosk would.
    pub(crate) async fn enrol_as(&self, role: protocol::wire::DeviceRole) -> Kiosk {
        let r = self.try_enrol(&self.code_for(role).await).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.1);
        r.2.unwrap()
    }

    pub(crate) async fn try_enrol(&self, code: &str) -> (StatusCode, String, Option<Kiosk>) {
        let key = SigningKey::from_bytes(&rand_seed());
        let r = self
            .client
            .post(format!("{}/v1/enrol", self.base(0)))
            .json(&EnrolRequest {
                code: code.into(),
                public_key: wire::hex(key.verifying_key().as_bytes()),
                client_version: "test".into(),
            })
            .send()
            .await
            .unwrap();
        let status = r.status();
        if status != StatusCode::OK {
            return (status, r.text().await.unwrap(), None);
        }
        let e: EnrolResponse = r.json().await.unwrap();
        assert_eq!(e.branch, SEDE);
        (
            status,
            String::new(),
            Some(Kiosk {
                id: e.device_id,
                key,
                client: self.client.clone(),
            }),
        )
    }
}

/// A kiosk store with nothing in it yet, and its branch node.
pub(crate) fn empty_kiosk<C: domain::Clock + 'static>(
    clock: &Arc<C>,
) -> (tempfile::TempDir, Arc<branch::node::Branch>) {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open(
        &dir.path().join("kiosk.sqlite"),
        &store::StoreOptions::default(),
    )
    .unwrap();
    let branch = branch::node::Branch::open(store, clock.clone()).unwrap();
    (dir, branch)
}

pub(crate) fn rand_seed() -> [u8; 32] {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).unwrap();
    s
}

pub(crate) struct Kiosk {
    pub(crate) id: String,
    pub(crate) key: SigningKey,
    pub(crate) client: reqwest::Client,
}

impl Kiosk {
    pub(crate) fn sign(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Vec<(&'static str, String)> {
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

    pub(crate) async fn push_raw(&self, base: &str, body: Vec<u8>) -> reqwest::Response {
        self.try_push_raw(base, body).await.unwrap()
    }

    /// The same, the transport's error kept: a server may answer and close before a large body
    /// is all written, and then the client sees a broken pipe instead of the answer.
    pub(crate) async fn try_push_raw(
        &self,
        base: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        let mut r = self.client.post(format!("{base}/v1/sync/push"));
        for (h, v) in self.sign("POST", "/v1/sync/push", &body) {
            r = r.header(h, v);
        }
        r.header("content-type", "application/json")
            .body(body)
            .send()
            .await
    }

    /// A signed POST of `value` as JSON.
    pub(crate) async fn signed_json(
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
    pub(crate) async fn signed(&self, base: &str, method: &str, path: &str) -> reqwest::Response {
        let mut r = self
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"));
        for (h, v) in self.sign(method, path, b"") {
            r = r.header(h, v);
        }
        r.send().await.unwrap()
    }

    pub(crate) async fn push(&self, base: &str, req: &PushRequest) -> reqwest::Response {
        self.push_raw(base, serde_json::to_vec(req).unwrap()).await
    }

    pub(crate) async fn pull(
        &self,
        base: &str,
        after: i64,
        epoch: Option<&str>,
    ) -> reqwest::Response {
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

pub(crate) fn queue_op(seq: i64, event_seq: i64) -> PushOp {
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

pub(crate) fn batch(incarnation: &str, ops: Vec<PushOp>) -> PushRequest {
    PushRequest {
        incarnation: incarnation.into(),
        log_id: "log-a".into(),
        client_version: "test".into(),
        schema_version: protocol::OP_SCHEMA_VERSION,
        ops,
        status: Default::default(),
    }
}

pub(crate) async fn count(pool: &deadpool_postgres::Pool, sql: &str) -> i64 {
    pool.get()
        .await
        .unwrap()
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

/// A kiosk's branch node on a real SQLite file, with tickets issued (each an outbox row).
pub(crate) fn kiosk_branch(dir: &std::path::Path, tickets: usize) -> Arc<branch::node::Branch> {
    use domain::{Clock, SystemClock};
    let clock = Arc::new(SystemClock::untrusted());
    clock.mark_trusted();
    let mut store =
        store::Store::open(&dir.join("kiosk.sqlite"), &store::StoreOptions::default()).unwrap();
    let demo = demo::DemoBranch::generate(7, clock.local_now().naive_local());
    store.apply_replica(&demo.replica()).unwrap();
    let branch = branch::node::Branch::open(store, clock).unwrap();
    kiosk_branch_issue(&branch, tickets);
    branch
}

/// Makes `tickets` operations in the kiosk's outbox (walk-ins, or alerts when closed);
/// answers how many outbox rows they added.
pub(crate) fn kiosk_branch_issue(branch: &branch::node::Branch, tickets: usize) -> u64 {
    use domain::{ServiceLetter, TicketPriority};
    let before = branch.read(|_, s| s.outbox_depth().unwrap());
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
    branch.read(|_, s| s.outbox_depth().unwrap()) - before
}

pub(crate) fn sportello() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sportello"));
    cmd.env_remove("RUST_LOG")
        .env_remove("SPORTELLO_CONFIG")
        .env_remove("SPORTELLO_DATABASE_URL");
    cmd
}

/// Kills the child when the test ends, however it ends.
pub(crate) struct Child(pub(crate) std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser's session at one hub instance, over real HTTPS.
pub(crate) struct ConsoleSession {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

impl ConsoleSession {
    pub(crate) async fn try_login(
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

    pub(crate) async fn login(
        hub: &Hub,
        instance: usize,
        user: &str,
        password: &str,
    ) -> ConsoleSession {
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

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, String) {
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
    pub(crate) async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, String) {
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

pub(crate) fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    page.split(start)
        .nth(1)
        .unwrap_or_else(|| panic!("no {start} in {page}"))
        .split(end)
        .next()
        .unwrap()
}

/// The built-in provider's login form, as the phone's browser would send it back: its hidden
/// fields (unescaped), to which the chosen identity is added.
pub(crate) fn login_form(page: &str) -> Vec<(String, String)> {
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
pub(crate) fn location(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a redirect");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A delegate identified at a kiosk of the demo sede through the built-in provider, with one
/// of their matricole and one of a company they do not act for.
pub(crate) struct Visitor {
    pub(crate) demo: demo::DemoBranch,
    pub(crate) person: demo::DemoPerson,
    pub(crate) mine: domain::Matricola,
    pub(crate) theirs: domain::Matricola,
    pub(crate) kiosk: Kiosk,
    pub(crate) base: String,
    pub(crate) started: protocol::wire::HandoffStarted,
    pub(crate) phone: reqwest::Client,
    pub(crate) now: chrono::NaiveDateTime,
}

impl Visitor {
    pub(crate) async fn identified(hub: &Hub) -> Visitor {
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
        let mine = demo.companies[person.companies[0]].matricole[0];
        let theirs = demo
            .companies
            .iter()
            .enumerate()
            .find(|(i, _)| !person.companies.contains(i))
            .map(|(_, c)| c.matricole[0])
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
        phone_login(
            &phone,
            &base,
            &started.url,
            &started.code,
            person.cf.as_str(),
        )
        .await;
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

/// The phone's whole login for a kiosk's hand-off URL, as `cf`, at the hub at `base`: the
/// QR's page, the kiosk's `code` typed in, the provider, back to the hub. The phone must keep
/// cookies ([`Hub::phone`]): the flow is tied to its browser.
pub(crate) async fn phone_login(
    phone: &reqwest::Client,
    base: &str,
    url: &str,
    code: &str,
    cf: &str,
) {
    let to_idp = confirm_at(phone, url, code).await;
    let back = choose_identity(phone, base, &to_idp, cf).await;
    assert_eq!(
        phone.get(&back).send().await.unwrap().status(),
        StatusCode::OK
    );
}

/// Opens the QR's page and types the kiosk's code; the provider's address it leads to.
pub(crate) async fn confirm_at(phone: &reqwest::Client, url: &str, code: &str) -> String {
    let page = phone.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let r = phone
        .post(url)
        .form(&[("code", code)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the kiosk's code is accepted"
    );
    location(&r)
}

/// At the test provider's page, picks the identity `cf`; the hub's callback it sends back to.
pub(crate) async fn choose_identity(
    phone: &reqwest::Client,
    base: &str,
    to_idp: &str,
    cf: &str,
) -> String {
    let page = phone
        .get(to_idp)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = login_form(&page);
    form.push(("cf".into(), cf.to_owned()));
    location(
        &phone
            .post(format!("{base}/idp/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
}

/// A small valid PNG, `w` pixels wide.
pub(crate) fn png_bytes(w: u32) -> Vec<u8> {
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
pub(crate) async fn send_from_phone(
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
pub(crate) fn desk_form(
    fields: &[(&str, &str)],
    files: &[(&str, Vec<u8>)],
) -> reqwest::multipart::Form {
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

/// Runs the due jobs as a hub instance would: how many ended well and how many failed.
pub(crate) async fn run_jobs(
    pool: &deadpool_postgres::Pool,
    notifier: &hub::notify::Notifier,
) -> (usize, usize) {
    use hub::jobs;
    let (mut ok, mut failed) = (0, 0);
    let c = pool.get().await.unwrap();
    let registry = hub::job_registry(pool.clone(), notifier.clone());
    while let Some(job) = jobs::claim(&c, "test").await.unwrap() {
        match registry.work(job.clone()).await {
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
pub(crate) struct SmsSink {
    pub(crate) port: u16,
    pub(crate) received: Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
    pub(crate) fail_next: Arc<std::sync::Mutex<bool>>,
}

impl SmsSink {
    pub(crate) async fn start() -> SmsSink {
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

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/messages", self.port)
    }

    pub(crate) fn received(&self) -> Vec<(String, serde_json::Value)> {
        self.received.lock().unwrap().clone()
    }
}

/// A header of a received message, unfolded and its RFC 2047 words decoded.
pub(crate) fn header_text(data: &str, name: &str) -> String {
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
pub(crate) fn body_text(data: &str) -> String {
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
pub(crate) fn valid_value(kind: domain::istanze::Kind) -> String {
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

impl Hub {
    /// Runs today's daily purge now, as the job runner would.
    pub(crate) async fn purge(&self) {
        let c = self.pool.get().await.unwrap();
        hub::retention::schedule_daily(&c).await.unwrap();
        let job = hub::jobs::claim(&c, "alive")
            .await
            .unwrap()
            .expect("the purge");
        hub::job_registry(self.pool.clone(), Default::default())
            .work(job)
            .await
            .unwrap();
    }

    /// The demo branch seeded, and an empty kiosk store of it enrolled here: the kiosk's
    /// folder, its node, its link.
    pub(crate) async fn demo_kiosk(
        &self,
        clock: &Arc<domain::SystemClock>,
    ) -> (tempfile::TempDir, Arc<branch::node::Branch>, store::HubLink) {
        use domain::Clock;
        demo::hub::seed_demo(
            &mut self.pool.get().await.unwrap(),
            11,
            clock.local_now().naive_local(),
        )
        .await
        .unwrap();
        let (dir, branch) = empty_kiosk(clock);
        let link = self.enrol_branch(&branch).await;
        (dir, branch, link)
    }
}

/// The branch configuration last in a pull's page.
pub(crate) fn config_in(pulled: &PullResponse) -> wire::BranchConfigPayload {
    pulled
        .changes
        .iter()
        .rev()
        .find(|c| c.entity == wire::ENTITY_BRANCH_CONFIG)
        .map(|c| serde_json::from_value(c.payload.clone().unwrap()).unwrap())
        .expect("a configuration in the page")
}

/// Seeds the demo sede at the hub, open around the clock (walk-ins at any hour, no holidays), so
/// a test does not depend on when it runs; returns it and its replica.
pub(crate) async fn open_around_the_clock<C: domain::Clock>(
    hub: &Hub,
    clock: &Arc<C>,
) -> (demo::DemoBranch, protocol::replica::Replica) {
    let demo = demo::hub::seed_demo(
        &mut hub.pool.get().await.unwrap(),
        11,
        clock.local_now().naive_local(),
    )
    .await
    .unwrap();
    let mut replica = demo.replica();
    crate::faults::open_around_the_clock(&mut replica);
    hub::branch_data::put_config(
        &hub.pool.get().await.unwrap(),
        i32::from(SEDE),
        &hub::branch_data::config_of(&replica).unwrap(),
    )
    .await
    .unwrap();
    (demo, replica)
}

/// A kiosk's hand-off started and read back as the kiosk does.
pub(crate) async fn start_handoff(
    kiosk: &Kiosk,
    base: &str,
) -> (
    protocol::wire::HandoffStarted,
    impl AsyncFn() -> protocol::wire::HandoffState,
) {
    let started: protocol::wire::HandoffStarted = kiosk
        .signed(base, "POST", "/v1/handoff")
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/v1/handoff/{}", started.id);
    let status = async move || -> protocol::wire::HandoffState {
        kiosk.signed(base, "GET", &path).await.json().await.unwrap()
    };
    (started, status)
}

/// Opens, at `branch`, the first counter of the sede that serves `service`: its number.
pub(crate) fn open_counter_for(
    branch: &branch::node::Branch,
    replica: &protocol::replica::Replica,
    service: domain::ServiceLetter,
) -> domain::CounterNumber {
    let counter = replica
        .counters
        .iter()
        .find(|c| c.services.iter().any(|(s, _)| *s == service))
        .unwrap()
        .number;
    branch
        .execute(queue::Command::OpenCounter {
            counter,
            services: vec![],
            operator: "operatore".into(),
        })
        .unwrap();
    counter
}

/// A ticket's *segui la coda* address as its kiosk prints it: the path, and the tag the sede's
/// key from the hub gives it (the kiosk must have pulled).
pub(crate) fn follow_address(
    branch: &branch::node::Branch,
    ticket: &domain::Ticket,
) -> (String, String) {
    let key = branch
        .read(|_, s| s.follow_key())
        .unwrap()
        .expect("the hub gives the sede's follow key with every pull");
    let sede = domain::SedeCode::from_u16(SEDE).unwrap();
    (
        format!("/coda/{SEDE}/{}/{}", ticket.business_day, ticket.number),
        domain::follow::tag(&key, sede, ticket.business_day, ticket.number),
    )
}

/// The demo sede at the hub, open around the clock, and a node of it enrolled that has pulled
/// its branch (and with it the sede's follow key).
pub(crate) struct PulledNode {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) branch: Arc<branch::node::Branch>,
    pub(crate) agent: branch::sync::agent::Agent,
    pub(crate) replica: protocol::replica::Replica,
}

pub(crate) async fn pulled_node<C: domain::Clock + 'static>(
    hub: &Hub,
    clock: &Arc<C>,
) -> PulledNode {
    let (_, replica) = open_around_the_clock(hub, clock).await;
    let (dir, branch) = empty_kiosk(clock);
    let link = hub.enrol_branch(&branch).await;
    let agent = branch::sync::agent::Agent::new(branch.clone(), &link).unwrap();
    agent.pull_once().await.unwrap();
    PulledNode {
        _dir: dir,
        branch,
        agent,
        replica,
    }
}

/// The body of a GET of `url`.
pub(crate) async fn text_of(client: &reqwest::Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

/// The system's clock, taken as confirmed (as NTP would).
pub(crate) fn trusted_clock() -> Arc<domain::SystemClock> {
    let clock = Arc::new(domain::SystemClock::untrusted());
    clock.mark_trusted();
    clock
}
