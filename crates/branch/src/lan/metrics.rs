//! `GET /metrics` at the branch node, for a sede that scrapes its own devices with its own
//! Prometheus (the hub's `/metrics` has the whole fleet): the queue now, the node's outbox
//! towards the hub, its open device alerts, and each kiosk of the sede as it last reported to
//! the node. Behind the bearer token of `lan.metrics_token`; without one it does not exist.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Alert {
    alert: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kiosk {
    device: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KioskVersion {
    device: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KioskState {
    device: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KioskService {
    device: String,
    service: String,
}

/// The alerts a node raises for its own devices, by the name an alert rule uses.
const ALERTS: [(queue::DeviceAlert, &str); 6] = [
    (queue::DeviceAlert::PrinterPaperLow, "printer_paper_low"),
    (queue::DeviceAlert::PrinterOutOfPaper, "printer_paper_out"),
    (queue::DeviceAlert::PrinterCoverOpen, "printer_cover_open"),
    (queue::DeviceAlert::PrinterOffline, "printer_offline"),
    (queue::DeviceAlert::ScannerGone, "scanner_gone"),
    (queue::DeviceAlert::ClockUntrusted, "clock_untrusted"),
];

pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(expected) = &state.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !web::headers::bearer_is(&headers, expected) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "le metriche richiedono lan.metrics_token come bearer token",
        )
            .into_response();
    }
    let mut registry = Registry::with_prefix("sportello");
    let build = Family::<Version, Gauge>::default();
    build
        .get_or_create(&Version {
            version: env!("CARGO_PKG_VERSION").into(),
        })
        .set(1);
    registry.register("node_build_info", "This node's version", build);

    let waiting = Family::<Service, Gauge>::default();
    let alerts = Family::<Alert, Gauge>::default();
    let outbox = Gauge::<i64>::default();
    let oldest = Gauge::<i64>::default();
    let now = state.branch.clock().now();
    let roster = state.branch.read(|q, s| {
        for (letter, n) in q.waiting_counts() {
            waiting
                .get_or_create(&Service {
                    service: letter.to_string(),
                })
                .set(i64::from(n));
        }
        let open: Vec<queue::DeviceAlert> = q.alerts().collect();
        for (alert, name) in ALERTS {
            alerts
                .get_or_create(&Alert { alert: name.into() })
                .set(i64::from(open.contains(&alert)));
        }
        outbox.set(
            s.outbox_depth()
                .map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX)),
        );
        oldest.set(
            s.outbox_oldest_pending()
                .ok()
                .flatten()
                .map_or(0, |t| (now - t).num_seconds().max(0)),
        );
        s.branch_devices()
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d.role == protocol::wire::DeviceRole::Kiosk)
            .map(|d| d.device_id)
            .collect::<Vec<_>>()
    });
    registry.register("node_waiting", "Tickets waiting, by service", waiting);
    registry.register(
        "node_alert",
        "1 while the node has this device alert open",
        alerts,
    );
    registry.register(
        "node_outbox_depth",
        "Operations the node has not yet pushed to the hub (-1: unreadable)",
        outbox,
    );
    registry.register(
        "node_outbox_oldest_seconds",
        "Age of the oldest operation not yet pushed to the hub",
        oldest,
    );

    let contact = Family::<Kiosk, Gauge>::default();
    let info = Family::<KioskVersion, Gauge>::default();
    let printer = Family::<KioskState, Gauge>::default();
    let scanner = Family::<Kiosk, Gauge>::default();
    let left = Family::<KioskService, Gauge>::default();
    let refused = Family::<Kiosk, Gauge>::default();
    {
        let reports = state.kiosks.lock().unwrap_or_else(|p| p.into_inner());
        for device in roster {
            let labels = Kiosk {
                device: device.clone(),
            };
            let Some(r) = reports.get(&device) else {
                // Listed, never heard since the node started: the series says so (0).
                contact.get_or_create(&labels).set(0);
                continue;
            };
            contact.get_or_create(&labels).set(r.at.timestamp());
            info.get_or_create(&KioskVersion {
                device: device.clone(),
                version: r.health.version.clone(),
            })
            .set(1);
            // Each state a series of its own, so an alert can name one.
            for s in protocol::wire::PRINTER_STATES {
                printer
                    .get_or_create(&KioskState {
                        device: device.clone(),
                        state: s.into(),
                    })
                    .set(i64::from(r.health.printer == s));
            }
            scanner
                .get_or_create(&labels)
                .set(i64::from(r.health.scanner == "present"));
            for (service, n) in &r.left {
                left.get_or_create(&KioskService {
                    device: device.clone(),
                    service: service.to_string(),
                })
                .set(i64::from(*n));
            }
            refused.get_or_create(&labels).set(i64::from(r.refused));
        }
    }
    registry.register(
        "kiosk_last_contact_timestamp_seconds",
        "When the kiosk last reached the node (Unix time; 0: not since the node started)",
        contact,
    );
    registry.register("kiosk_info", "The version each kiosk runs", info);
    registry.register(
        "kiosk_printer",
        "1 for the printer state the kiosk last reported",
        printer,
    );
    registry.register(
        "kiosk_scanner_present",
        "1 when the kiosk's QR scanner was connected at its last report",
        scanner,
    );
    registry.register(
        "kiosk_lease_left",
        "Numbers the kiosk has left to give while cut off from the node, by service",
        left,
    );
    registry.register(
        "kiosk_refused",
        "Tickets the kiosk printed while cut off that the node could not take",
        refused,
    );

    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::error!(error = %e, "metrics not encoded");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(web::headers::OPENMETRICS),
        )],
        text,
    )
        .into_response()
}
