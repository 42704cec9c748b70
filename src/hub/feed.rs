//! The per-branch change feed: what the hub owns (appointments, services, counters, hours,
//! rules, staff, verifying keys, configuration), numbered so that a reader's cursor never skips
//! a row that commits late, and `GET /v1/sync/pull` that pages through it.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use deadpool_postgres::GenericClient;
use serde::Deserialize;

use super::{HubError, HubState, devices};

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

/// A page of a branch's feed after `after`, as PostgreSQL writes it: the JSON array of the
/// changes is built by the database, so the hub copies bytes instead of decoding and
/// re-encoding every payload.
pub struct Page {
    /// The feed's epoch.
    pub epoch: String,
    /// The feed's head.
    pub last: i64,
    /// `[FeedChange, …]` as JSON text.
    pub changes_json: String,
    /// The last sequence in the page, if any.
    pub last_in_page: Option<i64>,
}

/// Reads a page of a branch's feed after `after`.
pub async fn page(
    db: &impl GenericClient,
    branch: i32,
    after: i64,
    limit: i64,
) -> Result<Page, HubError> {
    let row = db
        .query_one(
            "WITH page AS (
                 SELECT seq, entity, entity_id, op, schema_version, payload FROM branch_feed
                 WHERE branch_id = $1 AND seq > $2 ORDER BY seq LIMIT $3)
             SELECT h.epoch::text, h.last_seq,
                 coalesce((SELECT json_agg(json_build_object(
                     'seq', seq, 'entity', entity, 'entity_id', entity_id, 'op', op,
                     'schema_version', schema_version, 'payload', payload) ORDER BY seq)
                   FROM page), '[]')::text,
                 (SELECT max(seq) FROM page)
             FROM branch_feed_head h WHERE h.branch_id = $1",
            &[&branch, &after, &limit.clamp(1, MAX_PAGE)],
        )
        .await?;
    Ok(Page {
        epoch: row.get(0),
        last: row.get(1),
        changes_json: row.get(2),
        last_in_page: row.get(3),
    })
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
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let client = match state.pool.get().await {
        Ok(c) => c,
        Err(e) => return HubError::from(e).into_response(),
    };
    let path = uri.path_and_query().map_or("", |p| p.as_str());
    let device = match devices::authenticate(&client, &headers, "GET", path, b"").await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let page = match page(&client, device.branch, q.after, q.limit.unwrap_or(MAX_PAGE)).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Some(theirs) = &q.epoch
        && *theirs != page.epoch
    {
        return (
            axum::http::StatusCode::GONE,
            Json(serde_json::json!({ "error": "feed_epoch_changed", "epoch": page.epoch })),
        )
            .into_response();
    }
    let next_after = page.last_in_page.unwrap_or(q.after);
    // The shape of `PullResponse`, with the changes as the database wrote them.
    let body = format!(
        "{{\"epoch\":{},\"changes\":{},\"next_after\":{next_after},\"up_to_date\":{}}}",
        serde_json::Value::String(page.epoch),
        page.changes_json,
        next_after >= page.last
    );
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
