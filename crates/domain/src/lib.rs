//! The domain core: identifiers, services, appointments, tickets, the clock, booking tokens,
//! the catalogue of the *Comunicazioni on-line* istanze ([`istanze`]) and the working days of
//! an Italian public office ([`working_days`]).
//!
//! Pure types and rules. Nothing here does I/O, spawns tasks, logs or touches SQLite,
//! PostgreSQL, HTTP or Slint; every value
//! that reaches the rest of the program through these types has already been parsed and checked
//! ("parse, don't validate"), so handlers take a [`CodiceFiscale`] and never a `String`.

mod appointment;
mod cf;
mod clock;
pub mod contatti;
pub mod follow;
pub mod istanze;
mod matricola;
mod person;
mod piva;
mod sede;
mod service;
mod ticket;
pub mod token;
pub mod working_days;

pub use appointment::{Appointment, AppointmentState, BookingId, BookingIdError};
pub use cf::{Birth, CfError, CodiceFiscale, PersonalCf, Sex};
pub use clock::{Clock, ClockTrust, GIORNI, ManualClock, SystemClock, TIME_ZONE, italian_when};
pub use matricola::{Matricola, MatricolaError};
pub use person::{PersonKey, PersonKeyer, PriorityCategory, TipoDelegato};
pub use piva::{PartitaIva, PivaError};
pub use sede::{Sede, SedeCode, SedeError, sedi};
pub use service::{
    Counter, CounterNumber, OpeningHours, Service, ServiceLetter, ServiceLetterError, ServiceLevel,
};
pub use ticket::{Ticket, TicketNumber, TicketNumberError, TicketPriority, TicketState};

/// An error that a person will read: it has a stable key for the translation catalogues and an
/// Italian `Display` text, Italian being the kiosk's first language.
pub trait UserMessage: std::fmt::Display {
    /// Stable identifier of the message in the translation catalogues.
    fn message_key(&self) -> &'static str;
}

/// A state change that the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("passaggio di stato non ammesso: da {from} a {to}")]
pub struct TransitionError {
    /// The state the thing was in.
    pub from: &'static str,
    /// The state that was asked for.
    pub to: &'static str,
}

impl UserMessage for TransitionError {
    fn message_key(&self) -> &'static str {
        "state-transition-refused"
    }
}

/// Normalises typed or scanned input: drops spaces and separators, upper-cases ASCII.
fn compact(input: &str, drop: &[char]) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && !drop.contains(c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
