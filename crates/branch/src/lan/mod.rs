//! The branch LAN server, started by the branch node: the staff console (login, counters,
//! calls), the hall display, the supervisor's figures, server-sent events that keep them live,
//! and the branch's other kiosks ([`kiosks`]). HTTPS only; pages are rendered on the server
//! (askama) with a little JavaScript.

pub mod auth;
pub mod kiosks;
mod metrics;
mod pages;
mod sse;
mod state;
pub mod tls;

pub use state::{AppState, AudioCache, CONSOLE_STREAMS, HALL_STREAMS, KioskReport, KioskReports};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/console") }),
        )
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/console", get(pages::console))
        .route("/console/panel", get(pages::panel))
        .route("/console/command", post(pages::command))
        .route("/console/events", get(sse::console_events))
        .route("/supervisor", get(pages::supervisor))
        .route("/supervisor/figures.csv", get(pages::figures_csv))
        .route("/hall", get(pages::hall))
        .route("/hall/state", get(pages::hall_state))
        .route("/hall/events", get(sse::hall_events))
        .route("/hall/audio/{seq}", get(pages::hall_audio))
        .route("/static/{file}", get(pages::asset))
        .route("/metrics", get(metrics::metrics))
        .merge(
            Router::new()
                .route(protocol::lan::ISSUE, post(kiosks::issue))
                .route(protocol::lan::CHECK_IN, post(kiosks::check_in))
                .route(protocol::lan::ASSIST, post(kiosks::assist))
                .route(protocol::lan::SYNC, post(kiosks::sync))
                .layer(axum::extract::DefaultBodyLimit::max(
                    protocol::lan::MAX_BODY,
                )),
        )
        .layer(axum::middleware::from_fn(guard))
        .with_state(state)
}

/// Security headers on every answer, and cross-site writes refused: a POST must come from a
/// page of this server (SameSite=Strict cookies and a CSRF token do the rest). The referrer
/// policy is `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends
/// `Origin: null` with form posts, which this check would refuse.
async fn guard(request: Request, next: Next) -> Response {
    if request.method() == Method::POST
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        // HTTP/1.1 names the host in `Host`, HTTP/2 in the `:authority` of the URI.
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| request.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        if origin.to_str().ok() != Some(&format!("https://{host}")) {
            tracing::warn!(?origin, %host, uri = %request.uri(), "cross-origin POST refused");
            return (
                StatusCode::FORBIDDEN,
                "richiesta da un'altra origine rifiutata",
            )
                .into_response();
        }
    }
    let mut response = next.run(request).await;
    let status = response.status();
    web::headers::apply(
        status,
        response.headers_mut(),
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; \
         script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'",
    );
    response
}

/// A running LAN server.
pub struct LanServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl LanServer {
    /// Stops accepting and closes connections.
    pub async fn shutdown(self) {
        self.handle.shutdown();
        let _ = self.task.await;
    }
}

/// How often the node looks for called visitors whose grace ran out: the console and the hall
/// hear the call again within this of the grace's end.
const RECALL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Calls again, by the node, the visitors whose grace to reach the counter ran out.
async fn recall_loop(branch: Arc<crate::node::Branch>) {
    let mut every = tokio::time::interval(RECALL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let branch = branch.clone();
        match tokio::task::spawn_blocking(move || branch.recall_due()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the grace recalls were not made"),
            Err(e) => tracing::error!(error = %e, "the grace recalls stopped"),
        }
    }
}

/// Binds `listen` and serves over TLS on the current tokio runtime.
pub async fn start(state: AppState, listen: &str, tls: &tls::TlsPem) -> anyhow::Result<LanServer> {
    use anyhow::Context;
    // ring is the one provider compiled in; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(tls.cert.clone(), tls.key.clone())
        .await
        .context("the LAN certificate or key is not valid PEM")?;
    let listener = std::net::TcpListener::bind(listen)
        .with_context(|| format!("cannot listen on {listen} (lan.listen)"))?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    // Counted and bounded under TLS: a connection over the caps costs no handshake.
    let limits = web::limits::Limits::LAN;
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
        .acceptor(web::limits::Limited::new(&limits));
    let server = web::limits::harden(axum_server::from_tcp(listener)?.acceptor(acceptor), &limits)
        .handle(handle.clone());
    let state_branch = state.branch.clone();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let recalls = tokio::spawn(recall_loop(state_branch));
    let task = tokio::spawn(async move {
        let served = server.serve(app).await;
        recalls.abort();
        served
    });
    tracing::info!(%addr, "LAN server: staff console at /console, hall display at /hall");
    Ok(LanServer { addr, handle, task })
}
