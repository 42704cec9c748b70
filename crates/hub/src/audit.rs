//! The audit log: who did what, for which sede. Every feature that changes data of record
//! appends here, inside its own transaction; the daily retention job trims it.

use deadpool_postgres::GenericClient;

use crate::HubError;

/// Appends to the audit log (inside the caller's transaction when it has one).
pub async fn record(
    db: &impl GenericClient,
    actor: &str,
    action: &str,
    branch: Option<u16>,
    detail: serde_json::Value,
) -> Result<(), HubError> {
    db.execute(
        "INSERT INTO audit_log (actor, action, branch_id, detail) VALUES ($1, $2, $3, $4)",
        &[&actor, &action, &branch.map(i32::from), &detail],
    )
    .await?;
    Ok(())
}
