//! Queue tickets: numbers like `A023`, priorities and the ticket's states.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    BookingId, CounterNumber, PriorityCategory, ServiceLetter, TransitionError, UserMessage,
};

/// Why a ticket number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("il numero del biglietto è una lettera seguita da tre cifre, per esempio A023")]
pub struct TicketNumberError;

impl UserMessage for TicketNumberError {
    fn message_key(&self) -> &'static str {
        "ticket-number-invalid"
    }
}

/// A ticket number: the service letter and a daily counter from 1 to 999, printed `A023`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TicketNumber {
    letter: ServiceLetter,
    number: u16,
}

impl TicketNumber {
    /// Largest number of a day; the daily cap must stop issuing before it.
    pub const MAX: u16 = 999;

    /// Builds a number; `None` outside 1–999.
    pub fn new(letter: ServiceLetter, number: u16) -> Option<Self> {
        (1..=Self::MAX)
            .contains(&number)
            .then_some(Self { letter, number })
    }

    /// Parses `A023` (also `a23`).
    pub fn parse(input: &str) -> Result<Self, TicketNumberError> {
        let s = input.trim();
        let letter = ServiceLetter::from_byte(*s.as_bytes().first().ok_or(TicketNumberError)?)
            .ok_or(TicketNumberError)?;
        let digits = &s[1..];
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TicketNumberError);
        }
        Self::new(letter, digits.parse().map_err(|_| TicketNumberError)?).ok_or(TicketNumberError)
    }

    /// The service letter.
    pub fn letter(self) -> ServiceLetter {
        self.letter
    }

    /// The daily counter.
    pub fn number(self) -> u16 {
        self.number
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:03}", self.letter, self.number)
    }
}

impl fmt::Debug for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TicketNumber({self})")
    }
}

impl FromStr for TicketNumber {
    type Err = TicketNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TicketNumber {
    type Error = TicketNumberError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TicketNumber> for String {
    fn from(t: TicketNumber) -> Self {
        t.to_string()
    }
}

/// How a ticket entered the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "category", rename_all = "snake_case")]
pub enum TicketPriority {
    /// Accesso preferenziale, with the category recorded for audit.
    Priority(PriorityCategory),
    /// Checked-in appointment.
    Appointment,
    /// Walk-in.
    WalkIn,
}

impl TicketPriority {
    /// Stable name used in storage and sync payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketPriority::Priority(_) => "priority",
            TicketPriority::Appointment => "appointment",
            TicketPriority::WalkIn => "walk_in",
        }
    }
}

/// The states of a ticket.
///
/// ```text
/// Issued ──call──▶ Called(n) ──start──▶ InService ──▶ Served
///   │ ▲              │  │ └──recall──▶ Called(n)
///   │ └──requeue─────┘  └──no-show──▶ NoShow ──reactivate──▶ Issued
///   └──cancel──▶ Cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "counter", rename_all = "snake_case")]
pub enum TicketState {
    /// Emesso: waiting.
    Issued,
    /// Chiamato to a counter.
    Called(CounterNumber),
    /// The visitor reached the counter.
    InService(CounterNumber),
    /// Servito.
    Served,
    /// Assente: did not answer the calls.
    NoShow,
    /// Annullato.
    Cancelled,
}

impl TicketState {
    /// Stable name used in storage.
    pub fn name(self) -> &'static str {
        match self {
            TicketState::Issued => "issued",
            TicketState::Called(_) => "called",
            TicketState::InService(_) => "in_service",
            TicketState::Served => "served",
            TicketState::NoShow => "no_show",
            TicketState::Cancelled => "cancelled",
        }
    }

    /// True once nothing more can happen to the ticket today.
    pub fn is_final(self) -> bool {
        matches!(self, TicketState::Served | TicketState::Cancelled)
    }

    /// Moves to `to` when the state machine allows it.
    pub fn transition(self, to: TicketState) -> Result<TicketState, TransitionError> {
        use TicketState::*;
        let allowed = match (self, to) {
            (Issued, Called(_) | Cancelled) => true,
            // Recall to the same or another counter, or put back in the queue (transfer).
            (Called(_), Called(_) | Issued | NoShow | Cancelled) => true,
            (Called(a), InService(b)) => a == b,
            (InService(_), Served | Issued) => true,
            (NoShow, Issued) => true,
            _ => false,
        };
        if allowed {
            Ok(to)
        } else {
            Err(TransitionError {
                from: self.name(),
                to: to.name(),
            })
        }
    }
}

/// A ticket as the branch node issued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Number printed on the ticket.
    pub number: TicketNumber,
    /// The day whose numbering the ticket belongs to (Europe/Rome).
    pub business_day: NaiveDate,
    /// Entry path.
    pub priority: TicketPriority,
    /// The checked-in appointment, if any.
    pub booking: Option<BookingId>,
    /// Current state.
    pub state: TicketState,
    /// When it was issued, by the kiosk's clock.
    pub issued_at: DateTime<Utc>,
    /// Whether the kiosk's clock was trusted when the ticket was issued.
    pub clock_trusted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(n: u8) -> CounterNumber {
        CounterNumber::new(n).unwrap()
    }

    #[test]
    fn numbers_print_with_three_digits() {
        let a = ServiceLetter::parse("A").unwrap();
        assert_eq!(TicketNumber::new(a, 23).unwrap().to_string(), "A023");
        assert_eq!(TicketNumber::parse("a23").unwrap().to_string(), "A023");
        assert!(TicketNumber::new(a, 0).is_none());
        assert!(TicketNumber::new(a, 1000).is_none());
        for bad in ["", "A", "023", "A1000", "AB12", "A-12"] {
            assert_eq!(TicketNumber::parse(bad), Err(TicketNumberError), "{bad}");
        }
    }

    #[test]
    fn the_state_machine_allows_only_its_arrows() {
        use TicketState::*;
        let c1 = Called(counter(1));
        assert_eq!(Issued.transition(c1), Ok(c1));
        assert_eq!(
            c1.transition(InService(counter(1))),
            Ok(InService(counter(1)))
        );
        assert!(
            c1.transition(InService(counter(2))).is_err(),
            "served at the counter that called"
        );
        assert!(Issued.transition(Served).is_err());
        assert!(Served.transition(Issued).is_err());
        assert!(Cancelled.transition(Issued).is_err());
        assert_eq!(NoShow.transition(Issued), Ok(Issued));
        let err = Issued.transition(NoShow).unwrap_err();
        assert_eq!(
            err.to_string(),
            "passaggio di stato non ammesso: da issued a no_show"
        );
    }
}
