//! *Agenda appuntamenti*: an identified delegate books a slot at the sede di competenza of a
//! matricola, from the kiosk. In one synchronous request the hub checks the slot is still
//! free (under the branch configuration's row lock, so two kiosks cannot take the last
//! place), gives the booking its number, signs its token with the hub's own key (whose
//! verifying half it adds to the branch's configuration, so the kiosks accept it) and
//! publishes the appointment to the branch feed. No network, no booking: the kiosk says so.
//!
//! The confirmation and, the day before, a reminder go by e-mail and SMS to the contacts the
//! identity provider gave; cancelling frees the slot and tells the kiosks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use deadpool_postgres::{GenericClient, Pool};

use crate::extract::Delegated;
use crate::jobs::{self, Registry};
use crate::{HubError, HubState};
use domain::token::BookingClaims;
use domain::{Appointment, AppointmentState, BookingId, CodiceFiscale, ServiceLetter, TIME_ZONE};
use protocol::wire::{AgendaBooking, AgendaView, BranchConfigPayload, NewBooking};

/// How far ahead slots are offered.
pub const DAYS_AHEAD: i64 = 14;
/// How many free slots the kiosk is offered at once.
pub const MAX_SLOTS: usize = 24;
/// The earliest a slot can be booked: not within this many hours.
pub const LEAD_HOURS: i64 = 2;
/// Job kind of the day-before reminder.
pub const REMINDER: &str = "agenda_reminder";

/// The kiosk's routes: a company's free slots and bookings, booking and cancelling.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/v1/handoff/{id}/agenda/{matricola}", get(show).post(book))
        .route(
            "/v1/handoff/{id}/agenda/{matricola}/{booking}/annulla",
            post(cancel),
        )
}

/// Registers the day-before reminder with the job runner.
pub fn register(registry: &mut Registry, pool: Pool) {
    registry.register(REMINDER, move |job| {
        let pool = pool.clone();
        async move { remind(&pool, &job.payload).await }
    });
}

/// The starts of a service's slots on a day: every period of its hours that day, cut into
/// slots of the service's length (a last slot that would run past the close is not offered).
pub fn slot_starts(
    config: &BranchConfigPayload,
    service: ServiceLetter,
    day: NaiveDate,
) -> Vec<NaiveDateTime> {
    let Some(s) = config.services.iter().find(|s| s.letter == service) else {
        return Vec::new();
    };
    let step = Duration::minutes(i64::from(s.slot_minutes.max(5)));
    let weekday = day.weekday().number_from_monday() as u8;
    let mut periods: Vec<_> = config
        .hours
        .iter()
        .filter(|h| h.service == service && h.weekday == weekday)
        .collect();
    periods.sort_by_key(|h| h.opens);
    let mut out = Vec::new();
    if config.rules.holidays.contains(&day) {
        return out;
    }
    for h in periods {
        let mut t = day.and_time(h.opens);
        while t + step <= day.and_time(h.closes) {
            out.push(t);
            t += step;
        }
    }
    out
}

/// The service the Agenda books: the sede's first by appointment only, else its first.
pub fn bookable(config: &BranchConfigPayload) -> Option<&domain::Service> {
    config
        .services
        .iter()
        .find(|s| s.appointment_only)
        .or(config.services.first())
}

/// How many bookings one slot takes: the counters serving the service (at least one).
fn capacity(config: &BranchConfigPayload, service: ServiceLetter) -> usize {
    config
        .counters
        .iter()
        .filter(|c| c.services.iter().any(|(l, _)| *l == service))
        .count()
        .max(1)
}

/// The free slots from `now` on, given the live appointments' starts.
pub fn free_slots(
    config: &BranchConfigPayload,
    service: ServiceLetter,
    now: NaiveDateTime,
    taken: &[NaiveDateTime],
) -> Vec<NaiveDateTime> {
    let cap = capacity(config, service);
    let earliest = now + Duration::hours(LEAD_HOURS);
    (0..=DAYS_AHEAD)
        .flat_map(|d| slot_starts(config, service, now.date() + Duration::days(d)))
        .filter(|t| *t >= earliest)
        .filter(|t| taken.iter().filter(|s| *s == t).count() < cap)
        .take(MAX_SLOTS)
        .collect()
}

/// The first slot the sede's Agenda can offer from now on, if any.
pub async fn first_free(
    c: &impl GenericClient,
    branch: i32,
    config: &BranchConfigPayload,
) -> Result<Option<NaiveDateTime>, HubError> {
    let Some(service) = bookable(config) else {
        return Ok(None);
    };
    let now = local_now();
    let taken = taken(c, branch, service.letter, now).await?;
    Ok(free_slots(config, service.letter, now, &taken)
        .into_iter()
        .next())
}

fn local_now() -> NaiveDateTime {
    chrono::Utc::now().with_timezone(&TIME_ZONE).naive_local()
}

/// The live appointments' starts for `service` at `branch` from `now` on.
async fn taken(
    c: &impl GenericClient,
    branch: i32,
    service: ServiceLetter,
    now: NaiveDateTime,
) -> Result<Vec<NaiveDateTime>, HubError> {
    Ok(c.query(
        "SELECT starts_at FROM appointment
             WHERE branch_id = $1 AND service = $2 AND starts_at >= $3
               AND state NOT IN ('cancelled_by_user', 'cancelled_by_sede')",
        &[&branch, &service.to_string(), &now],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// The sede di competenza of a delegated matricola, with its configuration.
async fn sede_of(
    c: &impl GenericClient,
    cf: &str,
    matricola: &str,
    lock: bool,
) -> Result<Option<(i32, BranchConfigPayload)>, HubError> {
    let sql = if lock {
        "SELECT d.branch_id, c.payload FROM delegation d
         JOIN branch_config c ON c.branch_id = d.branch_id
         WHERE d.person_cf = $1 AND d.matricola = $2 FOR UPDATE OF c"
    } else {
        "SELECT d.branch_id, c.payload FROM delegation d
         JOIN branch_config c ON c.branch_id = d.branch_id
         WHERE d.person_cf = $1 AND d.matricola = $2"
    };
    let Some(r) = c.query_opt(sql, &[&cf, &matricola]).await? else {
        return Ok(None);
    };
    let config = serde_json::from_value(r.get(1))
        .map_err(|e| HubError::internal("stored configuration", e))?;
    Ok(Some((r.get(0), config)))
}

async fn view(
    c: &impl GenericClient,
    cf: &str,
    matricola: &str,
) -> Result<Option<AgendaView>, HubError> {
    let Some((branch, config)) = sede_of(c, cf, matricola, false).await? else {
        return Ok(None);
    };
    let Some(service) = bookable(&config) else {
        return Ok(None);
    };
    let now = local_now();
    let slots = free_slots(
        &config,
        service.letter,
        now,
        &taken(c, branch, service.letter, now).await?,
    );
    let bookings = c
        .query(
            "SELECT b.booking_id, b.starts_at, b.service, a.state, b.token
             FROM agenda_booking b
             JOIN appointment a USING (branch_id, booking_id)
             WHERE b.matricola = $1 AND b.starts_at >= $2
             ORDER BY b.starts_at",
            &[&matricola, &(now - Duration::hours(12))],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(AgendaBooking {
                booking: BookingId::from_u64(r.get::<_, i64>(0) as u64)
                    .ok_or_else(|| HubError::internal("stored booking id", r.get::<_, i64>(0)))?
                    .to_string(),
                starts_at: r.get(1),
                service: r.get(2),
                state: HubError::stored(
                    "stored appointment state",
                    r.get(3),
                    AppointmentState::from_name,
                )?,
                token: r.get(4),
            })
        })
        .collect::<Result<_, HubError>>()?;
    Ok(Some(AgendaView {
        sede: config.sede.name.clone(),
        service: service.letter.to_string(),
        service_name: service.name.clone(),
        slots,
        bookings,
    }))
}

/// `GET /v1/handoff/{id}/agenda/{matricola}`.
async fn show(company: Delegated) -> Result<Json<AgendaView>, HubError> {
    let Delegated { visitor, matricola } = company;
    view(
        &visitor.request.db,
        visitor.person_cf.as_str(),
        matricola.as_str(),
    )
    .await?
    .map(Json)
    .ok_or(HubError::NotFound)
}

/// `POST /v1/handoff/{id}/agenda/{matricola}`: books the chosen slot and answers the booking
/// with its signed token.
async fn book(
    State(state): State<HubState>,
    company: Delegated,
) -> Result<(StatusCode, Json<AgendaBooking>), HubError> {
    let wanted: NewBooking = company.visitor.request.json("a booking")?;
    let Some(keyer) = state.person_keyer.clone() else {
        return Err(HubError::Unavailable(
            "hub.person_key_secret is not set: bookings cannot be made".into(),
        ));
    };
    let kek = state.kek()?;
    let Delegated { visitor, matricola } = company;
    let (device, mut c, cf) = (
        visitor.request.device,
        visitor.request.db,
        visitor.person_cf,
    );
    let contacts = c
        .query_one(
            "SELECT email, mobile FROM handoff WHERE id = $1",
            &[&visitor.handoff],
        )
        .await?;
    let (email, mobile): (Option<String>, Option<String>) = (contacts.get(0), contacts.get(1));
    let tx = c.transaction().await?;
    // The configuration row's lock serialises this sede's bookings.
    let (branch, mut config) = sede_of(&tx, cf.as_str(), matricola.as_str(), true)
        .await?
        .ok_or(HubError::NotFound)?;
    let service = bookable(&config).cloned().ok_or(HubError::NotFound)?;
    let now = local_now();
    let free = free_slots(
        &config,
        service.letter,
        now,
        &taken(&tx, branch, service.letter, now).await?,
    );
    if !free.contains(&wanted.starts_at) {
        return Err(HubError::Conflict(
            "Questo orario non è più libero: ne scelga un altro.".to_owned(),
        ));
    }
    let progressive: i64 = tx
        .query_one("SELECT nextval('booking_progressive')", &[])
        .await?
        .get(0);
    let booking = BookingId::new(wanted.starts_at.year() as u16, progressive as u32)
        .ok_or_else(|| HubError::Internal("booking numbers are used up".into()))?;
    let signer = crate::keys::booking_signer(&tx, kek).await?;
    let key = (
        signer.key_id(),
        protocol::wire::hex(&signer.verifying_key()),
    );
    if !config.verifying_keys.contains(&key) {
        config.verifying_keys.push(key);
        crate::branch_data::put_config(&tx, branch, &config).await?;
    }
    let person_key = keyer.key(&CodiceFiscale::Personal(cf));
    let token = signer
        .sign(&BookingClaims {
            booking,
            sede: config.sede.code,
            starts_at: wanted.starts_at,
            service: service.letter,
            person: person_key,
        })
        .map_err(|e| HubError::internal("booking token", e))?;
    let appointment = Appointment {
        id: booking,
        sede: config.sede.code,
        service: service.letter,
        starts_at: wanted.starts_at,
        duration_min: service.slot_minutes,
        person_key: Some(person_key),
        state: AppointmentState::Confirmed,
    };
    crate::branch_data::put_appointments(&tx, branch, std::slice::from_ref(&appointment)).await?;
    tx.execute(
        "INSERT INTO agenda_booking (branch_id, booking_id, matricola, person_cf, starts_at,
                                     service, token, email, mobile, key_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &branch,
            &(booking.get() as i64),
            &matricola.as_str(),
            &cf.as_str(),
            &wanted.starts_at,
            &service.letter.to_string(),
            &token,
            &email,
            &mobile,
            &i32::from(signer.key_id()),
        ],
    )
    .await?;
    let when = domain::italian_when(wanted.starts_at);
    let sede = &config.sede.name;
    crate::notify::queue_texts(
        &tx,
        branch,
        email.as_deref(),
        mobile.as_deref(),
        &format!("INPS – appuntamento {booking} confermato"),
        &format!(
            "Buongiorno,\n\nil suo appuntamento alla sede INPS di {sede} ({}) è confermato \
             per {when}, codice {booking}.\n\nAl suo arrivo inquadri il codice QR della \
             conferma al chiosco della sede. Se non può venire, lo annulli dal chiosco: il \
             posto tornerà libero per altri.\n\n\
             Questo è un messaggio automatico: non risponda a questo indirizzo.\n",
            service.name
        ),
        &format!("INPS {sede}: appuntamento {booking} confermato per {when}."),
    )
    .await?;
    // The reminder, the day before at 10:00, if that is still to come.
    let remind_at = (wanted.starts_at.date() - Duration::days(1))
        .and_hms_opt(10, 0, 0)
        .and_then(|t| t.and_local_timezone(TIME_ZONE).earliest())
        .map(|t| t.with_timezone(&chrono::Utc));
    if let Some(at) = remind_at.filter(|at| *at > chrono::Utc::now()) {
        jobs::enqueue(
            &tx,
            REMINDER,
            Some(branch),
            serde_json::json!({ "booking": booking.get() }),
            at,
            Some(&format!("reminder:{}", booking.get())),
        )
        .await?;
    }
    crate::audit::record(
        &tx,
        "kiosk",
        "agenda.book",
        u16::try_from(branch).ok(),
        serde_json::json!({ "booking": booking.to_string(), "device": device.device_id }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(AgendaBooking {
            booking: booking.to_string(),
            starts_at: wanted.starts_at,
            service: service.letter.to_string(),
            state: AppointmentState::Confirmed,
            token,
        }),
    ))
}

/// `POST /v1/handoff/{id}/agenda/{matricola}/{booking}/annulla`: the visitor cancels one of
/// the bookings made for the matricola.
async fn cancel(
    Path((_, _, booking)): Path<(String, String, String)>,
    company: Delegated,
) -> Result<Json<serde_json::Value>, HubError> {
    let booking = BookingId::parse(&booking).map_err(|_| HubError::NotFound)?;
    let Delegated { visitor, matricola } = company;
    let (mut c, cf) = (visitor.request.db, visitor.person_cf);
    let tx = c.transaction().await?;
    let Some(r) = tx
        .query_opt(
            "SELECT b.branch_id, a.payload, b.email, b.mobile, coalesce(br.name, '')
             FROM agenda_booking b
             JOIN appointment a USING (branch_id, booking_id)
             JOIN delegation d ON d.matricola = b.matricola AND d.person_cf = $3
             LEFT JOIN branch br ON br.branch_id = b.branch_id
             WHERE b.booking_id = $1 AND b.matricola = $2
             FOR UPDATE OF a",
            &[&(booking.get() as i64), &matricola.as_str(), &cf.as_str()],
        )
        .await?
    else {
        return Err(HubError::NotFound);
    };
    let branch: i32 = r.get(0);
    let mut a: Appointment = serde_json::from_value(r.get(1))
        .map_err(|e| HubError::internal("stored appointment", e))?;
    let Ok(next) = a.state.transition(AppointmentState::CancelledByUser) else {
        return Err(HubError::Conflict(format!(
            "L'appuntamento {booking} è {}: non si può più annullare.",
            a.state.label().text(i18n::Lang::It)
        )));
    };
    a.state = next;
    crate::branch_data::put_appointments(&tx, branch, std::slice::from_ref(&a)).await?;
    tx.execute(
        "UPDATE agenda_booking SET cancelled_at = now() WHERE branch_id = $1 AND booking_id = $2",
        &[&branch, &(booking.get() as i64)],
    )
    .await?;
    let (email, mobile, sede): (Option<String>, Option<String>, String) =
        (r.get(2), r.get(3), r.get(4));
    let when = domain::italian_when(a.starts_at);
    crate::notify::queue_texts(
        &tx,
        branch,
        email.as_deref(),
        mobile.as_deref(),
        &format!("INPS – appuntamento {booking} annullato"),
        &format!(
            "Buongiorno,\n\nil suo appuntamento alla sede INPS di {sede} per {when} \
             (codice {booking}) è stato annullato come richiesto.\n\n\
             Questo è un messaggio automatico: non risponda a questo indirizzo.\n"
        ),
        &format!("INPS {sede}: appuntamento {booking} del {when} annullato."),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(
        serde_json::json!({ "booking": booking.to_string(), "state": next.name() }),
    ))
}

/// The day-before reminder: sent unless the booking was cancelled since.
pub async fn remind(
    pool: &deadpool_postgres::Pool,
    payload: &serde_json::Value,
) -> Result<(), String> {
    let booking = payload["booking"]
        .as_i64()
        .ok_or("a reminder without its booking")?;
    let mut c = pool.get().await.map_err(|e| e.to_string())?;
    let tx = c.transaction().await.map_err(|e| e.to_string())?;
    let Some(r) = tx
        .query_opt(
            "SELECT b.branch_id, b.starts_at, b.email, b.mobile, coalesce(br.name, ''), a.state
             FROM agenda_booking b
             JOIN appointment a USING (branch_id, booking_id)
             LEFT JOIN branch br ON br.branch_id = b.branch_id
             WHERE b.booking_id = $1 AND b.cancelled_at IS NULL AND b.reminded_at IS NULL
             FOR UPDATE OF b",
            &[&booking],
        )
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let state: String = r.get(5);
    if state.starts_with("cancelled") {
        return Ok(());
    }
    let branch: i32 = r.get(0);
    let starts_at: NaiveDateTime = r.get(1);
    let (email, mobile, sede): (Option<String>, Option<String>, String) =
        (r.get(2), r.get(3), r.get(4));
    let code = BookingId::from_u64(booking as u64)
        .map(|b| b.to_string())
        .unwrap_or_default();
    let when = domain::italian_when(starts_at);
    crate::notify::queue_texts(
        &tx,
        branch,
        email.as_deref(),
        mobile.as_deref(),
        &format!("INPS – promemoria: appuntamento {code} domani"),
        &format!(
            "Buongiorno,\n\nle ricordiamo l'appuntamento alla sede INPS di {sede} per {when} \
             (codice {code}).\n\nAl suo arrivo inquadri il codice QR della conferma al chiosco. \
             Se non può venire, lo annulli dal chiosco.\n\n\
             Questo è un messaggio automatico: non risponda a questo indirizzo.\n"
        ),
        &format!("INPS {sede}: promemoria appuntamento {code}, {when}. Porti il codice QR."),
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.execute(
        "UPDATE agenda_booking SET reminded_at = now() WHERE branch_id = $1 AND booking_id = $2",
        &[&branch, &booking],
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}
