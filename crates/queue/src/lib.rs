//! The branch queue: a sans-IO engine (commands and the time in, events out), its rules and
//! calendar, daily figures and the wait estimate.
//!
//! The branch node is the one sequencer of its branch's queue: every
//! command goes through one [`Queue`], so two counters can never be given the same ticket.

mod engine;
mod error;
pub mod estimate;
mod events;
mod figures;
mod rules;
mod ticket;

pub use engine::{
    Assistance, CallRecord, CounterState, CounterStatus, Lease, Now, Queue, local_to_utc,
};
pub use error::QueueError;
pub use events::{
    CancelReason, Command, DayTakeOver, DeviceAlert, Event, EventKind, OfflineTicket,
};
pub use figures::{
    CounterFigures, CounterSpan, DailyFigures, PauseFigures, ServiceFigures, SpanKind, percentile,
};
pub use rules::{Calendar, Closed, DEFAULT_PAUSE_REASONS, MAX_PAUSE_REASON, QueueRules};
pub use ticket::QueuedTicket;
