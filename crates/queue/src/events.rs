//! What the queue engine takes in (commands) and gives out (events).
//!
//! Events are facts: they are stored in the append-only event log, sent to staff consoles and
//! hall displays over server-sent events, and pushed to the hub. Replaying a day's events
//! rebuilds the engine's state exactly.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::figures::DailyFigures;
use domain::{BookingId, CounterNumber, ServiceLetter, TicketNumber, TicketPriority};

/// Something staff, a kiosk or a job asks of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Issue a ticket; with a booking, it is the ticket of a checked-in appointment.
    Issue {
        /// Service.
        service: ServiceLetter,
        /// Entry path.
        priority: TicketPriority,
        /// The booking and its booked local time, for appointments.
        booking: Option<(BookingId, NaiveDateTime)>,
        /// The kiosk it is issued at, when the branch has several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kiosk: Option<String>,
    },
    /// Set numbers aside for a kiosk to issue from while it cannot reach the branch node.
    Lease {
        /// The kiosk (its device id).
        kiosk: String,
        /// Service.
        service: ServiceLetter,
        /// How many numbers; fewer are given when the day's numbers run out.
        count: u16,
    },
    /// Take into the queue a ticket a kiosk issued from its lease while cut off from the node.
    Adopt(OfflineTicket),
    /// Go on with the day as the sede's previous node left it (a node that replaces one that
    /// died): only before this node has numbered anything today.
    TakeOver(DayTakeOver),
    /// Call the next ticket by the calling order.
    CallNext {
        /// Counter.
        counter: CounterNumber,
    },
    /// Call a chosen ticket out of order.
    Call {
        /// Counter.
        counter: CounterNumber,
        /// Ticket.
        ticket: TicketNumber,
    },
    /// Call the counter's current ticket again.
    Recall {
        /// Counter.
        counter: CounterNumber,
        /// Ticket the operator sees as current: a stale page is refused.
        ticket: TicketNumber,
    },
    /// The visitor did not come.
    NoShow {
        /// Counter.
        counter: CounterNumber,
        /// Ticket.
        ticket: TicketNumber,
    },
    /// Put an absent ticket back in the queue, in its place.
    Reactivate {
        /// Ticket.
        ticket: TicketNumber,
    },
    /// Send the ticket to another service's queue, keeping its place.
    Transfer {
        /// Counter.
        counter: CounterNumber,
        /// Ticket.
        ticket: TicketNumber,
        /// Destination service.
        to: ServiceLetter,
    },
    /// The visitor reached the counter.
    Start {
        /// Counter.
        counter: CounterNumber,
        /// Ticket.
        ticket: TicketNumber,
    },
    /// Service finished.
    Serve {
        /// Counter.
        counter: CounterNumber,
        /// Ticket.
        ticket: TicketNumber,
    },
    /// A kiosk never had the answer to the walk-in it asked for: withdraw that ticket if it
    /// still waits (nobody holds its paper).
    Unanswered {
        /// The kiosk that asked.
        kiosk: String,
        /// The ticket the node issued for it.
        ticket: TicketNumber,
    },
    /// Withdraw a waiting ticket.
    Cancel {
        /// Ticket.
        ticket: TicketNumber,
    },
    /// Open a counter for some of its configured services.
    OpenCounter {
        /// Counter.
        counter: CounterNumber,
        /// Services chosen; empty means all configured ones.
        services: Vec<ServiceLetter>,
        /// Staff user name.
        operator: String,
    },
    /// Pause a counter: it calls no one until opened again.
    PauseCounter {
        /// Counter.
        counter: CounterNumber,
        /// One of the sede's pause reasons.
        #[serde(default)]
        reason: String,
    },
    /// The clock moved on: call once more, by the node itself, every visitor whose grace to
    /// reach the counter ran out without a call after it.
    RecallDue,
    /// Close a counter.
    CloseCounter {
        /// Counter.
        counter: CounterNumber,
    },
    /// Close the day: compute the figures and move tickets to history.
    CloseDay,
    /// A device needs attention.
    RaiseAlert {
        /// What.
        alert: DeviceAlert,
    },
    /// A device recovered.
    ClearAlert {
        /// What.
        alert: DeviceAlert,
    },
    /// A visitor pressed *chiama un operatore*.
    RequestAssistance {
        /// Which kiosk.
        kiosk: String,
    },
    /// Staff took the request.
    AnswerAssistance {
        /// Request id.
        id: u32,
        /// Staff user name.
        operator: String,
    },
}

/// A ticket a kiosk printed from its leased numbers while it could not reach the branch node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineTicket {
    /// The kiosk (its device id).
    pub kiosk: String,
    /// The number printed, from a block leased to that kiosk.
    pub ticket: TicketNumber,
    /// Entry path.
    pub priority: TicketPriority,
    /// The booking and its booked local time, for a check-in.
    pub booking: Option<(BookingId, NaiveDateTime)>,
    /// When the kiosk printed it, by the kiosk's clock.
    pub issued_at: DateTime<Utc>,
    /// Whether the kiosk's clock was trusted then.
    pub clock_trusted: bool,
    /// The kiosk had asked the node for this visitor first and the answer never came (the
    /// request may have reached the node, which then issued a ticket nobody printed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unanswered: bool,
}

/// The day as the sede's previous node left it, from the hub's copy of that node's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayTakeOver {
    /// The previous node (its device id).
    pub from: String,
    /// The last number it gave or leased, per service: numbering goes on after them.
    pub last: std::collections::BTreeMap<ServiceLetter, u16>,
    /// Its leases: what the kiosks print from them is still taken in.
    pub leases: Vec<crate::Lease>,
    /// The tickets still open, as it issued them (`ticket_issued` events): they wait here in
    /// their places.
    pub open: Vec<Event>,
}

/// A device fault shown on the staff console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceAlert {
    /// The printer's roll is nearly finished.
    PrinterPaperLow,
    /// The printer has no paper.
    PrinterOutOfPaper,
    /// The printer's cover is open.
    PrinterCoverOpen,
    /// The printer does not answer.
    PrinterOffline,
    /// The QR scanner is disconnected.
    ScannerGone,
    /// The kiosk's clock is not verified.
    ClockUntrusted,
}

impl DeviceAlert {
    /// Italian text for staff.
    pub fn text(self) -> &'static str {
        match self {
            Self::PrinterPaperLow => "Carta della stampante in esaurimento",
            Self::PrinterOutOfPaper => "Stampante senza carta",
            Self::PrinterCoverOpen => "Sportello della stampante aperto",
            Self::PrinterOffline => "Stampante non raggiungibile",
            Self::ScannerGone => "Lettore QR scollegato",
            Self::ClockUntrusted => "Orologio del chiosco non verificato",
        }
    }
}

/// Why a ticket left the queue without being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Staff withdrew it.
    Staff,
    /// The day closed with the ticket still open.
    DayClosed,
    /// A second ticket for a booking already in the queue: a kiosk cut off from the node
    /// checked it in again. The booking waits once, under its first ticket.
    Duplicate,
    /// A booking's ticket whose answer never reached the kiosk that asked for it: that kiosk
    /// gave up on the node and printed one from its lease, which takes its place.
    Replaced,
    /// A walk-in whose answer never reached the kiosk that asked for it: nobody holds it.
    Unanswered,
}

/// A fact, with the time it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When, by the branch node's clock.
    pub at: DateTime<Utc>,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A numbering day began.
    DayOpened {
        /// The day.
        day: NaiveDate,
    },
    /// The day closed.
    DayClosed {
        /// Figures of the day.
        figures: Box<DailyFigures>,
    },
    /// A ticket was issued.
    TicketIssued {
        /// Number.
        ticket: TicketNumber,
        /// Entry path.
        priority: TicketPriority,
        /// The checked-in booking.
        booking: Option<BookingId>,
        /// When it may be called (an appointment: not before its booked time).
        eligible_at: DateTime<Utc>,
        /// Where its wait is counted from (an appointment: its booked time).
        wait_from: DateTime<Utc>,
        /// Whether the clock was trusted.
        clock_trusted: bool,
        /// Tickets of its service ahead of it when it was issued (wait-estimate history).
        #[serde(default)]
        ahead: u32,
        /// The kiosk that issued it, when the branch has several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kiosk: Option<String>,
        /// Set when a kiosk issued it from its lease while cut off from the node: when, by
        /// the kiosk's clock (the event's own time is when the node took it in).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offline_at: Option<DateTime<Utc>>,
    },
    /// This node took the day over from the sede's previous one.
    DayTakenOver(DayTakeOver),
    /// Numbers set aside for a kiosk to issue while cut off from the node: the node itself
    /// never gives them.
    NumbersLeased {
        /// The kiosk (its device id).
        kiosk: String,
        /// Service.
        service: ServiceLetter,
        /// First number of the block.
        first: u16,
        /// Last number of the block, included.
        last: u16,
    },
    /// A ticket was called to a counter (a first call, or a call after a transfer or
    /// reactivation).
    TicketCalled {
        /// Ticket.
        ticket: TicketNumber,
        /// Counter.
        counter: CounterNumber,
        /// Called out of order by staff's choice.
        chosen: bool,
        /// Took a priority slot at that counter (counts against the cap).
        priority_slot: bool,
    },
    /// The current ticket was called again.
    TicketRecalled {
        /// Ticket.
        ticket: TicketNumber,
        /// Counter.
        counter: CounterNumber,
        /// Recalls so far, this one included.
        recalls: u8,
        /// Called again by the node at the end of the visitor's grace, not by staff.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        automatic: bool,
    },
    /// The visitor did not come.
    TicketNoShow {
        /// Ticket.
        ticket: TicketNumber,
        /// Counter.
        counter: CounterNumber,
        /// Marked by the recall limit rather than by staff.
        automatic: bool,
    },
    /// An absent ticket is back in the queue.
    TicketReactivated {
        /// Ticket.
        ticket: TicketNumber,
    },
    /// A ticket moved to another service's queue.
    TicketTransferred {
        /// Ticket.
        ticket: TicketNumber,
        /// From which counter.
        counter: CounterNumber,
        /// To which service.
        to: ServiceLetter,
    },
    /// The visitor reached the counter.
    ServiceStarted {
        /// Ticket.
        ticket: TicketNumber,
        /// Counter.
        counter: CounterNumber,
    },
    /// Served.
    TicketServed {
        /// Ticket.
        ticket: TicketNumber,
        /// Counter.
        counter: CounterNumber,
    },
    /// Withdrawn.
    TicketCancelled {
        /// Ticket.
        ticket: TicketNumber,
        /// Why.
        reason: CancelReason,
    },
    /// A counter opened.
    CounterOpened {
        /// Counter.
        counter: CounterNumber,
        /// Services and weights it calls from.
        services: Vec<(ServiceLetter, u8)>,
        /// Staff user name.
        operator: String,
    },
    /// A counter paused.
    CounterPaused {
        /// Counter.
        counter: CounterNumber,
        /// Why, in the sede's words (empty in a log written before reasons existed).
        #[serde(default)]
        reason: String,
    },
    /// A counter closed.
    CounterClosed {
        /// Counter.
        counter: CounterNumber,
    },
    /// A device needs attention.
    AlertRaised {
        /// What.
        alert: DeviceAlert,
    },
    /// A device recovered.
    AlertCleared {
        /// What.
        alert: DeviceAlert,
    },
    /// A visitor asked for help.
    AssistanceRequested {
        /// Request id.
        id: u32,
        /// Kiosk.
        kiosk: String,
    },
    /// Staff took the request.
    AssistanceAnswered {
        /// Request id.
        id: u32,
        /// Staff user name.
        operator: String,
    },
}

impl EventKind {
    /// Stable name, as in the JSON `type` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DayOpened { .. } => "day_opened",
            Self::DayClosed { .. } => "day_closed",
            Self::TicketIssued { .. } => "ticket_issued",
            Self::NumbersLeased { .. } => "numbers_leased",
            Self::DayTakenOver(_) => "day_taken_over",
            Self::TicketCalled { .. } => "ticket_called",
            Self::TicketRecalled { .. } => "ticket_recalled",
            Self::TicketNoShow { .. } => "ticket_no_show",
            Self::TicketReactivated { .. } => "ticket_reactivated",
            Self::TicketTransferred { .. } => "ticket_transferred",
            Self::ServiceStarted { .. } => "service_started",
            Self::TicketServed { .. } => "ticket_served",
            Self::TicketCancelled { .. } => "ticket_cancelled",
            Self::CounterOpened { .. } => "counter_opened",
            Self::CounterPaused { .. } => "counter_paused",
            Self::CounterClosed { .. } => "counter_closed",
            Self::AlertRaised { .. } => "alert_raised",
            Self::AlertCleared { .. } => "alert_cleared",
            Self::AssistanceRequested { .. } => "assistance_requested",
            Self::AssistanceAnswered { .. } => "assistance_answered",
        }
    }

    /// A call the hall display announces: (ticket, counter).
    pub fn announcement(&self) -> Option<(TicketNumber, CounterNumber)> {
        match *self {
            Self::TicketCalled {
                ticket, counter, ..
            }
            | Self::TicketRecalled {
                ticket, counter, ..
            } => Some((ticket, counter)),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
