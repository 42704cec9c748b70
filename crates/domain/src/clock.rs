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
}

impl SystemClock {
    /// A clock whose time is not yet confirmed.
    pub fn untrusted() -> Self {
        Self::default()
    }

    /// Marks the time as confirmed (NTP synchronised, or a hub handshake agreed).
    pub fn mark_trusted(&self) {
        self.trusted.store(true, Ordering::Release);
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
}
