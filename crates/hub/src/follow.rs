//! *Segui la coda*: the public page a ticket's QR code opens. It shows that ticket's place in
//! bands (as Qmatic does: an exact count would change under the visitor's eyes as priority
//! tickets and appointments are called) and an estimate, from the queue events the branch has
//! pushed. No personal data: the number, the service, the state.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use axum::Router;
use axum::routing::get;

use crate::{HubError, HubState};
use domain::{TicketNumber, TicketState};
use protocol::wire::BranchConfigPayload;
use queue::{Calendar, Queue};

#[derive(Template)]
#[template(path = "follow.html")]
struct FollowPage {
    sede: String,
    number: String,
    service: String,
    state: String,
    called: bool,
    wait: Option<String>,
    updated: String,
}

/// The band of people ahead, in words.
pub fn band(ahead: u32) -> &'static str {
    match ahead {
        0 => "Nessuno prima di lei: sarà chiamato a breve",
        1..=5 => "Da 1 a 5 persone prima di lei",
        6..=10 => "Da 6 a 10 persone prima di lei",
        11..=20 => "Da 11 a 20 persone prima di lei",
        _ => "Più di 20 persone prima di lei",
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, Html(format!("<!doctype html><html lang=\"it\"><meta charset=\"utf-8\"><title>Sportello</title><p>{text}</p></html>"))).into_response()
}

/// The public page of a ticket.
pub fn router() -> Router<HubState> {
    Router::new().route("/coda/{sede}/{day}/{ticket}", get(page))
}

/// `GET /coda/{sede}/{day}/{ticket}`.
async fn page(
    State(state): State<HubState>,
    Path((sede, day, ticket)): Path<(String, String, String)>,
) -> Response {
    let (Ok(sede), Ok(day), Ok(number)) = (
        sede.parse::<u16>(),
        day.parse::<chrono::NaiveDate>(),
        TicketNumber::parse(&ticket),
    ) else {
        return plain(StatusCode::BAD_REQUEST, "Indirizzo non valido.");
    };
    match render(&state, i32::from(sede), day, number).await {
        Ok(Some(html)) => Html(html).into_response(),
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            "Biglietto non trovato: la sede può non averlo ancora trasmesso. Riprovi tra poco.",
        ),
        Err(e) => e.into_response(),
    }
}

async fn render(
    state: &HubState,
    branch: i32,
    day: chrono::NaiveDate,
    number: TicketNumber,
) -> Result<Option<String>, HubError> {
    let c = state.pool.get().await?;
    let Some(row) = c
        .query_opt(
            "SELECT payload FROM branch_config WHERE branch_id = $1",
            &[&branch],
        )
        .await?
    else {
        return Ok(None);
    };
    let config: BranchConfigPayload = serde_json::from_value(row.get(0))
        .map_err(|e| HubError::internal("stored branch configuration", e))?;
    let mut queue = Queue::new(
        config.rules.clone(),
        Calendar::new(config.hours.clone()),
        config.services.clone(),
        config.counters.clone(),
    );
    let events = c
        .query(
            // A log after the one it took the day over from: logs in the order they began.
            "SELECT payload FROM queue_event q WHERE branch_id = $1 AND business_day = $2
             ORDER BY (SELECT min(received_at) FROM queue_event f
                       WHERE f.branch_id = q.branch_id AND f.business_day = q.business_day
                         AND f.log_id = q.log_id),
                      log_id, event_seq",
            &[&branch, &day],
        )
        .await?;
    // The day's replay needs no connection: give it back for the next request.
    drop(c);
    for row in events {
        if let Ok(event) = serde_json::from_value::<queue::Event>(row.get(0)) {
            queue.apply(&event);
        }
    }
    let Some(ticket) = queue.ticket(number) else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    let local = now.with_timezone(&domain::TIME_ZONE);
    let service = config
        .services
        .iter()
        .find(|s| s.letter == ticket.service)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let (state_text, called, wait) = match ticket.state {
        TicketState::Issued => {
            let ahead = queue.people_ahead(number, now).unwrap_or(0);
            let range = queue::estimate::Estimator::default().estimate(
                ticket.service,
                chrono::Datelike::weekday(&local).number_from_monday() as u8,
                chrono::Timelike::hour(&local) as u8,
                ahead,
            );
            (band(ahead).to_string(), false, Some(range.text()))
        }
        TicketState::Called(counter) | TicketState::InService(counter) => {
            (format!("È il suo turno: sportello {counter}"), true, None)
        }
        _ => (
            "Il servizio di questo biglietto è concluso".to_string(),
            false,
            None,
        ),
    };
    let page = FollowPage {
        sede: config.sede.name.clone(),
        number: number.to_string(),
        service,
        state: state_text,
        called,
        wait,
        updated: local.format("%H:%M").to_string(),
    };
    page.render()
        .map(Some)
        .map_err(|e| HubError::internal("template", e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bands_never_give_an_exact_count_beyond_zero() {
        assert!(super::band(0).starts_with("Nessuno"));
        assert_eq!(super::band(3), super::band(5));
        assert_eq!(super::band(6), super::band(10));
        assert_eq!(super::band(21), super::band(400));
    }
}
