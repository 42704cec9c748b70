//! `GET /metrics`: the fleet's health and the hub's own, for Prometheus (the OpenMetrics text
//! format, from the `prometheus-client` crate).
//!
//! The fleet's figures are read from the database at each scrape — every instance answers the
//! same, whichever one the kiosks pushed to — and the hub's own counters are this instance's.
//! The hub faces the internet and these figures name sedi, devices and versions, so the page
//! needs the bearer token of `hub.metrics_token`; without one configured it does not exist.
//! Alert rules over these series: `docs/operations.md` ("Watching the fleet").

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::{HubError, HubState};

pub fn router() -> Router<HubState> {
    Router::new().route("/metrics", get(metrics))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabels {
    sede: String,
    device: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceVersion {
    sede: String,
    device: String,
    role: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceState {
    sede: String,
    device: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

async fn metrics(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.metrics_token else {
        return HubError::NotFound.into_response();
    };
    if !web::headers::bearer_is(&headers, expected) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "the metrics need hub.metrics_token as a bearer token",
        )
            .into_response();
    }
    match scrape(&state).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(web::headers::OPENMETRICS),
            )],
            text,
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn scrape(state: &HubState) -> Result<String, HubError> {
    let mut registry = Registry::with_prefix("sportello");

    let build = Family::<VersionLabel, Gauge>::default();
    build
        .get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .set(1);
    registry.register("hub_build_info", "This hub's version", build);
    registry.register(
        "hub_requests",
        "Answers this instance gave, by route and status class",
        state.counts.requests.clone(),
    );
    registry.register(
        "hub_identifications",
        "Identifications this instance completed or refused, by outcome",
        state.counts.identifications.clone(),
    );

    let pool = state.pool.status();
    for (name, help, value) in [
        (
            "hub_db_pool_max",
            "Connections the pool may open",
            pool.max_size,
        ),
        ("hub_db_pool_open", "Connections open", pool.size),
        (
            "hub_db_pool_idle",
            "Connections open and free",
            pool.available,
        ),
        (
            "hub_db_pool_waiting",
            "Requests waiting for a connection",
            pool.waiting,
        ),
    ] {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, g);
    }

    let c = state.pool.get().await?;
    let jobs = Family::<JobLabels, Gauge>::default();
    for r in c
        .query(
            "SELECT kind, state, count(*) FROM job WHERE state <> 'done' GROUP BY kind, state",
            &[],
        )
        .await?
    {
        jobs.get_or_create(&JobLabels {
            kind: r.get(0),
            state: r.get(1),
        })
        .set(r.get(2));
    }
    registry.register(
        "hub_jobs",
        "Background jobs not done, by kind and state",
        jobs,
    );
    let overdue = Gauge::<i64>::default();
    overdue.set(
        c.query_one(
            "SELECT coalesce(extract(epoch FROM now() - min(run_at))::bigint, 0)
             FROM job WHERE state = 'pending' AND run_at < now()",
            &[],
        )
        .await?
        .get(0),
    );
    registry.register(
        "hub_jobs_oldest_due_seconds",
        "How long the oldest due job has waited for a worker",
        overdue,
    );

    let last_contact = Family::<DeviceLabels, Gauge>::default();
    let info = Family::<DeviceVersion, Gauge>::default();
    let outbox = Family::<DeviceLabels, Gauge>::default();
    let oldest = Family::<DeviceLabels, Gauge>::default();
    let printer = Family::<DeviceState, Gauge>::default();
    let scanner = Family::<DeviceLabels, Gauge>::default();
    let clock = Family::<DeviceLabels, Gauge>::default();
    let lagging = Family::<DeviceLabels, Gauge>::default();
    let rows = c
        .query(
            "SELECT branch_id, device_id, role, coalesce(client_version, ''),
                    coalesce(extract(epoch FROM last_seen)::bigint, 0), status
             FROM device WHERE revoked_at IS NULL ORDER BY branch_id, device_id",
            &[],
        )
        .await?;
    let newest = crate::push::newest(rows.iter().map(|r| r.get::<_, &str>(3)));
    for r in &rows {
        let labels = DeviceLabels {
            sede: format!("{:04}", r.get::<_, i32>(0)),
            device: r.get(1),
            role: r.get(2),
        };
        let version: String = r.get(3);
        let status: serde_json::Value = r.get(5);
        last_contact.get_or_create(&labels).set(r.get(4));
        info.get_or_create(&DeviceVersion {
            sede: labels.sede.clone(),
            device: labels.device.clone(),
            role: labels.role.clone(),
            version: version.clone(),
        })
        .set(1);
        lagging.get_or_create(&labels).set(i64::from(
            !version.is_empty() && crate::push::older(&version, &newest),
        ));
        let as_i64 = |v: &serde_json::Value| {
            v.as_u64()
                .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX))
        };
        outbox
            .get_or_create(&labels)
            .set(as_i64(&status["outbox_depth"]));
        oldest
            .get_or_create(&labels)
            .set(as_i64(&status["oldest_pending_age_s"]));
        let reported = status["printer"].as_str().unwrap_or("");
        // Each state a series of its own, so an alert can name one.
        for s in protocol::wire::PRINTER_STATES {
            printer
                .get_or_create(&DeviceState {
                    sede: labels.sede.clone(),
                    device: labels.device.clone(),
                    state: s.into(),
                })
                .set(i64::from(reported == s));
        }
        scanner
            .get_or_create(&labels)
            .set(i64::from(status["scanner"].as_str() == Some("present")));
        clock
            .get_or_create(&labels)
            .set(i64::from(status["clock_trusted"].as_bool() == Some(true)));
    }
    registry.register(
        "device_last_contact_timestamp_seconds",
        "When the device last reached the hub (Unix time; 0: never)",
        last_contact,
    );
    registry.register("device_info", "The version each device runs", info);
    registry.register(
        "device_lagging",
        "1 when the device runs an older version than the newest in the fleet",
        lagging,
    );
    registry.register(
        "device_outbox_depth",
        "Operations waiting in the device's outbox at its last report",
        outbox,
    );
    registry.register(
        "device_outbox_oldest_seconds",
        "Age of the oldest waiting operation at the device's last report",
        oldest,
    );
    registry.register(
        "device_printer",
        "1 for the printer state the device last reported",
        printer,
    );
    registry.register(
        "device_scanner_present",
        "1 when the device's QR scanner was connected at its last report",
        scanner,
    );
    registry.register(
        "device_clock_trusted",
        "1 when the device's clock was verified at its last report",
        clock,
    );

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|e| HubError::Internal(format!("metrics: {e}")))?;
    Ok(text)
}
