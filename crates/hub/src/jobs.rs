//! Background jobs in a PostgreSQL table, claimed with `FOR UPDATE SKIP LOCKED`: however many
//! hub instances poll, each job runs once. A job that fails is retried later with backoff; one
//! whose instance died while running it is taken back after a lease.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use super::HubError;

/// A claimed job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What to do.
    pub kind: String,
    /// Its branch, if it has one.
    pub branch: Option<i32>,
    /// Its details.
    pub payload: serde_json::Value,
    /// How many times it was claimed (this one included).
    pub attempts: i32,
}

/// A job running longer than this is taken to be orphaned (its instance died) and is claimed
/// again.
pub const LEASE: Duration = Duration::from_secs(300);

/// Attempts before a job is left failed.
pub const MAX_ATTEMPTS: i32 = 8;

/// Queues a job; with a `dedup_key`, at most one job with that key ever exists.
pub async fn enqueue(
    db: &impl GenericClient,
    kind: &str,
    branch: Option<i32>,
    payload: serde_json::Value,
    run_at: chrono::DateTime<chrono::Utc>,
    dedup_key: Option<&str>,
) -> Result<bool, HubError> {
    let n = db
        .execute(
            "INSERT INTO job (kind, branch_id, payload, run_at, dedup_key) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (dedup_key) DO NOTHING",
            &[&kind, &branch, &payload, &run_at, &dedup_key],
        )
        .await?;
    Ok(n == 1)
}

/// Claims the next due job, if any; other instances skip it while it is claimed.
pub async fn claim(db: &impl GenericClient, worker: &str) -> Result<Option<Job>, HubError> {
    let lease = LEASE.as_secs() as f64;
    let row = db
        .query_opt(
            "UPDATE job SET state = 'running', locked_by = $1, locked_at = now(),
                 attempts = attempts + 1
             WHERE id = (
                 SELECT id FROM job
                 WHERE (state = 'pending' AND run_at <= now())
                    OR (state = 'running' AND locked_at < now() - make_interval(secs => $2))
                 ORDER BY run_at
                 FOR UPDATE SKIP LOCKED
                 LIMIT 1)
             RETURNING id, kind, branch_id, payload, attempts",
            &[&worker, &lease],
        )
        .await?;
    Ok(row.map(|r| Job {
        id: r.get(0),
        kind: r.get(1),
        branch: r.get(2),
        payload: r.get(3),
        attempts: r.get(4),
    }))
}

/// Marks a job done.
pub async fn done(db: &impl GenericClient, id: i64) -> Result<(), HubError> {
    db.execute(
        "UPDATE job SET state = 'done', done_at = now(), locked_by = NULL WHERE id = $1",
        &[&id],
    )
    .await?;
    Ok(())
}

/// Records a failure: retried after a backoff, or left failed after [`MAX_ATTEMPTS`].
pub async fn failed(db: &impl GenericClient, job: &Job, error: &str) -> Result<(), HubError> {
    let backoff = 30.0 * 2f64.powi(job.attempts.min(10));
    db.execute(
        "UPDATE job SET state = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
             last_error = $2, locked_by = NULL, run_at = now() + make_interval(secs => $4)
         WHERE id = $1",
        &[&job.id, &error, &MAX_ATTEMPTS, &backoff],
    )
    .await?;
    Ok(())
}

/// Runs jobs until `stop` turns true: claims one, runs `work` on it, records the outcome;
/// sleeps `idle` when nothing is due.
pub async fn run<F, Fut>(
    pool: Pool,
    worker: String,
    idle: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    work: F,
) where
    F: Fn(Job) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    loop {
        if *stop.borrow() {
            return;
        }
        let claimed = match pool.get().await {
            Ok(c) => claim(&c, &worker).await,
            Err(e) => Err(e.into()),
        };
        match claimed {
            Ok(Some(job)) => {
                let outcome = work(job.clone()).await;
                if let Ok(c) = pool.get().await {
                    let recorded = match &outcome {
                        Ok(()) => done(&c, job.id).await,
                        Err(e) => failed(&c, &job, e).await,
                    };
                    if let Err(e) = recorded {
                        tracing::warn!(job = job.id, error = %e, "job outcome not recorded");
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot claim a job"),
        }
        tokio::select! {
            _ = tokio::time::sleep(idle) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The jobs every hub instance runs, queued once a day across all instances: the daily purge
/// of the audit log (kept 13 months, beyond the 6 the rules ask), expired console sessions,
/// login failures past their window and enrolment codes a month past their expiry.
pub async fn work(
    pool: &Pool,
    notifier: &super::notify::Notifier,
    job: &Job,
) -> Result<(), String> {
    match job.kind.as_str() {
        super::notify::EMAIL | super::notify::SMS => {
            return notifier.send(&job.kind, &job.payload).await;
        }
        super::agenda::REMINDER => return super::agenda::remind(pool, &job.payload).await,
        _ => {}
    }
    let c = pool.get().await.map_err(|e| e.to_string())?;
    match job.kind.as_str() {
        "purge" => {
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
        other => Err(format!("unknown job kind {other}")),
    }
}

/// Queues today's recurring jobs (idempotent across instances: one per day).
pub async fn schedule_daily(db: &impl GenericClient) -> Result<(), HubError> {
    let today = chrono::Utc::now().date_naive();
    enqueue(
        db,
        "purge",
        None,
        serde_json::json!({}),
        chrono::Utc::now(),
        Some(&format!("purge:{today}")),
    )
    .await?;
    Ok(())
}
