//! `/metrics` for Prometheus over real HTTPS: each device's last contact, version, outbox and
//! printer as it reported them, the hub's own requests, pool and jobs; only with the bearer
//! token, and not at all without one configured.

use crate::helpers::*;
use protocol::wire::DeviceStatus;

const TOKEN: &str = "metriche-di-prova-0123456789";

/// The value of the one series of `name` whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && labels.iter().all(|lab| l.contains(lab))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}\n{text}");
    found[0].rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_each_device_as_it_reported_and_need_the_token() {
    let hub = Hub::start_with(1, |s| s.with_metrics_token(Some(TOKEN.into()))).await;
    let base = hub.base(0);

    // A node that runs an old version and is out of paper, with a backlog…
    let old = hub.enrol().await;
    let mut req = batch("inc-1", vec![queue_op(1, 1)]);
    req.client_version = "0.0.9".into();
    req.status = DeviceStatus {
        outbox_depth: 3,
        oldest_pending_age_s: Some(1800),
        printer: "paper_out".into(),
        scanner: "present".into(),
        clock_trusted: true,
        ..DeviceStatus::default()
    };
    assert_eq!(old.push(&base, &req).await.status(), StatusCode::OK);
    // …and a kiosk of the same sede on the hub's version, all well.
    let current = hub.enrol_as(protocol::wire::DeviceRole::Kiosk).await;
    let mut req = batch("inc-2", vec![]);
    req.client_version = env!("CARGO_PKG_VERSION").into();
    req.status = DeviceStatus {
        printer: "ready".into(),
        scanner: "gone".into(),
        ..DeviceStatus::default()
    };
    assert_eq!(current.push(&base, &req).await.status(), StatusCode::OK);

    let get = |token: Option<&str>| {
        let mut r = hub.client.get(format!("{base}/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some("metriche-di-prova-012345678"))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = get(Some(TOKEN)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");

    let old_id = format!("device=\"{}\"", old.id);
    let current_id = format!("device=\"{}\"", current.id);
    let p = |d: &str, state: &str| {
        value(
            &text,
            "sportello_device_printer",
            &[d, &format!("state=\"{state}\"")],
        )
    };
    assert_eq!(p(&old_id, "paper_out"), 1.0);
    assert_eq!(p(&old_id, "ready"), 0.0);
    assert_eq!(p(&current_id, "ready"), 1.0);
    assert_eq!(p(&current_id, "paper_out"), 0.0);
    assert_eq!(
        value(
            &text,
            "sportello_device_info",
            &[&old_id, "version=\"0.0.9\"", "role=\"node\""]
        ),
        1.0
    );
    assert_eq!(value(&text, "sportello_device_lagging", &[&old_id]), 1.0);
    assert_eq!(
        value(&text, "sportello_device_lagging", &[&current_id]),
        0.0
    );
    assert_eq!(
        value(&text, "sportello_device_outbox_depth", &[&old_id]),
        3.0
    );
    assert_eq!(
        value(&text, "sportello_device_outbox_oldest_seconds", &[&old_id]),
        1800.0
    );
    assert_eq!(
        value(&text, "sportello_device_scanner_present", &[&current_id]),
        0.0
    );
    assert_eq!(
        value(&text, "sportello_device_clock_trusted", &[&old_id]),
        1.0
    );
    let now = chrono::Utc::now().timestamp() as f64;
    let seen = value(
        &text,
        "sportello_device_last_contact_timestamp_seconds",
        &[&current_id],
    );
    assert!((now - seen).abs() < 120.0, "last contact {seen}, now {now}");
    assert_eq!(
        value(
            &text,
            "sportello_hub_build_info",
            &[&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Routes by their template: the pushes counted, no device id or path in a label.
    assert!(
        value(
            &text,
            "sportello_hub_requests_total",
            &["route=\"/v1/sync/push\"", "status=\"2xx\""]
        ) >= 2.0
    );
    assert_eq!(
        value(
            &text,
            "sportello_hub_requests_total",
            &["route=\"/metrics\"", "status=\"4xx\""]
        ),
        2.0
    );
    assert!(value(&text, "sportello_hub_db_pool_max", &[]) >= 1.0);
    assert!(
        !text
            .lines()
            .any(|l| l.contains("route=\"/v1/") && l.contains(&old.id))
    );

    // Prometheus itself scrapes it: the paper out, and the hub's own counters.
    let prometheus = crate::support::Prometheus::scraping(
        &format!("localhost:{}", hub.servers[0].addr.port()),
        hub.cert.as_bytes(),
        TOKEN,
    );
    let out = prometheus
        .query("sportello_device_printer{state=\"paper_out\"} == 1")
        .await;
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0["device"], old.id.as_str());
    assert!(
        !prometheus
            .query("sportello_hub_requests_total{route=\"/metrics\",status=\"2xx\"}")
            .await
            .is_empty()
    );
    drop(prometheus);

    // A hub without a token has no metrics at all.
    let quiet = Hub::start(1).await;
    let r = quiet
        .client
        .get(format!("{}/metrics", quiet.base(0)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
