//! Area Contatti: where a request to the sede stands, which way a message went, and the
//! sede's promise on it — an answer within so many working days — with the clock that keeps
//! that promise visible to the visitor and to the back office.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::working_days::{DayOfYear, add_working_days, working_days_between};

/// The topics of the source document, by code and in words.
pub const TOPICS: [(&str, &str); 5] = [
    ("generica", "Richiesta generica"),
    ("regolarita_contributiva", "Regolarità contributiva"),
    ("dm_trasmessi", "DM trasmessi"),
    ("f24", "Versamenti F24"),
    ("agevolazioni_contributive", "Agevolazioni contributive"),
];

/// The state of a request to the sede.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Sent, nobody has answered yet.
    Aperta,
    /// An operator answered or took it.
    PresaInCarico,
    /// Closed by the sede.
    Chiusa,
}

impl RequestState {
    /// Every state, in order.
    pub const ALL: [RequestState; 3] = [Self::Aperta, Self::PresaInCarico, Self::Chiusa];

    /// The stable name in storage and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aperta => "aperta",
            Self::PresaInCarico => "presa_in_carico",
            Self::Chiusa => "chiusa",
        }
    }

    /// Inverse of [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Still waiting for the sede (not closed).
    pub fn is_open(self) -> bool {
        self != Self::Chiusa
    }

    /// The state as visitors read it, translatable.
    pub fn label(self) -> i18n::Message {
        match self {
            Self::Aperta => i18n::msg!("aperta"),
            Self::PresaInCarico => i18n::msg!("presa in carico"),
            Self::Chiusa => i18n::msg!("chiusa"),
        }
    }
}

/// Which way a message of a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the visitor to the sede.
    In,
    /// From the sede to the visitor.
    Out,
}

impl Direction {
    /// The stable name in storage and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }
}

/// A sede's promise on the requests it receives: an answer within so many working days, per
/// topic, counted on the working days of the sede's city; and how late a request may run
/// before it goes to the sede's supervisor and the visitor is offered an appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseTargets {
    /// Working days for a topic without its own target.
    pub default_days: u16,
    /// Working days, by topic code, where they differ from the default.
    #[serde(default)]
    pub by_topic: BTreeMap<String, u16>,
    /// Working days past due after which a request without an answer is escalated.
    pub escalate_after: u16,
    /// The patron saint's day of the sede's city, a day off there.
    #[serde(default)]
    pub patron: Option<DayOfYear>,
    /// The mailbox of the sede's supervisor that hears of escalated requests (a function's
    /// address, such as the sede's direction, rather than a person's).
    #[serde(default)]
    pub escalate_to: Option<String>,
}

impl Default for ResponseTargets {
    /// Twenty working days, about the thirty calendar days within which law 241/1990 has an
    /// administration conclude where no other term is set; escalated a working week late.
    fn default() -> Self {
        Self {
            default_days: 20,
            by_topic: BTreeMap::new(),
            escalate_after: 5,
            patron: None,
            escalate_to: None,
        }
    }
}

impl ResponseTargets {
    /// The longest target a sede may set: about six months of working days.
    pub const MAX_DAYS: u16 = 120;

    /// The target of `topic`, in working days.
    pub fn days_for(&self, topic: &str) -> u16 {
        self.by_topic
            .get(topic)
            .copied()
            .unwrap_or(self.default_days)
    }

    /// Checks the targets, saying in Italian, for the supervisor, what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let max = Self::MAX_DAYS;
        if !(1..=max).contains(&self.default_days) {
            return Err(format!(
                "Il termine di risposta va da 1 a {max} giorni lavorativi."
            ));
        }
        for (topic, days) in &self.by_topic {
            let Some((_, name)) = TOPICS.iter().find(|(code, _)| code == topic) else {
                return Err(format!("L'argomento {topic} non esiste."));
            };
            if !(1..=max).contains(days) {
                return Err(format!(
                    "Il termine per «{name}» va da 1 a {max} giorni lavorativi."
                ));
            }
        }
        if !(1..=max).contains(&self.escalate_after) {
            return Err(format!(
                "Il margine prima della segnalazione al responsabile va da 1 a {max} giorni lavorativi."
            ));
        }
        if let Some(to) = &self.escalate_to {
            let plausible = to.len() <= 254
                && !to.chars().any(|c| c.is_whitespace() || c.is_control())
                && to
                    .split_once('@')
                    .is_some_and(|(user, host)| !user.is_empty() && host.contains('.'));
            if !plausible {
                return Err(format!("«{to}» non è un indirizzo e-mail."));
            }
        }
        Ok(())
    }

    /// The clock of a request on `topic` received on `received` and answered on `answered`
    /// (if it was), as it stands on `today`.
    pub fn clock(
        &self,
        topic: &str,
        received: NaiveDate,
        answered: Option<NaiveDate>,
        today: NaiveDate,
    ) -> ResponseClock {
        let target_days = self.days_for(topic);
        let end = answered.unwrap_or(today);
        ResponseClock {
            target_days,
            due: add_working_days(received, u32::from(target_days), self.patron),
            waited: working_days_between(received, end, self.patron),
            answered,
        }
    }
}

/// Where a request stands against its sede's promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseClock {
    /// The promise, in working days.
    pub target_days: u16,
    /// The last working day of the promise.
    pub due: NaiveDate,
    /// Working days waited: up to the answer, or up to today while there is none.
    pub waited: u32,
    /// When the sede first answered (a reply, or closing the request).
    pub answered: Option<NaiveDate>,
}

impl ResponseClock {
    /// Working days past the due date (0 when on time).
    pub fn late_by(&self) -> u32 {
        self.waited.saturating_sub(u32::from(self.target_days))
    }

    /// Still without an answer and past its due date.
    pub fn is_overdue(&self) -> bool {
        self.answered.is_none() && self.late_by() > 0
    }

    /// Late enough, still without an answer, to go to the supervisor.
    pub fn needs_escalation(&self, targets: &ResponseTargets) -> bool {
        self.answered.is_none() && self.late_by() >= u32::from(targets.escalate_after)
    }

    /// The clock in words, for the visitor.
    pub fn text(&self) -> i18n::Message {
        let due = self.due.format("%d/%m/%Y").to_string();
        match self.answered {
            Some(_) if self.late_by() == 0 => i18n::msg!(
                "Risposta data in {} giorni lavorativi, entro il termine di {}",
                self.waited,
                self.target_days
            ),
            Some(_) => i18n::msg!(
                "Risposta data in {} giorni lavorativi, {} oltre il termine di {}",
                self.waited,
                self.late_by(),
                self.target_days
            ),
            None if self.late_by() == 0 => i18n::msg!(
                "Risposta attesa entro il {}: trascorsi {} giorni lavorativi su {}",
                due,
                self.waited,
                self.target_days
            ),
            None => i18n::msg!(
                "In ritardo di {} giorni lavorativi: la risposta era attesa entro il {}",
                self.late_by(),
                due
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn rome() -> ResponseTargets {
        ResponseTargets {
            default_days: 10,
            by_topic: BTreeMap::from([("f24".to_owned(), 5)]),
            escalate_after: 3,
            patron: Some(DayOfYear { month: 6, day: 29 }),
            escalate_to: Some("direzione.roma@example.it".into()),
        }
    }

    #[test]
    fn a_request_runs_its_clock_on_the_working_days_of_its_sede() {
        let t = rome();
        // Friday 19 June 2026, on F24: 5 working days are 22–26 June; due Friday 26.
        let c = t.clock("f24", d(2026, 6, 19), None, d(2026, 6, 24));
        assert_eq!((c.target_days, c.due, c.waited), (5, d(2026, 6, 26), 3));
        assert!(!c.is_overdue());
        assert_eq!(
            c.text().template(),
            "Risposta attesa entro il {}: trascorsi {} giorni lavorativi su {}"
        );
        assert_eq!(c.text().args(), ["26/06/2026", "3", "5"]);
        // Monday 29 June is Rome's patron saints' day: on Tuesday 30 it is one day late.
        let c = t.clock("f24", d(2026, 6, 19), None, d(2026, 6, 30));
        assert_eq!((c.waited, c.late_by()), (6, 1));
        assert!(c.is_overdue() && !c.needs_escalation(&t));
        // Three working days late (1, 2 July): escalated.
        let c = t.clock("f24", d(2026, 6, 19), None, d(2026, 7, 2));
        assert_eq!(c.late_by(), 3);
        assert!(c.needs_escalation(&t));
        // Another topic takes the default: ten working days, due Monday 6 July (29 June off).
        let c = t.clock("generica", d(2026, 6, 19), None, d(2026, 6, 19));
        assert_eq!((c.due, c.waited), (d(2026, 7, 6), 0));
    }

    #[test]
    fn an_answer_stops_the_clock() {
        let t = rome();
        let c = t.clock("f24", d(2026, 6, 19), Some(d(2026, 6, 23)), d(2026, 9, 1));
        assert_eq!((c.waited, c.late_by()), (2, 0));
        assert!(!c.is_overdue() && !c.needs_escalation(&t));
        assert_eq!(c.text().args(), ["2", "5"]);
        let c = t.clock("f24", d(2026, 6, 19), Some(d(2026, 7, 1)), d(2026, 9, 1));
        assert_eq!(c.late_by(), 2);
        // Answered late is late, but not overdue any more and never escalated.
        assert!(!c.is_overdue() && !c.needs_escalation(&t));
        assert_eq!(c.text().args(), ["7", "2", "5"]);
    }

    #[test]
    fn targets_out_of_bounds_are_refused_with_the_reason() {
        assert_eq!(ResponseTargets::default().check(), Ok(()));
        assert_eq!(rome().check(), Ok(()));
        let mut t = rome();
        t.default_days = 0;
        assert!(t.check().unwrap_err().contains("da 1 a 120"));
        let mut t = rome();
        t.by_topic.insert("pensioni".into(), 3);
        assert!(t.check().unwrap_err().contains("pensioni"));
        let mut t = rome();
        t.by_topic.insert("f24".into(), 121);
        assert!(t.check().unwrap_err().contains("Versamenti F24"));
        let mut t = rome();
        t.escalate_after = 0;
        assert!(t.check().is_err());
        for bad in ["direzione", "a b@example.it", "@example.it", "x@localhost"] {
            let mut t = rome();
            t.escalate_to = Some(bad.into());
            assert!(
                t.check().unwrap_err().contains("non è un indirizzo"),
                "{bad}"
            );
        }
    }

    #[test]
    fn targets_travel_with_their_patron_day() {
        let json = serde_json::to_value(rome()).unwrap();
        assert_eq!(json["patron"], "29/06");
        assert_eq!(
            serde_json::from_value::<ResponseTargets>(json).unwrap(),
            rome()
        );
    }

    #[test]
    fn names_round_trip_and_match_the_wire() {
        for s in RequestState::ALL {
            assert_eq!(RequestState::from_name(s.name()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
        assert_eq!(RequestState::from_name("sospesa"), None);
        for d in [Direction::In, Direction::Out] {
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.name())
            );
        }
        assert!(serde_json::from_str::<Direction>("\"sideways\"").is_err());
    }
}
