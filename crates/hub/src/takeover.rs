//! [`wire::DAY_LOG`]: a node that replaces the sede's previous one (dead for good) reads what
//! the sede's other devices pushed of the day, to go on from it without giving a number a
//! visitor already holds (`sportello take-over`).

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use protocol::wire;
use serde::Deserialize;

use crate::extract::Signed;
use crate::{HubError, HubState};

/// The route.
pub fn router() -> Router<HubState> {
    // The literal, as every router has it: the OpenAPI test reads routes from the source.
    Router::new().route("/v1/sync/day", get(handle))
}

#[derive(Debug, Deserialize)]
struct DayQuery {
    day: chrono::NaiveDate,
}

/// A sede's day is a few thousand events; this bounds a misbehaving fleet's answer.
const MAX_EVENTS: i64 = 100_000;

async fn handle(Query(q): Query<DayQuery>, signed: Signed) -> Result<Json<wire::DayLog>, HubError> {
    let Signed { device, db, .. } = signed;
    let role: String = db
        .query_one(
            "SELECT role FROM device WHERE device_id = $1",
            &[&device.device_id],
        )
        .await?
        .get(0);
    if role != "node" {
        return Err(HubError::Refused(
            "only the sede's node may read the day's queue".into(),
        ));
    }
    let rows = db
        .query(
            "SELECT device_id, payload FROM queue_event
             WHERE branch_id = $1 AND business_day = $2 AND device_id <> $3
             ORDER BY device_id, log_id, event_seq LIMIT $4",
            &[&device.branch, &q.day, &device.device_id, &MAX_EVENTS],
        )
        .await?;
    tracing::info!(
        device = %device.device_id,
        day = %q.day,
        events = rows.len(),
        "a node reads the sede's day to take it over"
    );
    Ok(Json(wire::DayLog {
        day: Some(q.day),
        events: rows
            .iter()
            .map(|r| wire::DayLogEvent {
                device: r.get(0),
                event: r.get(1),
            })
            .collect(),
    }))
}
