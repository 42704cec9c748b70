//! The kiosk store over real SQLite files: opening, replica, and every way a file can be refused.
//! Tickets, check-ins and the queue's writes are in `tests/branch.rs`.

use std::path::Path;

use chrono::{TimeZone, Utc};
use demo::DemoBranch;
use domain::{Clock, ManualClock};
use store::{Store, StoreError, StoreOptions};

fn clock() -> ManualClock {
    // 10:03 in Rome.
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 26, 9, 3, 0).unwrap())
}

fn open(path: &Path) -> Store {
    Store::open(path, &StoreOptions::default()).expect("store opens")
}

fn seeded(path: &Path, clock: &ManualClock) -> (Store, DemoBranch) {
    let mut store = open(path);
    let branch = DemoBranch::generate(5, clock.local_now().naive_local());
    store.apply_replica(&branch.replica()).unwrap();
    (store, branch)
}

#[test]
fn pragmas_give_durability() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, store::APPLICATION_ID);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, store::schema_version());
    let files = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/kiosk"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(
        store::schema_version(),
        files,
        "every migration file is applied"
    );
    // Reopening is a no-op and keeps the identity.
    let a = open(&path).device().unwrap();
    let b = open(&path).device().unwrap();
    assert_eq!(a, b);
}

#[test]
fn replica_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let (store, branch) = seeded(&dir.path().join("k.sqlite"), &clock);
    assert_eq!(store.sede().unwrap(), Some(branch.sede.clone()));
    assert_eq!(store.services().unwrap(), branch.services);
    assert_eq!(store.counters().unwrap(), branch.counters);
    assert_eq!(store.opening_hours().unwrap().len(), branch.hours.len());
    let today: Vec<_> = branch
        .appointments
        .iter()
        .map(|a| a.appointment.clone())
        .collect();
    assert_eq!(store.appointments_on(clock.today()).unwrap(), today);
    assert_eq!(
        store.verifying_keys().unwrap(),
        branch.replica().verifying_keys
    );
}

fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_corrupt_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, just some bytes that look like nothing".repeat(100),
    )
    .unwrap();
    let before = file_bytes(&path);
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("left untouched"));
    assert_eq!(file_bytes(&path), before);
    assert!(!dir.path().join("k.sqlite-wal").exists());
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.sqlite");
    drop(open(&path));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .unwrap();
    }
    let before = file_bytes(&path);
    let err = Store::open(&path, &StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("update Sportello"));
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
            .unwrap();
    }
    let before = file_bytes(&path);
    assert!(matches!(
        Store::open(&path, &StoreOptions::default()),
        Err(StoreError::Foreign { .. })
    ));
    assert_eq!(file_bytes(&path), before);
}

#[test]
fn a_read_only_directory_is_refused_at_open() {
    // As root, file permissions do not stop writes; a file on a read-only mount does. A path
    // under /proc cannot be created by anyone: the store must say why it cannot open.
    let err = Store::open(
        Path::new("/proc/sportello-test/k.sqlite"),
        &StoreOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::Sqlite { .. } | StoreError::ReadOnly { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("/proc/sportello-test/k.sqlite"));
}
