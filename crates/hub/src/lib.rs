//! The hub (`sportello hub`): the central store on PostgreSQL, staff accounts and the audit
//! log, kiosk enrolment, the sync API kiosks push their outboxes to and pull their branch
//! feed from, the consoles of administrators and back offices, the visitor's identification
//! and the phone's desk. Stateless: two instances over one database behave as one.
//!
//! It shares only the domain, the queue rules and the protocol with the kiosk: it never links
//! SQLite, Slint, the kiosk's flows or the branch's LAN server, and it never calls the demo
//! generator (the demo reaches it through [`seed`], from the command line).

pub mod accounts;
pub mod agenda;
pub mod branch_data;
pub mod cassetto;
pub mod cli;
pub mod console;
pub mod contatti;
pub mod db;
pub mod desk;
pub mod devices;
pub mod feed;
pub mod follow;
pub mod handoff;
pub mod idp;
pub mod istanze;
pub mod jobs;
pub mod notify;
pub mod push;
pub mod sede;
pub mod seed;

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use deadpool_postgres::Pool;

/// Why a hub operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A database error.
    #[error("database: {}", db_message(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No database connection.
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// The request is not acceptable (400).
    #[error("{0}")]
    BadRequest(String),
    /// The caller is not who it says, or is revoked (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Refused (403).
    #[error("{0}")]
    Forbidden(String),
    /// The kiosk must update first (426).
    #[error("the kiosk must be updated to {0} or later")]
    TooOld(String),
}

/// PostgreSQL's own message (tokio-postgres shows only "db error").
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let (status, text) = match &self {
            HubError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            HubError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            HubError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            HubError::TooOld(_) => (StatusCode::UPGRADE_REQUIRED, self.to_string()),
            // The details go to the log, not to whoever asked.
            HubError::Db(_) | HubError::Pool(_) | HubError::Config(_) => {
                tracing::error!(error = %self, "hub request failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the hub cannot serve this now; try again later".to_string(),
                )
            }
        };
        (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub struct HubState {
    /// The database.
    pub pool: Pool,
    /// The feeds' heads, for pulls waiting for changes.
    pub heads: std::sync::Arc<feed::Heads>,
    /// Kiosks older than this are told to update (426) instead of having their pushes
    /// applied; they keep their outbox meanwhile.
    pub min_client_version: Option<String>,
    /// How visitors are identified (set once the hub knows its public address).
    pub identity: std::sync::Arc<std::sync::OnceLock<handoff::IdentityConfig>>,
    /// The pseudonymous person keys booking tokens carry, with the kiosks' secret; unset:
    /// the Agenda cannot book.
    pub person_keyer: Option<std::sync::Arc<domain::PersonKeyer>>,
}

impl HubState {
    /// The state over `pool`, with the task that watches the feeds' heads for waiting pulls
    /// (one query for all branches, whichever instance wrote). Call inside a tokio runtime.
    pub fn new(pool: Pool) -> Self {
        let heads = std::sync::Arc::new(feed::Heads::default());
        tokio::spawn(feed::watch_heads(
            pool.clone(),
            std::sync::Arc::downgrade(&heads),
            std::time::Duration::from_millis(250),
        ));
        Self {
            pool,
            heads,
            min_client_version: None,
            identity: std::sync::Arc::default(),
            person_keyer: None,
        }
    }

    /// Books with person keys made with `secret` (the kiosks' `privacy.person_key_secret`).
    pub fn with_person_key_secret(mut self, secret: Option<&str>) -> Self {
        self.person_keyer = secret
            .and_then(|s| domain::PersonKeyer::new(s.as_bytes()))
            .map(std::sync::Arc::new);
        self
    }

    /// Refuses pushes from kiosks older than `version`.
    pub fn with_min_client_version(mut self, version: Option<String>) -> Self {
        self.min_client_version = version;
        self
    }
}

/// `a` is older than `b`, comparing dotted numbers (`0.9.2` < `0.10.0`).
pub fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map_while(|p| p.parse().ok())
            .collect()
    };
    parts(a) < parts(b)
}

/// The hub's routes.
pub fn router(state: HubState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/enrol", post(devices::enrol))
        .route("/v1/sync/push", post(push::handle))
        .route("/v1/sync/pull", get(feed::handle))
        .route("/coda/{sede}/{day}/{ticket}", get(follow::page))
        .merge(console::router())
        .merge(handoff::router())
        .merge(desk::router())
        .merge(idp::router())
        .with_state(state)
}

/// The API's description, kept true by a test (`tests/hub.rs`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn health(axum::extract::State(state): axum::extract::State<HubState>) -> Response {
    match state.pool.get().await {
        Ok(client) => match client.query_one("SELECT 1", &[]).await {
            Ok(_) => (StatusCode::OK, "ok").into_response(),
            Err(e) => HubError::from(e).into_response(),
        },
        Err(e) => HubError::from(e).into_response(),
    }
}

/// A running hub server.
pub struct HubServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl HubServer {
    /// Stops accepting and ends open connections.
    pub async fn stop(self) {
        self.handle.shutdown();
        let _ = self.task.await;
    }
}

/// Serves the hub over HTTPS on `listen`.
pub async fn start(
    state: HubState,
    listen: &str,
    tls: &web::tls::TlsPem,
) -> anyhow::Result<HubServer> {
    use anyhow::Context;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(tls.cert.clone(), tls.key.clone())
        .await
        .context("the hub certificate or key is not valid PEM")?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen} (hub.listen)"))?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let server = axum_server::tls_rustls::from_tcp_rustls(listener, config)?.handle(handle.clone());
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(server.serve(app));
    tracing::info!(%addr, "hub listening");
    Ok(HubServer { addr, handle, task })
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_by_number_not_by_text() {
        assert!(super::older("0.9.2", "0.10.0"));
        assert!(super::older("0.1.0", "0.2.0"));
        assert!(!super::older("0.2.0", "0.2.0"));
        assert!(!super::older("1.0.0", "0.10.0"));
        assert!(
            super::older("test", "0.1.0"),
            "a version that says nothing is older"
        );
    }
}
