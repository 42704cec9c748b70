//! Tickets and check-ins: the writes whose numbers end up on paper.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Params, Row, Transaction, params};

use super::{Store, StoreError, day, invalid, parse_day, parse_ts, ts};
use crate::domain::{
    AppointmentState, BookingId, Clock, ClockTrust, CounterNumber, PersonKey, PriorityCategory,
    ServiceLetter, Ticket, TicketNumber, TicketPriority, TicketState,
};
use crate::sync::{OP_SCHEMA_VERSION, Op, TicketFact};

/// The result of a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    /// The appointment's ticket.
    pub ticket: Ticket,
    /// True when the appointment had already been checked in: this is the same ticket again,
    /// to reprint, never a second one.
    pub already: bool,
}

impl Store {
    /// Checks in a booked appointment and issues its ticket, in one transaction with the outbox
    /// row. A second check-in of the same booking returns the first ticket.
    pub fn check_in(
        &mut self,
        booking: BookingId,
        person: Option<PersonKey>,
        clock: &dyn Clock,
    ) -> Result<CheckIn, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &path))?;
        let found: Option<(String, String)> = tx
            .query_row(
                "SELECT service_letter, state FROM appointment WHERE booking_id = ?1",
                [booking.get() as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| StoreError::classify(e, &path))?;
        let Some((letter, state)) = found else {
            return Err(StoreError::UnknownBooking(booking));
        };
        if let Some(ticket) =
            ticket_of_booking(&tx, booking).map_err(|e| StoreError::classify(e, &path))?
        {
            return Ok(CheckIn {
                ticket,
                already: true,
            });
        }
        let state = AppointmentState::from_name(&state).unwrap_or(AppointmentState::Closed);
        if !state.can_check_in() {
            return Err(StoreError::NotCheckInable { booking, state });
        }
        let service =
            ServiceLetter::parse(&letter).map_err(|_| StoreError::UnknownBooking(booking))?;
        let now = clock.now();
        let ticket = insert_ticket(
            &tx,
            service,
            TicketPriority::Appointment,
            Some((booking, person)),
            clock,
            &path,
        )?;
        exec(
            &tx,
            "UPDATE appointment SET state = ?2, updated_at = ?3 WHERE booking_id = ?1",
            params![
                booking.get() as i64,
                AppointmentState::CheckedIn.name(),
                ts(now)
            ],
        )
        .map_err(|e| StoreError::classify(e, &path))?;
        append_outbox(
            &tx,
            &Op::CheckedIn {
                booking,
                ticket: fact(&ticket),
            },
            now,
        )
        .map_err(|e| StoreError::classify(e, &path))?;
        tx.commit().map_err(|e| StoreError::classify(e, &path))?;
        Ok(CheckIn {
            ticket,
            already: false,
        })
    }

    /// Issues a walk-in or priority ticket for a service.
    pub fn issue_ticket(
        &mut self,
        service: ServiceLetter,
        priority: TicketPriority,
        clock: &dyn Clock,
    ) -> Result<Ticket, StoreError> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &path))?;
        let ticket = insert_ticket(&tx, service, priority, None, clock, &path)?;
        append_outbox(&tx, &Op::TicketIssued(fact(&ticket)), clock.now())
            .map_err(|e| StoreError::classify(e, &path))?;
        tx.commit().map_err(|e| StoreError::classify(e, &path))?;
        Ok(ticket)
    }

    /// The current numbering day: today by a trusted clock, otherwise the last day used.
    pub fn business_day(&self, clock: &dyn Clock) -> Result<NaiveDate, StoreError> {
        let stored = stored_day(&self.conn).map_err(|e| self.err(e))?;
        Ok(choose_day(stored, clock))
    }

    /// Tickets of a numbering day, in issue order.
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

    /// Tickets waiting (issued, not yet called) for a service on the current numbering day.
    pub fn waiting_count(
        &self,
        service: ServiceLetter,
        clock: &dyn Clock,
    ) -> Result<u32, StoreError> {
        let business_day = self.business_day(clock)?;
        self.conn
            .query_row(
                "SELECT count(*) FROM ticket WHERE business_day = ?1 AND service_letter = ?2 AND state = 'issued'",
                params![day(business_day), service.to_string()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}

// Cached statements: a check-in runs about ten of them, and preparing each one every time
// would cost more than the commit itself.
fn exec(conn: &Connection, sql: &str, p: impl Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(p)
}

fn row<T>(
    conn: &Connection,
    sql: &str,
    p: impl Params,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(p, f)
}

/// The numbering day last written, if any.
fn stored_day(conn: &Connection) -> rusqlite::Result<Option<NaiveDate>> {
    row(conn, "SELECT day FROM business_day WHERE id = 1", [], |r| {
        r.get::<_, String>(0)
    })
    .optional()?
    .map(|s| parse_day(&s))
    .transpose()
}

fn choose_day(stored: Option<NaiveDate>, clock: &dyn Clock) -> NaiveDate {
    match (clock.trust(), stored) {
        // An untrusted clock may be days behind (restored at boot from the last shutdown) or
        // simply wrong: numbering stays on the day it was on.
        (ClockTrust::Untrusted, Some(d)) => d,
        _ => clock.today(),
    }
}

fn insert_ticket(
    tx: &Transaction<'_>,
    service: ServiceLetter,
    priority: TicketPriority,
    booking: Option<(BookingId, Option<PersonKey>)>,
    clock: &dyn Clock,
    path: &std::path::Path,
) -> Result<Ticket, StoreError> {
    let classify = |e| StoreError::classify(e, path);
    let exists: bool = tx
        .query_row(
            "SELECT 1 FROM service WHERE letter = ?1",
            [service.to_string()],
            |_| Ok(true),
        )
        .optional()
        .map_err(classify)?
        .unwrap_or(false);
    if !exists {
        return Err(StoreError::UnknownService(service));
    }
    let stored = stored_day(tx).map_err(classify)?;
    let business_day = choose_day(stored, clock);
    if stored != Some(business_day) {
        exec(
            tx,
            "INSERT INTO business_day (id, day) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET day = excluded.day",
            [day(business_day)],
        )
        .map_err(classify)?;
    }
    let last: Option<u16> = tx
        .query_row(
            "SELECT last_number FROM ticket_sequence WHERE business_day = ?1 AND service_letter = ?2",
            params![day(business_day), service.to_string()],
            |r| r.get(0),
        )
        .optional()
        .map_err(classify)?;
    let next = last.unwrap_or(0) + 1;
    let number = TicketNumber::new(service, next).ok_or(StoreError::NumbersExhausted(service))?;
    exec(tx,
        "INSERT INTO ticket_sequence (business_day, service_letter, last_number) VALUES (?1, ?2, ?3)
         ON CONFLICT (business_day, service_letter) DO UPDATE SET last_number = excluded.last_number",
        params![day(business_day), service.to_string(), next],
    )
    .map_err(classify)?;
    let now = clock.now();
    let trusted = clock.trust() == ClockTrust::Trusted;
    let category = match priority {
        TicketPriority::Priority(c) => Some(c.name()),
        _ => None,
    };
    exec(
        tx,
        "INSERT INTO ticket (business_day, service_letter, number, booking_id, priority,
                             priority_category, state, issued_at, clock_trusted, person_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'issued', ?7, ?8, ?9)",
        params![
            day(business_day),
            service.to_string(),
            next,
            booking.map(|(b, _)| b.get() as i64),
            priority.as_str(),
            category,
            ts(now),
            trusted,
            booking.and_then(|(_, p)| p).map(|p| p.0.to_vec())
        ],
    )
    .map_err(classify)?;
    Ok(Ticket {
        number,
        business_day,
        priority,
        booking: booking.map(|(b, _)| b),
        state: TicketState::Issued,
        issued_at: now,
        clock_trusted: trusted,
    })
}

fn fact(t: &Ticket) -> TicketFact {
    TicketFact {
        number: t.number,
        business_day: t.business_day,
        priority: t.priority,
        issued_at: t.issued_at,
        clock_trusted: t.clock_trusted,
    }
}

fn append_outbox(tx: &Transaction<'_>, op: &Op, now: DateTime<Utc>) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(op)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
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

fn ticket_of_booking(tx: &Transaction<'_>, booking: BookingId) -> rusqlite::Result<Option<Ticket>> {
    row(
        tx,
        &format!("{TICKET_COLUMNS} WHERE booking_id = ?1"),
        [booking.get() as i64],
        ticket_row,
    )
    .optional()
}

fn ticket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Ticket> {
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
