//! The job table shared by hub instances, and the daily retention.

use crate::helpers::*;

/// Background jobs shared by two hub instances through the job table: 200 jobs, each run once
/// (the `FOR UPDATE SKIP LOCKED` claim), a failing one retried later, daily scheduling
/// idempotent across instances, and a job orphaned by a dead instance taken back after its
/// lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_run_once_across_instances() {
    use hub::jobs;
    let hub = Hub::start(1).await;
    let c = hub.pool.get().await.unwrap();
    c.batch_execute("CREATE TABLE ran (job_id bigint NOT NULL, worker text NOT NULL)")
        .await
        .unwrap();
    for i in 0..200 {
        jobs::enqueue(
            &c,
            "count",
            None,
            serde_json::json!({ "i": i }),
            chrono::Utc::now(),
            None,
        )
        .await
        .unwrap();
    }
    jobs::enqueue(
        &c,
        "flaky",
        None,
        serde_json::json!({}),
        chrono::Utc::now(),
        None,
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for w in ["instance-a", "instance-b"] {
        let mut registry = jobs::Registry::default();
        let pool = hub.pool.clone();
        registry.register("count", move |job| {
            let pool = pool.clone();
            async move {
                let c = pool.get().await.map_err(|e| e.to_string())?;
                c.execute(
                    "INSERT INTO ran (job_id, worker) VALUES ($1, $2)",
                    &[&job.id, &w],
                )
                .await
                .map_err(|e| e.to_string())?;
                Ok(())
            }
        });
        registry.register("flaky", |_| async { Err("the provider is down".into()) });
        workers.push(tokio::spawn(jobs::run(
            hub.pool.clone(),
            w.to_string(),
            Duration::from_millis(20),
            stopped.clone(),
            registry,
        )));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(
        &hub.pool,
        "SELECT count(*) FROM job WHERE kind = 'count' AND state = 'done'",
    )
    .await
        < 200
    {
        assert!(std::time::Instant::now() < deadline, "jobs did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(count(&hub.pool, "SELECT count(*) FROM ran").await, 200);
    assert_eq!(
        count(&hub.pool, "SELECT count(DISTINCT job_id) FROM ran").await,
        200,
        "each once"
    );
    let by_worker = count(&hub.pool, "SELECT count(DISTINCT worker) FROM ran").await;
    eprintln!("jobs shared by {by_worker} instance(s)");
    let flaky = c
        .query_one(
            "SELECT state, attempts, last_error, run_at > now() FROM job WHERE kind = 'flaky'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(flaky.get::<_, String>(0), "pending", "retried later");
    assert_eq!(flaky.get::<_, i32>(1), 1);
    assert_eq!(
        flaky.get::<_, Option<String>>(2).as_deref(),
        Some("the provider is down")
    );
    assert!(flaky.get::<_, bool>(3), "backed off");

    // Scheduling the daily jobs from two instances makes one job.
    hub::retention::schedule_daily(&c).await.unwrap();
    hub::retention::schedule_daily(&hub.pool.get().await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        count(&hub.pool, "SELECT count(*) FROM job WHERE kind = 'purge'").await,
        1
    );

    // An instance died mid-job: after the lease, another takes it back.
    c.execute(
        "UPDATE job SET state = 'running', locked_by = 'dead', locked_at = now() - interval '1 hour'
         WHERE kind = 'purge'",
        &[],
    )
    .await
    .unwrap();
    let job = jobs::claim(&c, "alive").await.unwrap().expect("the orphan");
    assert_eq!(job.kind, "purge");
    // What the purge removes, and what it keeps: audit entries younger than 13 months (the
    // rules ask for 6), live sessions, failures still counting.
    c.batch_execute(
        "INSERT INTO hub_user (username, role, password_hash) VALUES ('old', 'admin', 'x');
         INSERT INTO audit_log (at, actor, action) VALUES
             (now() - interval '14 months', 'old', 'ancient'),
             (now() - interval '7 months', 'old', 'kept');
         INSERT INTO hub_session (token_hash, username, csrf, expires_at) VALUES
             ('\\x01', 'old', 'c', now() - interval '1 hour'),
             ('\\x02', 'old', 'c', now() + interval '1 hour');
         INSERT INTO login_failure (key, at) VALUES
             ('user:old', now() - interval '2 days'), ('user:old', now());",
    )
    .await
    .unwrap();
    c.batch_execute(
        "INSERT INTO job (kind, state, done_at) VALUES
             ('notify_email', 'done', now() - interval '2 months'),
             ('notify_email', 'done', now());",
    )
    .await
    .unwrap();
    hub::job_registry(hub.pool.clone(), Default::default())
        .work(job.clone())
        .await
        .unwrap();
    jobs::done(&c, job.id).await.unwrap();
    for (sql, left) in [
        ("SELECT count(*) FROM audit_log WHERE actor = 'old'", 1),
        ("SELECT count(*) FROM job WHERE kind = 'notify_email'", 1),
        ("SELECT count(*) FROM audit_log WHERE action = 'kept'", 1),
        ("SELECT count(*) FROM hub_session WHERE username = 'old'", 1),
        (
            "SELECT count(*) FROM login_failure WHERE key = 'user:old'",
            1,
        ),
    ] {
        assert_eq!(count(&hub.pool, sql).await, left, "{sql}");
    }
    assert!(
        jobs::claim(&c, "alive").await.unwrap().is_none(),
        "nothing else due"
    );
}

/// The purge keeps personal data no longer than its purpose (docs/retention.md): on each side
/// of every rule's line, one row that goes and one that stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_keeps_personal_data_no_longer_than_its_purpose() {
    let hub = Hub::start(1).await;
    let now = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .naive_local();
    demo::hub::seed_demo(&mut hub.pool.get().await.unwrap(), 4, now)
        .await
        .unwrap();
    let c = hub.pool.get().await.unwrap();
    let booking: i64 = c
        .query_one(
            "SELECT booking_id FROM appointment WHERE branch_id = 7001 LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    c.batch_execute(&format!(
        "INSERT INTO handoff (branch_id, id, device_id, token_hash, expires_at, ended_at, person_cf, email)
         VALUES (7001, gen_random_uuid(), 'k', '\\x01', now() - interval '3 days', now() - interval '2 days', 'RSSMRA80A01H501U', 'a@b.it'),
                (7001, gen_random_uuid(), 'k', '\\x02', now() + interval '2 minutes', NULL, NULL, NULL);
         INSERT INTO idp_code (code_hash, client_id, redirect_uri, code_challenge, cf, expires_at)
         VALUES ('\\x01', 'c', 'r', 'x', 'cf', now() - interval '2 days'),
                ('\\x02', 'c', 'r', 'x', 'cf', now() + interval '1 minute');
         INSERT INTO blob (sha256, mime, size, content, created_at)
         VALUES (decode(repeat('aa', 32), 'hex'), 'image/png', 1, '\\x00', now() - interval '3 years'),
                (decode(repeat('bb', 32), 'hex'), 'image/png', 1, '\\x00', now() - interval '3 years');
         INSERT INTO contact_request (branch_id, protocol, matricola, person_cf, topic, subject, state, email, updated_at)
         OVERRIDING SYSTEM VALUE VALUES
             (7001, 'OLD', '5124776507', 'cf', 'f24', 's', 'chiusa', 'a@b.it', now() - interval '25 months'),
             (7001, 'CLOSED', '5124776507', 'cf', 'f24', 's', 'chiusa', 'a@b.it', now() - interval '2 months'),
             (7001, 'OPEN', '5124776507', 'cf', 'f24', 's', 'aperta', 'a@b.it', now() - interval '2 months');
         INSERT INTO contact_message (branch_id, request_id, direction, author, body)
         SELECT 7001, id, 'in', 'cf', 'testo' FROM contact_request WHERE protocol IN ('OLD', 'CLOSED');
         INSERT INTO contact_attachment (branch_id, request_id, position, name, sha256)
         SELECT 7001, id, 1, 'f.png', decode(repeat('aa', 32), 'hex') FROM contact_request WHERE protocol = 'OLD';
         INSERT INTO contact_attachment (branch_id, request_id, position, name, sha256)
         SELECT 7001, id, 1, 'f.png', decode(repeat('bb', 32), 'hex') FROM contact_request WHERE protocol = 'CLOSED';
         INSERT INTO istanza (branch_id, protocol, matricola, person_cf, code, fields, state, email, updated_at)
         VALUES (7001, 'I-DONE', '5124776507', 'cf', 'x', '{{}}', 'accolta', 'a@b.it', now() - interval '40 days'),
                (7001, 'I-OPEN', '5124776507', 'cf', 'x', '{{}}', 'in_istruttoria', 'a@b.it', now() - interval '40 days');
         INSERT INTO agenda_booking (branch_id, booking_id, matricola, person_cf, starts_at, service, token, email, key_id)
         VALUES (7001, {booking}, '5124776507', 'cf', localtimestamp - interval '40 days', 'P', 't', 'a@b.it', 101);
         INSERT INTO applied_op (branch_id, device_id, incarnation, seq, op_id, op_hash, kind, status, applied_at)
         VALUES (7001, 'k', 'i', 1, 'o1', '\\x01', 'queue', 'applied', now() - interval '100 days'),
                (7001, 'k', 'i', 2, 'o2', '\\x02', 'queue', 'applied', now());
         INSERT INTO queue_event (branch_id, log_id, event_seq, business_day, kind, payload, device_id)
         VALUES (7001, 'l', 1, current_date - interval '14 months', 'k', '{{}}', 'k'),
                (7001, 'l', 2, current_date, 'k', '{{}}', 'k');"
    ))
    .await
    .unwrap();
    hub.purge().await;
    for (sql, left) in [
        ("SELECT count(*) FROM handoff", 1),
        (
            "SELECT count(*) FROM handoff WHERE person_cf IS NOT NULL",
            0,
        ),
        ("SELECT count(*) FROM idp_code", 1),
        ("SELECT count(*) FROM contact_request", 2),
        (
            "SELECT count(*) FROM contact_request WHERE protocol = 'OLD'",
            0,
        ),
        (
            "SELECT count(*) FROM contact_request WHERE email IS NOT NULL",
            1,
        ),
        ("SELECT count(*) FROM contact_message", 1),
        ("SELECT count(*) FROM contact_attachment", 1),
        ("SELECT count(*) FROM blob", 1),
        ("SELECT count(*) FROM istanza", 2),
        ("SELECT count(*) FROM istanza WHERE email IS NOT NULL", 1),
        (
            "SELECT count(*) FROM agenda_booking WHERE email IS NOT NULL",
            0,
        ),
        ("SELECT count(*) FROM applied_op", 1),
        ("SELECT count(*) FROM queue_event", 1),
    ] {
        assert_eq!(count(&hub.pool, sql).await, left, "{sql}");
    }
    let policy = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/retention.md"),
    )
    .unwrap();
    for (name, _) in hub::retention::RULES {
        assert!(
            policy.contains(&format!("`{name}`")),
            "docs/retention.md gives the reason of `{name}`"
        );
    }
}
