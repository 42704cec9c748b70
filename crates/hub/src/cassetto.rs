//! The Cassetto summary of a matricola, for the kiosk of an identified visitor: only through
//! a hand-off that is bound, not expired, not ended, asked by the kiosk that started it, and
//! only for a matricola the person is delegated for ([`Delegated`]). Every other case is the
//! same 404, so a kiosk cannot learn which matricole exist.

use axum::routing::get;
use axum::{Json, Router};

use crate::extract::Delegated;
use crate::{HubError, HubState};

/// The summary's route.
pub fn router() -> Router<HubState> {
    Router::new().route("/v1/handoff/{id}/companies/{matricola}", get(summary))
}

/// `GET /v1/handoff/{id}/companies/{matricola}`.
async fn summary(company: Delegated) -> Result<Json<serde_json::Value>, HubError> {
    let Delegated { visitor, matricola } = company;
    let (device, db) = (&visitor.request.device, &visitor.request.db);
    let summary: serde_json::Value = db
        .query_opt(
            "SELECT s.payload FROM delegation d
             JOIN cassetto_summary s ON s.branch_id = d.branch_id AND s.matricola = d.matricola
             WHERE d.person_cf = $1 AND d.matricola = $2",
            &[&visitor.person_cf.as_str(), &matricola.as_str()],
        )
        .await?
        .ok_or(HubError::NotFound)?
        .get(0);
    crate::audit::record(
        db,
        &format!("device:{}", device.device_id),
        "cassetto.read",
        u16::try_from(device.branch).ok(),
        serde_json::json!({ "handoff": visitor.handoff.to_string(), "matricola": matricola }),
    )
    .await?;
    Ok(Json(summary))
}
