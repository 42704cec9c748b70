//! The kiosk's local store: one SQLite file in WAL mode with `synchronous=FULL`.
//!
//! One way in: every read and write of the kiosk's data goes through [`Store`]. A business
//! action (a check-in, a ticket) is one transaction that writes the domain rows and the outbox
//! row together, and the ticket is printed only after it commits: a number on paper survives a
//! power cut, and no number is reused or skipped.

mod error;
mod events;
mod lease;
mod replica;
mod staff;
mod sync;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

pub use error::StoreError;
pub use events::{Extras, StoredEvent};
pub use staff::{StaffAccount, StaffRole, StaffSession};
pub use sync::{BranchDevice, HubLink};

use domain::Clock;

/// `PRAGMA application_id` of our files ("SPRT"), so a foreign SQLite file is never migrated.
pub const APPLICATION_ID: i32 = 0x5350_5254;

/// Days a pseudonymous person key is kept (GDPR storage limitation).
pub const PERSON_KEY_RETENTION_DAYS: i64 = 90;

/// Days an operation the hub acknowledged stays in the outbox: past a hub restored from a
/// backup of up to a month, the kiosk starts a new stream instead (`branch::sync::agent`).
pub const OUTBOX_ACKED_DAYS: i64 = 30;

/// Days past queue events, print records and rejected operations stay.
pub const HISTORY_DAYS: i64 = 90;

/// Days past tickets and appointments stay (13 months, like the hub's queue events).
pub const RECORD_DAYS: i64 = 396;

/// The schema's migrations, in order; a file's `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/kiosk/0001_init.sql"),
    include_str!("../../../migrations/kiosk/0002_queue.sql"),
    include_str!("../../../migrations/kiosk/0003_ticket_print.sql"),
    include_str!("../../../migrations/kiosk/0004_hub_link.sql"),
    include_str!("../../../migrations/kiosk/0005_log_id.sql"),
    include_str!("../../../migrations/kiosk/0006_hub_keys.sql"),
    include_str!("../../../migrations/kiosk/0007_branch_kiosks.sql"),
];

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// Number of schema versions this build knows.
pub fn schema_version() -> usize {
    MIGRATIONS.len()
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long a write waits for another connection's lock.
    pub busy_timeout: Duration,
    /// Device id to record when the file is created (the hub assigns one at enrolment).
    pub device_id: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            device_id: None,
        }
    }
}

/// Who this store belongs to, for the sync protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Device id.
    pub device_id: String,
    /// Changes whenever the database file is created anew.
    pub incarnation: String,
    /// The event log's identity: fixed with the file, whatever the outbox stream.
    pub log_id: String,
}

/// A pending or settled outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Gap-free per-device sequence.
    pub seq: i64,
    /// Idempotency key.
    pub op_id: String,
    /// Operation kind.
    pub kind: String,
    /// JSON payload.
    pub payload: String,
}

/// The kiosk's store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`, migrating it to the current schema in
    /// one transaction. A file that is not ours, is damaged, or was written by a newer version
    /// is refused before anything is written to it.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        let exists = path.metadata().map(|m| m.len() > 0).unwrap_or(false);
        if exists {
            inspect_existing(path)?;
        }
        let conn = Connection::open(path).map_err(|e| StoreError::classify(e, path))?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.configure(options).map_err(|e| store.err(e))?;
        store.migrate()?;
        store.ensure_identity(options).map_err(|e| store.err(e))?;
        Ok(store)
    }

    fn configure(&self, options: &StoreOptions) -> rusqlite::Result<()> {
        self.conn.busy_timeout(options.busy_timeout)?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("journal mode is {mode}, WAL needed")),
            ));
        }
        // FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on power loss, and a
        // ticket number may already be on paper.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        migrations()
            .to_latest(&mut self.conn)
            .map_err(|e| match e {
                rusqlite_migration::Error::RusqliteError { err, .. } => {
                    StoreError::classify(err, &path)
                }
                other => StoreError::Migration(other.to_string()),
            })?;
        self.conn
            .pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(|e| self.err(e))
    }

    fn ensure_identity(&self, options: &StoreOptions) -> rusqlite::Result<()> {
        let device_id = options
            .device_id
            .clone()
            .unwrap_or_else(|| format!("unenrolled-{}", uuid::Uuid::now_v7()));
        let id = uuid::Uuid::now_v7().to_string();
        self.conn.execute(
            "INSERT INTO device_identity (id, device_id, incarnation, log_id, created_at)
             VALUES (1, ?1, ?2, ?2, ?3) ON CONFLICT (id) DO NOTHING",
            params![device_id, id, ts(Utc::now())],
        )?;
        Ok(())
    }

    pub(crate) fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::classify(e, &self.path)
    }

    /// Sets how many WAL pages make this connection checkpoint at commit (0: never; then
    /// [`checkpoint_passive`] must run elsewhere, or the WAL grows without bound).
    pub fn set_wal_autocheckpoint(&self, pages: u32) -> Result<(), StoreError> {
        self.conn
            .query_row(&format!("PRAGMA wal_autocheckpoint = {pages}"), [], |_| {
                Ok(())
            })
            .map_err(|e| self.err(e))
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Device id and incarnation.
    pub fn device(&self) -> Result<DeviceIdentity, StoreError> {
        self.conn
            .query_row(
                "SELECT device_id, incarnation, coalesce(log_id, incarnation) FROM device_identity WHERE id = 1",
                [],
                |r| {
                    Ok(DeviceIdentity {
                        device_id: r.get(0)?,
                        incarnation: r.get(1)?,
                        log_id: r.get(2)?,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    /// Outbox rows not yet acknowledged, oldest first.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, op_id, kind, payload FROM outbox
                 WHERE state = 'pending' ORDER BY seq LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(OutboxRow {
                    seq: r.get(0)?,
                    op_id: r.get(1)?,
                    kind: r.get(2)?,
                    payload: r.get(3)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.err(e))
    }

    /// Marks every pending row up to `seq` as acknowledged by the hub.
    pub fn outbox_ack_through(&mut self, seq: i64) -> Result<usize, StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET state = 'acked' WHERE state = 'pending' AND seq <= ?1",
                [seq],
            )
            .map_err(|e| self.err(e))
    }

    /// Number of rows waiting to be pushed.
    pub fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Removes pseudonymous person keys older than the retention period. Returns how many
    /// values were erased.
    pub fn purge_person_keys(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = now - chrono::Duration::days(PERSON_KEY_RETENTION_DAYS);
        let cutoff_local = cutoff.with_timezone(&domain::TIME_ZONE).naive_local();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &self.path))?;
        let purged = (|| {
            let a = tx.execute(
                "UPDATE ticket SET person_key = NULL
                 WHERE person_key IS NOT NULL AND issued_at < ?1",
                [ts(cutoff)],
            )?;
            let b = tx.execute(
                "UPDATE appointment SET person_key = NULL
                 WHERE person_key IS NOT NULL AND starts_at < ?1",
                [local_ts(cutoff_local)],
            )?;
            tx.commit()?;
            Ok(a + b)
        })();
        purged.map_err(|e: rusqlite::Error| StoreError::classify(e, &self.path))
    }

    /// Forgets what the kiosk no longer needs: operations the hub acknowledged a month ago (it
    /// answers a retry from its own store within minutes, and a month covers sending them
    /// again to a hub restored from its last backup; a rejected one is kept 90 days for
    /// whoever looks into it), queue events and print records of days more than 90 days
    /// past (the hub has the events, the day's figures are kept apart; the latest numbering
    /// day is never touched, since the queue is rebuilt from it), and tickets and
    /// appointments after 13 months, like the hub's queue events. Returns how many rows went.
    pub fn purge_history(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let today = now.with_timezone(&domain::TIME_ZONE).date_naive();
        let days_ago = |n: i64| day(today - chrono::Duration::days(n));
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &self.path))?;
        let purged = (|| {
            let mut n = tx.execute(
                "DELETE FROM outbox WHERE state = 'acked' AND created_at < ?1",
                [ts(now - chrono::Duration::days(OUTBOX_ACKED_DAYS))],
            )?;
            n += tx.execute(
                "DELETE FROM outbox WHERE state = 'rejected' AND created_at < ?1",
                [ts(now - chrono::Duration::days(HISTORY_DAYS))],
            )?;
            n += tx.execute(
                "DELETE FROM queue_event WHERE business_day < ?1
                   AND seq < (SELECT coalesce(max(seq), 0) FROM queue_event
                              WHERE kind = 'day_opened')",
                [days_ago(HISTORY_DAYS)],
            )?;
            n += tx.execute(
                "DELETE FROM ticket_print WHERE business_day < ?1",
                [days_ago(HISTORY_DAYS)],
            )?;
            // What the node never took stays until someone has looked (it is shown to staff).
            n += tx.execute(
                "DELETE FROM offline_ticket WHERE business_day < ?1 AND handed_at IS NOT NULL",
                [days_ago(HISTORY_DAYS)],
            )?;
            n += tx.execute(
                "DELETE FROM lease WHERE business_day < ?1",
                [days_ago(HISTORY_DAYS)],
            )?;
            n += tx.execute(
                "DELETE FROM ticket WHERE business_day < ?1",
                [days_ago(RECORD_DAYS)],
            )?;
            n += tx.execute(
                "DELETE FROM appointment WHERE starts_at < ?1
                   AND booking_id NOT IN (SELECT booking_id FROM ticket
                                          WHERE booking_id IS NOT NULL)",
                [days_ago(RECORD_DAYS)],
            )?;
            tx.commit()?;
            Ok(n)
        })();
        purged.map_err(|e: rusqlite::Error| StoreError::classify(e, &self.path))
    }

    /// Runs the daily jobs that have not run yet on the clock's local day. Returns the names of
    /// the jobs that ran.
    pub fn run_daily_jobs(&mut self, clock: &dyn Clock) -> Result<Vec<&'static str>, StoreError> {
        const PURGE: &str = "purge";
        let today = day(clock.today());
        let last: Option<String> = self
            .conn
            .query_row(
                "SELECT last_run_day FROM job_run WHERE job = ?1",
                [PURGE],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        if last.as_deref().is_some_and(|l| l >= today.as_str()) {
            return Ok(vec![]);
        }
        let keys = self.purge_person_keys(clock.now())?;
        let rows = self.purge_history(clock.now())?;
        self.conn
            .execute(
                "INSERT INTO job_run (job, last_run_day) VALUES (?1, ?2)
                 ON CONFLICT (job) DO UPDATE SET last_run_day = excluded.last_run_day",
                params![PURGE, today],
            )
            .map_err(|e| self.err(e))?;
        tracing::info!(job = PURGE, keys, rows, "daily job ran");
        Ok(vec![PURGE])
    }

    /// Lets tests and operators cap the file size (`PRAGMA max_page_count`), which is how a
    /// full disk is simulated.
    pub fn set_max_page_count(&self, pages: u64) -> Result<u64, StoreError> {
        self.conn
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Makes this connection refuse writes, as when the card is remounted read-only.
    pub fn set_query_only(&self, on: bool) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "query_only", on)
            .map_err(|e| self.err(e))
    }
}

/// Copies committed WAL frames into the database file from a connection of its own, without
/// waiting for or blocking the writer (`PRAGMA wal_checkpoint(PASSIVE)`). Returns the frames in
/// the WAL and those checkpointed.
pub fn checkpoint_passive(path: &Path) -> Result<(i64, i64), StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|e| StoreError::classify(e, path))?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
    .map_err(|e| StoreError::classify(e, path))
}

/// Reads the header of an existing file without writing to it, and refuses files that are not
/// ours, are damaged, or come from a newer version.
fn inspect_existing(path: &Path) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::classify(e, path))?;
    let read = || -> rusqlite::Result<(i32, i64, i64)> {
        let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        Ok((app, version, tables))
    };
    let (app, version, tables) = read().map_err(|e| StoreError::classify(e, path))?;
    if app != APPLICATION_ID && (app != 0 || tables > 0) {
        return Err(StoreError::Foreign {
            path: path.to_owned(),
        });
    }
    if version as usize > schema_version() {
        return Err(StoreError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: schema_version(),
        });
    }
    Ok(())
}

/// A stored value that does not decode: reported as an SQLite conversion failure.
pub(crate) fn conversion<E: std::error::Error + Send + Sync + 'static>(e: E) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// A stored value outside its domain, named by `what`.
pub(crate) fn invalid(what: &str) -> rusqlite::Error {
    conversion(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        what.to_owned(),
    ))
}

/// Fixed-width UTC timestamp, so that text comparison is time comparison.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(conversion)
}

pub(crate) fn local_ts(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

pub(crate) fn parse_local_ts(s: &str) -> rusqlite::Result<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").map_err(conversion)
}

pub(crate) fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_day(s: &str) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(conversion)
}
