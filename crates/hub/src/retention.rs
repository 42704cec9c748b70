//! What the hub keeps, and for how long: the daily purge, queued once a day across all
//! instances. Each rule is one statement in [`RULES`], named in the log with what it removed;
//! `docs/retention.md` gives each its reason (GDPR art. 5(1)(e): personal data kept no longer
//! than its purpose needs).

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

/// What the daily purge removes: a name for the log, and the statement. In `docs/retention.md`,
/// with the reason of each.
pub const RULES: &[(&str, &str)] = &[
    (
        "audit",
        "DELETE FROM audit_log WHERE at < now() - interval '13 months'",
    ),
    (
        "sessions",
        "DELETE FROM hub_session WHERE expires_at < now()",
    ),
    (
        "login_failures",
        "DELETE FROM login_failure WHERE at < now() - interval '1 day'",
    ),
    (
        "enrolment_codes",
        "DELETE FROM enrolment_code WHERE expires_at < now() - interval '1 month'",
    ),
    // Finished jobs hold notifications' addresses: a month of history is enough.
    (
        "jobs",
        "DELETE FROM job WHERE state IN ('done', 'failed')
           AND coalesce(done_at, run_at) < now() - interval '1 month'",
    ),
    // A hand-off holds the visitor's fiscal code, name, e-mail and mobile for a kiosk
    // session of minutes: a day after it ended, expired or was never used, it goes whole.
    (
        "handoffs",
        "DELETE FROM handoff
         WHERE greatest(expires_at, coalesce(session_expires_at, expires_at),
                        coalesce(ended_at, expires_at)) < now() - interval '1 day'",
    ),
    // A follow alert's number is deleted when its ticket ends; a ticket the day closed
    // without an end (the kiosk never pushed it) takes it along the next day.
    (
        "follow_alerts",
        "DELETE FROM follow_alert WHERE business_day < current_date",
    ),
    (
        "feedback_given",
        "DELETE FROM feedback_given WHERE business_day < current_date",
    ),
    // A visitor's sentence may name someone: kept as long as the day's figures it explains.
    (
        "visit_feedback",
        "DELETE FROM visit_feedback WHERE business_day < current_date - interval '13 months'",
    ),
    (
        "provider_codes",
        "DELETE FROM idp_code WHERE expires_at < now() - interval '1 day'",
    ),
    // Contacts left for notifications are for the life of the request or istanza.
    (
        "request_contacts",
        "UPDATE contact_request SET email = NULL, mobile = NULL
         WHERE state = 'chiusa' AND updated_at < now() - interval '30 days'
           AND (email IS NOT NULL OR mobile IS NOT NULL)",
    ),
    (
        "istanza_contacts",
        "UPDATE istanza SET email = NULL, mobile = NULL
         WHERE state IN ('accolta', 'accolta_parzialmente', 'respinta')
           AND updated_at < now() - interval '30 days'
           AND (email IS NOT NULL OR mobile IS NOT NULL)",
    ),
    (
        "booking_contacts",
        "UPDATE agenda_booking SET email = NULL, mobile = NULL
         WHERE starts_at < (now() AT TIME ZONE 'Europe/Rome') - interval '30 days'
           AND (email IS NOT NULL OR mobile IS NOT NULL)",
    ),
    // A closed request stays readable (kiosk, Cassetto, back office) for two years, then goes
    // with its messages and attachments.
    (
        "request_attachments",
        "DELETE FROM contact_attachment a USING contact_request r
         WHERE a.branch_id = r.branch_id AND a.request_id = r.id
           AND r.state = 'chiusa' AND r.updated_at < now() - interval '24 months'",
    ),
    (
        "request_messages",
        "DELETE FROM contact_message m USING contact_request r
         WHERE m.branch_id = r.branch_id AND m.request_id = r.id
           AND r.state = 'chiusa' AND r.updated_at < now() - interval '24 months'",
    ),
    (
        "requests",
        "DELETE FROM contact_request
         WHERE state = 'chiusa' AND updated_at < now() - interval '24 months'",
    ),
    // A file no request points to any more; a day's grace for one being uploaded.
    (
        "files",
        "DELETE FROM blob b WHERE created_at < now() - interval '1 day'
           AND NOT EXISTS (SELECT 1 FROM contact_attachment a WHERE a.sha256 = b.sha256)",
    ),
    // The stored answers of applied operations serve a kiosk retrying a push whose answer
    // it lost, within minutes; three months is far past any retry.
    (
        "applied_ops",
        "DELETE FROM applied_op WHERE applied_at < now() - interval '90 days'",
    ),
    // The queue's events feed the figures: a year and a month, like the audit.
    (
        "queue_events",
        "DELETE FROM queue_event WHERE business_day < current_date - interval '13 months'",
    ),
    // The branch feed: a kiosk that pulls from the start needs each appointment and account
    // as it is now, not every state it went through (each row is the whole row). A kiosk
    // part-way through reads the later row instead: pages step over the gaps.
    (
        "feed_superseded",
        "DELETE FROM branch_feed f
         WHERE f.entity IN ('appointment', 'staff')
           AND EXISTS (SELECT 1 FROM branch_feed g
                       WHERE g.branch_id = f.branch_id AND g.entity = f.entity
                         AND g.entity_id = f.entity_id AND g.seq > f.seq)",
    ),
    // An appointment a month past is nobody's to check in: its rows go, with the visitor's
    // pseudonymous key they carry (so does a withdrawal a month old).
    (
        "feed_past_appointments",
        "DELETE FROM branch_feed
         WHERE entity = 'appointment'
           AND CASE WHEN payload IS NULL THEN committed_at < now() - interval '30 days'
                    ELSE (payload->>'starts_at')::timestamp
                         < (now() AT TIME ZONE 'Europe/Rome') - interval '30 days' END",
    ),
    // A configuration replaced by a later one, with no appointment between the two: no row
    // needs its services any more. (One with appointments after it stays: a kiosk pulling
    // from the start must know a service before an appointment for it.) After the rules
    // above, so the appointments they removed free their configurations.
    (
        "feed_configs",
        "DELETE FROM branch_feed f
         WHERE f.entity = 'branch_config'
           AND EXISTS (SELECT 1 FROM branch_feed g
                       WHERE g.branch_id = f.branch_id AND g.entity = 'branch_config'
                         AND g.seq > f.seq)
           AND NOT EXISTS (
               SELECT 1 FROM branch_feed a
               WHERE a.branch_id = f.branch_id AND a.entity = 'appointment' AND a.seq > f.seq
                 AND a.seq < (SELECT min(g.seq) FROM branch_feed g
                              WHERE g.branch_id = f.branch_id AND g.entity = 'branch_config'
                                AND g.seq > f.seq))",
    ),
];

async fn purge(pool: &Pool) -> Result<(), String> {
    let c = pool.get().await.map_err(|e| e.to_string())?;
    let mut purged = Vec::new();
    for (name, sql) in RULES {
        let n = c
            .execute(*sql, &[])
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        purged.push(format!("{name}={n}"));
    }
    tracing::info!(purged = %purged.join(" "), "daily purge");
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
