//! Server-sent events. Every committed queue event has a sequence number in the log; it is the
//! SSE id. A browser that reconnects (after a network blip or a restart of the kiosk) sends
//! `Last-Event-ID` and gets what it missed from the log before the live stream resumes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

use super::pages::StaffOrLogin;
use super::state::AppState;
use store::StoredEvent;

/// Events replayed at most on reconnection; a client further behind reloads its page.
const REPLAY_LIMIT: usize = 2000;
/// A call older than this is not announced again when replayed.
const FRESH_SECONDS: i64 = 20;

#[derive(Debug, Deserialize)]
pub(super) struct After {
    after: Option<i64>,
}

fn resume_point(headers: &HeaderMap, query: &After) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(query.after)
}

/// Backlog after the resume point, then live events, each mapped by `render`.
async fn stream(
    state: &AppState,
    after: Option<i64>,
    render: fn(&StoredEvent, chrono::DateTime<chrono::Utc>) -> SseEvent,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + use<> {
    // An event's age is read on the node's clock, the one that stamped it.
    let clock = state.branch.clock().clone();
    // Subscribe before reading the log: an event committed in between is in one or the other.
    let live = BroadcastStream::new(state.branch.subscribe());
    let branch = state.branch.clone();
    let backlog = tokio::task::spawn_blocking(move || {
        branch.read(|_, s| match after {
            Some(seq) => s.events_after(seq, REPLAY_LIMIT).map(|v| (v, seq)),
            None => s.last_event_seq().map(|seq| (Vec::new(), seq)),
        })
    })
    .await
    .ok()
    .and_then(|r| r.ok())
    .unwrap_or_default();
    let (backlog, from) = backlog;
    let last = backlog.last().map(|e| e.seq).unwrap_or(from);
    let hello = SseEvent::default()
        .event("hello")
        .retry(Duration::from_secs(1))
        .data(json!({ "last": last }).to_string());
    let replay: Vec<_> = backlog.iter().map(|e| render(e, clock.now())).collect();
    let live = live.filter_map(move |r| match r {
        Ok(e) if e.seq > last => Some(render(&e, clock.now())),
        Ok(_) => None,
        // Too far behind the live channel: the page reloads its state.
        Err(BroadcastStreamRecvError::Lagged(_)) => {
            Some(SseEvent::default().event("resync").data("{}"))
        }
    });
    tokio_stream::once(hello)
        .chain(tokio_stream::iter(replay))
        .chain(live)
        .map(Ok)
}

fn console_event(e: &StoredEvent, _now: chrono::DateTime<chrono::Utc>) -> SseEvent {
    SseEvent::default()
        .id(e.seq.to_string())
        .event("queue")
        .data(json!({ "seq": e.seq, "type": e.event.kind.name() }).to_string())
}

fn hall_event(e: &StoredEvent, now: chrono::DateTime<chrono::Utc>) -> SseEvent {
    let base = SseEvent::default().id(e.seq.to_string());
    match e.event.kind.announcement() {
        Some((ticket, counter)) => {
            let fresh = (now - e.event.at).num_seconds() < FRESH_SECONDS;
            base.event("call").data(
                json!({
                    "seq": e.seq,
                    "ticket": ticket.to_string(),
                    "counter": counter.get(),
                    "audio": format!("/hall/audio/{}", e.seq),
                    "fresh": fresh,
                })
                .to_string(),
            )
        }
        None => base
            .event("update")
            .data(json!({ "seq": e.seq }).to_string()),
    }
}

/// The staff console's stream (login required).
pub(super) async fn console_events(
    staff: StaffOrLogin,
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<After>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if staff.0.is_none() {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let s = stream(&state, resume_point(&headers, &query), console_event).await;
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The hall display's stream: ticket numbers and counters only.
pub(super) async fn hall_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<After>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let s = stream(&state, resume_point(&headers, &query), hall_event).await;
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
