//! The Cassetto summary of a matricola, for the kiosk of an identified visitor: only through
//! a hand-off that is bound, not expired, not ended, asked by the kiosk that started it, and
//! only for a matricola the person is delegated for. Every other case is the same 404, so a
//! kiosk cannot learn which matricole exist.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;

use super::{HubError, HubState};

/// `GET /v1/handoff/{id}/companies/{matricola}`.
pub async fn summary(
    State(state): State<HubState>,
    headers: HeaderMap,
    uri: Uri,
    Path((id, matricola)): Path<(String, String)>,
) -> Response {
    let answer = async {
        let c = state.pool.get().await?;
        let Some((device, cf)) = super::handoff::visitor_reading(&c, &headers, &uri, &id).await?
        else {
            return Ok(None);
        };
        let row = c
            .query_opt(
                "SELECT s.payload FROM delegation d
                 JOIN cassetto_summary s ON s.branch_id = d.branch_id AND s.matricola = d.matricola
                 WHERE d.person_cf = $1 AND d.matricola = $2",
                &[&cf, &matricola],
            )
            .await?;
        if row.is_some() {
            super::accounts::audit(
                &c,
                &format!("device:{}", device.device_id),
                "cassetto.read",
                u16::try_from(device.branch).ok(),
                serde_json::json!({ "handoff": id, "matricola": matricola }),
            )
            .await?;
        }
        Ok::<_, HubError>(row.map(|r| r.get::<_, serde_json::Value>(0)))
    }
    .await;
    super::handoff::json_or_404(answer)
}
