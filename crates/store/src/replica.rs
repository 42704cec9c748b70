//! The part of the store that mirrors the hub: branch configuration, services, counters,
//! opening hours, appointments and verifying keys. The kiosk only reads it.

use chrono::{NaiveTime, Utc};

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError, conversion, invalid, local_ts, parse_local_ts, ts};
use domain::{
    Appointment, AppointmentState, BookingId, Counter, CounterNumber, OpeningHours, PersonKey,
    Sede, SedeCode, Service, ServiceLetter, ServiceLevel,
};
use protocol::replica::Replica;

fn level_name(level: ServiceLevel) -> &'static str {
    match level {
        ServiceLevel::First => "first",
        ServiceLevel::Second => "second",
    }
}

impl Store {
    /// Replaces the replica with `replica` in one transaction. Appointments already checked in
    /// keep their local state: the branch node owns what happened today.
    pub fn apply_replica(&mut self, replica: &Replica) -> Result<(), StoreError> {
        let now = ts(Utc::now());
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::classify(e, &self.path))?;
        let result = (|| -> rusqlite::Result<()> {
            write_config(
                &tx,
                replica.sede.as_ref(),
                &replica.services,
                &replica.counters,
                &replica.hours,
                &replica.rules,
                &replica.verifying_keys,
                &now,
            )?;
            for a in &replica.appointments {
                write_appointment(&tx, a, &now)?;
            }
            Ok(())
        })();
        result
            .and_then(|()| tx.commit())
            .map_err(|e| StoreError::classify(e, &self.path))
    }

    /// The branch's sede, once configured.
    pub fn sede(&self) -> Result<Option<Sede>, StoreError> {
        let get = |key: &str| -> rusqlite::Result<Option<String>> {
            self.conn
                .query_row("SELECT value FROM config WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()
        };
        let read = || -> rusqlite::Result<Option<Sede>> {
            let (Some(code), Some(name)) = (get("sede_code")?, get("sede_name")?) else {
                return Ok(None);
            };
            let code = SedeCode::parse(&code).map_err(conversion)?;
            Ok(Some(Sede { code, name }))
        };
        read().map_err(|e| self.err(e))
    }

    /// Services in display order.
    pub fn services(&self) -> Result<Vec<Service>, StoreError> {
        let read = || -> rusqlite::Result<Vec<Service>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT letter, name, level, appointment_only, slot_minutes FROM service ORDER BY position",
            )?;
            let rows = stmt.query_map([], |r| {
                let letter: String = r.get(0)?;
                let level: String = r.get(2)?;
                Ok(Service {
                    letter: ServiceLetter::parse(&letter).map_err(conversion)?,
                    name: r.get(1)?,
                    level: if level == "first" {
                        ServiceLevel::First
                    } else {
                        ServiceLevel::Second
                    },
                    appointment_only: r.get(3)?,
                    slot_minutes: r.get(4)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// Counters with their services.
    pub fn counters(&self) -> Result<Vec<Counter>, StoreError> {
        let read = || -> rusqlite::Result<Vec<Counter>> {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT number, label FROM counter ORDER BY number")?;
            let mut counters: Vec<Counter> = stmt
                .query_map([], |r| {
                    let n: u8 = r.get(0)?;
                    Ok(Counter {
                        number: CounterNumber::new(n).map_err(conversion)?,
                        label: r.get(1)?,
                        services: vec![],
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = self.conn.prepare_cached(
                "SELECT service_letter, weight FROM counter_service WHERE counter_number = ?1 ORDER BY rowid",
            )?;
            for c in &mut counters {
                c.services = stmt
                    .query_map([c.number.get()], |r| {
                        let letter: String = r.get(0)?;
                        Ok((
                            ServiceLetter::parse(&letter).map_err(conversion)?,
                            r.get(1)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
            }
            Ok(counters)
        };
        read().map_err(|e| self.err(e))
    }

    /// Weekly opening hours.
    pub fn opening_hours(&self) -> Result<Vec<OpeningHours>, StoreError> {
        let read = || -> rusqlite::Result<Vec<OpeningHours>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT service_letter, weekday, opens, closes, appointment_only FROM opening_hours
                 ORDER BY service_letter, weekday, opens",
            )?;
            let time = |s: String| NaiveTime::parse_from_str(&s, "%H:%M").map_err(conversion);
            let rows = stmt.query_map([], |r| {
                let letter: String = r.get(0)?;
                Ok(OpeningHours {
                    service: ServiceLetter::parse(&letter).map_err(conversion)?,
                    weekday: r.get(1)?,
                    opens: time(r.get(2)?)?,
                    closes: time(r.get(3)?)?,
                    appointment_only: r.get(4)?,
                })
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// One appointment.
    pub fn appointment(&self, id: BookingId) -> Result<Option<Appointment>, StoreError> {
        self.conn
            .query_row(
                "SELECT booking_id, sede_code, service_letter, starts_at, duration_min, person_key, state
                 FROM appointment WHERE booking_id = ?1",
                [id.get() as i64],
                appointment_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Appointments starting on a local date, by start time.
    pub fn appointments_on(&self, date: chrono::NaiveDate) -> Result<Vec<Appointment>, StoreError> {
        let from = local_ts(date.and_time(NaiveTime::MIN));
        let to = local_ts(date.succ_opt().unwrap_or(date).and_time(NaiveTime::MIN));
        let read = || -> rusqlite::Result<Vec<Appointment>> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT booking_id, sede_code, service_letter, starts_at, duration_min, person_key, state
                 FROM appointment WHERE starts_at >= ?1 AND starts_at < ?2 ORDER BY starts_at, booking_id",
            )?;
            let rows = stmt.query_map([from, to], appointment_row)?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }

    /// Booking-token verifying keys.
    pub fn verifying_keys(&self) -> Result<Vec<(u16, [u8; 32])>, StoreError> {
        let read = || -> rusqlite::Result<Vec<(u16, [u8; 32])>> {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT key_id, public_key FROM verifying_key ORDER BY key_id")?;
            let rows = stmt.query_map([], |r| {
                let bytes: Vec<u8> = r.get(1)?;
                let key: [u8; 32] = bytes.try_into().map_err(|_| invalid("key length"))?;
                Ok((r.get(0)?, key))
            })?;
            rows.collect()
        };
        read().map_err(|e| self.err(e))
    }
}

fn appointment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Appointment> {
    let id: i64 = r.get(0)?;
    let sede: String = r.get(1)?;
    let letter: String = r.get(2)?;
    let starts: String = r.get(3)?;
    let key: Option<Vec<u8>> = r.get(5)?;
    let state: String = r.get(6)?;
    Ok(Appointment {
        id: BookingId::from_u64(id as u64).ok_or_else(|| invalid("booking id"))?,
        sede: SedeCode::parse(&sede).map_err(conversion)?,
        service: ServiceLetter::parse(&letter).map_err(conversion)?,
        starts_at: parse_local_ts(&starts)?,
        duration_min: r.get(4)?,
        person_key: key
            .map(|k| {
                k.try_into()
                    .map(PersonKey)
                    .map_err(|_| invalid("person key length"))
            })
            .transpose()?,
        state: AppointmentState::from_name(&state).ok_or_else(|| invalid("appointment state"))?,
    })
}

/// Writes the branch configuration: sede, calling rules, services (upserted), counters and
/// hours (replaced), verifying keys (the whole set: a key the hub withdrew is gone here too).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_config(
    tx: &rusqlite::Transaction<'_>,
    sede: Option<&Sede>,
    services: &[domain::Service],
    counters: &[domain::Counter],
    hours: &[OpeningHours],
    rules: &queue::QueueRules,
    verifying_keys: &[(u16, [u8; 32])],
    now: &str,
) -> rusqlite::Result<()> {
    if let Some(sede) = sede {
        for (key, value) in [
            ("sede_code", sede.code.to_string()),
            ("sede_name", sede.name.clone()),
        ] {
            tx.execute(
                "INSERT INTO config (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
    }
    let rules = serde_json::to_string(rules)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO config (key, value) VALUES ('queue_rules', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [rules],
    )?;
    tx.execute("DELETE FROM counter_service", [])?;
    tx.execute("DELETE FROM opening_hours", [])?;
    tx.execute("DELETE FROM counter", [])?;
    for (position, s) in services.iter().enumerate() {
        tx.execute(
            "INSERT INTO service (letter, name, level, appointment_only, slot_minutes, position)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (letter) DO UPDATE SET name = excluded.name, level = excluded.level,
               appointment_only = excluded.appointment_only,
               slot_minutes = excluded.slot_minutes, position = excluded.position",
            params![
                s.letter.to_string(),
                s.name,
                level_name(s.level),
                s.appointment_only,
                s.slot_minutes,
                position as i64
            ],
        )?;
    }
    for c in counters {
        tx.execute(
            "INSERT INTO counter (number, label) VALUES (?1, ?2)",
            params![c.number.get(), c.label],
        )?;
        for (letter, weight) in &c.services {
            tx.execute(
                "INSERT INTO counter_service (counter_number, service_letter, weight)
                 VALUES (?1, ?2, ?3)",
                params![c.number.get(), letter.to_string(), weight],
            )?;
        }
    }
    for h in hours {
        tx.execute(
            "INSERT INTO opening_hours (service_letter, weekday, opens, closes, appointment_only)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                h.service.to_string(),
                h.weekday,
                h.opens.format("%H:%M").to_string(),
                h.closes.format("%H:%M").to_string(),
                h.appointment_only
            ],
        )?;
    }
    let existing: Vec<u16> = tx
        .prepare("SELECT key_id FROM verifying_key")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in existing {
        if !verifying_keys.iter().any(|(k, _)| *k == id) {
            tx.execute("DELETE FROM verifying_key WHERE key_id = ?1", [id])?;
        }
    }
    for (key_id, public) in verifying_keys {
        tx.execute(
            "INSERT INTO verifying_key (key_id, public_key, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key_id) DO UPDATE SET public_key = excluded.public_key",
            params![key_id, public.to_vec(), now],
        )?;
    }
    Ok(())
}

/// Upserts an appointment. One already checked in keeps its local state: the branch node owns
/// what happened today.
pub(super) fn write_appointment(
    tx: &rusqlite::Transaction<'_>,
    a: &domain::Appointment,
    now: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO appointment
           (booking_id, sede_code, service_letter, starts_at, duration_min, person_key, state, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (booking_id) DO UPDATE SET
           sede_code = excluded.sede_code, service_letter = excluded.service_letter,
           starts_at = excluded.starts_at, duration_min = excluded.duration_min,
           person_key = excluded.person_key, updated_at = excluded.updated_at,
           state = CASE WHEN appointment.booking_id IN (SELECT booking_id FROM ticket WHERE booking_id IS NOT NULL)
                        THEN appointment.state ELSE excluded.state END",
        params![
            a.id.get() as i64,
            a.sede.to_string(),
            a.service.to_string(),
            local_ts(a.starts_at),
            a.duration_min,
            a.person_key.map(|k| k.0.to_vec()),
            a.state.name(),
            now
        ],
    )?;
    Ok(())
}
