//! A sede's appointment slots and bookings for one day and service: which slots of the opening
//! hours are booked, by which booking and in which state, and the sede's cancellation of a
//! booking. Bookings carry no names here: the hub's appointment rows hold only the
//! pseudonymous person key, like the kiosk's.

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;

use super::session::{Me, for_sede};
use crate::pages::html;
use crate::{HubError, HubState, branch_data, sede};
use domain::{Appointment, AppointmentState, BookingId, ServiceLetter, TIME_ZONE};
use i18n::Lang;

pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/sedi/{code}/appuntamenti", get(page))
        .route(
            "/console/sedi/{code}/appuntamenti/{booking}/annulla",
            post(cancel),
        )
}

struct SlotRow {
    time: String,
    booking: Option<BookingRow>,
}

struct BookingRow {
    id: String,
    time: String,
    service: String,
    state: String,
    cancellable: bool,
}

struct ServiceChoice {
    letter: String,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "hub_bookings.html")]
struct BookingsPage {
    me: Me,
    code: String,
    name: String,
    day: String,
    day_text: String,
    prev: String,
    next: String,
    service: String,
    services: Vec<ServiceChoice>,
    slots: Vec<SlotRow>,
    others: Vec<BookingRow>,
    can_cancel: bool,
    slot_count: usize,
    free: usize,
    error: Option<String>,
}

#[derive(Deserialize)]
struct DayQuery {
    giorno: Option<String>,
    servizio: Option<String>,
    errore: Option<String>,
}

fn booking_row(a: &Appointment) -> BookingRow {
    BookingRow {
        id: a.id.to_string(),
        time: a.starts_at.format("%H:%M").to_string(),
        service: a.service.to_string(),
        state: a.state.label().text(Lang::It),
        cancellable: a
            .state
            .transition(AppointmentState::CancelledBySede)
            .is_ok(),
    }
}

fn cancelled(a: &Appointment) -> bool {
    matches!(
        a.state,
        AppointmentState::CancelledBySede | AppointmentState::CancelledByUser
    )
}

async fn page(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path(code_text): Path<String>,
    Query(q): Query<DayQuery>,
) -> Response {
    let (me, branch) = match for_sede(&state, &headers, &code_text, None, Me::sees).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let today = chrono::Utc::now().with_timezone(&TIME_ZONE).date_naive();
    let day = q
        .giorno
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .unwrap_or(today);
    let loaded = async {
        let c = state.pool.get().await?;
        let config = sede::config(&c, branch).await?;
        let rows = c
            .query(
                "SELECT payload FROM appointment
                 WHERE branch_id = $1 AND starts_at >= $2 AND starts_at < $3
                 ORDER BY starts_at, booking_id",
                &[
                    &i32::from(branch),
                    &day.and_hms_opt(0, 0, 0).expect("midnight"),
                    &(day + Duration::days(1))
                        .and_hms_opt(0, 0, 0)
                        .expect("midnight"),
                ],
            )
            .await?;
        let appointments = rows
            .iter()
            .map(|r| {
                serde_json::from_value::<Appointment>(r.get(0))
                    .map_err(|e| HubError::internal("stored appointment", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, HubError>((config, appointments))
    }
    .await;
    let (config, appointments) = match loaded {
        Ok((Some(c), a)) => (c, a),
        Ok((None, _)) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return e.into_response(),
    };
    let service = q
        .servizio
        .as_deref()
        .and_then(|s| ServiceLetter::parse(s).ok())
        .filter(|l| config.services.iter().any(|s| s.letter == *l))
        .or_else(|| {
            // The first service booked that day, else the first by appointment only.
            appointments.first().map(|a| a.service).or_else(|| {
                config
                    .services
                    .iter()
                    .find(|s| s.appointment_only)
                    .or(config.services.first())
                    .map(|s| s.letter)
            })
        });
    let mut slots = Vec::new();
    let mut others = Vec::new();
    let mut free = 0;
    if let Some(service) = service {
        let starts = crate::agenda::slot_starts(&config, service, day);
        let step = config
            .services
            .iter()
            .find(|s| s.letter == service)
            .map_or(15, |s| i64::from(s.slot_minutes.max(5)));
        let mut booked: Vec<&Appointment> = appointments
            .iter()
            .filter(|a| a.service == service)
            .collect();
        for t in &starts {
            // A slot holds the bookings starting within it: as many as the counters that
            // serve the service can take at once.
            let end = *t + Duration::minutes(step);
            let (inside, rest): (Vec<_>, Vec<_>) = booked
                .into_iter()
                .partition(|a| *t <= a.starts_at && a.starts_at < end);
            booked = rest;
            let live = inside.iter().filter(|a| !cancelled(a)).count();
            if live == 0 {
                free += 1;
            }
            if inside.is_empty() {
                slots.push(SlotRow {
                    time: t.format("%H:%M").to_string(),
                    booking: None,
                });
            }
            for (i, a) in inside.into_iter().enumerate() {
                slots.push(SlotRow {
                    time: if i == 0 {
                        t.format("%H:%M").to_string()
                    } else {
                        String::new()
                    },
                    booking: Some(booking_row(a)),
                });
            }
        }
        others = booked.into_iter().map(booking_row).collect();
    }
    let slot_count = slots.iter().filter(|s| !s.time.is_empty()).count();
    let weekday = domain::GIORNI[day.weekday().num_days_from_monday() as usize];
    html(BookingsPage {
        can_cancel: me.books(branch),
        me,
        code: format!("{branch:04}"),
        name: config.sede.name.clone(),
        day: day.format("%Y-%m-%d").to_string(),
        day_text: format!("{weekday} {}", day.format("%d/%m/%Y")),
        prev: (day - Duration::days(1)).format("%Y-%m-%d").to_string(),
        next: (day + Duration::days(1)).format("%Y-%m-%d").to_string(),
        service: service.map(|s| s.to_string()).unwrap_or_default(),
        services: config
            .services
            .iter()
            .map(|s| ServiceChoice {
                letter: s.letter.to_string(),
                name: s.name.clone(),
                selected: Some(s.letter) == service,
            })
            .collect(),
        slots,
        slot_count,
        others,
        free,
        error: q.errore,
    })
}

#[derive(Deserialize)]
struct CancelForm {
    csrf: String,
    giorno: String,
    servizio: String,
}

async fn cancel(
    State(state): State<HubState>,
    headers: HeaderMap,
    Path((code_text, booking)): Path<(String, String)>,
    Form(form): Form<CancelForm>,
) -> Response {
    let (me, branch) =
        match for_sede(&state, &headers, &code_text, Some(&form.csrf), Me::books).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let Ok(booking) = BookingId::parse(&booking) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let done = async {
        let mut c = state.pool.get().await?;
        branch_data::cancel_appointment(&mut c, &me.username, branch, booking).await
    }
    .await;
    let back = |error: Option<String>| {
        let mut query = vec![
            ("giorno", form.giorno.as_str()),
            ("servizio", &form.servizio),
        ];
        if let Some(e) = &error {
            query.push(("errore", e));
        }
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        Redirect::to(&format!("/console/sedi/{branch:04}/appuntamenti?{query}")).into_response()
    };
    match done {
        Ok(()) => back(None),
        Err(HubError::BadRequest(m)) => back(Some(m)),
        Err(e) => e.into_response(),
    }
}
