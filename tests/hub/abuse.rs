//! What the internet can throw at the hub's console login, against the real server on
//! loopback: a burst of wrong passwords, and fields far over any sensible size.

use std::collections::BTreeMap;

use crate::helpers::*;

/// 60 wrong passwords at once for one account: no more are checked than the limit allows,
/// and a name of 3 KB is a clear refusal that still counts against the address (it used to
/// break the failure's insert, so nothing was counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_logins_are_limited_before_hashing_and_oversized_fields_are_counted() {
    use hub::accounts::Role;
    let hub = Hub::start(1).await;
    hub.staff(&[("capo", Role::Supervisor, Some(5105))]).await;
    let attempts: Vec<_> = (0..60)
        .map(|i| {
            let (c, base) = (hub.client.clone(), hub.base(0));
            tokio::spawn(async move {
                c.post(format!("{base}/console/login"))
                    .form(&[
                        ("username", "capo".to_owned()),
                        ("password", format!("tentativo-{i}")),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    let mut answers = BTreeMap::<u16, usize>::new();
    for a in attempts {
        *answers
            .entry(a.await.unwrap().expect("answered"))
            .or_default() += 1;
    }
    assert!(
        answers.get(&401).copied().unwrap_or(0) <= web::auth::MAX_FAILURES,
        "guesses checked: {answers:?}"
    );
    assert!(
        answers.keys().all(|s| [401, 429, 503].contains(s)),
        "{answers:?}"
    );

    // Another address's counters are the database's: start from none.
    hub.pool
        .get()
        .await
        .unwrap()
        .execute("DELETE FROM login_failure", &[])
        .await
        .unwrap();
    // Not repetitive, so PostgreSQL cannot compress it under the index's row size.
    let mut rng = fastrand::Rng::with_seed(5);
    let long: String = (0..3000).map(|_| rng.alphanumeric()).collect();
    let r = ConsoleSession::try_login(&hub, 0, &long, "sbagliata").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Nome utente o password non corretti")
    );
    let r = ConsoleSession::try_login(&hub, 0, "capo", &"p".repeat(100_000)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        count(
            &hub.pool,
            "SELECT count(*) FROM login_failure WHERE key LIKE 'ip:%'"
        )
        .await,
        2,
        "both oversized attempts count against the address"
    );
}

/// Every answer of the hub carries the security headers: pages may not be framed, run no
/// script, leak no referrer and are not cached; browsers keep to HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let hub = Hub::start(1).await;
    for path in [
        "/console/login",
        "/health",
        "/v1/openapi.json",
        "/h/0000000000000000",
        "/no-such-page",
    ] {
        let r = hub
            .client
            .get(format!("{}{path}", hub.base(0)))
            .send()
            .await
            .unwrap();
        let h = r.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{name} on {path}: {h:?}"))
                .to_owned()
        };
        let csp = get("content-security-policy");
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} on {path}: {csp}");
        }
        assert!(!csp.contains("script-src"), "no script anywhere: {csp}");
        assert!(get("strict-transport-security").starts_with("max-age="));
        assert_eq!(get("x-content-type-options"), "nosniff");
        assert_eq!(get("referrer-policy"), "same-origin");
        assert!(get("cache-control").contains("no-store"), "{path}");
    }
}
