//! Server-sent events. Every committed queue event has a sequence number in the log; it is the
//! SSE id. A browser that reconnects (after a network blip or a restart of the kiosk) sends
//! `Last-Event-ID` and gets what it missed from the log before the live stream resumes.

use std::convert::Infallible;
use std::time::Duration;

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

use super::pages::StaffOrLogin;
use super::state::AppState;
use store::StoredEvent;

/// Events replayed at most to a reconnecting console; one further behind resyncs.
const CONSOLE_REPLAY: usize = 2000;
/// The hall needs only its latest calls, and needs no login: it gets far fewer.
const HALL_REPLAY: usize = 50;
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

/// What a reconnecting client gets before the live stream.
enum Replay {
    /// The events after its resume point (or none, for a new client), and where they start.
    Events(Vec<StoredEvent>, i64),
    /// More than the replay limit: it reloads its state from the page (`resync`) and goes on
    /// from the last event.
    TooFar(i64),
}

/// Backlog after the resume point, at most `limit` events, then live events, each mapped by
/// `render`. `permit` is the stream's place among those open, given back when it closes.
async fn stream(
    state: &AppState,
    after: Option<i64>,
    limit: usize,
    render: fn(&StoredEvent, chrono::DateTime<chrono::Utc>) -> SseEvent,
    permit: OwnedSemaphorePermit,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + use<> {
    // An event's age is read on the node's clock, the one that stamped it.
    let clock = state.branch.clock().clone();
    // Subscribe before reading the log: an event committed in between is in one or the other.
    let live = BroadcastStream::new(state.branch.subscribe());
    let branch = state.branch.clone();
    let backlog = tokio::task::spawn_blocking(move || {
        branch.read(|_, s| match after {
            Some(seq) => match s.events_after(seq, limit + 1) {
                Ok(v) if v.len() > limit => s.last_event_seq().map(Replay::TooFar),
                Ok(v) => Ok(Replay::Events(v, seq)),
                Err(e) => Err(e),
            },
            None => s
                .last_event_seq()
                .map(|seq| Replay::Events(Vec::new(), seq)),
        })
    })
    .await
    .ok()
    .and_then(|r| r.ok())
    .unwrap_or(Replay::Events(Vec::new(), 0));
    let (replay, last): (Vec<SseEvent>, i64) = match backlog {
        Replay::Events(events, from) => (
            events.iter().map(|e| render(e, clock.now())).collect(),
            events.last().map_or(from, |e| e.seq),
        ),
        Replay::TooFar(last) => (vec![SseEvent::default().event("resync").data("{}")], last),
    };
    let hello = SseEvent::default()
        .event("hello")
        .retry(Duration::from_secs(1))
        .data(json!({ "last": last }).to_string());
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
        .map(move |e| {
            let _open = &permit;
            Ok(e)
        })
}

/// A place among the streams open, or `None` when there is none ([`full`]).
fn place(streams: &Arc<Semaphore>, who: &str) -> Option<OwnedSemaphorePermit> {
    let permit = streams.clone().try_acquire_owned().ok();
    if permit.is_none() {
        tracing::warn!(who, "event streams at their cap: refused");
    }
    permit
}

/// The answer when every place is taken; the browser's `EventSource` retries by itself.
fn full() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "troppi collegamenti aperti: riprovare tra poco",
    )
        .into_response()
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
    if staff.0.is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(permit) = place(&state.console_streams, "console") else {
        return full();
    };
    let after = resume_point(&headers, &query);
    let s = stream(&state, after, CONSOLE_REPLAY, console_event, permit).await;
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// The hall display's stream: ticket numbers and counters only.
pub(super) async fn hall_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<After>,
) -> Response {
    let Some(permit) = place(&state.hall_streams, "hall") else {
        return full();
    };
    let after = resume_point(&headers, &query);
    let s = stream(&state, after, HALL_REPLAY, hall_event, permit).await;
    Sse::new(s)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
