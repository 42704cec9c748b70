//! What a hub operation can come to besides success, and the HTTP answer of each. Handlers
//! return `Result<_, HubError>`; the status and the body are decided here, once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a hub operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The request is malformed or its content is not acceptable (400); the text says why.
    #[error("{0}")]
    BadRequest(String),
    /// The caller is not who it says, or is revoked (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but may not do this (403); the text says why.
    #[error("{0}")]
    Refused(String),
    /// Not there, or not the caller's: the same bare 404 either way, so a caller cannot tell
    /// which exist.
    #[error("not found")]
    NotFound,
    /// The request clashes with the current state (409), with the reason in words the
    /// visitor reads (a slot taken meanwhile, a booking no longer cancellable).
    #[error("{0}")]
    Conflict(String),
    /// The kiosk must update first (426).
    #[error("the kiosk must be updated to {0} or later")]
    TooOld(String),
    /// A part of the hub this request needs is not configured or not reachable (503).
    #[error("{0}")]
    Unavailable(String),
    /// Bad configuration, found at start or when first needed (503).
    #[error("{0}")]
    Config(String),
    /// A database error (503).
    #[error("database: {}", db_message(.0))]
    Db(#[from] tokio_postgres::Error),
    /// No database connection (503).
    #[error("database unavailable: {}", pool_message(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    /// Something the hub itself wrote cannot be read back, or an invariant broke (500).
    #[error("{0}")]
    Internal(String),
}

impl HubError {
    /// An invariant broke: `what` says where, `e` what happened.
    pub fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Internal(format!("{what}: {e}"))
    }

    /// Reads back a name the hub stored (a state, a role): one it does not know means the
    /// database and the code disagree.
    pub fn stored<T>(what: &str, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, Self> {
        parse(name).ok_or_else(|| Self::internal(what, format!("unknown {name:?}")))
    }
}

/// PostgreSQL's own message (tokio-postgres shows only "db error").
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => {
            // The cause is what the operator needs: "error performing TLS handshake" alone
            // does not say whether the certificate or the server was wrong.
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            text
        }
    }
}

fn pool_message(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_message(e),
        e => e.to_string(),
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        let (status, text) = match &self {
            HubError::NotFound => return StatusCode::NOT_FOUND.into_response(),
            HubError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            HubError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.clone()),
            HubError::Refused(m) => (StatusCode::FORBIDDEN, m.clone()),
            HubError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
            HubError::TooOld(min) => {
                return (
                    StatusCode::UPGRADE_REQUIRED,
                    Json(serde_json::json!({
                        "error": "update_required",
                        "min_client_version": min,
                    })),
                )
                    .into_response();
            }
            // The details go to the log, not to whoever asked.
            HubError::Unavailable(_)
            | HubError::Config(_)
            | HubError::Db(_)
            | HubError::Pool(_) => {
                tracing::error!(error = %self, "hub request failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the hub cannot serve this now; try again later".to_string(),
                )
            }
            HubError::Internal(_) => {
                tracing::error!(error = %self, "hub request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the hub could not serve this; the error is in its log".to_string(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": text }))).into_response()
    }
}
