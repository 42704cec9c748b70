//! The wait estimate: people ahead plus a range, median to 90th percentile, learned from the
//! branch's own history per service, weekday and hour.
//!
//! The model is a conditional quantile by neighbours: for a ticket with k people ahead, the past
//! tickets of the same service, weekday and hour that had about k ahead (within k/4, at least
//! 1), their waits scaled to k, give the median and the upper bound. With fewer than
//! [`MIN_SAMPLES`] such tickets it falls back to (service, hour), then to the service, then to a
//! default. The upper bound is a higher quantile than the 90th ([`UPPER_QUANTILE`]): promising
//! too short a wait is the worse error (visitors forgive an early call, not a late one), and held-out weeks
//! are never exactly like the past.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use domain::ServiceLetter;

/// A past ticket: what it was told (people ahead) and what happened (its wait).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitSample {
    /// Service.
    pub service: ServiceLetter,
    /// 1 = Monday … 7 = Sunday (local).
    pub weekday: u8,
    /// Local hour of issue.
    pub hour: u8,
    /// People ahead at issue.
    pub ahead: u32,
    /// Wait from eligibility to first call, seconds.
    pub wait_s: u32,
}

/// A wait range in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRange {
    /// Median estimate.
    pub low_min: u32,
    /// Upper bound (about the 90th percentile).
    pub high_min: u32,
    /// Whether it comes from this branch's history (false: the default before there is any).
    pub learned: bool,
}

impl WaitRange {
    /// The range in words: "10–25 minuti".
    pub fn message(&self) -> i18n::Message {
        if self.high_min == 0 {
            i18n::msg!("meno di un minuto")
        } else if self.low_min == self.high_min {
            i18n::msg!("circa {} minuti", self.high_min)
        } else {
            i18n::msg!("{}–{} minuti", self.low_min, self.high_min)
        }
    }

    /// The same in Italian.
    pub fn text(&self) -> String {
        self.message().to_string()
    }
}

/// Samples a bucket needs before it is used.
pub const MIN_SAMPLES: usize = 30;
/// The quantile of the per-person time used for the upper bound.
pub const UPPER_QUANTILE: f64 = 0.95;
/// Before any history: each person ahead costs 4 to 12 minutes (the INPS counter target is 10
/// minutes, with more than one counter open most of the time).
const DEFAULT_PER_PERSON_S: (f64, f64) = (240.0, 720.0);

/// Past (people ahead, wait seconds) pairs of one bucket.
type Pairs = Vec<(u32, u32)>;

/// The trained estimate.
#[derive(Debug, Clone, Default)]
pub struct Estimator {
    exact: HashMap<(ServiceLetter, u8, u8), Pairs>,
    by_hour: HashMap<(ServiceLetter, u8), Pairs>,
    by_service: HashMap<ServiceLetter, Pairs>,
    samples: usize,
}

/// Quantiles of the waits of tickets that had about as many people ahead as `ahead`, each
/// scaled to `ahead` (a ticket with 3 ahead that waited 14 min counts as 18 min for 4 ahead).
/// Without a window, every ticket of the bucket counts, scaled the same way.
fn neighbours(pairs: &Pairs, ahead: u32, windowed: bool) -> Option<(f64, f64)> {
    let window = if windowed {
        (ahead / 4).max(1)
    } else {
        u32::MAX
    };
    let target = f64::from(ahead) + 0.5;
    let mut scaled: Vec<f64> = pairs
        .iter()
        .filter(|(a, _)| a.abs_diff(ahead) <= window)
        .map(|(a, w)| f64::from(*w) * target / (f64::from(*a) + 0.5))
        .collect();
    if scaled.len() < MIN_SAMPLES {
        return None;
    }
    scaled.sort_by(f64::total_cmp);
    Some((
        super::percentile(&scaled, 0.5)?,
        super::percentile(&scaled, UPPER_QUANTILE)?,
    ))
}

impl Estimator {
    /// Learns from history.
    pub fn train(samples: &[WaitSample]) -> Self {
        let mut e = Self {
            samples: samples.len(),
            ..Self::default()
        };
        for s in samples {
            let pair = (s.ahead, s.wait_s);
            e.exact
                .entry((s.service, s.weekday, s.hour))
                .or_default()
                .push(pair);
            e.by_hour.entry((s.service, s.hour)).or_default().push(pair);
            e.by_service.entry(s.service).or_default().push(pair);
        }
        e
    }

    /// Samples learned from.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The range for a ticket with `ahead` people before it, issued at that weekday and hour:
    /// from the most specific bucket with enough similar tickets.
    pub fn estimate(&self, service: ServiceLetter, weekday: u8, hour: u8, ahead: u32) -> WaitRange {
        let learned = [
            self.exact.get(&(service, weekday, hour)),
            self.by_hour.get(&(service, hour)),
            self.by_service.get(&service),
        ]
        .into_iter()
        .flatten()
        .find_map(|pairs| neighbours(pairs, ahead, true))
        .or_else(|| {
            self.by_service
                .get(&service)
                .and_then(|pairs| neighbours(pairs, ahead, false))
        });
        // The upper bound rounds up: it is a promise.
        let minutes = |s: f64| (s / 60.0).round() as u32;
        let up = |s: f64| (s / 60.0).ceil() as u32;
        match learned {
            Some((median, upper)) => WaitRange {
                low_min: minutes(median),
                high_min: up(upper).max(minutes(median)),
                learned: true,
            },
            None => {
                let people = f64::from(ahead + 1);
                WaitRange {
                    low_min: minutes(DEFAULT_PER_PERSON_S.0 * people),
                    high_min: up(DEFAULT_PER_PERSON_S.1 * people),
                    learned: false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_history_falls_back_to_the_default_and_enough_history_is_used() {
        let p = ServiceLetter::parse("P").unwrap();
        let empty = Estimator::train(&[]);
        let d = empty.estimate(p, 1, 9, 2);
        assert_eq!((d.low_min, d.high_min, d.learned), (12, 36, false));
        // 40 samples: everyone waited 5 minutes per person.
        let samples: Vec<_> = (0..40)
            .map(|i| WaitSample {
                service: p,
                weekday: 1,
                hour: 9,
                ahead: i % 4,
                wait_s: 300 * (i % 4 + 1),
            })
            .collect();
        let e = Estimator::train(&samples);
        let r = e.estimate(p, 1, 9, 2);
        // Neighbours with 1 to 3 ahead, scaled to 2 ahead: 16.7, 15 and 14.3 minutes; the upper
        // bound rounds up.
        assert_eq!((r.low_min, r.high_min, r.learned), (15, 17, true));
        assert_eq!(r.text(), "15–17 minuti");
        // Another weekday at the same hour uses the (service, hour) bucket.
        assert!(e.estimate(p, 3, 9, 0).learned);
        // Far outside what was seen: every ticket of the service, scaled.
        assert!(e.estimate(p, 1, 9, 40).learned);
    }
}
