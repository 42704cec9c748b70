//! The queue's event log and the ticket read model it maintains, written together.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Params, Row, Transaction, params};

use super::{Store, StoreError, day, invalid, parse_day, parse_ts, ts};
use domain::{
    BookingId, CounterNumber, PersonKey, PriorityCategory, ServiceLetter, Ticket, TicketNumber,
    TicketPriority, TicketState,
};
use protocol::{OP_SCHEMA_VERSION, Op};
use queue::estimate::WaitSample;
use queue::{CancelReason, Event, EventKind, QueueRules};

/// What a business action writes besides its events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// Who checked in (pseudonymous), kept on the ticket row for audit and purged after 90 days.
    pub person: Option<PersonKey>,
    /// The booking that was checked in: its replica row moves to `checked_in`.
    pub checked_in: Option<BookingId>,
}

/// An event as stored: its sequence number in the log is also its server-sent event id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Log sequence.
    pub seq: i64,
    /// The numbering day it belongs to.
    pub business_day: NaiveDate,
    /// The event.
    pub event: Event,
}

impl Store {
    /// Appends `events` to the log, updates the ticket read model and writes one outbox row per
    /// event, in one transaction. `business_day` is the day the events belong to (a
    /// `DayOpened` among them starts a new one).
    pub fn record_events(
        &mut self,
        mut business_day: NaiveDate,
        events: &[Event],
        extras: Extras,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let path = self.path.clone();
        let classify = |e| StoreError::classify(e, &path);
        let tx = self.conn.transaction().map_err(classify)?;
        let mut stored = Vec::with_capacity(events.len());
        for event in events {
            if let EventKind::DayOpened { day } = event.kind {
                business_day = day;
            }
            let payload = serde_json::to_string(event).map_err(|e| classify(to_sql(e)))?;
            exec(
                &tx,
                "INSERT INTO queue_event (business_day, at, kind, payload) VALUES (?1, ?2, ?3, ?4)",
                params![day(business_day), ts(event.at), event.kind.name(), payload],
            )
            .map_err(classify)?;
            let seq = tx.last_insert_rowid();
            update_read_model(&tx, business_day, event, extras).map_err(classify)?;
            let op = Op::Queue {
                seq,
                business_day,
                event: event.clone(),
            };
            append_outbox(&tx, &op, event.at).map_err(classify)?;
            stored.push(StoredEvent {
                seq,
                business_day,
                event: event.clone(),
            });
        }
        if let Some(booking) = extras.checked_in {
            exec(
                &tx,
                "UPDATE appointment SET state = 'checked_in', updated_at = ?2 WHERE booking_id = ?1",
                params![booking.get() as i64, ts(Utc::now())],
            )
            .map_err(classify)?;
        }
        tx.commit().map_err(classify)?;
        Ok(stored)
    }

    /// Whether this store has ever logged a queue event (a node that has numbered before).
    pub fn has_queue_events(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM queue_event)", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// The events of the latest numbering day, in order: what rebuilds the queue at start.
    pub fn current_day_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let from: Option<i64> = self
            .conn
            .query_row(
                "SELECT max(seq) FROM queue_event WHERE kind = 'day_opened'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        match from {
            Some(from) => self.events_after(from - 1, usize::MAX),
            None => Ok(Vec::new()),
        }
    }

    /// Up to `limit` events after `seq`, for consoles resuming from their last event id.
    pub fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let read = || -> rusqlite::Result<Vec<StoredEvent>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, business_day, payload FROM queue_event WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![seq, limit.min(i64::MAX as usize) as i64], |r| {
                let payload: String = r.get(2)?;
                Ok(StoredEvent {
                    seq: r.get(0)?,
                    business_day: parse_day(&r.get::<_, String>(1)?)?,
                    event: serde_json::from_str(&payload).map_err(super::conversion)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// The latest event's sequence number (0 when the log is empty).
    pub fn last_event_seq(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(seq), 0) FROM queue_event", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    /// The calling rules the hub published (defaults until it has).
    pub fn queue_rules(&self) -> Result<QueueRules, StoreError> {
        let value: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM config WHERE key = 'queue_rules'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match value {
            Some(v) => serde_json::from_str(&v).map_err(|e| self.err(super::conversion(e))),
            None => Ok(QueueRules::default()),
        }
    }

    /// Past waits since `since` (inclusive), for the wait estimate: tickets that were called,
    /// with the people ahead when they were issued.
    pub fn wait_history(&self, since: NaiveDate) -> Result<Vec<WaitSample>, StoreError> {
        use chrono::{Datelike, Timelike};
        let read = || -> rusqlite::Result<Vec<WaitSample>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT queue_service, eligible_at, first_called_at, ahead_at_issue FROM ticket
                 WHERE business_day >= ?1 AND first_called_at IS NOT NULL
                   AND eligible_at IS NOT NULL AND ahead_at_issue IS NOT NULL",
            )?;
            let rows = stmt.query_map([day(since)], |r| {
                let service: String = r.get(0)?;
                let eligible = parse_ts(&r.get::<_, String>(1)?)?;
                let called = parse_ts(&r.get::<_, String>(2)?)?;
                let local = eligible.with_timezone(&domain::TIME_ZONE);
                Ok(WaitSample {
                    service: ServiceLetter::parse(&service).map_err(|_| invalid("service"))?,
                    weekday: local.weekday().number_from_monday() as u8,
                    hour: local.hour() as u8,
                    ahead: r.get(3)?,
                    wait_s: (called - eligible).num_seconds().max(0) as u32,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// Tickets of a numbering day from the read model, in issue order.
    pub fn tickets_on(&self, business_day: NaiveDate) -> Result<Vec<Ticket>, StoreError> {
        let read = || -> rusqlite::Result<Vec<Ticket>> {
            let mut stmt = self.conn.prepare_cached(&format!(
                "{TICKET_COLUMNS} WHERE business_day = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([day(business_day)], ticket_row)?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }
}

fn to_sql(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

// Cached statements: an event writes three rows, and preparing each statement every time
// would cost more than the commit itself.
fn exec(conn: &Connection, sql: &str, p: impl Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(p)
}

fn update_read_model(
    tx: &Transaction<'_>,
    business_day: NaiveDate,
    event: &Event,
    extras: Extras,
) -> rusqlite::Result<()> {
    let d = day(business_day);
    let at = ts(event.at);
    let set = |ticket: TicketNumber, sets: &str, p: &[&dyn rusqlite::ToSql]| {
        let sql = format!(
            "UPDATE ticket SET {sets} WHERE business_day = ?1 AND service_letter = ?2 AND number = ?3"
        );
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&d];
        let letter = ticket.letter().to_string();
        let number = ticket.number();
        all.push(&letter);
        all.push(&number);
        all.extend_from_slice(p);
        exec(tx, &sql, all.as_slice()).map(|_| ())
    };
    match &event.kind {
        EventKind::DayClosed { figures } => {
            let json = serde_json::to_string(figures).map_err(to_sql)?;
            exec(
                tx,
                "INSERT INTO daily_figures (business_day, closed_at, figures) VALUES (?1, ?2, ?3)
                 ON CONFLICT (business_day) DO UPDATE SET closed_at = excluded.closed_at, figures = excluded.figures",
                params![day(figures.day), at, json],
            )?;
            exec(
                tx,
                "UPDATE ticket SET state = 'cancelled', cancel_reason = 'day_closed', counter_number = NULL,
                   finished_at = coalesce(finished_at, ?2)
                 WHERE business_day = ?1 AND state NOT IN ('served', 'cancelled')",
                params![day(figures.day), at],
            )?;
        }
        EventKind::TicketIssued {
            ticket,
            priority,
            booking,
            eligible_at,
            clock_trusted,
            ahead,
            kiosk,
            offline_at,
            ..
        } => {
            let category = match priority {
                TicketPriority::Priority(c) => Some(c.name()),
                _ => None,
            };
            // A booking has one ticket row: a duplicate check-in from a kiosk that was cut off
            // is kept without it (the queue cancels it as a duplicate).
            exec(
                tx,
                "INSERT INTO ticket (business_day, service_letter, number, booking_id, priority,
                   priority_category, state, issued_at, clock_trusted, person_key, queue_service, eligible_at,
                   ahead_at_issue, kiosk, issued_offline)
                 VALUES (?1, ?2, ?3,
                   CASE WHEN EXISTS (SELECT 1 FROM ticket WHERE booking_id = ?4) THEN NULL ELSE ?4 END,
                   ?5, ?6, 'issued', ?7, ?8, ?9, ?2, ?10, ?11, ?12, ?13)",
                params![
                    d,
                    ticket.letter().to_string(),
                    ticket.number(),
                    booking.map(|b| b.get() as i64),
                    priority.as_str(),
                    category,
                    offline_at.map_or(at.clone(), ts),
                    clock_trusted,
                    extras.person.map(|p| p.0.to_vec()),
                    ts(*eligible_at),
                    ahead,
                    kiosk,
                    offline_at.is_some()
                ],
            )?;
        }
        EventKind::TicketCalled {
            ticket, counter, ..
        } => set(
            *ticket,
            "state = 'called', counter_number = ?4, recalls = 0, first_called_at = coalesce(first_called_at, ?5)",
            &[&counter.get(), &at],
        )?,
        EventKind::TicketRecalled {
            ticket, recalls, ..
        } => set(*ticket, "recalls = ?4", &[recalls])?,
        EventKind::TicketNoShow { ticket, .. } => {
            set(*ticket, "state = 'no_show', finished_at = ?4", &[&at])?
        }
        EventKind::TicketReactivated { ticket } => {
            set(*ticket, "state = 'issued', finished_at = NULL", &[])?
        }
        EventKind::TicketTransferred { ticket, to, .. } => set(
            *ticket,
            "state = 'issued', queue_service = ?4, started_at = NULL",
            &[&to.to_string()],
        )?,
        EventKind::ServiceStarted { ticket, .. } => {
            set(*ticket, "state = 'in_service', started_at = ?4", &[&at])?
        }
        EventKind::TicketServed { ticket, counter } => set(
            *ticket,
            "state = 'served', finished_at = ?4, counter_number = ?5",
            &[&at, &counter.get()],
        )?,
        EventKind::TicketCancelled { ticket, reason } => {
            let reason = match reason {
                CancelReason::Staff => "staff",
                CancelReason::DayClosed => "day_closed",
                CancelReason::Duplicate => "duplicate",
                CancelReason::Replaced => "replaced",
                CancelReason::Unanswered => "unanswered",
            };
            if reason == "replaced" {
                // The booking's one ticket row is the one that replaces it.
                set(*ticket, "booking_id = NULL", &[])?;
            }
            set(
                *ticket,
                "state = 'cancelled', finished_at = ?4, cancel_reason = ?5",
                &[&at, &reason],
            )?
        }
        // The previous node's open tickets get their rows here, as they were issued there.
        EventKind::DayTakenOver(taken) => {
            for e in &taken.open {
                update_read_model(tx, business_day, e, Extras::default())?;
            }
        }
        // The day, leases, counters, alerts and assistance requests live in the event log only.
        EventKind::DayOpened { .. }
        | EventKind::NumbersLeased { .. }
        | EventKind::CounterOpened { .. }
        | EventKind::CounterPaused { .. }
        | EventKind::CounterClosed { .. }
        | EventKind::AlertRaised { .. }
        | EventKind::AlertCleared { .. }
        | EventKind::AssistanceRequested { .. }
        | EventKind::AssistanceAnswered { .. } => {}
    }
    Ok(())
}

fn append_outbox(tx: &Transaction<'_>, op: &Op, now: DateTime<Utc>) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(op).map_err(to_sql)?;
    exec(
        tx,
        "INSERT INTO outbox (op_id, kind, payload, schema_version, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            uuid::Uuid::now_v7().to_string(),
            op.kind(),
            payload,
            OP_SCHEMA_VERSION,
            ts(now)
        ],
    )?;
    Ok(())
}

const TICKET_COLUMNS: &str =
    "SELECT service_letter, number, business_day, priority, priority_category,
    booking_id, state, counter_number, issued_at, clock_trusted FROM ticket";

fn ticket_row(r: &Row<'_>) -> rusqlite::Result<Ticket> {
    let letter: String = r.get(0)?;
    let letter = ServiceLetter::parse(&letter).map_err(|_| invalid("service letter"))?;
    let number = TicketNumber::new(letter, r.get(1)?).ok_or_else(|| invalid("ticket number"))?;
    let business_day: String = r.get(2)?;
    let priority: String = r.get(3)?;
    let category: Option<String> = r.get(4)?;
    let priority = match priority.as_str() {
        "priority" => TicketPriority::Priority(
            category
                .as_deref()
                .and_then(PriorityCategory::from_name)
                .ok_or_else(|| invalid("priority category"))?,
        ),
        "appointment" => TicketPriority::Appointment,
        _ => TicketPriority::WalkIn,
    };
    let booking: Option<i64> = r.get(5)?;
    let state: String = r.get(6)?;
    let counter: Option<u8> = r.get(7)?;
    let counter = || {
        counter
            .and_then(|n| CounterNumber::new(n).ok())
            .ok_or_else(|| invalid("counter"))
    };
    let state = match state.as_str() {
        "issued" => TicketState::Issued,
        "called" => TicketState::Called(counter()?),
        "in_service" => TicketState::InService(counter()?),
        "served" => TicketState::Served,
        "no_show" => TicketState::NoShow,
        "cancelled" => TicketState::Cancelled,
        _ => return Err(invalid("ticket state")),
    };
    let issued_at: String = r.get(8)?;
    Ok(Ticket {
        number,
        business_day: parse_day(&business_day)?,
        priority,
        booking: booking.and_then(|b| BookingId::from_u64(b as u64)),
        state,
        issued_at: parse_ts(&issued_at)?,
        clock_trusted: r.get(9)?,
    })
}

impl Store {
    /// Records that a ticket reached paper.
    pub fn mark_printed(
        &mut self,
        business_day: NaiveDate,
        ticket: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO ticket_print (business_day, ticket, printed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (business_day, ticket) DO UPDATE SET printed_at = excluded.printed_at",
                params![day(business_day), ticket, ts(at)],
            )
            .map(drop)
            .map_err(|e| StoreError::classify(e, &self.path))
    }

    /// The tickets of a day that reached paper.
    pub fn printed_tickets(
        &self,
        business_day: NaiveDate,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let classify = |e| StoreError::classify(e, &self.path);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT ticket FROM ticket_print WHERE business_day = ?1")
            .map_err(classify)?;
        let rows = stmt
            .query_map([day(business_day)], |r| r.get::<_, String>(0))
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }
}

impl Store {
    /// The highest ticket number of each service on `day`, as the ticket table holds them.
    pub fn highest_ticket_numbers(
        &self,
        day_: NaiveDate,
    ) -> Result<Vec<(ServiceLetter, u16)>, StoreError> {
        let classify = |e| StoreError::classify(e, &self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT service_letter, max(number) FROM ticket WHERE business_day = ?1
                 GROUP BY service_letter",
            )
            .map_err(classify)?;
        let rows = stmt
            .query_map([day(day_)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(classify)?;
        let mut out = Vec::new();
        for row in rows {
            let (letter, n) = row.map_err(classify)?;
            if let (Ok(letter), Ok(n)) = (ServiceLetter::parse(&letter), u16::try_from(n)) {
                out.push((letter, n));
            }
        }
        Ok(out)
    }
}
