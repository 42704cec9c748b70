//! Daily figures per service and counter: what supervisors read and export.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ticket::QueuedTicket;
use domain::{CounterNumber, ServiceLetter, TicketState};

/// A stretch of the day a counter spent open (calling from some services) or paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterSpan {
    /// Counter.
    pub counter: CounterNumber,
    /// From.
    pub from: DateTime<Utc>,
    /// To.
    pub to: DateTime<Utc>,
    /// Open or paused, and how.
    pub kind: SpanKind,
}

/// What a counter was doing over a [`CounterSpan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanKind {
    /// Open, calling from these services.
    Open(Vec<ServiceLetter>),
    /// Paused, for this reason.
    Paused(String),
}

/// Figures of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFigures {
    /// Service.
    pub service: ServiceLetter,
    /// Tickets issued (the service they were issued for).
    pub issued: u32,
    /// Served.
    pub served: u32,
    /// Absent.
    pub no_show: u32,
    /// Cancelled.
    pub cancelled: u32,
    /// Still waiting.
    pub waiting: u32,
    /// Mean wait from eligibility to first call, seconds.
    pub wait_mean_s: Option<u32>,
    /// 90th percentile of the same.
    pub wait_p90_s: Option<u32>,
    /// Mean time at the counter, seconds.
    pub service_mean_s: Option<u32>,
    /// Mean time from the call that brought the visitor to the counter to the start of
    /// their service, seconds: the walk, and the wait of those who were away.
    #[serde(default)]
    pub walk_mean_s: Option<u32>,
    /// Calls made again (by staff or at the end of a visitor's grace).
    #[serde(default)]
    pub recalls: u32,
    /// Of the time the service was open, the share its counters were open for it, per cent
    /// (a counter open for several services counts for each); none when it did not open.
    #[serde(default)]
    pub counters_open_pct: Option<u8>,
}

/// Time counters spent paused for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseFigures {
    /// The reason, in the sede's words (empty: a pause from before reasons existed).
    pub reason: String,
    /// Counter-seconds paused.
    pub seconds: u32,
    /// Pauses.
    pub pauses: u32,
}

impl PauseFigures {
    /// The reason as people read it.
    pub fn reason_text(&self) -> &str {
        if self.reason.is_empty() {
            "non indicato"
        } else {
            &self.reason
        }
    }

    /// The time, in whole minutes (rounded).
    pub fn minutes(&self) -> u32 {
        (self.seconds + 30) / 60
    }
}

/// Figures of one counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterFigures {
    /// Counter.
    pub counter: CounterNumber,
    /// Served.
    pub served: u32,
    /// Marked absent.
    pub no_show: u32,
    /// Mean time at the counter, seconds.
    pub service_mean_s: Option<u32>,
}

/// A day's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyFigures {
    /// The numbering day.
    pub day: NaiveDate,
    /// Per service.
    pub services: Vec<ServiceFigures>,
    /// Per counter.
    pub counters: Vec<CounterFigures>,
    /// Pause time by reason, in the order the reasons first occurred.
    #[serde(default)]
    pub pauses: Vec<PauseFigures>,
}

/// Seconds of `[from, to)` within the windows.
fn overlap(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    windows: &[(DateTime<Utc>, DateTime<Utc>)],
) -> i64 {
    windows
        .iter()
        .map(|&(a, b)| (to.min(b) - from.max(a)).num_seconds().max(0))
        .sum()
}

fn overlap_total(windows: &[(DateTime<Utc>, DateTime<Utc>)]) -> i64 {
    windows
        .iter()
        .map(|&(a, b)| (b - a).num_seconds().max(0))
        .sum()
}

fn mean(v: &[i64]) -> Option<u32> {
    (!v.is_empty()).then(|| (v.iter().sum::<i64>() / v.len() as i64).max(0) as u32)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl DailyFigures {
    /// Computes the figures of a set of tickets and of the counters' day. Each service comes
    /// with how many counters may serve it and its opening windows of the day; pauses count
    /// within the sede's hours (all when it has none that day).
    pub fn compute<'a>(
        day: NaiveDate,
        tickets: impl Iterator<Item = &'a QueuedTicket> + Clone,
        services: impl Iterator<Item = (ServiceLetter, u32, Vec<(DateTime<Utc>, DateTime<Utc>)>)>,
        counters: impl Iterator<Item = CounterNumber>,
        spans: &[CounterSpan],
        sede_hours: &[(DateTime<Utc>, DateTime<Utc>)],
    ) -> Self {
        let service_time = |t: &QueuedTicket| match (t.started_at, t.finished_at, t.state) {
            (Some(s), Some(f), TicketState::Served) => Some((f - s).num_seconds().max(0)),
            _ => None,
        };
        let services = services
            .map(|(service, counters, windows)| {
                let mine = tickets.clone().filter(|t| t.number.letter() == service);
                let mut f = ServiceFigures {
                    service,
                    issued: 0,
                    served: 0,
                    no_show: 0,
                    cancelled: 0,
                    waiting: 0,
                    wait_mean_s: None,
                    wait_p90_s: None,
                    service_mean_s: None,
                    walk_mean_s: None,
                    recalls: 0,
                    counters_open_pct: None,
                };
                let mut waits = Vec::new();
                let mut served = Vec::new();
                let mut walks = Vec::new();
                for t in mine {
                    f.recalls += u32::from(t.recalls_total);
                    if let (Some(called), Some(started)) = (t.called_at, t.started_at) {
                        walks.push((started - called).num_seconds().max(0));
                    }
                    f.issued += 1;
                    match t.state {
                        TicketState::Served => f.served += 1,
                        TicketState::NoShow => f.no_show += 1,
                        TicketState::Cancelled => f.cancelled += 1,
                        TicketState::Issued => f.waiting += 1,
                        _ => {}
                    }
                    if let Some(c) = t.first_called_at {
                        waits.push((c - t.eligible_at).num_seconds().max(0));
                    }
                    served.extend(service_time(t));
                }
                waits.sort_unstable();
                f.wait_mean_s = mean(&waits);
                f.wait_p90_s = percentile(&waits, 0.9).map(|v| v as u32);
                f.service_mean_s = mean(&served);
                f.walk_mean_s = mean(&walks);
                let open_for = i64::from(counters) * overlap_total(&windows);
                if open_for > 0 {
                    let open: i64 = spans
                        .iter()
                        .filter(|s| matches!(&s.kind, SpanKind::Open(v) if v.contains(&service)))
                        .map(|s| overlap(s.from, s.to, &windows))
                        .sum();
                    f.counters_open_pct = Some((open * 100 / open_for).clamp(0, 100) as u8);
                }
                f
            })
            .collect();
        let mut pauses: Vec<PauseFigures> = Vec::new();
        for s in spans {
            let SpanKind::Paused(reason) = &s.kind else {
                continue;
            };
            let seconds = if sede_hours.is_empty() {
                (s.to - s.from).num_seconds().max(0)
            } else {
                overlap(s.from, s.to, sede_hours)
            } as u32;
            // A pause wholly outside the sede's hours is none of the day's.
            let inside =
                sede_hours.is_empty() || sede_hours.iter().any(|&(a, b)| s.from < b && s.to >= a);
            if !inside {
                continue;
            }
            match pauses.iter_mut().find(|p| &p.reason == reason) {
                Some(p) => {
                    p.seconds += seconds;
                    p.pauses += 1;
                }
                None => pauses.push(PauseFigures {
                    reason: reason.clone(),
                    seconds,
                    pauses: 1,
                }),
            }
        }
        let counters = counters
            .map(|counter| {
                let mut f = CounterFigures {
                    counter,
                    served: 0,
                    no_show: 0,
                    service_mean_s: None,
                };
                let mut served = Vec::new();
                for t in tickets.clone().filter(|t| t.counter == Some(counter)) {
                    match t.state {
                        TicketState::Served => f.served += 1,
                        TicketState::NoShow => f.no_show += 1,
                        _ => {}
                    }
                    served.extend(service_time(t));
                }
                f.service_mean_s = mean(&served);
                f
            })
            .collect();
        Self {
            day,
            services,
            counters,
            pauses,
        }
    }

    /// CSV export (RFC 4180, comma-separated, header row), one row per service, then per
    /// counter, then per pause reason.
    pub fn to_csv(&self) -> String {
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut out = String::from(
            "giorno,tipo,codice,emessi,serviti,assenti,annullati,in_attesa,attesa_media_s,attesa_p90_s,\
             servizio_medio_s,cammino_medio_s,richiami,sportelli_aperti_pct,pause,pausa_s\r\n",
        );
        for s in &self.services {
            let _ = write!(
                out,
                "{},servizio,{},{},{},{},{},{},{},{},{},{},{},{},,\r\n",
                self.day,
                s.service,
                s.issued,
                s.served,
                s.no_show,
                s.cancelled,
                s.waiting,
                opt(s.wait_mean_s),
                opt(s.wait_p90_s),
                opt(s.service_mean_s),
                opt(s.walk_mean_s),
                s.recalls,
                opt(s.counters_open_pct.map(u32::from)),
            );
        }
        for c in &self.counters {
            let _ = write!(
                out,
                "{},sportello,{},,{},{},,,,,{},,,,,\r\n",
                self.day,
                c.counter,
                c.served,
                c.no_show,
                opt(c.service_mean_s)
            );
        }
        for p in &self.pauses {
            // A reason is the sede's own text: quoted, its quotes doubled (RFC 4180).
            let _ = write!(
                out,
                "{},pausa,\"{}\",,,,,,,,,,,,{},{}\r\n",
                self.day,
                p.reason.replace('"', "\"\""),
                p.pauses,
                p.seconds
            );
        }
        out
    }
}
