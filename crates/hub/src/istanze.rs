//! *Comunicazioni on-line* at the hub: which istanze can be sent (administrators close those
//! repealed or out of funds, with the reason the visitor reads), the istanze filed from the
//! visitor's phone (fields checked by [`domain::istanze::check`]) for the sede di competenza
//! of the matricola, and their states as the back office moves them forward.

use std::collections::BTreeMap;

use axum::routing::get;
use axum::{Json, Router};
use deadpool_postgres::GenericClient;

use crate::contatti::Contacts;
use crate::extract::Delegated;
use crate::{HubError, HubState};
use domain::istanze::{MODULI, STATES};
use protocol::wire::{IstanzaInfo, IstanzeView, ModuloAvailability};

/// Which istanze can be sent now, in the catalogue's order.
pub async fn availability(c: &impl GenericClient) -> Result<Vec<ModuloAvailability>, HubError> {
    let rows = c
        .query(
            "SELECT code, available, reason FROM istanza_availability",
            &[],
        )
        .await?;
    let closed: BTreeMap<String, (bool, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    Ok(MODULI
        .iter()
        .map(|m| {
            let (available, reason) = closed.get(m.code).cloned().unwrap_or((true, None));
            ModuloAvailability {
                code: m.code.to_owned(),
                available,
                reason: if available { None } else { reason },
            }
        })
        .collect())
}

/// The view of one matricola.
pub async fn view(c: &impl GenericClient, matricola: &str) -> Result<IstanzeView, HubError> {
    let sent = c
        .query(
            "SELECT protocol, code, state, esito, created_at FROM istanza
             WHERE matricola = $1 ORDER BY created_at DESC, id DESC",
            &[&matricola],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(IstanzaInfo {
                protocol: r.get(0),
                code: r.get(1),
                state: HubError::stored(
                    "stored istanza state",
                    r.get(2),
                    domain::istanze::IstanzaState::from_name,
                )?,
                esito: r.get(3),
                created_at: r.get(4),
            })
        })
        .collect::<Result<_, HubError>>()?;
    Ok(IstanzeView {
        moduli: availability(c).await?,
        sent,
    })
}

/// The kiosk's route: the istanze of a company and which can be sent.
pub fn router() -> Router<HubState> {
    Router::new().route("/v1/handoff/{id}/istanze/{matricola}", get(list))
}

/// `GET /v1/handoff/{id}/istanze/{matricola}`: for a delegated matricola of the bound visitor.
async fn list(company: Delegated) -> Result<Json<IstanzeView>, HubError> {
    Ok(Json(
        view(&company.visitor.request.db, company.matricola.as_str()).await?,
    ))
}

/// Files an istanza of `cf` for `matricola`: `Ok(Ok(protocol))`, or the reasons in Italian
/// (closed, fields); `Ok(Err(empty))` when the matricola is not theirs. Run it inside the
/// caller's transaction.
pub async fn submit(
    tx: &impl GenericClient,
    cf: &str,
    matricola: &str,
    code: &str,
    values: &BTreeMap<String, String>,
    contacts: &Contacts,
) -> Result<Result<String, Vec<String>>, HubError> {
    let Some(modulo) = domain::istanze::modulo(code) else {
        return Ok(Err(vec!["Istanza sconosciuta.".into()]));
    };
    let Some(sede) = tx
        .query_opt(
            "SELECT branch_id FROM delegation WHERE person_cf = $1 AND matricola = $2",
            &[&cf, &matricola],
        )
        .await?
        .map(|r| r.get::<_, i32>(0))
    else {
        return Ok(Err(Vec::new()));
    };
    // Read under the row's lock, so an administrator closing it now is not raced past.
    if let Some(r) = tx
        .query_opt(
            "SELECT available, reason FROM istanza_availability WHERE code = $1 FOR SHARE",
            &[&code],
        )
        .await?
        && !r.get::<_, bool>(0)
    {
        let reason: Option<String> = r.get(1);
        return Ok(Err(vec![format!(
            "Questa istanza ora non si può inviare. {}",
            reason.unwrap_or_default()
        )]));
    }
    let fields = match domain::istanze::check(modulo, values) {
        Ok(f) => f,
        Err(errors) => return Ok(Err(errors)),
    };
    let fields =
        serde_json::to_value(fields).map_err(|e| HubError::internal("istanza fields", e))?;
    let row = tx
        .query_one(
            "INSERT INTO istanza (branch_id, protocol, matricola, person_cf, code, fields, email, mobile)
             VALUES ($1, 'pending-' || gen_random_uuid(), $2, $3, $4, $5, $6, $7)
             RETURNING id, created_at",
            &[
                &sede,
                &matricola,
                &cf,
                &code,
                &fields,
                &contacts.email,
                &contacts.mobile,
            ],
        )
        .await?;
    let id: i64 = row.get(0);
    let at: chrono::DateTime<chrono::Utc> = row.get(1);
    // `COL` keeps it apart from the sede's Area Contatti protocols.
    let protocol = format!(
        "INPS.{sede:04}.COL.{}.{id:07}",
        at.with_timezone(&domain::TIME_ZONE).format("%d/%m/%Y")
    );
    tx.execute(
        "UPDATE istanza SET protocol = $3 WHERE branch_id = $1 AND id = $2",
        &[&sede, &id, &protocol],
    )
    .await?;
    tx.execute(
        "INSERT INTO istanza_history (branch_id, istanza_id, state, actor) VALUES ($1, $2, 'inviata', 'richiedente')",
        &[&sede, &id],
    )
    .await?;
    crate::notify::queue_istanza(tx, sede, id, "inviata").await?;
    Ok(Ok(protocol))
}

/// Moves an istanza of `branch` forward to `state`; an outcome other than *accolta* needs
/// its reasons (`esito`).
pub async fn set_state(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
    protocol: &str,
    state: &str,
    esito: &str,
) -> Result<(), HubError> {
    let Some(to) = STATES.iter().position(|s| *s == state) else {
        return Err(HubError::BadRequest(format!("stato {state} sconosciuto")));
    };
    let esito = esito.trim();
    if matches!(state, "respinta" | "accolta_parzialmente") && esito.is_empty() {
        return Err(HubError::BadRequest(
            "Scriva le motivazioni dell'esito: il richiedente le legge.".into(),
        ));
    }
    if esito.chars().count() > 2000 {
        return Err(HubError::BadRequest(
            "Le motivazioni vanno da 1 a 2000 caratteri.".into(),
        ));
    }
    let tx = db.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT id, state FROM istanza WHERE branch_id = $1 AND protocol = $2 FOR UPDATE",
            &[&i32::from(branch), &protocol],
        )
        .await?
    else {
        return Err(HubError::BadRequest(format!(
            "L'istanza {protocol} non c'è."
        )));
    };
    let id: i64 = row.get(0);
    let from: String = row.get(1);
    let at = STATES.iter().position(|s| *s == from).unwrap_or(0);
    // Outcomes are final; states only move forward.
    if at >= 3 || to <= at {
        return Err(HubError::BadRequest(format!(
            "L'istanza {protocol} è {}: non può passare a {}.",
            domain::istanze::state_words(&from),
            domain::istanze::state_words(state)
        )));
    }
    let esito = (!esito.is_empty()).then_some(esito);
    tx.execute(
        "UPDATE istanza SET state = $3, esito = coalesce($4, esito), updated_at = now()
         WHERE branch_id = $1 AND id = $2",
        &[&i32::from(branch), &id, &state, &esito],
    )
    .await?;
    tx.execute(
        "INSERT INTO istanza_history (branch_id, istanza_id, state, actor, note)
         VALUES ($1, $2, $3, $4, $5)",
        &[&i32::from(branch), &id, &state, &actor, &esito],
    )
    .await?;
    crate::audit::record(
        &tx,
        actor,
        "istanza.state",
        Some(branch),
        serde_json::json!({ "protocol": protocol, "state": state }),
    )
    .await?;
    crate::notify::queue_istanza(&tx, i32::from(branch), id, state).await?;
    tx.commit().await?;
    Ok(())
}

/// Opens or closes an istanza for everybody; closing needs the reason visitors will read.
pub async fn set_availability(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    code: &str,
    available: bool,
    reason: &str,
) -> Result<(), HubError> {
    if domain::istanze::modulo(code).is_none() {
        return Err(HubError::BadRequest(format!("istanza {code} sconosciuta")));
    }
    let reason = reason.trim();
    if !available && (reason.is_empty() || reason.chars().count() > 300) {
        return Err(HubError::BadRequest(
            "Per chiudere un'istanza scriva il motivo (fino a 300 caratteri): il richiedente lo legge."
                .into(),
        ));
    }
    let tx = db.transaction().await?;
    tx.execute(
        "INSERT INTO istanza_availability (code, available, reason, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (code) DO UPDATE SET available = excluded.available,
             reason = excluded.reason, updated_by = excluded.updated_by, updated_at = now()",
        &[&code, &available, &(!available).then_some(reason), &actor],
    )
    .await?;
    crate::audit::record(
        &tx,
        actor,
        "istanza.availability",
        None,
        serde_json::json!({ "code": code, "available": available }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
