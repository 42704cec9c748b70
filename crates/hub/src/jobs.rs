//! Background jobs in a PostgreSQL table, claimed with `FOR UPDATE SKIP LOCKED`: however many
//! hub instances poll, each job runs once. A job that fails is retried later with backoff; one
//! whose instance died while running it is taken back after a lease.
//!
//! The table knows no feature: each registers the kinds it queues and the work they stand
//! for in a [`Registry`], and the runner looks the kind up there.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use crate::HubError;

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

type Work =
    Arc<dyn Fn(Job) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The work each job kind stands for, registered by the feature that queues it.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: HashMap<&'static str, Work>,
}

impl Registry {
    /// Jobs of `kind` are done by `work`; an error is retried with backoff.
    pub fn register<F, Fut>(&mut self, kind: &'static str, work: F)
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let previous = self
            .kinds
            .insert(kind, Arc::new(move |job| Box::pin(work(job))));
        assert!(previous.is_none(), "job kind {kind} registered twice");
    }

    /// Does `job`; a kind nobody registered is an error (retried, so an instance of a newer
    /// build can still take it).
    pub async fn work(&self, job: Job) -> Result<(), String> {
        match self.kinds.get(job.kind.as_str()) {
            Some(work) => work(job).await,
            None => Err(format!("unknown job kind {}", job.kind)),
        }
    }
}

/// Runs jobs until `stop` turns true: claims one, does it through `registry`, records the
/// outcome; sleeps `idle` when nothing is due.
pub async fn run(
    pool: Pool,
    worker: String,
    idle: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    registry: Registry,
) {
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
                let outcome = registry.work(job.clone()).await;
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
