//! What a kiosk and its branch node say over the sede's LAN (`/node/v1/…`). Requests are
//! signed like the hub's ([`crate::wire::signing_message`], with the kiosk's enrolment key)
//! over TLS to the node's pinned certificate key; the node checks them against the branch's
//! devices as the hub's feed lists them.
//!
//! Online, a kiosk's tickets are numbered by the node. While the node cannot be reached the
//! kiosk numbers from blocks the node leased to it ahead, keeps what it printed, and hands it
//! over with its next [`SyncRequest`].

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use domain::{BookingId, ServiceLetter, Ticket, TicketNumber, TicketPriority};
use queue::OfflineTicket;
use queue::estimate::WaitRange;

/// `POST`: a walk-in or priority ticket.
pub const ISSUE: &str = "/node/v1/issue";
/// `POST`: a check-in.
pub const CHECK_IN: &str = "/node/v1/check-in";
/// `POST`: *chiama un operatore*.
pub const ASSIST: &str = "/node/v1/assist";
/// `POST`: leases, tickets printed while cut off, the kiosk's health.
pub const SYNC: &str = "/node/v1/sync";

/// The largest body the node reads from a kiosk: a sync hands over at most
/// [`MAX_HANDED`] tickets.
pub const MAX_BODY: usize = 256 * 1024;
/// Tickets handed over in one sync; more wait for the next.
pub const MAX_HANDED: usize = 200;
/// Requests a kiosk gave up on, reported in one sync; older ones are forgotten.
pub const MAX_ABANDONED: usize = 100;
/// The longest request id the node keeps.
pub const MAX_REQUEST_ID: usize = 64;

/// [`ISSUE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRequest {
    /// Service.
    pub service: ServiceLetter,
    /// Entry path.
    pub priority: TicketPriority,
    /// The kiosk's id for this request (at most [`MAX_REQUEST_ID`] bytes): named again in
    /// [`SyncRequest::abandoned`] when its answer never came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

/// [`CHECK_IN`]: the kiosk checked the booking token's signature, sede and time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInRequest {
    /// The booking.
    pub booking: BookingId,
    /// Who checked in: the pseudonymous person key, hex.
    pub person: Option<String>,
}

/// A ticket the node issued (or, for a booking checked in before, issued again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The ticket.
    pub ticket: Ticket,
    /// A booking checked in before: the same ticket, to print again.
    pub reprint: bool,
    /// People ahead of it.
    pub ahead: u32,
    /// The estimated wait.
    pub wait: WaitRange,
}

/// The node refused: why, as the visitor reads it (the message's template and values, so the
/// kiosk shows it in the visitor's language). Sent with `422`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Catalogue key.
    pub key: String,
    /// The Italian template.
    pub template: String,
    /// Its values.
    pub args: Vec<String>,
}

impl Refusal {
    /// The refusal of a message.
    pub fn of(key: &str, message: &i18n::Message) -> Self {
        Self {
            key: key.to_owned(),
            template: message.template().to_owned(),
            args: message.args().to_vec(),
        }
    }

    /// The message again.
    pub fn message(&self) -> i18n::Message {
        i18n::Message::received(&self.template, self.args.clone())
    }
}

/// A ticket the kiosk printed from its lease, handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handed {
    /// The numbering day of its lease.
    pub business_day: NaiveDate,
    /// The ticket.
    pub ticket: OfflineTicket,
    /// Who checked in (pseudonymous person key, hex).
    pub person: Option<String>,
}

/// How a kiosk is, as its node shows it to staff.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KioskHealth {
    /// Printer state (`ready`, `paper_low`, `paper_out`, `cover_open`, `offline`).
    pub printer: String,
    /// Scanner state (`present`, `gone`).
    pub scanner: String,
    /// Whether the kiosk's clock is verified.
    pub clock_trusted: bool,
    /// The kiosk's version.
    pub version: String,
}

/// [`SYNC`]: what the kiosk has left of its leases, what it printed while cut off, and how
/// it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The day the kiosk's leases are for.
    pub day: Option<NaiveDate>,
    /// Numbers left, per service, of that day's leases.
    pub left: BTreeMap<ServiceLetter, u16>,
    /// Tickets printed while cut off, oldest first, at most [`MAX_HANDED`].
    pub handed: Vec<Handed>,
    /// [`IssueRequest::request`]s the kiosk gave up on (sent, no answer in time): a ticket the
    /// node issued for one was never printed. At most [`MAX_ABANDONED`].
    pub abandoned: Vec<String>,
    /// Health.
    pub health: KioskHealth,
}

/// A block of numbers leased to the kiosk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Service.
    pub service: ServiceLetter,
    /// First number.
    pub first: u16,
    /// Last number, included.
    pub last: u16,
}

/// What became of a ticket handed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Taken {
    /// It waits in the queue by the time it was printed (or was taken before).
    Taken {
        /// The ticket.
        ticket: TicketNumber,
    },
    /// Its booking was checked in elsewhere first: it waits under that ticket.
    Duplicate {
        /// The ticket.
        ticket: TicketNumber,
        /// The booking's ticket.
        first: TicketNumber,
    },
    /// The node cannot take it (a number not leased to this kiosk, or another ticket's):
    /// kept at the kiosk and shown to staff.
    Refused {
        /// The ticket.
        ticket: TicketNumber,
        /// Why.
        reason: String,
    },
}

/// The node's answer to a [`SyncRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The node's numbering day; leases are for it.
    pub day: Option<NaiveDate>,
    /// New blocks.
    pub leases: Vec<Block>,
    /// What became of each ticket handed over, in order.
    pub taken: Vec<Taken>,
    /// People waiting per service now, for the kiosk's screens.
    #[serde(default)]
    pub waiting: BTreeMap<ServiceLetter, u32>,
}
