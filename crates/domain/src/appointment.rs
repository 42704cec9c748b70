//! Appointments (Agenda appuntamenti) and their states.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::{PersonKey, SedeCode, ServiceLetter, TransitionError, UserMessage};

/// Why a booking code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", i18n::Localized::localized(self))]
pub struct BookingIdError;

impl i18n::Localized for BookingIdError {
    fn localized(&self) -> i18n::Message {
        i18n::msg!("il codice della prenotazione ha la forma APP-2026-000123")
    }
}

impl UserMessage for BookingIdError {
    fn message_key(&self) -> &'static str {
        "booking-code-invalid"
    }
}

/// Identifier of a booking, shown as `APP-2026-000123` (year and progressive of the hub).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct BookingId(u64);

impl BookingId {
    const PER_YEAR: u64 = 1_000_000;

    /// Builds the id of the `progressive`-th booking of `year`.
    pub fn new(year: u16, progressive: u32) -> Option<Self> {
        ((2000..=9999).contains(&year) && (1..Self::PER_YEAR).contains(&u64::from(progressive)))
            .then(|| Self(u64::from(year) * Self::PER_YEAR + u64::from(progressive)))
    }

    /// From the number carried in tokens and storage.
    pub fn from_u64(n: u64) -> Option<Self> {
        let year = u16::try_from(n / Self::PER_YEAR).ok()?;
        Self::new(year, (n % Self::PER_YEAR) as u32)
    }

    /// The number carried in tokens and storage.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Parses `APP-2026-000123`, also typed without dashes or prefix (`2026000123`).
    pub fn parse(input: &str) -> Result<Self, BookingIdError> {
        let s: String = input
            .trim()
            .to_ascii_uppercase()
            .trim_start_matches("APP")
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .collect();
        if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BookingIdError);
        }
        Self::from_u64(s.parse().map_err(|_| BookingIdError)?).ok_or(BookingIdError)
    }
}

impl TryFrom<u64> for BookingId {
    type Error = BookingIdError;
    fn try_from(n: u64) -> Result<Self, Self::Error> {
        Self::from_u64(n).ok_or(BookingIdError)
    }
}

impl From<BookingId> for u64 {
    fn from(b: BookingId) -> Self {
        b.0
    }
}

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "APP-{}-{:06}",
            self.0 / Self::PER_YEAR,
            self.0 % Self::PER_YEAR
        )
    }
}

impl fmt::Debug for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BookingId({self})")
    }
}

impl FromStr for BookingId {
    type Err = BookingIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The states of an appointment.
///
/// ```text
/// Booked ─▶ Confirmed ─▶ CheckedIn ─▶ Called ─▶ InProgress ─▶ Closed
///   └──────────┴─▶ CancelledByUser | CancelledBySede | NoShow
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentState {
    /// Prenotato: slot held, not yet confirmed.
    Booked,
    /// Confermato.
    Confirmed,
    /// The visitor checked in at the kiosk.
    CheckedIn,
    /// Chiamato to a counter.
    Called,
    /// In corso.
    InProgress,
    /// Chiuso e definito.
    Closed,
    /// Annullato dall'utente.
    CancelledByUser,
    /// Annullato dalla sede.
    CancelledBySede,
    /// Not checked in by 15 minutes after the start.
    NoShow,
}

impl AppointmentState {
    /// Every state, for storage round trips and exhaustive tests.
    pub const ALL: [AppointmentState; 9] = [
        Self::Booked,
        Self::Confirmed,
        Self::CheckedIn,
        Self::Called,
        Self::InProgress,
        Self::Closed,
        Self::CancelledByUser,
        Self::CancelledBySede,
        Self::NoShow,
    ];

    /// Stable name used in storage and sync payloads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Confirmed => "confirmed",
            Self::CheckedIn => "checked_in",
            Self::Called => "called",
            Self::InProgress => "in_progress",
            Self::Closed => "closed",
            Self::CancelledByUser => "cancelled_by_user",
            Self::CancelledBySede => "cancelled_by_sede",
            Self::NoShow => "no_show",
        }
    }

    /// Inverse of [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The label visitors read ("la prenotazione è …"), translatable.
    pub fn label(self) -> i18n::Message {
        match self {
            Self::Booked => i18n::msg!("prenotata"),
            Self::Confirmed => i18n::msg!("confermata"),
            Self::CheckedIn => i18n::msg!("già registrata"),
            Self::Called => i18n::msg!("già chiamata"),
            Self::InProgress => i18n::msg!("in corso"),
            Self::Closed => i18n::msg!("conclusa"),
            Self::CancelledByUser => i18n::msg!("annullata dall'utente"),
            Self::CancelledBySede => i18n::msg!("annullata dalla sede"),
            Self::NoShow => i18n::msg!("scaduta per assenza"),
        }
    }

    /// True for the states in which a check-in is possible.
    pub fn can_check_in(self) -> bool {
        matches!(self, Self::Booked | Self::Confirmed)
    }

    /// Moves to `to` when the state machine allows it.
    pub fn transition(self, to: AppointmentState) -> Result<AppointmentState, TransitionError> {
        use AppointmentState::*;
        let allowed = matches!(
            (self, to),
            (Booked, Confirmed)
                | (
                    Booked | Confirmed,
                    CheckedIn | CancelledByUser | CancelledBySede | NoShow
                )
                | (CheckedIn, Called | NoShow | CancelledBySede)
                | (Called, InProgress | NoShow)
                | (InProgress, Closed)
        );
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

/// An appointment as a kiosk replica holds it: no names and no codice fiscale, only the
/// pseudonymous key that a typed codice fiscale can be checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    /// Booking identifier.
    pub id: BookingId,
    /// The sede where it takes place.
    pub sede: SedeCode,
    /// The service line.
    pub service: ServiceLetter,
    /// Local start (Europe/Rome).
    pub starts_at: NaiveDateTime,
    /// Length in minutes.
    pub duration_min: u16,
    /// Pseudonymous key of the person who booked; `None` after the retention purge.
    pub person_key: Option<PersonKey>,
    /// Current state.
    pub state: AppointmentState,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_codes_round_trip() {
        let id = BookingId::new(2026, 123).unwrap();
        assert_eq!(id.to_string(), "APP-2026-000123");
        for typed in ["APP-2026-000123", "app 2026 000123", "2026000123"] {
            assert_eq!(BookingId::parse(typed), Ok(id), "{typed}");
        }
        for bad in ["APP-2026-123", "APP-1999-000001", "APP-2026-000000", "x"] {
            assert_eq!(BookingId::parse(bad), Err(BookingIdError), "{bad}");
        }
    }

    #[test]
    fn appointment_states() {
        use AppointmentState::*;
        for s in AppointmentState::ALL {
            assert_eq!(AppointmentState::from_name(s.name()), Some(s));
        }
        assert!(Confirmed.transition(CheckedIn).is_ok());
        assert!(
            CheckedIn.transition(CheckedIn).is_err(),
            "a second check-in is not a transition"
        );
        assert!(Closed.transition(Booked).is_err());
        assert!(NoShow.transition(CheckedIn).is_err());
        assert!(!CancelledByUser.can_check_in() && Booked.can_check_in());
    }
}
