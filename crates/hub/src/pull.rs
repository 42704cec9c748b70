//! `GET /v1/sync/pull`: a kiosk pages through its branch's feed, waiting up to
//! [`MAX_WAIT`] seconds for a change when it is up to date.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::extract::Signed;
use crate::feed::{self, MAX_PAGE};
use crate::{HubError, HubState};

/// The sync API's pull.
pub fn router() -> Router<HubState> {
    Router::new().route("/v1/sync/pull", get(handle))
}

/// The query of a pull.
#[derive(Debug, Deserialize)]
pub struct PullQuery {
    /// The last change the kiosk applied.
    pub after: i64,
    /// The feed epoch the kiosk's cursor belongs to (absent on the first pull).
    pub epoch: Option<String>,
    /// At most this many changes.
    pub limit: Option<i64>,
    /// Seconds to wait for a change when there is none (a long poll; at most [`MAX_WAIT`]).
    pub wait: Option<u64>,
}

/// The longest a pull waits for a change.
pub const MAX_WAIT: u64 = 30;

/// `GET /v1/sync/pull?after=N&epoch=E&limit=L`. A cursor of another epoch, or past the head,
/// gets `410 Gone`: the kiosk starts over from 0.
async fn handle(
    State(state): State<HubState>,
    Query(q): Query<PullQuery>,
    signed: Signed,
) -> Result<Response, HubError> {
    let Signed { device, db, .. } = signed;
    let limit = q.limit.unwrap_or(MAX_PAGE);
    let mut page = feed::page(&db, device.branch, q.after, limit).await?;
    let gone = |error: &str, epoch: &str| {
        Ok((
            StatusCode::GONE,
            Json(serde_json::json!({ "error": error, "epoch": epoch })),
        )
            .into_response())
    };
    if q.epoch.as_ref().is_some_and(|theirs| *theirs != page.epoch) {
        return gone("feed_epoch_changed", &page.epoch);
    }
    // Past the head: the hub's database went back (a restored backup). The numbers the kiosk
    // applied will be reused for other changes, so it starts over rather than skip them.
    if q.after > page.last {
        tracing::warn!(
            device = %device.device_id,
            cursor = q.after,
            head = page.last,
            "a kiosk's feed cursor is past the head: it starts over"
        );
        return gone("feed_cursor_ahead", &page.epoch);
    }
    let wait = q.wait.unwrap_or(0).min(MAX_WAIT);
    if page.last_in_page.is_none() && wait > 0 {
        // Nothing new: wait for the head to move, with no database connection held.
        drop(db);
        let mut head = state.heads.subscribe(device.branch);
        // The guard `wait_for` returns is dropped at once: it must not live across an await.
        let moved = matches!(
            tokio::time::timeout(
                std::time::Duration::from_secs(wait),
                head.wait_for(|last| *last > q.after),
            )
            .await,
            Ok(Ok(_))
        );
        if moved {
            let db = state.pool.get().await?;
            page = feed::page(&db, device.branch, q.after, limit).await?;
        }
    }
    let next_after = page.last_in_page.unwrap_or(q.after);
    // The shape of `PullResponse`, with the changes as the database wrote them.
    let follow_key = state
        .kek
        .as_ref()
        .map(|k| protocol::wire::hex(&k.follow_key(device.branch)));
    let body = format!(
        "{{\"epoch\":{},\"changes\":{},\"next_after\":{next_after},\"up_to_date\":{},\"hub_keys\":{},\"follow_key\":{}}}",
        serde_json::Value::String(page.epoch),
        page.changes_json,
        next_after >= page.last,
        serde_json::Value::from(state.hub_keys.to_vec()),
        serde_json::Value::from(follow_key),
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
