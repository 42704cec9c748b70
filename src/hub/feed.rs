//! The per-branch change feed: what the hub owns (appointments, services, counters, hours,
//! rules, staff, verifying keys, configuration), numbered so that a reader's cursor never skips
//! a row that commits late, and `GET /v1/sync/pull` that pages through it.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use deadpool_postgres::GenericClient;
use serde::Deserialize;

use super::{HubError, HubState, devices};
use crate::sync::wire::{FeedChange, PullResponse};

/// Version of the feed payloads this build writes.
pub const FEED_SCHEMA_VERSION: i32 = 1;

/// The most changes one pull returns.
pub const MAX_PAGE: i64 = 500;

/// A change to publish.
#[derive(Debug, Clone)]
pub struct Change {
    /// What kind of row.
    pub entity: String,
    /// Its key.
    pub entity_id: String,
    /// The whole row (`None` removes it).
    pub payload: Option<serde_json::Value>,
}

/// Appends `changes` to a branch's feed, inside the caller's transaction. The head row's lock
/// is held until that transaction commits, so feed rows of one branch become visible in
/// sequence order.
pub async fn publish(
    tx: &impl GenericClient,
    branch: i32,
    changes: &[Change],
) -> Result<i64, HubError> {
    let n = changes.len() as i64;
    let last: i64 = tx
        .query_one(
            "UPDATE branch_feed_head SET last_seq = last_seq + $2 WHERE branch_id = $1
             RETURNING last_seq",
            &[&branch, &n],
        )
        .await?
        .get(0);
    let first = last - n + 1;
    let stmt = tx
        .prepare(
            "INSERT INTO branch_feed (branch_id, seq, entity, entity_id, op, schema_version, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for (i, c) in changes.iter().enumerate() {
        let op = if c.payload.is_some() { "put" } else { "remove" };
        tx.execute(
            &stmt,
            &[
                &branch,
                &(first + i as i64),
                &c.entity,
                &c.entity_id,
                &op,
                &FEED_SCHEMA_VERSION,
                &c.payload,
            ],
        )
        .await?;
    }
    Ok(last)
}

/// Reads a page of a branch's feed after `after`.
pub async fn page(
    db: &impl GenericClient,
    branch: i32,
    after: i64,
    limit: i64,
) -> Result<(String, Vec<FeedChange>, i64), HubError> {
    let head = db
        .query_one(
            "SELECT epoch::text, last_seq FROM branch_feed_head WHERE branch_id = $1",
            &[&branch],
        )
        .await?;
    let epoch: String = head.get(0);
    let last: i64 = head.get(1);
    let rows = db
        .query(
            "SELECT seq, entity, entity_id, op, schema_version, payload FROM branch_feed
             WHERE branch_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&branch, &after, &limit.clamp(1, MAX_PAGE)],
        )
        .await?;
    let changes = rows
        .iter()
        .map(|r| FeedChange {
            seq: r.get(0),
            entity: r.get(1),
            entity_id: r.get(2),
            op: r.get(3),
            schema_version: r.get::<_, i32>(4) as u32,
            payload: r.get(5),
        })
        .collect();
    Ok((epoch, changes, last))
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
}

/// `GET /v1/sync/pull?after=N&epoch=E&limit=L`. A cursor of another epoch gets `410 Gone`: the
/// kiosk starts over from 0.
pub async fn handle(
    State(state): State<HubState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<PullQuery>,
) -> Result<Json<PullResponse>, axum::response::Response> {
    use axum::response::IntoResponse;
    let client = state
        .pool
        .get()
        .await
        .map_err(|e| HubError::from(e).into_response())?;
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    let device = devices::authenticate(&client, &headers, "GET", path, b"")
        .await
        .map_err(IntoResponse::into_response)?;
    let (epoch, changes, last) = page(&client, device.branch, q.after, q.limit.unwrap_or(MAX_PAGE))
        .await
        .map_err(IntoResponse::into_response)?;
    if let Some(theirs) = &q.epoch
        && *theirs != epoch
    {
        return Err((
            axum::http::StatusCode::GONE,
            Json(serde_json::json!({ "error": "feed_epoch_changed", "epoch": epoch })),
        )
            .into_response());
    }
    let next_after = changes.last().map_or(q.after, |c: &FeedChange| c.seq);
    Ok(Json(PullResponse {
        epoch,
        up_to_date: next_after >= last,
        next_after,
        changes,
    }))
}
