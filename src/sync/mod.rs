//! Sync protocol types shared by the kiosk and the hub (see `sync.md`): what an outbox row
//! carries. The agent and the hub endpoints land with the hub.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{BookingId, TicketNumber, TicketPriority};

/// Version of the operation payloads this build writes.
pub const OP_SCHEMA_VERSION: u32 = 1;

/// An operation the branch node records and pushes to the hub. Payloads are additive within a
/// schema version: readers ignore fields they do not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Op {
    /// A ticket was issued (walk-in or priority).
    TicketIssued(TicketFact),
    /// An appointment was checked in and its ticket issued.
    CheckedIn {
        /// The booking.
        booking: BookingId,
        /// The ticket issued for it.
        ticket: TicketFact,
    },
}

impl Op {
    /// The `kind` column of the outbox.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::TicketIssued(_) => "ticket_issued",
            Op::CheckedIn { .. } => "checked_in",
        }
    }
}

/// The facts of an issued ticket, as the hub receives them. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFact {
    /// Number printed.
    pub number: TicketNumber,
    /// Numbering day.
    pub business_day: NaiveDate,
    /// Entry path.
    pub priority: TicketPriority,
    /// Device time of issue (audit only: never used to order across devices).
    pub issued_at: DateTime<Utc>,
    /// Whether the device clock was trusted at issue.
    pub clock_trusted: bool,
}
