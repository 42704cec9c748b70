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
    /// Seconds to wait for a change when there is none (a long poll; at most [`MAX_WAIT`]).
    pub wait: Option<u64>,
}

/// The longest a pull waits for a change.
pub const MAX_WAIT: u64 = 30;

/// The last sequence of each branch's feed, as the watcher last read it. A waiting pull holds
/// a watch receiver, not a database connection.
#[derive(Debug, Default)]
pub struct Heads {
    branches: std::sync::Mutex<std::collections::HashMap<i32, tokio::sync::watch::Sender<i64>>>,
}

impl Heads {
    /// Hears when a branch's feed moves.
    pub fn subscribe(&self, branch: i32) -> tokio::sync::watch::Receiver<i64> {
        self.branches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(branch)
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    fn update(&self, branch: i32, last: i64) {
        let mut map = self.branches.lock().unwrap_or_else(|p| p.into_inner());
        let tx = map
            .entry(branch)
            .or_insert_with(|| tokio::sync::watch::channel(0).0);
        tx.send_if_modified(|v| {
            let moved = *v != last;
            *v = last;
            moved
        });
    }
}

/// Reads every branch's head every `every` while `heads` lives: the one query that serves all
/// waiting pulls of this instance, whichever instance committed the change.
pub async fn watch_heads(
    pool: deadpool_postgres::Pool,
    heads: std::sync::Weak<Heads>,
    every: std::time::Duration,
) {
    loop {
        let Some(h) = heads.upgrade() else { return };
        if let Ok(c) = pool.get().await
            && let Ok(rows) = c
                .query("SELECT branch_id, last_seq FROM branch_feed_head", &[])
                .await
        {
            for r in rows {
                h.update(r.get(0), r.get(1));
            }
        }
        drop(h);
        tokio::time::sleep(every).await;
    }
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
    let limit = q.limit.unwrap_or(MAX_PAGE);
    let mut page = match page(&client, device.branch, q.after, limit).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let wait = q.wait.unwrap_or(0).min(MAX_WAIT);
    if page.last_in_page.is_none() && wait > 0 {
        // Nothing new: wait for the head to move, with no database connection held.
        drop(client);
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
            let client = match state.pool.get().await {
                Ok(c) => c,
                Err(e) => return HubError::from(e).into_response(),
            };
            page = match self::page(&client, device.branch, q.after, limit).await {
                Ok(p) => p,
                Err(e) => return e.into_response(),
            };
        }
    }
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
