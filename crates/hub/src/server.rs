//! The hub put together: every feature's router under one state, the job runner's registry,
//! and the HTTPS listener.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use deadpool_postgres::Pool;

use crate::jobs::Registry;
use crate::notify::Notifier;
use crate::{HubError, HubState};

/// The longest the hub takes to answer a request before it says 503: a database that froze, a
/// provider that does not answer. The statement and pool bounds ([`crate::db`]) come first;
/// this catches what they cannot, a server that stopped answering on an open connection.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(20);

/// The deadline of a phone's upload of its attachments, which may come slowly over a mobile
/// network (the idle timeout still closes one that stops).
pub const UPLOAD_DEADLINE: Duration = Duration::from_secs(120);

/// The hub's routes: each feature brings its own, and every one answers within its deadline
/// (a kiosk's long poll waits up to [`crate::pull::MAX_WAIT`] on top).
pub fn router(state: HubState) -> Router {
    let within = |router: Router<HubState>, deadline: Duration| {
        router.layer(axum::middleware::from_fn_with_state(
            deadline,
            answer_within,
        ))
    };
    let pages_and_api = Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .merge(crate::devices::router())
        .merge(crate::push::router())
        .merge(crate::takeover::router())
        .merge(crate::follow::router())
        .merge(crate::handoff::router())
        .merge(crate::cassetto::router())
        .merge(crate::contatti::router())
        .merge(crate::istanze::router())
        .merge(crate::agenda::router())
        .merge(crate::idp::router())
        .merge(crate::console::router())
        .merge(crate::metrics::router());
    Router::new()
        .merge(within(pages_and_api, REQUEST_DEADLINE))
        .merge(crate::pull::router().layer(axum::middleware::from_fn(answer_pull_within)))
        .merge(within(crate::desk::router(), UPLOAD_DEADLINE))
        .layer(axum::middleware::from_fn_with_state(
            state.counts.clone(),
            crate::counts::count,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// A 503 when the answer is not ready by `deadline`. Dropping the handler drops its pooled
/// connection; the pool recycles it when the server answers again. Only the time to the
/// answer's head is bounded: a body that streams after it is the idle timeout's.
async fn answer_within(State(deadline): State<Duration>, request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => HubError::Unavailable(format!("{method} {path}: no answer within {deadline:?}"))
            .into_response(),
    }
}

/// A pull's deadline: [`REQUEST_DEADLINE`] past the wait it asked for (at most
/// [`crate::pull::MAX_WAIT`]), so a pull that does not wait is bounded like any request — one
/// caught on a frozen database is a 503 at 20 s, not at 50.
async fn answer_pull_within(request: Request, next: Next) -> Response {
    let wait = request
        .uri()
        .query()
        .and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("wait="))
                .and_then(|w| w.parse::<u64>().ok())
        })
        .unwrap_or(0)
        .min(crate::pull::MAX_WAIT);
    answer_within(
        State(REQUEST_DEADLINE + Duration::from_secs(wait)),
        request,
        next,
    )
    .await
}

/// The headers every answer carries. The pages have no script and draw with their own inline
/// `<style>` (askama escapes every value put in them, so no one else's style gets in); they
/// may not be framed, send no referrer outside the hub, and are not kept by any cache unless
/// the handler said otherwise. The hub is only ever reached over HTTPS, so browsers are told to
/// keep to it.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let status = response.status();
    let h = response.headers_mut();
    web::headers::apply(
        status,
        h,
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// The background jobs every instance runs, each kind registered by its feature.
pub fn job_registry(pool: Pool, notifier: Notifier) -> Registry {
    let mut registry = Registry::default();
    crate::notify::register(&mut registry, notifier);
    crate::agenda::register(&mut registry, pool.clone());
    crate::contatti::register(&mut registry, pool.clone());
    crate::figures::register(&mut registry, pool.clone());
    crate::retention::register(&mut registry, pool);
    registry
}

/// The API's description, kept true by a test (`tests/hub/api.rs`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// How long `/health` gives the database: inside a balancer's usual 5 s check.
const HEALTH_WAIT: Duration = Duration::from_secs(3);

/// `GET /health`: 200 when a query goes through, else 503 with why — no free connection, no
/// new one, or a database that takes the connection and does not answer — and the pool's
/// counts either way, so whoever is paged knows where to look.
async fn health(State(state): State<HubState>) -> Response {
    let problem = match tokio::time::timeout(HEALTH_WAIT, state.pool.get()).await {
        Err(_) | Ok(Err(deadpool_postgres::PoolError::Timeout(_))) => {
            let s = state.pool.status();
            Some(if s.size == s.max_size && s.available == 0 {
                format!(
                    "no free database connection within {HEALTH_WAIT:?}: all {} in use",
                    s.max_size
                )
            } else {
                format!("no new database connection within {HEALTH_WAIT:?}")
            })
        }
        Ok(Err(e)) => Some(HubError::from(e).to_string()),
        Ok(Ok(db)) => {
            match tokio::time::timeout(HEALTH_WAIT, db.query_one("SELECT 1", &[])).await {
                Err(_) => Some(format!(
                    "the database took the connection but did not answer within {HEALTH_WAIT:?}"
                )),
                Ok(Err(e)) => Some(HubError::from(e).to_string()),
                Ok(Ok(_)) => None,
            }
        }
    };
    let s = state.pool.status();
    let connections = serde_json::json!({
        "max": s.max_size,
        "open": s.size,
        "in_use": s.size.saturating_sub(s.available),
        "waiting": s.waiting,
    });
    let (status, body) = match problem {
        None => (
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "database": "ok", "connections": connections }),
        ),
        Some(why) => {
            tracing::warn!(%why, "health: unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "status": "unavailable", "database": why, "connections": connections }),
            )
        }
    };
    (status, axum::Json(body)).into_response()
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
    // Counted and bounded under TLS: a connection over the caps costs no handshake.
    let limits = web::limits::Limits::HUB;
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
        .acceptor(web::limits::Limited::new(&limits));
    let server = web::limits::harden(axum_server::from_tcp(listener)?.acceptor(acceptor), &limits)
        .handle(handle.clone());
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let task = tokio::spawn(server.serve(app));
    tracing::info!(%addr, "hub listening");
    Ok(HubServer { addr, handle, task })
}
