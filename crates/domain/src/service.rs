//! Services (the lines of the sportello, each with its ticket letter) and counters.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::UserMessage;

/// Why a service letter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("il servizio si indica con una lettera da A a Z")]
pub struct ServiceLetterError;

impl UserMessage for ServiceLetterError {
    fn message_key(&self) -> &'static str {
        "service-letter-invalid"
    }
}

/// The letter that prefixes a service's ticket numbers (`A` in `A023`) and identifies the service
/// within its branch.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceLetter(u8);

impl ServiceLetter {
    /// Parses one ASCII letter, either case.
    pub fn parse(input: &str) -> Result<Self, ServiceLetterError> {
        let mut chars = input.trim().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_alphabetic() => Ok(Self(c.to_ascii_uppercase() as u8)),
            _ => Err(ServiceLetterError),
        }
    }

    /// From a byte; `None` unless it is an ASCII letter.
    pub fn from_byte(b: u8) -> Option<Self> {
        b.is_ascii_alphabetic()
            .then(|| Self(b.to_ascii_uppercase()))
    }

    /// The letter as an ASCII byte.
    pub fn as_byte(self) -> u8 {
        self.0
    }

    /// The letter.
    pub fn as_char(self) -> char {
        self.0 as char
    }
}

impl fmt::Display for ServiceLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0 as char)
    }
}

impl fmt::Debug for ServiceLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServiceLetter({})", self.0 as char)
    }
}

impl FromStr for ServiceLetter {
    type Err = ServiceLetterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ServiceLetter {
    type Error = ServiceLetterError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ServiceLetter> for String {
    fn from(l: ServiceLetter) -> Self {
        l.to_string()
    }
}

/// INPS front-office level (circolare 103/2019).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevel {
    /// 1° livello: sportelli di linea and veloci, free access, at most 10 minutes.
    First,
    /// 2° livello: specialist assistance and consulenza, by appointment.
    Second,
}

/// A line of the sportello (e.g. *Aziende, consulenti e intermediari*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// Ticket letter and identifier within the branch.
    pub letter: ServiceLetter,
    /// Name shown to visitors (Italian; other languages come from the catalogues).
    pub name: String,
    /// Front-office level.
    pub level: ServiceLevel,
    /// When true, tickets are issued only for booked appointments.
    pub appointment_only: bool,
    /// Length of one appointment slot, in minutes.
    pub slot_minutes: u16,
}

/// Why a counter number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("gli sportelli sono numerati da 1 a 99")]
pub struct CounterNumberError;

/// The number of a counter (sportello) as shown on the hall display: 1–99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct CounterNumber(u8);

impl CounterNumber {
    /// Checks the range.
    pub fn new(n: u8) -> Result<Self, CounterNumberError> {
        (1..=99)
            .contains(&n)
            .then_some(Self(n))
            .ok_or(CounterNumberError)
    }

    /// The number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for CounterNumber {
    type Error = CounterNumberError;
    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Self::new(n)
    }
}

impl From<CounterNumber> for u8 {
    fn from(c: CounterNumber) -> Self {
        c.0
    }
}

impl fmt::Display for CounterNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A counter (sportello) and the services it serves, with their calling weights.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Number on the hall display.
    pub number: CounterNumber,
    /// Label for staff (e.g. "Sportello 3 – Aziende").
    pub label: String,
    /// Services served, each with a weight ≥ 1.
    pub services: Vec<(ServiceLetter, u8)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_counters() {
        assert_eq!(ServiceLetter::parse(" a ").unwrap().as_char(), 'A');
        assert_eq!(ServiceLetter::parse("AB"), Err(ServiceLetterError));
        assert_eq!(ServiceLetter::parse("1"), Err(ServiceLetterError));
        assert_eq!(ServiceLetter::parse("è"), Err(ServiceLetterError));
        assert!(CounterNumber::new(0).is_err());
        assert_eq!(CounterNumber::new(12).unwrap().to_string(), "12");
        let json = serde_json::to_string(&ServiceLetter::parse("P").unwrap()).unwrap();
        assert_eq!(json, "\"P\"");
        assert!(serde_json::from_str::<ServiceLetter>("\"PP\"").is_err());
    }
}

/// Opening hours of a service on one weekday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningHours {
    /// The service.
    pub service: ServiceLetter,
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Opening time (local).
    pub opens: NaiveTime,
    /// Closing time (local).
    pub closes: NaiveTime,
    /// Only booked appointments in this period.
    pub appointment_only: bool,
}
