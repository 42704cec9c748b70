//! Pages and commands of the staff console, the supervisor's figures and the hall display.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::{COOKIE, Staff};
use super::state::{AppState, HALL_STATE_FRESH};
use crate::node::NodeError;
use domain::{
    CounterNumber, ServiceLetter, TIME_ZONE, TicketNumber, TicketPriority, TicketState, UserMessage,
};
use queue::{Command, CounterStatus, DailyFigures, DeviceAlert, Queue, QueuedTicket};
use web::auth;

/// The logged-in staff member, if any (pages redirect to the login when not).
pub(super) struct StaffOrLogin(pub Option<Staff>);

impl FromRequestParts<AppState> for StaffOrLogin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|c| auth::cookie_value(c, COOKIE))
            .map(str::to_owned)
        else {
            return Ok(Self(None));
        };
        let branch = state.branch.clone();
        let session = tokio::task::spawn_blocking(move || {
            branch.read(|_, s| s.session(&auth::token_hash(&token), Utc::now()))
        })
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten();
        Ok(Self(session.map(|session| Staff { session })))
    }
}

fn html<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "errore interno").into_response()
        }
    }
}

fn local_hm(t: DateTime<Utc>) -> String {
    t.with_timezone(&TIME_ZONE).format("%H:%M").to_string()
}

// ---------- login ----------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    username: String,
}

pub(super) async fn login_page(staff: StaffOrLogin) -> Response {
    if staff.0.is_some() {
        return Redirect::to("/console").into_response();
    }
    html(&LoginPage {
        error: None,
        username: String::new(),
    })
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let username = form.username.trim().to_string();
    let ip = peer.ip();
    // Counted before it is checked: a burst cannot slip more guesses past the limit.
    let reserved =
        state
            .limiter
            .lock()
            .expect("limiter lock")
            .reserve(ip, &username, Instant::now());
    let reserved = match reserved {
        Ok(at) => at,
        Err(wait) => {
            let minutes = wait.div_ceil(60);
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                html(&LoginPage {
                    error: Some(format!(
                        "Troppi tentativi non riusciti: riprova tra {minutes} minuti."
                    )),
                    username,
                }),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return r;
        }
    };
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "accesso non disponibile: riprova",
        )
            .into_response()
    };
    let branch = state.branch.clone();
    let name = username.clone();
    let Ok(account) =
        tokio::task::spawn_blocking(move || branch.read(|_, s| s.staff(&name)).ok().flatten())
            .await
    else {
        return unavailable();
    };
    let account = account.filter(|a| !a.disabled);
    // Unknown and disabled accounts cost the same time as a wrong password.
    let hash = account.as_ref().map_or_else(
        || auth::dummy_hash().to_owned(),
        |a| a.password_hash.clone(),
    );
    let Some(ok) = auth::check_password(form.password, hash).await else {
        tracing::warn!(%ip, "staff login shed: password checks busy");
        return unavailable();
    };
    if !(ok && account.is_some()) {
        tracing::warn!(%ip, "failed staff login");
        return (
            StatusCode::UNAUTHORIZED,
            html(&LoginPage {
                error: Some("Nome utente o password non corretti.".into()),
                username,
            }),
        )
            .into_response();
    }
    let branch = state.branch.clone();
    let hours = state.session_hours;
    let name = username.clone();
    let token = auth::random_hex(32);
    let session = {
        let token = auth::token_hash(&token);
        tokio::task::spawn_blocking(move || {
            let csrf = auth::random_hex(16);
            let now = Utc::now();
            let expires = now + chrono::Duration::hours(i64::from(hours));
            branch.with_store(|s| s.create_session(&token, &name, &csrf, now, expires))
        })
        .await
    };
    if !matches!(session, Ok(Ok(_))) {
        return unavailable();
    }
    state
        .limiter
        .lock()
        .expect("limiter lock")
        .succeeded(ip, &username, reserved);
    tracing::info!(user = %username, "staff login");
    let cookie = format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        u64::from(state.session_hours) * 3600
    );
    let mut r = Redirect::to("/console").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    r
}

pub(super) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| auth::cookie_value(c, COOKIE))
    {
        let hash = auth::token_hash(token);
        let branch = state.branch.clone();
        let _ = tokio::task::spawn_blocking(move || branch.with_store(|s| s.delete_session(&hash)))
            .await;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-sportello=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

// ---------- console ----------

/// A ticket as staff see it.
pub(super) struct TicketView {
    number: String,
    service: String,
    mark: String,
    waited_min: i64,
    callable: bool,
    /// Which of the sede's other kiosks issued it (empty: the node's own), and whether it
    /// printed it while cut off from the node.
    kiosk: String,
    offline: bool,
}

fn ticket_view(q: &Queue, t: &QueuedTicket, now: DateTime<Utc>) -> TicketView {
    let mark = match t.priority {
        TicketPriority::Priority(c) => format!("Priorità: {}", priority_label(c)),
        TicketPriority::Appointment => format!("Appuntamento {}", local_hm(t.wait_from)),
        TicketPriority::WalkIn => String::new(),
    };
    let service = q
        .services()
        .find(|s| s.letter == t.service)
        .map(|s| format!("{} – {}", s.letter, s.name))
        .unwrap_or_else(|| t.service.to_string());
    TicketView {
        number: t.number.to_string(),
        service,
        mark,
        waited_min: (now - t.eligible_at).num_minutes().max(0),
        callable: t.eligible_at <= now,
        kiosk: t.kiosk.clone().unwrap_or_default(),
        offline: t.offline,
    }
}

fn priority_label(c: domain::PriorityCategory) -> &'static str {
    use domain::PriorityCategory::*;
    match c {
        Pregnancy => "gravidanza",
        Disability => "disabilità",
        ParentOfInfant => "figlio sotto un anno",
    }
}

pub(super) struct CounterView {
    number: u8,
    label: String,
    status: &'static str,
    open: bool,
    paused: bool,
    operator: String,
    services: String,
    current: Option<String>,
    current_state: String,
    current_recalls: u8,
    /// Why it is paused, when it is.
    pause_reason: String,
    /// The grace of the called visitor, minutes (0: none for that service).
    grace_min: i64,
    /// When the called visitor's grace runs out ("HH:MM"), while it runs: until then they
    /// cannot be marked absent.
    grace_until: Option<String>,
}

fn counter_view(q: &Queue, number: CounterNumber) -> Option<CounterView> {
    let c = q.counter(number)?;
    let current = c.current.and_then(|n| q.ticket(n));
    Some(CounterView {
        number: number.get(),
        label: c.config.label.clone(),
        status: c.status.label(),
        open: c.status == CounterStatus::Open,
        paused: c.status == CounterStatus::Paused,
        operator: c.operator.clone().unwrap_or_default(),
        services: c
            .services
            .iter()
            .map(|(s, w)| {
                if *w > 1 {
                    format!("{s} (peso {w})")
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        current: current.map(|t| t.number.to_string()),
        current_state: current
            .map(|t| match t.state {
                TicketState::Called(_) => "chiamato",
                TicketState::InService(_) => "allo sportello",
                _ => "",
            })
            .unwrap_or("")
            .to_string(),
        current_recalls: current.map(|t| t.recalls).unwrap_or(0),
        pause_reason: c.pause_reason.clone().unwrap_or_default(),
        grace_min: current
            .map(|t| q.rules().recall_grace(t.service).num_minutes())
            .unwrap_or(0),
        grace_until: current.and_then(|t| q.recall_due(t.number)).map(local_hm),
    })
}

pub(super) struct ServiceOption {
    letter: String,
    name: String,
    offered: bool,
    chosen: bool,
    waiting: u32,
}

pub(super) struct AssistView {
    id: u32,
    kiosk: String,
    at: String,
}

#[derive(Template)]
#[template(path = "panel.html")]
pub(super) struct Panel {
    csrf: String,
    counter: CounterView,
    waiting: Vec<TicketView>,
    absent: Vec<TicketView>,
    services: Vec<ServiceOption>,
    alerts: Vec<&'static str>,
    assistance: Vec<AssistView>,
    fairness: String,
    day_closed: bool,
    pause_reasons: Vec<String>,
    /// Second tickets of a booking, printed by a kiosk cut off from the node: (the second,
    /// the booking's ticket).
    duplicates: Vec<(String, String)>,
}

fn panel_for(q: &Queue, csrf: &str, number: CounterNumber, now: DateTime<Utc>) -> Option<Panel> {
    let counter = counter_view(q, number)?;
    let c = q.counter(number)?;
    let serves = |s: ServiceLetter| c.services.iter().any(|(l, _)| *l == s);
    let waiting = q
        .waiting(now)
        .into_iter()
        .filter(|t| serves(t.service))
        .map(|t| ticket_view(q, t, now))
        .collect();
    let absent = q
        .tickets()
        .filter(|t| t.state == TicketState::NoShow && t.counter == Some(number))
        .map(|t| ticket_view(q, t, now))
        .collect();
    let counts = q.waiting_counts();
    let services = q
        .services()
        .map(|s| ServiceOption {
            letter: s.letter.to_string(),
            name: s.name.clone(),
            offered: c.config.services.iter().any(|(l, _)| *l == s.letter),
            chosen: serves(s.letter),
            waiting: counts.get(&s.letter).copied().unwrap_or(0),
        })
        .collect();
    // A booking's second ticket is cancelled; the visitor may still hold it.
    let duplicates = q
        .tickets()
        .filter(|t| t.state == TicketState::Cancelled)
        .filter_map(|t| {
            let first = q.ticket_of_booking(t.booking?)?;
            (first.number != t.number).then(|| (t.number.to_string(), first.number.to_string()))
        })
        .collect();
    Some(Panel {
        duplicates,
        csrf: csrf.to_string(),
        counter,
        waiting,
        absent,
        services,
        alerts: q.alerts().map(DeviceAlert::text).collect(),
        assistance: q
            .assistance()
            .map(|a| AssistView {
                id: a.id,
                kiosk: a.kiosk.clone(),
                at: local_hm(a.at),
            })
            .collect(),
        fairness: q.rules().fairness_text(),
        day_closed: q.is_closed(),
        pause_reasons: q.rules().pause_reasons.clone(),
    })
}

/// The part of the console that server-sent events refresh.
#[derive(Template)]
#[template(path = "live.html")]
pub(super) struct Live {
    counters: Vec<CounterView>,
    selected: u8,
    panel: Option<String>,
}

fn live(q: &Queue, csrf: &str, selected: Option<CounterNumber>, now: DateTime<Utc>) -> Live {
    Live {
        counters: q
            .counters()
            .filter_map(|c| counter_view(q, c.config.number))
            .collect(),
        selected: selected.map(|n| n.get()).unwrap_or(0),
        panel: selected
            .and_then(|n| panel_for(q, csrf, n, now))
            .and_then(|p| p.render().ok()),
    }
}

#[derive(Template)]
#[template(path = "console.html")]
struct ConsolePage {
    username: String,
    supervisor: bool,
    csrf: String,
    selected: u8,
    panel: String,
    after: i64,
    message: Option<String>,
    sede: String,
}

#[derive(Deserialize)]
pub(super) struct ConsoleQuery {
    counter: Option<u8>,
    msg: Option<String>,
}

pub(super) async fn console(
    staff: StaffOrLogin,
    State(state): State<AppState>,
    Query(query): Query<ConsoleQuery>,
) -> Response {
    let Some(staff) = staff.0 else {
        return Redirect::to("/login").into_response();
    };
    let now = state.branch.clock().now();
    let csrf = staff.session.csrf.clone();
    let page = state.branch.read(|q, s| {
        let selected = query
            .counter
            .and_then(|n| CounterNumber::new(n).ok())
            .filter(|n| q.counter(*n).is_some());
        let panel = live(q, &csrf, selected, now).render().unwrap_or_default();
        ConsolePage {
            username: staff.username().to_string(),
            supervisor: staff.is_supervisor(),
            csrf: csrf.clone(),
            selected: selected.map(|n| n.get()).unwrap_or(0),
            panel,
            after: s.last_event_seq().unwrap_or(0),
            message: query.msg.clone(),
            sede: s
                .sede()
                .ok()
                .flatten()
                .map(|s| s.to_string())
                .unwrap_or_default(),
        }
    });
    html(&page)
}

#[derive(Deserialize)]
pub(super) struct PanelQuery {
    counter: u8,
}

pub(super) async fn panel(
    staff: StaffOrLogin,
    State(state): State<AppState>,
    Query(query): Query<PanelQuery>,
) -> Response {
    let Some(staff) = staff.0 else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let now = state.branch.clock().now();
    let selected = CounterNumber::new(query.counter).ok();
    html(
        &state
            .branch
            .read(|q, _| live(q, &staff.session.csrf, selected, now)),
    )
}

#[derive(Serialize)]
struct CommandAnswer {
    ok: bool,
    message: String,
}

fn parse_command(form: &HashMap<String, String>, username: &str) -> Result<Command, String> {
    let counter = || {
        form.get("counter")
            .and_then(|c| c.parse::<u8>().ok())
            .and_then(|c| CounterNumber::new(c).ok())
            .ok_or_else(|| "sportello mancante o non valido".to_string())
    };
    let ticket = || {
        form.get("ticket")
            .and_then(|t| TicketNumber::parse(t).ok())
            .ok_or_else(|| "biglietto mancante o non valido".to_string())
    };
    let action = form.get("action").map(String::as_str).unwrap_or("");
    Ok(match action {
        "open" => Command::OpenCounter {
            counter: counter()?,
            services: form
                .iter()
                .filter(|(k, v)| k.starts_with("svc_") && v.as_str() == "on")
                .filter_map(|(k, _)| ServiceLetter::parse(&k[4..]).ok())
                .collect(),
            operator: username.to_string(),
        },
        "pause" => Command::PauseCounter {
            counter: counter()?,
            reason: form
                .get("reason")
                .filter(|r| !r.trim().is_empty())
                .ok_or("scelga il motivo della pausa")?
                .clone(),
        },
        "close" => Command::CloseCounter {
            counter: counter()?,
        },
        "call_next" => Command::CallNext {
            counter: counter()?,
        },
        "call" => Command::Call {
            counter: counter()?,
            ticket: ticket()?,
        },
        "recall" => Command::Recall {
            counter: counter()?,
            ticket: ticket()?,
        },
        "no_show" => Command::NoShow {
            counter: counter()?,
            ticket: ticket()?,
        },
        "start" => Command::Start {
            counter: counter()?,
            ticket: ticket()?,
        },
        "serve" => Command::Serve {
            counter: counter()?,
            ticket: ticket()?,
        },
        "transfer" => Command::Transfer {
            counter: counter()?,
            ticket: ticket()?,
            to: form
                .get("to")
                .and_then(|s| ServiceLetter::parse(s).ok())
                .ok_or("servizio di destinazione mancante")?,
        },
        "reactivate" => Command::Reactivate { ticket: ticket()? },
        "cancel" => Command::Cancel { ticket: ticket()? },
        "answer" => Command::AnswerAssistance {
            id: form
                .get("id")
                .and_then(|i| i.parse().ok())
                .ok_or("richiesta mancante")?,
            operator: username.to_string(),
        },
        "close_day" => Command::CloseDay,
        _ => return Err("operazione sconosciuta".into()),
    })
}

fn success_text(events: &[store::StoredEvent]) -> String {
    use queue::EventKind as E;
    let Some(last) = events.last() else {
        return "nessuna modifica".into();
    };
    match &last.event.kind {
        E::TicketCalled {
            ticket, counter, ..
        } => format!("Chiamato {ticket} allo sportello {counter}"),
        E::TicketRecalled {
            ticket, recalls, ..
        } => format!("Richiamato {ticket} ({recalls}ª volta)"),
        E::TicketNoShow {
            ticket, automatic, ..
        } => {
            if *automatic {
                format!("{ticket} segnato assente: raggiunto il numero massimo di richiami")
            } else {
                format!("{ticket} segnato assente")
            }
        }
        E::TicketServed { ticket, .. } => format!("{ticket} servito"),
        E::ServiceStarted { ticket, .. } => format!("{ticket} allo sportello"),
        E::TicketTransferred { ticket, to, .. } => format!("{ticket} trasferito al servizio {to}"),
        E::TicketReactivated { ticket } => format!("{ticket} rimesso in coda"),
        E::TicketCancelled { ticket, .. } => format!("{ticket} annullato"),
        E::CounterOpened { counter, .. } => format!("Sportello {counter} aperto"),
        E::CounterPaused { counter, reason } => {
            format!("Sportello {counter} in pausa: {reason}")
        }
        E::CounterClosed { counter } => format!("Sportello {counter} chiuso"),
        E::AssistanceAnswered { .. } => "Richiesta di assistenza presa in carico".into(),
        E::DayClosed { .. } => "Giornata chiusa: dati del giorno calcolati".into(),
        other => other.name().to_string(),
    }
}

pub(super) async fn command(
    staff: StaffOrLogin,
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let answer = |status: StatusCode, ok: bool, message: String, counter: Option<&String>| {
        if json {
            (status, Json(CommandAnswer { ok, message })).into_response()
        } else {
            let mut query: Vec<(&str, &str)> = Vec::new();
            if let Some(c) = counter {
                query.push(("counter", c));
            }
            query.push(("msg", &message));
            let query = serde_urlencoded::to_string(&query).unwrap_or_default();
            Redirect::to(&format!("/console?{query}")).into_response()
        }
    };
    let Some(staff) = staff.0 else {
        return answer(
            StatusCode::UNAUTHORIZED,
            false,
            "sessione scaduta: accedi di nuovo".into(),
            None,
        );
    };
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .or(form.get("csrf").map(String::as_str))
        .unwrap_or("");
    if !auth::same(token, &staff.session.csrf) {
        return answer(
            StatusCode::FORBIDDEN,
            false,
            "richiesta non valida (token CSRF): ricarica la pagina".into(),
            None,
        );
    }
    let command = match parse_command(&form, staff.username()) {
        Ok(c) => c,
        Err(m) => return answer(StatusCode::BAD_REQUEST, false, m, form.get("counter")),
    };
    if matches!(command, Command::CloseDay) && !staff.is_supervisor() {
        return answer(
            StatusCode::FORBIDDEN,
            false,
            "solo un supervisore può chiudere la giornata".into(),
            form.get("counter"),
        );
    }
    let branch = state.branch.clone();
    let user = staff.username().to_string();
    let result = tokio::task::spawn_blocking(move || branch.execute(command)).await;
    match result {
        Ok(Ok(events)) => {
            tracing::info!(user = %user, events = events.len(), "staff command");
            answer(
                StatusCode::OK,
                true,
                success_text(&events),
                form.get("counter"),
            )
        }
        Ok(Err(e @ NodeError::Queue(_))) => {
            tracing::info!(user = %user, reason = e.message_key(), "staff command refused");
            answer(
                StatusCode::CONFLICT,
                false,
                i18n::capitalise(&e.to_string()),
                form.get("counter"),
            )
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "staff command failed");
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                false,
                "Il salvataggio non è riuscito: nulla è cambiato. Riprova.".into(),
                form.get("counter"),
            )
        }
        Err(_) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            "errore interno".into(),
            None,
        ),
    }
}

// ---------- supervisor ----------

pub(super) struct FigureRow {
    code: String,
    name: String,
    issued: String,
    served: u32,
    no_show: u32,
    cancelled: String,
    waiting: String,
    wait_mean: String,
    wait_p90: String,
    service_mean: String,
    walk_mean: String,
    counters_open: String,
    recalls: u32,
}

pub(super) struct PauseRow {
    reason: String,
    pauses: u32,
    minutes: u32,
}

fn minutes(s: Option<u32>) -> String {
    s.map(|s| format!("{:.1}", f64::from(s) / 60.0))
        .unwrap_or_else(|| "–".into())
}

fn figure_rows(q: &Queue, f: &DailyFigures) -> (Vec<FigureRow>, Vec<FigureRow>) {
    let services = f
        .services
        .iter()
        .map(|s| FigureRow {
            code: s.service.to_string(),
            name: q
                .services()
                .find(|x| x.letter == s.service)
                .map(|x| x.name.clone())
                .unwrap_or_default(),
            issued: s.issued.to_string(),
            served: s.served,
            no_show: s.no_show,
            cancelled: s.cancelled.to_string(),
            waiting: s.waiting.to_string(),
            wait_mean: minutes(s.wait_mean_s),
            wait_p90: minutes(s.wait_p90_s),
            service_mean: minutes(s.service_mean_s),
            walk_mean: minutes(s.walk_mean_s),
            counters_open: s
                .counters_open_pct
                .map(|p| format!("{p} %"))
                .unwrap_or_else(|| "–".into()),
            recalls: s.recalls,
        })
        .collect();
    let counters = f
        .counters
        .iter()
        .map(|c| FigureRow {
            code: c.counter.to_string(),
            name: q
                .counter(c.counter)
                .map(|x| x.config.label.clone())
                .unwrap_or_default(),
            issued: "–".into(),
            served: c.served,
            no_show: c.no_show,
            cancelled: "–".into(),
            waiting: "–".into(),
            wait_mean: "–".into(),
            wait_p90: "–".into(),
            service_mean: minutes(c.service_mean_s),
            walk_mean: "–".into(),
            counters_open: "–".into(),
            recalls: 0,
        })
        .collect();
    (services, counters)
}

fn pause_rows(f: &DailyFigures) -> Vec<PauseRow> {
    f.pauses
        .iter()
        .map(|p| PauseRow {
            reason: p.reason_text().to_owned(),
            pauses: p.pauses,
            minutes: p.minutes(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "supervisor.html")]
struct SupervisorPage {
    username: String,
    csrf: String,
    day: String,
    services: Vec<FigureRow>,
    counters: Vec<FigureRow>,
    pauses: Vec<PauseRow>,
    closed: bool,
    kiosks: Vec<KioskRow>,
}

pub(super) async fn supervisor(staff: StaffOrLogin, State(state): State<AppState>) -> Response {
    let Some(staff) = staff.0 else {
        return Redirect::to("/login").into_response();
    };
    if !staff.is_supervisor() {
        return (StatusCode::FORBIDDEN, "pagina riservata ai supervisori").into_response();
    }
    let now = state.branch.clock().now();
    let page = state.branch.read(|q, s| {
        let f = q.figures(now);
        let (services, counters) = figure_rows(q, &f);
        SupervisorPage {
            username: staff.username().to_string(),
            csrf: staff.session.csrf.clone(),
            day: f.day.format("%d/%m/%Y").to_string(),
            services,
            counters,
            pauses: pause_rows(&f),
            closed: q.is_closed(),
            kiosks: kiosk_rows(&state, s, now),
        }
    });
    html(&page)
}

/// A kiosk silent this long has lost the node (it syncs every 5 s).
const KIOSK_SILENT_S: i64 = 30;

pub(super) struct KioskRow {
    id: String,
    /// It reached the node since the node started.
    known: bool,
    heard: String,
    reachable: bool,
    printer: &'static str,
    printer_bad: bool,
    scanner_bad: bool,
    clock_trusted: bool,
    left: String,
    low: bool,
    refused: u32,
}

/// The sede's kiosks as the feed lists them, each as it last reported: one that has not reached
/// the node since it started is listed too, as not reachable (staff must see a kiosk that
/// never calls in, not only those that do).
fn kiosk_rows(state: &AppState, store: &store::Store, now: DateTime<Utc>) -> Vec<KioskRow> {
    let roster: Vec<String> = store
        .branch_devices()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the sede's devices not read");
            Vec::new()
        })
        .into_iter()
        .filter(|d| d.role == protocol::wire::DeviceRole::Kiosk)
        .map(|d| d.device_id)
        .collect();
    let reports = state.kiosks.lock().unwrap_or_else(|p| p.into_inner());
    roster
        .into_iter()
        .map(|id| {
            let Some(r) = reports.get(&id) else {
                return KioskRow {
                    id,
                    known: false,
                    heard: "mai dall'avvio del nodo".into(),
                    reachable: false,
                    printer: "non nota",
                    printer_bad: false,
                    scanner_bad: false,
                    clock_trusted: true,
                    left: String::new(),
                    low: false,
                    refused: 0,
                };
            };
            let silent = (now - r.at).num_seconds();
            let (printer, printer_bad) = protocol::wire::printer_words(&r.health.printer);
            let min_left = r.left.values().copied().min().unwrap_or(0);
            KioskRow {
                id,
                known: true,
                heard: if silent < 60 {
                    format!("{} s fa", silent.max(0))
                } else {
                    format!("{} min fa", silent / 60)
                },
                reachable: silent <= KIOSK_SILENT_S,
                printer,
                printer_bad,
                scanner_bad: r.health.scanner == "gone",
                clock_trusted: r.health.clock_trusted,
                left: r
                    .left
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                low: min_left < crate::node::LEASE_MIN,
                refused: r.refused,
            }
        })
        .collect()
}

pub(super) async fn figures_csv(staff: StaffOrLogin, State(state): State<AppState>) -> Response {
    match staff.0 {
        Some(s) if s.is_supervisor() => {}
        Some(_) => return (StatusCode::FORBIDDEN, "riservato ai supervisori").into_response(),
        None => return StatusCode::UNAUTHORIZED.into_response(),
    }
    let now = state.branch.clock().now();
    let (csv, day, sede) = state.branch.read(|q, s| {
        let f = q.figures(now);
        let sede = s
            .sede()
            .ok()
            .flatten()
            .map(|s| s.code.to_string())
            .unwrap_or_default();
        (f.to_csv(), f.day, sede)
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"sportello-{sede}-{day}.csv\""),
            ),
        ],
        csv,
    )
        .into_response()
}

// ---------- hall display ----------

#[derive(Template)]
#[template(path = "hall.html")]
struct HallPage {
    sede: String,
    fairness: String,
    after: i64,
}

pub(super) async fn hall(State(state): State<AppState>) -> Response {
    let page = state.branch.read(|q, s| HallPage {
        sede: s.sede().ok().flatten().map(|s| s.name).unwrap_or_default(),
        fairness: q.rules().fairness_text(),
        after: s.last_event_seq().unwrap_or(0),
    });
    html(&page)
}

#[derive(Serialize)]
pub(super) struct HallCall {
    ticket: String,
    counter: u8,
}

#[derive(Serialize)]
pub(super) struct HallWaiting {
    service: String,
    name: String,
    count: u32,
}

/// What the hall display shows: numbers and counters only, never a name or identifier.
#[derive(Serialize)]
pub(super) struct HallState {
    current: Option<HallCall>,
    recent: Vec<HallCall>,
    waiting: Vec<HallWaiting>,
    fairness: String,
}

pub(super) fn hall_state_of(q: &Queue) -> HallState {
    // A recall repeats a call: each ticket appears once, at its latest call.
    let mut seen = std::collections::BTreeSet::new();
    let mut calls = q
        .recent_calls()
        .filter(|c| seen.insert(c.ticket))
        .map(|c| HallCall {
            ticket: c.ticket.to_string(),
            counter: c.counter.get(),
        });
    let current = calls.next();
    let counts = q.waiting_counts();
    HallState {
        current,
        recent: calls.take(5).collect(),
        waiting: q
            .services()
            .map(|s| HallWaiting {
                service: s.letter.to_string(),
                name: s.name.clone(),
                count: counts.get(&s.letter).copied().unwrap_or(0),
            })
            .collect(),
        fairness: q.rules().fairness_text(),
    }
}

/// The hall's state, read from the queue once per change of it (or per [`HALL_STATE_FRESH`]):
/// the page needs no login, and a flood of reads must not queue on the branch's lock before
/// a check-in.
pub(super) async fn hall_state(State(state): State<AppState>) -> Response {
    let generation = (state.branch.committed(), state.branch.configuration());
    let cached = state
        .hall_state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(g, at, _)| *g == generation && at.elapsed() < HALL_STATE_FRESH)
        .map(|(_, _, json)| json.clone());
    let json = match cached {
        Some(json) => json,
        None => {
            let fresh = Arc::new(
                serde_json::to_string(&state.branch.read(|q, _| hall_state_of(q)))
                    .unwrap_or_else(|_| "{}".into()),
            );
            *state.hall_state.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((generation, Instant::now(), fresh.clone()));
            fresh
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.as_ref().clone(),
    )
        .into_response()
}

/// Calls kept in memory as audio.
const AUDIO_KEPT: usize = 16;

/// A call is spoken only while the hall may still play it: an older one is 410, and costs no
/// synthesis (the hall replays only calls under 20 s old).
const AUDIO_MAX_AGE_S: i64 = 600;

/// How long a request waits for its turn at the voice before a 503.
const SPEECH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn cached_audio(state: &AppState, seq: i64) -> Option<Arc<Vec<u8>>> {
    state
        .audio
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(s, _)| *s == seq)
        .map(|(_, wav)| wav.clone())
}

pub(super) async fn hall_audio(State(state): State<AppState>, Path(seq): Path<i64>) -> Response {
    if let Some(wav) = cached_audio(&state, seq) {
        return wav_response(wav);
    }
    // One synthesis at a time: the others wait for it, and most then find their call made.
    let Ok(Ok(_turn)) =
        tokio::time::timeout(SPEECH_WAIT, state.speech_turn.clone().acquire_owned()).await
    else {
        return (StatusCode::SERVICE_UNAVAILABLE, "voce occupata").into_response();
    };
    if let Some(wav) = cached_audio(&state, seq) {
        return wav_response(wav);
    }
    let branch = state.branch.clone();
    let speech = state.speech.clone();
    let made = tokio::task::spawn_blocking(move || {
        let event = branch
            .read(|_, s| s.events_after(seq - 1, 1))
            .ok()?
            .into_iter()
            .next()?;
        if event.seq != seq {
            return None;
        }
        let (ticket, counter) = event.event.kind.announcement()?;
        if (branch.clock().now() - event.event.at).num_seconds() > AUDIO_MAX_AGE_S {
            return Some(Err(None));
        }
        Some(crate::speech::call_audio(speech.as_ref(), ticket, counter).map_err(Some))
    })
    .await
    .ok()
    .flatten();
    match made {
        Some(Err(None)) => (StatusCode::GONE, "chiamata non più recente").into_response(),
        Some(Err(Some(e))) => {
            tracing::error!(error = %e, "call audio failed");
            (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
        Some(Ok(wav)) => {
            let wav = Arc::new(wav);
            let mut cache = state.audio.lock().expect("audio cache");
            cache.push_back((seq, wav.clone()));
            while cache.len() > AUDIO_KEPT {
                cache.pop_front();
            }
            wav_response(wav)
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn wav_response(wav: Arc<Vec<u8>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        wav.as_ref().clone(),
    )
        .into_response()
}

// ---------- assets ----------

pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "style.css" => (include_str!("assets/style.css"), "text/css; charset=utf-8"),
        "console.js" => (
            include_str!("assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "hall.js" => (
            include_str!("assets/hall.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
