//! A ticket as the queue holds it today: the read model the engine changes and the figures
//! and estimates read.

use chrono::{DateTime, Utc};

use super::rules::QueueRules;
use domain::{BookingId, CounterNumber, ServiceLetter, TicketNumber, TicketPriority, TicketState};

/// A ticket in today's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedTicket {
    /// Printed number (kept across transfers).
    pub number: TicketNumber,
    /// The service whose queue it is in now.
    pub service: ServiceLetter,
    /// Entry path.
    pub priority: TicketPriority,
    /// Checked-in booking.
    pub booking: Option<BookingId>,
    /// State.
    pub state: TicketState,
    /// Issued at.
    pub issued_at: DateTime<Utc>,
    /// Callable from.
    pub eligible_at: DateTime<Utc>,
    /// Wait counted from (ordering).
    pub wait_from: DateTime<Utc>,
    /// Issued with a trusted clock.
    pub clock_trusted: bool,
    /// Recalls of the current call.
    pub recalls: u8,
    /// First call.
    pub first_called_at: Option<DateTime<Utc>>,
    /// Latest call or recall.
    pub last_called_at: Option<DateTime<Utc>>,
    /// The current call (a recall does not change it).
    pub called_at: Option<DateTime<Utc>>,
    /// The current call had its call after the visitor's grace ran out.
    pub grace_recalled: bool,
    /// Recalls over the day, across calls.
    pub recalls_total: u16,
    /// Service start.
    pub started_at: Option<DateTime<Utc>>,
    /// Served, cancelled or marked absent at.
    pub finished_at: Option<DateTime<Utc>>,
    /// The counter that served or called it last.
    pub counter: Option<CounterNumber>,
    /// The kiosk that issued it, when the branch has several.
    pub kiosk: Option<String>,
    /// Issued from a kiosk's lease while that kiosk was cut off from the node.
    pub offline: bool,
}

impl QueuedTicket {
    /// Priority ticket (counts against the consecutive-priority cap).
    pub fn is_priority(&self) -> bool {
        matches!(self.priority, TicketPriority::Priority(_))
    }

    /// Waiting to be called (and callable at `now`).
    pub fn is_waiting(&self, now: DateTime<Utc>) -> bool {
        self.state == TicketState::Issued && self.eligible_at <= now
    }

    /// Seconds this ticket's claim is worth at a counter with `weight` for its service: the
    /// calling order takes the largest.
    pub fn score(&self, rules: &QueueRules, weight: u8, now: DateTime<Utc>) -> i64 {
        let waited = (now - self.wait_from).num_seconds().max(0);
        let aging = if self.is_priority() {
            (waited * i64::from(rules.priority_factor.saturating_sub(1)))
                .min(i64::from(rules.priority_max_advance_min) * 60)
        } else {
            0
        };
        let weight = i64::from(weight.saturating_sub(1)) * i64::from(rules.weight_step_min) * 60;
        waited + aging + weight
    }
}
