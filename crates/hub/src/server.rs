//! The hub put together: every feature's router under one state, the job runner's registry,
//! and the HTTPS listener.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use deadpool_postgres::Pool;

use crate::jobs::Registry;
use crate::notify::Notifier;
use crate::{HubError, HubState};

/// The hub's routes: each feature brings its own.
pub fn router(state: HubState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .merge(crate::devices::router())
        .merge(crate::push::router())
        .merge(crate::pull::router())
        .merge(crate::follow::router())
        .merge(crate::handoff::router())
        .merge(crate::cassetto::router())
        .merge(crate::contatti::router())
        .merge(crate::istanze::router())
        .merge(crate::agenda::router())
        .merge(crate::desk::router())
        .merge(crate::idp::router())
        .merge(crate::console::router())
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
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
    crate::retention::register(&mut registry, pool);
    registry
}

/// The API's description, kept true by a test (`tests/hub/api.rs`).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn health(State(state): State<HubState>) -> Result<&'static str, HubError> {
    state.pool.get().await?.query_one("SELECT 1", &[]).await?;
    Ok("ok")
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
