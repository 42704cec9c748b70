//! `hub/handoff`: from the visitor's login at the identity provider to the kiosk holding the
//! list of companies they may act for, through the whole OpenID Connect flow on loopback, as
//! the SPID/CIE profile has it: the provider's code, the hub's token exchange with its client
//! assertion (ES256), the ID token's checks, the UserInfo fetched, decrypted (RSA-OAEP,
//! A256CBC-HS512) and checked, the binding, and the kiosk's signed question. The provider's
//! metadata are kept between logins, as the hub does.
//!
//! `export SPORTELLO_PG_URL=$(scripts/pg)`, then `cargo bench --features hub --bench handoff`
//! (`BENCH_ROUNDS`, default 30). Goal: < 1 s. Numbers in docs/benchmarks.md.

mod support;

use std::time::{Duration, Instant};

use branch::sync::client::{self, HubClient};
use hub::{self, HubState, devices};
use protocol::wire::HandoffState;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let rounds: usize = support::env_count("BENCH_ROUNDS", 30);
    let rt = support::runtime();
    rt.block_on(async {
        let (bench_db, pool) = support::BenchDb::migrated("handoff", 16).await;
        let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 26)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let demo = demo::hub::seed_demo(&mut pool.get().await.unwrap(), 1, now)
            .await
            .unwrap();
        let person = demo.people.iter().find(|p| !p.companies.is_empty()).unwrap();

        let tls = web::tls::self_signed().unwrap();
        let kek = std::sync::Arc::new(hub::keys::Kek::generate().unwrap());
        hub::keys::prepare(&mut pool.get().await.unwrap(), &kek)
            .await
            .unwrap();
        let state = HubState::new(pool.clone()).with_kek(kek);
        let identity = state.identity.clone();
        let server = hub::start(state, "127.0.0.1:0", &tls).await.unwrap();
        let base = format!("https://127.0.0.1:{}", server.addr.port());
        identity
            .set(hub::identity::IdentityConfig::builtin(&base, &tls.cert).unwrap())
            .unwrap();
        let code = devices::create_code(&mut pool.get().await.unwrap(), "bench", 7001, protocol::wire::DeviceRole::Node)
            .await
            .unwrap();
        let e = client::enrol(&base, &code, None, "bench").await.unwrap();
        let kiosk = HubClient::new(&base, &e.device_id, &e.secret_key, e.cert_sha256).unwrap();
        let phone = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
            .redirect(reqwest::redirect::Policy::none())
            // The flow is tied to the phone's browser by a cookie.
            .cookie_store(true)
            .build()
            .unwrap();

        let mut times = Vec::new();
        for _ in 0..rounds {
            let started = kiosk.start_handoff().await.unwrap();
            // The QR's page, then the kiosk's code typed on the phone.
            assert_eq!(phone.get(&started.url).send().await.unwrap().status(), 200);
            let r = phone
                .post(&started.url)
                .form(&[("code", started.code.as_str())])
                .send()
                .await
                .unwrap();
            let to_idp = r.headers()["location"].to_str().unwrap().to_owned();
            let page = phone.get(&to_idp).send().await.unwrap().text().await.unwrap();
            let mut form: Vec<(String, String)> = page
                .split("<input type=\"hidden\" name=\"")
                .skip(1)
                .map(|f| {
                    let name = f.split('"').next().unwrap().to_owned();
                    let value = f.split("value=\"").nth(1).unwrap().split('"').next().unwrap();
                    (name, value.replace("&#38;", "&").replace("&amp;", "&"))
                })
                .collect();
            form.push(("cf".into(), person.cf.as_str().to_owned()));
            // The visitor taps "Entra" on the phone: the clock starts.
            let t = Instant::now();
            let r = phone
                .post(format!("{base}/idp/authorize"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let back = r.headers()["location"].to_str().unwrap().to_owned();
            let done = phone.get(&back).send().await.unwrap();
            assert_eq!(done.status(), 200);
            match kiosk.handoff(&started.id).await.unwrap() {
                HandoffState::Bound { companies, .. } => assert!(!companies.is_empty()),
                other => panic!("{other:?}"),
            }
            times.push(t.elapsed());
            kiosk.end_handoff(&started.id).await.unwrap();
        }
        times.sort();
        println!(
            "hub/handoff: {} logins, login → company list at the kiosk: p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms (goal < 1000 ms; plus the kiosk's polling period)",
            times.len(),
            ms(times[times.len() / 2]),
            ms(times[(times.len() - 1) * 95 / 100]),
            ms(*times.last().unwrap())
        );
        server.stop().await;
        drop(pool);
        bench_db.drop().await;
    });
}
