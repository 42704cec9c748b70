//! At a kiosk of a branch with a node: the numbers the node leased to it, and the tickets it
//! printed from them while the node could not be reached, kept until the node has them.
//!
//! A number is taken and its ticket recorded in one transaction, before the ticket is
//! printed: a power cut never gives a number twice or loses a printed ticket.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, day, parse_day, ts};
use domain::{BookingId, ServiceLetter, TicketNumber};
use protocol::lan::{Block, Handed};
use queue::OfflineTicket;

impl Store {
    /// Keeps blocks the node leased for `business_day` (the same block twice is kept once).
    pub fn add_leases(
        &mut self,
        business_day: NaiveDate,
        blocks: &[Block],
    ) -> Result<(), StoreError> {
        let written: rusqlite::Result<()> = (|| {
            let tx = self.conn.transaction()?;
            for b in blocks {
                tx.execute(
                    "INSERT INTO lease (business_day, service_letter, first, last, next)
                     VALUES (?1, ?2, ?3, ?4, ?3) ON CONFLICT DO NOTHING",
                    params![day(business_day), b.service.to_string(), b.first, b.last],
                )?;
            }
            tx.commit()
        })();
        written.map_err(|e| self.err(e))
    }

    /// Numbers left per service of `business_day`'s leases.
    pub fn leases_left(
        &self,
        business_day: NaiveDate,
    ) -> Result<BTreeMap<ServiceLetter, u16>, StoreError> {
        let read = || -> rusqlite::Result<BTreeMap<ServiceLetter, u16>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT service_letter, sum(last + 1 - next) FROM lease
                 WHERE business_day = ?1 GROUP BY service_letter",
            )?;
            let rows = stmt.query_map([day(business_day)], |r| {
                let letter: String = r.get(0)?;
                let left: i64 = r.get(1)?;
                Ok((letter, left))
            })?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (letter, left) = row?;
                if let Ok(l) = ServiceLetter::parse(&letter) {
                    out.insert(l, u16::try_from(left).unwrap_or(0));
                }
            }
            Ok(out)
        };
        read().map_err(|e| self.err(e))
    }

    /// The day of the newest lease, if any.
    pub fn lease_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let read = || -> rusqlite::Result<Option<NaiveDate>> {
            let d: Option<String> =
                self.conn
                    .query_row("SELECT max(business_day) FROM lease", [], |r| r.get(0))?;
            d.map(|d| parse_day(&d)).transpose()
        };
        read().map_err(|e| self.err(e))
    }

    /// Takes the next leased number of `service` on `business_day` and records the ticket
    /// `make` builds with it, in one transaction; `None` when no leased number is left.
    pub fn issue_offline(
        &mut self,
        business_day: NaiveDate,
        service: ServiceLetter,
        person: Option<String>,
        make: impl FnOnce(TicketNumber) -> OfflineTicket,
    ) -> Result<Option<OfflineTicket>, StoreError> {
        let written: rusqlite::Result<Option<OfflineTicket>> = (|| {
            let tx = self.conn.transaction()?;
            let lease: Option<(u16, i64)> = tx
                .query_row(
                    "SELECT next, first FROM lease
                     WHERE business_day = ?1 AND service_letter = ?2 AND next <= last
                     ORDER BY first LIMIT 1",
                    params![day(business_day), service.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((next, first)) = lease else {
                return Ok(None);
            };
            let number =
                TicketNumber::new(service, next).ok_or_else(|| super::invalid("leased number"))?;
            let ticket = make(number);
            tx.execute(
                "UPDATE lease SET next = next + 1
                 WHERE business_day = ?1 AND service_letter = ?2 AND first = ?3",
                params![day(business_day), service.to_string(), first],
            )?;
            let handed = Handed {
                business_day,
                ticket: ticket.clone(),
                person,
            };
            tx.execute(
                "INSERT INTO offline_ticket (business_day, ticket, payload, issued_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    day(business_day),
                    number.to_string(),
                    serde_json::to_string(&handed).map_err(super::conversion)?,
                    ts(ticket.issued_at)
                ],
            )?;
            tx.commit()?;
            Ok(Some(ticket))
        })();
        written.map_err(|e| self.err(e))
    }

    /// Tickets printed while cut off and not yet taken by the node, oldest first.
    pub fn offline_pending(&self, limit: usize) -> Result<Vec<Handed>, StoreError> {
        let read = || -> rusqlite::Result<Vec<Handed>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT payload FROM offline_ticket WHERE handed_at IS NULL
                 ORDER BY issued_at, ticket LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit.min(i64::MAX as usize) as i64], |r| {
                let payload: String = r.get(0)?;
                serde_json::from_str(&payload).map_err(super::conversion)
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// The node has these tickets: they are kept as the kiosk's record of what it printed,
    /// without who checked in (the node has it now).
    pub fn offline_handed(
        &mut self,
        tickets: &[(NaiveDate, TicketNumber)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let written: rusqlite::Result<()> = (|| {
            let tx = self.conn.transaction()?;
            for (d, t) in tickets {
                tx.execute(
                    "UPDATE offline_ticket SET handed_at = ?3,
                       payload = json_set(payload, '$.person', json('null'))
                     WHERE business_day = ?1 AND ticket = ?2 AND handed_at IS NULL",
                    params![day(*d), t.to_string(), ts(at)],
                )?;
            }
            tx.commit()
        })();
        written.map_err(|e| self.err(e))
    }

    /// The ticket this kiosk printed while cut off for `booking` on `business_day`, so a
    /// second scan reprints it instead of taking a second number.
    pub fn offline_ticket_of_booking(
        &self,
        business_day: NaiveDate,
        booking: BookingId,
    ) -> Result<Option<OfflineTicket>, StoreError> {
        let read = || -> rusqlite::Result<Option<OfflineTicket>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT payload FROM offline_ticket WHERE business_day = ?1
                   AND json_extract(payload, '$.ticket.booking[0]') = ?2",
            )?;
            let found: Option<String> = stmt
                .query_row(params![day(business_day), booking.get() as i64], |r| {
                    r.get(0)
                })
                .optional()?;
            found
                .map(|p| {
                    serde_json::from_str::<Handed>(&p)
                        .map(|h| h.ticket)
                        .map_err(super::conversion)
                })
                .transpose()
        };
        read().map_err(|e| self.err(e))
    }
}
