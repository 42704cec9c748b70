//! What the hub keeps, and for how long: the daily purge, queued once a day across all
//! instances. The audit log is kept 13 months (beyond the 6 the rules ask); expired console
//! sessions, login failures past their window, enrolment codes a month past their expiry and
//! finished jobs a month old go.

use deadpool_postgres::{GenericClient, Pool};

use crate::HubError;
use crate::jobs::{self, Registry};

/// Job kind of the daily purge.
pub const PURGE: &str = "purge";

/// Registers the purge with the job runner.
pub fn register(registry: &mut Registry, pool: Pool) {
    registry.register(PURGE, move |_| {
        let pool = pool.clone();
        async move { purge(&pool).await }
    });
}

async fn purge(pool: &Pool) -> Result<(), String> {
    let c = pool.get().await.map_err(|e| e.to_string())?;
    let mut purged = Vec::new();
    for sql in [
        "DELETE FROM audit_log WHERE at < now() - interval '13 months'",
        "DELETE FROM hub_session WHERE expires_at < now()",
        "DELETE FROM login_failure WHERE at < now() - interval '1 day'",
        "DELETE FROM enrolment_code WHERE expires_at < now() - interval '1 month'",
        // Finished jobs hold notifications' addresses: a month of history is enough.
        "DELETE FROM job WHERE state IN ('done', 'failed') AND coalesce(done_at, run_at) < now() - interval '1 month'",
    ] {
        purged.push(c.execute(sql, &[]).await.map_err(|e| e.to_string())?);
    }
    tracing::info!(
        audit = purged[0],
        sessions = purged[1],
        login_failures = purged[2],
        enrolment_codes = purged[3],
        jobs = purged[4],
        "daily purge"
    );
    Ok(())
}

/// Queues today's purge (idempotent across instances: one per day).
pub async fn schedule_daily(db: &impl GenericClient) -> Result<(), HubError> {
    let today = chrono::Utc::now().date_naive();
    jobs::enqueue(
        db,
        PURGE,
        None,
        serde_json::json!({}),
        chrono::Utc::now(),
        Some(&format!("purge:{today}")),
    )
    .await?;
    Ok(())
}
