//! The one clock of the program, injected so tests control time, with an explicit trust state.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// Every branch is in Italy: local dates and opening hours are in this zone.
pub const TIME_ZONE: Tz = chrono_tz::Europe::Rome;

/// Whether the clock can be used to decide things that depend on the date.
///
/// A Raspberry Pi before the Pi 5 has no real-time clock: after a power cut it may start with
/// the time of its last shutdown. Until NTP or a hub handshake confirms the time, the clock is
/// untrusted: the day does not roll over, daily figures are not closed, staff see a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockTrust {
    /// Confirmed by NTP or the hub.
    Trusted,
    /// Not confirmed since start.
    Untrusted,
}

/// Source of the current time.
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
    /// Whether `now` has been confirmed.
    fn trust(&self) -> ClockTrust;
    /// Now, in Europe/Rome.
    fn local_now(&self) -> DateTime<Tz> {
        self.now().with_timezone(&TIME_ZONE)
    }
    /// Today's date in Europe/Rome.
    fn today(&self) -> NaiveDate {
        self.local_now().date_naive()
    }
}

/// The system clock, untrusted until something confirms it.
#[derive(Debug, Default)]
pub struct SystemClock {
    trusted: AtomicBool,
    /// Added to the system's time: zero but for [`SystemClock::starting_at`].
    offset: chrono::Duration,
}

impl SystemClock {
    /// A clock whose time is not yet confirmed.
    pub fn untrusted() -> Self {
        Self::default()
    }

    /// The system clock moved to read `start` now, and running on from there at its pace.
    ///
    /// A queue day depends on the hour: a demo shown in the evening, or a test that starts
    /// the real program, picks the morning it runs in instead of depending on when it is
    /// started. Every process given the same `start` at about the same moment agrees on the
    /// time to within that moment.
    pub fn starting_at(start: DateTime<Utc>) -> Self {
        Self {
            trusted: AtomicBool::new(false),
            offset: start - Utc::now(),
        }
    }

    /// Marks the time as confirmed (NTP synchronised, or a hub handshake agreed).
    pub fn mark_trusted(&self) {
        self.trusted.store(true, Ordering::Release);
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
    fn trust(&self) -> ClockTrust {
        if self.trusted.load(Ordering::Acquire) {
            ClockTrust::Trusted
        } else {
            ClockTrust::Untrusted
        }
    }
}

/// A clock that moves only when told: for tests, replays and benchmarks.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    trusted: AtomicBool,
}

impl ManualClock {
    /// A trusted clock stopped at `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now),
            trusted: AtomicBool::new(true),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Moves the time forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }

    /// Sets the trust state.
    pub fn set_trust(&self, trust: ClockTrust) {
        self.trusted
            .store(trust == ClockTrust::Trusted, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn trust(&self) -> ClockTrust {
        if self.trusted.load(Ordering::Acquire) {
            ClockTrust::Trusted
        } else {
            ClockTrust::Untrusted
        }
    }
}

/// The days of the week in Italian, Monday first: printed texts, e-mails and the back office
/// are Italian whatever language the screen shows.
pub const GIORNI: [&str; 7] = [
    "lunedì",
    "martedì",
    "mercoledì",
    "giovedì",
    "venerdì",
    "sabato",
    "domenica",
];

/// `venerdì 27/11/2026 alle 09:30`.
pub fn italian_when(t: chrono::NaiveDateTime) -> String {
    use chrono::Datelike;
    format!(
        "{} {} alle {}",
        GIORNI[t.weekday().num_days_from_monday() as usize],
        t.format("%d/%m/%Y"),
        t.format("%H:%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn days_and_times_in_italian_words() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap();
        assert_eq!(italian_when(t), "venerdì 27/11/2026 alle 09:30");
    }

    #[test]
    fn local_dates_follow_europe_rome() {
        // 23:30 UTC on 30 June is already 1 July in Rome (UTC+2 in summer).
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 6, 30, 23, 30, 0).unwrap());
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 7, 1).unwrap());
        clock.set_trust(ClockTrust::Untrusted);
        assert_eq!(clock.trust(), ClockTrust::Untrusted);
        clock.advance(chrono::Duration::days(1));
        assert_eq!(clock.today(), NaiveDate::from_ymd_opt(2026, 7, 2).unwrap());
        let sys = SystemClock::untrusted();
        assert_eq!(sys.trust(), ClockTrust::Untrusted);
        sys.mark_trusted();
        assert_eq!(sys.trust(), ClockTrust::Trusted);
    }

    #[test]
    fn a_clock_started_at_an_instant_reads_it_and_runs_on() {
        let start = Utc.with_ymd_and_hms(2026, 3, 10, 9, 0, 0).unwrap();
        let clock = SystemClock::starting_at(start);
        let first = clock.now();
        assert!(first >= start && first - start < chrono::Duration::seconds(5));
        assert_eq!(clock.trust(), ClockTrust::Untrusted);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(clock.now() > first, "the clock runs");
    }
}
