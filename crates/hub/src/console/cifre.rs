//! The figures across the country in the console: a comparison of the sedi over a period
//! (administrators see every sede, a sede's supervisor their own), one sede's weekly waits as
//! a chart drawn on the hub, and the same weeks as CSV.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::session::{Me, code, forbidden, html_refused, me};
use crate::accounts::Role;
use crate::figures::{self, Week};
use crate::{HubError, HubState};

pub(super) fn router() -> Router<HubState> {
    Router::new()
        .route("/console/cifre", get(page))
        .route("/console/cifre.csv", get(csv))
        .route("/console/cifre/giorno.csv", get(day_csv))
}

/// Longest period a page or a CSV covers.
const MAX_WEEKS: i64 = 106;

#[derive(Deserialize)]
struct Period {
    /// A sede's code; an administrator's page without one charts the first sede.
    sede: Option<String>,
    /// Weeks back from the current one (12 when absent).
    settimane: Option<i64>,
    /// The day whose flow is shown (the latest recorded when absent).
    giorno: Option<String>,
}

/// One service's flow on a day, as the page shows it.
struct FlowRow {
    service: String,
    name: String,
    walk: String,
    service_time: String,
    open: String,
    no_show: u32,
    recalls: u32,
}

/// The chosen sede's day: its flow per service and its pauses by reason.
struct DayFlow {
    day: String,
    /// The days that have a flow, newest first: (value, as shown, chosen).
    days: Vec<(String, String, bool)>,
    rows: Vec<FlowRow>,
    /// Reason, pauses, minutes.
    pauses: Vec<(String, u32, u32)>,
    csv_link: String,
}

struct Row {
    code: String,
    name: String,
    issued: i64,
    p50: String,
    p90: String,
    within: String,
    no_show: String,
    satisfaction: String,
    on_time: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "hub_figures.html")]
struct FiguresPage {
    me: Me,
    from: String,
    to: String,
    weeks: i64,
    rows: Vec<Row>,
    chart: String,
    chosen: String,
    csv_link: String,
    flow: Option<DayFlow>,
}

/// Who sees which sedi: administrators all (or the one asked for), supervisors their own.
/// Refused: not a sede code (404), or not theirs to see (403).
fn scope(me: &Me, asked: Option<&str>) -> Result<Option<i32>, StatusCode> {
    let asked = match asked.filter(|s| !s.is_empty()) {
        Some(s) => Some(code(s).ok_or(StatusCode::NOT_FOUND)?),
        None => None,
    };
    match me.role {
        Role::Admin => Ok(asked.map(i32::from)),
        Role::Supervisor => match (me.branch, asked) {
            (Some(own), None) => Ok(Some(own)),
            (Some(own), Some(a)) if i32::from(a) == own => Ok(Some(own)),
            _ => Err(StatusCode::FORBIDDEN),
        },
        _ => Err(StatusCode::FORBIDDEN),
    }
}

/// The user, and the sede they are shown (`None`: every sede), or the answer instead.
async fn viewer(
    state: &HubState,
    headers: &HeaderMap,
    q: &Period,
) -> Result<(Me, Option<i32>), Response> {
    let me = me(state, headers).await?;
    match scope(&me, q.sede.as_deref()) {
        Ok(only) => Ok((me, only)),
        Err(StatusCode::FORBIDDEN) => Err(forbidden()),
        Err(status) => Err(status.into_response()),
    }
}

fn period(q: &Period) -> (NaiveDate, NaiveDate, NaiveDate, i64) {
    let today = chrono::Utc::now()
        .with_timezone(&domain::TIME_ZONE)
        .date_naive();
    let weeks = q.settimane.unwrap_or(12).clamp(1, MAX_WEEKS);
    let from = figures::monday(today) - Duration::weeks(weeks - 1);
    (from, today, today, weeks)
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0} %", x * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn min(v: Option<u32>) -> String {
    v.map(|x| format!("{x} min")).unwrap_or_else(|| "—".into())
}

fn seconds_as_min(v: Option<u32>) -> String {
    v.map(|s| format!("{:.1} min", f64::from(s) / 60.0))
        .unwrap_or_else(|| "—".into())
}

/// A day as the query writes it, 2026-12-01.
fn day_of(q: &Period) -> Result<Option<NaiveDate>, StatusCode> {
    match q.giorno.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| StatusCode::BAD_REQUEST),
    }
}

/// The flow of `branch` on the day asked for, or its latest recorded within the period.
async fn day_flow(
    c: &impl deadpool_postgres::GenericClient,
    branch: i32,
    from: NaiveDate,
    asked: Option<NaiveDate>,
    services: &std::collections::HashMap<String, String>,
) -> Result<Option<DayFlow>, HubError> {
    let days = figures::flow_days(c, branch, from).await?;
    let Some(day) = asked.or(days.first().copied()) else {
        return Ok(None);
    };
    let Some(f) = figures::flow_of(c, branch, day).await? else {
        return Ok(None);
    };
    let rows = f
        .services
        .iter()
        .map(|s| FlowRow {
            service: s.service.to_string(),
            name: services
                .get(&s.service.to_string())
                .cloned()
                .unwrap_or_default(),
            walk: seconds_as_min(s.walk_mean_s),
            service_time: seconds_as_min(s.service_mean_s),
            open: s
                .counters_open_pct
                .map(|p| format!("{p} %"))
                .unwrap_or_else(|| "—".into()),
            no_show: s.no_show,
            recalls: s.recalls,
        })
        .collect();
    Ok(Some(DayFlow {
        day: day.format("%d/%m/%Y").to_string(),
        days: days
            .iter()
            .map(|d| (d.to_string(), d.format("%d/%m/%Y").to_string(), *d == day))
            .collect(),
        rows,
        pauses: f
            .pauses
            .iter()
            .map(|p| (p.reason_text().to_owned(), p.pauses, p.minutes()))
            .collect(),
        csv_link: format!("/console/cifre/giorno.csv?sede={branch:04}&giorno={day}"),
    }))
}

async fn page(
    State(state): State<HubState>,
    headers: HeaderMap,
    Query(q): Query<Period>,
) -> Response {
    let (me, only) = match viewer(&state, &headers, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (from, to, today, weeks) = period(&q);
    let asked_day = match day_of(&q) {
        Ok(d) => d,
        Err(status) => return status.into_response(),
    };
    let found = async {
        let c = state.pool.get().await?;
        // The comparison is of every sede the user sees; the chart of the one asked for.
        let all =
            figures::weekly(&c, if me.is_admin() { None } else { only }, from, to, today).await?;
        let names: std::collections::HashMap<i32, String> = c
            .query("SELECT branch_id, name FROM branch", &[])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        Ok::<_, HubError>((all, names))
    }
    .await;
    let (all, names) = match found {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let totals = figures::totals(&all);
    let chosen = only.or(totals.first().map(|w| w.branch));
    let name = |b: i32| names.get(&b).cloned().unwrap_or_default();
    let rows = totals
        .iter()
        .map(|w| Row {
            code: format!("{:04}", w.branch),
            name: name(w.branch),
            issued: w.issued,
            p50: min(w.wait_p50()),
            p90: min(w.wait_p90()),
            within: pct(w.within_target()),
            no_show: pct(w.no_show_share()),
            satisfaction: w
                .satisfaction()
                .map(|s| format!("{s:.1} su 5 ({} risposte)", w.feedback))
                .unwrap_or_else(|| "—".into()),
            on_time: pct(w.on_time()),
            chosen: Some(w.branch) == chosen,
        })
        .collect();
    let mine: Vec<Week> = all
        .iter()
        .filter(|w| Some(w.branch) == chosen)
        .cloned()
        .collect();
    let chart = match chosen {
        Some(b) => match figures::wait_chart(
            &mine,
            &format!("Attese per settimana – sede {b:04} {}", name(b)),
        ) {
            Ok(svg) => svg,
            Err(e) => return e.into_response(),
        },
        None => String::new(),
    };
    let flow = match chosen {
        Some(b) => {
            let found = async {
                let c = state.pool.get().await?;
                let services = crate::sede::config(&c, u16::try_from(b).unwrap_or_default())
                    .await?
                    .map(|config| {
                        config
                            .services
                            .into_iter()
                            .map(|s| (s.letter.to_string(), s.name))
                            .collect()
                    })
                    .unwrap_or_default();
                day_flow(&c, b, from, asked_day, &services).await
            }
            .await;
            match found {
                Ok(f) => f,
                Err(e) => return e.into_response(),
            }
        }
        None => None,
    };
    let chosen_code = chosen.map(|b| format!("{b:04}")).unwrap_or_default();
    html_refused(
        FiguresPage {
            me,
            from: from.format("%d/%m/%Y").to_string(),
            to: to.format("%d/%m/%Y").to_string(),
            weeks,
            rows,
            chart,
            csv_link: format!("/console/cifre.csv?settimane={weeks}&sede={chosen_code}"),
            chosen: chosen_code,
            flow,
        },
        false,
    )
}

async fn csv(
    State(state): State<HubState>,
    headers: HeaderMap,
    Query(q): Query<Period>,
) -> Response {
    let (_, only) = match viewer(&state, &headers, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (from, to, today, _) = period(&q);
    let weeks = async {
        let c = state.pool.get().await?;
        figures::weekly(&c, only, from, to, today).await
    }
    .await;
    match weeks {
        Ok(w) => csv_answer(
            &format!("sportello-cifre-{from}-{to}.csv"),
            figures::csv(&w),
        ),
        Err(e) => e.into_response(),
    }
}

/// One sede's day as CSV: per service, then per pause reason (the queue's own export, without
/// per-counter rows). Who may: as the page; the sede must be named.
async fn day_csv(
    State(state): State<HubState>,
    headers: HeaderMap,
    Query(q): Query<Period>,
) -> Response {
    let (_, only) = match viewer(&state, &headers, &q).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (Some(branch), Ok(Some(day))) = (only, day_of(&q)) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let found = async {
        let c = state.pool.get().await?;
        figures::flow_of(&c, branch, day).await
    }
    .await;
    match found {
        Ok(Some(f)) => csv_answer(&format!("sportello-{branch:04}-{day}.csv"), f.to_csv()),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A CSV to download, kept out of shared caches.
fn csv_answer(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
