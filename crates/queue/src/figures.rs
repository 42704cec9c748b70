//! Daily figures per service and counter: what supervisors read and export.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ticket::QueuedTicket;
use domain::{CounterNumber, ServiceLetter, TicketState};

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
    /// Computes the figures of a set of tickets.
    pub fn compute<'a>(
        day: NaiveDate,
        tickets: impl Iterator<Item = &'a QueuedTicket> + Clone,
        services: impl Iterator<Item = ServiceLetter>,
        counters: impl Iterator<Item = CounterNumber>,
        _now: DateTime<Utc>,
    ) -> Self {
        let service_time = |t: &QueuedTicket| match (t.started_at, t.finished_at, t.state) {
            (Some(s), Some(f), TicketState::Served) => Some((f - s).num_seconds().max(0)),
            _ => None,
        };
        let services = services
            .map(|service| {
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
                };
                let mut waits = Vec::new();
                let mut served = Vec::new();
                for t in mine {
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
                f
            })
            .collect();
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
        }
    }

    /// CSV export (RFC 4180, comma-separated, header row), one row per service then per counter.
    pub fn to_csv(&self) -> String {
        let opt = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        let mut out = String::from(
            "giorno,tipo,codice,emessi,serviti,assenti,annullati,in_attesa,attesa_media_s,attesa_p90_s,servizio_medio_s\r\n",
        );
        for s in &self.services {
            let _ = write!(
                out,
                "{},servizio,{},{},{},{},{},{},{},{},{}\r\n",
                self.day,
                s.service,
                s.issued,
                s.served,
                s.no_show,
                s.cancelled,
                s.waiting,
                opt(s.wait_mean_s),
                opt(s.wait_p90_s),
                opt(s.service_mean_s)
            );
        }
        for c in &self.counters {
            let _ = write!(
                out,
                "{},sportello,{},,{},{},,,,,{}\r\n",
                self.day,
                c.counter,
                c.served,
                c.no_show,
                opt(c.service_mean_s)
            );
        }
        out
    }
}
