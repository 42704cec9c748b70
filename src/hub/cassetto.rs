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

/// Seeds the demo's summaries: every matricola of every demo company, its legal
/// representatives as soggetti collegati.
pub async fn seed_demo(
    db: &impl deadpool_postgres::GenericClient,
    demo: &crate::demo::DemoBranch,
    today: chrono::NaiveDate,
    seed: u64,
) -> Result<(), HubError> {
    let branch = i32::from(demo.sede.code.get());
    for (i, company) in demo.companies.iter().enumerate() {
        let people: Vec<(String, &'static str)> = demo
            .people
            .iter()
            .filter(|p| p.companies.contains(&i) && p.role == crate::domain::TipoDelegato::Azienda)
            .map(|p| {
                (
                    format!("{} {}", p.given_name, p.surname),
                    "Legale rappresentante",
                )
            })
            .collect();
        for m in &company.matricole {
            let summary = crate::cassetto::generate::summary(
                seed,
                company,
                m.as_str(),
                &demo.sede,
                &people,
                today,
            );
            db.execute(
                "INSERT INTO cassetto_summary (branch_id, matricola, payload) VALUES ($1, $2, $3)
                 ON CONFLICT (branch_id, matricola) DO UPDATE
                   SET payload = excluded.payload, updated_at = now()",
                &[
                    &branch,
                    &m.as_str(),
                    &serde_json::to_value(&summary).expect("plain data serialises"),
                ],
            )
            .await?;
        }
    }
    Ok(())
}
