//! What the kiosks and the hub say to each other: the operations a branch pushes from its
//! outbox ([`Op`]), the signed requests and the branch feed ([`wire`]), the full copy of a
//! branch the hub publishes ([`replica`]) and the company summary of *Il mio Cassetto*
//! ([`cassetto`]); and what a kiosk says to its branch's node over the LAN ([`lan`]).
//!
//! Plain data and the rules of its format: both ends build on these types, so a change here
//! is a change of the protocol. Nothing here does I/O, holds a connection or knows SQLite,
//! PostgreSQL or HTTP servers.

pub mod cassetto;
pub mod lan;
pub mod replica;
pub mod wire;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use queue::Event;

/// Version of the operation payloads this build writes.
pub const OP_SCHEMA_VERSION: u32 = 2;

/// An operation the branch node records and pushes to the hub. Payloads are additive within a
/// schema version: readers ignore fields they do not know. No personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// A queue event (tickets, check-ins, calls, counters, alerts) from the branch's log.
    Queue {
        /// Its sequence in the branch's event log.
        seq: i64,
        /// The numbering day.
        business_day: NaiveDate,
        /// The event.
        event: Event,
    },
}

impl Op {
    /// The `kind` column of the outbox.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Queue { event, .. } => event.kind.name(),
        }
    }
}
