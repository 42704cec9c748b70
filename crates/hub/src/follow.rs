//! *Segui la coda*: the public page a ticket's QR code opens. It shows that ticket's place in
//! bands (as Qmatic does: an exact count would change under the visitor's eyes as priority
//! tickets and appointments are called), an estimate, and when to be back, from the queue
//! events the branch has pushed. No personal data on it: the number, the service, the state.
//!
//! Once the ticket is served the page asks how the visit went (1 to 5, and a sentence if they
//! like), typed on the visitor's phone; the answer is kept by sede, service and day only.
//!
//! A visitor may leave a mobile number there for an SMS when their turn is near (the sede's
//! threshold for the service: people ahead or minutes) and another when called. The number
//! goes into `follow_alert` and the hub's job table only; it is deleted when the ticket reaches
//! its counter or ends, never shown (not even on this page), and one number follows at most
//! [`MAX_TICKETS_PER_MOBILE`] tickets at a time.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde::Deserialize;

use crate::{HubError, HubState};
use domain::{TicketNumber, TicketState};
use protocol::wire::BranchConfigPayload;
use queue::{Calendar, Queue};

/// How many tickets one mobile number may follow at a time (so the page cannot be used to
/// send SMS to someone else's phone in bulk).
pub const MAX_TICKETS_PER_MOBILE: i64 = 3;

#[derive(Template)]
#[template(path = "follow.html")]
struct FollowPage {
    sede: String,
    /// The sede's code and the day, for the forms' addresses.
    code: String,
    day: NaiveDate,
    number: String,
    service: String,
    state: String,
    called: bool,
    wait: Option<String>,
    /// When to be back, as a range of clock times.
    back: Option<String>,
    /// The SMS form is offered (the ticket waits, no alert yet).
    offer_sms: bool,
    /// An SMS alert is set for this ticket.
    alert: bool,
    /// What became of the form just sent.
    notice: Option<String>,
    /// The form's number as typed, when it was refused.
    typed: String,
    /// The threshold, in words.
    near: String,
    /// The question after the visit is asked (served, not answered yet).
    ask: bool,
    /// The ticket answered it.
    answered: bool,
    scores: [(u8, &'static str); 5],
    updated: String,
    /// The address's tag, when it carries the right one: the forms send it back. Without it
    /// (a guessed address) the page shows where the ticket stands and offers no form.
    tag: Option<String>,
}

/// The scale of the question after the visit, in words beside each number.
const SCORES: [(u8, &str); 5] = [
    (1, "molto male"),
    (2, "male"),
    (3, "così così"),
    (4, "bene"),
    (5, "molto bene"),
];

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

/// An Italian mobile number as the SMS provider wants it (`+393…`), from the way people
/// write it: with or without `+39`/`0039`, with spaces, dots or dashes.
pub fn italian_mobile(text: &str) -> Option<String> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '/' | '(' | ')'))
        .collect();
    let national = digits
        .strip_prefix("+39")
        .or_else(|| digits.strip_prefix("0039"))
        .unwrap_or(&digits);
    let ok = national.starts_with('3')
        && (9..=10).contains(&national.len())
        && national.chars().all(|c| c.is_ascii_digit());
    ok.then(|| format!("+39{national}"))
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, Html(format!("<!doctype html><html lang=\"it\"><meta charset=\"utf-8\"><title>Sportello</title><p>{text}</p></html>"))).into_response()
}

/// The public page of a ticket, and its SMS form.
pub fn router() -> Router<HubState> {
    Router::new()
        .route("/coda/{sede}/{day}/{ticket}", get(page).post(opt_in))
        .route("/coda/{sede}/{day}/{ticket}/giudizio", post(feedback))
}

/// A ticket's address, parsed.
fn address(sede: &str, day: &str, ticket: &str) -> Option<(i32, NaiveDate, TicketNumber)> {
    Some((
        i32::from(sede.parse::<u16>().ok()?),
        day.parse().ok()?,
        TicketNumber::parse(ticket).ok()?,
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    avviso: Option<String>,
    /// The tag the printed QR carries (`domain::follow`).
    c: Option<String>,
}

#[derive(Deserialize)]
struct FormQuery {
    c: Option<String>,
}

/// The address's tag if it is the right one for that ticket under the sede's key.
fn checked_tag(
    state: &HubState,
    branch: i32,
    day: NaiveDate,
    number: TicketNumber,
    tag: Option<&str>,
) -> Option<String> {
    let kek = state.kek.as_ref()?;
    let sede = domain::SedeCode::from_u16(u16::try_from(branch).ok()?).ok()?;
    let tag = tag?.trim().to_ascii_lowercase();
    domain::follow::check(&kek.follow_key(branch), sede, day, number, &tag).then_some(tag)
}

/// Why a form from a page opened without the printed QR's address is not taken.
const UNTAGGED: &str = "Questo modulo si usa dalla pagina aperta con il QR stampato sul biglietto: inquadri di nuovo il QR.";

/// `GET /coda/{sede}/{day}/{ticket}`.
async fn page(
    State(state): State<HubState>,
    Path((sede, day, ticket)): Path<(String, String, String)>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some((branch, day, number)) = address(&sede, &day, &ticket) else {
        return plain(StatusCode::BAD_REQUEST, "Indirizzo non valido.");
    };
    let notice = q.avviso.as_deref().and_then(|a| match a {
        "attivo" => Some(String::from(
            "Avviso attivo: le scriveremo quando si avvicina il suo turno e quando sarà chiamato.",
        )),
        "grazie" => Some(String::from(
            "Grazie: la sua risposta aiuta la sede a migliorare.",
        )),
        _ => None,
    });
    let tag = checked_tag(&state, branch, day, number, q.c.as_deref());
    respond(
        &state,
        (branch, day, number, tag),
        StatusCode::OK,
        notice,
        String::new(),
    )
    .await
}

/// A ticket's address: sede, day, number, and its tag when the right one came with it.
type Address = (i32, NaiveDate, TicketNumber, Option<String>);

async fn respond(
    state: &HubState,
    address: Address,
    status: StatusCode,
    notice: Option<String>,
    typed: String,
) -> Response {
    match render(state, address, notice, typed).await {
        Ok(Some(html)) => (status, Html(html)).into_response(),
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            "Biglietto non trovato: la sede può non averlo ancora trasmesso. Riprovi tra poco.",
        ),
        Err(e) => e.into_response(),
    }
}

/// A form of the page refused: the page again, saying why, keeping what was typed; 403 for
/// an address without its tag, 422 for the rest.
async fn refusal(state: &HubState, address: Address, why: String, typed: String) -> Response {
    let status = if address.3.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::FORBIDDEN
    };
    respond(state, address, status, Some(why), typed).await
}

/// The sede's configuration and its queue of `day`, replayed from the events its devices
/// pushed; `None` for a sede the hub does not know.
pub(crate) async fn replay(
    c: &impl GenericClient,
    branch: i32,
    day: NaiveDate,
) -> Result<Option<(BranchConfigPayload, Queue)>, HubError> {
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
            // A log after the one it took the day over from: logs in the order they began
            // (one scan of the day: a subquery per row made a busy day's page quadratic).
            "SELECT payload FROM (
                 SELECT payload, log_id, event_seq,
                        min(received_at) OVER (PARTITION BY log_id) AS began
                 FROM queue_event WHERE branch_id = $1 AND business_day = $2) q
             ORDER BY began, log_id, event_seq",
            &[&branch, &day],
        )
        .await?;
    for row in events {
        if let Ok(event) = serde_json::from_value::<queue::Event>(row.get(0)) {
            queue.apply(&event);
        }
    }
    Ok(Some((config, queue)))
}

/// Where a waiting ticket stands: people ahead and the estimate.
fn standing(
    queue: &Queue,
    ticket: &queue::QueuedTicket,
    now: DateTime<Utc>,
) -> (u32, queue::estimate::WaitRange) {
    let local = now.with_timezone(&domain::TIME_ZONE);
    let ahead = queue.people_ahead(ticket.number, now).unwrap_or(0);
    let range = queue::estimate::Estimator::default().estimate(
        ticket.service,
        chrono::Datelike::weekday(&local).number_from_monday() as u8,
        chrono::Timelike::hour(&local) as u8,
        ahead,
    );
    (ahead, range)
}

/// When to be back, in words: the estimate as clock times.
pub fn back_by(now: DateTime<Utc>, range: &queue::estimate::WaitRange) -> String {
    let at = |minutes: u32| {
        (now + Duration::minutes(i64::from(minutes)))
            .with_timezone(&domain::TIME_ZONE)
            .format("%H:%M")
            .to_string()
    };
    if range.low_min == 0 {
        format!(
            "Resti in sede: può essere chiamato da un momento all'altro, al più tardi verso le {}.",
            at(range.high_min)
        )
    } else {
        format!(
            "Sarà chiamato tra le {} e le {} circa: torni in sede entro le {}.",
            at(range.low_min),
            at(range.high_min),
            at(range.low_min)
        )
    }
}

async fn render(
    state: &HubState,
    (branch, day, number, tag): Address,
    notice: Option<String>,
    typed: String,
) -> Result<Option<String>, HubError> {
    let c = state.pool.get().await?;
    let marks = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM follow_alert
                            WHERE branch_id = $1 AND business_day = $2 AND ticket = $3),
                    EXISTS (SELECT 1 FROM feedback_given
                            WHERE branch_id = $1 AND business_day = $2 AND ticket = $3)",
            &[&branch, &day, &number.to_string()],
        )
        .await?;
    let (alert, answered): (bool, bool) = (marks.get(0), marks.get(1));
    let Some((config, queue)) = replay(&c, branch, day).await? else {
        return Ok(None);
    };
    // The day's replay needs no connection: give it back for the next request.
    drop(c);
    let Some(ticket) = queue.ticket(number) else {
        return Ok(None);
    };
    let now = Utc::now();
    let local = now.with_timezone(&domain::TIME_ZONE);
    let service = config
        .services
        .iter()
        .find(|s| s.letter == ticket.service)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let near = config.follow.of(ticket.service);
    let (state_text, called, wait, back) = match ticket.state {
        TicketState::Issued => {
            let (ahead, range) = standing(&queue, ticket, now);
            (
                band(ahead).to_string(),
                false,
                Some(range.text()),
                Some(back_by(now, &range)),
            )
        }
        TicketState::Called(counter) | TicketState::InService(counter) => (
            format!("È il suo turno: sportello {counter}"),
            true,
            None,
            None,
        ),
        _ => (
            "Il servizio di questo biglietto è concluso".to_string(),
            false,
            None,
            None,
        ),
    };
    let page = FollowPage {
        sede: config.sede.name.clone(),
        code: format!("{branch:04}"),
        day,
        number: number.to_string(),
        service,
        state: state_text,
        called,
        offer_sms: ticket.state == TicketState::Issued && !alert,
        alert: alert && ticket.state == TicketState::Issued,
        wait,
        back,
        notice,
        typed,
        near: format!(
            "quando avrà {} persone o meno prima di lei, o al più {} minuti di attesa",
            near.ahead, near.minutes
        ),
        updated: local.format("%H:%M").to_string(),
        ask: ticket.state == TicketState::Served && !answered && day == local.date_naive(),
        answered,
        scores: SCORES,
        tag,
    };
    page.render()
        .map(Some)
        .map_err(|e| HubError::internal("template", e))
}

#[derive(Deserialize)]
struct OptIn {
    #[serde(default)]
    cellulare: String,
}

/// `POST /coda/{sede}/{day}/{ticket}`: a mobile number for the SMS of a waiting ticket.
async fn opt_in(
    State(state): State<HubState>,
    Path((sede, day, ticket)): Path<(String, String, String)>,
    Query(q): Query<FormQuery>,
    Form(form): Form<OptIn>,
) -> Response {
    let Some((branch, day, number)) = address(&sede, &day, &ticket) else {
        return plain(StatusCode::BAD_REQUEST, "Indirizzo non valido.");
    };
    let tag = checked_tag(&state, branch, day, number, q.c.as_deref());
    let typed: String = form.cellulare.chars().take(32).collect();
    let at = (branch, day, number, tag.clone());
    let refuse = |why: &str| refusal(&state, at.clone(), why.to_owned(), typed.clone());
    let Some(tag) = tag else {
        return refuse(UNTAGGED).await;
    };
    let Some(mobile) = italian_mobile(&form.cellulare) else {
        return refuse("Scriva un numero di cellulare italiano, come 333 123 4567.").await;
    };
    let stored = async {
        let mut c = state.pool.get().await?;
        let Some((_, queue)) = replay(&c, branch, day).await? else {
            return Ok(Err("Biglietto non trovato."));
        };
        match queue.ticket(number).map(|t| t.state) {
            Some(TicketState::Issued) => {}
            Some(_) => return Ok(Err("Questo biglietto non è più in attesa.")),
            None => return Ok(Err("Biglietto non trovato.")),
        }
        let tx = c.transaction().await?;
        // One number's tickets of the day, counted under a lock on the number so that two
        // forms sent together cannot both pass.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("follow:{day}:{mobile}")],
        )
        .await?;
        let following: i64 = tx
            .query_one(
                "SELECT count(*) FROM follow_alert WHERE business_day = $1 AND mobile = $2",
                &[&day, &mobile],
            )
            .await?
            .get(0);
        if following >= MAX_TICKETS_PER_MOBILE {
            return Ok(Err("Questo numero segue già tre biglietti."));
        }
        let added = tx
            .execute(
                "INSERT INTO follow_alert (branch_id, business_day, ticket, mobile)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&branch, &day, &number.to_string(), &mobile],
            )
            .await?;
        if added == 0 {
            return Ok(Err("Per questo biglietto un avviso è già attivo."));
        }
        tx.commit().await?;
        Ok::<_, HubError>(Ok(()))
    }
    .await;
    match stored {
        Ok(Ok(())) => {
            // Already near: the first SMS goes now.
            if let Err(e) = evaluate(&state.pool, branch, day).await {
                tracing::warn!(error = %e, "follow alerts not evaluated");
            }
            Redirect::to(&format!(
                "/coda/{sede}/{day}/{number}?avviso=attivo&c={tag}"
            ))
            .into_response()
        }
        Ok(Err(why)) => refuse(why).await,
        Err(e) => e.into_response(),
    }
}

/// Longest sentence after the visit.
pub const MAX_COMMENT: usize = 500;

#[derive(Deserialize)]
struct Feedback {
    #[serde(default)]
    voto: String,
    #[serde(default)]
    commento: String,
}

/// `POST /coda/{sede}/{day}/{ticket}/giudizio`: how the visit of a ticket served today went,
/// once per ticket; stored by sede, service and day only.
async fn feedback(
    State(state): State<HubState>,
    Path((sede, day, ticket)): Path<(String, String, String)>,
    Query(q): Query<FormQuery>,
    Form(form): Form<Feedback>,
) -> Response {
    let Some((branch, day, number)) = address(&sede, &day, &ticket) else {
        return plain(StatusCode::BAD_REQUEST, "Indirizzo non valido.");
    };
    let tag = checked_tag(&state, branch, day, number, q.c.as_deref());
    let at = (branch, day, number, tag.clone());
    let refuse = |why: &str| refusal(&state, at.clone(), why.to_owned(), String::new());
    let Some(tag) = tag else {
        return refuse(UNTAGGED).await;
    };
    let Some(score) = form
        .voto
        .trim()
        .parse::<i16>()
        .ok()
        .filter(|s| (1..=5).contains(s))
    else {
        return refuse("Scelga un voto da 1 a 5.").await;
    };
    let comment = form.commento.trim();
    if comment.chars().count() > MAX_COMMENT {
        return refuse(&format!("Il commento va fino a {MAX_COMMENT} caratteri.")).await;
    }
    let comment = Some(comment).filter(|c| !c.is_empty());
    let today = Utc::now().with_timezone(&domain::TIME_ZONE).date_naive();
    let stored = async {
        let mut c = state.pool.get().await?;
        let Some((_, queue)) = replay(&c, branch, day).await? else {
            return Ok(Err("Biglietto non trovato."));
        };
        let Some(t) = queue.ticket(number) else {
            return Ok(Err("Biglietto non trovato."));
        };
        if t.state != TicketState::Served || day != today {
            return Ok(Err(
                "Si può rispondere il giorno della visita, dopo il servizio.",
            ));
        }
        let tx = c.transaction().await?;
        let first = tx
            .execute(
                "INSERT INTO feedback_given (branch_id, business_day, ticket)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&branch, &day, &number.to_string()],
            )
            .await?;
        if first == 0 {
            return Ok(Err("Per questo biglietto ha già risposto: grazie."));
        }
        tx.execute(
            "INSERT INTO visit_feedback (branch_id, business_day, service, score, comment)
             VALUES ($1, $2, $3, $4, $5)",
            &[&branch, &day, &t.service.to_string(), &score, &comment],
        )
        .await?;
        tx.commit().await?;
        Ok::<_, HubError>(Ok(()))
    }
    .await;
    match stored {
        Ok(Ok(())) => Redirect::to(&format!(
            "/coda/{sede}/{day}/{number}?avviso=grazie&c={tag}"
        ))
        .into_response(),
        Ok(Err(why)) => refuse(why).await,
        Err(e) => e.into_response(),
    }
}

/// Sends what the day's queue now calls for to the visitors who left a number at `branch`
/// on `day`: the SMS when their turn is near and when they are called, each once (whichever
/// instance gets there first); deletes the number once the ticket reached its counter or
/// ended. Run after each push of queue events. Gives how many SMS it queued.
pub async fn evaluate(pool: &Pool, branch: i32, day: NaiveDate) -> Result<usize, HubError> {
    let mut c = pool.get().await?;
    let alerts = c
        .query(
            "SELECT ticket, near_sent_at IS NOT NULL, called_sent_at IS NOT NULL,
                    recalled_sent_at IS NOT NULL
             FROM follow_alert WHERE branch_id = $1 AND business_day = $2",
            &[&branch, &day],
        )
        .await?;
    if alerts.is_empty() {
        return Ok(0);
    }
    let Some((config, queue)) = replay(&c, branch, day).await? else {
        return Ok(0);
    };
    let now = Utc::now();
    let sede = &config.sede.name;
    let mut queued = 0;
    for a in &alerts {
        let text: String = a.get(0);
        let (near_sent, called_sent, recalled_sent): (bool, bool, bool) =
            (a.get(1), a.get(2), a.get(3));
        let Ok(number) = TicketNumber::parse(&text) else {
            continue;
        };
        let Some(ticket) = queue.ticket(number) else {
            continue;
        };
        let (column, sms) = match ticket.state {
            TicketState::Issued if !near_sent => {
                let (ahead, range) = standing(&queue, ticket, now);
                let near = config.follow.of(ticket.service);
                if ahead > near.ahead && range.high_min > near.minutes {
                    continue;
                }
                let by = (now + Duration::minutes(i64::from(range.low_min)))
                    .with_timezone(&domain::TIME_ZONE)
                    .format("%H:%M");
                (
                    "near_sent_at",
                    format!(
                        "INPS {sede}: il biglietto {number} sarà chiamato presto ({}). Torni in sede entro le {by}.",
                        band(ahead).to_lowercase()
                    ),
                )
            }
            // The node called them once more at the end of their grace: the last call.
            TicketState::Called(counter) if ticket.grace_recalled && !recalled_sent => (
                "recalled_sent_at",
                format!(
                    "INPS {sede}: ultima chiamata per il biglietto {number} allo sportello {counter}. Se non si presenta ora sarà segnato assente."
                ),
            ),
            TicketState::Called(counter) if !called_sent => (
                "called_sent_at",
                format!(
                    "INPS {sede}: è il turno del biglietto {number}. Si presenti allo sportello {counter}."
                ),
            ),
            TicketState::Issued | TicketState::Called(_) => continue,
            TicketState::InService(_)
            | TicketState::Served
            | TicketState::NoShow
            | TicketState::Cancelled => {
                c.execute(
                    "DELETE FROM follow_alert
                     WHERE branch_id = $1 AND business_day = $2 AND ticket = $3",
                    &[&branch, &day, &text],
                )
                .await?;
                continue;
            }
        };
        let tx = c.transaction().await?;
        // Called before the "near" SMS went: it never will.
        // A later message marks the earlier ones sent: a call (or the last call) made before
        // the "near" SMS went means that one never will.
        let sql = format!(
            "UPDATE follow_alert SET near_sent_at = coalesce(near_sent_at, now()),
                 called_sent_at = CASE WHEN $4 THEN coalesce(called_sent_at, now())
                                  ELSE called_sent_at END,
                 recalled_sent_at = CASE WHEN $5 THEN now() ELSE recalled_sent_at END
             WHERE branch_id = $1 AND business_day = $2 AND ticket = $3 AND {column} IS NULL
             RETURNING mobile"
        );
        let recalled = column == "recalled_sent_at";
        let called = recalled || column == "called_sent_at";
        let Some(row) = tx
            .query_opt(&sql, &[&branch, &day, &text, &called, &recalled])
            .await?
        else {
            continue;
        };
        let mobile: String = row.get(0);
        crate::notify::queue_texts(&tx, branch, None, Some(&mobile), "", "", &sms).await?;
        tx.commit().await?;
        queued += 1;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    #[test]
    fn mobile_numbers_are_read_as_people_write_them() {
        for (typed, number) in [
            ("333 123 4567", "+393331234567"),
            ("+39 333-123.4567", "+393331234567"),
            ("0039 3331234567", "+393331234567"),
            ("(333) 1234567", "+393331234567"),
            ("320 12 34 567", "+393201234567"),
        ] {
            assert_eq!(
                super::italian_mobile(typed).as_deref(),
                Some(number),
                "{typed}"
            );
        }
        for bad in [
            "",
            "06 1234 5678",
            "+44 7700 900123",
            "333 12",
            "333 123 4567 89",
            "333abc4567",
        ] {
            assert_eq!(super::italian_mobile(bad), None, "{bad}");
        }
    }

    #[test]
    fn bands_never_give_an_exact_count_beyond_zero() {
        assert!(super::band(0).starts_with("Nessuno"));
        assert_eq!(super::band(3), super::band(5));
        assert_eq!(super::band(6), super::band(10));
        assert_eq!(super::band(21), super::band(400));
    }
}
