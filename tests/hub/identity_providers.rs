//! The hub's relying party against an outside provider nobody on this project wrote: the npm
//! package `oidc-provider` (OpenID Certified), run by Node on loopback over HTTPS
//! (`tests/oidc-provider/provider.mjs`), set up like a SPID/CIE provider inside a federation,
//! and like a broker. The phone's whole hand-off runs: kiosk QR, phone, provider's login,
//! back to the hub, bound to the kiosk. Then the provider is made to misbehave, and each
//! refusal is checked where the visitor sees it.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use crate::helpers::*;

/// The Node process running the provider; killed when dropped.
struct Outside {
    child: std::process::Child,
    issuer: String,
    anchor: String,
    base: String,
    http: reqwest::Client,
    /// Its certificate, which the hub is told to trust.
    cert: PathBuf,
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

impl Outside {
    /// Starts the provider with `settings` (tests/oidc-provider/provider.mjs says which).
    fn start(dir: &Path, mut settings: serde_json::Value) -> Outside {
        let _ = rustls::crypto::ring::default_provider().install_default();
        assert!(
            harness().join("node_modules/oidc-provider").exists(),
            "the outside provider is not installed: run `npm ci --prefix tests/oidc-provider` \
             (scripts/test does; Node.js and npm come from scripts/system-deps --test)"
        );
        let tls = web::tls::self_signed().unwrap();
        let cert = dir.join("provider.crt");
        let key = dir.join("provider.key");
        std::fs::write(&cert, &tls.cert).unwrap();
        std::fs::write(&key, &tls.key).unwrap();
        settings["tls"] = serde_json::json!({ "cert": cert, "key": key });
        let path = dir.join("provider.json");
        std::fs::write(&path, settings.to_string()).unwrap();
        let mut child = std::process::Command::new("node")
            .arg(harness().join("provider.mjs"))
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run node ({e}): install Node.js with scripts/system-deps --test")
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the outside provider did not start within a minute");
        let ready: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the outside provider said {line:?}: {e}"));
        let issuer = ready["issuer"].as_str().unwrap().to_owned();
        Outside {
            child,
            base: issuer.trim_end_matches("/op").to_owned(),
            anchor: ready["anchor"].as_str().unwrap().to_owned(),
            issuer,
            http: reqwest::Client::builder()
                .tls_certs_only([reqwest::Certificate::from_pem(&tls.cert).unwrap()])
                .build()
                .unwrap(),
            cert,
        }
    }

    /// Changes how the provider behaves from now on.
    async fn set(&self, change: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/_control", self.base))
            .body(change.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// A private key file as an operator installs it (mode 600).
fn key_file(dir: &Path, name: &str, pem: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    path
}

/// The demo person with companies, as the provider's one account.
async fn person(hub: &Hub) -> demo::DemoPerson {
    let now = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .naive_local();
    let demo = demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 9, now)
        .await
        .unwrap();
    demo.people
        .into_iter()
        .find(|p| !p.companies.is_empty())
        .unwrap()
}

fn account(p: &demo::DemoPerson) -> serde_json::Value {
    serde_json::json!({
        "sub": "b7d2e6f0-aa11-4c3e-9a51-0e6cbf7d1e2a",
        "given_name": p.given_name,
        "family_name": p.surname,
        "email": "titolare@example.it",
        "phone_number": "+393331234567",
        "fiscal_number": p.cf.as_str(),
    })
}

/// Where a hand-off's phone ends up.
struct Journey {
    /// The hub's authorisation request, as the phone was sent to the provider.
    to_provider: String,
    /// The provider's answer at the hub, when it came back.
    callback: Option<String>,
    status: StatusCode,
    page: String,
}

/// The visitor's whole hand-off: the kiosk's QR opened on the phone, its code typed, the
/// provider's login followed through its redirects, and the hub's answer.
async fn identify(
    hub: &Hub,
    kiosk: &Kiosk,
    outside: &Outside,
) -> (Journey, protocol::wire::HandoffState) {
    let base = hub.base(0);
    let (started, status) = start_handoff(kiosk, &base).await;
    let phone = phone(hub, outside);
    let r = phone
        .post(&started.url)
        .form(&[("code", started.code.as_str())])
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        let status_code = r.status();
        let page = r.text().await.unwrap();
        return (
            Journey {
                to_provider: String::new(),
                callback: None,
                status: status_code,
                page,
            },
            status().await,
        );
    }
    let to_provider = location(&r);
    let mut url = reqwest::Url::parse(&to_provider).unwrap();
    for _ in 0..12 {
        let r = phone.get(url.clone()).send().await.unwrap();
        let at_hub = url.as_str().starts_with(&format!("{base}/h/callback"));
        if r.status().is_redirection() && !at_hub {
            let next = r.headers()["location"].to_str().unwrap().to_owned();
            url = url.join(&next).unwrap();
            continue;
        }
        let journey = Journey {
            to_provider,
            callback: at_hub.then(|| url.to_string()),
            status: r.status(),
            page: r.text().await.unwrap(),
        };
        return (journey, status().await);
    }
    panic!("the provider's redirects do not end");
}

/// A phone that trusts the hub and the provider (both self-signed here) and keeps cookies.
fn phone(hub: &Hub, outside: &Outside) -> reqwest::Client {
    hub.phone_trusting(&[&std::fs::read(&outside.cert).unwrap()])
}

fn bound_name(state: &protocol::wire::HandoffState) -> Option<(String, usize)> {
    match state {
        protocol::wire::HandoffState::Bound {
            name, companies, ..
        } => Some((name.clone(), companies.len())),
        _ => None,
    }
}

const L1: &str = "https://www.spid.gov.it/SpidL1";
const L2: &str = "https://www.spid.gov.it/SpidL2";

/// The trust mark the hub requires of providers, which the anchor issues to this one.
const PROVIDER_MARK: &str = "https://registry.example/openid_provider/public/";

/// A hub in the federation with an outside SPID provider under one trust anchor.
struct Federation {
    // Dropped first: the provider's process, then the hub, then the files.
    outside: Outside,
    hub: Hub,
    kiosk: Kiosk,
    person: demo::DemoPerson,
    _dir: tempfile::TempDir,
}

impl Federation {
    /// The hub's `/metrics`, as Prometheus reads them.
    async fn metrics(&self) -> String {
        self.hub
            .client
            .get(format!("{}/metrics", self.hub.base(0)))
            .bearer_auth(IDENTIFIED_METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn federation(alg: &str, timeout_seconds: u64) -> Federation {
    federation_pinning(alg, timeout_seconds, true).await
}

/// The same, the hub pinning the anchor's real keys, or another's.
async fn federation_pinning(alg: &str, timeout_seconds: u64, real_anchor: bool) -> Federation {
    let dir = tempfile::tempdir().unwrap();
    // The anchor's key, made here and pinned in the hub; the provider's process signs with it.
    let anchor = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut anchor_private = anchor.to_jwk_private_key();
    let mut anchor_public = anchor.to_jwk_public_key();
    // The private JWK as JOSE writes it carries the public coordinates too.
    for k in ["x", "y"] {
        anchor_private
            .set_parameter(k, anchor_public.parameter(k).cloned())
            .unwrap();
    }
    anchor_private.set_key_id("ta-1");
    anchor_private.set_algorithm("ES256");
    anchor_public.set_key_id("ta-1");
    let pinned = if real_anchor {
        anchor_public
    } else {
        let mut other = josekit::jws::ES256
            .generate_key_pair()
            .unwrap()
            .to_jwk_public_key();
        other.set_key_id("ta-1");
        other
    };
    let anchor_keys = dir.path().join("trust-anchor.jwks");
    std::fs::write(
        &anchor_keys,
        serde_json::json!({ "keys": [pinned.as_ref()] }).to_string(),
    )
    .unwrap();
    let hub_ca = dir.path().join("hub.crt");
    let outside = Outside::start(
        dir.path(),
        serde_json::json!({
            "mode": "federation",
            "alg": alg,
            "anchor_key": anchor_private.as_ref(),
            "hub_ca": hub_ca,
            "provider_trust_mark": PROVIDER_MARK,
            "acr": L2,
            "account": {},
        }),
    );
    // Mid-rotation: the new key (EC) signs, the old one (RSA) is still published.
    let signing = vec![
        key_file(
            dir.path(),
            "sign-new.pem",
            &josekit::jws::ES256
                .generate_key_pair()
                .unwrap()
                .to_pem_private_key(),
        ),
        key_file(
            dir.path(),
            "sign-old.pem",
            &josekit::jws::RS256
                .generate_key_pair(2048)
                .unwrap()
                .to_pem_private_key(),
        ),
    ];
    let encryption = key_file(
        dir.path(),
        "enc.pem",
        &josekit::jwe::RSA_OAEP
            .generate_key_pair(2048)
            .unwrap()
            .to_pem_private_key(),
    );
    let mark_file = dir.path().join("trust-mark.jwt");
    let hub = Hub::start_identified(|public_url| {
        // The anchor's trust mark for this hub, as the registry issues it at onboarding.
        let now = chrono::Utc::now().timestamp();
        let mut signer = josekit::jws::ES256
            .signer_from_jwk(&anchor_private)
            .unwrap();
        signer.set_key_id("ta-1");
        let mark = hub::oidc::jose::sign(
            &serde_json::json!({
                "iss": outside.anchor,
                "sub": public_url,
                "id": "https://registry.example/openid_relying_party/public/",
                "iat": now,
                "exp": now + 86_400,
            }),
            "trust-mark+jwt",
            &signer,
        )
        .unwrap();
        std::fs::write(&mark_file, mark).unwrap();
        hub::identity::IdentityConfig::outside(
            public_url,
            &config::IdentitySettings {
                mode: Some(config::IdentityMode::Federation),
                issuer: Some(outside.issuer.clone()),
                signing_keys: signing.clone(),
                encryption_keys: vec![encryption.clone()],
                ca: Some(outside.cert.clone()),
                timeout_seconds,
                trust_anchor: Some(outside.anchor.clone()),
                trust_anchor_keys: Some(anchor_keys.clone()),
                trust_marks: vec![mark_file.clone()],
                provider_trust_marks: vec![PROVIDER_MARK.into()],
                contacts: vec!["sportello@example.it".into()],
                ..Default::default()
            },
        )
        .unwrap()
    })
    .await;
    std::fs::write(&hub_ca, &hub.cert).unwrap();
    let person = person(&hub).await;
    outside
        .set(serde_json::json!({ "account": account(&person) }))
        .await;
    let kiosk = hub.enrol().await;
    Federation {
        outside,
        hub,
        kiosk,
        person,
        _dir: dir,
    }
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The Italian profile end to end, with each of the federation's signature families at the
/// provider: the hub's request object (PKCE, nonce, level and claims inside, signed), its
/// registration found by the provider through the hub's own entity configuration and the
/// anchor's statement, `private_key_jwt` at the token endpoint, the ID token and the
/// UserInfo (signed, then encrypted to the hub's key) checked, the person bound to the kiosk.
/// The same answer brought back again binds no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spid_provider_of_the_federation_identifies_the_visitor() {
    for alg in ["ES256", "RS256"] {
        let f = federation(alg, 10).await;
        let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
        assert_eq!(journey.status, StatusCode::OK, "{alg}: {}", journey.page);
        assert!(
            journey.page.contains("Identificazione riuscita"),
            "{}",
            journey.page
        );
        let (name, companies) = bound_name(&state).unwrap_or_else(|| panic!("{state:?}"));
        assert_eq!(
            name,
            format!("{} {}", f.person.given_name, f.person.surname)
        );
        assert_eq!(companies, f.person.companies.len());

        // What went to the provider: OAuth's own fields, and the rest signed inside.
        let q = query(&journey.to_provider);
        assert!(
            journey
                .to_provider
                .starts_with(&format!("{}/auth?", f.outside.issuer))
        );
        assert_eq!(q["client_id"], f.hub.base(0));
        assert_eq!(q["code_challenge_method"], "S256");
        for inside in ["nonce", "state", "redirect_uri", "acr_values"] {
            assert!(
                !q.contains_key(inside),
                "{inside} is only in the request object"
            );
        }
        let request = hub::oidc::jose::unverified_claims(&q["request"]).unwrap();
        assert_eq!(
            hub::oidc::jose::header(&q["request"]).unwrap()["alg"],
            "ES256",
            "the request object is signed with the first (new) key"
        );
        assert_eq!(request["acr_values"], L2);
        assert_eq!(request["prompt"], "consent login");
        assert_eq!(request["iss"], f.hub.base(0));
        assert_eq!(
            request["aud"][0], f.outside.issuer,
            "the request object is meant for the provider"
        );
        assert_eq!(
            request["exp"].as_i64().unwrap() - request["iat"].as_i64().unwrap(),
            60
        );
        assert_eq!(
            request["claims"]["userinfo"]["https://attributes.eid.gov.it/fiscal_number"]["essential"],
            true
        );
        let callback = journey.callback.unwrap();
        assert_eq!(query(&callback)["iss"], f.outside.issuer, "RFC 9207");

        // The same answer again: the hand-off is bound, the code spent.
        let again = phone(&f.hub, &f.outside)
            .get(&callback)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        assert!(
            again
                .text()
                .await
                .unwrap()
                .contains("non corrisponde a un codice valido")
        );
    }
}

/// The hub's entity configuration: self-signed with the key it publishes, naming its
/// anchor, carrying its trust mark and its relying-party metadata as SPID and CIE read them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_publishes_its_entity_configuration_and_keys() {
    let f = federation("ES256", 10).await;
    let base = f.hub.base(0);
    let r = f
        .hub
        .client
        .get(format!("{base}/.well-known/openid-federation"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/entity-statement+jwt"
    );
    let token = r.text().await.unwrap();
    let unverified = hub::oidc::jose::unverified_claims(&token).unwrap();
    let keys = hub::oidc::jose::key_set(&unverified["jwks"]).unwrap();
    let (claims, header) = hub::oidc::jose::verify(&token, &keys, &["ES256"]).unwrap();
    assert_eq!(header["typ"], "entity-statement+jwt");
    assert_eq!(claims["iss"], base);
    assert_eq!(claims["sub"], base);
    assert_eq!(
        claims["authority_hints"],
        serde_json::json!([f.outside.anchor])
    );
    assert_eq!(
        claims["trust_marks"][0]["id"],
        "https://registry.example/openid_relying_party/public/"
    );
    let rp = &claims["metadata"]["openid_relying_party"];
    assert_eq!(
        rp["redirect_uris"],
        serde_json::json!([format!("{base}/h/callback")])
    );
    assert_eq!(rp["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(rp["userinfo_encrypted_response_enc"], "A256CBC-HS512");
    let uses: Vec<&str> = rp["jwks"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["use"].as_str().unwrap())
        .collect();
    assert_eq!(
        uses,
        ["sig", "sig", "enc"],
        "both signing keys of a rotation"
    );
    let published = rp["jwks"]["keys"].as_array().unwrap();
    assert_eq!(published[0]["alg"], "ES256");
    assert_eq!(published[1]["alg"], "RS256");
    assert_eq!(
        header["kid"], published[0]["kid"],
        "the first key signs, the second is only published"
    );
    let jwks: serde_json::Value = f
        .hub
        .client
        .get(format!("{base}/oidc/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks, rp["jwks"]);
    assert!(!jwks.to_string().contains("\"d\""), "no private member");
}

/// The provider misbehaves, one way at a time, and the visitor is told in words that fit;
/// nobody is bound. Then it behaves again and the same hub identifies the visitor, so each
/// refusal above came from the fault, not from the set-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_provider_is_refused_with_a_clear_message() {
    let f = federation("ES256", 2).await;
    let not_confirmed = "identità non è stata confermata.";
    let cases = [
        (serde_json::json!({ "tamper": "audience" }), not_confirmed),
        (serde_json::json!({ "tamper": "signature" }), not_confirmed),
        (
            serde_json::json!({ "tamper": "unknown_kid" }),
            not_confirmed,
        ),
        (
            serde_json::json!({ "tamper": null, "acr": L1 }),
            "è avvenuto con il livello 1, ma per il Cassetto serve almeno il livello 2",
        ),
    ];
    for (change, says) in cases {
        f.outside.set(change.clone()).await;
        let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
        assert_eq!(
            journey.status,
            StatusCode::BAD_REQUEST,
            "{change}: {}",
            journey.page
        );
        assert!(journey.page.contains(says), "{change}: {}", journey.page);
        assert!(journey.callback.is_some(), "{change}: refused by the hub");
        assert!(bound_name(&state).is_none(), "{change}: {state:?}");
    }

    // The provider's clock runs ten minutes ahead: the hub's request object has expired when
    // it arrives, and the provider refuses it before any login, back to the hub.
    f.outside
        .set(serde_json::json!({ "acr": L2, "clock_offset_seconds": 600 }))
        .await;
    let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
    let callback = journey.callback.expect("the provider answers the hub");
    let answer = query(&callback);
    assert_eq!(answer["error"], "invalid_request_object", "{callback}");
    assert!(!answer.contains_key("code"));
    assert_eq!(journey.status, StatusCode::BAD_REQUEST);
    assert!(
        journey.page.contains("ha rifiutato la richiesta"),
        "{}",
        journey.page
    );
    assert!(bound_name(&state).is_none());

    // The token endpoint answers after the hub's deadline (2 s here).
    f.outside
        .set(serde_json::json!({ "clock_offset_seconds": 0, "token_delay_ms": 4000 }))
        .await;
    let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
    assert_eq!(
        journey.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        journey.page
    );
    assert!(journey.page.contains("non risponde"), "{}", journey.page);
    assert!(bound_name(&state).is_none());

    f.outside
        .set(serde_json::json!({ "token_delay_ms": 0 }))
        .await;
    let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
    assert_eq!(journey.status, StatusCode::OK, "{}", journey.page);
    assert!(bound_name(&state).is_some());

    // The operators see each outcome counted.
    let metrics = f.metrics().await;
    for (outcome, n) in [
        ("not_confirmed", 3),
        ("level_too_low", 1),
        ("provider_refused", 1),
        ("unavailable", 1),
        ("identified", 1),
    ] {
        let line = format!("sportello_hub_identifications_total{{outcome=\"{outcome}\"}} {n}");
        assert!(metrics.contains(&line), "{line}: {metrics}");
    }
}

/// A broker speaking plain OpenID Connect: RS256, a client secret in HTTP Basic, no request
/// object, the fiscal number and the name in the ID token through the claims parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_identifies_the_visitor_with_plain_openid_connect() {
    let dir = tempfile::tempdir().unwrap();
    let outside = Outside::start(
        dir.path(),
        serde_json::json!({ "mode": "broker", "alg": "RS256", "acr": L2, "account": {} }),
    );
    let secret = dir.path().join("client-secret");
    std::fs::write(&secret, "un segreto lungo dato dal broker\n").unwrap();
    let hub = Hub::start_identified(|public_url| {
        hub::identity::IdentityConfig::outside(
            public_url,
            &config::IdentitySettings {
                mode: Some(config::IdentityMode::Broker),
                issuer: Some(outside.issuer.clone()),
                client_id: Some("sportello-inps".into()),
                client_auth: config::ClientAuth::ClientSecretBasic,
                client_secret_file: Some(secret.clone()),
                ca: Some(outside.cert.clone()),
                ..Default::default()
            },
        )
        .unwrap()
    })
    .await;
    let person = person(&hub).await;
    outside
        .set(serde_json::json!({
            "account": account(&person),
            "client": {
                "client_id": "sportello-inps",
                "client_secret": "un segreto lungo dato dal broker",
                "redirect_uris": [format!("{}/h/callback", hub.base(0))],
                "response_types": ["code"],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "client_secret_basic",
                "id_token_signed_response_alg": "RS256",
            },
        }))
        .await;
    let kiosk = hub.enrol().await;
    let (journey, state) = identify(&hub, &kiosk, &outside).await;
    assert_eq!(journey.status, StatusCode::OK, "{}", journey.page);
    let q = query(&journey.to_provider);
    assert!(!q.contains_key("request"));
    assert_eq!(q["acr_values"], L2);
    assert_eq!(q["code_challenge_method"], "S256");
    let (name, _) = bound_name(&state).unwrap();
    assert_eq!(name, format!("{} {}", person.given_name, person.surname));

    // Through a broker too, a level below the one asked for is refused.
    outside.set(serde_json::json!({ "acr": L1 })).await;
    let (journey, state) = identify(&hub, &kiosk, &outside).await;
    assert_eq!(journey.status, StatusCode::BAD_REQUEST);
    assert!(journey.page.contains("Livello di sicurezza insufficiente"));
    assert!(bound_name(&state).is_none());
}

/// A provider whose chain does not end in the anchor the hub pinned (here: an anchor at the
/// right address, signing with another key) is never used: the phone is not sent to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outside_the_pinned_trust_anchor_is_never_used() {
    let f = federation_pinning("ES256", 10, false).await;
    let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
    assert_not_sent(&journey);
    assert!(
        journey.page.contains("Identificazione non disponibile"),
        "{}",
        journey.page
    );
    assert!(bound_name(&state).is_none());
    let metrics = f.metrics().await;
    assert!(
        metrics.contains("sportello_hub_identifications_total{outcome=\"untrusted\"} 1"),
        "{metrics}"
    );
}

/// The anchor's statement about the provider has expired: the chain is not valid, the phone
/// is not sent there. Renewed, the same hub uses the provider again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_trust_chain_is_not_used_until_it_is_renewed() {
    untrusted_until_fixed(
        serde_json::json!({ "provider_statement_seconds": -30 }),
        serde_json::json!({ "provider_statement_seconds": 1800 }),
    )
    .await;
}

/// The hub did not send the phone to the provider, and said the service is not available.
fn assert_not_sent(journey: &Journey) {
    assert!(
        journey.to_provider.is_empty(),
        "sent to {}",
        journey.to_provider
    );
    assert_eq!(journey.status, StatusCode::BAD_GATEWAY, "{}", journey.page);
}

/// With the provider broken by `broken`, the phone is never sent there and the visitor is
/// told the service is not available; with `fixed`, the same hub identifies the visitor (so
/// the refusal came from the fault: failed resolutions are not kept).
async fn untrusted_until_fixed(broken: serde_json::Value, fixed: serde_json::Value) {
    let f = federation("ES256", 10).await;
    f.outside.set(broken).await;
    let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
    assert_not_sent(&journey);
    assert!(bound_name(&state).is_none());
    f.outside.set(fixed).await;
    let (journey, state) = identify(&f.hub, &f.kiosk, &f.outside).await;
    assert_eq!(journey.status, StatusCode::OK, "{}", journey.page);
    assert!(bound_name(&state).is_some());
}

/// The hub requires providers to carry the anchor's trust mark: one without it is not used;
/// once the anchor has issued it, the same hub uses the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_without_the_required_trust_mark_is_never_used() {
    untrusted_until_fixed(
        serde_json::json!({ "provider_trust_mark": null }),
        serde_json::json!({ "provider_trust_mark": PROVIDER_MARK }),
    )
    .await;
}
