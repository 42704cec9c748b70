//! `POST /v1/sync/push`: a kiosk's outbox applied in one PostgreSQL transaction per batch.
//!
//! The stream (device × incarnation) has a cursor, locked for the batch. An operation at the
//! next sequence is applied and its result stored; one at or below the cursor is a retry and
//! gets its stored result back — if it is the same operation (same hash). A different operation
//! at an applied sequence means the kiosk lost state it had pushed: the push is refused with
//! `incarnation_conflict`, and the kiosk starts a new stream rather than have new operations
//! dropped as duplicates. A batch that starts past the cursor is a gap, refused with the
//! sequence the hub expects. At-least-once delivery, exactly-once effect.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use sha2::{Digest, Sha256};

use deadpool_postgres::GenericClient;

use crate::devices::Device;
use crate::extract::Signed;
use crate::{HubError, HubState};
use protocol::Op;
use protocol::wire::{OpResult, OpStatus, PushOp, PushRefusal, PushRequest, PushResponse};

/// The most operations one push may carry.
pub const MAX_BATCH: usize = 500;

/// The sync API's push.
pub fn router() -> Router<HubState> {
    Router::new().route("/v1/sync/push", post(handle))
}

/// `POST /v1/sync/push`: the results, or the refusal of the whole batch (409) with what the
/// kiosk must do.
async fn handle(State(state): State<HubState>, signed: Signed) -> Result<Response, HubError> {
    Ok(match push(&state, signed).await? {
        Ok(response) => Json(response).into_response(),
        Err(refusal) => (StatusCode::CONFLICT, Json(refusal)).into_response(),
    })
}

/// `a` is older than `b`, comparing dotted numbers (`0.9.2` < `0.10.0`).
pub fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map_while(|p| p.parse().ok())
            .collect()
    };
    parts(a) < parts(b)
}

/// The newest of these versions and the hub's own: what every device should run.
pub fn newest<'a>(versions: impl IntoIterator<Item = &'a str>) -> String {
    versions
        .into_iter()
        .fold(env!("CARGO_PKG_VERSION"), |newest, v| {
            if older(newest, v) { v } else { newest }
        })
        .to_owned()
}

fn op_hash(op: &PushOp) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(op.op_id.as_bytes());
    h.update([0]);
    h.update(op.kind.as_bytes());
    h.update([0]);
    // serde_json's maps are ordered by key: the same value always writes the same text.
    h.update(op.payload.to_string().as_bytes());
    h.finalize().to_vec()
}

async fn push(
    state: &HubState,
    signed: Signed,
) -> Result<Result<PushResponse, PushRefusal>, HubError> {
    let req: PushRequest = signed.json("a push request")?;
    let Signed {
        device,
        db: mut client,
        ..
    } = signed;
    if let Some(min) = &state.min_client_version
        && older(&req.client_version, min)
    {
        return Err(HubError::TooOld(min.clone()));
    }
    if req.ops.len() > MAX_BATCH {
        return Err(HubError::BadRequest(format!(
            "at most {MAX_BATCH} operations a push"
        )));
    }
    if req.ops.windows(2).any(|w| w[1].seq != w[0].seq + 1) {
        return Err(HubError::BadRequest(
            "operations must be contiguous and ascending".into(),
        ));
    }
    if req.ops.is_empty() {
        // Only the kiosk's status: no stream is started (a new incarnation's first push of
        // operations must still start it where they start).
        let acked_through: i64 = client
            .query_opt(
                "SELECT last_seq FROM device_cursor
                 WHERE branch_id = $1 AND device_id = $2 AND incarnation = $3",
                &[&device.branch, &device.device_id, &req.incarnation],
            )
            .await?
            .map_or(0, |r| r.get(0));
        record_status(&client, &device, &req).await?;
        if let Some(lan) = &req.status.lan {
            crate::devices::report_lan(&mut client, &device, lan).await?;
        }
        return Ok(Ok(PushResponse {
            acked_through,
            results: Vec::new(),
        }));
    }
    let tx = client.transaction().await?;
    // A stream's first push starts it where its operations start: a kiosk that moved to a new
    // incarnation after lost state sends its pending operations under their numbers.
    let start = req.ops.first().map_or(0, |o| o.seq - 1);
    tx.execute(
        "INSERT INTO device_cursor (branch_id, device_id, incarnation, last_seq) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        &[&device.branch, &device.device_id, &req.incarnation, &start],
    )
    .await?;
    let mut last_seq: i64 = tx
        .query_one(
            "SELECT last_seq FROM device_cursor
             WHERE branch_id = $1 AND device_id = $2 AND incarnation = $3 FOR UPDATE",
            &[&device.branch, &device.device_id, &req.incarnation],
        )
        .await?
        .get(0);
    if let Some(first) = req.ops.first()
        && first.seq > last_seq + 1
    {
        return Ok(Err(PushRefusal::Gap {
            expected_seq: last_seq + 1,
        }));
    }
    // Retries: the stored answers of every already-applied sequence, in one query.
    let old: Vec<&PushOp> = req.ops.iter().filter(|o| o.seq <= last_seq).collect();
    let mut stored: std::collections::HashMap<i64, (Vec<u8>, String, Option<String>)> =
        std::collections::HashMap::new();
    if !old.is_empty() {
        let seqs: Vec<i64> = old.iter().map(|o| o.seq).collect();
        for row in tx
            .query(
                "SELECT seq, op_hash, status, detail FROM applied_op
                 WHERE branch_id = $1 AND device_id = $2 AND incarnation = $3 AND seq = ANY($4)",
                &[&device.branch, &device.device_id, &req.incarnation, &seqs],
            )
            .await?
        {
            stored.insert(row.get(0), (row.get(1), row.get(2), row.get(3)));
        }
    }
    let mut results = Vec::with_capacity(req.ops.len());
    for op in &old {
        match stored.get(&op.seq) {
            Some((hash, status, detail)) if *hash == op_hash(op) => results.push(OpResult {
                seq: op.seq,
                status: parse_status(status),
                detail: detail.clone(),
            }),
            // Pruned long ago: nothing to compare, nothing to redo.
            None => results.push(OpResult {
                seq: op.seq,
                status: OpStatus::Duplicate,
                detail: None,
            }),
            Some(_) => {
                tracing::warn!(device = %device.device_id, seq = op.seq, "a different operation at an applied sequence");
                return Ok(Err(PushRefusal::IncarnationConflict { seq: op.seq }));
            }
        }
    }
    // New operations: their effects and their stored answers, a statement for each kind of
    // row rather than a round trip per operation.
    let new: Vec<&PushOp> = req.ops.iter().filter(|o| o.seq > last_seq).collect();
    if !new.is_empty() {
        let log_id = if req.log_id.is_empty() {
            &req.incarnation
        } else {
            &req.log_id
        };
        let applied = apply(&tx, device.branch, &device.device_id, log_id, &new).await?;
        let seqs: Vec<i64> = new.iter().map(|o| o.seq).collect();
        let op_ids: Vec<&str> = new.iter().map(|o| o.op_id.as_str()).collect();
        let hashes: Vec<Vec<u8>> = new.iter().map(|o| op_hash(o)).collect();
        let kinds: Vec<&str> = new.iter().map(|o| o.kind.as_str()).collect();
        let statuses: Vec<&str> = applied.iter().map(|(s, _)| status_name(*s)).collect();
        let details: Vec<Option<String>> = applied.iter().map(|(_, d)| d.clone()).collect();
        tx.execute(
            "INSERT INTO applied_op (branch_id, device_id, incarnation, seq, op_id, op_hash, kind, status, detail)
             SELECT $1, $2, $3, * FROM unnest($4::bigint[], $5::text[], $6::bytea[], $7::text[], $8::text[], $9::text[])",
            &[
                &device.branch,
                &device.device_id,
                &req.incarnation,
                &seqs,
                &op_ids,
                &hashes,
                &kinds,
                &statuses,
                &details,
            ],
        )
        .await?;
        for (op, (status, detail)) in new.iter().zip(applied) {
            results.push(OpResult {
                seq: op.seq,
                status,
                detail,
            });
        }
        last_seq = new.last().map_or(last_seq, |o| o.seq);
    }
    tx.execute(
        "UPDATE device_cursor SET last_seq = $4
         WHERE branch_id = $1 AND device_id = $2 AND incarnation = $3",
        &[
            &device.branch,
            &device.device_id,
            &req.incarnation,
            &last_seq,
        ],
    )
    .await?;
    record_status(&tx, &device, &req).await?;
    tx.commit().await?;
    // The visitors following these days' tickets by SMS hear what the new events call for.
    // The push is already settled: a failure here is logged, and the next push tries again.
    let days: std::collections::BTreeSet<chrono::NaiveDate> = req
        .ops
        .iter()
        .filter_map(|op| op.payload.get("business_day")?.as_str()?.parse().ok())
        .collect();
    for day in days {
        if let Err(e) = crate::follow::evaluate(&state.pool, device.branch, day).await {
            tracing::warn!(error = %e, "follow alerts not evaluated");
        }
    }
    if let Some(lan) = &req.status.lan {
        crate::devices::report_lan(&mut client, &device, lan).await?;
    }
    Ok(Ok(PushResponse {
        acked_through: last_seq,
        results,
    }))
}

/// The kiosk's version and status, as it reported them with this push.
async fn record_status(
    db: &impl GenericClient,
    device: &Device,
    req: &PushRequest,
) -> Result<(), HubError> {
    let status = serde_json::to_value(&req.status).unwrap_or_default();
    db.execute(
        "UPDATE device SET last_seen = now(), client_version = $2, status = $3 WHERE device_id = $1",
        &[&device.device_id, &req.client_version, &status],
    )
    .await?;
    Ok(())
}

fn status_name(s: OpStatus) -> &'static str {
    match s {
        OpStatus::Applied => "applied",
        OpStatus::Duplicate => "duplicate",
        OpStatus::Rejected => "rejected",
    }
}

fn parse_status(s: &str) -> OpStatus {
    match s {
        "applied" => OpStatus::Applied,
        "duplicate" => OpStatus::Duplicate,
        _ => OpStatus::Rejected,
    }
}

/// A deliberately broken apply that loses every seventh queue event, for the fault harness to
/// prove it catches a loss (`SPORTELLO_HUB_BROKEN_APPLY=1`). Compiled out of release builds.
fn broken_apply() -> bool {
    #[cfg(debug_assertions)]
    {
        static BROKEN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *BROKEN.get_or_init(|| {
            let on = std::env::var("SPORTELLO_HUB_BROKEN_APPLY").as_deref() == Ok("1");
            if on {
                tracing::error!(
                    "BROKEN APPLY: this hub loses every seventh queue event (test only)"
                );
            }
            on
        })
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}

/// The operations' effects, keyed by their natural key so that the same fact arriving twice
/// (by another stream) has one effect; one answer per operation, in order.
async fn apply(
    tx: &deadpool_postgres::Transaction<'_>,
    branch: i32,
    device_id: &str,
    log_id: &str,
    ops: &[&PushOp],
) -> Result<Vec<(OpStatus, Option<String>)>, HubError> {
    let mut answers: Vec<(OpStatus, Option<String>)> = Vec::with_capacity(ops.len());
    let (mut seqs, mut days, mut kinds, mut payloads) = (vec![], vec![], vec![], vec![]);
    let mut queue_at = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match serde_json::from_value::<Op>(op.payload.clone()) {
            Ok(Op::Queue {
                seq,
                business_day,
                event,
            }) => {
                answers.push((OpStatus::Applied, None));
                queue_at.push((i, seq));
                if broken_apply() && seq % 7 == 0 {
                    // The negative control of the fault harness: acknowledged, never stored.
                    continue;
                }
                seqs.push(seq);
                days.push(business_day);
                kinds.push(event.kind.name());
                payloads.push(serde_json::to_value(&event).unwrap_or_default());
            }
            // A payload this hub cannot read is acknowledged as rejected, kept for staff to
            // see, and never blocks the operations behind it.
            Err(e) => answers.push((
                OpStatus::Rejected,
                Some(format!("unreadable operation: {e}")),
            )),
        }
    }
    if !seqs.is_empty() {
        let inserted: std::collections::HashSet<i64> = tx
            .query(
                "INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
                 SELECT $1, $2, s, d, k, p, $3
                 FROM unnest($4::bigint[], $5::date[], $6::text[], $7::jsonb[]) AS t(s, d, k, p)
                 ON CONFLICT (branch_id, log_id, event_seq) DO NOTHING
                 RETURNING event_seq",
                &[&branch, &log_id, &device_id, &seqs, &days, &kinds, &payloads],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let sent: std::collections::HashSet<i64> = seqs.iter().copied().collect();
        for (i, seq) in queue_at {
            if sent.contains(&seq) && !inserted.contains(&seq) {
                answers[i].0 = OpStatus::Duplicate;
            }
        }
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare_by_number_not_by_text() {
        assert!(super::older("0.9.2", "0.10.0"));
        assert!(super::older("0.1.0", "0.2.0"));
        assert!(!super::older("0.2.0", "0.2.0"));
        assert!(!super::older("1.0.0", "0.10.0"));
        assert!(
            super::older("test", "0.1.0"),
            "a version that says nothing is older"
        );
    }
}
