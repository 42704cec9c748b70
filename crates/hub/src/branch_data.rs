//! What the hub owns for a branch — its configuration and its appointments — written together
//! with their feed rows, so a kiosk's replica follows every change in order.

use deadpool_postgres::GenericClient;

use crate::HubError;
use crate::feed::{self, Change};
use protocol::wire::{
    BranchConfigPayload, ENTITY_APPOINTMENT, ENTITY_BRANCH_CONFIG, ENTITY_STAFF, StaffPayload,
};

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("plain data serialises")
}

/// Replaces a branch's configuration.
pub async fn put_config(
    tx: &impl GenericClient,
    branch: i32,
    config: &BranchConfigPayload,
) -> Result<i64, HubError> {
    let payload = json(config);
    tx.execute(
        "INSERT INTO branch_config (branch_id, payload) VALUES ($1, $2)
         ON CONFLICT (branch_id) DO UPDATE SET payload = excluded.payload, updated_at = now()",
        &[&branch, &payload],
    )
    .await?;
    feed::publish(
        tx,
        branch,
        &[Change {
            entity: ENTITY_BRANCH_CONFIG.into(),
            entity_id: branch.to_string(),
            payload: Some(payload),
        }],
    )
    .await
}

/// Creates or changes appointments.
pub async fn put_appointments(
    tx: &impl GenericClient,
    branch: i32,
    appointments: &[domain::Appointment],
) -> Result<i64, HubError> {
    let mut changes = Vec::with_capacity(appointments.len());
    for a in appointments {
        let payload = json(a);
        tx.execute(
            "INSERT INTO appointment (branch_id, booking_id, starts_at, service, state, payload)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (branch_id, booking_id) DO UPDATE SET starts_at = excluded.starts_at,
               service = excluded.service, state = excluded.state, payload = excluded.payload,
               updated_at = now()",
            &[
                &branch,
                &(a.id.get() as i64),
                &a.starts_at,
                &a.service.to_string(),
                &a.state.name(),
                &payload,
            ],
        )
        .await?;
        changes.push(Change {
            entity: ENTITY_APPOINTMENT.into(),
            entity_id: a.id.get().to_string(),
            payload: Some(payload),
        });
    }
    feed::publish(tx, branch, &changes).await
}

/// A branch console account, sent to the branch's kiosks.
pub async fn put_staff(
    tx: &impl GenericClient,
    branch: i32,
    username: &str,
    staff: &StaffPayload,
) -> Result<i64, HubError> {
    feed::publish(
        tx,
        branch,
        &[Change {
            entity: ENTITY_STAFF.into(),
            entity_id: username.into(),
            payload: Some(json(staff)),
        }],
    )
    .await
}

/// The configuration document of a replica.
pub fn config_of(replica: &protocol::replica::Replica) -> Option<BranchConfigPayload> {
    Some(BranchConfigPayload {
        sede: replica.sede.clone()?,
        services: replica.services.clone(),
        counters: replica.counters.clone(),
        hours: replica.hours.clone(),
        rules: replica.rules.clone(),
        verifying_keys: replica
            .verifying_keys
            .iter()
            .map(|(id, k)| (*id, protocol::wire::hex(k)))
            .collect(),
        contatti: Default::default(),
        follow: Default::default(),
        target_wait_min: 30,
    })
}

/// The sede cancels a booking: allowed from the states the appointment's state machine allows,
/// published to the kiosks (which then refuse its QR code) and audited.
pub async fn cancel_appointment(
    db: &mut deadpool_postgres::Object,
    actor: &str,
    branch: u16,
    booking: domain::BookingId,
) -> Result<(), HubError> {
    use domain::{Appointment, AppointmentState};
    let tx = db.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT payload FROM appointment WHERE branch_id = $1 AND booking_id = $2 FOR UPDATE",
            &[&i32::from(branch), &(booking.get() as i64)],
        )
        .await?
        .ok_or_else(|| HubError::BadRequest(format!("Nessuna prenotazione {booking}.")))?;
    let mut a: Appointment = serde_json::from_value(row.get(0))
        .map_err(|e| HubError::internal(&format!("stored appointment {booking}"), e))?;
    a.state = a
        .state
        .transition(AppointmentState::CancelledBySede)
        .map_err(|_| {
            HubError::BadRequest(format!(
                "La prenotazione {booking} è {}: non si può più annullare.",
                a.state.label().text(i18n::Lang::It)
            ))
        })?;
    put_appointments(&tx, i32::from(branch), std::slice::from_ref(&a)).await?;
    crate::audit::record(
        &tx,
        actor,
        "appointment.cancel",
        Some(branch),
        serde_json::json!({ "booking": booking.to_string() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
