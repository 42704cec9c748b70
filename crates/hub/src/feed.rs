//! The per-branch change feed: what the hub owns (appointments, services, counters, hours,
//! rules, staff, verifying keys, configuration), numbered so that a reader's cursor never skips
//! a row that commits late (`GET /v1/sync/pull`, in [`crate::pull`], pages through it), and the
//! heads a waiting pull listens to.

use deadpool_postgres::GenericClient;

use crate::HubError;

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

/// Starts every branch's feed over in a new epoch: each kiosk's next pull is answered `410
/// Gone` and it pulls its branch again from the start. For after a restore of the hub's
/// database: the numbers kiosks applied will be reused for other changes. Returns how many
/// branches.
pub async fn new_epoch(db: &impl GenericClient, actor: &str) -> Result<u64, HubError> {
    let n = db
        .execute("UPDATE branch_feed_head SET epoch = gen_random_uuid()", &[])
        .await?;
    crate::audit::record(
        db,
        actor,
        "feed.new_epoch",
        None,
        serde_json::json!({ "branches": n }),
    )
    .await?;
    Ok(n)
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
