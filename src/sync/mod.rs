//! Sync protocol types shared by the kiosk and the hub (see `sync.md`): what an outbox row
//! carries, and the wire format (`wire`).

pub mod agent;
pub mod client;
pub mod wire;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::queue::Event;

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
