//! Store errors, written for the operator who reads them.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

use domain::UserMessage;

/// Why the store refused or failed an operation. Nothing already committed is lost in any case.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not an SQLite database or is damaged.
    #[error("{}: the file is damaged or is not a Sportello database; it was left untouched (restore it from a backup or move it away)", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
    },
    /// An SQLite database of another program.
    #[error("{}: this SQLite file belongs to another program; it was left untouched", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// Written by a newer Sportello.
    #[error("{}: the database has schema version {found}, newer than the {supported} this version knows; it was left untouched (update Sportello)", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        supported: usize,
    },
    /// No space left (disk full or size cap reached).
    #[error("{}: the disk is full; the operation was not saved, earlier data is intact", path.display())]
    DiskFull {
        /// The file.
        path: PathBuf,
    },
    /// The file or its medium is read-only.
    #[error("{}: the database is read-only (file permissions, or the card was remounted read-only); the operation was not saved", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// Another connection held a lock for longer than the busy timeout.
    #[error("{}: the database stayed busy; try again", path.display())]
    Busy {
        /// The file.
        path: PathBuf,
    },
    /// A migration could not be defined or applied.
    #[error("schema migration failed: {0}")]
    Migration(String),
    /// Any other SQLite failure.
    #[error("{}: database error: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Maps an SQLite error to the case an operator can act on.
    pub(crate) fn classify(e: rusqlite::Error, path: &Path) -> StoreError {
        let path = path.to_owned();
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt { path }
            }
            _ => StoreError::Sqlite { path, source: e },
        }
    }
}

impl UserMessage for StoreError {
    fn message_key(&self) -> &'static str {
        match self {
            StoreError::Corrupt { .. } => "store-corrupt",
            StoreError::Foreign { .. } => "store-foreign",
            StoreError::NewerSchema { .. } => "store-newer-schema",
            StoreError::DiskFull { .. } => "store-disk-full",
            StoreError::ReadOnly { .. } => "store-read-only",
            StoreError::Busy { .. } => "store-busy",
            StoreError::Migration(_) => "store-migration",
            StoreError::Sqlite { .. } => "store-error",
        }
    }
}
