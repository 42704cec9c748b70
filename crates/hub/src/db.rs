//! The hub's PostgreSQL: a connection pool and the numbered migrations of `migrations/hub/`.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::HubError;

/// The migrations, in order. Applied at start, all in one transaction under an advisory lock,
/// so two hub instances starting together apply them once.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/hub/0001_init.sql"),
    ),
    (
        2,
        "branch_data",
        include_str!("../../../migrations/hub/0002_branch_data.sql"),
    ),
    (
        3,
        "jobs",
        include_str!("../../../migrations/hub/0003_jobs.sql"),
    ),
    (
        4,
        "console",
        include_str!("../../../migrations/hub/0004_console.sql"),
    ),
    (
        5,
        "login_failure",
        include_str!("../../../migrations/hub/0005_login_failure.sql"),
    ),
    (
        6,
        "handoff",
        include_str!("../../../migrations/hub/0006_handoff.sql"),
    ),
    (
        7,
        "cassetto",
        include_str!("../../../migrations/hub/0007_cassetto.sql"),
    ),
    (
        8,
        "contatti",
        include_str!("../../../migrations/hub/0008_contatti.sql"),
    ),
    (
        9,
        "desk",
        include_str!("../../../migrations/hub/0009_desk.sql"),
    ),
    (
        10,
        "istanze",
        include_str!("../../../migrations/hub/0010_istanze.sql"),
    ),
    (
        11,
        "agenda",
        include_str!("../../../migrations/hub/0011_agenda.sql"),
    ),
    (
        12,
        "handoff_confirm",
        include_str!("../../../migrations/hub/0012_handoff_confirm.sql"),
    ),
    (
        13,
        "sealed_keys",
        include_str!("../../../migrations/hub/0013_sealed_keys.sql"),
    ),
    (
        14,
        "feed_compaction",
        include_str!("../../../migrations/hub/0014_feed_compaction.sql"),
    ),
    (
        15,
        "branch_devices",
        include_str!("../../../migrations/hub/0015_branch_devices.sql"),
    ),
    (
        16,
        "response_targets",
        include_str!("../../../migrations/hub/0016_response_targets.sql"),
    ),
    (
        17,
        "follow_alerts",
        include_str!("../../../migrations/hub/0017_follow_alerts.sql"),
    ),
    (
        18,
        "visit_feedback",
        include_str!("../../../migrations/hub/0018_visit_feedback.sql"),
    ),
    (
        19,
        "day_figures",
        include_str!("../../../migrations/hub/0019_day_figures.sql"),
    ),
    (
        20,
        "follow_recall",
        include_str!("../../../migrations/hub/0020_follow_recall.sql"),
    ),
    (
        21,
        "day_flow",
        include_str!("../../../migrations/hub/0021_day_flow.sql"),
    ),
];

/// The schema version this build migrates to.
pub fn schema_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Any number: the lock that serialises migrators across instances.
const MIGRATION_LOCK: i64 = 0x5350_5254_4855_4231;

/// How long a request waits for a pooled connection, or for a new one to be made, before it is
/// answered 503: long enough to ride out a burst, short enough that a frozen database is
/// reported while the visitor still looks at the screen.
pub const POOL_WAIT: Duration = Duration::from_secs(5);

/// The longest one statement may run on the server; PostgreSQL cancels it past this. A query
/// that long is a bug or an attack (a day's replay on a huge branch), not a visitor to wait for.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A transaction left open and idle this long is ended by the server, so a request that died
/// half-way cannot hold its locks.
const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(30);

/// A pool of connections to `url` (`postgres://user@host:port/db`), every wait in it bounded:
/// for a free connection and for a new one ([`POOL_WAIT`]), and for each statement on the server
/// ([`STATEMENT_TIMEOUT`]) unless the URL's `options` set their own. A database that stops
/// answering altogether is the request deadline's to bound (the server's). No TLS: see
/// [`pool_with`].
pub fn pool(url: &str, size: usize) -> Result<Pool, HubError> {
    pool_with(url, size, None)
}

/// The same, over TLS when `ca` (PEM certificates, `hub.database_ca`) is given: TLS is then
/// required — a server that does not offer it is refused, never used in clear — and the
/// server's certificate must chain to `ca` and name the URL's host.
pub fn pool_with(url: &str, size: usize, ca: Option<&[u8]>) -> Result<Pool, HubError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| HubError::Config(format!("hub.database_url: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(POOL_WAIT);
    }
    let given = config.get_options().unwrap_or_default().to_owned();
    let mut options = given.clone();
    for (name, value) in [
        ("statement_timeout", STATEMENT_TIMEOUT),
        ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION),
    ] {
        if !given.contains(name) {
            options.push_str(&format!(" -c {name}={}", value.as_millis()));
        }
    }
    config.options(options.trim());
    let recycling = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match ca {
        None if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require => {
            return Err(HubError::Config(
                "hub.database_url asks for sslmode=require: set hub.database_ca to the certificate \
                 authority of the database's certificate"
                    .into(),
            ));
        }
        None => Manager::from_config(config, tokio_postgres::NoTls, recycling),
        Some(pem) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls_client(pem)?),
                recycling,
            )
        }
    };
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .recycle_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|e| HubError::Config(format!("database pool: {e}")))
}

/// A TLS client that trusts only the certificates in `pem`.
fn tls_client(pem: &[u8]) -> Result<rustls::ClientConfig, HubError> {
    use rustls_pki_types::pem::PemObject as _;
    let bad = |why: String| HubError::Config(format!("hub.database_ca: {why}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// Applies the migrations this build knows and the database lacks; returns how many. A
/// database migrated by a newer build is refused.
pub async fn migrate(pool: &Pool) -> Result<usize, HubError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // A migration of a large table, or the wait for another instance's, may take minutes.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migration (
             version integer PRIMARY KEY,
             name text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migration",
            &[],
        )
        .await?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(HubError::Config(format!(
            "the database has schema version {current}, newer than this build's {known}: upgrade the hub"
        )));
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migration (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}
