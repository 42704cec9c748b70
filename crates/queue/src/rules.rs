//! The branch's calling rules and service calendar, as the hub publishes them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Serialize};

use domain::{OpeningHours, ServiceLetter};

/// Parameters of the calling order and of the ticket's life at the counter.
///
/// The calling order is stated in `ARCHITECTURE.md` ("The calling order"), together with the
/// bound it guarantees; the hall display states it in words with [`Self::fairness_text`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueRules {
    /// A priority ticket's waiting time counts this many times over (aging)…
    pub priority_factor: u32,
    /// …but it never gains more than this many minutes on anyone.
    pub priority_max_advance_min: u32,
    /// At most this many priority calls…
    pub priority_calls: u8,
    /// …in any run of this many consecutive calls at one counter, while others wait.
    pub priority_window: u8,
    /// Each weight point above 1 of a service at a counter counts as this many minutes waited.
    pub weight_step_min: u32,
    /// An appointment's wait is counted from its booked time; check-in closes this many minutes
    /// after it, so an appointment is never more than this much "older" than its arrival.
    pub appointment_late_min: u32,
    /// Recalls allowed after the first call; one more recall marks the ticket absent.
    pub max_recalls: u8,
    /// An absent ticket can be put back in the queue for this many minutes.
    pub reactivate_within_min: u32,
    /// Walk-in and priority tickets stop this many minutes before a service closes.
    pub walk_in_stop_min: u32,
    /// Tickets per service and day (appointments included); at most 999.
    pub daily_cap: u16,
    /// Days the branch is closed.
    pub holidays: BTreeSet<NaiveDate>,
    /// Minutes a called visitor has to reach the counter before the node calls them once
    /// more by itself; only after that call may staff mark them absent. 0: no such call.
    pub recall_grace_min: u32,
    /// The same, per service where it differs.
    pub recall_grace_by_service: BTreeMap<ServiceLetter, u32>,
    /// Why a counter may pause, in the words the sede uses (its supervisor sets the list).
    pub pause_reasons: Vec<String>,
}

/// Reasons a counter pauses for, where the sede set none.
pub const DEFAULT_PAUSE_REASONS: [&str; 4] =
    ["Pausa", "Back office", "Formazione", "Problema tecnico"];

/// Longest pause reason, in characters: it fits the console's button and a figures row.
pub const MAX_PAUSE_REASON: usize = 40;

impl Default for QueueRules {
    fn default() -> Self {
        Self {
            priority_factor: 2,
            priority_max_advance_min: 20,
            priority_calls: 1,
            priority_window: 3,
            weight_step_min: 5,
            appointment_late_min: 15,
            max_recalls: 2,
            reactivate_within_min: 30,
            walk_in_stop_min: 15,
            daily_cap: 999,
            holidays: BTreeSet::new(),
            recall_grace_min: 3,
            recall_grace_by_service: BTreeMap::new(),
            pause_reasons: DEFAULT_PAUSE_REASONS.map(String::from).to_vec(),
        }
    }
}

impl QueueRules {
    /// The largest head start, in minutes, any ticket can have over one that became eligible
    /// at the same moment: the `A` of the bound in `ARCHITECTURE.md`.
    pub fn max_advance_min(&self, max_weight: u8) -> u32 {
        self.priority_max_advance_min.max(self.appointment_late_min)
            + u32::from(max_weight.saturating_sub(1)) * self.weight_step_min
    }

    /// The rule in words, for the hall display.
    pub fn fairness_text(&self) -> String {
        let calls = if self.priority_calls == 1 {
            "1 chiamata prioritaria".to_string()
        } else {
            format!("{} chiamate prioritarie", self.priority_calls)
        };
        format!(
            "{calls} ogni {} per sportello; l'attesa di chi ha priorità conta {} volte, \
             per un vantaggio di al massimo {} minuti. Gli appuntamenti sono chiamati dall'ora prenotata.",
            self.priority_window, self.priority_factor, self.priority_max_advance_min
        )
    }

    /// How long a visitor called for `service` has to reach the counter.
    pub fn recall_grace(&self, service: ServiceLetter) -> chrono::Duration {
        let min = self
            .recall_grace_by_service
            .get(&service)
            .copied()
            .unwrap_or(self.recall_grace_min);
        chrono::Duration::minutes(i64::from(min))
    }

    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        let graces =
            std::iter::once(&self.recall_grace_min).chain(self.recall_grace_by_service.values());
        if graces.into_iter().any(|&m| m > 30) {
            return Err("il tempo per arrivare allo sportello è al più di 30 minuti".into());
        }
        if self.pause_reasons.is_empty()
            || self.pause_reasons.len() > 8
            || self
                .pause_reasons
                .iter()
                .any(|r| r.trim().is_empty() || r.chars().count() > MAX_PAUSE_REASON)
        {
            return Err(format!(
                "i motivi di pausa sono da 1 a 8, ciascuno da 1 a {MAX_PAUSE_REASON} caratteri"
            ));
        }
        if self.priority_factor == 0 {
            return Err("l'attesa con priorità conta almeno 1 volta".into());
        }
        if self.priority_window == 0 || self.priority_calls > self.priority_window {
            return Err(
                "le chiamate prioritarie non superano le chiamate su cui si contano (almeno 1)"
                    .into(),
            );
        }
        if self.daily_cap == 0 || self.daily_cap > 999 {
            return Err("i biglietti al giorno per servizio vanno da 1 a 999".into());
        }
        Ok(())
    }
}

/// Why a service does not take a new ticket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A holiday.
    Holiday,
    /// Outside the service's hours today.
    OutsideHours,
    /// Only booked appointments in this period.
    AppointmentsOnly,
    /// Walk-in tickets stopped before closing time.
    WalkInsStopped,
}

/// Opening hours per service and weekday, with the rules about when tickets stop.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    hours: Vec<OpeningHours>,
}

impl Calendar {
    /// A calendar over weekly hours.
    pub fn new(hours: Vec<OpeningHours>) -> Self {
        Self { hours }
    }

    fn periods(
        &self,
        service: ServiceLetter,
        date: NaiveDate,
    ) -> impl Iterator<Item = &OpeningHours> {
        let weekday = date.weekday().number_from_monday() as u8;
        self.hours
            .iter()
            .filter(move |h| h.service == service && h.weekday == weekday)
    }

    /// Whether a walk-in (or priority) ticket for `service` may be issued at local time `at`.
    pub fn walk_in_open(
        &self,
        rules: &QueueRules,
        service: ServiceLetter,
        at: NaiveDateTime,
    ) -> Result<(), Closed> {
        if rules.holidays.contains(&at.date()) {
            return Err(Closed::Holiday);
        }
        let time = at.time();
        let Some(period) = self
            .periods(service, at.date())
            .find(|h| h.opens <= time && time < h.closes)
        else {
            return Err(Closed::OutsideHours);
        };
        if period.appointment_only {
            return Err(Closed::AppointmentsOnly);
        }
        let stop = period.closes - chrono::Duration::minutes(i64::from(rules.walk_in_stop_min));
        if time >= stop {
            return Err(Closed::WalkInsStopped);
        }
        Ok(())
    }

    /// The opening period, of any service, that local time `at` falls in once widened by
    /// `before` ahead of its opening and `after` past its closing: while there is one the sede
    /// is at work, and nothing that would disturb it (an update, a restart) may happen.
    pub fn at_work(
        &self,
        rules: &QueueRules,
        at: NaiveDateTime,
        before: chrono::Duration,
        after: chrono::Duration,
    ) -> Option<(NaiveTime, NaiveTime)> {
        if rules.holidays.contains(&at.date()) {
            return None;
        }
        let weekday = at.date().weekday().number_from_monday() as u8;
        // Seconds from midnight, so a widened period does not wrap round the clock.
        let secs = |t: NaiveTime| i64::from(t.num_seconds_from_midnight());
        let now = secs(at.time());
        self.hours
            .iter()
            .filter(|h| h.weekday == weekday)
            .find(|h| {
                secs(h.opens) - before.num_seconds() <= now
                    && now < secs(h.closes) + after.num_seconds()
            })
            .map(|h| (h.opens, h.closes))
    }

    /// Today's periods of a service, for display.
    pub fn today(
        &self,
        service: ServiceLetter,
        date: NaiveDate,
    ) -> Vec<(NaiveTime, NaiveTime, bool)> {
        let mut v: Vec<_> = self
            .periods(service, date)
            .map(|h| (h.opens, h.closes, h.appointment_only))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> Calendar {
        let a = ServiceLetter::parse("P").unwrap();
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        Calendar::new(vec![
            OpeningHours {
                service: a,
                weekday: 4,
                opens: t("08:30"),
                closes: t("12:30"),
                appointment_only: false,
            },
            OpeningHours {
                service: a,
                weekday: 4,
                opens: t("15:00"),
                closes: t("18:00"),
                appointment_only: true,
            },
        ])
    }

    #[test]
    fn the_sede_is_at_work_from_an_hour_before_opening_to_half_an_hour_after_closing() {
        let c = hours();
        let rules = QueueRules::default();
        // 2026-03-12 is a Thursday, the fixture's day.
        let at = |t: &str| {
            NaiveDateTime::parse_from_str(&format!("2026-03-12 {t}"), "%Y-%m-%d %H:%M").unwrap()
        };
        let work = |t| {
            c.at_work(
                &rules,
                at(t),
                chrono::Duration::minutes(60),
                chrono::Duration::minutes(30),
            )
        };
        for t in ["07:30", "10:00", "12:59", "14:00", "18:29"] {
            assert!(work(t).is_some(), "{t}");
        }
        for t in ["00:00", "07:29", "13:00", "13:59", "18:30", "23:59"] {
            assert!(work(t).is_none(), "{t}");
        }
        // Another weekday has no hours in the fixture, and a holiday none either.
        assert!(
            c.at_work(
                &rules,
                NaiveDateTime::parse_from_str("2026-03-13 10:00", "%Y-%m-%d %H:%M").unwrap(),
                chrono::Duration::minutes(60),
                chrono::Duration::minutes(30)
            )
            .is_none()
        );
        let holiday = QueueRules {
            holidays: [at("10:00").date()].into(),
            ..QueueRules::default()
        };
        assert!(
            c.at_work(
                &holiday,
                at("10:00"),
                chrono::Duration::minutes(60),
                chrono::Duration::minutes(30)
            )
            .is_none()
        );
    }

    #[test]
    fn the_calendar_says_why_a_service_is_closed() {
        let p = ServiceLetter::parse("P").unwrap();
        let at = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let mut rules = QueueRules::default();
        let cal = hours();
        // 2026-11-26 is a Thursday.
        assert_eq!(cal.walk_in_open(&rules, p, at("2026-11-26 09:00")), Ok(()));
        assert_eq!(
            cal.walk_in_open(&rules, p, at("2026-11-26 08:00")),
            Err(Closed::OutsideHours)
        );
        assert_eq!(
            cal.walk_in_open(&rules, p, at("2026-11-26 12:20")),
            Err(Closed::WalkInsStopped)
        );
        assert_eq!(cal.walk_in_open(&rules, p, at("2026-11-26 12:14")), Ok(()));
        assert_eq!(
            cal.walk_in_open(&rules, p, at("2026-11-26 16:00")),
            Err(Closed::AppointmentsOnly)
        );
        assert_eq!(
            cal.walk_in_open(&rules, p, at("2026-11-27 09:00")),
            Err(Closed::OutsideHours),
            "Friday has no hours here"
        );
        rules
            .holidays
            .insert(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap());
        assert_eq!(
            cal.walk_in_open(&rules, p, at("2026-11-26 09:00")),
            Err(Closed::Holiday)
        );
    }

    #[test]
    fn rules_are_stated_in_words_and_checked() {
        let rules = QueueRules::default();
        assert!(
            rules
                .fairness_text()
                .starts_with("1 chiamata prioritaria ogni 3")
        );
        assert_eq!(rules.max_advance_min(3), 20 + 2 * 5);
        assert!(rules.validate().is_ok());
        let bad = QueueRules {
            priority_calls: 4,
            ..QueueRules::default()
        };
        assert!(bad.validate().is_err());
    }
}
